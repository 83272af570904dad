/**
 * x87 forms for the host-CPU differential test: every x87 instruction form worldswitch claims
 * except the transcendentals (F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS: not
 * bit-exact by design, see src/cpu/exec/x87-ctl.ts). Each case carries an FXSAVE image with a
 * random TOP, registers of every class (zeros, denormals, pseudo-denormals, unnormals,
 * infinities, QNaNs, SNaNs, values near each other and near the range limits), now and then an
 * empty source or a full push target (stack underflow/overflow), every rounding mode and
 * precision control, and masked or unmasked exceptions; memory operands get edge-biased m32,
 * m64, m80, integer and BCD values. FSW (flags, C0-C3, TOP, ES, B), FCW, the tags, ST0-7, FOP,
 * FIP, FDP, RFLAGS and memory are compared bit-exactly.
 */

import type { FormDef } from './form.js';
import type { CB } from './gen.js';
import { defaultFx, setSt, setX87Env } from './fx.js';
import { f32Val, f64Val } from './gen-fp.js';

type V = [number, number, number];

/** an 80-bit value with structure; `near` biases the exponent toward another value's */
function f80Val(cb: CB, near: V | null): V {
  const r = cb.rng;
  const s = r.bool(0.5) ? 0x8000 : 0;
  const sig = (): [number, number] => {
    switch (r.int(4)) {
      case 0: return [0, (0x80000000 | (r.u32() & 0xfff00000)) >>> 0]; // few bits: exact results
      case 1: return [0xffffffff, 0xffffffff];
      default: return [r.u32(), (r.u32() | 0x80000000) >>> 0];
    }
  };
  switch (r.int(16)) {
    case 0: return [0, 0, s];
    case 1: return [0, 0x80000000, s | 0x7fff];
    case 2: return [r.u32(), (0xc0000000 | r.u32()) >>> 0, s | 0x7fff]; // QNaN
    case 3: return [r.u32() | 1, (0x80000000 | (r.u32() & 0x3fffffff)) >>> 0, s | 0x7fff]; // SNaN
    case 4: return [r.u32(), (r.u32() & 0x7fffffff) >>> r.int(32), s]; // denormal (or zero)
    case 5: { // unsupported or pseudo-denormal encodings, now and then
      const k = r.int(3);
      if (k === 0) return [r.u32(), (r.u32() | 0x80000000) >>> 0, s]; // pseudo-denormal
      if (k === 1) return [r.u32(), r.u32() & 0x7fffffff, s | (1 + r.int(0x7ffe))]; // unnormal
      return [r.u32(), r.u32() & 0x7fffffff, s | 0x7fff]; // pseudo-NaN / pseudo-infinity
    }
    case 6: { const [lo, hi] = sig(); return [lo, hi, s | r.pick([1, 2, 0x7ffe, 0x7ffd, 0x3fff - 16383 + 1])]; }
    case 7: case 8: {
      // small integers and simple fractions, exactly
      const v = r.range(-70000, 70000) / r.pick([1, 1, 2, 4, 3, 10]);
      return fromDouble(v);
    }
    case 9: { const [lo, hi] = f64Val(cb); return widen64(lo, hi); }
    default: {
      const [lo, hi] = sig();
      const base = near !== null && (near[2] & 0x7fff) !== 0x7fff && (near[2] & 0x7fff) !== 0 ? near[2] & 0x7fff : 0x3fff;
      const e = Math.max(1, Math.min(0x7ffe, base + r.range(-70, 70)));
      return [lo, hi, s | e];
    }
  }
}

const cvt = new DataView(new ArrayBuffer(8));
function fromDouble(v: number): V {
  cvt.setFloat64(0, v, true);
  return widen64(cvt.getUint32(0, true), cvt.getUint32(4, true));
}
/** the exact f80 of a binary64 (NaNs keep their payload, SNaNs stay signalling) */
function widen64(lo: number, hi: number): V {
  const s = (hi >>> 31) << 15, e = (hi >>> 20) & 0x7ff;
  let mh = ((hi & 0xfffff) << 11) | (lo >>> 21), ml = (lo << 11) >>> 0;
  if (e === 0x7ff) return [ml, (0x80000000 | mh) >>> 0, s | 0x7fff];
  if (e === 0) {
    if ((mh | ml) === 0) return [0, 0, s];
    let x = -1022 + 16383;
    while ((mh & 0x80000000) === 0) { mh = ((mh << 1) | (ml >>> 31)) >>> 0; ml = (ml << 1) >>> 0; x--; }
    return [ml, mh >>> 0, s | x];
  }
  return [ml, (0x80000000 | mh) >>> 0, s | (e - 1023 + 16383)];
}

interface Img {
  /** ST(i) values, stack order */
  st: V[];
  fcw: number;
  fsw: number;
  /** ST(i) empty, stack order */
  empty: boolean[];
}

/**
 * A random x87 state: `need` registers from ST(0) up are normally in use (an empty one now
 * and then: stack underflow), ST(7) sometimes too (a push overflows).
 */
function image(cb: CB, need: number, push = false): Img {
  const r = cb.rng;
  const st: V[] = [];
  for (let i = 0; i < 8; i++) st.push(f80Val(cb, i > 0 ? st[0] : null));
  const empty: boolean[] = [];
  for (let i = 0; i < 8; i++) empty.push(i >= need ? r.bool(0.7) : r.bool(0.04));
  if (push) empty[7] = !r.bool(0.08);
  // FCW: RC and PC walk all values in the first cases, then random; exceptions mostly masked
  const rc = cb.k < 16 ? cb.k & 3 : r.int(4);
  const pc = cb.k < 16 ? [3, 2, 0, 1][(cb.k >> 2) & 3] : r.pick([0, 2, 3, 3, 3, 1]);
  let masks = 0x3f;
  if (r.bool(0.2)) masks &= r.u32() & 0x3f;
  const fcw = 0x40 | masks | (pc << 8) | (rc << 10) | (r.bool(0.1) ? 0x1000 : 0);
  // FSW: sticky flags that are masked (no pending exception), random C0-C3
  const fsw = (r.u32() & 0x4700) | (r.bool(0.3) ? r.u32() & masks : 0) | (r.int(8) << 11);
  return { st, fcw, fsw, empty };
}

function install(cb: CB, im: Img): void {
  const b = defaultFx();
  const top = (im.fsw >> 11) & 7;
  let abr = 0;
  for (let i = 0; i < 8; i++) {
    const [lo, hi, se] = im.st[i];
    setSt(b, i, lo, hi, se);
    if (!im.empty[i]) abr |= 1 << ((top + i) & 7);
  }
  setX87Env(b, im.fcw, im.fsw, abr);
  cb.fx = b;
}

const X87_FLAGS = 0x8d5; // CF PF AF ZF SF OF

function regForm(name: string, bytes: (cb: CB) => number[], need: number, push = false, feature?: 'sse3'): FormDef {
  return {
    name, family: 'none', size: 4, feature,
    gen: (cb) => {
      install(cb, image(cb, need, push));
      cb.flags = (cb.flags & ~X87_FLAGS) | (cb.rng.u32() & X87_FLAGS);
      cb.raw(bytes(cb));
    },
  };
}

/** memory operand kinds */
type MK = 'm32' | 'm64' | 'm80' | 'i16' | 'i32' | 'i64' | 'bcd' | 'env' | 'env16' | 'save' | 'save16' | 'w';
const SPAN: Record<MK, number> = { m32: 4, m64: 8, m80: 10, i16: 2, i32: 4, i64: 8, bcd: 10, env: 28, env16: 14, save: 108, save16: 94, w: 2 };

function memValue(cb: CB, off: number, k: MK, st0: V): void {
  const r = cb.rng;
  switch (k) {
    case 'm32': cb.writeMem(off, 4, BigInt(f32Val(cb))); return;
    case 'm64': { const [lo, hi] = f64Val(cb); cb.writeMem(off, 8, (BigInt(hi) << 32n) | BigInt(lo)); return; }
    case 'm80': { const [lo, hi, se] = f80Val(cb, st0); cb.writeMem(off, 8, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)); cb.writeMem(off + 8, 2, BigInt(se)); return; }
    case 'i16': cb.writeMem(off, 2, BigInt(r.bool(0.3) ? r.pick([0, 1, 0x7fff, 0x8000, 0xffff]) : r.u32() & 0xffff)); return;
    case 'i32': cb.writeMem(off, 4, BigInt(r.bool(0.3) ? r.pick([0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x01000001]) : r.u32() >>> r.int(32))); return;
    case 'i64': cb.writeMem(off, 8, r.bool(0.3) ? r.pick([0n, 1n, (1n << 63n), (1n << 63n) - 1n, (1n << 64n) - 1n, (1n << 53n) + 1n]) : r.u64() >> BigInt(r.int(64))); return;
    case 'bcd': {
      let v = 0n;
      for (let d = 0; d < 18; d++) v |= BigInt(r.int(10)) << BigInt(4 * d);
      cb.writeMem(off, 8, v & ((1n << 64n) - 1n));
      cb.writeMem(off + 8, 2, (v >> 64n) | (r.bool(0.5) ? 0x8000n : 0n));
      return;
    }
    case 'w': cb.writeMem(off, 2, BigInt(r.u32() & 0xffff)); return;
    default: return; // env/save images: the window's random bytes (and fixed-up words below)
  }
}

function memForm(name: string, op: number, ext: number, k: MK, need: number, opts: { push?: boolean; o16?: boolean; feature?: 'sse3'; fix?: (cb: CB, off: number) => void } = {}): FormDef {
  return {
    name, family: 'none', size: 4, feature: opts.feature,
    gen: (cb) => {
      const im = image(cb, need, opts.push === true);
      install(cb, im);
      const mo = cb.alloc({ mem: true, ext, span: SPAN[k] });
      if (mo.mem !== null) {
        memValue(cb, mo.mem.off, k, im.st[0]);
        if (opts.fix) opts.fix(cb, mo.mem.off);
      }
      cb.emit(mo, [op], { opsize: opts.o16 === true ? 2 : undefined });
    },
  };
}

/** a plausible environment image: FCW/FSW/FTW words with structure (random otherwise) */
function envFix(o32: boolean): (cb: CB, off: number) => void {
  return (cb, off) => {
    const r = cb.rng, n = o32 ? 4 : 2;
    const masks = r.bool(0.8) ? 0x3f : r.u32() & 0x3f;
    cb.writeMem(off, 2, BigInt(0x40 | masks | (r.int(4) << 8) | (r.int(4) << 10)));
    cb.writeMem(off + n, 2, BigInt((r.u32() & 0x7f7f & ~0x80) | (r.bool(0.5) ? 0 : 0)));
    cb.writeMem(off + 2 * n, 2, BigInt(r.bool(0.3) ? 0xffff : r.u32() & 0xffff));
  };
}

export function x87Forms(): FormDef[] {
  const out: FormDef[] = [];
  const ar = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr'];
  const mems: [number, MK, string][] = [[0xd8, 'm32', 'm32'], [0xdc, 'm64', 'm64'], [0xda, 'i32', 'm32int'], [0xde, 'i16', 'm16int']];
  for (const [op, k, tn] of mems) {
    for (let r = 0; r < 8; r++) {
      const nm = k === 'i32' || k === 'i16' ? ar[r].replace('f', 'fi') : ar[r];
      out.push(memForm(`${nm} ${tn}`, op, r, k, 1));
    }
  }
  const sti = (cb: CB): number => cb.rng.int(8);
  for (let r = 0; r < 8; r++) {
    out.push(regForm(`${ar[r]} st,st(i)`, (cb) => [0xd8, 0xc0 | (r << 3) | sti(cb)], 8));
    if (r === 2 || r === 3) continue;
    const dcName = ['fadd', 'fmul', '', '', 'fsubr', 'fsub', 'fdivr', 'fdiv'][r];
    out.push(regForm(`${dcName} st(i),st`, (cb) => [0xdc, 0xc0 | (r << 3) | sti(cb)], 8));
    out.push(regForm(`${dcName}p st(i),st`, (cb) => [0xde, 0xc0 | (r << 3) | sti(cb)], 8));
  }
  out.push(regForm('fcompp', () => [0xde, 0xd9], 2));
  out.push(regForm('fucompp', () => [0xda, 0xe9], 2));
  out.push(regForm('fucom st(i)', (cb) => [0xdd, 0xe0 | sti(cb)], 8));
  out.push(regForm('fucomp st(i)', (cb) => [0xdd, 0xe8 | sti(cb)], 8));
  out.push(regForm('fcom st(i) (DC D0 alias)', (cb) => [0xdc, 0xd0 | sti(cb)], 8));
  out.push(regForm('fcomp st(i) (DE D0 alias)', (cb) => [0xde, 0xd0 | sti(cb)], 8));
  out.push(regForm('fcomi', (cb) => [0xdb, 0xf0 | sti(cb)], 8));
  out.push(regForm('fucomi', (cb) => [0xdb, 0xe8 | sti(cb)], 8));
  out.push(regForm('fcomip', (cb) => [0xdf, 0xf0 | sti(cb)], 8));
  out.push(regForm('fucomip', (cb) => [0xdf, 0xe8 | sti(cb)], 8));
  const cm = ['fcmovb', 'fcmove', 'fcmovbe', 'fcmovu'];
  for (let r = 0; r < 4; r++) {
    out.push(regForm(cm[r], (cb) => [0xda, 0xc0 | (r << 3) | sti(cb)], 8));
    out.push(regForm(cm[r].replace('fcmov', 'fcmovn'), (cb) => [0xdb, 0xc0 | (r << 3) | sti(cb)], 8));
  }
  // loads (a full ST(7) overflows the push)
  out.push(memForm('fld m32', 0xd9, 0, 'm32', 0, { push: true }));
  out.push(memForm('fld m64', 0xdd, 0, 'm64', 0, { push: true }));
  out.push(memForm('fld m80', 0xdb, 5, 'm80', 0, { push: true }));
  out.push(memForm('fild m16', 0xdf, 0, 'i16', 0, { push: true }));
  out.push(memForm('fild m32', 0xdb, 0, 'i32', 0, { push: true }));
  out.push(memForm('fild m64', 0xdf, 5, 'i64', 0, { push: true }));
  out.push(memForm('fbld m80', 0xdf, 4, 'bcd', 0, { push: true }));
  out.push(regForm('fld st(i)', (cb) => [0xd9, 0xc0 | sti(cb)], 8, true));
  // stores
  out.push(memForm('fst m32', 0xd9, 2, 'm32', 1));
  out.push(memForm('fstp m32', 0xd9, 3, 'm32', 1));
  out.push(memForm('fst m64', 0xdd, 2, 'm64', 1));
  out.push(memForm('fstp m64', 0xdd, 3, 'm64', 1));
  out.push(memForm('fstp m80', 0xdb, 7, 'm80', 1));
  out.push(memForm('fist m16', 0xdf, 2, 'i16', 1));
  out.push(memForm('fistp m16', 0xdf, 3, 'i16', 1));
  out.push(memForm('fist m32', 0xdb, 2, 'i32', 1));
  out.push(memForm('fistp m32', 0xdb, 3, 'i32', 1));
  out.push(memForm('fistp m64', 0xdf, 7, 'i64', 1));
  out.push(memForm('fisttp m16', 0xdf, 1, 'i16', 1, { feature: 'sse3' }));
  out.push(memForm('fisttp m32', 0xdb, 1, 'i32', 1, { feature: 'sse3' }));
  out.push(memForm('fisttp m64', 0xdd, 1, 'i64', 1, { feature: 'sse3' }));
  out.push(memForm('fbstp m80', 0xdf, 6, 'bcd', 1));
  out.push(regForm('fst st(i)', (cb) => [0xdd, 0xd0 | sti(cb)], 1));
  out.push(regForm('fstp st(i)', (cb) => [0xdd, 0xd8 | sti(cb)], 1));
  out.push(regForm('fxch st(i)', (cb) => [0xd9, 0xc8 | sti(cb)], 8));
  out.push(regForm('ffree st(i)', (cb) => [0xdd, 0xc0 | sti(cb)], 8));
  out.push(regForm('ffreep st(i)', (cb) => [0xdf, 0xc0 | sti(cb)], 8));
  // D9 group (transcendentals excluded)
  const d9: [number, string, number, boolean][] = [
    [0xd0, 'fnop', 0, false], [0xe0, 'fchs', 1, false], [0xe1, 'fabs', 1, false], [0xe4, 'ftst', 1, false],
    [0xe5, 'fxam', 1, false], [0xe8, 'fld1', 0, true], [0xe9, 'fldl2t', 0, true], [0xea, 'fldl2e', 0, true],
    [0xeb, 'fldpi', 0, true], [0xec, 'fldlg2', 0, true], [0xed, 'fldln2', 0, true], [0xee, 'fldz', 0, true],
    [0xf4, 'fxtract', 1, true], [0xf5, 'fprem1', 2, false], [0xf6, 'fdecstp', 0, false], [0xf7, 'fincstp', 0, false],
    [0xf8, 'fprem', 2, false], [0xfa, 'fsqrt', 1, false], [0xfc, 'frndint', 1, false], [0xfd, 'fscale', 2, false],
  ];
  for (const [b, n, need, push] of d9) out.push(regForm(n, () => [0xd9, b], need, push));
  // control
  out.push(regForm('fninit', () => [0xdb, 0xe3], 3));
  out.push(regForm('fnclex', () => [0xdb, 0xe2], 3));
  out.push(regForm('fnstsw ax', () => [0xdf, 0xe0], 3));
  out.push(memForm('fnstsw m16', 0xdd, 7, 'w', 3));
  out.push(memForm('fnstcw m16', 0xd9, 7, 'w', 3));
  out.push(memForm('fldcw m16', 0xd9, 5, 'w', 3));
  out.push(memForm('fnstenv m28', 0xd9, 6, 'env', 3));
  out.push(memForm('fnstenv m14', 0xd9, 6, 'env16', 3, { o16: true }));
  out.push(memForm('fldenv m28', 0xd9, 4, 'env', 3, { fix: envFix(true) }));
  out.push(memForm('fldenv m14', 0xd9, 4, 'env16', 3, { o16: true, fix: envFix(false) }));
  out.push(memForm('fnsave m108', 0xdd, 6, 'save', 3));
  out.push(memForm('fnsave m94', 0xdd, 6, 'save16', 3, { o16: true }));
  out.push(memForm('frstor m94', 0xdd, 4, 'save16', 3, { o16: true, fix: envFix(false) }));
  // the register aliases and the 8087/287 leftovers
  out.push(regForm('fcomp st(i) (DC D8 alias)', (cb) => [0xdc, 0xd8 | sti(cb)], 8));
  out.push(regForm('fxch st(i) (DD C8 alias)', (cb) => [0xdd, 0xc8 | sti(cb)], 8));
  out.push(regForm('fxch st(i) (DF C8 alias)', (cb) => [0xdf, 0xc8 | sti(cb)], 8));
  out.push(regForm('fstp st(i) (DF D0 alias)', (cb) => [0xdf, 0xd0 | sti(cb)], 1));
  out.push(regForm('fstp st(i) (DF D8 alias)', (cb) => [0xdf, 0xd8 | sti(cb)], 1));
  out.push(regForm('fstpnce st(i)', (cb) => [0xd9, 0xd8 | sti(cb)], 1));
  out.push(regForm('fneni, fndisi, fnsetpm', (cb) => [0xdb, cb.rng.pick([0xe0, 0xe1, 0xe4])], 3));
  out.push(memForm('frstor m108', 0xdd, 4, 'save', 3, { fix: envFix(true) }));
  // an x87 instruction, then FNSTENV: its FOP, FIP and FDP (and FCS/FDS) compared through memory
  const thenEnv = (name: string, first: (cb: CB) => number[], need: number): FormDef => ({
    name, family: 'none', size: 4,
    gen: (cb) => {
      install(cb, image(cb, need));
      const mo = cb.alloc({ mem: true, ext: 6, span: 28 });
      cb.emit(mo, [0xd9], { lead: first(cb), seg: false });
    },
  });
  out.push(thenEnv('fadd st,st(i); fnstenv', (cb) => [0xd8, 0xc0 | sti(cb)], 8));
  out.push(thenEnv('fld dword [rsp]; fnstenv', () => [0xd9, 0x04, 0x24], 0));
  out.push(thenEnv('fcomp qword [rsp+8]; fnstenv', () => [0xdc, 0x5c, 0x24, 0x08], 1));
  out.push(thenEnv('fistp word [rsp]; fnstenv', () => [0xdf, 0x1c, 0x24], 1));
  out.push(thenEnv('fninit; fnstenv', () => [0xdb, 0xe3], 3));
  out.push(thenEnv('fsqrt; fnstenv', () => [0xd9, 0xfa], 1));

  // a pending unmasked exception (ES = 1): the next waiting instruction raises #MF, the
  // non-waiting control instructions run; and an exception raised and then met by FWAIT
  const pendingForm = (name: string, bytes: number[]): FormDef => ({
    name, family: 'none', size: 4,
    gen: (cb) => {
      const im = image(cb, 3);
      const r = cb.rng;
      const um = 1 << r.int(6);
      im.fcw &= ~um;
      im.fsw |= um | 0x8080;
      install(cb, im);
      cb.raw(bytes);
    },
  });
  out.push(pendingForm('pending #MF: fwait', [0x9b]));
  out.push(pendingForm('pending #MF: fld1', [0xd9, 0xe8]));
  out.push(pendingForm('pending #MF: fadd st,st(1)', [0xd8, 0xc1]));
  out.push(pendingForm('pending, no wait: fnstsw ax', [0xdf, 0xe0]));
  out.push(pendingForm('pending, no wait: fnclex; fwait', [0xdb, 0xe2, 0x9b]));
  out.push(pendingForm('pending, no wait: fninit', [0xdb, 0xe3]));
  out.push(regForm('fdiv st,st(1); fwait (#MF when unmasked)', () => [0xd8, 0xf1, 0x9b], 2));
  out.push(regForm('fsqrt; fld1 (#MF when unmasked)', () => [0xd9, 0xfa, 0xd9, 0xe8], 1, true));
  return out;
}
