/**
 * Multiply and divide: MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV (AMD64 APM
 * Vol. 3, chapter 3).
 *
 * Products and quotients are computed exactly without BigInt except in the one case that needs
 * 128/64 division with a divisor of 2^32 or more. A 64x64 product is built from 16x32-bit
 * partial products, each exact in a double.
 *
 * Flags: MUL/IMUL set CF = OF as the manual says. SF, ZF, PF and AF are undefined; worldswitch
 * sets SF, ZF and PF from the low half of the result (AL, AX, EAX or RAX for the one-operand
 * forms, the destination for the others) and clears AF. DIV and IDIV leave every flag as it
 * was (all six are undefined).
 *
 * #DE (divide by zero, or a quotient that does not fit) is raised before anything changes.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { Fl, TWO32, Vec } from '../state.js';
import { setLazy } from '../flags.js';
import { raise } from '../fault.js';
import { readE, readG, writeG } from '../operands.js';
import { getReg, setReg } from '../regs.js';

// ---- exact 32x32 and 64x64 multiplication ----

/** high half (uint32 number) of the last mul32 */
let mh = 0;

/** unsigned a * b for uint32 numbers: low half returned (uint32 number), high half in mh */
function mul32(a: number, b: number): number {
  const p = a * (b & 0xffff); // < 2^48
  const q = a * (b >>> 16); // < 2^48
  const t = p + (q & 0xffff) * 65536; // < 2^49
  mh = Math.floor(q / 65536) + Math.floor(t / TWO32);
  return t >>> 0;
}

/** the 128-bit product of the last mul64, as four int32 words, least significant first */
let w0 = 0;
let w1 = 0;
let w2 = 0;
let w3 = 0;

/** (ah:al) * (bh:bl), signed if `signed`; result in w0..w3 */
function mul64(al: number, ah: number, bl: number, bh: number, signed: boolean): void {
  const a0 = al >>> 0;
  const a1 = ah >>> 0;
  const b0 = bl >>> 0;
  const b1 = bh >>> 0;
  const l00 = mul32(a0, b0); const h00 = mh;
  const l01 = mul32(a0, b1); const h01 = mh;
  const l10 = mul32(a1, b0); const h10 = mh;
  const l11 = mul32(a1, b1); const h11 = mh;
  const s1 = h00 + l01 + l10;
  const c1 = Math.floor(s1 / TWO32);
  const s2 = h01 + h10 + l11 + c1;
  const c2 = Math.floor(s2 / TWO32);
  let x2 = s2 >>> 0;
  let x3 = h11 + c2;
  if (signed) {
    // two's complement correction: subtract b << 64 for a < 0, a << 64 for b < 0
    if (ah < 0) { const d = x2 - b0; x2 = d; x3 = x3 - b1 - (d < 0 ? 1 : 0); x2 >>>= 0; }
    if (bh < 0) { const d = x2 - a0; x2 = d; x3 = x3 - a1 - (d < 0 ? 1 : 0); x2 >>>= 0; }
  }
  w0 = l00 | 0;
  w1 = s1 | 0;
  w2 = x2 | 0;
  w3 = x3 | 0;
}

// ---- exact division ----

/** remainder of the last div6432 */
let rem = 0;

/** (hi:lo) / d for uint32 numbers with hi < d, by 16-bit digits (each step exact in a double) */
function div6432(hi: number, lo: number, d: number): number {
  let x = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(x / d);
  x = (x - q1 * d) * 65536 + (lo & 0xffff);
  const q0 = Math.floor(x / d);
  rem = x - q0 * d;
  return q1 * 65536 + q0;
}

/** quotient and remainder of the last div128, as uint32 numbers */
let ql = 0;
let qh = 0;
let rl = 0;
let rh = 0;

/**
 * Unsigned (n3:n2:n1:n0) / (d1:d0), all uint32 numbers, divisor non-zero. Returns false when
 * the quotient does not fit in 64 bits.
 */
function div128(n3: number, n2: number, n1: number, n0: number, d1: number, d0: number): boolean {
  if (n3 > d1 || (n3 === d1 && n2 >= d0)) return false;
  if (d1 === 0) {
    qh = div6432(n2, n1, d0);
    ql = div6432(rem, n0, d0);
    rl = rem;
    rh = 0;
    return true;
  }
  if (n3 === 0 && n2 === 0 && n1 < 0x100000) {
    // dividend below 2^52: a double holds it, and its quotient is exact
    const n = n1 * TWO32 + n0;
    if (d1 >= 0x100000) { ql = 0; qh = 0; rl = n0; rh = n1; return true; }
    const d = d1 * TWO32 + d0;
    const q = Math.floor(n / d);
    const r = n - q * d;
    ql = q >>> 0; qh = Math.floor(q / TWO32);
    rl = r >>> 0; rh = Math.floor(r / TWO32);
    return true;
  }
  const n = (BigInt(n3) << 96n) | (BigInt(n2) << 64n) | (BigInt(n1) << 32n) | BigInt(n0);
  const d = (BigInt(d1) << 32n) | BigInt(d0);
  const q = n / d;
  const r = n - q * d;
  ql = Number(q & 0xffffffffn); qh = Number(q >> 32n);
  rl = Number(r & 0xffffffffn); rh = Number(r >> 32n);
  return true;
}

// ---- flags ----

function setMulFlags(c: Cpu, ov: boolean, res: number, resHi: number, size: number): void {
  c.flags = (c.flags & ~(Fl.CF | Fl.AF | Fl.OF)) | (ov ? Fl.CF | Fl.OF : 0);
  setLazy(c, res, resHi, size);
}

// ---- F6/F7 /4../7 ----

function mul(c: Cpu, size: number, b: number, bh: number): void {
  switch (size) {
    case 1: {
      const p = (c.rl[0] & 0xff) * b;
      setReg(c, 0, 2, p, 0);
      setMulFlags(c, p > 0xff, p & 0xff, 0, 1);
      return;
    }
    case 2: {
      const p = (c.rl[0] & 0xffff) * b;
      setReg(c, 0, 2, p, 0);
      setReg(c, 2, 2, p >>> 16, 0);
      setMulFlags(c, p > 0xffff, p & 0xffff, 0, 2);
      return;
    }
    case 4: {
      const lo = mul32(c.rl[0] >>> 0, b >>> 0) | 0;
      const hi = mh | 0;
      setReg(c, 0, 4, lo, 0);
      setReg(c, 2, 4, hi, 0);
      setMulFlags(c, hi !== 0, lo, 0, 4);
      return;
    }
    default:
      mul64(c.rl[0], c.rh[0], b, bh, false);
      setReg(c, 0, 8, w0, w1);
      setReg(c, 2, 8, w2, w3);
      setMulFlags(c, (w2 | w3) !== 0, w0, w1, 8);
  }
}

function imul1(c: Cpu, size: number, b: number, bh: number): void {
  switch (size) {
    case 1: {
      const p = ((c.rl[0] << 24) >> 24) * ((b << 24) >> 24);
      setReg(c, 0, 2, p, 0);
      setMulFlags(c, p !== ((p << 24) >> 24), p & 0xff, 0, 1);
      return;
    }
    case 2: {
      const p = ((c.rl[0] << 16) >> 16) * ((b << 16) >> 16);
      setReg(c, 0, 2, p, 0);
      setReg(c, 2, 2, p >> 16, 0);
      setMulFlags(c, p !== ((p << 16) >> 16), p & 0xffff, 0, 2);
      return;
    }
    case 4: {
      const a = c.rl[0];
      const lo = mul32(a >>> 0, b >>> 0) | 0;
      // signed high half: subtract the other operand for each negative one (mod 2^32)
      const hi = (mh - (a < 0 ? b >>> 0 : 0) - (b < 0 ? a >>> 0 : 0)) | 0;
      setReg(c, 0, 4, lo, 0);
      setReg(c, 2, 4, hi, 0);
      setMulFlags(c, hi !== lo >> 31, lo, 0, 4);
      return;
    }
    default: {
      mul64(c.rl[0], c.rh[0], b, bh, true);
      const s = w1 >> 31;
      setReg(c, 0, 8, w0, w1);
      setReg(c, 2, 8, w2, w3);
      setMulFlags(c, w2 !== s || w3 !== s, w0, w1, 8);
    }
  }
}

function div(c: Cpu, size: number, b: number, bh: number): void {
  switch (size) {
    case 1: {
      if (b === 0) raise(Vec.DE, 0);
      const n = c.rl[0] & 0xffff;
      const q = Math.floor(n / b);
      if (q > 0xff) raise(Vec.DE, 0);
      setReg(c, 0, 2, ((n - q * b) << 8) | q, 0);
      return;
    }
    case 2: {
      if (b === 0) raise(Vec.DE, 0);
      const n = (((c.rl[2] & 0xffff) << 16) | (c.rl[0] & 0xffff)) >>> 0;
      const q = Math.floor(n / b);
      if (q > 0xffff) raise(Vec.DE, 0);
      setReg(c, 0, 2, q, 0);
      setReg(c, 2, 2, n - q * b, 0);
      return;
    }
    case 4: {
      const d = b >>> 0;
      if (d === 0 || (c.rl[2] >>> 0) >= d) raise(Vec.DE, 0);
      const q = div6432(c.rl[2] >>> 0, c.rl[0] >>> 0, d);
      setReg(c, 0, 4, q | 0, 0);
      setReg(c, 2, 4, rem | 0, 0);
      return;
    }
    default: {
      if ((b | bh) === 0) raise(Vec.DE, 0);
      if (!div128(c.rh[2] >>> 0, c.rl[2] >>> 0, c.rh[0] >>> 0, c.rl[0] >>> 0, bh >>> 0, b >>> 0)) raise(Vec.DE, 0);
      setReg(c, 0, 8, ql | 0, qh | 0);
      setReg(c, 2, 8, rl | 0, rh | 0);
    }
  }
}

function idiv(c: Cpu, size: number, b: number, bh: number): void {
  switch (size) {
    case 1: {
      const d = (b << 24) >> 24;
      if (d === 0) raise(Vec.DE, 0);
      const n = (c.rl[0] << 16) >> 16;
      const q = Math.trunc(n / d);
      if (q > 127 || q < -128) raise(Vec.DE, 0);
      setReg(c, 0, 2, (((n - q * d) & 0xff) << 8) | (q & 0xff), 0);
      return;
    }
    case 2: {
      const d = (b << 16) >> 16;
      if (d === 0) raise(Vec.DE, 0);
      const n = (c.rl[2] << 16) | (c.rl[0] & 0xffff);
      const q = Math.trunc(n / d);
      if (q > 32767 || q < -32768) raise(Vec.DE, 0);
      setReg(c, 0, 2, q, 0);
      setReg(c, 2, 2, n - q * d, 0);
      return;
    }
    case 4: {
      if (b === 0) raise(Vec.DE, 0);
      // magnitudes, then the signs: the quotient truncates toward zero, the remainder takes
      // the dividend's sign
      let nl = c.rl[0] >>> 0;
      let nh = c.rl[2] >>> 0;
      const nneg = c.rl[2] < 0;
      if (nneg) {
        nl = (-nl) >>> 0;
        nh = (~nh + (nl === 0 ? 1 : 0)) >>> 0;
      }
      const d = b < 0 ? -b : b;
      if (nh >= d) raise(Vec.DE, 0);
      const q = div6432(nh, nl, d);
      const qneg = nneg !== b < 0;
      if (q > (qneg ? 0x80000000 : 0x7fffffff)) raise(Vec.DE, 0);
      setReg(c, 0, 4, qneg ? -q | 0 : q | 0, 0);
      setReg(c, 2, 4, nneg ? -rem | 0 : rem | 0, 0);
      return;
    }
    default: {
      if ((b | bh) === 0) raise(Vec.DE, 0);
      let n0 = c.rl[0] >>> 0;
      let n1 = c.rh[0] >>> 0;
      let n2 = c.rl[2] >>> 0;
      let n3 = c.rh[2] >>> 0;
      const nneg = c.rh[2] < 0;
      if (nneg) {
        // 128-bit negation: invert, then add 1 with the carry rippling up
        n0 = (~n0 + 1) >>> 0;
        let cy = n0 === 0 ? 1 : 0;
        n1 = (~n1 + cy) >>> 0; cy = cy && n1 === 0 ? 1 : 0;
        n2 = (~n2 + cy) >>> 0; cy = cy && n2 === 0 ? 1 : 0;
        n3 = (~n3 + cy) >>> 0;
      }
      let d0 = b >>> 0;
      let d1 = bh >>> 0;
      const dneg = bh < 0;
      if (dneg) {
        d0 = (~d0 + 1) >>> 0;
        d1 = (~d1 + (d0 === 0 ? 1 : 0)) >>> 0;
      }
      if (!div128(n3, n2, n1, n0, d1, d0)) raise(Vec.DE, 0);
      const qneg = nneg !== dneg;
      // |quotient| must be below 2^63, or equal to it for a negative quotient
      if (qh > 0x80000000 || (qh === 0x80000000 && (!qneg || ql !== 0))) raise(Vec.DE, 0);
      let q0 = ql | 0;
      let q1 = qh | 0;
      if (qneg) { q0 = -ql | 0; q1 = (~qh + (q0 === 0 ? 1 : 0)) | 0; }
      let r0 = rl | 0;
      let r1 = rh | 0;
      if (nneg) { r0 = -rl | 0; r1 = (~rh + (r0 === 0 ? 1 : 0)) | 0; }
      setReg(c, 0, 8, q0, q1);
      setReg(c, 2, 8, r0, r1);
    }
  }
}

/** F6/F7 /4 MUL, /5 IMUL, /6 DIV, /7 IDIV: the operand is read (and may fault) first */
function mulDiv(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const b = readE(c, i, size);
  const bh = c.xh;
  switch (i.arg) {
    case 4: mul(c, size, b, bh); return;
    case 5: imul1(c, size, b, bh); return;
    case 6: div(c, size, b, bh); return;
    default: idiv(c, size, b, bh);
  }
}

/**
 * Truncating signed multiply for the two- and three-operand forms (16/32/64-bit): returns the
 * low half (high half in c.xh); CF = OF = the product did not fit.
 */
function imulTrunc(c: Cpu, size: number, a: number, ah: number, b: number, bh: number): number {
  if (size === 2) {
    const p = ((a << 16) >> 16) * ((b << 16) >> 16);
    const r = p & 0xffff;
    setMulFlags(c, p !== ((p << 16) >> 16), r, 0, 2);
    c.xh = 0;
    return r;
  }
  if (size === 4) {
    const r = Math.imul(a, b);
    // the double product is exact whenever it fits in 32 bits, and then equals r
    setMulFlags(c, a * b !== r, r, 0, 4);
    c.xh = 0;
    return r;
  }
  mul64(a, ah, b, bh, true);
  const s = w1 >> 31;
  setMulFlags(c, w2 !== s || w3 !== s, w0, w1, 8);
  c.xh = w1;
  return w0;
}

/** 0F AF: IMUL Gv, Ev */
function imul2(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const b = readE(c, i, size);
  const bh = c.xh;
  const a = readG(c, i, size);
  const r = imulTrunc(c, size, a, c.xh, b, bh);
  writeG(c, i, size, r, c.xh);
}

/** 69 / 6B: IMUL Gv, Ev, Iz/Ib (the immediate sign-extended) */
function imul3(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const a = readE(c, i, size);
  const r = imulTrunc(c, size, a, c.xh, i.imm, i.immHi);
  writeG(c, i, size, r, c.xh);
}

export const handlers = { mulDiv, imul2, imul3 };

/**
 * Whether the signed 64x64 product (ah:al) * (bh:bl) overflows 64 bits: IMUL's CF and OF
 * (the block compiler computes the truncated product itself and asks for these only when
 * something looks at them: cpu/jit/gen.ts)
 */
export function imulOverflow64(al: number, ah: number, bl: number, bh: number): boolean {
  mul64(al, ah, bl, bh, true);
  const s = w1 >> 31;
  return w2 !== s || w3 !== s;
}

/** exported for unit tests of the exact arithmetic */
export const _test = {
  mul64(al: number, ah: number, bl: number, bh: number, signed: boolean): number[] {
    mul64(al, ah, bl, bh, signed);
    return [w0, w1, w2, w3];
  },
  div128(n3: number, n2: number, n1: number, n0: number, d1: number, d0: number): number[] | null {
    return div128(n3, n2, n1, n0, d1, d0) ? [ql, qh, rl, rh] : null;
  },
};
