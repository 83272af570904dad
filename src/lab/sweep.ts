/**
 * Sweeps: vary one cost of a profile over a range and watch the ranking of the designs (total
 * cycles per KVM_RUN, median). `wrmsr-gsbase` is Andy Lutomirski's question: how expensive
 * must WRMSR to MSR_GS_BASE be before VMLOAD wins?
 */

import type { CostProfile } from '../cost/profile.js';
import { costVector } from '../cost/ledger.js';
import { fitParams, fitTrace, withParams, type FitTarget } from './calibrate.js';
import { evalTotal, recordTrace, type Trace } from './trace.js';
import { drawOne, rng } from './uncertainty.js';

/** The costs a sweep can vary, each a setter on a profile copy. */
export const SWEEP_PARAMS: Record<string, { describe: string; set: (p: CostProfile, v: number) => void }> = {
  'wrmsr-gsbase': { describe: 'WRMSR to FS/GS/KERNEL_GS_BASE (before any serializing penalty)', set: (p, v) => { p.wrmsr.segBase.cycles = v; } },
  'wrmsr': { describe: 'WRMSR, every MSR class', set: (p, v) => { for (const k of Object.keys(p.wrmsr) as (keyof CostProfile['wrmsr'])[]) p.wrmsr[k].cycles = v; } },
  'rdmsr': { describe: 'RDMSR, every MSR class', set: (p, v) => { for (const k of Object.keys(p.rdmsr) as (keyof CostProfile['rdmsr'])[]) p.rdmsr[k].cycles = v; } },
  'vmload': { describe: 'VMLOAD', set: (p, v) => { p.classes.vmload.cycles = v; } },
  'vmsave': { describe: 'VMSAVE', set: (p, v) => { p.classes.vmsave.cycles = v; } },
  'wrgsbase': { describe: 'WRFSBASE/WRGSBASE', set: (p, v) => { p.classes.wrfsgsbase.cycles = v; } },
  'serializing': { describe: 'the serializing penalty', set: (p, v) => { p.serializing.cycles = v; } },
  'world-switch': { describe: 'VMRUN + #VMEXIT (not refitted)', set: (p, v) => { p.classes.vmrun.cycles = v / 2; p.classes.vmexit.cycles = v / 2; } },
  'ltr': { describe: 'LGDT/LIDT/LLDT/LTR (before the serializing penalty)', set: (p, v) => { p.classes.descTable.cycles = v; } },
  'clgi-stgi': { describe: 'CLGI and STGI', set: (p, v) => { p.classes.clgi.cycles = v; p.classes.stgi.cycles = v; } },
  'swapgs': { describe: 'SWAPGS', set: (p, v) => { p.classes.swapgs.cycles = v; } },
};

export interface SweepPoint {
  value: number;
  totals: Record<string, number>;
  /** designs fastest first */
  ranking: string[];
  /** with draws: the share of draws in which each design has the lowest total */
  fastest?: Record<string, number>;
}

export interface SweepResult {
  profile: string;
  param: string;
  /** 0: the profile's values only */
  draws: number;
  points: SweepPoint[];
  /** where the ranking changes: between two consecutive values */
  changes: { from: number; to: number; before: string[]; after: string[] }[];
}

/** "wrmsr-gsbase=50:400[:steps]" */
/**
 * The largest cost a sweep may give one instruction. Far above any x86 instruction (a whole
 * VMRUN round trip is a few thousand cycles), and low enough that every phase the host times
 * stays well inside the range its TSC arithmetic and the scheduler's deadlines are exact for
 * (an unbounded value reached Infinity and never ended).
 */
export const MAX_SWEEP_COST = 100_000;

export function parseSweep(s: string): { param: string; lo: number; hi: number; steps: number } {
  const m = /^([a-z-]+)=(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(s);
  if (m === null) throw new Error(`--sweep: expected NAME=LOW:HIGH[:STEPS], got '${s}'`);
  if (SWEEP_PARAMS[m[1]] === undefined) throw new Error(`--sweep: unknown cost '${m[1]}' (one of ${Object.keys(SWEEP_PARAMS).join(', ')})`);
  const lo = Number(m[2]);
  const hi = Number(m[3]);
  const steps = m[4] === undefined ? 8 : Number(m[4]);
  if (!(hi > lo) || steps < 2 || steps > 64) throw new Error('--sweep: need LOW < HIGH and 2..64 steps');
  if (hi > MAX_SWEEP_COST) throw new Error(`--sweep: HIGH ${m[3].length > 12 ? m[3].slice(0, 12) + '...' : m[3]} is beyond ${MAX_SWEEP_COST} cycles`);
  return { param: m[1], lo, hi, steps };
}

/** the traces a sweep or an uncertainty run evaluates: the fit's, and one per design */
export function sweepTraces(image: Uint8Array, designs: string[], workload: string, fsgsbase: boolean,
  group?: { kexits?: number; uexits?: number }, iterations = 50): { fit: Trace; traces: Map<string, Trace> } {
  const fit = fitTrace(image);
  const traces = new Map<string, Trace>();
  for (const d of designs) {
    const t = recordTrace(image, { design: d, workload, iterations, timer: 0, fsgsbase, kexits: group?.kexits, uexits: group?.uexits });
    if (!t.ok) throw new Error(`${d} on ${workload} failed: ${t.status}`);
    traces.set(d, t);
  }
  return { fit, traces };
}

/**
 * Vary one cost over lo..hi and rank the designs by median total at each value, with base and
 * the world switch refitted to the merged design at each value (except when the world switch
 * itself is swept). Evaluated on cost traces: identical to running the host at each value.
 * With draws > 0, every other constant is also drawn from its range at each value (seeded).
 */
export function sweep(image: Uint8Array, profile: CostProfile, param: string, lo: number, hi: number, steps: number,
  designs: string[], workload: string, fsgsbase: boolean, progress?: (done: number, total: number) => void,
  group?: { kexits?: number; uexits?: number }, opts: { draws?: number; seed?: number } = {}): SweepResult {
  const { fit, traces } = sweepTraces(image, designs, workload, fsgsbase, group);
  const refit = param !== 'world-switch';
  const totalsOf = (p: CostProfile, target?: FitTarget, segSer?: boolean): Record<string, number> => {
    let q = p;
    if (refit) {
      const f = fitParams(fit, p, target, segSer);
      q = withParams(p, f.base, f.ws);
    }
    const cost = costVector(q, segSer);
    return Object.fromEntries(designs.map((d) => [d, evalTotal(traces.get(d)!, cost)]));
  };
  const draws = opts.draws ?? 0;
  const points: SweepPoint[] = [];
  for (let k = 0; k < steps; k++) {
    const value = Math.round(lo + ((hi - lo) * k) / (steps - 1));
    const p = structuredClone(profile);
    SWEEP_PARAMS[param].set(p, value);
    const totals = totalsOf(p);
    const ranking = [...designs].sort((a, b) => totals[a] - totals[b] || a.localeCompare(b));
    const point: SweepPoint = { value, totals, ranking };
    if (draws > 0) {
      const r = rng(opts.seed ?? 1);
      const fastest: Record<string, number> = Object.fromEntries(designs.map((d) => [d, 0]));
      for (let n = 0; n < draws; n++) {
        const dr = drawOne(profile, r);
        SWEEP_PARAMS[param].set(dr.profile, value);
        const t = totalsOf(dr.profile, dr.target, dr.segSer);
        const best = Math.min(...designs.map((d) => t[d]));
        const at = designs.filter((d) => t[d] === best);
        for (const d of at) fastest[d] += 1 / at.length / draws;
      }
      point.fastest = fastest;
    }
    points.push(point);
    progress?.(k + 1, steps);
  }
  const changes: SweepResult['changes'] = [];
  for (let k = 1; k < points.length; k++) {
    if (points[k].ranking.join() !== points[k - 1].ranking.join()) {
      changes.push({ from: points[k - 1].value, to: points[k].value, before: points[k - 1].ranking, after: points[k].ranking });
    }
  }
  return { profile: profile.name, param, draws, points, changes };
}

export function formatSweep(r: SweepResult): string {
  const designs = Object.keys(r.points[0]?.totals ?? {});
  const lines = [`sweep of ${r.param} (${SWEEP_PARAMS[r.param].describe}) on ${r.profile}: total cycles per KVM_RUN (median), base and world switch refitted at each value`, ''];
  lines.push(r.param.padEnd(14) + designs.map((d) => d.padStart(13)).join('') + '   fastest first');
  for (const p of r.points) {
    lines.push(String(p.value).padEnd(14) + designs.map((d) => String(p.totals[d]).padStart(13)).join('') + '   ' + p.ranking.join(' < '));
  }
  if (r.draws > 0) {
    lines.push('', `fastest, share of ${r.draws} draws of every other constant in its range:`);
    lines.push(r.param.padEnd(14) + designs.map((d) => d.padStart(13)).join(''));
    for (const p of r.points) lines.push(String(p.value).padEnd(14) + designs.map((d) => `${Math.round(100 * (p.fastest?.[d] ?? 0))}%`.padStart(13)).join(''));
  }
  lines.push('');
  if (r.changes.length === 0) lines.push(`the ranking does not change over ${r.points[0].value}..${r.points[r.points.length - 1].value}`);
  for (const c of r.changes) lines.push(`ranking changes between ${c.from} and ${c.to}: ${c.before.join(' < ')}  ->  ${c.after.join(' < ')}`);
  return lines.join('\n');
}
