/**
 * A verifier worker thread: gets the host image once, then units one at a time (UnitJob), and
 * answers with progress and the unit's result. Each unit boots its own machine.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { readSymbols } from './symbols.js';
import { runUnit, type UnitResult } from './verify-inject.js';
import { errorUnit } from './verify-report.js';
import type { UnitJob, WorkerMessage } from './verify.js';
import { JIT_DEFAULTS } from '../cpu/jit/jit.js';

const image = (workerData as { image: Uint8Array }).image;
const jit = (workerData as { jit?: typeof JIT_DEFAULTS }).jit;
if (jit !== undefined) Object.assign(JIT_DEFAULTS, jit);
const port = parentPort!;
// a bad image is reported by every unit rather than thrown out of the worker
let syms: ReturnType<typeof readSymbols> | Error;
try {
  syms = readSymbols(image);
} catch (e) {
  syms = e instanceof Error ? e : new Error(String(e));
}

port.on('message', (j: UnitJob) => {
  let result: UnitResult;
  try {
    if (syms instanceof Error) throw syms;
    result = runUnit(image, syms, j.spec, j.kinds, {
      stride: j.stride,
      onProgress: (done, total) => port.postMessage({ type: 'progress', id: j.id, done, total } satisfies WorkerMessage),
    });
  } catch (e) {
    result = errorUnit(j.spec.design, j.spec.workload, j.spec.fsgsbase, (e as Error).message);
  }
  port.postMessage({ type: 'result', id: j.id, result } satisfies WorkerMessage);
});
