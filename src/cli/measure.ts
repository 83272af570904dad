/**
 * `worldswitch measure`: run the measuring kernel on worldswitch under a cost profile, check
 * that it recovers the profile's constants, and write the profile it prints (docs/measure.md).
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { getProfile } from '../cost/profiles.js';
import { calibrate } from '../lab/calibrate.js';
import { checkMeasure, runMeasure } from '../lab/measure.js';
import { DEFAULT_HOST_IMAGE, readHostImage } from './host.js';
import { UserError } from './main.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_MEASURE_IMAGE = join(ROOT, 'build', 'guest', 'measure.elf');

export function measureCommand(o: { cpu: string; calibrate: boolean; image?: string; out?: string }): number {
  const path = o.image ?? DEFAULT_MEASURE_IMAGE;
  if (!existsSync(path)) throw new UserError(`${path} not found: build it with guest/measure/build.sh`);
  let p;
  try { p = getProfile(o.cpu); } catch (e) { throw new UserError(`--cpu: ${(e as Error).message}`); }
  if (o.calibrate && p.name !== 'unit') p = calibrate(readHostImage(DEFAULT_HOST_IMAGE), p).profile;
  const run = runMeasure(readFileSync(path), p);
  if (run.profile === null) throw new UserError(`the measuring kernel printed no profile (${run.status}):\n${run.text.slice(-400)}`);
  const checks = checkMeasure(run, p);
  process.stdout.write(`measure on worldswitch, profile ${p.name}: TSC step ${run.tscStep}\n\n`);
  process.stdout.write(`${'item'.padEnd(30)}${'measured'.padStart(10)}${'profile'.padStart(10)}\n`);
  for (const c of checks) process.stdout.write(`${c.item.padEnd(30)}${String(c.measured).padStart(10)}${String(c.expected).padStart(10)}${c.ok ? '' : '   MISMATCH'}\n`);
  const bad = checks.filter((c) => !c.ok).length;
  process.stdout.write(`\n${checks.length - bad} of ${checks.length} constants recovered within the TSC step\n`);
  if (o.out !== undefined) {
    writeFileSync(o.out, run.profile + '\n');
    process.stdout.write(`profile written to ${o.out} (worldswitch bench --profile ${o.out})\n`);
  }
  return bad === 0 ? 0 : 1;
}

export function addMeasureCommand(program: Command, done: (code: number) => void): void {
  program
    .command('measure')
    .description('run the measuring kernel (build/guest/measure.elf) on worldswitch; it must recover the profile\'s constants (docs/measure.md)')
    .option('--cpu <profile>', 'the cost profile worldswitch runs it under', 'zen3')
    .option('--no-calibrate', 'the profile as it is, without fitting base and world switch')
    .option('--image <path>', 'the measuring kernel')
    .option('--out <file>', 'write the profile it prints (JSON, for bench --profile)')
    .action((opts: { cpu: string; calibrate: boolean; image?: string; out?: string }) => { done(measureCommand(opts)); });
}
