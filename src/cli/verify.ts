/**
 * `worldswitch verify`: raise an NMI, a maskable interrupt, or both at every instruction
 * boundary of one KVM_RUN of each design and workload, check the host-state invariants through
 * the machine, and show that a suite of broken designs (--mutants) is caught. Prints a summary
 * table (design x event kind), where each mutant was caught, and the run time; --json writes
 * everything. Exit status 0 when every design is clean and every mutant caught, else 1.
 */

import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DESIGNS } from '../lab/hostrun.js';
import { DEFAULT_WORKLOADS, VERIFY_WORKLOADS, verify, type VerifyProgress } from '../lab/verify.js';
import { EVENT_KINDS, INVARIANTS, type EventKind } from '../lab/verify-invariants.js';
import type { UnitResult } from '../lab/verify-inject.js';
import { MIGRATION_MUTANTS, MUTANTS } from '../lab/verify-mutants.js';
import { formatFindings, formatLegend, formatTable } from '../lab/verify-report.js';
import { DEFAULT_HOST_IMAGE, readHostImage } from './host.js';
import { parseCpus } from './run.js';
import { UserError } from './main.js';
import { Progress } from './progress.js';
import { verifyLinuxCommand } from './verify-linux.js';

export interface VerifyCliOpts {
  design: string;
  mutants?: boolean | string;
  workload?: string;
  events: string;
  fsgsbase: boolean;
  jobs?: string;
  stride?: string;
  runs?: string;
  nullClearsBase?: boolean;
  json?: string;
  image?: string;
  /** mini (the project's host image) or linux (Debian's kernel with each design's kvm_amd) */
  host?: string;
  /** the same as --events */
  kinds?: string;
  cpus?: string;
  migrate?: string;
}

function list(s: string, option: string, known: readonly string[], all?: readonly string[]): string[] {
  if (s === 'all' && all !== undefined) return [...all];
  const names = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (names.length === 0) throw new UserError(`${option}: nothing given`);
  for (const n of names) {
    if (!known.includes(n)) throw new UserError(`${option}: unknown '${n}' (one of ${known.join(', ')}${all !== undefined ? ', all' : ''})`);
  }
  return [...new Set(names)];
}

function intArg(s: string | undefined, name: string, lo: number, hi: number): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < lo || v > hi) throw new UserError(`${name}: '${s}' is not an integer in ${lo}..${hi}`);
  return v;
}

export async function verifyCommand(o: VerifyCliOpts): Promise<number> {
  const host = o.host ?? 'mini';
  if (host !== 'mini' && host !== 'linux') throw new UserError(`--host: '${host}' is not mini or linux`);
  if (o.kinds !== undefined) o.events = o.kinds;
  if (host === 'linux') {
    if (o.image !== undefined) throw new UserError('--image: not with --host linux (the kernel and modules come from .cache)');
    const lcpus = parseCpus(o.cpus ?? '1');
    const lmigrate = intArg(o.migrate, '--migrate', 0, 1000) ?? 0;
    if (lmigrate > 0 && lcpus < 2) throw new UserError('--migrate needs --cpus 2 or more');
    const kinds = list(o.events, '--kinds', EVENT_KINDS, EVENT_KINDS) as EventKind[];
    return verifyLinuxCommand({
      design: o.design, mutants: o.mutants, workload: o.workload, kinds, json: o.json,
      jobs: intArg(o.jobs, '--jobs', 1, 256), stride: intArg(o.stride, '--stride', 1, 1_000_000), runs: intArg(o.runs, '--runs', 1, 50),
      nullClearsBase: o.nullClearsBase === true, fsgsbase: o.fsgsbase, cpus: lcpus, migrate: lmigrate,
    });
  }
  const cpus = parseCpus(o.cpus ?? '1');
  const migrate = intArg(o.migrate, '--migrate', 0, 1000) ?? 0;
  if (migrate > 0 && cpus < 2) throw new UserError('--migrate needs --cpus 2 or more');
  // the migration mutants are their base designs unless the vcpu migrates: in the suite only then
  const suite = [...MUTANTS, ...(migrate > 0 ? MIGRATION_MUTANTS : [])].map((m) => m.name);
  const mutantNames = [...MUTANTS, ...MIGRATION_MUTANTS].map((m) => m.name);
  const designs = list(o.design, '--design', [...DESIGNS, ...mutantNames], DESIGNS);
  if (o.mutants !== undefined && o.mutants !== false) {
    const ms = o.mutants === true ? suite : list(o.mutants, '--mutants', mutantNames, suite);
    for (const m of ms) if (!designs.includes(m)) designs.push(m);
  }
  const workloads = o.workload === undefined ? [...DEFAULT_WORKLOADS] : list(o.workload, '--workload', VERIFY_WORKLOADS, VERIFY_WORKLOADS);
  const kinds = list(o.events, '--events', EVENT_KINDS, EVENT_KINDS) as EventKind[];
  const jobs = intArg(o.jobs, '--jobs', 1, 256);
  const stride = intArg(o.stride, '--stride', 1, 1_000_000);
  const runs = intArg(o.runs, '--runs', 1, 50);
  const image = readHostImage(o.image ?? DEFAULT_HOST_IMAGE);

  const progress = new Progress('verify');
  const live = process.stderr.isTTY === true && !process.env.CI;
  let last = 0;
  const onProgress = (p: VerifyProgress) => {
    if (p.finished !== undefined) {
      const f = p.finished;
      const found = f.error !== undefined ? 'error' : `${f.reference.length + f.kinds.reduce((n, k) => n + k.violating, 0)} violating runs`;
      progress.update(p.unitsDone, p.units, `${f.design}/${f.workload}: ${f.boundaries} boundaries, ${found}`);
    } else if (live && Date.now() - last > 200) {
      last = Date.now();
      progress.update(p.unitsDone, p.units, `${p.done}/${p.total} replays`);
    }
  };
  const r = await verify({ image, designs, workloads, kinds, fsgsbase: o.fsgsbase, jobs, stride, runs, nullClearsBase: o.nullClearsBase === true, cpus, migrate }, onProgress);

  const out: string[] = [];
  const nRuns = r.units.find((u) => u.runs > 0)?.runs ?? 0;
  out.push(`worldswitch verify: ${kinds.join(', ')} at every ${stride === undefined || stride === 1 ? '' : `${stride}th `}instruction boundary of ${nRuns} consecutive KVM_RUN${nRuns === 1 ? '' : 's'} ` +
    `(each from the ioctl entry to the VMM's next instruction), workloads ${workloads.join(', ')}, FSGSBASE ${o.fsgsbase ? 'on' : 'off'}` +
    `${o.nullClearsBase === true ? ', null selector loads clear the base' : ''}` +
    `${migrate > 0 ? `; ${cpus} CPUs, the vcpu migrating every ${migrate} KVM_RUN${migrate === 1 ? '' : 's'}, events raised on the CPU each boundary belongs to` : ''}`);
  const multi = r.units.filter((u) => u.perCpu !== undefined && u.error === undefined);
  if (multi.length > 0) {
    const sum = (f: (c: NonNullable<UnitResult['perCpu']>[number]) => number, cpu: number) => multi.reduce((n, u) => n + (u.perCpu![cpu] === undefined ? 0 : f(u.perCpu![cpu])), 0);
    const per = Array.from({ length: cpus }, (_, k) => `CPU ${k}: ${sum((c) => c.boundaries, k)} boundaries, ${sum((c) => c.inRun, k)} inside KVM_RUNs, ` +
      `${sum((c) => c.handover, k)} in vcpu hand-overs, ${sum((c) => c.tried, k)} replays`);
    const held = multi.reduce((n, u) => n + u.kinds.reduce((m, k) => m + (k.heldIdle ?? 0), 0), 0);
    out.push(`per CPU over ${multi.length} units: ${per.join('; ')}; ${multi.reduce((n, u) => n + (u.migrations ?? 0), 0)} migrations in the windows` +
      `${held > 0 ? `; ${held} interrupts raised on a CPU after the CLI before its idle loop wait there past the window (not counted as undelivered)` : ''}`);
  }
  const skipped = r.units.reduce((n, u) => n + u.untried.stride, 0);
  if (skipped > 0) out.push(`--stride ${stride}: ${skipped} boundaries inside the KVM_RUNs were not tried; a bug with a window of fewer than ${stride} instructions can hide there`);
  out.push('');
  out.push(formatTable(r.units, kinds));
  out.push('');
  const findings = formatFindings(r.units);
  if (findings !== '') out.push(findings, '');
  out.push('invariants:', formatLegend(), '');
  for (const v of r.verdicts) out.push(`${v.design.padEnd(24)} ${v.mutant ? 'mutant' : 'design'}  ${v.summary}`);
  const designsOk = r.verdicts.filter((v) => !v.mutant);
  const mutantsOk = r.verdicts.filter((v) => v.mutant);
  out.push('');
  out.push(`${designsOk.filter((v) => v.ok).length} of ${designsOk.length} designs clean, ${mutantsOk.filter((v) => v.ok).length} of ${mutantsOk.length} mutants caught; ` +
    `${r.replays} replays in ${(r.ms / 1000).toFixed(1)} s on ${r.jobs} thread${r.jobs === 1 ? '' : 's'}`);
  process.stdout.write(out.join('\n') + '\n');
  if (o.json !== undefined) {
    writeFileSync(o.json, JSON.stringify({ options: { designs, workloads, events: kinds, fsgsbase: o.fsgsbase, stride: stride ?? 1, runs: nRuns, nullClearsBase: o.nullClearsBase === true, cpus, migrate }, invariants: INVARIANTS, mutants: [...MUTANTS, ...MIGRATION_MUTANTS], ...r }, null, 2) + '\n');
  }
  return r.ok ? 0 : 1;
}

/** Register `worldswitch verify` on the program; `done` receives the exit code. */
export function addVerifyCommand(program: Command, done: (code: number) => void): void {
  program
    .command('verify')
    .description('raise NMIs and interrupts at every instruction boundary of the world switch and check the host state; --mutants shows what is caught')
    .option('--design <names>', `${DESIGNS.join(', ')} or mutants, comma-separated, or all`, 'all')
    .option('--mutants [names]', 'also verify the mutation suite (all, or comma-separated names): each must be caught')
    .option('--workload <names>', `${VERIFY_WORKLOADS.join(', ')}, comma-separated, or all (default ${DEFAULT_WORKLOADS.join(',')})`)
    .option('--host <host>', 'mini (the project\'s host image) or linux (Debian\'s Linux 6.1 with each design\'s kvm_amd: designs and mutants from .cache/kvm)', 'mini')
    .option('--events <kinds>', 'nmi, intr, both, comma-separated', EVENT_KINDS.join(','))
    .option('--kinds <kinds>', 'the same as --events')
    .option('--no-fsgsbase', 'boot with CR4.FSGSBASE off (the NMI entry uses RDMSR and SWAPGS)')
    .option('--jobs <n>', 'worker threads (default: the number of cores)')
    .option('--stride <k>', 'try every kth boundary only (default 1: all)')
    .option('--runs <n>', 'consecutive KVM_RUNs recorded and replayed per unit (default 3)')
    .option('--null-clears-base', 'a null selector load clears the segment base (Intel, and AMD parts with NullSelectClearsBase)')
    .option('--json <file>', 'write the full results as JSON')
    .option('--image <path>', 'host image (default build/host/host.elf)')
    .option('--cpus <n>', 'CPUs in the machine (the mini host runs on CPU 0; snapshots cover every CPU; --host linux: Linux on n CPUs, its own boot snapshot)', '1')
    .option('--migrate <n>', 'with --cpus 2: the VMM moves to the other CPU every n KVM_RUNs; the window holds migrations and boundaries of both CPUs (--mutants then includes the migration mutants)')
    .action(async (opts: VerifyCliOpts) => { done(await verifyCommand(opts)); });
}
