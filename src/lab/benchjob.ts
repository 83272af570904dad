/**
 * One bench job, as `worldswitch bench` runs it and as the browser lab runs it in a Worker:
 * per profile, calibrate (unless told not to), then either the bench (table, counts, optional
 * uncertainty draws, optional plots with the break-even points) or a sweep. No Node or DOM API:
 * the caller reads the image, prints the text, and writes or offers the JSON and SVG.
 */

import type { CostProfile } from '../cost/profile.js';
import { getProfile } from '../cost/profiles.js';
import { runBench, formatBench, type BenchSpec, type DesignResult } from './bench.js';
import { calibrate, FIT_TARGET, type Calibration } from './calibrate.js';
import { breakEvenSpec, phaseSpec, sweepSpec, uncertaintySpec, type BreakEvenPoint } from './plot.js';
import { formatSweep, sweep, sweepTraces, type SweepResult } from './sweep.js';
import { formatSensitivity, formatUncertainty, sensitivity, uncertainty } from './uncertainty.js';
import { mixGroup, runHost } from './hostrun.js';

export interface BenchJob {
  /** profile names (already checked), or a measured profile used as it is */
  profiles: string[];
  fileProfile?: CostProfile;
  /** where the measured profile came from (for the text) */
  profileSource?: string;
  workload: string;
  designs: string[];
  iterations: number;
  /** mix only: percent of exits handled in the kernel */
  inKernel?: number;
  fsgsbase: boolean;
  calibrate: boolean;
  /** CPUs in the machine (the host runs on CPU 0; default 1) */
  cpus?: number;
  sweep?: { param: string; lo: number; hi: number; steps: number } | null;
  /** uncertainty draws (0: none) and their seed */
  draws: number;
  seed: number;
  /** make the plot specs (phases by design, the draws' intervals, the break-even points; the sweep's plot) */
  plots: boolean;
}

/** progress of one stage: `stage` names it (bench zen3, sweep ..., break-even zen3) */
export type JobProgress = (stage: string, done: number, total: number, what?: string) => void;

export interface BenchJobResult {
  /** the text the CLI prints, stage by stage */
  text: string[];
  /** one entry per profile (the CLI's --json, unwrapped when there is one) */
  entries: Record<string, unknown>[];
  specs: object[];
  ok: boolean;
}

/** in-kernel percentages of the break-even plot */
export const BREAK_EVEN_FRACTIONS = [0, 25, 50, 75, 90];
/** KVM_RUNs per break-even point */
export const BREAK_EVEN_ITERATIONS = 100;

function phasesJson(r: DesignResult) {
  return { ...r, phases: Object.fromEntries(r.phases) };
}

/** the profile to run: calibrated (fitted base and world switch) unless asked not to */
function prepare(image: Uint8Array, name: string, doCalibrate: boolean, file?: CostProfile): { profile: CostProfile; cal: Calibration | null } {
  if (file !== undefined) return { profile: file, cal: null };
  const p = getProfile(name);
  if (!doCalibrate || name === 'unit') return { profile: p, cal: null };
  const cal = calibrate(image, p);
  return { profile: cal.profile, cal };
}

/** cycles per exit against the share of exits handled in the kernel (mix workload) */
export function breakEvenPoints(image: Uint8Array, profile: CostProfile, designs: string[], fsgsbase: boolean, progress?: (done: number, total: number) => void): BreakEvenPoint[] {
  const points: BreakEvenPoint[] = [];
  let done = 0;
  for (const d of designs) {
    for (const f of BREAK_EVEN_FRACTIONS) {
      const g = mixGroup(f);
      const r = runHost(image, { design: d, workload: 'mix', iterations: BREAK_EVEN_ITERATIONS, kexits: g.kexits, uexits: g.uexits, timer: 0, fsgsbase }, undefined, profile);
      const exitsPerRun = g.kexits + g.uexits > 0 ? (g.kexits + g.uexits) / g.uexits : 1;
      points.push({ design: d, inKernel: f, cyclesPerExit: Math.round((r.phases.get('total')?.median ?? 0) / exitsPerRun) });
      progress?.(++done, designs.length * BREAK_EVEN_FRACTIONS.length);
    }
  }
  return points;
}

/** Run the job; `onText` gets each block of text as soon as it is ready. */
export function runBenchJob(image: Uint8Array, o: BenchJob, progress?: JobProgress, onText?: (s: string) => void): BenchJobResult {
  const res: BenchJobResult = { text: [], entries: [], specs: [], ok: true };
  const say = (s: string) => { res.text.push(s); onText?.(s); };
  let kexits: number | undefined;
  let uexits: number | undefined;
  if (o.inKernel !== undefined) ({ kexits, uexits } = mixGroup(o.inKernel));
  const names = o.fileProfile !== undefined ? [o.fileProfile.name] : o.profiles;
  for (const name of names) {
    progress?.(`calibrate ${name}`, 0, 1);
    const { profile, cal } = prepare(image, name, o.calibrate, o.fileProfile);
    const spec: BenchSpec = { profile, workload: o.workload, designs: o.designs, iterations: o.iterations, kexits, uexits, fsgsbase: o.fsgsbase, cpus: o.cpus };
    const entry: Record<string, unknown> = { profile: name, workload: o.workload, iterations: o.iterations, fsgsbase: o.fsgsbase };
    if (cal !== null) {
      const t = FIT_TARGET;
      say(`${name}: calibrated on the merged design's phases (${t.entry_to_vmrun} / ${t.vmrun_to_post} / ${t.post_to_exit}): base ${cal.base} cycles per instruction, world switch ${cal.worldSwitch} cycles\n`);
      entry.calibration = { base: cal.base, worldSwitch: cal.worldSwitch, rows: cal.rows };
    }
    if (o.fileProfile !== undefined) say(`${name}: measured profile from ${o.profileSource ?? 'a file'}, used as measured (not calibrated)\n`);
    if (o.sweep) {
      const sw = o.sweep;
      const stage = `sweep ${sw.param} (${name})`;
      const r: SweepResult = sweep(image, profile, sw.param, sw.lo, sw.hi, sw.steps, o.designs, o.workload, o.fsgsbase, (d, t) => progress?.(stage, d, t), { kexits, uexits }, { draws: o.draws, seed: o.seed });
      say(formatSweep(r) + '\n\n');
      entry.sweep = r;
      if (o.plots) res.specs.push(sweepSpec(r));
      res.entries.push(entry);
      continue;
    }
    const stage = `bench ${name}`;
    const results = runBench(image, spec, (d, t, what) => progress?.(stage, d, t, what));
    say(formatBench(spec, results) + '\n\n');
    res.ok &&= results.every((r) => r.ok);
    entry.designs = results.map(phasesJson);
    if (o.draws > 0) {
      progress?.(`uncertainty ${name}`, 0, 1, `${o.draws} draws`);
      const { fit, traces } = sweepTraces(image, o.designs, o.workload, o.fsgsbase, { kexits, uexits }, Math.min(o.iterations, 200));
      const u = uncertainty(fit, traces, profile, o.draws, o.seed);
      const f = sensitivity(fit, traces, profile);
      say(formatUncertainty(u, name, o.workload) + '\n\n' + formatSensitivity(f, name, o.workload) + '\n\n');
      entry.uncertainty = u;
      entry.sensitivity = f;
    }
    if (o.plots) {
      res.specs.push(phaseSpec(name, o.workload, results));
      if (entry.uncertainty !== undefined) res.specs.push(uncertaintySpec(name, o.workload, entry.uncertainty as ReturnType<typeof uncertainty>));
      const points = breakEvenPoints(image, profile, o.designs, o.fsgsbase, (d, t) => progress?.(`break-even ${name}`, d, t));
      res.specs.push(breakEvenSpec(name, points));
      entry.breakEven = points;
    }
    res.entries.push(entry);
  }
  return res;
}

/** the job's JSON, as `--json` writes it */
export function jobJson(r: BenchJobResult): string {
  return JSON.stringify(r.entries.length === 1 ? r.entries[0] : r.entries, null, 2) + '\n';
}
