/**
 * `worldswitch verify --host linux`: NMI, interrupt and both made pending at every instruction
 * boundary of consecutive KVM_RUNs of Linux's own kvm_amd per design (the modules built from
 * Debian's source with each design's patch), invariants read from Linux's own state
 * (src/lab/lverify*.ts). --mutants adds the mutation suite (kernel patches); each must be
 * caught. Exit status 0 when every design is clean and every mutant caught, else 1.
 */

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LINUX_DESIGNS } from '../lab/linuxbench.js';
import { linuxHostFiles, missingLinuxHost } from '../lab/linuxbench-files.js';
import { verifyLinux, type LinuxVerifyProgress, type LinuxVerifyResult } from '../lab/lverify.js';
import { LINUX_MUTANTS, defaultLinuxMutants, findLinuxMutant } from '../lab/lverify-mutants.js';
import { INVARIANTS, type EventKind } from '../lab/verify-invariants.js';
import { formatFindings, formatLegend, formatTable } from '../lab/verify-report.js';
import { checkOutputPath, writeOutput } from './files.js';
import { UserError } from './main.js';
import { Progress } from './progress.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WORKLOADS = ['hlt', 'pio', 'mmio', 'hypercall', 'cpuid', 'mix', 'wrmsr'];
/**
 * wrmsr: a HLT exit to user space on every KVM_RUN, the guest changing its own KERNEL_GS_BASE
 * (not intercepted) with RCX = the MSR's index before each: the guest-state and guest-register
 * invariants have something to see (on hlt the guest never changes either)
 */
const DEFAULT_WORKLOADS = ['wrmsr'];
/** Debian's own modules: the vmload design as shipped */
const EXTRA_DESIGNS = ['debian'];

export interface LinuxVerifyCliOpts {
  design: string;
  mutants?: boolean | string;
  workload?: string;
  kinds: EventKind[];
  jobs?: number;
  stride?: number;
  runs?: number;
  json?: string;
  linuxDir?: string;
  nullClearsBase?: boolean;
  /** false: Linux booted with nofsgsbase */
  fsgsbase?: boolean;
  /** CPUs of the machine (default 1) and the VMM moving its thread every `migrate` KVM_RUNs */
  cpus?: number;
  migrate?: number;
}

function names(s: string, option: string, known: readonly string[], all: readonly string[]): string[] {
  if (s === 'all') return [...all];
  const out = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (out.length === 0) throw new UserError(`${option}: nothing given`);
  for (const n of out) if (!known.includes(n)) throw new UserError(`${option}: unknown '${n}' (one of ${known.join(', ')}, all)`);
  return [...new Set(out)];
}

export function formatLinuxVerify(r: LinuxVerifyResult, kinds: readonly string[], head: string): string {
  const out: string[] = [head];
  const skipped = r.units.reduce((n, u) => n + u.untried.stride, 0);
  if (skipped > 0) out.push(`${skipped} boundaries inside the KVM_RUNs were not tried (--stride): a bug with a window of fewer instructions than the stride can hide there`);
  out.push(`boot: ${(r.boot.instructions / 1e6).toFixed(1)} M instructions, ${r.boot.fromCache ? `snapshot file loaded in ${(r.boot.loadMs / 1000).toFixed(1)} s` : `${(r.boot.ms / 1000).toFixed(1)} s (snapshot saved)`}`);
  out.push('');
  out.push(formatTable(r.units, kinds));
  out.push('');
  out.push('per unit: module load and run to the KVM_RUN snapshot, instructions in the window, function entries checked, replays, time');
  for (const u of r.units) {
    if (u.error !== undefined) continue;
    out.push(`  ${`${u.design}/${u.workload}`.padEnd(30)} setup ${((u.setup?.instructions ?? 0) / 1e6).toFixed(0).padStart(4)} M insns ${((u.setup?.ms ?? 0) / 1000).toFixed(1).padStart(5)} s; ` +
      `${u.instructions} instructions; ${u.functions ?? 0} functions; ${u.replays} replays; ${(u.ms / 1000).toFixed(1)} s`);
    if (u.perCpu !== undefined) {
      out.push(`  ${''.padEnd(30)} from KVM_RUN #${u.startRun ?? '?'}, ${u.migrations ?? 0} migration${u.migrations === 1 ? '' : 's'}; ` +
        u.perCpu.map((c) => `CPU ${c.cpu}: ${c.boundaries} boundaries, ${c.inRun} in KVM_RUNs, ${c.tried} replays, ${c.exits} #VMEXITs`).join('; '));
    }
  }
  out.push('');
  const findings = formatFindings(r.units, 10, findLinuxMutant);
  if (findings !== '') out.push(findings, '');
  out.push('invariants:', formatLegend(), '');
  for (const v of r.verdicts) out.push(`${v.design.padEnd(24)} ${v.mutant ? 'mutant' : 'design'}  ${v.summary}`);
  const ds = r.verdicts.filter((v) => !v.mutant);
  const ms = r.verdicts.filter((v) => v.mutant);
  out.push('');
  out.push(`${ds.filter((v) => v.ok).length} of ${ds.length} designs clean, ${ms.filter((v) => v.ok).length} of ${ms.length} mutants caught; ` +
    `${r.replays} replays in ${(r.ms / 1000).toFixed(1)} s on ${r.jobs} thread${r.jobs === 1 ? '' : 's'}`);
  return out.join('\n');
}

export async function verifyLinuxCommand(o: LinuxVerifyCliOpts): Promise<number> {
  const mutantNames = LINUX_MUTANTS.map((m) => m.name);
  const designs = names(o.design, '--design', [...LINUX_DESIGNS, ...EXTRA_DESIGNS, ...mutantNames], LINUX_DESIGNS);
  if (o.mutants !== undefined && o.mutants !== false) {
    const byDefault = defaultLinuxMutants({ fsgsbase: o.fsgsbase !== false, migration: (o.cpus ?? 1) > 1 && (o.migrate ?? 0) > 0 });
    const ms = o.mutants === true ? byDefault : names(o.mutants, '--mutants', mutantNames, byDefault);
    for (const m of ms) if (!designs.includes(m)) designs.push(m);
  }
  const workloads = o.workload === undefined ? [...DEFAULT_WORKLOADS] : names(o.workload, '--workload', WORKLOADS, WORKLOADS);
  const files = linuxHostFiles(o.linuxDir ?? ROOT);
  const missing = missingLinuxHost(files, designs);
  if (missing !== null) throw new UserError(`--host linux: ${missing}`);
  if (o.json !== undefined) checkOutputPath(o.json, '--json');

  const progress = new Progress('verify --host linux');
  const live = process.stderr.isTTY === true && !process.env.CI;
  let last = 0;
  const onProgress = (p: LinuxVerifyProgress) => {
    if (p.what !== undefined) progress.update(0, p.units, p.what);
    else if (p.finished !== undefined) {
      const f = p.finished;
      const found = f.error !== undefined ? 'error' : `${f.reference.length + f.kinds.reduce((n, k) => n + k.violating, 0)} violating runs`;
      progress.update(p.unitsDone, p.units, `${f.design}: ${f.boundaries} boundaries, ${found}, ${(f.ms / 1000).toFixed(0)} s`);
    } else if (live && Date.now() - last > 200) {
      last = Date.now();
      progress.update(p.unitsDone, p.units, `${p.done}/${p.total} replays`);
    }
  };
  const cpus = o.cpus ?? 1;
  const migrate = o.migrate ?? 0;
  const r = await verifyLinux({ files, designs, workloads, kinds: o.kinds, runs: o.runs, stride: o.stride, jobs: o.jobs, nullClearsBase: o.nullClearsBase, fsgsbase: o.fsgsbase, ...(cpus > 1 ? { cpus, migrate } : {}) }, onProgress);
  const nRuns = r.units.find((u) => u.runs > 0)?.runs ?? 0;
  const stride = o.stride ?? 1;
  const head = `worldswitch verify --host linux: ${o.kinds.join(', ')} at every ${stride === 1 ? '' : `${stride}th `}instruction boundary of ${nRuns} consecutive KVM_RUN${nRuns === 1 ? '' : 's'} ` +
    `(each from the ioctl's SYSCALL entry to the VMM's next instruction) on Debian's Linux 6.1 with each design's kvm.ko + kvm-amd.ko, workload${workloads.length > 1 ? 's' : ''} ${workloads.join(', ')}${cpus > 1 ? `; ${cpus} CPUs${migrate > 0 ? `, the VMM moving its thread to the next CPU every ${migrate} KVM_RUN${migrate === 1 ? '' : 's'}` : ''}, events raised on the CPU each boundary belongs to` : ''}${o.fsgsbase === false ? ', FSGSBASE off (Linux booted with nofsgsbase)' : ''}${o.nullClearsBase === true ? ', null selector loads clear the base' : ''}`;
  process.stdout.write(formatLinuxVerify(r, o.kinds, head) + '\n');
  if (o.json !== undefined) {
    writeOutput(o.json, '--json', JSON.stringify({ host: 'linux', options: { designs, workloads, kinds: o.kinds, stride, runs: nRuns, nullClearsBase: o.nullClearsBase === true, fsgsbase: o.fsgsbase !== false, ...(cpus > 1 ? { cpus, migrate } : {}) }, invariants: INVARIANTS, mutants: LINUX_MUTANTS, ...r }, null, 2) + '\n');
  }
  return r.ok ? 0 : 1;
}

