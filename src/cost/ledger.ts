/**
 * The cost ledger: how many times each cost constant was charged. The cycle counter is linear
 * in the constants: cycles = sum over ledger entries of count x cost. A run with the ledger on
 * records the counts once (per design and workload); any set of constants is then evaluated on
 * them without running the machine again (src/lab/trace.ts), which is what makes a thousand
 * draws of the constants cheap.
 *
 * Layout (Float64Array of LEDGER_SIZE):
 *   2 * (class + 1) + s   instructions by decode-time cost class (class -1: an ordinary
 *                         instruction, costing `base`), s = 1 if serializing (APM Vol. 2 7.6.4)
 *   LEDGER_RDMSR + k      RDMSR of MSR class k (MSR_CLASSES order)
 *   LEDGER_WRMSR + k      WRMSR of MSR class k
 *   LEDGER_VMEXIT         #VMEXITs
 */

import type { Insn } from '../x86/insn.js';
import { COST_CLASSES, MSR_CLASSES, costClassOf, serializing, type CostProfile } from './profile.js';

export const LEDGER_RDMSR = 2 * (COST_CLASSES.length + 1);
export const LEDGER_WRMSR = LEDGER_RDMSR + MSR_CLASSES.length;
export const LEDGER_VMEXIT = LEDGER_WRMSR + MSR_CLASSES.length;
export const LEDGER_SIZE = LEDGER_VMEXIT + 1;
const SEG_BASE = MSR_CLASSES.indexOf('segBase');

/** the ledger entry of a decoded instruction (its decode-time cost; odd when serializing) */
export function ledgerIndex(i: Insn): number {
  const k = costClassOf(i);
  const cls = k === null ? -1 : COST_CLASSES.indexOf(k);
  return 2 * (cls + 1) + (serializing(i) ? 1 : 0);
}

/** true when the entry is RDTSC/RDTSCP (where the lab takes its snapshots) */
export function ledgerIsTsc(idx: number): boolean {
  return idx >> 1 === COST_CLASSES.indexOf('rdtsc') + 1;
}

/** true when the entry is VMRUN */
export function ledgerIsVmrun(idx: number): boolean {
  return idx >> 1 === COST_CLASSES.indexOf('vmrun') + 1;
}

/**
 * The cost of each ledger entry under a profile: what CostTable charges. `segBaseSerializing`
 * overrides the profile's choice for WRMSR to the segment bases (a draw may take either).
 */
export function costVector(p: CostProfile, segBaseSerializing = p.wrmsrSegBaseSerializing): Float64Array {
  const v = new Float64Array(LEDGER_SIZE);
  const ser = p.serializing.cycles;
  v[0] = p.base.cycles;
  v[1] = p.base.cycles + ser;
  COST_CLASSES.forEach((k, n) => {
    v[2 * (n + 1)] = p.classes[k].cycles;
    v[2 * (n + 1) + 1] = p.classes[k].cycles + ser;
  });
  MSR_CLASSES.forEach((k, n) => {
    v[LEDGER_RDMSR + n] = p.rdmsr[k].cycles;
    v[LEDGER_WRMSR + n] = p.wrmsr[k].cycles + (n !== SEG_BASE || segBaseSerializing ? ser : 0);
  });
  v[LEDGER_VMEXIT] = p.classes.vmexit.cycles;
  return v;
}

/** cycles of a ledger (or of the difference of two snapshots) under a cost vector */
export function dot(cost: Float64Array, counts: Float64Array, minus?: Float64Array): number {
  let s = 0;
  if (minus === undefined) for (let k = 0; k < LEDGER_SIZE; k++) s += cost[k] * counts[k];
  else for (let k = 0; k < LEDGER_SIZE; k++) s += cost[k] * (counts[k] - minus[k]);
  return s;
}
