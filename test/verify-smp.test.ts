// verify across CPUs (issue 14 item 3, issue 15 item 4): with two CPUs and the VMM migrating every
// KVM_RUN, the recorded window holds vcpu_put on one CPU and vcpu_load on the other; each
// boundary belongs to a CPU, events are raised on that CPU and the invariants use that CPU's
// per-cpu base, TSS and stacks. The migration mutants pass on one CPU and are caught with
// migration. And NMI IPIs from the idle CPU (nmiipi=N) landing all over the world switch: the
// five designs pass the host's NMI checks, TR- and STGI-ordering mutants do not.
//
// gcc and binutils build the image (as in verify.test.ts).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DESIGNS, runHost } from '../src/lab/hostrun.js';
import { readSymbols, type SymbolTable } from '../src/lab/symbols.js';
import { Injector, runUnit } from '../src/lab/verify-inject.js';
import { EVENT_KINDS } from '../src/lab/verify-invariants.js';
import { findMutant, MIGRATION_MUTANTS, MUTANTS } from '../src/lab/verify-mutants.js';
import { Mode } from '../src/lab/verify-path.js';
import { verdicts } from '../src/lab/verify-report.js';
import { unitJobs } from '../src/lab/verify-jobs.js';

const ROOT = join(import.meta.dirname, '..');
let image: Uint8Array;
let syms: SymbolTable;

beforeAll(() => {
  execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
  image = readFileSync(join(ROOT, 'build', 'host', 'host.elf'));
  syms = readSymbols(image);
}, 120_000);

const spec = (design: string, migrate = 1) => ({ design, workload: 'hlt', fsgsbase: true, cpus: 2, migrate });

describe('verify with the vcpu migrating between two CPUs', () => {
  it('records boundaries of both CPUs, two migrations, and replays vmload clean with every event kind', () => {
    const r = runUnit(image, syms, spec('vmload'), EVENT_KINDS, { stride: 7 });
    expect(r.error).toBeUndefined();
    expect(r.complete).toBe(true);
    expect(r.migrations).toBe(2); // CPU 0 -> 1 before the second KVM_RUN, 1 -> 0 before the third
    expect(r.reference).toEqual([]);
    const [c0, c1] = r.perCpu!;
    // KVM_RUNs 1 and 3 on CPU 0, KVM_RUN 2 on CPU 1: both CPUs run host code and get events
    expect(c0.inRun).toBeGreaterThan(c1.inRun);
    expect(c1.inRun).toBeGreaterThan(300);
    expect(c1.tried).toBeGreaterThan(0);
    expect(c0.tried + c1.tried).toBe(r.kinds.reduce((n, k) => n + k.tried, 0));
    expect(c0.boundaries + c1.boundaries).toBe(r.boundaries);
    // both CPUs leave (SYS_MIGRATE to the idle loop) and arrive (idle loop to SYSRET) once
    expect(c0.handover).toBeGreaterThan(100);
    expect(c1.handover).toBeGreaterThan(100);
    for (const k of r.kinds) {
      expect(k.violating, `${k.kind}: ${JSON.stringify(k.first)}`).toBe(0);
      expect(k.undelivered, k.kind).toBe(0);
      // an interrupt raised on the leaving CPU after its CLI waits in its idle loop; an NMI never does
      if (k.kind === 'nmi') expect(k.heldIdle ?? 0).toBe(0);
      else expect(k.heldIdle).toBeGreaterThan(0);
    }
  }, 120_000);

  it('raises the event on the boundary\'s CPU and replays deterministically there', () => {
    const inj = new Injector(image, syms, spec('wrgsbase'));
    inj.reference(false);
    const { path, checker, m } = inj.unit;
    expect(path.cpu).toBeDefined();
    // a boundary of CPU 1 in the guest and one in the host with GIF = 0 after its #VMEXIT
    let guest = -1;
    let gif0 = -1;
    for (let b = 0; b < path.n; b++) {
      if (path.cpu![b] !== 1 || path.inRun[b] === 0) continue;
      if (guest < 0 && (path.mode[b] & Mode.Guest) !== 0) guest = b;
      if (guest >= 0 && gif0 < 0 && (path.mode[b] & (Mode.Guest | Mode.Gif)) === 0) gif0 = b;
    }
    expect(guest).toBeGreaterThan(0);
    expect(gif0).toBeGreaterThan(guest);
    for (const b of [guest, gif0]) {
      const a = inj.replay(b, 'both', false);
      expect(a.violations).toEqual([]);
      expect(a.delivered).toBe(true);
      expect(inj.replay(b, 'both', false)).toEqual(a);
    }
    // the NMI raised at the GIF = 0 boundary of CPU 1 is taken on CPU 1, right after its STGI
    const t = inj.replay(gif0, 'nmi', true);
    expect(t.violations).toEqual([]);
    const tr = checker.trace!;
    const at = tr.findIndex((e) => e.note?.startsWith('NMI delivered') === true);
    expect(tr[at].cpu).toBe(1);
    const before = tr.slice(0, at).filter((e) => e.cpu === 1 && e.note === undefined);
    expect(inj.unit.describe.insnAt(before[before.length - 1].rip, 64)).toBe('stgi');
    expect(m.cpus.length).toBe(2);
  }, 120_000);

  it('keeps one-CPU figures: --cpus 2 without migration records what one CPU does', () => {
    const one = runUnit(image, syms, { design: 'vmload', workload: 'hlt', fsgsbase: true }, ['nmi'], { stride: 9 });
    const two = runUnit(image, syms, { design: 'vmload', workload: 'hlt', fsgsbase: true, cpus: 2 }, ['nmi'], { stride: 9 });
    expect([two.boundaries, two.instructions, two.replays, two.kinds[0].tried]).toEqual([one.boundaries, one.instructions, one.replays, one.kinds[0].tried]);
    expect(one.perCpu).toBeUndefined();
    expect(two.migrations).toBe(0);
  }, 120_000);

  it('refuses a window without a migration', () => {
    const r = runUnit.bind(null, image, syms, spec('vmload', 5), ['nmi'], { stride: 50 });
    expect(r).toThrow(/no vcpu migration/);
  }, 60_000);

  for (const name of MIGRATION_MUTANTS.map((x) => x.name)) {
    it(`catches ${name} with migration; on one CPU it is clean`, () => {
      const mutant = findMutant(name)!;
      const alone = runUnit(image, syms, { design: name, workload: 'hlt', fsgsbase: true }, ['nmi'], { stride: 8 });
      expect(alone.reference).toEqual([]);
      expect(alone.kinds[0].violating).toBe(0);
      const r = runUnit(image, syms, spec(name), ['nmi'], { stride: 8 });
      expect(r.error).toBeUndefined();
      const v = verdicts([r])[0];
      expect(v.ok, v.summary).toBe(true);
      // seen on CPU 1 (the vcpu's second CPU), by an invariant the suite expects
      const seen = [...r.reference, ...(r.kinds[0].first?.violations ?? [])];
      expect(seen.some((x) => x.cpu === 1 && mutant.caughtBy.includes(x.invariant)), JSON.stringify(seen.slice(0, 3))).toBe(true);
      if (r.kinds[0].first !== undefined) expect(r.kinds[0].first.cpu).toBe(1);
    }, 120_000);
  }

  it('sees vmload-hsave-msr-first, which the host\'s own checks pass with migration, by host-save', () => {
    const host = runHost(image, { design: 'vmload-hsave-msr-first', workload: 'mix', iterations: 30, cpus: 2, migrate: 1, nmi: 3 });
    expect(host.ok, host.status).toBe(true);
    const r = runUnit(image, syms, spec('vmload-hsave-msr-first'), ['nmi'], { stride: 8 });
    expect(r.reference.map((v) => `${v.invariant} ${v.check} ${v.cpu}`)).toContain('host-save VMRUN on CPU 1 1');
  }, 120_000);

  it('puts the migration mutants in the suite only when the vcpu migrates', () => {
    for (const x of MIGRATION_MUTANTS) expect(MUTANTS.map((y) => y.name)).not.toContain(x.name);
    const jobs = unitJobs({ designs: ['vmload'], workloads: ['hlt'], kinds: ['nmi'], fsgsbase: true, cpus: 2, migrate: 3 });
    expect(jobs[0].spec.migrate).toBe(3);
    expect(unitJobs({ designs: ['vmload'], workloads: ['hlt'], kinds: ['nmi'], fsgsbase: true })[0].spec.migrate).toBeUndefined();
  });
});

describe('NMI IPIs from the other CPU during the world switch (nmiipi=N)', () => {
  const o = { workload: 'mix', iterations: 120, cpus: 2, nmiipi: 40, quantum: 97 };

  it('the five designs pass the host\'s NMI checks (GS base, TSS, per-cpu count), FSGSBASE on and off', () => {
    for (const design of DESIGNS) {
      for (const fsgsbase of [true, false]) {
        const r = runHost(image, { ...o, design, fsgsbase });
        const c = r.checks;
        expect(r.ok, `${design} fsgsbase=${fsgsbase}: ${r.status}\n${r.text.split('\n').slice(-6).join('\n')}`).toBe(true);
        expect(c.nmiipi_sent).toBeGreaterThan(1000);
        expect(c.nmis).toBeGreaterThan(1000);
        // landed in the guest (NMI #VMEXIT), in the host with GIF = 0 (both taken right after
        // STGI), elsewhere in KVM_RUN and in the VMM
        expect(r.exitsKernel.nmi).toBeGreaterThan(10);
        expect(c.nmi_after_stgi - r.exitsKernel.nmi).toBeGreaterThan(10);
        expect(c.nmi_run).toBeGreaterThan(100);
        expect(c.nmi_user).toBeGreaterThan(100);
        expect([c.nmi_bad_gs, c.nmi_bad_tr, c.nmi_percpu_bad, c.gs_violations]).toEqual([0, 0, 0, 0]);
      }
    }
  }, 300_000);

  it('is deterministic', () => {
    const a = runHost(image, { ...o, design: 'vmload', iterations: 40 });
    const b = runHost(image, { ...o, design: 'vmload', iterations: 40 });
    expect(b.checks).toEqual(a.checks);
    expect(b.icount).toBe(a.icount);
  }, 120_000);

  it('catches wrgsbase-tr-after-stgi (fine without NMIs): an NMI held to STGI is delivered through the guest\'s TSS', () => {
    expect(runHost(image, { ...o, design: 'wrgsbase-tr-after-stgi', nmiipi: 0 }).ok).toBe(true);
    const bad = runHost(image, { ...o, design: 'wrgsbase-tr-after-stgi' });
    expect(bad.ok).toBe(false);
    expect(bad.panic).not.toBeNull();
  }, 120_000);

  it('catches broken-stgi (fine without NMIs): NMIs taken at its STGI find the guest\'s GS base', () => {
    expect(runHost(image, { ...o, design: 'broken-stgi', nmiipi: 0 }).ok).toBe(true);
    const bad = runHost(image, { ...o, design: 'broken-stgi' });
    expect(bad.ok).toBe(false);
    expect(bad.checks.nmi_bad_gs).toBeGreaterThan(10);
    // nearly all of those taken right after an STGI (held by GIF = 0): at broken-stgi's own STGI
    expect(bad.checks.nmi_bad_gs).toBeGreaterThan(bad.checks.nmi_after_stgi * 0.9);
  }, 120_000);
});
