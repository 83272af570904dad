/**
 * The lab's Web Worker: the emulator runs here, never on the page's thread. One script for
 * every job (the page starts as many as it needs: one for the bench, a pool for verify, one per
 * stepper side, one for a booted image):
 *
 *   bench        the CLI's bench job (src/lab/benchjob.ts): text, JSON entries, plot specs
 *   verify       one verifier unit (design x workload), with progress
 *   step-load    a design's KVM_RUN as a timeline (src/lab/stepper.ts)
 *   step-inject  an event placed on one of its boundaries
 *   boot         any image on a Machine, UART bytes streamed back; uart-in types into it
 *
 * The page cancels a job by terminating the worker.
 */

import { getProfile } from '../../src/cost/profiles.js';
import { profileFromJson } from '../../src/cost/profile-file.js';
import type { CostProfile } from '../../src/cost/profile.js';
import { runBenchJob, type BenchJob } from '../../src/lab/benchjob.js';
import { calibrate } from '../../src/lab/calibrate.js';
import { readSymbols, type SymbolTable } from '../../src/lab/symbols.js';
import { Stepper } from '../../src/lab/stepper.js';
import { runUnit, type UnitResult } from '../../src/lab/verify-inject.js';
import { errorUnit } from '../../src/lab/verify-report.js';
import type { UnitJob } from '../../src/lab/verify-jobs.js';
import type { EventKind } from '../../src/lab/verify-invariants.js';
import { Machine } from '../../src/machine/machine.js';
import { isBzImage, pvhEntry } from '../../src/machine/linux.js';
import { Stop } from '../../src/cpu/state.js';

export type ToWorker =
  | { kind: 'bench'; image?: Uint8Array; job: Omit<BenchJob, 'fileProfile'>; profileJson?: string }
  | { kind: 'verify'; image?: Uint8Array; job: UnitJob }
  | { kind: 'step-load'; image?: Uint8Array; design: string; workload: string; fsgsbase: boolean; profile: string; calibrate: boolean }
  | { kind: 'step-inject'; b: number; event: EventKind }
  | { kind: 'boot'; image: Uint8Array; name: string; cmdline: string; initrd?: Uint8Array; budget: number }
  | { kind: 'uart-in'; text: string };

const post = (m: unknown, transfer: Transferable[] = []) => (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(m, transfer);

let hostImage: Uint8Array | null = null;
let hostSyms: SymbolTable | null = null;

/** the host image: the page's own choice, else build/host/host.elf from the server */
async function host(given?: Uint8Array): Promise<Uint8Array> {
  if (given !== undefined) {
    if (given !== hostImage) { hostImage = given; hostSyms = null; }
    return given;
  }
  if (hostImage === null) {
    const url = new URL('/images/host.elf', self.location.origin);
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) throw new Error(`${url.pathname}: HTTP ${r.status}: build the host image first (npm run host)`);
    hostImage = new Uint8Array(await r.arrayBuffer());
  }
  return hostImage;
}

function syms(image: Uint8Array): SymbolTable {
  hostSyms ??= readSymbols(image);
  return hostSyms;
}

async function bench(m: Extract<ToWorker, { kind: 'bench' }>): Promise<void> {
  const image = await host(m.image);
  let fileProfile: CostProfile | undefined;
  if (m.profileJson !== undefined) fileProfile = profileFromJson(m.profileJson);
  const t0 = performance.now();
  let last = 0;
  const r = runBenchJob(image, { ...m.job, fileProfile }, (stage, done, total, what) => {
    const now = performance.now();
    if (now - last < 50 && done < total && done > 0) return;
    last = now;
    post({ kind: 'progress', stage, done, total, what: what ?? '' });
  }, (text) => post({ kind: 'text', text }));
  post({ kind: 'bench-done', entries: r.entries, specs: r.specs, ok: r.ok, ms: Math.round(performance.now() - t0) });
}

async function verifyUnit(m: Extract<ToWorker, { kind: 'verify' }>): Promise<void> {
  const image = await host(m.image);
  const j = m.job;
  let result: UnitResult;
  try {
    result = runUnit(image, syms(image), j.spec, j.kinds, {
      stride: j.stride,
      onProgress: (done, total) => post({ kind: 'verify-progress', id: j.id, done, total }),
    });
  } catch (e) {
    result = errorUnit(j.spec.design, j.spec.workload, j.spec.fsgsbase, (e as Error).message);
  }
  post({ kind: 'verify-result', id: j.id, result });
}

let stepper: Stepper | null = null;

async function stepLoad(m: Extract<ToWorker, { kind: 'step-load' }>): Promise<void> {
  const image = await host(m.image);
  const t0 = performance.now();
  stepper = new Stepper(image, syms(image), m.design, m.workload, m.fsgsbase);
  const base = getProfile(m.profile);
  const profile = m.calibrate && m.profile !== 'unit' ? calibrate(image, base).profile : base;
  const timeline = stepper.timeline(profile);
  post({ kind: 'timeline', timeline, ms: Math.round(performance.now() - t0) });
}

function stepInject(m: Extract<ToWorker, { kind: 'step-inject' }>): void {
  if (stepper === null) throw new Error('no design loaded');
  post({ kind: 'outcome', outcome: stepper.inject(m.b, m.event) });
}

let machine: Machine | null = null;

/** boot an image and run it in slices, streaming the UART; messages get in between slices */
async function boot(m: Extract<ToWorker, { kind: 'boot' }>): Promise<void> {
  let out: number[] = [];
  const mach = new Machine({ onUartByte: (b) => { out.push(b); } });
  machine = mach;
  const linux = isBzImage(m.image) || pvhEntry(m.image) !== null;
  const cmdline = linux ? m.cmdline : `${m.name}${m.cmdline !== '' ? ` ${m.cmdline}` : ''}`;
  mach.boot(m.image, { name: m.name, cmdline, initrd: m.initrd ?? null, initrdName: m.initrd !== undefined ? 'initrd' : undefined });
  const t0 = performance.now();
  const end = mach.cpu.icount + m.budget;
  const flush = () => {
    if (out.length === 0) return;
    const bytes = Uint8Array.from(out);
    out = [];
    post({ kind: 'uart', bytes }, [bytes.buffer]);
  };
  for (;;) {
    const r = mach.run(Math.min(2_000_000, end - mach.cpu.icount));
    flush();
    if (r.reason !== Stop.Budget || mach.cpu.icount >= end) {
      const how = r.reason === Stop.Exit ? `exit ${r.exitStatus}` : r.reason === Stop.Budget ? `the budget of ${m.budget} instructions ran out` : `${Stop[r.reason]} at RIP 0x${r.rip.toString(16)}`;
      post({ kind: 'boot-done', how, exit: r.reason === Stop.Exit ? r.exitStatus : null, icount: r.icount, ms: Math.round(performance.now() - t0) });
      break;
    }
    post({ kind: 'boot-progress', icount: mach.cpu.icount - (end - m.budget), budget: m.budget });
    // let uart-in messages in
    await new Promise((ok) => setTimeout(ok, 0));
  }
}

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  try {
    switch (m.kind) {
      case 'bench': await bench(m); break;
      case 'verify': await verifyUnit(m); break;
      case 'step-load': await stepLoad(m); break;
      case 'step-inject': stepInject(m); break;
      case 'boot': await boot(m); break;
      case 'uart-in': machine?.uart.queueInput(m.text); break;
    }
  } catch (e) {
    post({ kind: 'error', text: e instanceof Error ? `${e.message}` : String(e) });
  }
};
