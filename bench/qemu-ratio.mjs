// The CPU benchmark loop as a kernel, run on worldswitch and on QEMU TCG side by side:
// guest instructions per second of each and the ratio (median of N runs each).
// Usage: npm run build && node bench/qemu-ratio.mjs [--runs N]
// Needs gcc/binutils (to assemble the kernel) and qemu-system-x86_64.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Machine } from '../dist/machine/machine.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'build', 'bench');
const args = process.argv.slice(2);
const runs = (() => { const k = args.indexOf('--runs'); return k >= 0 ? Number(args[k + 1]) : 5; })();
mkdirSync(out, { recursive: true });
execFileSync('gcc', ['-c', '-m64', '-o', join(out, 'cpuloop.o'), join(here, 'guest', 'cpuloop.S')]);
execFileSync('ld', ['-m', 'elf_x86_64', '-Ttext=0x100000', '-e', '_start', '-o', join(out, 'cpuloop.elf64'), join(out, 'cpuloop.o')]);
execFileSync('objcopy', ['-O', 'elf32-i386', join(out, 'cpuloop.elf64'), join(out, 'cpuloop.elf')], { stdio: 'pipe' });
const image = readFileSync(join(out, 'cpuloop.elf'));

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

// worldswitch: instructions are counted by the machine
let insns = 0;
const ws = [];
for (let r = 0; r < runs; r++) {
  const m = new Machine({ memSize: 64 << 20 });
  m.boot(image, { name: 'cpuloop' });
  const t0 = process.hrtime.bigint();
  const res = m.run(2e9);
  ws.push(Number(process.hrtime.bigint() - t0) / 1e9);
  if (res.exitStatus !== 1) throw new Error(`worldswitch: unexpected end ${JSON.stringify(res)}`);
  insns = res.icount;
}
console.log(`worldswitch: ${insns} instructions, median ${median(ws).toFixed(3)} s = ${(insns / median(ws) / 1e6).toFixed(1)} M/s`);

// QEMU TCG on the same image; its time includes its start-up, measured with an empty run
const qemuArgs = ['-nodefaults', '-nographic', '-no-reboot', '-cpu', 'max', '-m', '64M', '-serial', 'none',
  '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-kernel', join(out, 'cpuloop.elf')];
const q = [];
for (let r = 0; r < runs; r++) {
  const t0 = process.hrtime.bigint();
  const p = spawnSync('qemu-system-x86_64', qemuArgs, { timeout: 120_000 });
  q.push(Number(process.hrtime.bigint() - t0) / 1e9);
  if (p.error) throw new Error(`qemu: ${p.error.message}`);
  if (p.status !== 1) throw new Error(`qemu: exit status ${p.status}`);
}
console.log(`QEMU TCG:    same ${insns} instructions, median ${median(q).toFixed(3)} s = ${(insns / median(q) / 1e6).toFixed(1)} M/s (wall time including QEMU start-up)`);
console.log(`ratio worldswitch / QEMU TCG speed: ${(median(q) / median(ws)).toFixed(3)}`);
