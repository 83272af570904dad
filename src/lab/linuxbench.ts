/**
 * `worldswitch bench --host linux`: the designs on Linux's own kvm_amd (src/lab/linuxhost.ts),
 * one module pair per design, timed by the cycle model with the thread's four timestamps, with
 * the per-function profile of KVM_RUN beside the thread's perf report.
 *
 * Which published figures set which constants: the cost profile's "fitted" entries (VMRUN and
 * #VMEXIT, the base cost per instruction, RDMSR/WRMSR and the serializing penalty) were set from
 * the thread's own measurements on the mini host (docs/calibration.md), so the thread's rows
 * 1-4 are not independent predictions here either; the instruction streams are Linux's own.
 *
 * No Node API here (the browser lab's worker runs benchDesigns); reading the files from .cache/
 * is linuxbench-files.ts.
 */

import type { CostProfile } from '../cost/profile.js';
import type { Phase } from './hostrun.js';
import type { DesignResult } from './bench.js';
import { runKvmHost, type KvmHostBoot, type KvmRunResult, type ModuleFiles } from './linuxhost.js';
import type { SymbolTable } from './symbols.js';
import type { ProfileRow } from './kprofile.js';
import { linuxUncertainty, formatLinuxUncertainty, type LinuxUncertainty } from './linuxuncertainty.js';
import type { RunPhases } from './linuxhost.js';

export const LINUX_DESIGNS = ['msr', 'vmsave-v1', 'vmload', 'vmload-notss', 'wrgsbase'] as const;
export const LINUX_WORKLOADS = ['hlt', 'pio', 'mmio', 'hypercall', 'cpuid', 'mix', 'wrmsr'] as const;

export interface LinuxBenchSpec {
  profile: CostProfile;
  workload: string;
  designs: string[];
  iterations: number;
  kexits?: number;
  uexits?: number;
  fsflip?: boolean;
  /** false: Linux booted with nofsgsbase (its own boot snapshot) */
  fsgsbase?: boolean;
  /** CPUs of the machine (default 1), and the VMM's migrate=N (0: the thread stays) */
  cpus?: number;
  migrate?: number;
  /** draws of the constants (0: none), and their seed */
  draws?: number;
  seed?: number;
}

export interface LinuxDesignResult extends DesignResult {
  /** instructions outside guest mode per KVM_RUN (median) */
  hostInstructions: number;
  vmruns: number;
  profile: ProfileRow[];
  profileTotal: number;
  /** children shares (percent) of the functions the thread's perf report names */
  threadRows: { name: string; percent: number }[];
  runMs: number;
  text: string;
  /** with more than one CPU: the runs whose KVM_RUN came to a CPU other than the previous
   * run's (moved) and the others (stayed), medians of the window (entry to exit) and of the
   * whole kvm_vcpu_ioctl (its dispatch around kvm_arch_vcpu_ioctl_run), cycles and host instructions */
  migration?: { moved: MigrationRow; stayed: MigrationRow; cpus: number[] };
}

export interface MigrationRow { runs: number; window: number; ioctl: number; hostInstructions: number }

export interface LinuxBench {
  uncertainty: LinuxUncertainty | null;
  /** the boot to the snapshot; fromCache: the snapshot file was reused (loadMs to read it) */
  boot: { instructions: number; ms: number; fromCache: boolean; loadMs: number };
  results: LinuxDesignResult[];
}

/** The thread's perf report (patch commit message, v1-v4): children percentages */
export const THREAD_PROFILE: { name: string; before: number | null; after: number | null }[] = [
  { name: 'kvm_arch_vcpu_ioctl_run', before: 67.49, after: 50.92 },
  { name: 'vcpu_put', before: 23.13, after: 2.19 },
  { name: 'native_write_msr', before: 21.31, after: 3.55 + 1.25 },
  { name: 'vcpu_load', before: 16.11, after: 13.68 },
  { name: 'svm_set_cr4', before: 13.97, after: null },
  { name: 'native_read_msr', before: 12.64, after: 6.44 },
];

function phase(v: number[]): Phase {
  const s = [...v].sort((a, b) => a - b);
  return { min: s[0] ?? 0, median: s[Math.floor(s.length / 2)] ?? 0, max: s[s.length - 1] ?? 0 };
}

function median(v: number[]): number {
  return phase(v).median;
}

export function designResult(design: string, r: KvmRunResult): LinuxDesignResult {
  const runs = r.runs.filter((x) => x.pre >= 0 && x.post >= 0 && x.exit >= 0);
  const phases = new Map<string, Phase>([
    ['entry_to_vmrun', phase(runs.map((x) => x.pre - x.entry))],
    ['vmrun_to_post', phase(runs.map((x) => x.post - x.pre))],
    ['post_to_exit', phase(runs.map((x) => x.exit - x.post))],
    ['total', phase(runs.map((x) => x.exit - x.entry))],
  ]);
  const total = r.profile.total;
  const migration = migrationOf(runs);
  return {
    ...(migration !== undefined ? { migration } : {}),
    design,
    ok: r.ok && runs.length > 0,
    status: r.status,
    phases,
    cycles: runs.length ? Math.round(runs.reduce((a, x) => a + x.exit - x.entry, 0) / runs.length) : 0,
    instructions: median(runs.map((x) => x.instructions)),
    hostInstructions: median(runs.map((x) => x.hostInstructions)),
    serializing: median(runs.map((x) => x.serializing)),
    msrAccesses: median(runs.map((x) => x.msrAccesses)),
    exits: median(runs.map((x) => x.vmruns)),
    vmruns: median(runs.map((x) => x.vmruns)),
    exitReasons: [],
    profile: r.profile.rows(),
    profileTotal: total,
    threadRows: THREAD_PROFILE.map((t) => ({ name: t.name, percent: 100 * r.profile.share(t.name) })),
    runMs: r.ms,
    text: r.text,
  };
}

function migrationOf(runs: RunPhases[]): LinuxDesignResult['migration'] {
  if (runs.length === 0 || runs[0].cpu === undefined) return undefined;
  const moved: RunPhases[] = [];
  const stayed: RunPhases[] = [];
  // the first measured run: moved if the warm-up's last run was elsewhere is not known here, so
  // it is left out
  for (let k = 1; k < runs.length; k++) (runs[k].cpu !== runs[k - 1].cpu ? moved : stayed).push(runs[k]);
  const row = (v: RunPhases[]): MigrationRow => ({
    runs: v.length,
    window: median(v.map((x) => x.exit - x.entry)),
    ioctl: median(v.map((x) => (x.ioctl !== undefined ? x.ioctl.exit - x.ioctl.entry : 0))),
    hostInstructions: median(v.map((x) => x.hostInstructions)),
  });
  return { moved: row(moved), stayed: row(stayed), cpus: runs.map((x) => x.cpu ?? 0) };
}

export interface LinuxBenchProgress { (done: number, total: number, what: string): void }

/**
 * Every design of `spec` on a booted host (the CLI's runLinuxBench after its boot, and the
 * browser lab's worker after it adopted the snapshot file): no file access, so the page runs
 * exactly this.
 */
export function benchDesigns(b: KvmHostBoot & { fromCache: boolean; loadMs: number }, map: SymbolTable, modules: (design: string) => ModuleFiles, spec: LinuxBenchSpec, progress?: LinuxBenchProgress): LinuxBench {
  const results: LinuxDesignResult[] = [];
  const ledgers = new Map<string, RunPhases[]>();
  spec.designs.forEach((d, k) => {
    progress?.(k + 1, spec.designs.length + 1, d);
    const r = runKvmHost(b, map, modules(d), {
      design: d, workload: spec.workload, iterations: spec.iterations, kexits: spec.kexits, uexits: spec.uexits,
      fsflip: spec.fsflip, profile: spec.profile, ledger: (spec.draws ?? 0) > 0, migrate: spec.migrate,
    });
    results.push(designResult(d, r));
    ledgers.set(d, r.runs);
  });
  progress?.(spec.designs.length + 1, spec.designs.length + 1, 'done');
  const uncertainty = (spec.draws ?? 0) > 0 ? linuxUncertainty(spec.profile, ledgers, spec.draws!, spec.seed ?? 1) : null;
  return { uncertainty, boot: { instructions: b.bootInsns, ms: b.bootMs, fromCache: b.fromCache, loadMs: b.loadMs }, results };
}

/** what `bench --host linux --json` writes (the browser lab's download is the same) */
export function linuxBenchJson(spec: LinuxBenchSpec, b: LinuxBench): object {
  return {
    host: 'linux', profile: spec.profile.name, workload: spec.workload, iterations: spec.iterations, fsgsbase: spec.fsgsbase !== false, cpus: spec.cpus ?? 1, migrate: spec.migrate ?? 0, boot: b.boot, uncertainty: b.uncertainty,
    designs: b.results.map((r) => ({ ...r, phases: Object.fromEntries(r.phases), profile: r.profile.slice(0, 200) })),
  };
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

export function formatLinuxBench(spec: LinuxBenchSpec, b: LinuxBench, topN = 25): string {
  const labelW = 34;
  const colW = 16;
  const pad = (s: string, n: number) => s.padStart(n);
  const rs = b.results;
  const L: string[] = [];
  const cpus = spec.cpus ?? 1;
  const machine = `${spec.fsgsbase === false ? ', FSGSBASE off (nofsgsbase)' : ''}${cpus > 1 ? `, ${cpus} CPUs${(spec.migrate ?? 0) > 0 ? `, the VMM moving to the next CPU every ${spec.migrate} KVM_RUNs` : ', the VMM not moving'}` : ''}`;
  L.push(`real host: Debian Linux 6.1, kvm_amd per design; profile ${spec.profile.name}, workload ${spec.workload}, ${spec.iterations} KVM_RUNs each (first 3 not measured)${machine}`);
  const snap = b.boot.fromCache ? `snapshot file read in ${(b.boot.loadMs / 1000).toFixed(1)} s (the boot took ${(b.boot.ms / 1000).toFixed(1)} s when it was taken)` : `${(b.boot.ms / 1000).toFixed(1)} s, snapshot saved`;
  L.push(`boot to the snapshot: ${(b.boot.instructions / 1e6).toFixed(1)} M instructions, ${snap}; per design (module load + runs): ${rs.map((r) => `${r.design} ${(r.runMs / 1000).toFixed(1)} s`).join(', ')}`);
  L.push('');
  L.push('TSC cycles per KVM_RUN (min  median)'.padEnd(labelW) + rs.map((r) => pad(r.design, colW)).join(''));
  const rows: [string, string][] = [['entry_to_vmrun', '1 ioctl entry -> pre-VMRUN'], ['vmrun_to_post', '2 pre-VMRUN -> post-VMRUN'], ['post_to_exit', '3 post-VMRUN -> ioctl exit'], ['total', 'total']];
  for (const [k, label] of rows) {
    L.push(label.padEnd(labelW) + rs.map((r) => { const p = r.phases.get(k); return pad(p ? `${p.min}  ${pad(String(p.median), 6)}` : '-', colW); }).join(''));
  }
  const ref = rs.find((r) => r.design === 'vmload')?.phases.get('total')?.median;
  if (ref !== undefined) {
    L.push('difference from vmload (median)'.padEnd(labelW) + rs.map((r) => {
      const t = r.phases.get('total')?.median ?? 0;
      const d = t - ref;
      return pad(`${d >= 0 ? '+' : ''}${d} (${d >= 0 ? '+' : ''}${((100 * d) / ref).toFixed(1)}%)`, colW);
    }).join(''));
  }
  L.push('');
  L.push('per KVM_RUN (median)'.padEnd(labelW) + rs.map((r) => pad(r.design, colW)).join(''));
  const row = (label: string, f: (r: LinuxDesignResult) => number) => L.push(label.padEnd(labelW) + rs.map((r) => pad(fmt(f(r)), colW)).join(''));
  row('  instructions (host + guest)', (r) => r.instructions);
  row('  host instructions', (r) => r.hostInstructions);
  row('  serializing instructions', (r) => r.serializing);
  row('  RDMSR + WRMSR', (r) => r.msrAccesses);
  row('  VMRUNs', (r) => r.vmruns);
  L.push('  status'.padEnd(labelW) + rs.map((r) => pad(r.ok ? 'ok' : `FAIL ${r.status}`, colW)).join(''));
  L.push('');
  if (rs.some((r) => r.migration !== undefined)) {
    L.push('KVM_RUN on a new CPU vs the same (median)'.padEnd(labelW) + rs.map((r) => pad(r.design, colW)).join(''));
    const mrow = (label: string, f: (m: NonNullable<LinuxDesignResult['migration']>) => number | string) =>
      L.push(label.padEnd(labelW) + rs.map((r) => pad(r.migration !== undefined ? String(f(r.migration)) : '-', colW)).join(''));
    mrow('  runs moved / stayed', (m) => `${m.moved.runs} / ${m.stayed.runs}`);
    mrow('  window cycles, moved', (m) => m.moved.window);
    mrow('  window cycles, stayed', (m) => m.stayed.window);
    mrow('  kvm_vcpu_ioctl cycles, moved', (m) => m.moved.ioctl);
    mrow('  kvm_vcpu_ioctl cycles, stayed', (m) => m.stayed.ioctl);
    mrow('  extra cycles of a move (ioctl)', (m) => (m.moved.runs > 0 && m.stayed.runs > 0 ? m.moved.ioctl - m.stayed.ioctl : '-'));
    mrow('  host instructions, moved', (m) => m.moved.hostInstructions);
    mrow('  host instructions, stayed', (m) => m.stayed.hostInstructions);
    L.push('  (the window is kvm_arch_vcpu_ioctl_run, vcpu_load and vcpu_put included; kvm_vcpu_ioctl adds the ioctl\'s dispatch. Each CPU has its own');
    L.push('   cycle counter; with more than one CPU the profiles below cover the ioctls only, the thread\'s instructions on its CPU)');
    L.push('');
  }
  L.push('the thread\'s perf report (children %) and this run\'s, over the measured window');
  L.push('  function'.padEnd(labelW) + pad('thread before', 14) + pad('after', 8) + rs.map((r) => pad(r.design, colW)).join(''));
  for (const t of THREAD_PROFILE) {
    L.push(`  ${t.name}`.padEnd(labelW) + pad(t.before === null ? '-' : t.before.toFixed(2), 14) + pad(t.after === null ? '-' : t.after.toFixed(2), 8)
      + rs.map((r) => pad((r.threadRows.find((x) => x.name === t.name)?.percent ?? 0).toFixed(2), colW)).join(''));
  }
  L.push('  (thread: "before" is Linux 5.11, the msr design; "after" the VMSAVE/VMLOAD patch, 5.12; a recent EPYC, perf sampling.');
  L.push('   here: every instruction counted, Linux 6.1 with each design; native_write_msr "after" is the sum of its two rows)');
  for (const r of rs) {
    L.push('');
    L.push(`profile of ${r.design} (perf report --children style; ${fmt(r.profileTotal)} cycles in the window)`);
    const pct = (v: number) => (r.profileTotal > 0 ? (100 * v / r.profileTotal).toFixed(2) : '0.00').padStart(6) + '%';
    L.push('    Children      Self  Symbol');
    for (const p of r.profile.slice(0, topN)) L.push(`    ${pct(p.children)}  ${pct(p.self)}  ${p.name}`);
  }
  if (b.uncertainty !== null) {
    L.push('');
    L.push(formatLinuxUncertainty(b.uncertainty, spec.profile.name, spec.workload));
  }
  L.push('');
  L.push('Constants set from the thread\'s own figures (cost profile "fitted" entries: VMRUN, #VMEXIT, base per instruction, RDMSR/WRMSR, serializing');
  L.push('penalty; docs/calibration.md): the thread\'s cycle rows are not independent predictions. The instruction streams are Linux\'s own.');
  return L.join('\n');
}
