/**
 * The verifier's units as jobs for workers (Node worker threads in verify.ts, Web Workers in
 * the browser lab): no Node or DOM API here.
 */

import { WORKLOADS } from './hostrun.js';
import type { EventKind } from './verify-invariants.js';
import type { UnitResult } from './verify-inject.js';
import type { UnitSpec } from './verify-record.js';

/**
 * the workloads: the host's, and `wrmsr`, a HLT loop whose guest changes its own
 * KERNEL_GS_BASE on every exit (so that losing the guest's VMLOAD state shows)
 */
export const VERIFY_WORKLOADS: readonly string[] = [...WORKLOADS, 'wrmsr'];
export const DEFAULT_WORKLOADS: readonly string[] = ['hlt', 'wrmsr', 'mix'];

/** what the main thread sends a worker, and what it answers */
export interface UnitJob { id: number; spec: UnitSpec; kinds: EventKind[]; stride: number }
export type WorkerMessage =
  | { type: 'progress'; id: number; done: number; total: number }
  | { type: 'result'; id: number; result: UnitResult };

/** one job per design (or mutant) and workload, designs outermost */
export function unitJobs(o: { designs: string[]; workloads: string[]; kinds: EventKind[]; fsgsbase: boolean; stride?: number; runs?: number; nullClearsBase?: boolean; cpus?: number; migrate?: number }): UnitJob[] {
  const stride = Math.max(1, o.stride ?? 1);
  const jobs: UnitJob[] = [];
  for (const design of o.designs) {
    for (const workload of o.workloads) jobs.push({ id: jobs.length, spec: { design, workload, fsgsbase: o.fsgsbase, runs: o.runs, nullClearsBase: o.nullClearsBase, cpus: o.cpus, ...(o.migrate ? { migrate: o.migrate } : {}) }, kinds: o.kinds, stride });
  }
  return jobs;
}
