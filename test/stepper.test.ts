// The world-switch stepper (src/lab/stepper.ts, the lab's third view): one KVM_RUN as a timeline
// of host state, each value labelled with whose it is, and events placed on a boundary through
// the verifier's replay. Also the sweep plot the bench job makes (src/lab/plot.ts sweepSpec).

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { getProfile } from '../src/cost/profiles.js';
import { runBenchJob } from '../src/lab/benchjob.js';
import { readSymbols, type SymbolTable } from '../src/lab/symbols.js';
import { STEP_COLUMNS, Stepper, type Timeline } from '../src/lab/stepper.js';

const ROOT = join(import.meta.dirname, '..');
const IMAGE = join(ROOT, 'build', 'host', 'host.elf');

let image: Uint8Array;
let syms: SymbolTable;

beforeAll(() => {
  if (spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0) execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
  image = new Uint8Array(readFileSync(IMAGE));
  syms = readSymbols(image);
}, 120_000);

const col = (name: (typeof STEP_COLUMNS)[number]) => STEP_COLUMNS.indexOf(name);

/** host ring-0 rows where a column holds the guest's value */
function guestLive(t: Timeline, name: (typeof STEP_COLUMNS)[number]): number {
  return t.rows.filter((r) => r.mode === 'host ring 0' && r.owners[col(name)] === 'guest').length;
}

describe('the world-switch stepper', () => {
  it('shows one KVM_RUN from the system call entry to the VMM, with the owners of the host state', () => {
    const s = new Stepper(image, syms, 'vmload', 'hlt');
    const t = s.timeline(getProfile('zen3'));
    expect(t.complete).toBe(true);
    expect(t.rows[0].where).toBe('syscall_entry');
    expect(t.rows[0].insn).toBe('swapgs');
    expect(t.rows[t.rows.length - 1].mode).toBe('host ring 3');
    // before SWAPGS the VMM's GS base is live and the kernel's per-cpu base waits in KERNEL_GS_BASE; after it, the reverse
    expect(t.rows[0].owners[col('GS base')]).toBe('user');
    expect(t.rows[0].owners[col('KERNEL_GS_BASE')]).toBe('host');
    expect(t.rows[1].owners[col('GS base')]).toBe('host');
    expect(t.rows[1].owners[col('KERNEL_GS_BASE')]).toBe('user');
    // the guest runs, and GIF is 0 around VMRUN
    const vmrun = t.rows.findIndex((r) => r.insn === 'vmrun');
    expect(vmrun).toBeGreaterThan(0);
    expect(t.rows[vmrun + 1].mode).toBe('guest');
    expect(t.rows[vmrun].values[col('GIF')]).toBe('0');
    // vmload: the guest's state is live in the host only between its VMLOAD and the host's (GIF = 0 all along)
    const live = t.rows.filter((r) => r.mode === 'host ring 0' && r.owners[col('LSTAR')] === 'guest');
    expect(live.length).toBeGreaterThan(0);
    expect(live.every((r) => r.values[col('GIF')] === '0')).toBe(true);
    // every instruction has a cost under the profile, and the window adds up
    expect(t.rows.slice(0, -1).every((r) => r.cycles > 0)).toBe(true);
    expect(Math.abs(t.rows.reduce((n, r) => n + r.cycles, 0) - t.cycles)).toBeLessThan(1e-6);
  }, 60_000);

  it('msr keeps the guest SYSCALL MSRs live across far more host code than vmload', () => {
    const msr = new Stepper(image, syms, 'msr', 'hlt').timeline(null);
    const vmload = new Stepper(image, syms, 'vmload', 'hlt').timeline(null);
    expect(guestLive(msr, 'LSTAR')).toBeGreaterThan(5 * guestLive(vmload, 'LSTAR'));
    // and with GIF = 1: an NMI can arrive there
    expect(msr.rows.some((r) => r.mode === 'host ring 0' && r.owners[col('LSTAR')] === 'guest' && r.values[col('GIF')] === '1')).toBe(true);
  }, 60_000);

  it('an NMI held by GIF = 0 is taken after STGI: harmless on vmload, caught on broken-stgi', () => {
    for (const [design, broken] of [['vmload', false], ['broken-stgi', true]] as const) {
      const s = new Stepper(image, syms, design, 'hlt');
      const t = s.timeline(null);
      const guest = t.rows.findIndex((r) => r.mode === 'guest');
      const stgi = t.rows.findIndex((r, k) => k > guest && r.insn === 'stgi');
      // the boundary right after the guest's #VMEXIT, GIF = 0
      const at = t.rows[guest + 1];
      expect(at.values[col('GIF')]).toBe('0');
      const o = s.inject(at.b, 'nmi');
      expect(o.held).toMatch(/GIF = 0/);
      expect(o.delivered).toBe(true);
      expect(o.deliveries[0].what).toBe('NMI');
      expect(o.deliveries[0].b).toBe(t.rows[stgi + 1].b);
      if (broken) expect(o.violations.map((v) => v.invariant)).toContain('entry-gs');
      else expect(o.violations).toEqual([]);
    }
  }, 60_000);

  it('refuses a boundary outside the window', () => {
    const s = new Stepper(image, syms, 'vmload', 'hlt');
    expect(() => s.inject(-1, 'nmi')).toThrow(/outside the window/);
    expect(() => s.inject(1e9, 'intr')).toThrow(/outside the window/);
  }, 60_000);
});

describe('the bench job', () => {
  it('plots a sweep with a rule where the ranking changes', () => {
    const r = runBenchJob(image, {
      profiles: ['zen3'], workload: 'mix', designs: ['vmsave-v1', 'vmload'], iterations: 50, fsgsbase: false, calibrate: true,
      sweep: { param: 'vmload', lo: 0, hi: 400, steps: 6 }, draws: 0, seed: 1, plots: true,
    });
    const sw = r.entries[0].sweep as { changes: unknown[]; points: unknown[] };
    expect(sw.points).toHaveLength(6);
    expect(sw.changes).toHaveLength(1);
    expect(r.specs).toHaveLength(1);
    const layers = (r.specs[0] as { layer: { data: { values: unknown[] } }[] }).layer;
    expect(layers[0].data.values).toHaveLength(12);
    expect(layers[1].data.values).toHaveLength(sw.changes.length);
    expect(r.text.join('')).toContain('sweep of vmload');
  }, 120_000);
});
