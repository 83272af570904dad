/**
 * The real host booted two other ways (src/lab/linuxhost.ts), each from its own cached boot
 * snapshot (a boot costs 25-180 s; the snapshots live side by side in .cache/linux/snapshots):
 *
 * - FSGSBASE off: Linux with `nofsgsbase` leaves CR4.FSGSBASE clear; the VMM finds that in
 *   AT_HWCAP2 (CPUID still lists FSGSBASE) and moves its bases with arch_prctl; KVM's
 *   ALTERNATIVEs keep their WRMSR paths, so the wrgsbase design restores the kernel GS base with
 *   WRMSR (one more MSR access per KVM_RUN than with FSGSBASE), and the mutant that breaks only
 *   that path (wrgsbase-wrmsr-no-edx) brings the host down with FSGSBASE off and with it on
 *   passes, two instructions shorter than the design (the unused EDX set-up).
 * - Two CPUs: the VMM pinned to CPU 0 and, with migrate=1, moved to the other CPU before every
 *   KVM_RUN (sched_setaffinity); its checks (FS/GS bases, TSC_AUX = this CPU's number, getcpu)
 *   pass after every run with the wrgsbase design, and each measured run is followed on its own
 *   CPU. The mutant wrgsbase-gs-once (the kernel GS base looked up on the first entry only)
 *   passes on two CPUs while the thread stays, and breaks the host once it moves.
 *
 * Without the cached kernel and modules (npm run linux, npm run kvm) the tests are skipped with a
 * message, and fail under CI=true.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { kvmHostCmdline, runKvmHost, type KvmHostBoot, type KvmRunRequest } from '../src/lab/linuxhost.js';
import { cachedKvmHostBoot } from '../src/lab/linuxhost-cache.js';
import { parseSystemMap } from '../src/lab/sysmap.js';
import { linuxHostFiles } from '../src/lab/linuxbench-files.js';

const ROOT = join(import.meta.dirname, '..');
const files = linuxHostFiles(ROOT);
const SETS = ['wrgsbase', 'wrgsbase-wrmsr-no-edx', 'wrgsbase-gs-once'];
const needed = [files.kernel, files.systemMap, files.initrd, ...SETS.map((d) => join(files.modules, d, 'kvm-amd.ko'))];
const missing = needed.filter((p) => !existsSync(p));

if (missing.length > 0) {
  const msg = `linux-host-variants: ${missing[0]} is missing; run npm run linux and npm run kvm`;
  if (process.env.CI === 'true') {
    describe('real host variants', () => { it('needs the real host under CI', () => { throw new Error(msg); }); });
  } else {
    console.warn(`${msg} (tests skipped)`);
  }
} else {
  const map = parseSystemMap(readFileSync(files.systemMap, 'utf8'));
  const mods = (d: string) => ({ kvm: readFileSync(join(files.modules, d, 'kvm.ko')), kvmAmd: readFileSync(join(files.modules, d, 'kvm-amd.ko')) });
  const boot = (o: { fsgsbase?: boolean; cpus?: number }): KvmHostBoot => cachedKvmHostBoot({
    kernel: readFileSync(files.kernel), initrd: readFileSync(files.initrd), cacheDir: files.snapshots, cmdline: kvmHostCmdline(o), cpus: o.cpus,
  });
  const run = (b: KvmHostBoot, design: string, rq: Partial<KvmRunRequest>) => runKvmHost(b, map, mods(design), { design, workload: 'hlt', iterations: 6, maxInsns: 400_000_000, ...rq });

  describe('real host, FSGSBASE off (nofsgsbase)', () => {
    it('the VMM sees FSGSBASE off, wrgsbase takes its WRMSR path, and the mutant of that path is caught only there', () => {
      const off = boot({ fsgsbase: false });
      const on = boot({});
      // both boot snapshots are kept
      const snaps = readdirSync(files.snapshots!).filter((f) => /^kvmhost-[0-9a-f]+\.snap$/.test(f));
      expect(snaps.length).toBeGreaterThanOrEqual(2);

      const a = run(off, 'wrgsbase', { fsflip: true });
      expect(a.text, a.text.slice(-1500)).toMatch(/^RESULT ok$/m);
      expect(a.vmm.fsgsbase).toBe('0');
      expect(a.checks).toMatchObject({ bad_returns: 0, user_fs: 0, user_gs: 0, tsc_aux: 0 });
      const b = run(on, 'wrgsbase', { fsflip: true });
      expect(b.text, b.text.slice(-1500)).toMatch(/^RESULT ok$/m);
      expect(b.vmm.fsgsbase).toBe('1');
      // the GS base after #VMEXIT: WRMSR (an MSR access) instead of WRGSBASE
      expect(a.runs.length).toBe(3);
      expect(a.runs[0].msrAccesses).toBe(b.runs[0].msrAccesses + 1);

      const bad = run(off, 'wrgsbase-wrmsr-no-edx', { fsflip: true });
      expect(bad.ok, bad.text.slice(-1500)).toBe(false);
      const same = run(on, 'wrgsbase-wrmsr-no-edx', { fsflip: true });
      expect(same.text, same.text.slice(-1500)).toMatch(/^RESULT ok$/m);
      // (with FSGSBASE the mutant only lacks the two instructions that fill EDX for the WRMSR)
      expect(same.runs.map((r) => r.hostInstructions)).toEqual(b.runs.map((r) => r.hostInstructions - 2));
    }, 900_000);
  });

  describe('real host, two CPUs', () => {
    it('the VMM moves between the CPUs before every KVM_RUN with its checks passing; the mutant that caches the GS base is caught only when it moves', () => {
      const b2 = boot({ cpus: 2 });
      expect(b2.machine.cpus.length).toBe(2);
      const a = run(b2, 'wrgsbase', { migrate: 1, iterations: 8, fsflip: true });
      expect(a.text, a.text.slice(-1500)).toMatch(/^RESULT ok$/m);
      expect(a.vmm).toMatchObject({ cpus: '2', migrate: '1' });
      expect(a.checks).toMatchObject({ bad_returns: 0, cpu: 0, tsc_aux: 0, migrations: 7 });
      // the measured runs (4th to 8th) alternate between the CPUs, each timed on its own
      expect(a.runs.map((r) => r.cpu)).toEqual([1, 0, 1, 0, 1]);
      for (const r of a.runs) {
        expect(r.ioctl!.entry).toBeLessThan(r.entry);
        expect(r.entry).toBeLessThan(r.pre);
        expect(r.pre).toBeLessThan(r.post);
        expect(r.post).toBeLessThan(r.exit);
        expect(r.exit).toBeLessThan(r.ioctl!.exit);
        expect(r.hostInstructions).toBeGreaterThan(1000);
      }
      const stays = run(b2, 'wrgsbase-gs-once', { iterations: 6 });
      expect(stays.text, stays.text.slice(-1500)).toMatch(/^RESULT ok$/m);
      const moves = run(b2, 'wrgsbase-gs-once', { migrate: 1, iterations: 6 });
      expect(moves.ok).toBe(false);
      expect(moves.text).toMatch(/Oops|BUG:|Kernel panic|MISMATCH/);
    }, 900_000);
  });
}
