/**
 * `worldswitch bench --host linux`: the designs on Linux's own kvm_amd (src/lab/linuxbench.ts).
 * The cost profile is used as it is (no calibration: that fits the mini host's instruction
 * streams); its fitted entries are named in the output.
 */

import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { getProfile } from '../cost/profiles.js';
import { phaseSpec, renderSvg } from '../lab/plot.js';
import { LINUX_DESIGNS, LINUX_WORKLOADS, formatLinuxBench, linuxBenchJson, type LinuxBenchSpec } from '../lab/linuxbench.js';
import { linuxHostFiles, missingLinuxHost, runLinuxBench } from '../lab/linuxbench-files.js';
import { checkOutputPath, writeOutput } from './files.js';
import { UserError } from './main.js';
import { Progress } from './progress.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WORKLOADS: readonly string[] = LINUX_WORKLOADS;

export interface LinuxBenchCliOpts {
  cpu: string;
  workload: string;
  designs: string;
  iterations: string;
  json?: string;
  svg?: string;
  linuxDir?: string;
  uncertainty?: string;
  seed: string;
  fsgsbase?: boolean;
  cpus?: string;
  migrate?: string;
}

export async function benchLinuxCommand(o: LinuxBenchCliOpts, iterationsGiven: boolean): Promise<number> {
  if (!WORKLOADS.includes(o.workload)) throw new UserError(`--workload: unknown '${o.workload}' (one of ${WORKLOADS.join(', ')})`);
  const files = linuxHostFiles(o.linuxDir ?? ROOT);
  const known = (d: string) => /^[a-z0-9][a-z0-9._-]*$/.test(d);
  const designs = o.designs === 'all' ? [...LINUX_DESIGNS] : o.designs.split(',');
  for (const d of designs) if (!known(d)) throw new UserError(`--designs: bad name '${d}'`);
  const missing = missingLinuxHost(files, designs);
  if (missing !== null) throw new UserError(`--host linux: ${missing}`);
  const iterations = iterationsGiven ? Number(o.iterations) : 100;
  if (!Number.isInteger(iterations) || iterations < 4 || iterations > 100000) throw new UserError('--iterations: an integer from 4 to 100000 with --host linux');
  if (o.json !== undefined) checkOutputPath(o.json, '--json');
  if (o.svg !== undefined) checkOutputPath(o.svg, '--svg');
  let profile;
  try { profile = getProfile(o.cpu); } catch (e) { throw new UserError(`--cpu: ${(e as Error).message}`); }
  const draws = o.uncertainty === undefined ? 0 : Number(o.uncertainty);
  if (!Number.isInteger(draws) || draws < 0 || draws > 1_000_000) throw new UserError('--uncertainty: an integer from 1 to 1000000');
  const seed = Number(o.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new UserError('--seed: a non-negative integer');
  const cpus = Number(o.cpus ?? '1');
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 8) throw new UserError('--cpus: an integer from 1 to 8');
  const migrate = o.migrate === undefined ? 0 : Number(o.migrate);
  if (!Number.isInteger(migrate) || migrate < 0 || migrate > 100000) throw new UserError('--migrate: an integer from 0 to 100000');
  if (migrate > 0 && cpus < 2) throw new UserError('--migrate needs --cpus 2 or more');
  const spec: LinuxBenchSpec = { profile, workload: o.workload, designs, iterations, draws, seed, fsgsbase: o.fsgsbase !== false, cpus, migrate };
  const prog = new Progress('bench --host linux');
  const b = runLinuxBench(files, spec, (d, t, what) => prog.update(d, t, what));
  process.stdout.write(formatLinuxBench(spec, b) + '\n');
  if (o.json !== undefined) {
    writeOutput(o.json, '--json', JSON.stringify(linuxBenchJson(spec, b), null, 2) + '\n');
  }
  if (o.svg !== undefined) writeOutput(o.svg, '--svg', await renderSvg([phaseSpec(`${profile.name}, real host`, o.workload, b.results)]));
  return b.results.every((r) => r.ok) ? 0 : 1;
}
