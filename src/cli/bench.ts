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
import { runBench, formatBench, type BenchSpec, type DesignResult } from '../lab/bench.js';
import { calibrate, formatCalibration, type Calibration } from '../lab/calibrate.js';
import { breakEvenSpec, phaseSpec, renderSvg, type BreakEvenPoint } from '../lab/plot.js';
import { formatSweep, parseSweep, sweep, sweepTraces, type SweepResult } from '../lab/sweep.js';
import { formatSensitivity, formatUncertainty, sensitivity, uncertainty } from '../lab/uncertainty.js';
import { profileFromJson } from '../cost/profile-file.js';
import { runHost, DESIGNS, WORKLOADS } from '../lab/hostrun.js';
import { DEFAULT_HOST_IMAGE, mixGroup, readHostImage } from './host.js';
import { parseCpus } from './run.js';
import { UserError } from './main.js';
import { Progress } from './progress.js';

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
  cpus?: string;
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

/** the profile to run: calibrated (fitted base and world switch) unless asked not to */
function prepare(image: Uint8Array, name: string, doCalibrate: boolean, file?: CostProfile): { profile: CostProfile; cal: Calibration | null } {
  if (file !== undefined) return { profile: file, cal: null };
  const p = getProfile(name);
  if (!doCalibrate || name === 'unit') return { profile: p, cal: null };
  const cal = calibrate(image, p);
  return { profile: cal.profile, cal };
}

function phasesJson(r: DesignResult) {
  return { ...r, phases: Object.fromEntries(r.phases) };
}

export async function benchCommand(o: BenchCliOpts): Promise<number> {
  const profiles = profilesOf(o.cpu);
  if (!(WORKLOADS as readonly string[]).includes(o.workload)) throw new UserError(`--workload: unknown '${o.workload}' (one of ${WORKLOADS.join(', ')})`);
  const designs = o.designs === 'all' ? [...DESIGNS] : o.designs.split(',');
  for (const d of designs) if (!(DESIGNS as readonly string[]).includes(d)) throw new UserError(`--designs: unknown '${d}' (one of ${DESIGNS.join(', ')}, all)`);
  const iterations = intArg(o.iterations, '--iterations', 1, 50000);
  let kexits: number | undefined;
  let uexits: number | undefined;
  if (o.inKernel !== undefined) {
    if (o.workload !== 'mix') throw new UserError('--in-kernel applies to --workload mix only');
    ({ kexits, uexits } = mixGroup(intArg(o.inKernel, '--in-kernel', 0, 99)));
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
  const json: Record<string, unknown>[] = [];
  const svgSpecs: object[] = [];
  let ok = true;

  for (const name of fileProfile !== undefined ? [fileProfile.name] : profiles) {
    const { profile, cal } = prepare(image, name, o.calibrate, fileProfile);
    const spec: BenchSpec = { profile, workload: o.workload, designs, iterations, kexits, uexits, fsgsbase: o.fsgsbase, cpus: parseCpus(o.cpus ?? '1') };
    const entry: Record<string, unknown> = { profile: name, workload: o.workload, iterations, fsgsbase: o.fsgsbase };
    if (cal !== null) {
      process.stdout.write(`${name}: calibrated on the merged design's phases (576 / 1368 / 584): base ${cal.base} cycles per instruction, world switch ${cal.worldSwitch} cycles\n`);
      entry.calibration = { base: cal.base, worldSwitch: cal.worldSwitch, rows: cal.rows };
    }
    if (fileProfile !== undefined) process.stdout.write(`${name}: measured profile from ${o.profile}, used as measured (not calibrated)\n`);
    if (sw !== null) {
      const prog = new Progress(`sweep ${sw.param} (${name})`);
      const r: SweepResult = sweep(image, profile, sw.param, sw.lo, sw.hi, sw.steps, designs, o.workload, o.fsgsbase, (d, t) => prog.update(d, t), { kexits, uexits }, { draws, seed });
      process.stdout.write(formatSweep(r) + '\n\n');
      entry.sweep = r;
      json.push(entry);
      continue;
    }
    const prog = new Progress(`bench ${name}`);
    const results = runBench(image, spec, (d, t, what) => prog.update(d, t, what));
    process.stdout.write(formatBench(spec, results) + '\n\n');
    ok &&= results.every((r) => r.ok);
    entry.designs = results.map(phasesJson);
    if (draws > 0) {
      const { fit, traces } = sweepTraces(image, designs, o.workload, o.fsgsbase, { kexits, uexits }, Math.min(iterations, 200));
      const u = uncertainty(fit, traces, profile, draws, seed);
      const f = sensitivity(fit, traces, profile);
      process.stdout.write(formatUncertainty(u, name, o.workload) + '\n\n' + formatSensitivity(f, name, o.workload) + '\n\n');
      entry.uncertainty = u;
      entry.sensitivity = f;
    }
    if (o.svg !== undefined) {
      svgSpecs.push(phaseSpec(name, o.workload, results));
      const points: BreakEvenPoint[] = [];
      const fractions = [0, 25, 50, 75, 90];
      const bp = new Progress(`break-even ${name}`);
      let done = 0;
      for (const d of designs) {
        for (const f of fractions) {
          const g = mixGroup(f);
          const r = runHost(image, { design: d, workload: 'mix', iterations: 100, kexits: g.kexits, uexits: g.uexits, timer: 0, fsgsbase: o.fsgsbase }, undefined, profile);
          const exitsPerRun = g.kexits + g.uexits > 0 ? (g.kexits + g.uexits) / g.uexits : 1;
          points.push({ design: d, inKernel: f, cyclesPerExit: Math.round((r.phases.get('total')?.median ?? 0) / exitsPerRun) });
          bp.update(++done, designs.length * fractions.length);
        }
      }
      svgSpecs.push(breakEvenSpec(name, points));
      entry.breakEven = points;
    }
    json.push(entry);
  }
  if (o.json !== undefined) writeOutput(o.json, '--json', JSON.stringify(json.length === 1 ? json[0] : json, null, 2) + '\n');
  if (o.svg !== undefined && svgSpecs.length > 0) writeOutput(o.svg, '--svg', await renderSvg(svgSpecs));
  return ok ? 0 : 1;
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
    .action(async (opts: BenchCliOpts) => { done(await benchCommand(opts)); });
  program
    .command('calibrate')
    .description('fit the cycle model to the merged design; show which measurements set constants and which are predicted')
    .option('--cpu <profile>', 'cost profile, or all', 'zen3')
    .option('--image <path>', 'host image (default build/host/host.elf)')
    .action((opts: { cpu: string; image?: string }) => { done(calibrateCommand(opts)); });
}
