// Loads each variant's modules (linux/kvm/build.sh) into Debian's kernel and reports what the
// kernel says: on QEMU TCG (-cpu EPYC,+svm) and/or on worldswitch.
//
//   node linux/kvm/loadcheck.mjs [--qemu] [--worldswitch] [--max-insns N] [names...]
//     (no machine flag: QEMU only; no names: every variant built in .cache/kvm)
//
// For each variant it writes .cache/kvm/<name>/load.cpio: busybox-static and a shell /init that
// insmods irqbypass.ko, kvm.ko and kvm-amd.ko, prints the kernel's module, kvm and svm lines, runs
// linux/kvm/smoke.c (100 KVM_RUNs of a real-mode OUT/HLT loop, checking the VMM's GS/FS bases, a
// system call and the guest's registers after each), prints any oops, and powers off. Every line
// the /init prints starts with "kvmload:". Exit status 1 if a variant's kvm_amd does not
// initialise (no /dev/kvm) or the kernel reports an oops while loading, or a design (not a
// mutant) fails the smoke run. Needs `npm run build` and a static glibc (libc6-dev).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { writeCpio } from '../../dist/machine/cpio.js';

const ROOT = join(import.meta.dirname, '..', '..');
const LINUX = join(ROOT, '.cache', 'linux');
const KVM = join(ROOT, '.cache', 'kvm');
export const CMDLINE = 'console=ttyS0 nokaslr quiet cryptomgr.notests panic=-1';
const TROUBLE = 'Oops|BUG:|WARNING: CPU:|Call Trace|general protection|Kernel panic';
export const DONE_MARK = 'kvmload: done';

const INIT = `#!/bin/sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "kvmload: start $(uname -r)"
for m in irqbypass kvm kvm-amd; do
  if insmod /lib/kvm/$m.ko; then echo "kvmload: insmod $m ok"; else echo "kvmload: insmod $m FAILED"; fi
done
dmesg | grep -E 'kvm|SVM|svm|irqbypass|taint|module|${TROUBLE}' \\
  | grep -v '_OSI(Module Device)' | sed 's/^/kvmload: dmesg: /'
grep -E '^(kvm|kvm_amd|irqbypass) ' /proc/modules | sed 's/^/kvmload: module: /'
if [ -c /dev/kvm ]; then echo "kvmload: /dev/kvm present"; else echo "kvmload: /dev/kvm missing"; fi
echo "kvmload: tainted $(cat /proc/sys/kernel/tainted)"
dmesg -c > /dev/null
/bin/kvmsmoke 100 2>&1 | sed 's/^/kvmload: /'
dmesg | grep -E '${TROUBLE}|RIP:' | sed 's/^/kvmload: after smoke: /'
echo "${DONE_MARK}"
poweroff -f
`;

/** linux/kvm/smoke.c, built with the host's gcc against static glibc (rebuilt when older) */
export function smokeBinary() {
  const src = join(ROOT, 'linux', 'kvm', 'smoke.c');
  const out = join(KVM, 'build', 'kvmsmoke');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    const r = spawnSync('gcc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', out, src], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kvmsmoke: gcc failed\n${r.stderr}`);
  }
  return out;
}

/** the initramfs for one variant: busybox, its three modules, the /init above */
export function loadCpio(name) {
  const mods = [['irqbypass', join(KVM, 'irqbypass.ko')], ['kvm', join(KVM, name, 'kvm.ko')], ['kvm-amd', join(KVM, name, 'kvm-amd.ko')]];
  return writeCpio([
    { type: 'dir', path: 'dev' },
    { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { type: 'dir', path: 'proc', mode: 0o555 },
    { type: 'dir', path: 'sys', mode: 0o555 },
    { type: 'dir', path: 'bin' }, { type: 'dir', path: 'sbin' }, { type: 'dir', path: 'usr' },
    { type: 'dir', path: 'usr/bin' }, { type: 'dir', path: 'usr/sbin' },
    { type: 'dir', path: 'lib' }, { type: 'dir', path: 'lib/kvm' },
    { type: 'file', path: 'bin/busybox', data: readFileSync(join(LINUX, 'busybox')), mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'bin/kvmsmoke', data: readFileSync(smokeBinary()), mode: 0o755 },
    ...mods.map(([m, f]) => ({ type: 'file', path: `lib/kvm/${m}.ko`, data: readFileSync(f), mode: 0o644 })),
    { type: 'file', path: 'init', data: new TextEncoder().encode(INIT), mode: 0o755 },
  ]);
}

/** the /init's lines (kvmload: prefix removed, kernel timestamps kept) */
export const kvmloadLines = (log) => log.replace(/\r/g, '').split('\n')
  .filter((l) => l.startsWith('kvmload: ')).map((l) => l.slice('kvmload: '.length));

/** verdict on one boot's log */
export function judge(log) {
  const lines = kvmloadLines(log);
  const devKvm = lines.includes('/dev/kvm present');
  const inserted = ['irqbypass', 'kvm', 'kvm-amd'].every((m) => lines.includes(`insmod ${m} ok`));
  // a kernel WARN prints "WARNING: CPU: n PID: ..."; the SRSO boot notice also says WARNING:
  const re = new RegExp(TROUBLE);
  const trouble = lines.filter((l) => l.startsWith('dmesg: ') && re.test(l));
  const smoke = lines.find((l) => l.startsWith('kvmsmoke: ')) ?? 'kvmsmoke: no result';
  const afterSmoke = lines.filter((l) => l.startsWith('after smoke: '));
  return {
    ok: devKvm && inserted && trouble.length === 0, devKvm, inserted, trouble, lines,
    smokeOk: smoke.startsWith('kvmsmoke: ok') && afterSmoke.length === 0 && log.includes(DONE_MARK), smoke, afterSmoke,
  };
}

export function qemuLoad(cpioPath) {
  const r = spawnSync('qemu-system-x86_64', [
    '-M', 'pc', '-m', '512M', '-cpu', 'EPYC,+svm', '-accel', 'tcg', '-nographic', '-no-reboot',
    '-kernel', join(LINUX, 'vmlinuz'), '-initrd', cpioPath, '-append', CMDLINE,
  ], { encoding: 'utf8', timeout: 180_000 });
  return r.stdout ?? '';
}

export async function worldswitchLoad(cpio, maxInsns) {
  const { bootLinux } = await import('../../dist/lab/linuxboot.js');
  const { Stop } = await import('../../dist/cpu/state.js');
  const r = bootLinux({ kernel: readFileSync(join(LINUX, 'vmlinuz')), initrd: cpio, cmdline: CMDLINE, memSize: 512 << 20, maxInsns, stopAt: DONE_MARK });
  const why = `${Stop[r.stop.reason]}${r.machine.stopCause ? ` (${r.machine.stopCause})` : ''}`;
  return { log: r.log, stop: why, rip: r.machine.cpu.rip, icount: r.machine.cpu.icount };
}

async function main() {
  const args = process.argv.slice(2);
  const flag = (f) => { const k = args.indexOf(f); if (k < 0) return false; args.splice(k, 1); return true; };
  const value = (f, d) => { const k = args.indexOf(f); if (k < 0) return d; const v = args[k + 1]; args.splice(k, 2); return v; };
  const ws = flag('--worldswitch');
  const qemu = flag('--qemu') || !ws;
  const maxInsns = Number(value('--max-insns', '4000000000'));
  const names = args.length ? args : readdirSync(KVM).filter((n) => existsSync(join(KVM, n, 'inputs.sha256'))).sort();
  let bad = 0;
  for (const name of names) {
    const cpio = loadCpio(name);
    const cpioPath = join(KVM, name, 'load.cpio');
    writeFileSync(cpioPath, cpio);
    const runs = [];
    if (qemu) runs.push(['qemu', () => ({ log: qemuLoad(cpioPath) })]);
    if (ws) runs.push(['worldswitch', () => worldswitchLoad(cpio, maxInsns)]);
    for (const [machine, run] of runs) {
      const t0 = performance.now();
      const r = await run();
      const v = judge(r.log);
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      const mutant = existsSync(join(ROOT, 'linux', 'mutants', `${name}.patch`));
      console.log(`== ${name} on ${machine}: ${v.ok ? 'kvm_amd initialised' : 'FAILED to load'}; smoke ${v.smokeOk ? 'ok' : 'FAILED'} (${secs} s)`);
      for (const l of v.lines) console.log(`   ${l}`);
      if (!r.log.includes(DONE_MARK)) {
        // the console after the last /init line: the oops, or nothing when the machine reset
        const raw = r.log.replace(/\r/g, '').split('\n');
        const last = raw.findLastIndex((l) => l.startsWith('kvmload: '));
        const tail = raw.slice(last + 1).filter((l) => l.trim() !== '').slice(0, 20);
        console.log(tail.length ? tail.map((l) => `   | ${l}`).join('\n') : '   (the console ends here: no power-off)');
        if (r.stop) console.log(`   stop: ${r.stop} after ${r.icount} instructions at RIP 0x${BigInt.asUintN(64, BigInt(r.rip)).toString(16)}`);
      }
      if (!v.ok || (!v.smokeOk && !mutant)) {
        bad++;
      }
    }
  }
  process.exit(bad ? 1 : 0);
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) await main();
