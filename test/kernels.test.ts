// The self-checking test kernels (guest/tests/*.c, built by guest/build.sh) on QEMU TCG and on
// worldswitch. Each kernel prints `PASS: name` / `FAIL: name (detail)` / `SKIP: name (why)` on
// COM1, then `SUMMARY: ...`, and leaves through the debug-exit port (status 3: all passed, 7:
// failures). The triple-fault kernel instead prints a marker and shuts the machine down.
//
// Both machines must report every test of a kernel, and the same PASS lines, with two lists of
// exceptions, each entry with its reason:
//  - QEMU_DEVIATIONS: where QEMU 7.2 TCG disagrees with the AMD manual. The kernels test the
//    manual's behaviour, so QEMU fails them; it must fail them the known way (or pass, on a
//    QEMU that has been fixed). worldswitch must pass them.
//  - WS_KNOWN_FAILURES: worldswitch bugs not fixed yet. A listed test that passes fails this
//    suite, so that the list stays true: delete the entry.
//
// QEMU is optional locally (its half is skipped, with the reason in the test name), required
// in CI (CI=true). The same holds for gcc and binutils, which build the kernels.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CI, GUEST, OUT, QEMU, QEMU_TIMEOUT_MS, haveQemu, haveTools, runQemu, runWorldswitch, show, testNames, type Line, type Outcome } from './kernel-harness.js';
import { Stop } from '../src/cpu/state.js';


/** test name -> [the reason, a pattern QEMU's FAIL detail matches] */
const QEMU_DEVIATIONS: Record<string, Record<string, [string, RegExp]>> = {
  paging: {
    pf_rsvd_phys_read: ['QEMU reports RSV without P; a reserved bit is only checked in a present entry, so P=1 (APM Vol. 2, 8.4.2)', /^#PF error code 0x8, want 0x9$/],
    pf_rsvd_phys_write: ['QEMU reports RSV without P (APM Vol. 2, 8.4.2)', /^#PF error code 0xa, want 0xb$/],
    pf_rsvd_nx_without_nxe: ['QEMU reports RSV without P (APM Vol. 2, 8.4.2)', /^#PF error code 0x8, want 0x9$/],
    pf_rsvd_pde_2m: ['QEMU reports RSV without P (APM Vol. 2, 8.4.2)', /^#PF error code 0x8, want 0x9$/],
    gp_noncanonical_jump: ['QEMU takes the #GP at the non-canonical target, not on the JMP (APM Vol. 3, JMP: #GP(0) if the target is not canonical)', /^last_fault\.rip = 0x800000000000, want 0x[0-9a-f]+$/],
  },
  segments: {
    ss_noncanonical_rbp: ['QEMU raises #GP(0) for a non-canonical SS reference; the manual says #SS(0) (APM Vol. 2, 8.2.13)', /^got #GP \(error 0x0, /],
    ss_noncanonical_rsp: ['QEMU raises #GP(0) for a non-canonical PUSH (then #DF, as #GP has no IST); the manual says #SS(0)', /^got #(GP|DF) \(error 0x0, /],
  },
  interrupts: {
    int_n_dpl_gp: ['QEMU 7.2 puts vector * 16 + 2 in the IDT error code; the selector index is the vector: vector * 8 + 2 (APM Vol. 2, 8.4.1; fixed in later QEMU)', /^#GP error code 0x502, want 0x282$/],
    np_gate_not_present: ['QEMU 7.2: IDT error code vector * 16 + 2 instead of vector * 8 + 2', /^#NP error code 0x532, want 0x29a$/],
    gp_beyond_idt_limit: ['QEMU 7.2: IDT error code vector * 16 + 2 instead of vector * 8 + 2', /^#GP error code 0x702, want 0x382$/],
    ist_same_cpl_keeps_ss: ['QEMU loads a null SS for every gate with IST != 0; SS is nulled only when the CPL changes, an IST gate at the same CPL switches RSP and keeps SS (Intel SDM Vol. 3, 6.14: "The new SS is set to NULL if there is a change in CPL"; Vol. 2, INT n, intra-privilege path; Bochs long_mode_int keeps SS)', /^ist_live_ss = 0x0, want 0x10$/],
    ist_nested_iret_code_ss: ['Linux\'s fixup_bad_iret case: with SS a code selector (from SYSCALL) an IST handler at CPL 0 keeps it, so a nested IRETQ pops it and raises #GP(selector); QEMU nulled SS on the IST delivery, so its nested IRETQ returns (see ist_same_cpl_keeps_ss)', /^no exception, want #GP$/],
    iretq_ss_not_present_ss: ['QEMU raises #NP(SS) when IRETQ pops a not-present SS; the manual says #SS(selector) (Intel SDM Vol. 2, IRET: "IF stack segment is not present THEN #SS(SS selector)"; Bochs raises #SS since its December 2025 fetch_ss_descriptor; Bochs 2.7 raises #NP too)', /^got #NP \(error 0x40, /],
  },
  legacy_idt: {
    ss_inner_stack_not_present: ['QEMU raises #TS(SS) for a not-present inner stack segment on an interrupt\'s stack switch; the manual says #SS(SS) (APM Vol. 3, INT: #SS(selector) when SS is loaded with a not-present segment during a stack switch)', /^got #TS \(error 0x50, /],
  },
  legacy_gates: {
    call_gate_inner_ss_not_present: ['QEMU raises #TS(SS) for a not-present inner stack segment on a call gate\'s stack switch; the manual says #SS(SS) (APM Vol. 3, CALL (Far))', /^got #TS \(error 0xc8, /],
    far_target_beyond_limit: ['QEMU puts the target selector in the #GP error code when the offset is beyond the new CS limit; the manual says #GP(0) (APM Vol. 3, JMP (Far) and CALL (Far))', /^#GP error code 0xd0, want 0x0$/],
  },
  legacy_paging: {
    pg32_4m_rsvd: ['QEMU reports RSV without P; a reserved bit is only checked in a present entry, so P=1 (APM Vol. 2, 8.4.2)', /^#PF error code 0x8, want 0x9$/],
    pae_rsvd_phys: ['QEMU reports RSV without P (APM Vol. 2, 8.4.2)', /^#PF error code 0x8, want 0x9$/],
    pae_nx_reserved_without_nxe: ['QEMU reports RSV without P (APM Vol. 2, 8.4.2)', /^#PF error code 0x8, want 0x9$/],
  },
  msrs: {
    amd_msr_values: ['QEMU TCG reads HWCR as 0: TscFreqSel (bit 24), set on every family 17h part, is missing (PPR MSRC001_0015)', /^HWCR\.TscFreqSel clear$/],
    amd_msrs_write_read: ['QEMU TCG has no IORRs (C001_0016-0019, APM Vol. 2 7.9.2): they read 0 and ignore writes', /^MSR 0xc0010016 reads 0x0 after writing 0xa00018$/],
    intel_msrs_gp: ['QEMU TCG implements Intel\'s IA32_FEATURE_CONTROL (3Ah) whatever the vendor; AMD parts have no such MSR (APM Vol. 2 App. A)', /^RDMSR 0x3a: vector -1, want #GP$/],
    reserved_bits_gp: ['QEMU TCG ignores DebugCtl writes, reserved bits included (APM Vol. 2 13.1.1.6)', /^DebugCtl bit 2: vector -1, want #GP$/],
    pmc_retired_exact: ['QEMU TCG has no performance counters: RDPMC raises #UD (APM Vol. 2 13.2)', /^unexpected #UD: /],
    pmc_loop_exact: ['QEMU TCG has no performance counters: PERF_CTR reads 0 (APM Vol. 2 13.2)', /^i100 = 0x0, want 0xce$/],
    pmc_usr_os: ['QEMU TCG has no performance counters: RDPMC raises #UD', /^unexpected #UD: /],
    pmc_cycles: ['QEMU TCG has no performance counters', /^cycles over 2001 instructions: 0$/],
    pmc_cycles_not_halted: ['QEMU TCG has no performance counters', /^cycles not halted: 0, TSC: \d+$/],
    pmc_overflow_nmi: ['QEMU TCG has no performance counters, so no overflow interrupt through LVTPC', /^nmi_count = 0x0, want 0x1$/],
    rdpmc_cpl3: ['QEMU TCG has no performance counters: RDPMC raises #UD', /^RDPMC at CPL 3 with CR4\.PCE: vector 6$/],
    lbr_jump: ['QEMU TCG does not record branches (DebugCtl.LBR, APM Vol. 2 13.1.6)', /^lbr_from = 0x0, want 0x[0-9a-f]+$/],
    lbr_exception: ['QEMU TCG does not record branches (DebugCtl.LBR, APM Vol. 2 13.1.6)', /^from = 0x0, want 0x[0-9a-f]+$/],
    btf_steps_branches: ['QEMU TCG ignores DebugCtl.BTF and single-steps every instruction (APM Vol. 2 13.1.6.2)', /^last_fault\.rip = 0x[0-9a-f]+, want 0x[0-9a-f]+$/],
    apic_sw_disable: ['QEMU lets a write clear an LVT mask bit while the APIC is software-disabled; the xAPIC definition keeps them set (Intel SDM Vol. 3 10.4.7.2)', /^lvt = 0x400, want 0x10400$/],
    apic_relocate: ['QEMU does not move the APIC registers with APIC_BASE (APM Vol. 2 16.3.1)', /^moved = 0x0, want 0x[0-9a-f]+$/],
    apic_global_disable: ['QEMU keeps the APIC registers mapped after APIC_BASE.AE is cleared (APM Vol. 2 16.3.1)', /^gone = 0x[0-9a-f]+, want 0xffffffff$/],
  },
  debug: {
    general_detect: ['QEMU 7.2 TCG ignores DR7.GD: MOV DR does not raise #DB with DR6.BD (APM Vol. 2, 13.1, DR7)', /^no exception, want #DB$/],
    rf_in_fault_image: ['QEMU pushes RF = 0 for faults; the image of a fault other than an instruction breakpoint has RF = 1 (APM Vol. 2, 3.1.6; Intel SDM Vol. 3, 17.3.1.1 lists the cases)', /^last_fault\.rflags & RFLAGS_RF = 0x0, want 0x10000$/],
    rep_movs_data_bp: ['QEMU pushes RF = 0 for a trap after a REP iteration that is not the last; the processor pushes RF = 1 so the resumed instruction skips its instruction breakpoint (Intel SDM Vol. 3, 17.3.1.1)', /^db_fl\[0\] & RFLAGS_RF = 0x0, want 0x10000$/],
    mov_ss_holds_data_bp: ['QEMU delivers a data-breakpoint #DB right after MOV SS; MOV SS holds debug traps until after the next instruction (APM Vol. 2, 13.1; Intel SDM Vol. 3, 6.8.3)', /^db_rip\[0\] = 0x[0-9a-f]+, want 0x[0-9a-f]+$/],
    dr6_accumulates: ['QEMU takes a data breakpoint and the single-step trap of one instruction as two #DBs; the processor reports both in one, with DR6.B1 and BS set (APM Vol. 2, 13.1, DR6)', /^db_n = 0x2, want 0x1$/],
    icebp: ['QEMU 7.2 TCG raises #UD for INT1 (ICEBP, F1); it is a #DB trap (APM Vol. 3, INT1)', /^got #UD \(error 0x0, rip 0x[0-9a-f]+\), want #DB$/],
  },
  sse: {
    unmasked_xm: ['QEMU TCG does not raise #XM (or #UD) for unmasked SIMD floating-point exceptions; the manual does (APM Vol. 1 4.10.4, Vol. 2 8.2.20)', /^no exception, want #XF$/],
  },
  fsgs: {
    msr_noncanonical_gp: ['QEMU TCG accepts a non-canonical FS/GS/KernelGS base in WRMSR; the manual requires #GP(0) (APM Vol. 2, 4.5.3)', /^WRMSR 0xc0000100 non-canonical: vector -1$/],
    fsgsbase_noncanonical_gp: ['QEMU TCG accepts a non-canonical address in WRFSBASE/WRGSBASE; the manual requires #GP(0) (APM Vol. 3, WRFSBASE)', /^no exception, want #GP$/],
  },
};

/** test name -> why worldswitch fails it today */
const WS_KNOWN_FAILURES: Record<string, Record<string, string>> = {
};

/** kernels that end in a shutdown instead of a summary */
const SHUTDOWN_KERNELS: Record<string, string> = { triple: 'TRIPLE: expecting a shutdown' };






// svm_* kernels have their own comparison (test/svm-kernels.test.ts); smp runs with two CPUs
// (test/smp-kernel.test.ts)
const KERNELS = readdirSync(join(GUEST, 'tests')).filter((f) => f.endsWith('.c') && !f.startsWith('svm_') && f !== 'smp.c').map((f) => f.slice(0, -2)).sort();



/** a line per test whose status is not the expected one; `expected` gives PASS or an exception */
function mismatches(names: string[], got: Outcome, expected: (name: string, line: Line | undefined) => string | null): string[] {
  const bad: string[] = [];
  for (const n of names) {
    const why = expected(n, got.lines.get(n));
    if (why !== null) bad.push(`${n}: ${why}`);
  }
  for (const n of got.lines.keys()) if (!names.includes(n)) bad.push(`${n}: reported, but not in the kernel's tests[]`);
  return bad;
}


describe('test kernels', () => {
  const toolsMissing = haveTools ? '' : 'gcc/ld/objcopy not installed';
  const qemuMissing = haveQemu ? '' : `${QEMU} not installed`;
  if (!CI) {
    if (toolsMissing) console.warn(`kernels.test: skipping everything: ${toolsMissing}`);
    else if (qemuMissing) console.warn(`kernels.test: skipping the QEMU half: ${qemuMissing}`);
  }

  beforeAll(() => {
    if (haveTools) execFileSync('bash', [join(GUEST, 'build.sh')], { stdio: 'pipe' });
  }, 120_000);

  it('has its tools (required in CI)', () => {
    if (CI) {
      expect(toolsMissing, 'CI must install gcc and binutils (.ci/run)').toBe('');
      expect(qemuMissing, 'CI must install qemu-system-x86 (.ci/run)').toBe('');
    }
  });

  for (const kernel of KERNELS) {
    const image = join(OUT, `${kernel}.elf`);
    const names = testNames(kernel);
    const marker = SHUTDOWN_KERNELS[kernel];
    const qemuDev = QEMU_DEVIATIONS[kernel] ?? {};
    const wsKnown = WS_KNOWN_FAILURES[kernel] ?? {};
    const results: { qemu?: Outcome; ws?: Outcome } = {};

    describe(kernel, () => {
      it('lists its tests', () => {
        if (marker === undefined) expect(names.length, `no T(name) entries in guest/tests/${kernel}.c`).toBeGreaterThan(0);
        for (const n of [...Object.keys(qemuDev), ...Object.keys(wsKnown)]) expect(names, `a listed exception is not a test of ${kernel}`).toContain(n);
      });

      const qemuTitle = qemuMissing || toolsMissing ? `on QEMU (skipped: ${qemuMissing || toolsMissing})` : 'on QEMU';
      it.skipIf(!CI && (qemuMissing !== '' || toolsMissing !== ''))(qemuTitle, () => {
        expect(existsSync(image), `${image} was not built`).toBe(true);
        const q = runQemu(image);
        results.qemu = q;
        if (marker !== undefined) {
          expect(q.text, `QEMU output:\n${q.text}`).toContain(marker);
          expect([...q.lines.values()].filter((l) => l.status === 'FAIL'), q.text).toEqual([]);
          // -no-reboot turns the shutdown into a normal exit, with nothing printed by QEMU
          expect(q.status, q.text).toBe('exit 0');
          return;
        }
        const bad = mismatches(names, q, (n, l) => {
          const dev = qemuDev[n];
          if (dev !== undefined) {
            if (l?.status === 'PASS') return null;
            return l?.status === 'FAIL' && dev[1].test(l.detail) ? null : `${show(l)}; expected the known deviation ${dev[1]} (${dev[0]})`;
          }
          return l?.status === 'PASS' ? null : show(l);
        });
        expect(bad, `QEMU (${q.status}):\n${q.text}`).toEqual([]);
        expect(q.summary, q.text).not.toBeNull();
        const allPass = [...q.lines.values()].every((l) => l.status !== 'FAIL');
        expect(q.status).toBe(allPass ? 'exit 3' : 'exit 7');
      }, QEMU_TIMEOUT_MS + 10_000);

      it.skipIf(!CI && toolsMissing !== '')(toolsMissing ? `on worldswitch (skipped: ${toolsMissing})` : 'on worldswitch', () => {
        expect(existsSync(image), `${image} was not built`).toBe(true);
        const w = runWorldswitch(image);
        results.ws = w;
        if (marker !== undefined) {
          expect(w.text, `worldswitch output:\n${w.text}`).toContain(marker);
          expect([...w.lines.values()].filter((l) => l.status === 'FAIL'), w.text).toEqual([]);
          expect(Stop[w.stop], `${w.status}\n${w.text}`).toBe('Shutdown');
          expect(w.shutdown).toMatch(/^triple fault/);
          return;
        }
        const bad = mismatches(names, w, (n, l) => {
          const known = wsKnown[n];
          if (known !== undefined) {
            return l?.status === 'PASS' ? `passes now: delete its WS_KNOWN_FAILURES entry (${known})` : null;
          }
          return l?.status === 'PASS' ? null : show(l);
        });
        expect(bad, `worldswitch (${w.status}):\n${w.text}`).toEqual([]);
        expect(w.summary, `${w.status}\n${w.text}`).not.toBeNull();
        const allPass = [...w.lines.values()].every((l) => l.status !== 'FAIL');
        expect(w.status).toBe(allPass ? 'exit 3' : 'exit 7');
      }, 120_000);

      it('reports the same PASS lines on both', (ctx) => {
        const { qemu, ws } = results;
        if (qemu === undefined || ws === undefined) return ctx.skip();
        if (marker !== undefined) return;
        // the listed exceptions are checked by the tests above; everything else must agree
        const pass = (o: Outcome) => names.filter((n) => !(n in wsKnown) && !(n in qemuDev) && o.lines.get(n)?.status === 'PASS');
        expect(pass(ws)).toEqual(pass(qemu));
        const skips = (o: Outcome) => names.filter((n) => o.lines.get(n)?.status === 'SKIP');
        expect(skips(ws)).toEqual(skips(qemu));
      });
    });
  }
});
