/**
 * The bench: calibrated profiles, the per-phase table with counts per KVM_RUN, sweeps, JSON and
 * SVG output, determinism.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getProfile } from '../src/cost/profiles.js';
import { calibrate } from '../src/lab/calibrate.js';
import { runBench } from '../src/lab/bench.js';
import { parseSweep, sweep } from '../src/lab/sweep.js';

const ROOT = join(import.meta.dirname, '..');
const IMAGE = join(ROOT, 'build', 'host', 'host.elf');
const BIN = join(ROOT, 'bin', 'worldswitch.js');
let image: Uint8Array;

beforeAll(() => {
  execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
  image = readFileSync(IMAGE);
});

describe('calibration', () => {
  it('fits base and world switch on the merged design only; the rows say what set what', () => {
    const c = calibrate(image, getProfile('zen3'));
    expect(c.profile.base.confidence).toBe('fitted');
    expect(c.profile.classes.vmrun.confidence).toBe('fitted');
    expect(c.profile.base.cycles * 64).toBe(Math.round(c.profile.base.cycles * 64));
    // fitted rows are the merged design's; the totals that set the MSR constants are not predictions
    for (const r of c.rows.filter((x) => x.role === 'fit')) expect(r.what.startsWith('vmload (v2)'), r.what).toBe(true);
    for (const what of ['msr (before the patch): total', 'vmsave-v1 (the first patch): total', 'reduction msr -> vmsave-v1, %']) {
      expect(c.rows.find((v) => v.what === what)?.role, what).toBe('set');
    }
    for (const r of c.rows.filter((x) => x.role === 'predicted')) expect(r.what.startsWith('wrgsbase'), r.what).toBe(true);
    // the predictions are what the fitted model gives, whatever their error
    const again = runBench(image, { profile: c.profile, workload: 'hlt', designs: ['wrgsbase'], iterations: 100, fsgsbase: true })[0];
    expect(c.rows.find((v) => v.what === 'wrgsbase: total')!.predicted).toBe(again.phases.get('total')!.median);
  }, 60_000);
});

describe('bench', () => {
  it('times the five designs: msr slowest, every check passing, deterministic', () => {
    const profile = calibrate(image, getProfile('zen3')).profile;
    const spec = { profile, workload: 'hlt', designs: ['msr', 'vmsave-v1', 'vmload', 'vmload-notss', 'wrgsbase'], iterations: 200, fsgsbase: true };
    const a = runBench(image, spec);
    const b = runBench(image, spec);
    expect(a.every((r) => r.ok)).toBe(true);
    const total = (r: typeof a[number]) => r.phases.get('total')!.median;
    expect(total(a[0])).toBeGreaterThan(Math.max(...a.slice(1).map(total)));
    expect(a.map(total)).toEqual(b.map(total));
    // per KVM_RUN counts: the msr design does the most MSR accesses; each design one VM exit
    expect(a[0].msrAccesses).toBeGreaterThan(a[2].msrAccesses);
    for (const r of a) expect(r.exits).toBe(1);
    // per exit reason: one HLT per KVM_RUN
    for (const r of a) expect(r.exitReasons.map((e) => [e.name, e.perRun])).toEqual([['hlt', 1]]);
    // vmload-notss is vmload without reload_tss: one LTR (serializing) fewer per KVM_RUN
    expect(a[2].serializing - a[3].serializing).toBe(1);
    // (reload_tss: two busy-bit clears, one per CPU's GDT, MOV, LTR, RET)
    expect(a[2].instructions - a[3].instructions).toBe(5);
  }, 60_000);

  it('makes WRMSR to the segment bases cheaper on zen4 than zen3 (non-serializing)', () => {
    const spec = (p: string) => ({ profile: getProfile(p), workload: 'hlt', designs: ['msr'], iterations: 50, fsgsbase: true });
    const z3 = runBench(image, spec('zen3'))[0].phases.get('total')!.median;
    const z4 = runBench(image, spec('zen4'))[0].phases.get('total')!.median;
    expect(z4).toBeLessThan(z3);
  }, 60_000);

  it('finds where a sweep changes the ranking', () => {
    const s = parseSweep('vmload=0:400:5');
    const r = sweep(image, getProfile('zen3'), s.param, s.lo, s.hi, s.steps, ['vmsave-v1', 'vmload'], 'mix', false);
    expect(r.points[0].ranking[0]).toBe('vmload');
    expect(r.points[r.points.length - 1].ranking[0]).toBe('vmsave-v1');
    expect(r.changes.length).toBe(1);
    expect(() => parseSweep('bogus=1:2')).toThrow(/unknown cost/);
    // with draws: the share of draws each design is fastest in, summing to 1 at every value
    const u = sweep(image, getProfile('zen3'), s.param, s.lo, s.hi, 3, ['vmsave-v1', 'vmload'], 'mix', false, undefined, undefined, { draws: 20, seed: 2 });
    for (const p of u.points) expect(Object.values(p.fastest!).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
  }, 60_000);
});

describe('worldswitch bench', () => {
  it('runs on its defaults and writes JSON and SVG', () => {
    const out = join(ROOT, 'build', 'bench-test');
    mkdirSync(out, { recursive: true });
    const r = spawnSync(process.execPath, [BIN, 'bench', '--iterations', '100', '--json', join(out, 'b.json'), '--svg', join(out, 'b.svg')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ioctl entry -> pre-VMRUN/);
    expect(r.stdout).toMatch(/difference from vmload/);
    const j = JSON.parse(readFileSync(join(out, 'b.json'), 'utf8'));
    expect(j.designs.length).toBe(5);
    expect(readFileSync(join(out, 'b.svg'), 'utf8')).toMatch(/^<svg/);
  }, 120_000);

  it('--uncertainty prints probabilities and the sensitivity table; seeded', () => {
    const run = () => spawnSync(process.execPath, [BIN, 'bench', '--iterations', '50', '--uncertainty', '100', '--seed', '9', '--designs', 'vmload,wrgsbase'], { encoding: 'utf8', timeout: 120_000 });
    const a = run();
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/uncertainty: 100 draws \(seed 9\)/);
    expect(a.stdout).toMatch(/total: (vmload < wrgsbase|wrgsbase < vmload) in \d+%/);
    expect(a.stdout).toMatch(/^sensitivity/m);
    expect(run().stdout).toBe(a.stdout);
  }, 120_000);

  it('answers bad options with one line', () => {
    for (const args of [['--cpu', 'zen9'], ['--sweep', 'x'], ['--designs', 'nope'], ['--in-kernel', '50'], ['--uncertainty', '0'], ['--profile', '/nonexistent.json']]) {
      const r = spawnSync(process.execPath, [BIN, 'bench', ...args], { encoding: 'utf8' });
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n').length).toBe(1);
    }
  });
});
