/**
 * Uncertainty carried to the answer. Every constant of a profile has a range
 * (src/cost/profiles.ts); a draw takes each from a triangular distribution on low..high with
 * its mode at the profile's value, takes the contested serializing of WRMSR to the segment
 * bases with the profile's probability, takes the fit targets anywhere in the thread's samples
 * widened by half the 16-tick quantum, and refits base and the world switch to them. Each draw
 * is evaluated on cost traces (one host run per design and workload, src/lab/trace.ts), so a
 * thousand draws take seconds. Seeded: the same seed gives the same answer.
 *
 * Sensitivity: one constant at a time over its range, the others at their values (refitting
 * every time): which pairwise ranking it flips, and at what value.
 */

import type { Cost, CostProfile } from '../cost/profile.js';
import { MSR_CLASSES } from '../cost/profile.js';
import { costVector } from '../cost/ledger.js';
import { FIT_RANGE, fitParams, quantize, withParams, type FitTarget } from './calibrate.js';
import { evalPhases, PHASE_KEYS, type PhaseKey, type Trace } from './trace.js';

/** a small seeded PRNG (mulberry32): deterministic, uniform on [0, 1) */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** triangular on low..high with mode m */
export function triangular(u: number, lo: number, m: number, hi: number): number {
  if (hi <= lo) return lo;
  const f = (m - lo) / (hi - lo);
  return u < f ? lo + Math.sqrt(u * (hi - lo) * (m - lo)) : hi - Math.sqrt((1 - u) * (hi - lo) * (hi - m));
}

/**
 * The constants a draw varies, by name, each a getter of its Cost and a setter on a profile
 * copy. RDMSR and WRMSR are one constant each (no source tells the MSR classes apart); base
 * and the world switch are not here: they are refitted in every draw.
 */
export interface Param { name: string; cost: (p: CostProfile) => Cost; set: (p: CostProfile, v: number) => void }

export function drawParams(p: CostProfile): Param[] {
  const out: Param[] = [];
  for (const k of Object.keys(p.classes) as (keyof CostProfile['classes'])[]) {
    if (k === 'vmrun' || k === 'vmexit') continue;
    out.push({ name: k, cost: (q) => q.classes[k], set: (q, v) => { q.classes[k].cycles = v; } });
  }
  out.push({ name: 'rdmsr', cost: (q) => q.rdmsr.segBase, set: (q, v) => { for (const m of MSR_CLASSES) q.rdmsr[m].cycles = v; } });
  out.push({ name: 'wrmsr', cost: (q) => q.wrmsr.segBase, set: (q, v) => { for (const m of MSR_CLASSES) q.wrmsr[m].cycles = v; } });
  out.push({ name: 'serializing', cost: (q) => q.serializing, set: (q, v) => { q.serializing.cycles = v; } });
  return out.filter((x) => x.cost(p).high > x.cost(p).low);
}

export interface Draw { profile: CostProfile; segSer: boolean; target: FitTarget }

/** one draw of every constant (not yet fitted) */
export function drawOne(p: CostProfile, r: () => number): Draw {
  const q = structuredClone(p);
  for (const x of drawParams(p)) {
    const c = x.cost(p);
    x.set(q, quantize(triangular(r(), c.low, c.cycles, c.high)));
  }
  const segSer = r() < p.segBaseSerializingP;
  q.wrmsrSegBaseSerializing = segSer;
  const t = (k: keyof typeof FIT_RANGE) => Math.round(FIT_RANGE[k][0] + r() * (FIT_RANGE[k][1] - FIT_RANGE[k][0]));
  return { profile: q, segSer, target: { entry_to_vmrun: t('entry_to_vmrun'), vmrun_to_post: t('vmrun_to_post'), post_to_exit: t('post_to_exit') } };
}

/** the phases of each design under a profile, after refitting base and the world switch */
export function evaluate(fit: Trace, traces: Map<string, Trace>, p: CostProfile, target?: FitTarget, segSer = p.wrmsrSegBaseSerializing) {
  const { base, ws } = fitParams(fit, p, target, segSer);
  const fitted = withParams(p, base, ws);
  const cost = costVector(fitted, segSer);
  const out = new Map<string, Record<PhaseKey, number>>();
  for (const [d, t] of traces) {
    const ph = evalPhases(t, cost);
    out.set(d, { entry_to_vmrun: ph.entry_to_vmrun.median, vmrun_to_post: ph.vmrun_to_post.median, post_to_exit: ph.post_to_exit.median, total: ph.total.median });
  }
  return { out, base, ws };
}

export interface Interval { p5: number; median: number; p95: number }

export interface UncertaintyResult {
  draws: number;
  seed: number;
  designs: string[];
  /** per design and phase: the 5th percentile, median and 95th percentile over the draws */
  intervals: Record<string, Record<PhaseKey, Interval>>;
  /** per phase, a faster than b (ties count half), in draws: pairwise[phase][a][b] */
  pairwise: Record<PhaseKey, Record<string, Record<string, number>>>;
  /** per phase, the share of draws in which a and b are equal: ties[phase][a][b] */
  ties: Record<PhaseKey, Record<string, Record<string, number>>>;
  /** the share of draws in which each design has the lowest total */
  fastest: Record<string, number>;
  base: Interval;
  worldSwitch: Interval;
  /** Andy Lutomirski's claim, instruction against instruction: WRMSR(GS_BASE) all in (with the serializing penalty where the draw has it) slower than VMLOAD */
  wrmsrSlowerThanVmload: number;
  /** WRGSBASE slower than VMLOAD */
  wrgsbaseSlowerThanVmload: number;
}

function interval(a: number[]): Interval {
  const s = [...a].sort((x, y) => x - y);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
  return { p5: at(0.05), median: at(0.5), p95: at(0.95) };
}

/** `draws` draws of the profile's constants (seeded), evaluated on the traces */
export function uncertainty(fit: Trace, traces: Map<string, Trace>, p: CostProfile, draws: number, seed = 1): UncertaintyResult {
  const r = rng(seed);
  const designs = [...traces.keys()];
  const vals: Record<string, Record<PhaseKey, number[]>> = {};
  for (const d of designs) vals[d] = { entry_to_vmrun: [], vmrun_to_post: [], post_to_exit: [], total: [] };
  const table = () => {
    const t = {} as Record<PhaseKey, Record<string, Record<string, number>>>;
    for (const k of PHASE_KEYS) {
      t[k] = {};
      for (const a of designs) { t[k][a] = {}; for (const b of designs) t[k][a][b] = 0; }
    }
    return t;
  };
  const wins = table();
  const ties = table();
  const fastest: Record<string, number> = Object.fromEntries(designs.map((d) => [d, 0]));
  const bases: number[] = [];
  const wss: number[] = [];
  let wrmsrSlower = 0;
  let wrgsSlower = 0;
  for (let n = 0; n < draws; n++) {
    const dr = drawOne(p, r);
    const q = dr.profile;
    if (q.wrmsr.segBase.cycles + (dr.segSer ? q.serializing.cycles : 0) > q.classes.vmload.cycles) wrmsrSlower++;
    if (q.classes.wrfsgsbase.cycles > q.classes.vmload.cycles) wrgsSlower++;
    const { out, base, ws } = evaluate(fit, traces, dr.profile, dr.target, dr.segSer);
    bases.push(base);
    wss.push(ws);
    for (const d of designs) for (const k of PHASE_KEYS) vals[d][k].push(out.get(d)![k]);
    for (const k of PHASE_KEYS) {
      for (const a of designs) {
        for (const b of designs) {
          if (a === b) continue;
          const x = out.get(a)![k];
          const y = out.get(b)![k];
          wins[k][a][b] += x < y ? 1 : x === y ? 0.5 : 0;
          if (x === y) ties[k][a][b]++;
        }
      }
    }
    const best = Math.min(...designs.map((d) => out.get(d)!.total));
    const at = designs.filter((d) => out.get(d)!.total === best);
    for (const d of at) fastest[d] += 1 / at.length;
  }
  const intervals: UncertaintyResult['intervals'] = {};
  for (const d of designs) {
    intervals[d] = {} as Record<PhaseKey, Interval>;
    for (const k of PHASE_KEYS) intervals[d][k] = interval(vals[d][k]);
  }
  for (const k of PHASE_KEYS) for (const a of designs) for (const b of designs) { wins[k][a][b] /= draws; ties[k][a][b] /= draws; }
  for (const d of designs) fastest[d] /= draws;
  return {
    draws, seed, designs, intervals, pairwise: wins, ties, fastest, base: interval(bases), worldSwitch: interval(wss),
    wrmsrSlowerThanVmload: wrmsrSlower / draws, wrgsbaseSlowerThanVmload: wrgsSlower / draws,
  };
}

const PHASE_LABEL: Record<PhaseKey, string> = {
  entry_to_vmrun: 'ioctl entry -> pre-VMRUN', vmrun_to_post: 'pre-VMRUN -> post-VMRUN', post_to_exit: 'post-VMRUN -> ioctl exit', total: 'total',
};

const pct = (x: number) => `${Math.round(x * 100)}%`;

export function formatUncertainty(u: UncertaintyResult, profile: string, workload: string): string {
  const colW = 22;
  const lines = [`uncertainty: ${u.draws} draws (seed ${u.seed}) of every constant of ${profile} in its range, base and world switch refitted per draw; workload ${workload}`,
    `fitted base ${u.base.median} [${u.base.p5} .. ${u.base.p95}], world switch ${u.worldSwitch.median} [${u.worldSwitch.p5} .. ${u.worldSwitch.p95}]`, '',
    'median [5% .. 95%] TSC cycles per KVM_RUN'.padEnd(36) + u.designs.map((d) => d.padStart(colW)).join('')];
  for (const k of PHASE_KEYS) {
    lines.push(PHASE_LABEL[k].padEnd(36) + u.designs.map((d) => {
      const i = u.intervals[d][k];
      return `${i.median} [${i.p5}..${i.p95}]`.padStart(colW);
    }).join(''));
  }
  lines.push('fastest in (share of draws)'.padEnd(36) + u.designs.map((d) => pct(u.fastest[d]).padStart(colW)).join(''));
  lines.push('');
  lines.push(`instruction against instruction: WRMSR(GS_BASE) slower than VMLOAD in ${pct(u.wrmsrSlowerThanVmload)} of draws; WRGSBASE slower than VMLOAD in ${pct(u.wrgsbaseSlowerThanVmload)}`);
  lines.push('');
  for (const k of PHASE_KEYS) {
    const parts: string[] = [];
    for (let i = 0; i < u.designs.length; i++) {
      for (let j = i + 1; j < u.designs.length; j++) {
        const a = u.designs[i];
        const b = u.designs[j];
        const pab = u.pairwise[k][a][b];
        const tie = u.ties[k][a][b];
        if (pab === 0 || pab === 1 || tie > 0.99) continue;
        // ties count half in pab; report strict shares
        const ab = pab - tie / 2;
        const ba = 1 - pab - tie / 2;
        const t = pct(tie) !== '0%' ? ` (equal in ${pct(tie)})` : '';
        parts.push(ab >= ba ? `${a} < ${b} in ${pct(ab)}${t}` : `${b} < ${a} in ${pct(ba)}${t}`);
      }
    }
    lines.push(`${PHASE_LABEL[k]}: ${parts.length === 0 ? 'every order the same in all draws' : parts.join('; ')}`);
  }
  lines.push('', 'the same in all draws (total):');
  for (let i = 0; i < u.designs.length; i++) {
    for (let j = i + 1; j < u.designs.length; j++) {
      const a = u.designs[i];
      const b = u.designs[j];
      const pab = u.pairwise.total[a][b];
      if (u.ties.total[a][b] > 0.99) lines.push(`  ${a} = ${b}`);
      else if (pab === 1) lines.push(`  ${a} < ${b}`);
      else if (pab === 0) lines.push(`  ${b} < ${a}`);
    }
  }
  return lines.join('\n');
}

// ---- sensitivity ----

export interface Flip { param: string; low: number; high: number; value: number; a: string; b: string; atLow: string; atHigh: string; at: number | null }

/**
 * One constant at a time: the totals of each pair of designs at the low and high end of the
 * constant's range (everything else at its value, base and world switch refitted). Where the
 * order of a pair differs across the range, the value where it flips (by bisection).
 */
export function sensitivity(fit: Trace, traces: Map<string, Trace>, p: CostProfile): Flip[] {
  const designs = [...traces.keys()];
  const totals = (q: CostProfile, segSer?: boolean) => {
    const { out } = evaluate(fit, traces, q, undefined, segSer);
    return new Map(designs.map((d) => [d, out.get(d)!.total]));
  };
  const order = (t: Map<string, number>, a: string, b: string) => Math.sign(t.get(a)! - t.get(b)!);
  const out: Flip[] = [];
  for (const x of drawParams(p)) {
    const c = x.cost(p);
    const at = (v: number) => { const q = structuredClone(p); x.set(q, quantize(v)); return totals(q); };
    const lo = at(c.low);
    const hi = at(c.high);
    for (let i = 0; i < designs.length; i++) {
      for (let j = i + 1; j < designs.length; j++) {
        const a = designs[i];
        const b = designs[j];
        const sl = order(lo, a, b);
        const sh = order(hi, a, b);
        if (sl === sh) continue;
        let l = c.low;
        let h = c.high;
        for (let n = 0; n < 24 && h - l > 1 / 64; n++) {
          const m = (l + h) / 2;
          if (order(at(m), a, b) === sl) l = m; else h = m;
        }
        const name = (s: number) => (s < 0 ? `${a} < ${b}` : s > 0 ? `${b} < ${a}` : `${a} = ${b}`);
        out.push({ param: x.name, low: c.low, high: c.high, value: c.cycles, a, b, atLow: name(sl), atHigh: name(sh), at: Math.round(h * 10) / 10 });
      }
    }
  }
  // the contested serializing of WRMSR to the segment bases
  if (p.segBaseSerializingP > 0 && p.segBaseSerializingP < 1) {
    const no = totals(p, false);
    const yes = totals(p, true);
    for (let i = 0; i < designs.length; i++) {
      for (let j = i + 1; j < designs.length; j++) {
        const a = designs[i];
        const b = designs[j];
        const s0 = order(no, a, b);
        const s1 = order(yes, a, b);
        if (s0 === s1) continue;
        const name = (s: number) => (s < 0 ? `${a} < ${b}` : s > 0 ? `${b} < ${a}` : `${a} = ${b}`);
        out.push({ param: 'segbase-serializing', low: 0, high: 1, value: p.wrmsrSegBaseSerializing ? 1 : 0, a, b, atLow: name(s0), atHigh: name(s1), at: null });
      }
    }
  }
  return out;
}

export function formatSensitivity(f: Flip[], profile: string, workload: string): string {
  const lines = [`sensitivity (${profile}, ${workload}): one constant over its range, the rest at their values, base and world switch refitted; total per KVM_RUN`, ''];
  if (f.length === 0) return lines.concat(['no single constant flips any ranking within its range']).join('\n');
  lines.push(`${'constant'.padEnd(20)}${'value'.padStart(7)}${'range'.padStart(12)}   ${'at low end'.padEnd(28)}${'at high end'.padEnd(28)}flips at`);
  for (const x of f) {
    lines.push(`${x.param.padEnd(20)}${String(x.value).padStart(7)}${`${x.low}..${x.high}`.padStart(12)}   ${x.atLow.padEnd(28)}${x.atHigh.padEnd(28)}${x.at === null ? 'no / yes' : x.at}`);
  }
  return lines.join('\n');
}
