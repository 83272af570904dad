// npm run bench:linux: boot Debian's cloud kernel (npm run linux) with the project's initramfs
// on worldswitch, five times (--runs): instructions and wall time to /init and to power-off (medians),
// the snapshot taken at /init (its size, and the time to restore it).
//   node bench/linux-boot.mjs [--runs N] [--max-insns N] [--pvh] [--jit | --no-jit] [--qemu]
// (--jit / --no-jit: the block compiler on or off; default: on, cpu/jit/jit.ts JIT_DEFAULTS)
// --qemu: the same kernel, initramfs and command line booted to power-off N times on QEMU TCG
// (-cpu EPYC, the same memory size) in the same run: wall and CPU time (medians; QEMU's include
// its start-up; CPU time from /usr/bin/time when present) and worldswitch's ratio to them. Both
// are the time a user waits: QEMU's guest clock is the host's, worldswitch's is simulated, so
// guest timeouts (the keyboard probe's, about 1.4 s) are waited out in real time by QEMU only.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { qemuTimed } from './qemu-time.mjs';
import { join } from 'node:path';
import { bootLinux } from '../dist/lab/linuxboot.js';
import { restoreSnapshot } from '../dist/lab/snapshot.js';
import { parseSystemMap } from '../dist/lab/sysmap.js';
import { JIT_DEFAULTS } from '../dist/cpu/jit/jit.js';

const ROOT = join(import.meta.dirname, '..');
const CACHE = join(ROOT, '.cache', 'linux');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : dflt; };
const runs = Number(opt('--runs', '5'));
const withQemu = args.includes('--qemu');
const maxInsns = Number(opt('--max-insns', '3000000000'));
const image = args.includes('--pvh') ? 'vmlinux' : 'vmlinuz';
if (args.includes('--jit')) JIT_DEFAULTS.on = true;
if (args.includes('--no-jit')) JIT_DEFAULTS.on = false;
for (const f of [image, 'init.cpio']) {
  if (!existsSync(join(CACHE, f))) { console.error(`bench: ${join(CACHE, f)} is missing: run npm run linux`); process.exit(1); }
}
const kernel = readFileSync(join(CACHE, image));
const initrd = readFileSync(join(CACHE, 'init.cpio'));
const syms = existsSync(join(CACHE, 'System.map')) ? parseSystemMap(readFileSync(join(CACHE, 'System.map'), 'utf8')) : null;
const cmdline = 'console=ttyS0 cryptomgr.notests';
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const rows = [];
let last;
for (let k = 0; k < runs; k++) {
  const t0 = performance.now();
  const u0 = process.cpuUsage();
  last = bootLinux({ kernel, initrd, cmdline, maxInsns, snapshotAtInit: k === runs - 1 });
  const u1 = process.cpuUsage(u0);
  rows.push({ ...last, wall: performance.now() - t0, cpu: (u1.user + u1.system) / 1e6 });
  const r = rows[rows.length - 1];
  console.error(`run ${k + 1}: /init at ${r.initInsns} insns (${(r.initMs / 1000).toFixed(1)} s), power-off at ${r.powerOffInsns} insns (${(r.powerOffMs / 1000).toFixed(1)} s)`);
  if (r.powerOffInsns < 0) {
    const rip = r.machine.cpu.rip;
    const tail = r.log.trimEnd().split('\n').slice(-8).join('\n');
    console.error(`run ${k + 1} did not power off: stop ${r.stop.reason} after ${r.stop.icount} insns at RIP 0x${BigInt.asUintN(64, BigInt(rip)).toString(16)}${syms ? ` (${syms.describe(rip)})` : ''}\n${tail}`);
    break;
  }
}
const out = {
  kernel: image, cmdline, runs: rows.length, jit: JIT_DEFAULTS.on,
  cpuSeconds: median(rows.map((r) => r.cpu)),
  initInsns: median(rows.map((r) => r.initInsns)), initSeconds: median(rows.map((r) => r.initMs)) / 1000,
  initSimulatedSeconds: median(rows.map((r) => r.initSimSeconds)),
  powerOffInsns: median(rows.map((r) => r.powerOffInsns)), powerOffSeconds: median(rows.map((r) => r.powerOffMs)) / 1000,
  powerOffSimulatedSeconds: median(rows.map((r) => r.powerOffSimSeconds)),
};
if (last.snapshot) {
  const snap = last.snapshot;
  const bytes = snap.pages.size * 4096;
  const t0 = performance.now();
  restoreSnapshot(last.machine, snap);
  out.snapshotBytes = bytes;
  out.restoreMs = performance.now() - t0;
}
if (withQemu) {
  const q = qemuBoots();
  if (q !== null) {
    out.qemu = q;
    out.ratioWall = out.powerOffSeconds / q.wallSeconds;
    if (q.cpuSeconds !== null) out.ratioCpu = out.cpuSeconds / q.cpuSeconds;
  }
}
console.log(JSON.stringify(out, null, 2));

/** QEMU TCG on the same kernel, initramfs and command line, to power-off: medians, or null if QEMU is missing */
function qemuBoots() {
  if (spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.error('bench: qemu-system-x86_64 is missing: no QEMU figures');
    return null;
  }
  const qargs = ['-M', 'pc', '-m', '256M', '-cpu', 'EPYC', '-accel', 'tcg', '-nographic', '-no-reboot',
    '-kernel', join(CACHE, image), '-initrd', join(CACHE, 'init.cpio'), '-append', cmdline];
  const wall = [];
  const cpu = [];
  for (let k = 0; k < runs; k++) {
    const r = qemuTimed(qargs, 300_000);
    wall.push(r.wall);
    if (!r.stdout.includes('reboot: Power down')) {
      console.error(`bench: QEMU run ${k + 1} did not power off (status ${r.status}); its last lines:\n${r.stdout.trimEnd().split('\n').slice(-5).join('\n')}`);
      return null;
    }
    if (r.cpu !== null) cpu.push(r.cpu);
    console.error(`qemu run ${k + 1}: power-off after ${r.wall.toFixed(1)} s${r.cpu !== null ? ` (${r.cpu.toFixed(1)} s CPU)` : ''}`);
  }
  return { runs, wallSeconds: median(wall), cpuSeconds: cpu.length === runs ? median(cpu) : null };
}
