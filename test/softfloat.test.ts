/**
 * softfloat against the host CPU: JS arithmetic for f32/f64 round-to-nearest, and a small C
 * program (test/softfloat-host.c, built with gcc at test time) that runs the real SSE and x87
 * instructions for every rounding mode, DAZ/FTZ and x87 precision control, with the exception
 * flags. Results, flags and (x87) C1 are compared bit-exactly.
 */

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as S from '../src/cpu/fpu/softfloat.js';

const sf = S.sf;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'test', 'softfloat-host.c');
const BIN = join(ROOT, 'build', 'softfloat-host');

function buildHost(): string | null {
  if (process.arch !== 'x64') return null;
  if (existsSync(BIN) && statSync(BIN).mtimeMs >= statSync(SRC).mtimeMs) return BIN;
  mkdirSync(dirname(BIN), { recursive: true });
  const r = spawnSync('gcc', ['-O1', '-Wall', '-o', BIN, SRC], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc failed: ${r.stderr}`);
  return BIN;
}

// deterministic PRNG (xorshift32)
let seed = 0x12345678;
function rnd(): number { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed; }
function rn(n: number): number { return rnd() % n; }

const h8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');
const h16 = (lo: number, hi: number): string => h8(hi) + h8(lo);
const h20 = (lo: number, hi: number, se: number): string => (se & 0xffff).toString(16).padStart(4, '0') + h16(lo, hi);

/** a random significand pattern of `bits` bits as [hi, lo] (hi holds bits 63..32 of a 64-bit left-aligned field) */
function sigPattern(): [number, number] {
  switch (rn(6)) {
    case 0: return [0xffffffff, 0xffffffff];
    case 1: return [0, 0];
    case 2: { const b = rn(64); return b >= 32 ? [1 << (b - 32), 0] : [0, 1 << b]; }
    case 3: return [rnd() & 0xfff00000, 0]; // few bits: exact/halfway products
    case 4: return [rnd(), rnd() & 0xffff0000];
    default: return [rnd(), rnd()];
  }
}

// exponent choice relative to a format: bias b, max m (all ones)
function expPick(bias: number, max: number, rel: number): number {
  switch (rn(10)) {
    case 0: return 0; // zero/denormal
    case 1: return max; // inf/NaN
    case 2: return 1 + rn(3);
    case 3: return max - 1 - rn(3);
    case 4: return rn(max + 1);
    case 5: case 6: return rel >= 0 ? Math.max(0, Math.min(max, rel + rn(70) - 35)) : bias + rn(10) - 5;
    case 7: return Math.max(0, Math.min(max, (bias >> 1) + rn(bias)));
    default: return bias + rn(40) - 20;
  }
}

function gen32(rel = -1): number {
  const e = expPick(127, 255, rel);
  const [hi] = sigPattern();
  return (((rnd() & 1) << 31) | (e << 23) | (hi >>> 9)) >>> 0;
}
function gen64(rel = -1): [number, number] {
  const e = expPick(1023, 2047, rel);
  const [hi, lo] = sigPattern();
  return [((hi << 20) | (lo >>> 12)) >>> 0, (((rnd() & 1) << 31) | (e << 20) | (hi >>> 12)) >>> 0];
}
function gen80(rel = -1, unsupported = true): [number, number, number] {
  const e = expPick(16383, 32767, rel);
  let [hi, lo] = sigPattern();
  // integer bit: set for normals (and NaN/inf), clear for denormals; sometimes wrong (unsupported
  // encodings, pseudo-denormals)
  if (e === 0) hi = (hi & 0x7fffffff) >>> 0; else hi = (hi | 0x80000000) >>> 0;
  if (unsupported && rn(40) === 0) hi = (hi ^ 0x80000000) >>> 0;
  return [lo >>> 0, hi >>> 0, ((rnd() & 1) << 15) | e];
}
const exp32 = (a: number): number => (a >>> 23) & 0xff;
const exp64 = (hi: number): number => (hi >>> 20) & 0x7ff;

interface Case { line: string; expect: string; x87: boolean }

function ctlSse(): number { return rn(4) | (rn(4) === 0 ? 4 : 0) | (rn(4) === 0 ? 8 : 0) | S.CTL_UM; }
function ctlX87(): number { const pc = [0, 2, 3, 3][rn(4)]; return rn(4) | (pc << 4) | S.CTL_UM | S.CTL_OM; }
function ctlHost(ctl: number): string { return (ctl & 0x3f).toString(16); }

function res32(): string { return `${(sf.rLo >>> 0).toString(16)} ${sf.flags.toString(16)}`; }
function res64(): string { return `${(BigInt(sf.rHi >>> 0) << 32n | BigInt(sf.rLo >>> 0)).toString(16)} ${sf.flags.toString(16)}`; }
function res80(): string { return `${h20(sf.rLo, sf.rHi, sf.rSe)} ${sf.flags.toString(16)} ${sf.c1}`; }
function resInt(bits: number): string {
  const v = bits === 64 ? (BigInt(sf.rHi >>> 0) << 32n | BigInt(sf.rLo >>> 0)) : BigInt(bits === 32 ? sf.rLo >>> 0 : sf.rLo & 0xffff);
  return `${v.toString(16)} ${sf.flags.toString(16)}`;
}

function makeCases(n: number): Map<string, Case[]> {
  const m = new Map<string, Case[]>();
  const add = (op: string, c: Case): void => { let l = m.get(op); if (!l) m.set(op, l = []); l.push(c); };
  const sseBin: [string, (a: number, b: number, c: number) => void][] = [['add', S.f32Add], ['sub', S.f32Sub], ['mul', S.f32Mul], ['div', S.f32Div]];
  const sseBin64: [string, (a: number, b: number, c: number, d: number, e: number) => void][] = [['add', S.f64Add], ['sub', S.f64Sub], ['mul', S.f64Mul], ['div', S.f64Div]];
  const x87Bin: [string, (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => void][] = [['add', S.f80Add], ['sub', S.f80Sub], ['mul', S.f80Mul], ['div', S.f80Div]];
  for (let i = 0; i < n; i++) {
    // ---- f32 ----
    for (const [name, fn] of sseBin) {
      const ctl = ctlSse(), a = gen32();
      const b = name === 'mul' || name === 'div' ? gen32(rn(2) ? 254 - exp32(a) : -1) : gen32(exp32(a));
      fn(a, b, ctl);
      add(`s.${name}`, { line: `s.${name} ${ctlHost(ctl)} ${h8(a)} ${h8(b)}`, expect: res32(), x87: false });
    }
    {
      const ctl = ctlSse(), a = gen32();
      S.f32Sqrt(a, ctl); add('s.sqrt', { line: `s.sqrt ${ctlHost(ctl)} ${h8(a)} ${h8(a)}`, expect: res32(), x87: false });
      S.f32ToF64(a, ctl); add('s.tod', { line: `s.tod ${ctlHost(ctl)} ${h8(a)} ${h8(a)}`, expect: res64(), x87: false });
      for (const [op, bits, tr] of [['i32', 32, false], ['i64', 64, false], ['ti32', 32, true], ['ti64', 64, true]] as const) {
        const v = rn(2) ? a : (((rnd() & 1) << 31) | ((127 + rn(66)) << 23) | (rnd() & 0x7fffff)) >>> 0;
        if (bits === 32) S.f32ToI32(v, ctl, tr); else S.f32ToI64(v, ctl, tr);
        add(`s.${op}`, { line: `s.${op} ${ctlHost(ctl)} ${h8(v)} 0`, expect: resInt(bits), x87: false });
      }
      const b = rn(3) === 0 ? a : gen32(exp32(a));
      for (const q of [true, false]) {
        const r = S.f32Cmp(a, b, q, ctl);
        add(q ? 's.cmp' : 's.ucmp', { line: `${q ? 's.cmp' : 's.ucmp'} ${ctlHost(ctl)} ${h8(a)} ${h8(b)}`, expect: `${r} ${sf.flags.toString(16)}`, x87: false });
      }
    }
    // ---- f64 ----
    for (const [name, fn] of sseBin64) {
      const ctl = ctlSse(), [al, ah] = gen64();
      const [bl, bh] = name === 'mul' || name === 'div' ? gen64(rn(2) ? 2046 - exp64(ah) : -1) : gen64(exp64(ah));
      fn(al, ah, bl, bh, ctl);
      add(`d.${name}`, { line: `d.${name} ${ctlHost(ctl)} ${h16(al, ah)} ${h16(bl, bh)}`, expect: res64(), x87: false });
    }
    {
      const ctl = ctlSse(), [al, ah] = gen64();
      S.f64Sqrt(al, ah, ctl); add('d.sqrt', { line: `d.sqrt ${ctlHost(ctl)} ${h16(al, ah)} ${h16(al, ah)}`, expect: res64(), x87: false });
      const [cl, ch] = rn(2) ? [al, ah] : gen64(rn(2) ? 1023 - 126 : 1023 + 127);
      S.f64ToF32(cl, ch, ctl); add('d.tos', { line: `d.tos ${ctlHost(ctl)} ${h16(cl, ch)} ${h16(cl, ch)}`, expect: res32(), x87: false });
      for (const [op, bits, tr] of [['i32', 32, false], ['i64', 64, false], ['ti32', 32, true], ['ti64', 64, true]] as const) {
        const [vl, vh] = rn(2) ? [al, ah] : [rnd(), (((rnd() & 1) << 31) | ((1023 + rn(66)) << 20) | (rnd() & 0xfffff)) >>> 0];
        if (bits === 32) S.f64ToI32(vl, vh, ctl, tr); else S.f64ToI64(vl, vh, ctl, tr);
        add(`d.${op}`, { line: `d.${op} ${ctlHost(ctl)} ${h16(vl, vh)} 0`, expect: resInt(bits), x87: false });
      }
      const [bl, bh] = rn(3) === 0 ? [al, ah] : gen64(exp64(ah));
      for (const q of [true, false]) {
        const r = S.f64Cmp(al, ah, bl, bh, q, ctl);
        add(q ? 'd.cmp' : 'd.ucmp', { line: `${q ? 'd.cmp' : 'd.ucmp'} ${ctlHost(ctl)} ${h16(al, ah)} ${h16(bl, bh)}`, expect: `${r} ${sf.flags.toString(16)}`, x87: false });
      }
      // integers to floats
      const lo = rnd(), hi = rn(3) === 0 ? (lo >> 31) : rn(2) ? rnd() : rnd() >>> rn(32);
      S.i32ToF32(lo, ctl); add('i.s32', { line: `i.s32 ${ctlHost(ctl)} ${h8(lo)} 0`, expect: res32(), x87: false });
      S.i64ToF32(lo, hi, ctl); add('i.s64', { line: `i.s64 ${ctlHost(ctl)} ${h16(lo, hi)} 0`, expect: res32(), x87: false });
      S.i32ToF64(lo); add('i.d32', { line: `i.d32 ${ctlHost(ctl)} ${h8(lo)} 0`, expect: res64(), x87: false });
      S.i64ToF64(lo, hi, ctl); add('i.d64', { line: `i.d64 ${ctlHost(ctl)} ${h16(lo, hi)} 0`, expect: res64(), x87: false });
    }
    // ---- f80 ----
    for (const [name, fn] of x87Bin) {
      const ctl = ctlX87(), [al, ah, as] = gen80();
      const [bl, bh, bs] = name === 'mul' || name === 'div' ? gen80(rn(2) ? 32766 - (as & 0x7fff) : -1) : gen80(as & 0x7fff);
      fn(al, ah, as, bl, bh, bs, ctl);
      add(`x.${name}`, { line: `x.${name} ${ctlHost(ctl)} ${h20(al, ah, as)} ${h20(bl, bh, bs)}`, expect: res80(), x87: true });
    }
    {
      const ctl = ctlX87(), [al, ah, as] = gen80();
      S.f80Sqrt(al, ah, as, ctl); add('x.sqrt', { line: `x.sqrt ${ctlHost(ctl)} ${h20(al, ah, as)} 0`, expect: res80(), x87: true });
      const [cl, ch, cs] = rn(2) ? [al, ah, as] : gen80(rn(2) ? 16383 - 126 + rn(3) - 1 : 16383 - 1022 + rn(3) - 1);
      S.f80ToF32(cl, ch, cs, ctl); add('x.st32', { line: `x.st32 ${ctlHost(ctl)} ${h20(cl, ch, cs)} 0`, expect: `${res32()} ${sf.c1}`, x87: true });
      S.f80ToF64(cl, ch, cs, ctl); add('x.st64', { line: `x.st64 ${ctlHost(ctl)} ${h20(cl, ch, cs)} 0`, expect: `${res64()} ${sf.c1}`, x87: true });
      for (const [op, bits, tr] of [['i16', 16, false], ['i32', 32, false], ['i64', 64, false], ['ti16', 16, true], ['ti32', 32, true], ['ti64', 64, true]] as const) {
        const [vl, vh, vs] = rn(2) ? [al, ah, as] : [rnd(), (rnd() | 0x80000000) >>> 0, ((rnd() & 1) << 15) | (16383 + rn(68) - 2)];
        if (bits === 16) S.f80ToI16(vl, vh, vs, ctl, tr); else if (bits === 32) S.f80ToI32(vl, vh, vs, ctl, tr); else S.f80ToI64(vl, vh, vs, ctl, tr);
        add(`x.${op}`, { line: `x.${op} ${ctlHost(ctl)} ${h20(vl, vh, vs)} 0`, expect: `${resInt(bits)} ${sf.c1}`, x87: true });
      }
      const [bl, bh, bs] = rn(3) === 0 ? [al, ah, as] : gen80(as & 0x7fff);
      for (const q of [true, false]) {
        const r = S.f80Cmp(al, ah, as, bl, bh, bs, q, ctl);
        add(q ? 'x.cmp' : 'x.ucmp', { line: `${q ? 'x.cmp' : 'x.ucmp'} ${ctlHost(ctl)} ${h20(al, ah, as)} ${h20(bl, bh, bs)}`, expect: `${r} ${sf.flags.toString(16)} 0`, x87: true });
      }
      const a32 = gen32();
      S.f32ToF80(a32); add('x.ld32', { line: `x.ld32 ${ctlHost(ctl)} ${h20(a32, 0, 0)} 0`, expect: res80(), x87: true });
      const [dl, dh] = gen64();
      S.f64ToF80(dl, dh); add('x.ld64', { line: `x.ld64 ${ctlHost(ctl)} ${h20(dl, dh, 0)} 0`, expect: res80(), x87: true });
    }
  }
  return m;
}

const bin = buildHost();
const N = Number(process.env.SF_CASES ?? 3000);

describe('softfloat vs JS arithmetic (round to nearest)', () => {
  it('f64 add/sub/mul/div/sqrt and f32 add/sub/mul/div/sqrt match JS doubles and Math.fround', () => {
    const f64 = new Float64Array(1), u64 = new Uint32Array(f64.buffer);
    const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
    let bad = 0, count = 0;
    const bits64 = (x: number): [number, number] => { f64[0] = x; return [u64[0], u64[1]]; };
    for (let i = 0; i < 20000; i++) {
      const [al, ah] = gen64(), [bl, bh] = gen64(exp64(ah));
      u64[0] = al; u64[1] = ah; const a = f64[0]; u64[0] = bl; u64[1] = bh; const b = f64[0];
      const ops: [(a: number, b: number, c: number, d: number, e: number) => void, number][] = [[S.f64Add, a + b], [S.f64Sub, a - b], [S.f64Mul, a * b], [S.f64Div, a / b]];
      for (const [fn, want] of ops) {
        fn(al, ah, bl, bh, S.CTL_UM); count++;
        const [wl, wh] = bits64(want);
        if (Number.isNaN(want) ? !((sf.rHi & 0x7ff00000) === 0x7ff00000 && ((sf.rHi & 0xfffff) | sf.rLo) !== 0) : (wl !== sf.rLo || wh !== sf.rHi)) bad++;
      }
      S.f64Sqrt(al, ah, S.CTL_UM); count++;
      const sq = Math.sqrt(a), [sl, sh] = bits64(sq);
      if (!Number.isNaN(sq) && (sl !== sf.rLo || sh !== sf.rHi)) bad++;
      const x = gen32(), y = gen32(exp32(x));
      u32[0] = x; const fx = f32[0]; u32[0] = y; const fy = f32[0];
      const ops32: [(a: number, b: number, c: number) => void, number][] = [[S.f32Add, Math.fround(fx + fy)], [S.f32Sub, Math.fround(fx - fy)], [S.f32Mul, Math.fround(fx * fy)], [S.f32Div, Math.fround(fx / fy)], [(p, _q, c) => S.f32Sqrt(p, c), Math.fround(Math.sqrt(fx))]];
      for (const [fn, want] of ops32) {
        fn(x, y, S.CTL_UM); count++;
        f32[0] = want;
        if (Number.isNaN(want) ? (sf.rLo & 0x7f800000) !== 0x7f800000 : u32[0] !== sf.rLo >>> 0) bad++;
      }
    }
    expect(count).toBe(20000 * 10);
    expect(bad).toBe(0);
  });
});

describe.skipIf(bin === null)('softfloat vs the host CPU (SSE and x87 instructions)', () => {
  const cases = makeCases(N);
  const all: Case[] = [];
  for (const l of cases.values()) all.push(...l);
  const input = all.map((c) => c.line).join('\n') + '\n';
  const r = spawnSync(bin as string, [], { input, encoding: 'utf8', maxBuffer: 1 << 28 });
  const out = r.stdout.split('\n');
  let k = 0;
  const got = new Map<Case, string>();
  for (const c of all) got.set(c, out[k++]);
  for (const [op, list] of cases) {
    it(`${op}: ${list.length} cases bit-exact (result, flags${list[0].x87 ? ', C1' : ''})`, () => {
      const bad: string[] = [];
      for (const c of list) {
        const g = got.get(c) as string;
        const want = c.x87 ? g : g.split(' ').slice(0, 2).join(' ');
        if (want !== c.expect) bad.push(`${c.line} -> host ${want} / softfloat ${c.expect}`);
      }
      expect(bad.slice(0, 12).join('\n')).toBe('');
      expect(bad.length).toBe(0);
    });
  }
});
