/**
 * `worldswitch verify --host linux`, the engine: per design (or mutant) a unit boots the real
 * host from its boot snapshot, loads the design's modules, records `runs` consecutive KVM_RUNs
 * from the ioctl's SYSCALL entry (lverify-record.ts) and replays them with an NMI, an
 * interrupt or both made pending at every instruction boundary inside the ioctls
 * (verify-inject.ts), checking the invariants of verify-invariants.ts against Linux's own
 * state.
 *
 * Units run on worker threads (lverify-worker.ts), which get the boot snapshot as bytes once;
 * without a built worker script (running from the TypeScript sources) or with jobs <= 1 they
 * run here, one after the other.
 */

import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { cachedKvmHostBoot } from './linuxhost-cache.js';
import { kvmHostCmdline } from './linuxhost.js';
import type { LinuxHostFiles } from './linuxbench-files.js';
import { snapshotFromBytes, snapshotToBytes } from './snapshot-file.js';
import type { Snapshot } from './snapshot.js';
import { parseSystemMap } from './sysmap.js';
import type { SymbolTable } from './symbols.js';
import { Injector, replayUnit, type UnitResult } from './verify-inject.js';
import type { EventKind } from './verify-invariants.js';
import { errorUnit, verdicts, type Verdict } from './verify-report.js';
import { LinuxUnit, NotReached } from './lverify-record.js';
import { findLinuxMutant } from './lverify-mutants.js';

export const LINUX_VERIFY_MEM = 512 << 20;

export interface LinuxVerifyOptions {
  files: LinuxHostFiles;
  designs: string[];
  workloads: string[];
  kinds: EventKind[];
  /** consecutive KVM_RUNs per unit (default 3) */
  runs?: number;
  /** the KVM_RUN the window starts at (default 3) */
  kvmRun?: number;
  stride?: number;
  jobs?: number;
  nullClearsBase?: boolean;
  /** false: Linux booted with nofsgsbase (its own boot snapshot) */
  fsgsbase?: boolean;
  /** CPUs of the machine (default 1); with more, the VMM moves its thread every `migrate` KVM_RUNs */
  cpus?: number;
  migrate?: number;
}

/** a unit's result with the real host's extras */
export interface LinuxUnitResult extends UnitResult {
  /** module load and run to the KVM_RUN snapshot: instructions, ms */
  setup?: { instructions: number; ms: number };
  /** function entries with a breakpoint (kernel + modules) */
  functions?: number;
  /** the KVM_RUN the window started at (from 1) */
  startRun?: number;
}

export interface LinuxVerifyProgress { done: number; total: number; unitsDone: number; units: number; finished?: LinuxUnitResult; what?: string }

export interface LinuxVerifyResult {
  boot: { instructions: number; ms: number; fromCache: boolean; loadMs: number };
  units: LinuxUnitResult[];
  verdicts: Verdict[];
  ok: boolean;
  replays: number;
  ms: number;
  jobs: number;
}

export interface LinuxJob { id: number; design: string; workload: string; kinds: EventKind[]; stride: number; runs?: number; kvmRun?: number; nullClearsBase?: boolean; fsgsbase?: boolean; migrate?: number }
export type LinuxWorkerMessage =
  | { type: 'progress'; id: number; done: number; total: number }
  | { type: 'result'; id: number; result: LinuxUnitResult };

/** what a worker (or this thread) needs for units: the boot snapshot, the kernel's symbols, the modules */
export interface LinuxUnitContext { boot: Snapshot; memSize: number; kernelMap: SymbolTable; modules: string; cpus?: number }

/** One unit: record, replay, result (errors become an error unit). */
export function runLinuxUnit(ctx: LinuxUnitContext, j: LinuxJob, onProgress?: (done: number, total: number) => void): LinuxUnitResult {
  const t0 = performance.now();
  try {
    const mods = { kvm: readFileSync(`${ctx.modules}/${j.design}/kvm.ko`), kvmAmd: readFileSync(`${ctx.modules}/${j.design}/kvm-amd.ko`) };
    const spec = { design: j.design, workload: j.workload, runs: j.runs, kvmRun: j.kvmRun, nullClearsBase: j.nullClearsBase, migrate: j.migrate };
    let unit: LinuxUnit;
    let brokeDown = false;
    try {
      unit = new LinuxUnit(ctx.boot, ctx.memSize, ctx.kernelMap, mods, spec, ctx.cpus);
    } catch (e) {
      // the host broke down before the window's first KVM_RUN: record from the last one that began
      if (!(e instanceof NotReached) || e.reached < 1) throw e;
      unit = new LinuxUnit(ctx.boot, ctx.memSize, ctx.kernelMap, mods, { ...spec, kvmRun: e.reached, runs: 1 }, ctx.cpus);
      brokeDown = true;
    }
    const inj = new Injector(unit);
    // a host that breaks down without any event (before the window, or in it): the reference
    // run says where and why; replays would only repeat it
    const kinds = unit.path.complete && !brokeDown ? j.kinds : [];
    const r = replayUnit(inj, { design: j.design, workload: j.workload, fsgsbase: j.fsgsbase !== false, mutant: findLinuxMutant(j.design) !== undefined }, kinds, { stride: j.stride, onProgress }, t0);
    return { ...r, setup: unit.setup, functions: unit.functions, startRun: unit.startRun };
  } catch (e) {
    const r = errorUnit(j.design, j.workload, j.fsgsbase !== false, (e as Error).message, findLinuxMutant);
    return { ...r, ms: Math.round(performance.now() - t0) };
  }
}

function workerUrl(): URL | null {
  const url = new URL('./lverify-worker.js', import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : null;
}

/** replays a unit is expected to need before it says */
const GUESS_BOUNDARIES = 7000;

export async function verifyLinux(o: LinuxVerifyOptions, onProgress?: (p: LinuxVerifyProgress) => void): Promise<LinuxVerifyResult> {
  const t0 = performance.now();
  const stride = Math.max(1, o.stride ?? 1);
  const f = o.files;
  onProgress?.({ done: 0, total: 0, unitsDone: 0, units: o.designs.length * o.workloads.length, what: 'booting Linux (or loading its snapshot)' });
  const cpus = o.cpus ?? 1;
  const b = cachedKvmHostBoot({ kernel: readFileSync(f.kernel), initrd: readFileSync(f.initrd), cacheDir: f.snapshots, memSize: LINUX_VERIFY_MEM, cmdline: kvmHostCmdline({ fsgsbase: o.fsgsbase }), cpus });
  const boot = { instructions: b.bootInsns, ms: Math.round(b.bootMs), fromCache: b.fromCache, loadMs: Math.round(b.loadMs) };
  const mapText = readFileSync(f.systemMap, 'utf8');
  const jobs: LinuxJob[] = [];
  for (const design of o.designs) for (const workload of o.workloads) jobs.push({ id: jobs.length, design, workload, kinds: o.kinds, stride, runs: o.runs, kvmRun: o.kvmRun, nullClearsBase: o.nullClearsBase, fsgsbase: o.fsgsbase, migrate: o.migrate });
  const results: (LinuxUnitResult | undefined)[] = new Array(jobs.length);
  const done = new Float64Array(jobs.length);
  const total = new Float64Array(jobs.length).fill(Math.ceil(GUESS_BOUNDARIES / stride) * o.kinds.length);
  let unitsDone = 0;
  const report = (finished?: LinuxUnitResult) => {
    let d = 0;
    let t = 0;
    for (let k = 0; k < jobs.length; k++) { d += done[k]; t += total[k]; }
    onProgress?.({ done: d, total: t, unitsDone, units: jobs.length, finished });
  };
  const finish = (j: LinuxJob, r: LinuxUnitResult) => {
    results[j.id] = r;
    done[j.id] = total[j.id];
    unitsDone++;
    report(r);
  };
  const url = workerUrl();
  const threads = Math.max(1, Math.min(o.jobs ?? availableParallelism(), jobs.length));
  if (threads <= 1 || url === null) {
    const ctx: LinuxUnitContext = { boot: b.snapshot, memSize: LINUX_VERIFY_MEM, kernelMap: parseSystemMap(mapText), modules: f.modules, cpus };
    for (const j of jobs) finish(j, runLinuxUnit(ctx, j, (d, t) => { done[j.id] = d; total[j.id] = t; report(); }));
  } else {
    const bytes = snapshotToBytes(b.snapshot);
    await runOnWorkers(url, threads, { boot: bytes, memSize: LINUX_VERIFY_MEM, systemMap: mapText, modules: f.modules, cpus }, jobs, (j, m) => {
      if (m.type === 'progress') { done[j.id] = m.done; total[j.id] = m.total; report(); } else finish(j, m.result);
    });
  }
  const units = results.map((r, k) => r ?? errorUnit(jobs[k].design, jobs[k].workload, o.fsgsbase !== false, 'not run', findLinuxMutant));
  const v = verdicts(units, findLinuxMutant);
  return {
    boot,
    units,
    verdicts: v,
    ok: v.every((x) => x.ok),
    replays: units.reduce((n, u) => n + u.replays, 0),
    ms: Math.round(performance.now() - t0),
    jobs: url === null ? 1 : threads,
  };
}

export interface LinuxWorkerData { boot: Uint8Array; memSize: number; systemMap: string; modules: string; cpus?: number }

/** the worker side's context from its workerData */
export function contextFromWorkerData(d: LinuxWorkerData): LinuxUnitContext {
  return { boot: snapshotFromBytes(d.boot), memSize: d.memSize, kernelMap: parseSystemMap(d.systemMap), modules: d.modules, cpus: d.cpus };
}

function runOnWorkers(url: URL, threads: number, data: LinuxWorkerData, jobs: LinuxJob[], on: (j: LinuxJob, m: LinuxWorkerMessage) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let running = 0;
    let failed = false;
    const start = (w: Worker) => {
      if (next >= jobs.length) { void w.terminate(); if (running === 0) resolve(); return; }
      const j = jobs[next++];
      running++;
      w.removeAllListeners('message');
      w.on('message', (m: LinuxWorkerMessage) => {
        on(j, m);
        if (m.type === 'result') { running--; start(w); }
      });
      w.postMessage(j);
    };
    for (let k = 0; k < threads; k++) {
      const w = new Worker(url, { workerData: data });
      w.on('error', (e) => { if (!failed) { failed = true; reject(e); } });
      start(w);
    }
  });
}
