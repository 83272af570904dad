/**
 * The measuring kernel (guest/measure/measure.c): on worldswitch it must recover the active
 * profile's own constants within the TSC step, whatever they are; on QEMU TCG it must run and
 * print a profile bench can read (its numbers mean nothing there).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getProfile } from '../src/cost/profiles.js';
import { calibrate } from '../src/lab/calibrate.js';
import { checkMeasure, parseMeasure, runMeasure } from '../src/lab/measure.js';
import { profileFromJson } from '../src/cost/profile-file.js';
import { CI, QEMU, haveQemu, runQemu } from './kernel-harness.js';

const ROOT = join(import.meta.dirname, '..');
const IMAGE = join(ROOT, 'build', 'guest', 'measure.elf');
const BIN = join(ROOT, 'bin', 'worldswitch.js');
let image: Uint8Array;

beforeAll(() => {
  execFileSync('bash', [join(ROOT, 'guest', 'measure', 'build.sh')], { stdio: 'pipe' });
  execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
  image = readFileSync(IMAGE);
}, 120_000);

describe('measure on worldswitch', () => {
  it('recovers the constants of the calibrated zen3, zen4 and unit profiles', () => {
    const z3 = calibrate(readFileSync(join(ROOT, 'build', 'host', 'host.elf')), getProfile('zen3')).profile;
    for (const p of [z3, getProfile('zen4'), getProfile('unit')]) {
      const r = runMeasure(image, p);
      expect(r.status, p.name).toBe('exit 3');   // the runtime's "all passed" (debug-exit value 1)
      expect(r.tscStep, p.name).toBe(1);
      const checks = checkMeasure(r, p);
      expect(checks.length).toBeGreaterThanOrEqual(37);
      for (const c of checks) expect(c.ok, `${p.name} ${c.item}: measured ${c.measured}, profile ${c.expected}`).toBe(true);
    }
  }, 120_000);

  it('follows a profile with odd constants (nothing is hard-coded)', () => {
    const p = getProfile('zen3');
    p.classes.vmload.cycles = 123;
    p.classes.vmsave.cycles = 77;
    p.classes.descTable.cycles = 31;
    p.serializing.cycles = 17;
    p.wrmsr.segBase.cycles = 201;
    p.rdmsr.syscall.cycles = 9;
    p.classes.vmrun.cycles = 300;
    p.classes.vmexit.cycles = 411;
    const r = runMeasure(image, p);
    const by = new Map(checkMeasure(r, p).map((c) => [c.item, c]));
    expect(by.get('vmload')!.measured).toBe(123);
    expect(by.get('vmsave')!.measured).toBe(77);
    expect(by.get('ltr')!.measured).toBe(31 + 17);
    expect(by.get('wrmsr_gs_base')!.measured).toBe(1 + 201 + 17);
    expect(by.get('rdmsr_lstar')!.measured).toBe(1 + 9);
    expect(by.get('vmrun_vmexit')!.measured).toBe(711);
    for (const c of by.values()) expect(c.ok, c.item).toBe(true);
    // the profile it prints charges every measured instruction what the machine did
    const q = profileFromJson(r.profile!);
    const again = checkMeasure(runMeasure(image, q), q);
    for (const c of again) expect(c.ok, `re-measured ${c.item}`).toBe(true);
  }, 120_000);

  it('worldswitch measure writes a profile that bench --profile runs', () => {
    const out = join(ROOT, 'build', 'measure-test');
    mkdirSync(out, { recursive: true });
    const file = join(out, 'm.json');
    const m = spawnSync(process.execPath, [BIN, 'measure', '--out', file], { encoding: 'utf8', timeout: 120_000 });
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/(\d+) of \1 constants recovered within the TSC step/);
    const b = spawnSync(process.execPath, [BIN, 'bench', '--profile', file, '--iterations', '50', '--designs', 'vmload,wrgsbase'], { encoding: 'utf8', timeout: 120_000 });
    expect(b.status, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/^profile measured, workload hlt/m);
    writeFileSync(join(out, 'bad.json'), '{"name":"x","costs":{"nope":{"cycles":1}}}');
    const bad = spawnSync(process.execPath, [BIN, 'bench', '--profile', join(out, 'bad.json')], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown constant 'nope'/);
  }, 240_000);
});

describe.skipIf(!haveQemu && !CI)(`measure on QEMU TCG${haveQemu ? '' : ` (${QEMU} not installed)`}`, () => {
  it('runs and prints a profile bench can read', () => {
    const r = runQemu(IMAGE);
    expect(r.lines.get('measure_all')?.status, r.text.slice(-500)).toBe('PASS');
    const m = parseMeasure(r.text);
    for (const item of ['vmrun_vmexit', 'vmload', 'vmsave', 'clgi', 'stgi', 'rdmsr_gs_base', 'wrmsr_gs_base', 'swapgs', 'ltr', 'lldt', 'mov_ds', 'lfence', 'rdtsc']) {
      expect(m.items.has(item), item).toBe(true);
    }
    expect(m.tscStep).toBeGreaterThan(0);
    const p = profileFromJson(m.profile!);
    expect(p.classes.vmload.confidence).toBe('H');
  }, 120_000);
});
