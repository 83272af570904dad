// The SVM test kernels (guest/tests/svm_*.c on the harness in guest/svm/, built by
// guest/build.sh) on QEMU TCG and on worldswitch. Each kernel prints `PASS: name` /
// `FAIL: name (detail)` / `SKIP: name (why)` per test, following the AMD manual (APM Vol. 2
// ch. 15), then `SUMMARY: ...`, and leaves through the debug-exit port (3: all passed, 7: not).
//
// QEMU is the reference where it is right:
//  - QEMU_DEVIATIONS: where QEMU 7.2 TCG disagrees with the manual, each with the APM reference.
//    QEMU must fail those tests the known way (or pass them, once fixed); worldswitch must pass.
//  - Tests QEMU skips (features its TCG SVM lacks: NRIPS, FlushByAsid; a stale TLB entry it
//    never keeps) are not compared; worldswitch runs them and must pass them.
//  - Everything else that passes on QEMU must pass on worldswitch.
// WORLDSWITCH_PENDING (below) is the one list of worldswitch SVM behaviour not implemented yet.
//
// QEMU is optional locally (skipped, with the reason in the test name), required in CI
// (CI=true); so are gcc and binutils.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CI, GUEST, OUT, QEMU, QEMU_TIMEOUT_MS, have, haveQemu, haveTools, runQemu, runWorldswitch, show, testNames, type Line, type Outcome } from './kernel-harness.js';
import { Stop } from '../src/cpu/state.js';

/**
 * Worldswitch SVM behaviour that has not landed yet: `kernel` expects that kernel's whole
 * worldswitch run to fail (it.fails); `kernel/test` lets that one test fail. A listed test that
 * passes fails this suite: delete its entry when the feature lands.
 */
const WORLDSWITCH_PENDING: [entry: string, reason: string][] = [
];

/** test name -> [the reason, with the manual's section; a pattern QEMU's FAIL detail matches] */
const QEMU_DEVIATIONS: Record<string, Record<string, [string, RegExp]>> = {
  svm_basic: {
    vm_cr_svmdis: ['QEMU 7.2 reads VM_CR (C001_0114h) as 0 and drops writes: no SVMDIS, no LOCK (APM Vol. 2 15.30.1)', /^SVMDIS did not stick$/],
    vm_cr_lock: ['QEMU 7.2 drops writes to VM_CR, so LOCK never sets (APM Vol. 2 15.30.1)', /^LOCK did not stick$/],
  },
  svm_vmsave: {
    ltr_busy_in_hidden_tr: ['QEMU\'s LTR caches the TSS descriptor before setting its busy bit, so the hidden TR type that VMSAVE stores is 9 (available), not 11 (busy) (APM Vol. 3 LTR; Vol. 2 15.5.2)', /= 0x89, want 0x8b$/],
    vmload_canonicalizes_bases: ['QEMU 7.2\'s VMLOAD does not sign-extend the loaded segment bases (APM Vol. 3 VMLOAD: bases are canonicalized; QEMU does it from 8.x)', /^fsb = 0x800000001000, want 0xffff800000001000$/],
  },
  svm_intercepts: {
    icpt_rdtscp: ['QEMU checks the RDTSC intercept for RDTSCP and ignores the RDTSCP intercept (VMCB 010h bit 7, exit 87h; APM Vol. 2 "Instruction Intercepts", Appendix B/C)', /^exit VMMCALL \(0x81\), want RDTSCP;/],
    icpt_invd: ['QEMU checks the WBINVD intercept for INVD, so the INVD intercept (00Ch bit 22, exit 76h) never fires (APM Vol. 2 "Instruction Intercepts", Appendix C)', /^exit VMMCALL \(0x81\), want INVD;/],
    icpt_xsetbv: ['QEMU 7.2 has no XSETBV intercept (010h bit 13, exit 8Dh; APM Vol. 2 Appendix B/C)', /^exit VMMCALL \(0x81\), want XSETBV;/],
    icpt_vmload: ['QEMU exits on VMLOAD without the intercept whenever nested paging is off (its V_VMSAVE_VMLOAD path); the manual executes it; only V_VMSAVE_VMLOAD, which QEMU does not enable here, changes that (APM Vol. 2 15.5.2, "VMSAVE and VMLOAD Virtualization")', /^exit VMLOAD \(0x82\), want VMMCALL;/],
    icpt_vmsave: ['QEMU exits on VMSAVE without the intercept whenever nested paging is off (APM Vol. 2 15.5.2, "VMSAVE and VMLOAD Virtualization")', /^exit VMSAVE \(0x83\), want VMMCALL;/],
    icpt_icebp: ['QEMU 7.2 (built without WANT_ICEBP) decodes ICEBP (F1h) as #UD; the manual has ICEBP raise #DB and its own intercept (010h bit 8, exit 88h) (APM Vol. 3 INT1; Vol. 2 Appendix B)', /the guest took vector 0x6 /],
    icebp_db_in_guest: ['QEMU 7.2 decodes ICEBP as #UD instead of raising #DB (APM Vol. 3 INT1/ICEBP)', /^g_ev\.vector = 0x6, want 0x1$/],
    exc_db_from_icebp: ['QEMU 7.2 decodes ICEBP as #UD, so there is no #DB to intercept (APM Vol. 3 INT1/ICEBP)', /the guest took vector 0x6 /],
    exc_db_data_breakpoint: ['QEMU 7.2 does not arm a data breakpoint that VMRUN loads with the guest DR7 from the VMCB, so the guest store does not trap (APM Vol. 2 15.5.1: VMRUN loads DR7; 13.1, data breakpoints)', /^exit VMMCALL \(0x81\), want EXCP1;/],
    exc_db_insn_bp_rf: ['QEMU 7.2 does not arm an instruction breakpoint that VMRUN loads with the guest DR7 from the VMCB, so the guest never takes it (APM Vol. 2 15.5.1: VMRUN loads DR7; 13.1, instruction breakpoints)', /^exit VMMCALL \(0x81\), want EXCP1;/],
    exc_bp_int3: ['QEMU checks INT3 against the INTn intercept instead of the #BP exception intercept (APM Vol. 2 15.12: INT3, INTO and BOUND are exceptions; 15.7.1: NRIP is defined for them)', /the guest took vector 0x3 /],
  },
  svm_iomsr: {
    io_address_size: ['QEMU never sets the address-size bits A16/A32/A64 (7-9) of the IOIO EXITINFO1 (APM Vol. 2 15.10.2 "IN and OUT Behavior", Figure 15-2)', /= 0x0, want 0x200$/],
  },
  svm_checks: {
    invalid_exitcode_is_64bit: ['QEMU writes VMEXIT_INVALID as the 32-bit 0xffffffff instead of the 64-bit -1 (APM Vol. 2 15.5.1; Appendix C: VMEXIT_INVALID = -1)', /^EXITCODE 0xffffffff, want 0xffffffffffffffff$/],
    gpat_invalid_type: ['QEMU 7.2 does not check G_PAT for reserved memory types at VMRUN with nested paging (APM Vol. 2 15.5.1 "Canonicalization and Consistency Checks"; "Nested Paging": G_PAT)', /^G_PAT entry 0 = 2: exit VMMCALL/],
  },
  svm_events: {
    virq_equal_tpr: ['QEMU takes a virtual interrupt when V_INTR_PRIO >= V_TPR; the manual takes it only when its priority is greater than V_TPR (APM Vol. 2 15.21.4 "Injecting Virtual (INTR) Interrupts")', /^vector 0x60 taken$/],
    int_shadow_loaded: ['QEMU\'s VMRUN does not load INTERRUPT_SHADOW from the VMCB int_state (it only saves it at #VMEXIT) (APM Vol. 2 15.5.1: VMRUN loads INTERRUPT_SHADOW; 15.21.5 "Interrupt Shadows")', /^g_ev\.rip = 0x[0-9a-f]+, want 0x[0-9a-f]+$/],
  },
  svm_conform: {
    lmsw_mp_sel_write: ['QEMU applies the TS/MP exemption of the selective CR0-write intercept to LMSW too; LMSW treats that intercept as non-selective and exits whatever it writes (APM Vol. 2 15.9)', /^exit VMMCALL \(0x81\), want CR0_SEL_WRITE;/],
    host_tf_across_vmrun: ['QEMU does not take VMRUN\'s single-step trap on the host right after #VMEXIT; the trap comes one host instruction later (APM Vol. 2 15.5.2: the host\'s RFLAGS.TF traps VMRUN, after #VMEXIT, at the instruction after VMRUN)', /^the trap after the VMRUN trap was at 0x[0-9a-f]+, want 0x[0-9a-f]+ \(after VMRUN\)$/],
    pae_pdptes: ['QEMU does not load the PAE PDPTEs at VMRUN for a guest without nested paging, so a reserved PDPTE bit (62:52 included) is not a VMEXIT_INVALID (APM Vol. 2 15.5.1; KVM nested SVM and kvm-unit-tests svm_pae_test)', /^PDPTE0 bit 1: exit EXCP14 \(0x4e\), want VMEXIT_INVALID$/],
    pae_pdptes_npt: ['QEMU reports a reserved-bit #PF without P; a reserved bit is only checked in a present entry, so P = 1 (APM Vol. 2 8.4.2)', /= 0x8, want 0x9$/],
    npt_pml4e_bit8_reserved: ['QEMU 7.2 does not treat bit 8 of a nested PML4E as reserved (APM Vol. 2 5.3.3, Figure 5-18: PML4E bits 8:7 MBZ; kvm-unit-tests svm_npt_rsvd_bits_test)', /^exit VMMCALL, want NPF;/],
  },
  svm_features: {
    task_switch_intercept: ['QEMU 7.2 performs the task switch of a far JMP to a TSS without checking the task-switch intercept (00Ch bit 29, exit 7Dh; APM Vol. 2 15.14 and Appendix C)', /^exit EXCP13 \(0x4d\), want TASK_SWITCH;/],
    task_switch_idt_gate: ['QEMU 7.2 switches tasks through an IDT task gate without checking the task-switch intercept (00Ch bit 29, exit 7Dh; APM Vol. 2 15.14)', /^exit EXCP13 \(0x4d\), want TASK_SWITCH;/],
  },
  svm_npt: {
    npf_reserved_bit: ['QEMU reports a reserved-bit nested page fault without P; a reserved bit is only checked in a present entry, so P=1 (APM Vol. 2 15.25.6; 8.4.2)', /^EXITINFO1 0x10000000c, want 0x10000000d$/],
  },
};

/** SKIPs worldswitch may report: a CPU feature it does not advertise, or a stale TLB entry it
 * need not keep; anything else must PASS there */
const WS_SKIP_OK = /^(no |needs CPUID |no stale translation observed)/;


const KERNELS = readdirSync(join(GUEST, 'tests')).filter((f) => /^svm_\w+\.c$/.test(f)).map((f) => f.slice(0, -2)).sort();






/**
 * Build the kernels. build.sh tracks each test source and guest/lib, not the harness the svm_*
 * kernels #include from guest/svm/, so their objects are dropped first when the harness is
 * newer. flock keeps this build from overlapping another one from this suite.
 */
function build(): void {
  const harness = readdirSync(join(GUEST, 'svm')).map((f) => statSync(join(GUEST, 'svm', f)).mtimeMs);
  const newest = Math.max(0, ...harness);
  const objDir = join(OUT, 'obj');
  if (existsSync(objDir)) {
    for (const f of readdirSync(objDir)) {
      if (f.startsWith('svm_') && statSync(join(objDir, f)).mtimeMs < newest) rmSync(join(objDir, f));
    }
  }
  mkdirSync(OUT, { recursive: true });
  const script = join(GUEST, 'build.sh');
  const run = () => {
    if (have('flock', ['--version'])) execFileSync('flock', [join(OUT, '.build.lock'), 'bash', script], { stdio: 'pipe' });
    else execFileSync('bash', [script], { stdio: 'pipe' });
  };
  try {
    run();
  } catch {
    // test/kernels.test.ts may be running build.sh at the same moment: build again alone
    spawnSync('sleep', ['2']);
    run();
  }
}




/** a line per test whose status `expected` rejects, plus lines for tests not in tests[] */
function mismatches(names: string[], got: Outcome, expected: (name: string, line: Line | undefined) => string | null): string[] {
  const bad: string[] = [];
  for (const n of names) {
    const why = expected(n, got.lines.get(n));
    if (why !== null) bad.push(`${n}: ${why}`);
  }
  for (const n of got.lines.keys()) if (!names.includes(n)) bad.push(`${n}: reported, but not in the kernel's tests[]`);
  return bad;
}

describe('SVM test kernels', () => {
  const toolsMissing = haveTools ? '' : 'gcc/ld/objcopy not installed';
  const qemuMissing = haveQemu ? '' : `${QEMU} not installed`;
  if (!CI) {
    if (toolsMissing) console.warn(`svm-kernels.test: skipping everything: ${toolsMissing}`);
    else if (qemuMissing) console.warn(`svm-kernels.test: skipping the QEMU half: ${qemuMissing}`);
  }
  const pendingKernels = new Map<string, string>();
  const pendingTests = new Map<string, string>();
  for (const [entry, reason] of WORLDSWITCH_PENDING) (entry.includes('/') ? pendingTests : pendingKernels).set(entry, reason);

  beforeAll(() => {
    if (haveTools) build();
  }, 180_000);

  it('has its tools (required in CI)', () => {
    if (CI) {
      expect(toolsMissing, 'CI must install gcc and binutils').toBe('');
      expect(qemuMissing, 'CI must install qemu-system-x86').toBe('');
    }
  });

  it('lists only real kernels and tests in WORLDSWITCH_PENDING and QEMU_DEVIATIONS', () => {
    for (const [entry] of WORLDSWITCH_PENDING) {
      const [kernel, test] = entry.split('/');
      expect(KERNELS, `WORLDSWITCH_PENDING entry ${entry}`).toContain(kernel);
      if (test !== undefined) expect(testNames(kernel), `WORLDSWITCH_PENDING entry ${entry}`).toContain(test);
    }
    for (const [kernel, devs] of Object.entries(QEMU_DEVIATIONS)) {
      expect(KERNELS, `QEMU_DEVIATIONS kernel ${kernel}`).toContain(kernel);
      for (const n of Object.keys(devs)) expect(testNames(kernel), `QEMU_DEVIATIONS ${kernel}/${n}`).toContain(n);
    }
  });

  for (const kernel of KERNELS) {
    const image = join(OUT, `${kernel}.elf`);
    const names = testNames(kernel);
    const qemuDev = QEMU_DEVIATIONS[kernel] ?? {};
    const kernelPending = pendingKernels.get(kernel);
    const testPending = (n: string) => pendingTests.get(`${kernel}/${n}`);
    const results: { qemu?: Outcome; ws?: Outcome } = {};

    describe(kernel, () => {
      it('lists its tests', () => {
        expect(names.length, `no T(name) entries in guest/tests/${kernel}.c`).toBeGreaterThan(0);
      });

      const qemuSkip = qemuMissing || toolsMissing;
      it.skipIf(!CI && qemuSkip !== '')(qemuSkip ? `on QEMU (skipped: ${qemuSkip})` : 'on QEMU', () => {
        expect(existsSync(image), `${image} was not built`).toBe(true);
        const q = runQemu(image);
        results.qemu = q;
        const bad = mismatches(names, q, (n, l) => {
          const dev = qemuDev[n];
          if (dev !== undefined) {
            if (l?.status === 'PASS') return null;
            return l?.status === 'FAIL' && dev[1].test(l.detail) ? null : `${show(l)}; expected the known deviation ${dev[1]} (${dev[0]})`;
          }
          return l?.status === 'PASS' || l?.status === 'SKIP' ? null : show(l);
        });
        expect(bad, `QEMU (${q.status}):\n${q.text}`).toEqual([]);
        expect(q.summary, q.text).not.toBeNull();
        const allPass = [...q.lines.values()].every((l) => l.status !== 'FAIL');
        expect(q.status).toBe(allPass ? 'exit 3' : 'exit 7');
      }, QEMU_TIMEOUT_MS + 10_000);

      const wsTitle = toolsMissing ? `on worldswitch (skipped: ${toolsMissing})`
        : kernelPending !== undefined ? `on worldswitch (pending: ${kernelPending})` : 'on worldswitch';
      const wsIt = !CI && toolsMissing !== '' ? it.skip : kernelPending !== undefined ? it.fails : it;
      wsIt(wsTitle, () => {
        expect(existsSync(image), `${image} was not built`).toBe(true);
        const w = runWorldswitch(image);
        results.ws = w;
        const bad = mismatches(names, w, (n, l) => {
          const pending = testPending(n);
          const ok = l?.status === 'PASS' || (l?.status === 'SKIP' && WS_SKIP_OK.test(l.detail));
          if (pending !== undefined) return ok ? `passes now: delete its WORLDSWITCH_PENDING entry (${pending})` : null;
          return ok ? null : show(l);
        });
        expect(bad, `worldswitch (${w.status}):\n${w.text}`).toEqual([]);
        expect(w.summary, `${w.status}\n${w.text}`).not.toBeNull();
        const allPass = [...w.lines.values()].every((l) => l.status !== 'FAIL');
        expect(w.status).toBe(allPass ? 'exit 3' : 'exit 7');
      }, 180_000);

      it('passes on worldswitch whatever passes on QEMU', (ctx) => {
        const { qemu, ws } = results;
        if (qemu === undefined || ws === undefined || kernelPending !== undefined) return ctx.skip();
        const wsOk = (l: Line | undefined) => l?.status === 'PASS' || (l?.status === 'SKIP' && WS_SKIP_OK.test(l.detail));
        const missing = names.filter((n) => testPending(n) === undefined && qemu.lines.get(n)?.status === 'PASS' && !wsOk(ws.lines.get(n)));
        expect(missing.map((n) => `${n}: ${show(ws.lines.get(n))}`)).toEqual([]);
      });
    });
  }
});
