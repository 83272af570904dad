/**
 * `worldswitch bench`: the four designs under a calibrated cost profile, the thread's
 * per-phase table, counts per KVM_RUN and per exit reason, plots, sweeps and uncertainty.
 * `worldswitch calibrate`: the fit, the hand-set targets and the held-out predictions.
 */

import { readFileSync } from 'node:fs';
import { checkOutputPath, writeOutput } from './files.js';
import type { Command } from 'commander';
import { ALIASES, getProfile, profileNames } from '../cost/profiles.js';
import type { CostProfile } from '../cost/profile.js';
import { calibrate, formatCalibration } from '../lab/calibrate.js';
import { renderSvg } from '../lab/plot.js';
import { parseSweep } from '../lab/sweep.js';
import { jobJson, runBenchJob } from '../lab/benchjob.js';
import { profileFromJson } from '../cost/profile-file.js';
import { DESIGNS, WORKLOADS } from '../lab/hostrun.js';
import { DEFAULT_HOST_IMAGE, readHostImage } from './host.js';
import { parseCpus } from './run.js';
import { UserError } from './main.js';
import { Progress } from './progress.js';
import { benchLinuxCommand } from './bench-linux.js';

interface BenchCliOpts {
  cpu: string;
  workload: string;
  designs: string;
  iterations: string;
  inKernel?: string;
  fsgsbase: boolean;
  calibrate: boolean;
  json?: string;
  svg?: string;
  sweep?: string;
  uncertainty?: string;
  seed: string;
  profile?: string;
  image?: string;
  host: string;
  linuxDir?: string;
  cpus?: string;
  migrate?: string;
}

function profilesOf(cpu: string): string[] {
  const names = profileNames().filter((n) => n !== 'unit');
  if (cpu === 'all') return names;
  for (const n of cpu.split(',')) {
    if (!profileNames().includes(n) && ALIASES[n] === undefined) throw new UserError(`--cpu: unknown profile '${n}' (one of ${profileNames().join(', ')}, all)`);
  }
  return cpu.split(',');
}

function intArg(s: string, name: string, lo: number, hi: number): number {
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < lo || v > hi) throw new UserError(`${name}: '${s}' is not an integer in ${lo}..${hi}`);
  return v;
}

export async function benchCommand(o: BenchCliOpts, iterationsGiven = true): Promise<number> {
  if (o.host === 'linux') return benchLinuxCommand(o, iterationsGiven);
  if (o.host !== 'mini') throw new UserError(`--host: 'mini' or 'linux', not '${o.host}'`);
  if (o.migrate !== undefined) throw new UserError('--migrate: with --host linux (the mini host has it in worldswitch host --migrate)');
  const profiles = profilesOf(o.cpu);
  if (!(WORKLOADS as readonly string[]).includes(o.workload)) throw new UserError(`--workload: unknown '${o.workload}' (one of ${WORKLOADS.join(', ')})`);
  const designs = o.designs === 'all' ? [...DESIGNS] : o.designs.split(',');
  for (const d of designs) if (!(DESIGNS as readonly string[]).includes(d)) throw new UserError(`--designs: unknown '${d}' (one of ${DESIGNS.join(', ')}, all)`);
  const iterations = intArg(o.iterations, '--iterations', 1, 50000);
  let inKernel: number | undefined;
  if (o.inKernel !== undefined) {
    if (o.workload !== 'mix') throw new UserError('--in-kernel applies to --workload mix only');
    inKernel = intArg(o.inKernel, '--in-kernel', 0, 99);
  }
  const sw = o.sweep === undefined ? null : (() => { try { return parseSweep(o.sweep!); } catch (e) { throw new UserError((e as Error).message); } })();
  if (o.json !== undefined) checkOutputPath(o.json, '--json');
  if (o.svg !== undefined) checkOutputPath(o.svg, '--svg');
  const draws = o.uncertainty === undefined ? 0 : intArg(o.uncertainty, '--uncertainty', 1, 100000);
  const seed = intArg(o.seed, '--seed', 0, 2 ** 31);
  let fileProfile: CostProfile | undefined;
  if (o.profile !== undefined) {
    try { fileProfile = profileFromJson(readFileSync(o.profile, 'utf8')); } catch (e) { throw new UserError(`--profile: ${(e as Error).message}`); }
  }
  const image = readHostImage(o.image ?? DEFAULT_HOST_IMAGE);
  const bars = new Map<string, Progress>();
  const r = runBenchJob(image, {
    profiles, fileProfile, profileSource: o.profile, workload: o.workload, designs, iterations, inKernel, fsgsbase: o.fsgsbase,
    calibrate: o.calibrate, cpus: parseCpus(o.cpus ?? '1'), sweep: sw, draws, seed, plots: o.svg !== undefined,
  }, (stage, done, total, what) => {
    if (stage.startsWith('calibrate') || stage.startsWith('uncertainty')) return;
    let p = bars.get(stage);
    if (p === undefined) { p = new Progress(stage); bars.set(stage, p); }
    p.update(done, total, what);
  }, (text) => process.stdout.write(text));
  if (o.json !== undefined) writeOutput(o.json, '--json', jobJson(r));
  if (o.svg !== undefined && r.specs.length > 0) writeOutput(o.svg, '--svg', await renderSvg(r.specs));
  return r.ok ? 0 : 1;
}

export function calibrateCommand(o: { cpu: string; image?: string }): number {
  const image = readHostImage(o.image ?? DEFAULT_HOST_IMAGE);
  for (const name of profilesOf(o.cpu)) {
    process.stdout.write(formatCalibration(calibrate(image, getProfile(name))) + '\n\n');
  }
  return 0;
}

export function addBenchCommands(program: Command, done: (code: number) => void): void {
  program
    .command('bench')
    .description('time the four host-state designs with a calibrated cycle model (the main job)')
    .option('--cpu <profile>', `cost profile: ${profileNames().join(', ')}, or all`, 'zen3')
    .option('--workload <name>', WORKLOADS.join(', '), 'hlt')
    .option('--designs <list>', `comma-separated, or all (${DESIGNS.join(', ')})`, 'all')
    .option('--iterations <n>', 'KVM_RUN calls per design', '1000')
    .option('--in-kernel <percent>', 'mix: the percentage of exits handled in the kernel')
    .option('--no-fsgsbase', 'boot the host with CR4.FSGSBASE off')
    .option('--no-calibrate', 'use the profile\'s sourced estimates as they are')
    .option('--json <file>', 'write the results as JSON')
    .option('--svg <file>', 'write plots: cycles per KVM_RUN by design and phase, and the break-even plot')
    .option('--sweep <name=lo:hi[:steps]>', 'vary one cost and report where the ranking of the designs changes')
    .option('--uncertainty <draws>', 'draw every constant from its range this many times: rankings as probabilities, intervals per phase, and the sensitivity table')
    .option('--seed <n>', 'seed of the draws', '1')
    .option('--profile <file>', 'a measured cost profile (JSON, as `worldswitch measure` prints it; docs/measure.md), used as it is')
    .option('--image <path>', 'host image (default build/host/host.elf)')
    .option('--cpus <n>', 'CPUs in the machine (the host runs on CPU 0)', '1')
    .option('--migrate <n>', '--host linux with --cpus 2 or more: the VMM moves its thread to the next CPU every n KVM_RUNs (sched_setaffinity)')
    .option('--host <mini|linux>', 'mini: the project\'s small KVM-style host; linux: Debian\'s Linux 6.1 with kvm_amd built per design (npm run linux)', 'mini')
    .option('--linux-dir <dir>', 'where .cache/linux and .cache/kvm are (default: the worldswitch checkout)')
    .action(async (opts: BenchCliOpts, cmd: Command) => { done(await benchCommand(opts, cmd.getOptionValueSource('iterations') !== 'default')); });
  program
    .command('calibrate')
    .description('fit the cycle model to the merged design; show which measurements set constants and which are predicted')
    .option('--cpu <profile>', 'cost profile, or all', 'zen3')
    .option('--image <path>', 'host image (default build/host/host.elf)')
    .action((opts: { cpu: string; image?: string }) => { done(calibrateCommand(opts)); });
}
