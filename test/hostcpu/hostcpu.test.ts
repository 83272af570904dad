/**
 * Integer execution checked against the host CPU.
 *
 * Every general-purpose integer instruction form that runs in user mode is generated with
 * random and edge-value inputs, run natively (tools/hostcpu/harness.c, built with gcc at test
 * time) and in the emulator (flat 64-bit mode, same addresses), and the outcomes compared:
 * fault or completion (and the vector), RIP, all sixteen registers, the status flags and DF
 * (minus the flags the manuals leave undefined: masks.ts), and the scratch memory. Forms with
 * FP state (x87, SSE) also carry a 512-byte FXSAVE image in and compare x87 FCW/FSW/FTW/FOP/
 * FIP/FDP/ST0-7, MXCSR and XMM0-15 after the instruction (fx.ts).
 *
 * Each form is one test. A form whose table handler is not implemented yet is skipped (it
 * would only raise #UD); a form whose handler exists always runs.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingHandlers, type Cpu } from '../../src/cpu/cpu.js';
import { getFlags, setFlags } from '../../src/cpu/flags.js';
import { compare, describe as describeCase } from './compare.js';
import { EmuRunner } from './emu.js';
import { buildForms, CASES_PER_FORM, type Form } from './forms.js';
import { AF, ZF, type Case, type Outcome } from './layout.js';
import { HOST_QUIRKS, UNDEFINED_FLAGS, UNDEFINED_RESULTS } from './masks.js';
import { buildHarness, hostInfo, runNative, type HostInfo } from './native.js';

const forms = buildForms();
const missing = new Set(missingHandlers());

let bin = '';
let info: HostInfo = { vendor: '?', features: new Set() };
let setupError: Error | null = null;
try {
  bin = buildHarness();
  info = hostInfo(bin);
} catch (e) {
  setupError = e instanceof Error ? e : new Error(String(e));
}

function intelHost(): boolean {
  return info.vendor === 'GenuineIntel';
}

function skipReason(f: Form): string {
  const miss = f.handlers.filter((h) => missing.has(h));
  if (miss.length > 0) return `handler ${miss.join(', ')} not implemented yet`;
  if (setupError === null && f.feature !== undefined && !info.features.has(f.feature)) {
    return `host CPU lacks ${f.feature}`;
  }
  return '';
}

const native = new Map<Form, Outcome[]>();
const runner = new EmuRunner();
const stats = { passed: 0, failed: 0, cases: 0, skipped: [] as string[] };

beforeAll(() => {
  if (setupError !== null) return;
  console.log(`host CPU: ${info.vendor}; features: ${[...info.features].join(' ')}`);
  const run = forms.filter((f) => skipReason(f) === '');
  const all: Case[] = [];
  for (const f of run) all.push(...f.cases);
  const res = runNative(bin, all);
  let p = 0;
  for (const f of run) {
    native.set(f, res.slice(p, p + f.cases.length));
    p += f.cases.length;
  }
}, 110_000);

afterAll(() => {
  const lines = [
    `host-CPU differential test (${info.vendor}): ${forms.length} forms, ${CASES_PER_FORM} cases per form`,
    `  checked ${stats.passed + stats.failed} forms (${stats.passed} agree, ${stats.failed} differ), ${stats.cases} cases compared`,
    `  skipped ${stats.skipped.length} forms${stats.skipped.length ? ':' : ''}`,
  ];
  const byReason = new Map<string, string[]>();
  for (const s of stats.skipped) {
    const [name, why] = s.split('\u0000');
    byReason.set(why, [...(byReason.get(why) ?? []), name]);
  }
  for (const [why, names] of byReason) lines.push(`    ${why}: ${names.length} forms (e.g. ${names.slice(0, 3).join('; ')})`);
  lines.push('  flags not compared after completion (masks.ts):');
  for (const row of Object.values(UNDEFINED_FLAGS)) {
    if (!row.apm.startsWith('nothing')) lines.push(`    ${row.forms}: ${row.apm}${row.intel ? `; Intel: ${row.intel}` : ''}`);
  }
  if (intelHost()) for (const q of HOST_QUIRKS) lines.push(`  host quirk: ${q.what} (${q.handling})`);
  console.log(lines.join('\n'));
});

/** compare one form's cases; returns the failure descriptions */
function check(f: Form, r: EmuRunner): { bad: number; text: string[] } {
  const nat = native.get(f);
  if (nat === undefined) throw new Error(`no native results for ${f.name}`);
  let bad = 0;
  const text: string[] = [];
  for (let k = 0; k < f.cases.length; k++) {
    const cs = f.cases[k];
    const mism = compare(cs, nat[k], r.run(cs), intelHost());
    if (mism.length > 0) {
      bad++;
      if (text.length < 4) text.push(describeCase(cs, mism));
    }
  }
  return { bad, text };
}

describe('host CPU: native harness', () => {
  it('builds with gcc and identifies the host CPU', () => {
    if (setupError !== null) throw setupError;
    expect(info.vendor).toMatch(/^(GenuineIntel|AuthenticAMD|HygonGenuine|CentaurHauls|  Shanghai  )$/);
  });

  it('masks table covers every family used', () => {
    for (const f of forms) expect(UNDEFINED_FLAGS[f.family], f.name).toBeDefined();
    expect(UNDEFINED_RESULTS.length).toBeGreaterThan(0);
    expect(HOST_QUIRKS.length).toBeGreaterThan(0);
  });
});

describe('host CPU: instruction forms', () => {
  for (const f of forms) {
    const why = skipReason(f);
    if (why !== '') stats.skipped.push(`${f.name}\u0000${why}`);
    it.skipIf(why !== '')(f.name, () => {
      if (setupError !== null) throw setupError;
      const { bad, text } = check(f, runner);
      stats.cases += f.cases.length;
      if (bad > 0) {
        stats.failed++;
        throw new Error(`${f.name}: ${bad} of ${f.cases.length} cases differ from the host CPU (${f.handlers.join(', ')}):\n${text.join('\n')}`);
      }
      stats.passed++;
    });
  }
});

describe('host CPU: the comparator catches a broken emulator', () => {
  const byName = (n: string) => forms.find((f) => f.name === n);
  const usable = (f: Form | undefined): f is Form => f !== undefined && skipReason(f) === '';

  /** run form `f` with a sabotaged emulator; returns each case's mismatch list */
  function sabotaged(f: Form, after: (c: Cpu) => void): string[][] {
    if (setupError !== null) throw setupError;
    const broken = new EmuRunner();
    broken.afterRun = after;
    const nat = native.get(f)!;
    return f.cases.map((cs, k) => compare(cs, nat[k], broken.run(cs), intelHost()));
  }

  const add = byName('add r/m32, r32 (reg)');
  it.skipIf(!usable(add))('reports ZF when the emulator gets ZF wrong after ADD', () => {
    const f = add!;
    // the unbroken emulator agrees on these cases
    expect(check(f, new EmuRunner()).bad).toBe(0);
    const res = sabotaged(f, (c) => setFlags(c, getFlags(c) ^ ZF));
    for (const [k, mism] of res.entries()) expect(mism.some((m) => m.startsWith('ZF:')), `case ${k}: ${mism.join('; ')}`).toBe(true);
  });

  it.skipIf(!usable(add))('reports the register when the emulator corrupts RBX', () => {
    const res = sabotaged(add!, (c) => { c.rl[3] ^= 0x100; });
    for (const mism of res) expect(mism.some((m) => m.startsWith('RBX:'))).toBe(true);
  });

  const and = byName('and r/m32, r32 (reg)');
  it.skipIf(!usable(and) || !usable(add))('masks AF where the APM leaves it undefined (AND) but not where it is defined (ADD)', () => {
    const flipAf = (c: Cpu) => setFlags(c, getFlags(c) ^ AF);
    for (const mism of sabotaged(and!, flipAf)) expect(mism).toEqual([]);
    for (const mism of sabotaged(add!, flipAf)) expect(mism.some((m) => m.startsWith('AF:'))).toBe(true);
  });

  const fpNop = byName('nop (FP state unchanged)');
  it.skipIf(!usable(fpNop))('reports MXCSR, XMM and x87 fields when the emulator corrupts the FP state', () => {
    const f = fpNop!;
    expect(check(f, new EmuRunner()).bad).toBe(0);
    for (const mism of sabotaged(f, (c) => { c.fpu.mxcsr ^= 0x20; })) expect(mism.some((m) => m.startsWith('MXCSR:') && m.includes('PE'))).toBe(true);
    for (const mism of sabotaged(f, (c) => { c.fpu.xmm[4 * 9 + 3] ^= 1 << 30; })) expect(mism.some((m) => m.startsWith('XMM9:'))).toBe(true);
    for (const mism of sabotaged(f, (c) => { c.fpu.fsw ^= 0x4000; })) expect(mism.some((m) => m.startsWith('FSW:'))).toBe(true);
    for (const mism of sabotaged(f, (c) => { c.fpu.signExp[(c.fpu.fsw >> 11) & 7] ^= 1; })) expect(mism.some((m) => m.startsWith('ST0:'))).toBe(true);
  });
});
