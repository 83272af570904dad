/**
 * SSE/SSE2/SSE3 floating-point arithmetic (AMD64 APM Vol. 4; exceptions Vol. 1 4.10): ADD/SUB/
 * MUL/DIV/SQRT/MIN/MAX in PS/SS/PD/SD forms, CMPPS/CMPSS/CMPPD/CMPSD, COMISS/UCOMISS/COMISD/
 * UCOMISD, RCPPS/RCPSS/RSQRTPS/RSQRTSS, ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD.
 *
 * Every IEEE operation goes through softfloat (fpu/softfloat.ts) with MXCSR's rounding mode,
 * DAZ, FTZ and UM; its flags are gathered over all lanes and committed by commitExc: masked
 * exceptions set MXCSR flags and the result is written, an unmasked one leaves the destination
 * unchanged and raises #XM (#UD with CR4.OSXMMEXCPT = 0).
 *
 * MINxx/MAXxx (APM Vol. 4 MINPS): the first operand when it is strictly less (greater), else the
 * second, so a NaN in either operand or two zeros give the second; any NaN raises IE (a
 * signalling compare); with DAZ a denormal operand is read, and returned, as a signed zero.
 *
 * RCPxx/RSQRTxx: AMD documents a relative error of at most 1.5 * 2^-12 and its own
 * approximation tables differ from Intel's. worldswitch returns the exact reciprocal (square
 * root reciprocal) rounded to nearest to 12 fraction bits (relative error at most 2^-13), with
 * the architectural special cases: a zero or denormal input gives an infinity of its sign, an
 * infinity gives a zero, a NaN gives the quietened NaN, RSQRT of a negative number gives the
 * default NaN, and results below the normal range flush to zero; no MXCSR flags.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { sseCheck } from '../fpu/checks.js';
import {
  CTL_DAZ, CTL_FTZ, CTL_UM, f32Add, f32Cmp, f32Div, f32Mul, f32Sqrt, f32Sub, f64Add, f64Cmp, f64Div, f64Mul,
  f64Sqrt, f64Sub, sf,
} from '../fpu/softfloat.js';
import { setArith } from '../flags.js';
import { ALIGN_LEGACY, commitExc, loadW, loadWs, RES, storeRes } from './sse-util.js';

/** softfloat ctl from MXCSR: RC, DAZ, FTZ, UM */
export function sseCtl(mxcsr: number): number {
  return ((mxcsr >> 13) & 3) | ((mxcsr & 0x40) !== 0 ? CTL_DAZ : 0) | ((mxcsr & 0x8000) !== 0 ? CTL_FTZ : 0) |
    ((mxcsr & 0x800) !== 0 ? CTL_UM : 0);
}

/** flags of all lanes, pre-computation (IE DE ZE) and post-computation (OE UE PE) */
let pre = 0;
let post = 0;
function gather(): void {
  pre |= sf.flags & 7;
  post |= sf.flags & 0x38;
}

const OP_ADD = 0, OP_MUL = 1, OP_SUB = 2, OP_MIN = 3, OP_DIV = 4, OP_MAX = 5, OP_SQRT = 6;

/** with DAZ, a denormal operand returned by MIN/MAX reads as a signed zero */
function daz32(a: number, daz: boolean): number {
  return daz && (a & 0x7f800000) === 0 ? a & 0x80000000 : a;
}

function op32(op: number, a: number, b: number, ctl: number): number {
  switch (op) {
    case OP_ADD: f32Add(a, b, ctl); break;
    case OP_SUB: f32Sub(a, b, ctl); break;
    case OP_MUL: f32Mul(a, b, ctl); break;
    case OP_DIV: f32Div(a, b, ctl); break;
    case OP_SQRT: f32Sqrt(b, ctl); break;
    default: {
      const r = f32Cmp(a, b, true, ctl);
      gather();
      const daz = (ctl & CTL_DAZ) !== 0;
      return daz32((op === OP_MIN ? r === 0 : r === 2) ? a : b, daz);
    }
  }
  gather();
  return sf.rLo;
}

/** f64 operation; result low half returned, high half in hi64 */
let hi64 = 0;
function op64(op: number, al: number, ah: number, bl: number, bh: number, ctl: number): number {
  switch (op) {
    case OP_ADD: f64Add(al, ah, bl, bh, ctl); break;
    case OP_SUB: f64Sub(al, ah, bl, bh, ctl); break;
    case OP_MUL: f64Mul(al, ah, bl, bh, ctl); break;
    case OP_DIV: f64Div(al, ah, bl, bh, ctl); break;
    case OP_SQRT: f64Sqrt(bl, bh, ctl); break;
    default: {
      const r = f64Cmp(al, ah, bl, bh, true, ctl);
      gather();
      const first = op === OP_MIN ? r === 0 : r === 2;
      let lo = first ? al : bl;
      let hi = first ? ah : bh;
      if ((ctl & CTL_DAZ) !== 0 && (hi & 0x7ff00000) === 0) { lo = 0; hi &= 0x80000000; }
      hi64 = hi;
      return lo;
    }
  }
  gather();
  hi64 = sf.rHi;
  return sf.rLo;
}

/** sseFp: arg = op | type << 4 (type 0 PS, 1 SS, 2 PD, 3 SD) */
function sseFp(c: Cpu, i: Insn): void {
  sseCheck(c);
  const type = i.arg >> 4;
  const op = i.arg & 15;
  const w = type === 0 || type === 2 ? loadW(c, i, ALIGN_LEGACY) : loadWs(c, i, type === 3);
  const x = c.fpu.xmm;
  const d = i.reg << 2;
  const ctl = sseCtl(c.fpu.mxcsr);
  pre = 0; post = 0;
  RES[0] = x[d]; RES[1] = x[d + 1]; RES[2] = x[d + 2]; RES[3] = x[d + 3];
  switch (type) {
    case 0: for (let k = 0; k < 4; k++) RES[k] = op32(op, x[d + k], w[k], ctl); break;
    case 1: RES[0] = op32(op, x[d], w[0], ctl); break;
    case 2: for (let k = 0; k < 4; k += 2) { RES[k] = op64(op, x[d + k], x[d + k + 1], w[k], w[k + 1], ctl); RES[k + 1] = hi64; } break;
    default: RES[0] = op64(op, x[d], x[d + 1], w[0], w[1], ctl); RES[1] = hi64;
  }
  commitExc(c, pre, post);
  storeRes(c, i.reg);
}

/** compare predicate (imm8 bits 2:0) on a relation (0 less, 1 equal, 2 greater, 3 unordered) */
function pred(p: number, r: number): boolean {
  switch (p) {
    case 0: return r === 1;
    case 1: return r === 0;
    case 2: return r <= 1;
    case 3: return r === 3;
    case 4: return r !== 1;
    case 5: return r !== 0;
    case 6: return r > 1;
    default: return r !== 3;
  }
}

/** the predicates that signal on a QNaN: LT, LE, NLT, NLE */
const SIGNALLING = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 6);

/** CMPPS (0), CMPSS (1), CMPPD (2), CMPSD (3) */
function sseCmp(c: Cpu, i: Insn): void {
  sseCheck(c);
  const type = i.arg;
  const w = type === 0 || type === 2 ? loadW(c, i, ALIGN_LEGACY) : loadWs(c, i, type === 3);
  const x = c.fpu.xmm;
  const d = i.reg << 2;
  const ctl = sseCtl(c.fpu.mxcsr);
  const p = i.imm & 7;
  const sig = ((SIGNALLING >> p) & 1) !== 0;
  pre = 0; post = 0;
  RES[0] = x[d]; RES[1] = x[d + 1]; RES[2] = x[d + 2]; RES[3] = x[d + 3];
  if (type <= 1) {
    const n = type === 0 ? 4 : 1;
    for (let k = 0; k < n; k++) {
      const r = f32Cmp(x[d + k], w[k], sig, ctl);
      gather();
      RES[k] = pred(p, r) ? -1 : 0;
    }
  } else {
    const n = type === 2 ? 4 : 2;
    for (let k = 0; k < n; k += 2) {
      const r = f64Cmp(x[d + k], x[d + k + 1], w[k], w[k + 1], sig, ctl);
      gather();
      const v = pred(p, r) ? -1 : 0;
      RES[k] = v; RES[k + 1] = v;
    }
  }
  commitExc(c, pre, post);
  storeRes(c, i.reg);
}

/**
 * UCOMISS (0), COMISS (1), UCOMISD (2), COMISD (3): ZF PF CF = 111 unordered, 000 greater,
 * 001 less, 100 equal; OF SF AF cleared. COMIS* signal IE on a QNaN too.
 */
function sseComi(c: Cpu, i: Insn): void {
  sseCheck(c);
  const dbl = i.arg >= 2;
  const w = loadWs(c, i, dbl);
  const x = c.fpu.xmm;
  const d = i.reg << 2;
  const ctl = sseCtl(c.fpu.mxcsr);
  const sig = (i.arg & 1) !== 0;
  const r = dbl ? f64Cmp(x[d], x[d + 1], w[0], w[1], sig, ctl) : f32Cmp(x[d], w[0], sig, ctl);
  commitExc(c, sf.flags & 7, 0);
  const un = r === 3 ? 1 : 0;
  setArith(c, un | (r === 0 ? 1 : 0), un, 0, un | (r === 1 ? 1 : 0), 0, 0);
}

// ---- approximations ----

const cvt = new DataView(new ArrayBuffer(8));

/** 1/x or 1/sqrt(x) of a binary32 bit pattern, as described above */
function approx32(a: number, rsqrt: boolean): number {
  const sign = a & 0x80000000;
  const exp = (a >>> 23) & 0xff;
  const frac = a & 0x7fffff;
  if (exp === 0xff) {
    if (frac !== 0) return a | 0x400000;
    if (rsqrt && sign !== 0) return 0xffc00000 | 0;
    return sign;
  }
  if (exp === 0) return rsqrt && sign !== 0 && frac === 0 ? 0xff800000 | 0 : sign | 0x7f800000;
  if (rsqrt && sign !== 0) return 0xffc00000 | 0;
  cvt.setUint32(0, a >>> 0);
  const v = cvt.getFloat32(0);
  const r = rsqrt ? 1 / Math.sqrt(v) : 1 / v;
  cvt.setFloat32(0, r);
  let b = cvt.getUint32(0);
  // 12 fraction bits, rounded to nearest (a carry into the exponent is the right answer)
  b = (b + 0x400) & ~0x7ff;
  if ((b & 0x7f800000) === 0) b &= 0x80000000; // below the normal range: zero
  return b | 0;
}

/** RCPPS (0), RSQRTPS (1), RCPSS (2), RSQRTSS (3) */
function sseRcp(c: Cpu, i: Insn): void {
  sseCheck(c);
  const scalar = (i.arg & 2) !== 0;
  const rs = (i.arg & 1) !== 0;
  const w = scalar ? loadWs(c, i, false) : loadW(c, i, ALIGN_LEGACY);
  const x = c.fpu.xmm;
  const d = i.reg << 2;
  if (scalar) { x[d] = approx32(w[0], rs); return; }
  RES[0] = approx32(w[0], rs); RES[1] = approx32(w[1], rs); RES[2] = approx32(w[2], rs); RES[3] = approx32(w[3], rs);
  storeRes(c, i.reg);
}

/** ADDSUBPS/PD (arg bits 3:2 = 0), HADDPS/PD (4), HSUBPS/PD (8); arg bit 1: PD */
function sseHorz(c: Cpu, i: Insn): void {
  sseCheck(c);
  const w = loadW(c, i, ALIGN_LEGACY);
  const x = c.fpu.xmm;
  const d = i.reg << 2;
  const ctl = sseCtl(c.fpu.mxcsr);
  const pd = (i.arg & 2) !== 0;
  const kind = i.arg & 12;
  pre = 0; post = 0;
  if (!pd) {
    const d0 = x[d], d1 = x[d + 1], d2 = x[d + 2], d3 = x[d + 3];
    if (kind === 0) {
      RES[0] = op32(OP_SUB, d0, w[0], ctl); RES[1] = op32(OP_ADD, d1, w[1], ctl);
      RES[2] = op32(OP_SUB, d2, w[2], ctl); RES[3] = op32(OP_ADD, d3, w[3], ctl);
    } else {
      const op = kind === 4 ? OP_ADD : OP_SUB;
      RES[0] = op32(op, d0, d1, ctl); RES[1] = op32(op, d2, d3, ctl);
      RES[2] = op32(op, w[0], w[1], ctl); RES[3] = op32(op, w[2], w[3], ctl);
    }
  } else {
    const d0 = x[d], d1 = x[d + 1], d2 = x[d + 2], d3 = x[d + 3];
    if (kind === 0) {
      RES[0] = op64(OP_SUB, d0, d1, w[0], w[1], ctl); RES[1] = hi64;
      RES[2] = op64(OP_ADD, d2, d3, w[2], w[3], ctl); RES[3] = hi64;
    } else {
      const op = kind === 4 ? OP_ADD : OP_SUB;
      RES[0] = op64(op, d0, d1, d2, d3, ctl); RES[1] = hi64;
      RES[2] = op64(op, w[0], w[1], w[2], w[3], ctl); RES[3] = hi64;
    }
  }
  commitExc(c, pre, post);
  storeRes(c, i.reg);
}

export const handlers = { sseFp, sseCmp, sseComi, sseRcp, sseHorz };
