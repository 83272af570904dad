// The KVM-style host (guest/host/, built by guest/host/build.sh) on worldswitch: every design
// runs every workload to completion with every check of the VMM passing, also with NMIs made
// pending inside the world switch and a fast timer; deliberately broken designs are caught; the
// guest's CPUID is what the kvm code chose to expose; the same image passes on QEMU TCG.
//
// gcc and binutils build the image; QEMU is optional locally (its tests are skipped, with the
// reason in the name) and required in CI, as in kernels.test.ts.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DESIGNS, WORKLOADS, mixGroup, parseHostOutput, runHost, hostCmdline, type HostOptions, type HostResult } from '../src/cli/host.js';
import { Machine } from '../src/machine/machine.js';
import { cpuidLeaf } from '../src/cpu/cpuid.js';

const ROOT = join(import.meta.dirname, '..');
const IMAGE = join(ROOT, 'build', 'host', 'host.elf');
const BIN = join(ROOT, 'bin', 'worldswitch.js');
const CI = process.env.CI === 'true';

function have(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}
const haveTools = have('gcc', ['--version']) && have('ld', ['--version']) && have('objcopy', ['--version']);
const haveQemu = have('qemu-system-x86_64', ['--version']);

let image: Uint8Array;

beforeAll(() => {
  if (haveTools) execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
  if (existsSync(IMAGE)) image = readFileSync(IMAGE);
}, 120_000);

function run(o: Partial<HostOptions> & { design: string; workload: string }): HostResult {
  return runHost(image, { iterations: 60, ...o });
}

/** a failure message with the host's output */
function explain(r: HostResult): string {
  return `design ${r.design}: ${r.status}\n${r.text.replace(/\r/g, '')}`;
}

/** how many of 0..total-1 are i modulo 3 (the guests rotate through three kinds of exit) */
const rot = (total: number, i: number) => Math.floor((total + 2 - i) / 3);

/** the exit counts a workload must produce over n iterations with k in-kernel exits each
 * (mix: k in-kernel exits per group of u exits to the VMM) */
function expectExits(r: HostResult, workload: string, n: number, k: number, u = 1): void {
  const mixKernel = Math.ceil(n / u) * k;
  const want: Record<string, [Record<string, number>, Record<string, number>]> = {
    hlt: [{ hlt: n, io: 0, mmio: 0 }, { doorbell: 0, hypercall: 0, cpuid: 0 }],
    pio: [{ hlt: 0, io: n, mmio: 0 }, { doorbell: 0, hypercall: 0, cpuid: 0 }],
    mmio: [{ hlt: n, io: 0, mmio: 0 }, { doorbell: n * k, hypercall: 0, cpuid: 0 }],
    hypercall: [{ hlt: n, io: 0, mmio: 0 }, { doorbell: 0, hypercall: n * k, cpuid: 0 }],
    // the guest first reports 9 CPUID leaves
    cpuid: [{ hlt: n, io: 0, mmio: 0 }, { doorbell: 0, hypercall: 0, cpuid: n * k + 9 }],
    mix: [{ hlt: rot(n, 0), io: rot(n, 1), mmio: rot(n, 2) }, { doorbell: rot(mixKernel, 0), hypercall: rot(mixKernel, 1), cpuid: rot(mixKernel, 2) }],
  };
  const [wu, wk] = want[workload];
  for (const [key, v] of Object.entries(wu)) expect(r.exitsUser[key], `${workload}: exits to the VMM, ${key}\n${explain(r)}`).toBe(v);
  for (const [key, v] of Object.entries(wk)) expect(r.exitsKernel[key], `${workload}: in-kernel exits, ${key}\n${explain(r)}`).toBe(v);
  expect(r.exitsUser.other, explain(r)).toBe(0);
}

const DEFAULT_KEXITS: Record<string, number> = { hlt: 0, pio: 0, mmio: 4, hypercall: 4, cpuid: 4, mix: 3 };

describe.skipIf(!haveTools && !CI)('host on worldswitch', () => {
  it('has its tools and its image (required in CI)', () => {
    expect(haveTools, 'gcc, ld and objcopy build the host').toBe(true);
    expect(existsSync(IMAGE), `${IMAGE} was not built`).toBe(true);
  });

  for (const design of DESIGNS) {
    describe(design, () => {
      for (const workload of WORKLOADS) {
        it(`runs ${workload} to completion with every check passing`, () => {
          const n = 60;
          // an NMI pending in every 4th world switch, and a timer fast enough to interrupt guests
          const r = run({ design, workload, iterations: n, nmi: 4, timer: 2000 });
          expect(r.ok, explain(r)).toBe(true);
          expect(r.vmm.design).toBe(design);
          expect(r.checks.returns, explain(r)).toBe(n);
          expect(r.checks.bad_returns).toBe(0);
          expect(r.mismatches, explain(r)).toEqual([]);
          expectExits(r, workload, n, DEFAULT_KEXITS[workload]);
          // every probe NMI exited the guest, then was taken by the host right after STGI, on its
          // own GS
          expect(r.exitsKernel.nmi, explain(r)).toBeGreaterThan(0);
          expect(r.checks.nmis).toBe(r.exitsKernel.nmi);
          expect(r.checks.nmi_at_stgi).toBe(r.checks.nmis);
          expect(r.checks.nmi_bad_gs).toBe(0);
          expect(r.checks.gs_violations).toBe(0);
          expect(r.checks.ticks).toBeGreaterThan(0);
        }, 60_000);
      }

      it('runs the mix with CR4.FSGSBASE off (nofsgsbase)', () => {
        const r = run({ design, workload: 'mix', fsgsbase: false, nmi: 3, timer: 2000 });
        expect(r.ok, explain(r)).toBe(true);
        expect(r.vmm.fsgsbase).toBe('0');
        expect(r.checks.nmis).toBeGreaterThan(0);
        expect(r.checks.nmi_bad_gs).toBe(0);
      }, 60_000);

      it('keeps a chosen fraction of the mix\'s exits in the kernel', () => {
        const n = 50;
        for (const percent of [0, 25, 75]) {
          const { kexits, uexits } = mixGroup(percent);
          const r = run({ design, workload: 'mix', iterations: n, kexits, uexits });
          expect(r.ok, explain(r)).toBe(true);
          expectExits(r, 'mix', n, kexits, uexits);
        }
      }, 60_000);

      it('reports a phase table whose parts add up', () => {
        const r = run({ design, workload: 'mmio', iterations: 40, kexits: 2, timer: 0 });
        expect(r.ok, explain(r)).toBe(true);
        const p = (name: string) => r.phases.get(name)!;
        // without a timer every KVM_RUN but the first (whose guest starts at its entry, one
        // instruction short of the loop) is the same, and the parts add up
        for (const name of ['entry_to_vmrun', 'in_kernel_exits', 'vmrun_to_post', 'post_to_exit', 'total']) {
          expect(p(name).max - p(name).min, name).toBeLessThanOrEqual(1);
        }
        expect(p('entry_to_vmrun').median + p('in_kernel_exits').median + p('vmrun_to_post').median + p('post_to_exit').median).toBe(p('total').median);
        expect(p('per_kernel_exit').median).toBe(Math.floor(p('in_kernel_exits').median / 2));
      }, 60_000);
    });
  }

  it('is deterministic: the same run prints the same thing', () => {
    const a = run({ design: 'vmload', workload: 'mix', nmi: 5, timer: 3000 });
    const b = run({ design: 'vmload', workload: 'mix', nmi: 5, timer: 3000 });
    expect(a.text).toBe(b.text);
    expect(a.icount).toBe(b.icount);
  }, 60_000);

  it('times the designs the way the thread found: msr costs most, the VMSAVE/VMLOAD designs about the same', () => {
    const total = (design: string) => {
      const r = run({ design, workload: 'hlt', iterations: 50, timer: 0 });
      expect(r.ok, explain(r)).toBe(true);
      return r.phases.get('total')!.median;
    };
    const t = Object.fromEntries(DESIGNS.map((d) => [d, total(d)]));
    expect(t.msr).toBeGreaterThan(t['vmsave-v1']);
    expect(t.msr).toBeGreaterThan(t.vmload);
    expect(t.msr).toBeGreaterThan(t.wrgsbase);
  }, 60_000);

  describe('broken designs are caught', () => {
    it('broken-kgs (vcpu_put skips KERNEL_GS_BASE): the VMM sees its GS base gone', () => {
      for (const fsgsbase of [true, false]) {
        const r = run({ design: 'broken-kgs', workload: 'hlt', iterations: 20, fsgsbase });
        expect(r.ok).toBe(false);
        expect(r.status, explain(r)).toBe('exit 7');
        expect(r.checks.bad_returns, explain(r)).toBe(20);
        expect(r.checks.user_gs).toBeGreaterThan(0);
        expect(r.checks.KERNEL_GS_BASE, explain(r)).toBe(20);
        expect(r.mismatches.some((m) => m.includes('what=KERNEL_GS_BASE'))).toBe(true);
        // the guest's KERNEL_GS_BASE (guest RAM + 0x600) is what the host left behind
        expect(r.mismatches.find((m) => m.includes('what=KERNEL_GS_BASE'))).toMatch(/got=0xc00600 /);
      }
    }, 60_000);

    it('broken-stgi (STGI before the GS restore): the NMI handler finds the guest\'s GS base', () => {
      for (const fsgsbase of [true, false]) {
        const r = run({ design: 'broken-stgi', workload: 'hypercall', iterations: 20, fsgsbase, nmi: 2, timer: 0 });
        expect(r.ok).toBe(false);
        expect(r.checks.nmi_bad_gs, explain(r)).toBeGreaterThan(0);
        expect(r.checks.nmi_bad_gs).toBe(r.checks.nmis);
        // the guest's GS base, guest RAM + 0x500
        expect(r.checks.nmi_last_bad_gs).toBe(0xc00500);
        // without FSGSBASE the NMI entry SWAPGSes onto the guest's KERNEL_GS_BASE: the C handler's
        // per-cpu check sees that too
        if (!fsgsbase) expect(r.checks.gs_violations).toBeGreaterThan(0);
      }
    }, 60_000);
  });

  it('gives the guest the CPUID the kvm code chose', () => {
    const r = run({ design: 'vmload', workload: 'cpuid', iterations: 5 });
    expect(r.ok, explain(r)).toBe(true);
    const host = new Machine().cpu;
    const out = new Int32Array(4);
    const hostLeaf = (leaf: number) => {
      cpuidLeaf(host, leaf, 0, out);
      return { eax: out[0] >>> 0, ebx: out[1] >>> 0, ecx: out[2] >>> 0, edx: out[3] >>> 0 };
    };
    const seen = new Map(r.cpuid.map((c) => [c.leaf, c]));
    expect([...seen.keys()]).toEqual([0, 1, 7, 0x40000000, 0x40000001, 0x80000000, 0x80000001, 0x80000008, 0x8000000a]);
    const h0 = hostLeaf(0);
    expect(seen.get(0)).toEqual({ leaf: 0, eax: Math.min(h0.eax, 7), ebx: h0.ebx, ecx: h0.ecx, edx: h0.edx });
    const h1 = hostLeaf(1);
    // the hypervisor bit set, the APIC ID the vcpu's (0)
    expect(seen.get(1)).toEqual({ leaf: 1, eax: h1.eax, ebx: h1.ebx & 0x00ffffff, ecx: (h1.ecx | 0x80000000) >>> 0, edx: h1.edx });
    expect(seen.get(7)).toEqual({ leaf: 7, ...hostLeaf(7) });
    // "KVMKVMKVM\0\0\0"
    const sig = seen.get(0x40000000)!;
    expect(sig.eax).toBe(0x40000001);
    const text = [sig.ebx, sig.ecx, sig.edx].map((w) => String.fromCharCode(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24)).join('');
    expect(text).toBe('KVMKVMKVM\0\0\0');
    expect(seen.get(0x40000001)).toEqual({ leaf: 0x40000001, eax: 0, ebx: 0, ecx: 0, edx: 0 });
    expect(seen.get(0x80000000)!.eax).toBe(0x80000008);
    // no SVM for the guest: 8000_0001 ECX[2] clear, and no leaf 8000_000A
    const e1 = hostLeaf(0x80000001);
    expect(e1.ecx & 4).toBe(4);
    expect(seen.get(0x80000001)).toEqual({ leaf: 0x80000001, ...e1, ecx: (e1.ecx & ~4) >>> 0 });
    expect(seen.get(0x80000008)).toEqual({ leaf: 0x80000008, ...hostLeaf(0x80000008) });
    expect(seen.get(0x8000000a)).toEqual({ leaf: 0x8000000a, eax: 0, ebx: 0, ecx: 0, edx: 0 });
  }, 60_000);
});

describe('host output parsing', () => {
  it('reads the VMM\'s KEY lines', () => {
    const p = parseHostOutput([
      'host: kernel up', 'VMM design=vmload workload=hlt iterations=2 kexits=0', 'PHASE name=total min=5 median=6 max=7',
      'EXITS user hlt=2 io=0 mmio=0 other=0', 'EXITS kernel doorbell=0 hypercall=0 cpuid=0 intr=1 nmi=0 vmruns=3',
      'CPUID leaf=0x40000000 eax=0x40000001 ebx=0x4b4d564b ecx=0x564b4d56 edx=0x4d',
      'MISMATCH iteration=0 what=GS_BASE got=0x1 want=0x2', 'CHECK returns=2 bad_returns=1', 'RESULT fail',
    ].join('\r\n'));
    expect(p.vmm.design).toBe('vmload');
    expect(p.phases.get('total')).toEqual({ min: 5, median: 6, max: 7 });
    expect(p.exitsKernel.vmruns).toBe(3);
    expect(p.cpuid[0].ebx).toBe(0x4b4d564b);
    expect(p.mismatches).toEqual(['iteration=0 what=GS_BASE got=0x1 want=0x2']);
    expect(p.checks).toEqual({ returns: 2, bad_returns: 1 });
    expect(p.ok).toBe(false);
  });

  it('turns a percentage into a mix group', () => {
    expect(mixGroup(0)).toEqual({ kexits: 0, uexits: 1 });
    expect(mixGroup(75)).toEqual({ kexits: 3, uexits: 1 });
    expect(mixGroup(90)).toEqual({ kexits: 9, uexits: 1 });
    expect(mixGroup(10)).toEqual({ kexits: 1, uexits: 9 });
    expect(mixGroup(35)).toEqual({ kexits: 7, uexits: 13 });
  });

  it('builds the kernel command line', () => {
    expect(hostCmdline({ design: 'wrgsbase', workload: 'mix', iterations: 10, kexits: 2, fsgsbase: false, nmi: 3, timer: 0 }))
      .toBe('design=wrgsbase workload=mix iterations=10 kexits=2 nofsgsbase nmi=3 timer=0');
  });
});

describe.skipIf(!haveTools && !CI)('worldswitch host (the command)', () => {
  const ws = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });

  it('prints the five designs side by side', () => {
    const r = ws('host', '--design', 'all', '--workload', 'hlt', '--iterations', '50');
    expect(r.status, r.stderr).toBe(0);
    const header = r.stdout.split('\n').find((l) => l.startsWith('RDTSC cycles per KVM_RUN'));
    expect(header).toMatch(/msr\s+vmsave-v1\s+vmload\s+vmload-notss\s+wrgsbase$/);
    expect(r.stdout).toMatch(/^total \(ioctl entry -> exit\)(\s+\d+){10}$/m);
    expect(r.stdout.match(/checks passed after all 50 returns/g)?.length).toBe(5);
  }, 120_000);

  it('says how to build a missing image, in one line', () => {
    const r = ws('host', '--image', join(ROOT, 'build', 'host', 'no-such.elf'));
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/not found: build the host first with guest\/host\/build\.sh/);
  });

  it('exits 1 and names the mismatch when a design is broken', () => {
    const r = ws('host', '--design', 'broken-kgs', '--iterations', '5');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/broken-kgs: FAILED/);
    expect(r.stdout).toMatch(/what=KERNEL_GS_BASE/);
  }, 60_000);
});

// The same image on QEMU TCG: a host bug fails on both, an emulator bug on worldswitch only.
describe.skipIf((!haveTools || !haveQemu) && !CI)(`host on QEMU${haveQemu ? '' : ' (skipped: qemu-system-x86_64 not installed)'}`, () => {
  function runQemu(o: HostOptions): ReturnType<typeof parseHostOutput> & { text: string; status: number | null } {
    const r = spawnSync('qemu-system-x86_64', ['-cpu', 'max,+svm', '-nodefaults', '-nographic', '-no-reboot', '-m', '256M',
      '-serial', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-kernel', IMAGE, '-append', hostCmdline(o)],
    { encoding: 'utf8', timeout: 60_000 });
    return { ...parseHostOutput(r.stdout ?? ''), text: r.stdout ?? '', status: r.status };
  }

  for (const design of DESIGNS) {
    it(`${design} runs the mix with NMI probes`, () => {
      const r = runQemu({ design, workload: 'mix', iterations: 60, nmi: 3 });
      expect(r.ok, r.text).toBe(true);
      expect(r.status, r.text).toBe(3);   // QEMU's exit status for debug-exit value 1
      expect(r.checks.nmis).toBeGreaterThan(0);
      expect(r.checks.nmi_at_stgi).toBe(r.checks.nmis);
      expect(r.checks.nmi_bad_gs).toBe(0);
    }, 70_000);
  }

  it('catches broken-kgs there too', () => {
    const r = runQemu({ design: 'broken-kgs', workload: 'hlt', iterations: 10 });
    expect(r.ok).toBe(false);
    expect(r.checks.KERNEL_GS_BASE, r.text).toBe(10);
  }, 70_000);
});
