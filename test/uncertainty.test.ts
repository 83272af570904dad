/**
 * The cost ledger and traces (the TSC counts the model; a trace evaluates other constants
 * exactly as a run would), the fit as a mechanism, seeded draws, the sensitivity table.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getProfile } from '../src/cost/profiles.js';
import { costVector, dot, LEDGER_SIZE } from '../src/cost/ledger.js';
import { COST_CLASSES } from '../src/cost/profile.js';
import { Machine } from '../src/machine/machine.js';
import { hostCmdline, runHost, type HostOptions } from '../src/lab/hostrun.js';
import { evalPhases, recordTrace, PHASE_KEYS, type Trace } from '../src/lab/trace.js';
import { calibrate, fitParams, fitTrace, withParams } from '../src/lab/calibrate.js';
import { drawOne, evaluate, rng, sensitivity, uncertainty } from '../src/lab/uncertainty.js';
import { profileFromJson } from '../src/cost/profile-file.js';

const ROOT = join(import.meta.dirname, '..');
let image: Uint8Array;

beforeAll(() => {
  execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
  image = readFileSync(join(ROOT, 'build', 'host', 'host.elf'));
});

const opts = (design: string, workload = 'hlt', extra: Partial<HostOptions> = {}): HostOptions =>
  ({ design, workload, iterations: 40, timer: 0, fsgsbase: true, ...extra });

function phasesOf(r: ReturnType<typeof runHost>) {
  return Object.fromEntries(PHASE_KEYS.map((k) => [k, r.phases.get(k)]));
}

describe('cost ledger', () => {
  it('the machine\'s cycle counter is the ledger under the profile\'s costs (whole run, boot included)', () => {
    const p = calibrate(image, getProfile('zen3')).profile;
    const m = new Machine({ onUartByte: () => {} });
    m.cpu.setCostProfile(p);
    const ledger = new Float64Array(LEDGER_SIZE);
    m.cpu.setLedger(ledger);
    m.boot(image, { name: 'host.elf', cmdline: hostCmdline(opts('msr')) });
    m.run(30_000_000);
    expect(m.cpu.cycles).toBeGreaterThan(100_000);
    expect(dot(costVector(p), ledger)).toBe(m.cpu.cycles);
  }, 60_000);
});

describe('traces', () => {
  const traces = new Map<string, Trace>();
  beforeAll(() => {
    for (const [d, w] of [['vmload', 'hlt'], ['wrgsbase', 'hlt'], ['msr', 'mix'], ['vmload', 'mix']] as const) {
      traces.set(`${d}/${w}`, recordTrace(image, opts(d, w, w === 'mix' ? { kexits: 3, uexits: 1, fsgsbase: false } : {})));
    }
  }, 60_000);

  it('evaluate a drawn profile exactly as a run of the host with it does (4 draws, 4 traces)', () => {
    const r = rng(7);
    const fit = traces.get('vmload/hlt')!;
    for (let n = 0; n < 4; n++) {
      const d = drawOne(getProfile('zen3'), r);
      const f = fitParams(fit, d.profile, d.target, d.segSer);
      const p = withParams(d.profile, f.base, f.ws);
      const cost = costVector(p, d.segSer);
      for (const [key, t] of traces) {
        expect(t.ok, key).toBe(true);
        const real = runHost(image, t.options, undefined, p);
        expect(real.ok).toBe(true);
        expect(evalPhases(t, cost), `draw ${n} ${key}`).toEqual(phasesOf(real));
      }
    }
  }, 120_000);

  it('a change of one constant moves exactly the phases that use it, by its count there', () => {
    const p = calibrate(image, getProfile('zen3')).profile;
    const t = traces.get('wrgsbase/hlt')!;
    const vmload = 2 * (COST_CLASSES.indexOf('vmload') + 1);
    const wrgs = 2 * (COST_CLASSES.indexOf('wrfsgsbase') + 1);
    // the steady KVM_RUN: VMLOAD at vcpu_put (post -> exit), WRGSBASE after #VMEXIT (the middle phase)
    const run = t.runs[t.runs.length - 1];
    const used = (idx: number) => ({
      entry_to_vmrun: run.preFirst[idx] - run.entry[idx], vmrun_to_post: run.postLast[idx] - run.preLast[idx],
      post_to_exit: run.exit[idx] - run.postLast[idx], total: run.exit[idx] - run.entry[idx],
    });
    // VMLOAD: the guest's before VMRUN (middle phase) and the host's at vcpu_put
    expect(used(vmload)).toEqual({ entry_to_vmrun: 0, vmrun_to_post: 1, post_to_exit: 1, total: 2 });
    expect(used(wrgs)).toEqual({ entry_to_vmrun: 0, vmrun_to_post: 1, post_to_exit: 0, total: 1 });
    const base = phasesOf(runHost(image, t.options, undefined, p));
    for (const [idx, set] of [[vmload, (q: typeof p) => { q.classes.vmload.cycles += 37; }], [wrgs, (q: typeof p) => { q.classes.wrfsgsbase.cycles += 37; }]] as const) {
      const q = structuredClone(p);
      set(q);
      const moved = phasesOf(runHost(image, t.options, undefined, q));
      const u = used(idx);
      for (const k of PHASE_KEYS) expect(moved[k]!.median - base[k]!.median, `${idx} ${k}`).toBe(37 * u[k]);
    }
  }, 60_000);

  it('the fit recovers the base and world switch that made its targets', () => {
    const t = traces.get('vmload/hlt')!;
    const truth = withParams(getProfile('zen3'), 2.5, 700);
    const ph = evalPhases(t, costVector(truth));
    const f = fitParams(t, getProfile('zen3'), { entry_to_vmrun: ph.entry_to_vmrun.median, vmrun_to_post: ph.vmrun_to_post.median, post_to_exit: ph.post_to_exit.median });
    expect(Math.abs(f.base - 2.5)).toBeLessThanOrEqual(1 / 32);
    expect(Math.abs(f.ws - 700)).toBeLessThanOrEqual(2);
  }, 30_000);
});

describe('uncertainty and sensitivity', () => {
  let fit: Trace;
  const traces = new Map<string, Trace>();
  beforeAll(() => {
    fit = fitTrace(image);
    for (const d of ['vmload', 'wrgsbase']) traces.set(d, recordTrace(image, opts(d)));
  }, 60_000);

  it('draws are seeded and deterministic, and stay in their ranges', () => {
    const p = getProfile('zen3');
    const a = uncertainty(fit, traces, p, 50, 3);
    const b = uncertainty(fit, traces, p, 50, 3);
    const c = uncertainty(fit, traces, p, 50, 4);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const r = rng(5);
    for (let n = 0; n < 200; n++) {
      const d = drawOne(p, r);
      for (const k of COST_CLASSES) {
        const x = d.profile.classes[k];
        expect(x.cycles).toBeGreaterThanOrEqual(p.classes[k].low - 1 / 64);
        expect(x.cycles).toBeLessThanOrEqual(p.classes[k].high + 1 / 64);
        expect(x.cycles * 64).toBe(Math.round(x.cycles * 64));
      }
    }
    const s = a.pairwise.total.vmload.wrgsbase + a.pairwise.total.wrgsbase.vmload;
    expect(s).toBeCloseTo(1, 10);
  }, 60_000);

  it('reports each flip at the value where the order changes', () => {
    const p = getProfile('zen3');
    const flips = sensitivity(fit, traces, p);
    const w = flips.find((f) => f.param === 'wrfsgsbase');
    expect(w).toBeDefined();
    const at = (v: number) => {
      const q = structuredClone(p);
      q.classes.wrfsgsbase.cycles = v;
      const o = evaluate(fit, traces, q).out;
      return Math.sign(o.get('wrgsbase')!.total - o.get('vmload')!.total);
    };
    expect(at(w!.at! - 1)).not.toBe(at(w!.at! + 1));
    expect(at(w!.low)).not.toBe(at(w!.high));
  }, 60_000);
});

describe('profile files', () => {
  it('sets measured constants over a base profile and rejects unknown names', () => {
    const p = profileFromJson(JSON.stringify({ name: 'm', from: 'zen4', costs: { vmload: { cycles: 99, low: 90, high: 110 }, rdmsr: { cycles: 33 } }, segBaseSerializing: true }));
    expect(p.classes.vmload).toMatchObject({ cycles: 99, low: 90, high: 110, confidence: 'H' });
    expect(p.rdmsr.segBase.cycles).toBe(33);
    expect(p.rdmsr.efer.cycles).toBe(33);
    expect(p.wrmsrSegBaseSerializing).toBe(true);
    expect(() => profileFromJson('{"name":"x","costs":{"vmlaod":{"cycles":1}}}')).toThrow(/unknown constant/);
    expect(() => profileFromJson('{"name":"x","costs":{"vmload":{"cycles":5,"low":6}}}')).toThrow(/low/);
  });
});
