// worldswitch verify: NMIs and interrupts raised at every instruction boundary of three
// consecutive KVM_RUNs of the KVM-style host (guest/host/), invariants checked through the
// machine. The four designs are
// clean; every mutant of the suite is caught, by an invariant expected to catch it, and its
// report names the boundary, the instruction, the invariant, the wrong value and a trace.
//
// gcc and binutils build the image (as in host.test.ts); the CLI test runs bin/worldswitch.js
// (the built dist/, as cli.test.ts does) and with it the worker threads.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DESIGNS } from '../src/lab/hostrun.js';
import { readSymbols, type SymbolTable } from '../src/lab/symbols.js';
import { DEFAULT_WORKLOADS, verify, type VerifyResult } from '../src/lab/verify.js';
import { Injector, runUnit } from '../src/lab/verify-inject.js';
import { EVENT_KINDS } from '../src/lab/verify-invariants.js';
import { MUTANTS } from '../src/lab/verify-mutants.js';
import { Unit } from '../src/lab/verify-record.js';
import { Mode } from '../src/lab/verify-path.js';
import { formatFindings, formatTable, verdicts } from '../src/lab/verify-report.js';

const ROOT = join(import.meta.dirname, '..');
const IMAGE = join(ROOT, 'build', 'host', 'host.elf');
const BIN = join(ROOT, 'bin', 'worldswitch.js');

function have(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

let image: Uint8Array;
let syms: SymbolTable;

beforeAll(() => {
  if (have('gcc', ['--version']) && have('ld', ['--version'])) execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
  image = readFileSync(IMAGE);
  syms = readSymbols(image);
}, 120_000);

const spec = (design: string, workload = 'hlt') => ({ design, workload, fsgsbase: true });

describe('the symbols the verifier uses', () => {
  it('keeps sizes and tells C functions from assembly labels', () => {
    expect(syms.sizeOf('kstack')).toBe(16384);
    expect(syms.sizeOf('nmi_stack')).toBe(8192);
    const byName = (n: string) => syms.all().find((s) => s.name === n)!;
    expect(byName('do_nmi').func).toBe(true);
    expect(byName('kvm_run_ioctl').func).toBe(true);
    expect(byName('__svm_vcpu_run').func).toBe(false);
    expect(byName('syscall_entry').func).toBe(false);
  });
});

describe('one design, every boundary', () => {
  it('vmload on hlt is clean with an NMI, an interrupt and both at each boundary', () => {
    const r = runUnit(image, syms, spec('vmload'), EVENT_KINDS);
    expect(r.complete).toBe(true);
    expect(r.runs).toBe(3);
    expect(r.boundaries).toBeGreaterThan(900);
    expect(r.reference).toEqual([]);
    // every boundary inside the three KVM_RUNs is tried; only the VMM's own code between them is not
    expect(r.untried.stride).toBe(0);
    expect(r.untried.outsideRun).toBeGreaterThan(0);
    expect(r.untried.outsideRun).toBeLessThan(r.boundaries / 4);
    for (const k of r.kinds) {
      expect(k.tried, k.kind).toBe(r.boundaries - r.untried.outsideRun);
      expect(k.violating, JSON.stringify(k.first)).toBe(0);
      expect(k.undelivered, k.kind).toBe(0);
    }
  }, 60_000);

  it('holds an NMI raised while GIF = 0 until STGI, and an interrupt until the run loop\'s STI', () => {
    const inj = new Injector(image, syms, spec('vmload'));
    inj.reference(false);
    const { path, checker } = inj.unit;
    // the first boundary after #VMEXIT: host, GIF = 0
    let b = 0;
    while (b < path.n && ((path.mode[b] & Mode.Guest) === 0 || ((path.mode[b + 1] ?? 0) & Mode.Guest) !== 0)) b++;
    b++;
    expect(path.mode[b] & (Mode.Guest | Mode.Gif)).toBe(0);
    const before = (kind: 'nmi' | 'intr', note: RegExp) => {
      const r = inj.replay(b, kind, true);
      expect(r.violations).toEqual([]);
      expect(r.delivered).toBe(true);
      const t = checker.trace!;
      const at = t.findIndex((e) => e.note !== undefined && note.test(e.note));
      expect(at).toBeGreaterThan(1);
      return [t[at - 2], t[at - 1]].map((e) => inj.unit.describe.insnAt(e.rip, 64));
    };
    expect(before('nmi', /^NMI delivered/)[1]).toBe('stgi');
    // kvm_run_ioctl's sti(): the interrupt shadow lets one more instruction run first
    const [sti, shadowed] = before('intr', /^interrupt 0x20 delivered/);
    expect(sti).toBe('sti');
    expect(shadowed).not.toBe('sti');
  }, 30_000);

  it('replays deterministically', () => {
    const inj = new Injector(image, syms, spec('msr'));
    inj.reference(false);
    const n = inj.unit.path.n;
    for (const b of [0, Math.floor(n / 3), Math.floor(n / 2), n - 1]) {
      const a = inj.replay(b, 'both', false);
      const c = inj.replay(b, 'both', false);
      expect(c).toEqual(a);
      expect(a.delivered).toBe(true);
    }
  }, 30_000);

  it('patches exactly one instruction of the world switch for the text-patched mutants', () => {
    // the instructions the recorded path runs inside __svm_vcpu_run
    const worldSwitch = (u: Unit) => {
      const out: string[] = [];
      for (let k = 0; k < u.path.n; k++) {
        if (u.describe.where(u.path.rip[k], false).startsWith('__svm_vcpu_run')) out.push(u.describe.insnAt(u.path.rip[k], u.path.bits[k]));
      }
      return out;
    };
    const real = worldSwitch(new Unit(image, syms, spec('vmload')));
    expect(real).toContain('clgi');
    for (const [name, insn] of [['vmload-no-clgi', 'clgi'], ['vmload-no-guest-vmsave', 'vmsave']] as const) {
      const m = worldSwitch(new Unit(image, syms, spec(name)));
      expect(m.length, name).toBe(real.length);
      const diff = real.flatMap((x, k) => (x === m[k] ? [] : [`${x} -> ${m[k]}`]));
      // once per recorded KVM_RUN: the patch stays for every world switch
      expect(diff, name).toEqual(Array(3).fill(`${insn} -> nop dword ptr [rax]`));
    }
  }, 30_000);
});

describe('every design and every mutant (all boundaries, nmi, intr, both)', () => {
  let full: VerifyResult;
  beforeAll(async () => {
    // worker threads when the build has them (npm test builds first), else this thread
    const jobs = existsSync(join(ROOT, 'dist', 'lab', 'verify-worker.js')) ? 2 : 1;
    // the designs on every default workload; each mutant on the first default workload that can
    // tell it from its base (the others are equivalent by construction: verify-mutants.ts)
    const designs = await verify({ image, designs: [...DESIGNS], workloads: [...DEFAULT_WORKLOADS], kinds: [...EVENT_KINDS], fsgsbase: true, jobs });
    const units = [...designs.units];
    for (const m of MUTANTS) {
      const workload = DEFAULT_WORKLOADS.find((w) => !(m.equivalentOn?.workloads ?? []).includes(w))!;
      units.push(...(await verify({ image, designs: [m.name], workloads: [workload], kinds: [...EVENT_KINDS], fsgsbase: true, jobs: 1 })).units);
    }
    const v = verdicts(units);
    full = { ...designs, units, verdicts: v, ok: v.every((x) => x.ok) };
  }, 900_000);

  it('finds every design clean', () => {
    for (const d of DESIGNS) {
      for (const u of full.units.filter((x) => x.design === d)) {
        expect(u.error, `${d}/${u.workload}`).toBeUndefined();
        expect(u.reference, `${d}/${u.workload}`).toEqual([]);
        for (const k of u.kinds) {
          expect(k.tried).toBe(u.boundaries - u.untried.outsideRun);
          expect(k.violating, `${d}/${u.workload}/${k.kind}: ${JSON.stringify(k.first)}`).toBe(0);
          expect(k.undelivered, `${d}/${u.workload}/${k.kind}`).toBe(0);
        }
      }
      expect(full.verdicts.find((v) => v.design === d)?.ok).toBe(true);
    }
  });

  it('catches every mutant, with an invariant expected to catch it', () => {
    expect(MUTANTS.length).toBeGreaterThanOrEqual(16);
    for (const m of MUTANTS) {
      const v = full.verdicts.find((x) => x.design === m.name)!;
      expect(v.ok, `${m.name}: ${v.summary}`).toBe(true);
      const units = full.units.filter((u) => u.design === m.name);
      const seen = new Set<string>();
      for (const u of units) {
        for (const r of u.reference) seen.add(r.invariant);
        for (const k of u.kinds) for (const i of Object.keys(k.byInvariant)) seen.add(i);
        // not caught only where nothing can tell it from its base
        const caught = u.reference.length > 0 || u.kinds.some((k) => k.violating > 0);
        if (!caught) expect(m.equivalentOn?.workloads, `${m.name}/${u.workload}`).toContain(u.workload);
      }
      expect(m.caughtBy.some((i) => seen.has(i)), `${m.name}: ${[...seen].join(', ')}`).toBe(true);
    }
    expect(full.ok).toBe(true);
  });

  it('reports where: boundary, instruction, invariant, wrong value and the last instructions', () => {
    const u = full.units.find((x) => x.design === 'broken-stgi' && x.workload === 'hlt')!;
    const nmi = u.kinds.find((k) => k.kind === 'nmi')!;
    expect(nmi.first).toBeDefined();
    const f = nmi.first!;
    // raised inside the GIF = 0 window, it arrives at the mutant's early STGI
    expect(f.state).toMatch(/GIF=0/);
    expect(f.insn).not.toBe('?');
    const v = f.violations[0];
    expect(v.invariant).toBe('entry-gs');
    expect(v.got).toContain('0xc00500');
    expect(v.at).toMatch(/^broken_stgi_after_exit/);
    expect(v.trace!.slice(-3)).toEqual([expect.stringMatching(/: stgi$/), '-- NMI delivered', expect.stringMatching(/^trap_stubs/)]);
    // a mutant wrong without any event: the uninjected run names it
    const kgs = full.units.find((x) => x.design === 'broken-kgs' && x.workload === 'hlt')!;
    expect(kgs.reference[0]).toMatchObject({ invariant: 'user-state', what: 'GS.base', got: '0xc00600' });
    const text = formatFindings(full.units);
    for (const m of MUTANTS) expect(text).toContain(`${m.name} (${m.base}: `);
    expect(formatTable(full.units)).toMatch(/^vmload\s+hlt\s+3\s+\d+\s+\d+\s+0\s+0\/\d+\s+0\/\d+\s+0\/\d+\s+clean$/m);
  });
});

describe('what one recorded KVM_RUN, C-only checks or a stride would miss', () => {
  it('the stale-state and one-exit-kind mutants escape a one-run window and are caught with three', () => {
    for (const [name, workload] of [['vmsave-v1-every-other', 'hlt'], ['wrgsbase-io-fast-put', 'mix']] as const) {
      const one = runUnit(image, syms, { ...spec(name, workload), runs: 1 }, ['nmi']);
      expect(one.reference, `${name} with one run`).toEqual([]);
      expect(one.kinds[0].violating, `${name} with one run`).toBe(0);
      const three = runUnit(image, syms, spec(name, workload), ['nmi']);
      expect(three.reference.map((v) => v.invariant), name).toContain('user-state');
    }
  }, 120_000);

  it('an assembly %gs access on the guest GS base and a clobbered guest RCX are named by their invariants', () => {
    const gs = runUnit(image, syms, spec('vmload-gs-touch-early'), ['nmi']);
    expect(gs.reference[0]).toMatchObject({ invariant: 'percpu-access', insn: expect.stringMatching(/gs:/) });
    const rcx = runUnit(image, syms, spec('vmload-clobber-rcx'), ['nmi']);
    expect(rcx.reference[0]).toMatchObject({ invariant: 'guest-regs', what: 'RCX' });
    // nothing else sees them: without those two invariants both runs would be clean
    for (const u of [gs, rcx]) expect(u.reference.every((v) => v.invariant === 'percpu-access' || v.invariant === 'guest-regs')).toBe(true);
  }, 60_000);

  it('a stride says how many boundaries it skipped', () => {
    const r = runUnit(image, syms, spec('vmload'), ['nmi'], { stride: 4 });
    const inside = r.boundaries - r.untried.outsideRun;
    expect(r.untried.stride).toBe(inside - r.kinds[0].tried);
    expect(r.kinds[0].tried).toBeLessThanOrEqual(Math.ceil(inside / 4) + 1);
  }, 60_000);

  it('with null selector loads clearing the base, the designs stay clean on hlt', () => {
    for (const d of DESIGNS) {
      const r = runUnit(image, syms, { ...spec(d), nullClearsBase: true }, ['nmi']);
      expect(r.reference, d).toEqual([]);
      expect(r.kinds[0].violating, d).toBe(0);
    }
  }, 120_000);
});

describe('worldswitch verify', () => {
  const built = existsSync(join(ROOT, 'dist', 'lab', 'verify-worker.js'));
  it.skipIf(!built)('runs designs and mutants on worker threads, prints the table and writes JSON', () => {
    const json = join(mkdtempSync(join(tmpdir(), 'ws-verify-')), 'v.json');
    const r = spawnSync(process.execPath, [BIN, 'verify', '--design', 'vmload,msr', '--mutants', 'broken-kgs,vmload-no-clgi', '--workload', 'hlt', '--jobs', '2', '--json', json],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, CI: 'true' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^msr\s+hlt\s+3\s+\d+\s+\d+\s+0\s+0\/\d+\s+0\/\d+\s+0\/\d+\s+clean$/m);
    expect(r.stdout).toMatch(/^vmload-no-clgi \*\s+hlt\s+.*caught$/m);
    expect(r.stdout).toMatch(/2 of 2 designs clean, 2 of 2 mutants caught; \d+ replays in [\d.]+ s on 2 threads/);
    const j = JSON.parse(readFileSync(json, 'utf8'));
    expect(j.ok).toBe(true);
    expect(j.units).toHaveLength(4);
    expect(j.jobs).toBe(2);
  }, 120_000);

  it.skipIf(!built)('answers an unknown design in one line', () => {
    const r = spawnSync(process.execPath, [BIN, 'verify', '--design', 'nope'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--design: unknown 'nope'/);
  });
});
