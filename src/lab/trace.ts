/**
 * Cost traces: one run of the host per design and workload with the CPU's cost ledger on
 * (src/cost/ledger.ts), recording the ledger at each of the VMM's timestamps (RDTSC at ioctl
 * entry, before VMRUN, after the restore, at ioctl exit) and at every #VMEXIT and the VMRUN
 * that follows it. The TSC the host reads is floor(cost vector . ledger), so the phases, their
 * medians and the cycles per exit reason can be evaluated for any constants without running
 * the machine again. Exact (not an approximation) as long as the instruction trace does not
 * depend on the constants (no timer: the host's workloads do not branch on the TSC) and the
 * constants are multiples of 1/64 (so the machine's running sum and the dot product are both
 * exact in binary floating point); test/uncertainty.test.ts compares the two.
 */

import { Machine } from '../machine/machine.js';
import { Stop } from '../cpu/state.js';
import type { CostProfile } from '../cost/profile.js';
import { LEDGER_SIZE, ledgerIsTsc, ledgerIsVmrun } from '../cost/ledger.js';
import { hostCmdline, parseHostOutput, type HostOptions } from './hostrun.js';
import { readSymbols } from './symbols.js';
import { exitName } from './exits.js';

/** ledger snapshots at the VMM's timestamps of one KVM_RUN */
export interface RunMarks {
  entry: Float64Array;
  preFirst: Float64Array;
  preLast: Float64Array;
  postLast: Float64Array;
  exit: Float64Array;
}

/** the VM exits of one reason: how many, and the ledger from each #VMEXIT to the next VMRUN */
export interface ExitLedger {
  code: number;
  name: string;
  count: number;
  /** exits followed by a VMRUN (the last one of the run is not) */
  timed: number;
  sum: Float64Array;
}

export interface Trace {
  design: string;
  workload: string;
  options: HostOptions;
  ok: boolean;
  status: string;
  runs: RunMarks[];
  exits: ExitLedger[];
  /** the ledger of the whole run, boot included */
  total: Float64Array;
}

export const PHASE_KEYS = ['entry_to_vmrun', 'vmrun_to_post', 'post_to_exit', 'total'] as const;
export type PhaseKey = typeof PHASE_KEYS[number];

/** Run the host once with the ledger on and record the marks. `profile` only sets the machine's own costs. */
export function recordTrace(image: Uint8Array, o: HostOptions, profile?: CostProfile | null): Trace {
  const syms = readSymbols(image);
  const ioctl = syms.require('kvm_run_ioctl');
  const ioctlEnd = ioctl + Math.max(1, syms.sizeOf('kvm_run_ioctl'));
  const sw = syms.require('__svm_vcpu_run');
  const swEnd = syms.require('svm_after_stgi');
  const bytes: number[] = [];
  const m = new Machine({ onUartByte: (b) => { bytes.push(b); } });
  if (profile) m.cpu.setCostProfile(profile);
  const ledger = new Float64Array(LEDGER_SIZE);
  m.cpu.setLedger(ledger);
  const runs: RunMarks[] = [];
  const exits = new Map<number, ExitLedger>();
  let cur: Partial<RunMarks> | null = null;
  let inPair = false;
  let pending: { e: ExitLedger; at: Float64Array } | null = null;
  m.cpu.onLedgerMark = (c, entry) => {
    const lin = c.ripLinearAt(c.ripStart);
    if (ledgerIsVmrun(entry)) {
      if (pending !== null) {
        const s = pending.e.sum;
        for (let k = 0; k < LEDGER_SIZE; k++) s[k] += ledger[k] - pending.at[k];
        pending.e.timed++;
        pending = null;
      }
      return;
    }
    if (!ledgerIsTsc(entry)) return;
    if (lin >= ioctl && lin < ioctlEnd) {
      if (cur === null) cur = { entry: ledger.slice() };
      else {
        cur.exit = ledger.slice();
        if (cur.preFirst !== undefined && cur.postLast !== undefined) runs.push(cur as RunMarks);
        cur = null;
      }
    } else if (lin >= sw && lin < swEnd && cur !== null) {
      if (!inPair) {
        const s = ledger.slice();
        if (cur.preFirst === undefined) cur.preFirst = s;
        cur.preLast = s;
      } else cur.postLast = ledger.slice();
      inPair = !inPair;
    }
  };
  m.cpu.onLedgerExit = (_c, code) => {
    let e = exits.get(code);
    if (e === undefined) {
      e = { code, name: exitName(code), count: 0, timed: 0, sum: new Float64Array(LEDGER_SIZE) };
      exits.set(code, e);
    }
    e.count++;
    pending = { e, at: ledger.slice() };
  };
  m.boot(image, { name: 'host.elf', cmdline: hostCmdline(o) });
  const r = m.run(o.maxInsns ?? 20_000_000 + o.iterations * 100_000);
  let text = '';
  for (let k = 0; k < bytes.length; k += 8192) text += String.fromCharCode(...bytes.slice(k, k + 8192));
  const status = r.reason === Stop.Exit ? `exit ${r.exitStatus}` : `${Stop[r.reason]} at RIP 0x${r.rip.toString(16)}`;
  const parsed = parseHostOutput(text);
  return {
    design: o.design, workload: o.workload, options: o, ok: parsed.ok && status === 'exit 3', status,
    runs, exits: [...exits.values()].sort((a, b) => a.code - b.code), total: ledger.slice(),
  };
}

/** the TSC a reading of this snapshot gives (constants in multiples of 1/64: exact) */
function tsc(cost: Float64Array, s: Float64Array): number {
  let x = 0;
  for (let k = 0; k < LEDGER_SIZE; k++) x += cost[k] * s[k];
  return Math.floor(x);
}

export interface PhaseStats { min: number; median: number; max: number }

/** The VMM's phases (min, median = sorted[n/2], max) under a cost vector. */
export function evalPhases(t: Trace, cost: Float64Array): Record<PhaseKey, PhaseStats> {
  const n = t.runs.length;
  const cols: Record<PhaseKey, Float64Array> = {
    entry_to_vmrun: new Float64Array(n), vmrun_to_post: new Float64Array(n), post_to_exit: new Float64Array(n), total: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const r = t.runs[i];
    const e = tsc(cost, r.entry);
    const x = tsc(cost, r.exit);
    const pl = tsc(cost, r.postLast);
    cols.entry_to_vmrun[i] = tsc(cost, r.preFirst) - e;
    cols.vmrun_to_post[i] = pl - tsc(cost, r.preLast);
    cols.post_to_exit[i] = x - pl;
    cols.total[i] = x - e;
  }
  const out = {} as Record<PhaseKey, PhaseStats>;
  for (const k of PHASE_KEYS) {
    const a = cols[k].sort();
    out[k] = n === 0 ? { min: NaN, median: NaN, max: NaN } : { min: a[0], median: a[n >> 1], max: a[n - 1] };
  }
  return out;
}

/** the median total only (the ranking's measure), without sorting the other phases */
export function evalTotal(t: Trace, cost: Float64Array): number {
  const n = t.runs.length;
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = tsc(cost, t.runs[i].exit) - tsc(cost, t.runs[i].entry);
  a.sort();
  return n === 0 ? NaN : a[n >> 1];
}

export interface ExitFigures { code: number; name: string; count: number; perRun: number; cycles: number; share: number }

/**
 * Per exit reason, like `perf kvm stat`: how many, per KVM_RUN, and the mean cycles from the
 * #VMEXIT to the next VMRUN (handling in the kernel, and for exits to the VMM the way through
 * user space and back), with each reason's share of the time.
 */
export function evalExits(t: Trace, cost: Float64Array): ExitFigures[] {
  const runs = Math.max(1, t.runs.length);
  const rows = t.exits.map((e) => {
    let s = 0;
    for (let k = 0; k < LEDGER_SIZE; k++) s += cost[k] * e.sum[k];
    return { e, time: s };
  });
  const all = rows.reduce((s, r) => s + r.time, 0) || 1;
  return rows.map(({ e, time }) => ({
    code: e.code, name: e.name, count: e.count, perRun: e.count / runs,
    cycles: e.timed === 0 ? NaN : Math.round((10 * time) / e.timed) / 10, share: Math.round((1000 * time) / all) / 10,
  }));
}
