/**
 * Sensitivity: vary one cost of a profile over a range and watch the ranking of the designs
 * (total cycles per KVM_RUN, median). `wrmsr-gsbase` is Andy Lutomirski's question: how
 * expensive must WRMSR to MSR_GS_BASE be before VMLOAD wins?
 */

import type { CostProfile } from '../cost/profile.js';
import { runHost } from './hostrun.js';

/** The costs a sweep can vary, each a setter on a profile copy. */
export const SWEEP_PARAMS: Record<string, { describe: string; set: (p: CostProfile, v: number) => void }> = {
  'wrmsr-gsbase': { describe: 'WRMSR to FS/GS/KERNEL_GS_BASE (before any serializing penalty)', set: (p, v) => { p.wrmsr.segBase.cycles = v; } },
  'wrmsr': { describe: 'WRMSR, every MSR class', set: (p, v) => { for (const k of Object.keys(p.wrmsr) as (keyof CostProfile['wrmsr'])[]) p.wrmsr[k].cycles = v; } },
  'rdmsr': { describe: 'RDMSR, every MSR class', set: (p, v) => { for (const k of Object.keys(p.rdmsr) as (keyof CostProfile['rdmsr'])[]) p.rdmsr[k].cycles = v; } },
  'vmload': { describe: 'VMLOAD', set: (p, v) => { p.classes.vmload.cycles = v; } },
  'vmsave': { describe: 'VMSAVE', set: (p, v) => { p.classes.vmsave.cycles = v; } },
  'wrgsbase': { describe: 'WRFSBASE/WRGSBASE', set: (p, v) => { p.classes.wrfsgsbase.cycles = v; } },
  'serializing': { describe: 'the serializing penalty', set: (p, v) => { p.serializing.cycles = v; } },
  'world-switch': { describe: 'VMRUN + #VMEXIT', set: (p, v) => { p.classes.vmrun.cycles = v / 2; p.classes.vmexit.cycles = v / 2; } },
  'swapgs': { describe: 'SWAPGS', set: (p, v) => { p.classes.swapgs.cycles = v; } },
};

export interface SweepPoint {
  value: number;
  totals: Record<string, number>;
  /** designs fastest first */
  ranking: string[];
}

export interface SweepResult {
  profile: string;
  param: string;
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

export function sweep(image: Uint8Array, profile: CostProfile, param: string, lo: number, hi: number, steps: number,
  designs: string[], workload: string, fsgsbase: boolean, progress?: (done: number, total: number) => void,
  group?: { kexits?: number; uexits?: number }): SweepResult {
  const points: SweepPoint[] = [];
  for (let k = 0; k < steps; k++) {
    const value = Math.round(lo + ((hi - lo) * k) / (steps - 1));
    const p = structuredClone(profile);
    SWEEP_PARAMS[param].set(p, value);
    const totals: Record<string, number> = {};
    for (const d of designs) {
      const r = runHost(image, { design: d, workload, iterations: 50, timer: 0, fsgsbase, kexits: group?.kexits, uexits: group?.uexits }, undefined, p);
      totals[d] = r.phases.get('total')?.median ?? NaN;
    }
    const ranking = [...designs].sort((a, b) => totals[a] - totals[b] || a.localeCompare(b));
    points.push({ value, totals, ranking });
    progress?.(k + 1, steps);
  }
  const changes: SweepResult['changes'] = [];
  for (let k = 1; k < points.length; k++) {
    if (points[k].ranking.join() !== points[k - 1].ranking.join()) {
      changes.push({ from: points[k - 1].value, to: points[k].value, before: points[k - 1].ranking, after: points[k].ranking });
    }
  }
  return { profile: profile.name, param, points, changes };
}

export function formatSweep(r: SweepResult): string {
  const designs = Object.keys(r.points[0]?.totals ?? {});
  const lines = [`sweep of ${r.param} (${SWEEP_PARAMS[r.param].describe}) on ${r.profile}: total cycles per KVM_RUN (median)`, ''];
  lines.push(r.param.padEnd(14) + designs.map((d) => d.padStart(11)).join('') + '   fastest first');
  for (const p of r.points) {
    lines.push(String(p.value).padEnd(14) + designs.map((d) => String(p.totals[d]).padStart(11)).join('') + '   ' + p.ranking.join(' < '));
  }
  lines.push('');
  if (r.changes.length === 0) lines.push(`the ranking does not change over ${r.points[0].value}..${r.points[r.points.length - 1].value}`);
  for (const c of r.changes) lines.push(`ranking changes between ${c.from} and ${c.to}: ${c.before.join(' < ')}  ->  ${c.after.join(' < ')}`);
  return lines.join('\n');
}
