/**
 * A verifier worker thread: gets the host image once, then units one at a time (UnitJob), and
 * answers with progress and the unit's result. Each unit boots its own machine.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { readSymbols } from './symbols.js';
import { runUnit, type UnitResult } from './verify-inject.js';
import { errorUnit } from './verify-report.js';
import type { UnitJob, WorkerMessage } from './verify.js';

const image = (workerData as { image: Uint8Array }).image;
const syms = readSymbols(image);
const port = parentPort!;

port.on('message', (j: UnitJob) => {
  let result: UnitResult;
  try {
    result = runUnit(image, syms, j.spec, j.kinds, {
      stride: j.stride,
      onProgress: (done, total) => port.postMessage({ type: 'progress', id: j.id, done, total } satisfies WorkerMessage),
    });
  } catch (e) {
    result = errorUnit(j.spec.design, j.spec.workload, j.spec.fsgsbase, (e as Error).message);
  }
  port.postMessage({ type: 'result', id: j.id, result } satisfies WorkerMessage);
});
