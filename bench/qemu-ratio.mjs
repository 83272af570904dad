// A CPU-bound kernel run on worldswitch (interpreter and block compiler) and on QEMU TCG side by
// side: guest instructions per second of each and the ratios (median of N runs each).
// Usage: npm run build && node bench/qemu-ratio.mjs [--runs N] [--kernel cpuloop|sieve]
//          [--repeat N] [--no-interp]
//   cpuloop: the loop of bench/cpu-loop.mjs (bench/guest/cpuloop.S);
//   sieve:   the sieve of Eratosthenes over 2^20 byte flags, --repeat times (bench/guest/sieve.S).
// Wall time and CPU time (user + system) are both given: on a loaded machine the CPU time is the
// steadier figure. QEMU's times include its start-up (measured with /usr/bin/time when present).
// Needs gcc/binutils (to assemble the kernel) and qemu-system-x86_64.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Machine } from '../dist/machine/machine.js';
import { qemuTimed } from './qemu-time.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'build', 'bench');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : dflt; };
const runs = Number(opt('--runs', '5'));
const kernel = opt('--kernel', 'cpuloop');
const repeat = Number(opt('--repeat', '8'));
if (!['cpuloop', 'sieve'].includes(kernel)) throw new Error(`--kernel: cpuloop or sieve, not ${kernel}`);
mkdirSync(out, { recursive: true });
const obj = join(out, `${kernel}.o`);
execFileSync('gcc', ['-c', '-m64', `-DREPEAT=${repeat}`, '-o', obj, join(here, 'guest', `${kernel}.S`)]);
execFileSync('ld', ['-m', 'elf_x86_64', '-N', '--no-warn-rwx-segments', '-Ttext=0x100000', '-e', '_start', '-o', join(out, `${kernel}.elf64`), obj]);
execFileSync('objcopy', ['-O', 'elf32-i386', join(out, `${kernel}.elf64`), join(out, `${kernel}.elf`)], { stdio: 'pipe' });
const image = readFileSync(join(out, `${kernel}.elf`));

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

/** worldswitch with the block compiler on or off: { insns, wall, cpu } medians */
function worldswitch(jit) {
  let insns = 0;
  const wall = [];
  const cpu = [];
  for (let r = 0; r < runs; r++) {
    const m = new Machine({ memSize: 64 << 20, jit });
    m.boot(image, { name: kernel });
    const t0 = process.hrtime.bigint();
    const c0 = cpuNow();
    const res = m.run(20e9);
    cpu.push(cpuNow() - c0);
    wall.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (res.exitStatus !== 1) throw new Error(`worldswitch: unexpected end ${JSON.stringify(res)}`);
    if (insns !== 0 && res.icount !== insns) throw new Error(`worldswitch: ${res.icount} instructions, before ${insns}`);
    insns = res.icount;
  }
  return { insns, wall: median(wall), cpu: median(cpu) };
}

const qemuArgs = ['-nodefaults', '-nographic', '-no-reboot', '-cpu', 'max', '-m', '64M', '-serial', 'none',
  '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-kernel', join(out, `${kernel}.elf`)];
function qemu() {
  const wall = [];
  const cpu = [];
  for (let r = 0; r < runs; r++) {
    const p = qemuTimed(qemuArgs, 600_000);
    wall.push(p.wall);
    if (p.error) throw new Error(`qemu: ${p.error.message}`);
    if (p.status !== 1) throw new Error(`qemu: exit status ${p.status} ${p.stderr}`);
    if (p.cpu !== null) cpu.push(p.cpu);
  }
  return { wall: median(wall), cpu: cpu.length ? median(cpu) : NaN };
}

const line = (name, insns, r) => console.log(`${name.padEnd(26)} ${insns} instructions, median wall ${r.wall.toFixed(3)} s = ${(insns / r.wall / 1e6).toFixed(1)} M/s, cpu ${r.cpu.toFixed(3)} s = ${(insns / r.cpu / 1e6).toFixed(1)} M/s`);
console.log(`kernel ${kernel}${kernel === 'sieve' ? ` (repeat ${repeat})` : ''}, medians of ${runs} runs`);
const interp = args.includes('--no-interp') ? null : worldswitch(false);
if (interp) line('worldswitch interpreter:', interp.insns, interp);
const jit = worldswitch(true);
line('worldswitch jit:', jit.insns, jit);
if (interp && interp.insns !== jit.insns) throw new Error('the two modes retired different instruction counts');
const q = qemu();
line('QEMU TCG (with start-up):', jit.insns, q);
if (interp) console.log(`jit speed-up over the interpreter: wall ${(interp.wall / jit.wall).toFixed(2)}x, cpu ${(interp.cpu / jit.cpu).toFixed(2)}x`);
console.log(`worldswitch jit time / QEMU TCG time: wall ${(jit.wall / q.wall).toFixed(2)}, cpu ${(jit.cpu / q.cpu).toFixed(2)} (target: within 2)`);
if (interp) console.log(`worldswitch interpreter time / QEMU TCG time: wall ${(interp.wall / q.wall).toFixed(2)}, cpu ${(interp.cpu / q.cpu).toFixed(2)}`);
