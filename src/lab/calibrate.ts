/**
 * Calibration and validation of a cost profile against the thread's measurements
 * (../shared/reference/svm-and-thread.md §1, cost-data.md rows 1-4).
 *
 * Fit: only two named parameters, `base` (an ordinary instruction) and the world switch
 * `vmrun + vmexit` (split evenly), by least squares on the merged design's three phases in the
 * 16 Dec 2020 table (v2: 576 / ~1368 / ~584, medians of its two samples). Every other cost
 * keeps its sourced value. The model is linear in each parameter, so two extra runs give the
 * slopes exactly.
 *
 * Validate, without refitting: (a) the `wrgsbase` variant's phases (~568 / 1344 / ~648, total
 * ~2560); (b) the first patch's before/after totals (~4600 with per-MSR save/restore, ~2800
 * with VMSAVE/VMLOAD, 39% less).
 */

import type { CostProfile } from '../cost/profile.js';
import { runHost } from './hostrun.js';

export const FIT_TARGET = { entry_to_vmrun: 576, vmrun_to_post: 1368, post_to_exit: 584 };
const PHASES = ['entry_to_vmrun', 'vmrun_to_post', 'post_to_exit'] as const;

export interface Prediction {
  what: string;
  measured: string;
  predicted: number;
  /** measured value used for the error (the midpoint where the thread gives a range) */
  reference: number;
}

export interface Calibration {
  profile: CostProfile;
  base: number;
  worldSwitch: number;
  fit: Prediction[];
  validation: Prediction[];
}

const ITERS = 100;

function phases(image: Uint8Array, p: CostProfile, design: string, fsgsbase = true): number[] {
  const r = runHost(image, { design, workload: 'hlt', iterations: ITERS, timer: 0, fsgsbase }, undefined, p);
  if (!r.ok) throw new Error(`calibration run of ${design} failed: ${r.panic ?? r.status}`);
  const out = PHASES.map((k) => r.phases.get(k)!.median);
  out.push(r.phases.get('total')!.median);
  return out;
}

function withParams(p: CostProfile, base: number, ws: number): CostProfile {
  const q = structuredClone(p);
  q.base = { cycles: base, source: `fitted: least squares on the v2 phases 576 / 1368 / 584 (cost-data.md row 3); was ${p.base.source}`, confidence: 'fitted' };
  const half = ws / 2;
  q.classes.vmrun = { cycles: half, source: `fitted: half of the world switch fitted to the 1368-tick middle phase (row 3, N1); was ${p.classes.vmrun.cycles}`, confidence: 'fitted' };
  q.classes.vmexit = { cycles: half, source: 'fitted: the other half of the world switch (row 3, N1)', confidence: 'fitted' };
  return q;
}

/** Fit `base` and the world switch of `p` to the merged design's phases. */
export function calibrate(image: Uint8Array, p: CostProfile): Calibration {
  const b0 = p.base.cycles;
  const w0 = p.classes.vmrun.cycles + p.classes.vmexit.cycles;
  const y0 = phases(image, withParams(p, b0, w0), 'vmload');
  const yb = phases(image, withParams(p, b0 + 1, w0), 'vmload');
  const yw = phases(image, withParams(p, b0, w0 + 2), 'vmload');
  // y(b, w) = y0 + (b - b0) * db + (w - w0) * dw on the three phases
  const db = [0, 1, 2].map((k) => yb[k] - y0[k]);
  const dw = [0, 1, 2].map((k) => (yw[k] - y0[k]) / 2);
  const t = PHASES.map((k) => FIT_TARGET[k]);
  const r = [0, 1, 2].map((k) => t[k] - y0[k]);
  // normal equations for the 2-parameter least squares
  const a11 = db.reduce((s, x) => s + x * x, 0);
  const a12 = db.reduce((s, x, k) => s + x * dw[k], 0);
  const a22 = dw.reduce((s, x) => s + x * x, 0);
  const c1 = db.reduce((s, x, k) => s + x * r[k], 0);
  const c2 = dw.reduce((s, x, k) => s + x * r[k], 0);
  const det = a11 * a22 - a12 * a12;
  const xb = (c1 * a22 - c2 * a12) / det;
  const xw = (a11 * c2 - a12 * c1) / det;
  // round to what a TSC reading could resolve: 1/100 cycle for base, whole cycles for the switch
  const base = Math.round((b0 + xb) * 100) / 100;
  const ws = Math.round(w0 + xw);
  const fitted = withParams(p, base, ws);

  const vmload = phases(image, fitted, 'vmload');
  const wrgs = phases(image, fitted, 'wrgsbase');
  const msr = phases(image, fitted, 'msr');
  const v1 = phases(image, fitted, 'vmsave-v1');
  const fit: Prediction[] = [
    { what: 'vmload: ioctl entry -> pre-VMRUN', measured: '576 (both samples)', predicted: vmload[0], reference: 576 },
    { what: 'vmload: pre-VMRUN -> post-VMRUN', measured: '1376, 1360', predicted: vmload[1], reference: 1368 },
    { what: 'vmload: post-VMRUN -> ioctl exit', measured: '576, 592', predicted: vmload[2], reference: 584 },
    { what: 'vmload: total', measured: '2528 (both samples)', predicted: vmload[3], reference: 2528 },
  ];
  const reduction = (1 - v1[3] / msr[3]) * 100;
  const validation: Prediction[] = [
    { what: 'wrgsbase: ioctl entry -> pre-VMRUN', measured: '576, 560', predicted: wrgs[0], reference: 568 },
    { what: 'wrgsbase: pre-VMRUN -> post-VMRUN', measured: '1344, 1344', predicted: wrgs[1], reference: 1344 },
    { what: 'wrgsbase: post-VMRUN -> ioctl exit', measured: '656, 640', predicted: wrgs[2], reference: 648 },
    { what: 'wrgsbase: total', measured: '2576, 2544', predicted: wrgs[3], reference: 2560 },
    { what: 'wrgsbase - vmload, total', measured: '+16 .. +48', predicted: wrgs[3] - vmload[3], reference: 32 },
    { what: 'msr (before the patch): total', measured: '~4600', predicted: msr[3], reference: 4600 },
    { what: 'vmsave-v1 (the first patch): total', measured: '~2800', predicted: v1[3], reference: 2800 },
    { what: 'reduction msr -> vmsave-v1, %', measured: '39%', predicted: Math.round(reduction * 10) / 10, reference: 39 },
  ];
  return { profile: fitted, base, worldSwitch: ws, fit, validation };
}

/** The calibration and validation table (markdown). */
export function formatCalibration(c: Calibration): string {
  const row = (p: Prediction) => {
    const err = p.reference === 0 ? 0 : ((p.predicted - p.reference) / Math.abs(p.reference)) * 100;
    return `| ${p.what} | ${p.measured} | ${p.predicted} | ${err >= 0 ? '+' : ''}${err.toFixed(1)}% |`;
  };
  return [
    `Profile \`${c.profile.name}\`: fitted base = ${c.base} cycles per ordinary instruction, world switch (VMRUN + #VMEXIT) = ${c.worldSwitch} cycles.`,
    '',
    '| fitted on (v2, 16 Dec 2020) | measured | model | error |',
    '|---|---|---|---|',
    ...c.fit.map(row),
    '',
    '| held out (not fitted) | measured | predicted | error |',
    '|---|---|---|---|',
    ...c.validation.map(row),
  ].join('\n');
}
