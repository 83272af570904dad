/**
 * The real host (npm run linux): Debian's Linux 6.1 with kvm.ko/kvm-amd.ko and the project's
 * VMM as /init (linux/vmm/). QEMU TCG with SVM is the oracle that the VMM, the initramfs and
 * the modules work (the same two request lines typed on its serial port); on worldswitch the
 * same run must succeed, with KVM_RUNs of the size Linux's KVM really has (thousands of
 * instructions), the thread's four timestamps in order, a profile that puts most of the window
 * in kvm_arch_vcpu_ioctl_run, and the same figures when a design is run twice from the snapshot.
 *
 * Without the cached kernel the tests are skipped with a message, and fail under CI=true.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKvmHost, KVMHOST_CMDLINE, KVMHOST_READY } from '../src/lab/linuxhost.js';
import { cachedKvmHostBoot } from '../src/lab/linuxhost-cache.js';
import { parseSystemMap } from '../src/lab/sysmap.js';
import { designResult } from '../src/lab/linuxbench.js';
import { linuxHostFiles } from '../src/lab/linuxbench-files.js';
import { getProfile } from '../src/cost/profiles.js';

const ROOT = join(import.meta.dirname, '..');
const files = linuxHostFiles(ROOT);
// the design as built from Debian's source when linux/kvm/build.sh has run; Debian's own
// modules otherwise (the same design, as shipped)
const DESIGN = existsSync(join(files.modules, 'vmload', 'kvm-amd.ko')) ? 'vmload' : 'debian';
const cached = [files.kernel, files.systemMap, files.initrd, join(files.modules, DESIGN, 'kvm-amd.ko')].every((p) => existsSync(p));
const haveQemu = spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;

if (!cached) {
  const msg = `linux-kvm: the real host's files are missing (${files.initrd}, modules in ${files.modules}); run npm run linux`;
  if (process.env.CI === 'true') {
    describe('real host', () => { it('needs the cached kernel and modules under CI', () => { throw new Error(msg); }); });
  } else {
    console.warn(`${msg} (tests skipped)`);
  }
}

/** QEMU TCG (EPYC with SVM): type the two lines when the VMM asks, collect the console */
function qemuRun(lines: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const q = spawn('qemu-system-x86_64', [
      '-accel', 'tcg', '-cpu', 'EPYC,+svm', '-m', '512', '-nographic', '-no-reboot', '-serial', 'stdio', '-monitor', 'none',
      '-kernel', files.kernel, '-initrd', files.initrd, '-append', KVMHOST_CMDLINE,
    ], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let sent = 0;
    const timer = setTimeout(() => q.kill('SIGKILL'), timeoutMs);
    q.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (sent === 0 && out.includes(KVMHOST_READY)) { q.stdin.write(lines[0] + '\n'); sent = 1; }
      if (sent === 1 && out.includes('kvmhost: modules loaded')) { q.stdin.write(lines[1] + '\n'); sent = 2; }
    });
    q.on('close', () => { clearTimeout(timer); resolve(out); });
  });
}

describe.skipIf(!cached)('real host: Linux kvm_amd and the VMM', () => {
  it.skipIf(!haveQemu)('run on QEMU TCG with SVM (the oracle for the VMM and the modules)', async () => {
    const out = await qemuRun([`design=${DESIGN}`, 'workload=mix iterations=12'], 240_000);
    expect(out).toContain('kvmhost: modules loaded');
    expect(out, out.slice(-2000)).toMatch(/^RESULT ok/m);
    expect(out).toMatch(/^EXITS user hlt=4 io=4 mmio=4 other=0/m);
  }, 300_000);

  it('runs on worldswitch: thousands of instructions per KVM_RUN, four timestamps in order, a profile', () => {
    const boot = cachedKvmHostBoot({ kernel: readFileSync(files.kernel), initrd: readFileSync(files.initrd), cacheDir: files.snapshots });
    const map = parseSystemMap(readFileSync(files.systemMap, 'utf8'));
    const mods = { kvm: readFileSync(join(files.modules, DESIGN, 'kvm.ko')), kvmAmd: readFileSync(join(files.modules, DESIGN, 'kvm-amd.ko')) };
    const rq = { design: DESIGN, workload: 'mix', iterations: 12, profile: getProfile('zen3') };
    const r = runKvmHost(boot, map, mods, rq);
    expect(r.text, r.text.slice(-1500)).toMatch(/^RESULT ok/m);
    expect(r.exitsUser).toMatchObject({ hlt: 4, io: 4, mmio: 4, other: 0 });
    expect(r.runs.length).toBe(9);
    for (const x of r.runs) {
      expect(x.entry).toBeLessThan(x.pre);
      expect(x.pre).toBeLessThan(x.post);
      expect(x.post).toBeLessThan(x.exit);
      // mix with 3 in-kernel exits (doorbell, VMMCALL, CPUID) before each exit to user space
      expect(x.vmruns).toBe(4);
      expect(x.hostInstructions).toBeGreaterThan(2000);
      expect(x.hostInstructions).toBeLessThan(40000);
    }
    const d = designResult(DESIGN, r);
    expect(d.ok).toBe(true);
    const ioctl = r.profile.share('kvm_arch_vcpu_ioctl_run');
    expect(ioctl).toBeGreaterThan(0.4);
    expect(ioctl).toBeLessThan(1);
    expect(r.profile.share('svm_vcpu_run')).toBeGreaterThan(0.05);
    expect(r.profile.share('[guest]', 'self')).toBeGreaterThan(0);
    // the same run again from the snapshot: the same figures
    const again = runKvmHost(boot, map, mods, rq);
    expect(again.runs).toEqual(r.runs);
    expect(again.text).toBe(r.text);
  }, 900_000);
});
