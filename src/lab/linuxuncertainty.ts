/**
 * The real host's answer with its uncertainty: the measured KVM_RUNs of every design are
 * recorded once with the cost ledger (how often each constant was charged between the thread's
 * timestamps), and each draw prices them with every constant of the profile drawn from its range
 * (triangular on low..value..high; WRMSR to the segment bases serializing with the profile's
 * probability). Unlike the mini host's draws nothing is refitted: VMRUN, #VMEXIT and the base
 * cost per instruction are drawn from their ranges too, so the spread is wide and the rankings
 * between designs (which share most of their instructions) are what to read.
 *
 * Exact for the recorded instruction streams (TSC = cost vector . ledger); approximate in that
 * Linux's path inside one KVM_RUN could depend on the time it reads (it does not in these
 * workloads: the same instructions run every iteration).
 */

import type { CostProfile } from '../cost/profile.js';
import { costVector } from '../cost/ledger.js';
import { drawOne, rng, triangular } from './uncertainty.js';
import { quantize } from './calibrate.js';
import type { RunPhases } from './linuxhost.js';

export interface LinuxUncertainty {
  draws: number;
  seed: number;
  designs: { design: string; median: number; lo: number; hi: number; fastest: number }[];
  /** P(row design's total < column design's total), ties counted half */
  faster: Record<string, Record<string, number>>;
}

function dot(v: Float64Array, a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let k = 0; k < v.length; k++) s += v[k] * (b[k] - a[k]);
  return s;
}

function pct(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

/** one draw of every constant, the world switch and the base included */
export function drawAll(p: CostProfile, r: () => number): { profile: CostProfile; segSer: boolean } {
  const d = drawOne(p, r);
  const q = d.profile;
  q.classes.vmrun.cycles = quantize(triangular(r(), p.classes.vmrun.low, p.classes.vmrun.cycles, p.classes.vmrun.high));
  q.classes.vmexit.cycles = quantize(triangular(r(), p.classes.vmexit.low, p.classes.vmexit.cycles, p.classes.vmexit.high));
  q.base.cycles = quantize(triangular(r(), p.base.low, p.base.cycles, p.base.high));
  return { profile: q, segSer: d.segSer };
}

export function linuxUncertainty(p: CostProfile, runs: Map<string, RunPhases[]>, draws: number, seed = 1): LinuxUncertainty {
  const r = rng(seed);
  const names = [...runs.keys()];
  const totals = new Map<string, number[]>(names.map((n) => [n, []]));
  const fastest = new Map<string, number>(names.map((n) => [n, 0]));
  const faster: Record<string, Record<string, number>> = {};
  for (const a of names) { faster[a] = {}; for (const b of names) faster[a][b] = 0; }
  for (let k = 0; k < draws; k++) {
    const d = drawAll(p, r);
    const v = costVector(d.profile, d.segSer);
    const t = new Map<string, number>();
    for (const n of names) {
      const per = runs.get(n)!.filter((x) => x.ledger !== undefined).map((x) => dot(v, x.ledger!.entry, x.ledger!.exit)).sort((a, b) => a - b);
      const m = per[Math.floor(per.length / 2)] ?? NaN;
      t.set(n, m);
      totals.get(n)!.push(m);
    }
    const best = Math.min(...t.values());
    const winners = names.filter((n) => t.get(n) === best);
    for (const w of winners) fastest.set(w, fastest.get(w)! + 1 / winners.length);
    for (const a of names) for (const b of names) {
      if (a === b) continue;
      const ta = t.get(a)!; const tb = t.get(b)!;
      faster[a][b] += ta < tb ? 1 : ta === tb ? 0.5 : 0;
    }
  }
  for (const a of names) for (const b of names) faster[a][b] /= draws;
  return {
    draws, seed,
    designs: names.map((n) => {
      const s = [...totals.get(n)!].sort((a, b) => a - b);
      return { design: n, median: Math.round(pct(s, 0.5)), lo: Math.round(pct(s, 0.05)), hi: Math.round(pct(s, 0.95)), fastest: fastest.get(n)! / draws };
    }),
    faster,
  };
}

export function formatLinuxUncertainty(u: LinuxUncertainty, profile: string, workload: string): string {
  const L: string[] = [];
  L.push(`${profile}, real host, ${workload}: ${u.draws} draws of every constant from its range (seed ${u.seed}; VMRUN, #VMEXIT and the base drawn too, nothing refitted)`);
  L.push('  design            total per KVM_RUN: median [5%..95%]    fastest in');
  for (const d of u.designs) L.push(`  ${d.design.padEnd(16)}  ${String(d.median).padStart(6)} [${d.lo}..${d.hi}]`.padEnd(58) + `${(100 * d.fastest).toFixed(1)}% of draws`);
  L.push('  P(row faster than column):');
  const names = u.designs.map((d) => d.design);
  L.push('  ' + ''.padEnd(16) + names.map((n) => n.padStart(14)).join(''));
  for (const a of names) L.push('  ' + a.padEnd(16) + names.map((b) => (a === b ? '-' : `${(100 * u.faster[a][b]).toFixed(1)}%`).padStart(14)).join(''));
  return L.join('\n');
}
