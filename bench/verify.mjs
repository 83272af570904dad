// `worldswitch verify --design all --jobs 1` (the mini host: every design, every boundary of
// every recorded KVM_RUN replayed with an NMI, an interrupt or both) timed with the block
// compiler on and off, N runs each, alternating: medians of wall and CPU time (user + system,
// from /usr/bin/time when present). QEMU TCG has no counterpart: the ratio is compiled against
// interpreted.
// Usage: npm run build && node bench/verify.mjs [--runs N] [--design D]
import { join } from 'node:path';
import { timedRun } from './qemu-time.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : dflt; };
const runs = Number(opt('--runs', '5'));
const design = opt('--design', 'all');
if (!Number.isInteger(runs) || runs < 1) { console.error('bench: --runs takes a positive integer'); process.exit(2); }
const cli = join(import.meta.dirname, '..', 'bin', 'worldswitch.js');
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const res = { jit: { wall: [], cpu: [] }, interp: { wall: [], cpu: [] } };
let replays = '';
for (let r = 0; r < runs; r++) {
  for (const mode of ['jit', 'interp']) {
    const p = timedRun('node', [cli, mode === 'jit' ? '--jit' : '--no-jit', 'verify', '--design', design, '--jobs', '1'], 1_800_000);
    if (p.error || p.status !== 0) { console.error(`bench: verify (${mode}) failed: ${p.error?.message ?? `exit ${p.status}`}\n${p.stderr.slice(-2000)}`); process.exit(1); }
    const line = p.stdout.trim().split('\n').pop();
    replays = /(\d+) replays/.exec(line)?.[1] ?? replays;
    res[mode].wall.push(p.wall);
    if (p.cpu !== null) res[mode].cpu.push(p.cpu);
    console.error(`run ${r + 1} ${mode}: wall ${p.wall.toFixed(2)} s${p.cpu !== null ? `, cpu ${p.cpu.toFixed(2)} s` : ''}: ${line}`);
  }
}
const fmt = (x) => (x.length ? median(x).toFixed(2) : 'n/a');
console.log(`verify --design ${design} --jobs 1 (${replays} replays), medians of ${runs} runs`);
console.log(`block compiler on:  wall ${fmt(res.jit.wall)} s, cpu ${fmt(res.jit.cpu)} s`);
console.log(`interpreter only:   wall ${fmt(res.interp.wall)} s, cpu ${fmt(res.interp.cpu)} s`);
console.log(`compiled / interpreted: wall ${(median(res.jit.wall) / median(res.interp.wall)).toFixed(2)}`);
