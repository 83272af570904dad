/**
 * The bench: the host's designs timed by the cycle model, as the Dec 2020 thread timed them on
 * an EPYC (RDTSC at ioctl entry, before VMRUN, after the restore, ioctl exit), with per-KVM_RUN
 * instruction, serializing-instruction and MSR-access counts.
 *
 * Counts per KVM_RUN are taken inside the ioctl (kvm_run_ioctl, from its entry to its return)
 * by the machine, and averaged over the calls. Everything is deterministic.
 */

import type { CostProfile } from '../cost/profile.js';
import { runHost, type HostOptions, type HostResult, type Phase } from './hostrun.js';
import { costVector } from '../cost/ledger.js';
import { evalExits, recordTrace, type ExitFigures } from './trace.js';

export interface BenchSpec {
  profile: CostProfile;
  workload: string;
  designs: string[];
  iterations: number;
  /** mix workload: in-kernel exits and exits to the VMM per group */
  kexits?: number;
  uexits?: number;
  fsgsbase: boolean;
  /** CPUs in the machine (default 1; the host runs on CPU 0) */
  cpus?: number;
}

export interface DesignResult {
  design: string;
  ok: boolean;
  status: string;
  /** the VMM's RDTSC phases (cycles), min/median/max over the iterations */
  phases: Map<string, Phase>;
  /** per KVM_RUN (marginal) */
  cycles: number;
  instructions: number;
  serializing: number;
  msrAccesses: number;
  /** VM exits per KVM_RUN: in the kernel and to the VMM */
  exits: number;
  /** per exit reason, like perf kvm stat: count, per KVM_RUN, mean cycles #VMEXIT -> next VMRUN */
  exitReasons: ExitFigures[];
}

function hostOptions(spec: BenchSpec, design: string, iterations: number): HostOptions {
  return {
    design, workload: spec.workload, iterations, kexits: spec.kexits, uexits: spec.uexits,
    fsgsbase: spec.fsgsbase, timer: 0, measureIoctl: true, cpus: spec.cpus,
  };
}

function exitCount(r: HostResult): number {
  let n = 0;
  for (const v of Object.values(r.exitsUser)) n += v;
  for (const [k, v] of Object.entries(r.exitsKernel)) if (k !== 'vmruns') n += v;
  return n;
}

/** Run one design of the spec. */
export function benchDesign(image: Uint8Array, spec: BenchSpec, design: string): DesignResult {
  const r = runHost(image, hostOptions(spec, design, spec.iterations), undefined, spec.profile);
  const n = Math.max(1, r.ioctl.calls);
  // the same run again with the cost ledger on: cycles per exit reason (identical instruction trace)
  const t = recordTrace(image, { ...hostOptions(spec, design, spec.iterations), measureIoctl: false }, spec.profile);
  return {
    exitReasons: evalExits(t, costVector(spec.profile)),
    design,
    ok: r.ok,
    status: r.ok ? 'ok' : (r.panic ?? r.status),
    phases: r.phases,
    cycles: r.ioctl.cycles / n,
    instructions: r.ioctl.instructions / n,
    serializing: r.ioctl.serializing / n,
    msrAccesses: r.ioctl.msrAccesses / n,
    exits: exitCount(r) / spec.iterations,
  };
}

export function runBench(image: Uint8Array, spec: BenchSpec, progress?: (done: number, total: number, what: string) => void): DesignResult[] {
  const out: DesignResult[] = [];
  spec.designs.forEach((d, k) => {
    progress?.(k, spec.designs.length, d);
    out.push(benchDesign(image, spec, d));
  });
  progress?.(spec.designs.length, spec.designs.length, 'done');
  return out;
}

// ---- the table ----

const ROWS: [key: string, label: string][] = [
  ['entry_to_vmrun', 'ioctl entry -> pre-VMRUN'],
  ['vmrun_to_post', 'pre-VMRUN -> post-VMRUN (restore)'],
  ['post_to_exit', 'post-VMRUN -> ioctl exit'],
  ['total', 'total'],
];

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** The thread-style table: per phase, min and median per design; then the per-KVM_RUN counts. */
export function formatBench(spec: BenchSpec, results: DesignResult[]): string {
  const labelW = 36;
  const colW = 18;
  const pad = (s: string, n: number) => s.padStart(n);
  const lines: string[] = [];
  lines.push(`profile ${spec.profile.name}, workload ${spec.workload}, ${spec.iterations} iterations, FSGSBASE ${spec.fsgsbase ? 'on' : 'off'}: TSC cycles per KVM_RUN`);
  lines.push('');
  lines.push(''.padEnd(labelW) + results.map((r) => pad(r.design, colW)).join(''));
  lines.push(''.padEnd(labelW) + results.map(() => pad('min  median', colW)).join(''));
  for (const [key, label] of ROWS) {
    lines.push(label.padEnd(labelW) + results.map((r) => {
      const p = r.phases.get(key);
      return pad(p === undefined ? '-' : `${p.min}  ${pad(String(p.median), 6)}`, colW);
    }).join(''));
  }
  const ref = results.find((r) => r.design === 'vmload');
  const refTotal = ref?.phases.get('total')?.median;
  if (refTotal !== undefined) {
    lines.push('difference from vmload (median)'.padEnd(labelW) + results.map((r) => {
      const t = r.phases.get('total')?.median;
      if (t === undefined) return pad('-', colW);
      const d = t - refTotal;
      return pad(`${d >= 0 ? '+' : ''}${d} (${d >= 0 ? '+' : ''}${((100 * d) / refTotal).toFixed(1)}%)`, colW);
    }).join(''));
  }
  lines.push('');
  lines.push('per KVM_RUN'.padEnd(labelW) + results.map((r) => pad(r.design, colW)).join(''));
  const row = (label: string, f: (r: DesignResult) => number) => lines.push(label.padEnd(labelW) + results.map((r) => pad(fmt(f(r)), colW)).join(''));
  row('  instructions', (r) => r.instructions);
  row('  serializing instructions', (r) => r.serializing);
  row('  RDMSR + WRMSR', (r) => r.msrAccesses);
  row('  VM exits', (r) => r.exits);
  row('  cycles (entry to return, mean)', (r) => r.cycles);
  lines.push('');
  lines.push('per exit reason (like perf kvm stat)'.padEnd(labelW) + results.map((r) => pad(r.design, colW)).join(''));
  lines.push('  exits per KVM_RUN, mean cycles #VMEXIT -> next VMRUN, share of that time');
  const reasons = [...new Set(results.flatMap((r) => r.exitReasons.map((e) => e.name)))];
  for (const name of reasons) {
    lines.push(`  ${name}`.padEnd(labelW) + results.map((r) => {
      const e = r.exitReasons.find((x) => x.name === name);
      return pad(e === undefined ? '-' : `${fmt(Math.round(e.perRun * 100) / 100)} x ${Number.isNaN(e.cycles) ? '-' : Math.round(e.cycles)} ${Math.round(e.share)}%`, colW);
    }).join(''));
  }
  for (const r of results) if (!r.ok) lines.push(`${r.design}: the VMM's checks FAILED (${r.status})`);
  return lines.join('\n');
}
