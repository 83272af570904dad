/**
 * A worker thread of `verify --host linux`: gets the boot snapshot (bytes), the System.map
 * text and the modules' directory once, then units one at a time (LinuxJob), and answers with
 * progress and each unit's result. Each unit builds its own machine from the snapshot.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { contextFromWorkerData, runLinuxUnit, type LinuxJob, type LinuxUnitContext, type LinuxWorkerData, type LinuxWorkerMessage } from './lverify.js';
import { errorUnit } from './verify-report.js';
import { findLinuxMutant } from './lverify-mutants.js';

const port = parentPort!;
let ctx: LinuxUnitContext | Error;
try {
  ctx = contextFromWorkerData(workerData as LinuxWorkerData);
} catch (e) {
  ctx = e instanceof Error ? e : new Error(String(e));
}

port.on('message', (j: LinuxJob) => {
  const result = ctx instanceof Error
    ? errorUnit(j.design, j.workload, j.fsgsbase !== false, ctx.message, findLinuxMutant)
    : runLinuxUnit(ctx, j, (done, total) => port.postMessage({ type: 'progress', id: j.id, done, total } satisfies LinuxWorkerMessage));
  port.postMessage({ type: 'result', id: j.id, result } satisfies LinuxWorkerMessage);
});
