/**
 * `worldswitch verify`, the engine (design.md §5): for each design (or mutant) and workload, a
 * unit records one KVM_RUN and replays it with an NMI, an interrupt, or both raised at every
 * instruction boundary (verify-inject.ts), checking the invariants of verify-invariants.ts.
 *
 * Units run in parallel on worker threads (verify-worker.ts), each booting its own machine
 * from the image; without a built worker script (running from the TypeScript sources) or with
 * jobs <= 1 they run here, one after the other.
 */

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { unitJobs, type UnitJob, type WorkerMessage } from './verify-jobs.js';
import { JIT_DEFAULTS } from '../cpu/jit/jit.js';
import { readSymbols } from './symbols.js';
import { runUnit, type UnitResult } from './verify-inject.js';
import type { EventKind } from './verify-invariants.js';
import { errorUnit, verdicts, type Verdict } from './verify-report.js';

export interface VerifyOptions {
  image: Uint8Array;
  /** real designs and mutants, by name */
  designs: string[];
  workloads: string[];
  kinds: EventKind[];
  fsgsbase: boolean;
  /** try every stride-th boundary (default 1: every one) */
  stride?: number;
  /** consecutive KVM_RUNs per unit (default DEFAULT_RUNS) */
  runs?: number;
  /** the CPU clears a segment's base on a null selector load */
  nullClearsBase?: boolean;
  /** CPUs in the machine (default 1) */
  cpus?: number;
  /** the VMM moves to the other CPU every N KVM_RUNs (needs cpus >= 2): the window holds migrations */
  migrate?: number;
  /** worker threads (default: the machine's cores; <= 1 runs in this thread) */
  jobs?: number;
}

export interface VerifyProgress {
  /** replays done and (as far as known) to do */
  done: number;
  total: number;
  unitsDone: number;
  units: number;
  /** set when a unit has just finished */
  finished?: UnitResult;
}

export interface VerifyResult {
  units: UnitResult[];
  verdicts: Verdict[];
  /** every real design clean and every mutant caught */
  ok: boolean;
  replays: number;
  ms: number;
  jobs: number;
}

export { VERIFY_WORKLOADS, DEFAULT_WORKLOADS, unitJobs, type UnitJob, type WorkerMessage } from './verify-jobs.js';

/** replays a unit is expected to need before it says (the hlt window has about 400 boundaries) */
const GUESS_BOUNDARIES = 1200;

function workerUrl(): URL | null {
  const url = new URL('./verify-worker.js', import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : null;
}

/** Run the verifier. `onProgress` is called as replays finish and when each unit is done. */
export async function verify(o: VerifyOptions, onProgress?: (p: VerifyProgress) => void): Promise<VerifyResult> {
  const t0 = performance.now();
  const stride = Math.max(1, o.stride ?? 1);
  const jobs = unitJobs(o);
  const results: (UnitResult | undefined)[] = new Array(jobs.length);
  const done = new Float64Array(jobs.length);
  const total = new Float64Array(jobs.length).fill(Math.ceil(GUESS_BOUNDARIES / stride) * o.kinds.length);
  let unitsDone = 0;
  const report = (finished?: UnitResult) => {
    let d = 0;
    let t = 0;
    for (let k = 0; k < jobs.length; k++) { d += done[k]; t += total[k]; }
    onProgress?.({ done: d, total: t, unitsDone, units: jobs.length, finished });
  };
  const finish = (j: UnitJob, r: UnitResult) => {
    results[j.id] = r;
    done[j.id] = total[j.id];
    unitsDone++;
    report(r);
  };

  const url = workerUrl();
  const threads = Math.max(1, Math.min(o.jobs ?? availableParallelism(), jobs.length));
  if (threads <= 1 || url === null) {
    const syms = readSymbols(o.image);
    for (const j of jobs) {
      let r: UnitResult;
      try {
        r = runUnit(o.image, syms, j.spec, j.kinds, {
          stride: j.stride,
          onProgress: (d, t) => { done[j.id] = d; total[j.id] = t; report(); },
        });
      } catch (e) {
        r = errorUnit(j.spec.design, j.spec.workload, j.spec.fsgsbase, (e as Error).message);
      }
      finish(j, r);
    }
  } else {
    await runOnWorkers(url, threads, o.image, jobs, (j, m) => {
      if (m.type === 'progress') { done[j.id] = m.done; total[j.id] = m.total; report(); } else finish(j, m.result);
    });
  }
  const units = results.map((r, k) => r ?? errorUnit(jobs[k].spec.design, jobs[k].spec.workload, o.fsgsbase, 'not run'));
  const v = verdicts(units);
  return {
    units,
    verdicts: v,
    ok: v.every((x) => x.ok),
    replays: units.reduce((n, u) => n + u.replays, 0),
    ms: Math.round(performance.now() - t0),
    jobs: url === null ? 1 : threads,
  };
}

/** a pool of `threads` workers taking the jobs in order */
function runOnWorkers(url: URL, threads: number, image: Uint8Array, jobs: UnitJob[], on: (j: UnitJob, m: WorkerMessage) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let running = 0;
    let failed = false;
    const start = (w: Worker) => {
      if (next >= jobs.length) { void w.terminate(); if (running === 0) resolve(); return; }
      const j = jobs[next++];
      running++;
      w.removeAllListeners('message');
      w.on('message', (m: WorkerMessage) => {
        on(j, m);
        if (m.type === 'result') { running--; start(w); }
      });
      w.postMessage(j);
    };
    for (let k = 0; k < threads; k++) {
      // the block compiler setting travels with the image (a worker's modules start afresh)
      const w = new Worker(url, { workerData: { image, jit: { ...JIT_DEFAULTS } } });
      w.on('error', (e) => { if (!failed) { failed = true; reject(e); } });
      start(w);
    }
  });
}
