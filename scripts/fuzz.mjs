#!/usr/bin/env node
/**
 * `npm run fuzz`: the whole-machine fuzzer (src/lab/machine-fuzz.ts) over many seeds.
 * Usage: node scripts/fuzz.mjs [streams=100000] [firstSeed=1] [budget=3000]
 *
 * Streams run on a worker thread that reports each result; a stream that sends nothing for
 * HANG_MS is a hang: the worker is terminated, the seed recorded, and a new worker goes on
 * from the next seed. Prints the outcomes by mode, the slowest stream, and every JavaScript
 * exception or hang with the seed that reproduces it; exits 1 if there was any.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { MachineFuzzer } from '../dist/lab/machine-fuzz.js';

/** no report for this long: the stream never ends (a hang) */
const HANG_MS = 60_000;
/** a stream that ends but takes this long is reported as slow (a budget stretched by work per
 * instruction, e.g. REP string chunks of 4096 iterations each) */
const SLOW_MS = 2_000;

if (!isMainThread) {
  const { from, to, budget } = workerData;
  const f = new MachineFuzzer();
  for (let s = from; s < to; s++) parentPort.postMessage(f.stream(s, budget, Infinity));
  parentPort.postMessage({ done: true });
} else {
  const streams = Number(process.argv[2] ?? 100_000);
  const first = Number(process.argv[3] ?? 1);
  const budget = Number(process.argv[4] ?? 3000);
  if (![streams, first, budget].every(Number.isSafeInteger) || streams <= 0 || budget <= 0) {
    console.error('usage: node scripts/fuzz.mjs [streams] [firstSeed] [budget]');
    process.exit(2);
  }
  const end = first + streams;
  const outcomes = new Map();
  const errors = [];
  const hangs = [];
  const slow = [];
  let instructions = 0;
  let maxMs = 0;
  let done = 0;
  const t0 = Date.now();
  let lastTty = 0;
  const record = (r) => {
    done++;
    instructions += r.icount;
    if (r.ms > maxMs) maxMs = r.ms;
    const key = `${r.mode}: ${r.outcome}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    if (r.outcome === 'error') { errors.push(r); console.log(`seed ${r.seed} (${r.mode}): ${r.error}`); }
    if (r.ms > SLOW_MS) { slow.push(r); console.log(`seed ${r.seed} (${r.mode}): slow, ${Math.round(r.ms)} ms (${r.outcome})`); }
    if (process.stderr.isTTY && Date.now() - lastTty > 500) { lastTty = Date.now(); process.stderr.write(`\r${done}/${streams}`); }
  };
  let next = first;
  while (next < end) {
    next = await new Promise((resolve) => {
      let seen = next;
      const w = new Worker(new URL(import.meta.url), { workerData: { from: next, to: end, budget } });
      let timer;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          // no report for HANG_MS: the stream after the last one reported never ended
          const seed = seen;
          hangs.push({ seed, mode: '?', outcome: 'hang' });
          console.log(`seed ${seed}: no end after ${HANG_MS} ms (hang)`);
          done++;
          void w.terminate();
          resolve(seed + 1);
        }, HANG_MS);
      };
      arm();
      w.on('message', (m) => {
        if (m.done) { clearTimeout(timer); void w.terminate(); resolve(end); return; }
        record(m);
        seen = m.seed + 1;
        arm();
      });
      w.on('error', (e) => {
        clearTimeout(timer);
        errors.push({ seed: seen, mode: '?', outcome: 'error', error: String(e) });
        console.log(`seed ${seen}: worker died: ${e}`);
        done++;
        resolve(seen + 1);
      });
    });
  }
  if (process.stderr.isTTY) process.stderr.write('\r');
  console.log(`machine fuzz: ${done} streams from seed ${first}, budget ${budget}: ${errors.length} JavaScript exceptions, ${hangs.length} hangs`);
  console.log(`  ${instructions} instructions in ${((Date.now() - t0) / 1000).toFixed(1)} s; slowest stream ${maxMs.toFixed(0)} ms; ${slow.length} streams over ${SLOW_MS} ms`);
  for (const [k, n] of [...outcomes.entries()].sort()) console.log(`  ${k.padEnd(28)} ${n}`);
  process.exit(errors.length + hangs.length > 0 ? 1 : 0);
}
