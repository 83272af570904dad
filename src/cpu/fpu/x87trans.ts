/**
 * Cores of the x87 transcendental instructions (F2XM1, FYL2X, FYL2XP1, FPATAN, FPTAN, FSIN,
 * FCOS, FSINCOS) in double-double arithmetic (an unevaluated sum hi + lo of two JS doubles,
 * about 106 significand bits), finished by one rounding to f80 through the softfloat
 * (f80RoundWide) with the caller's rounding mode, so the results are within about an ulp of
 * the 64-bit significand (the hardware is not correctly rounded either).
 *
 * The building blocks are exact: TwoSum (Knuth) and TwoProduct (Dekker, with Veltkamp's split;
 * JS has no fused multiply-add), from which the double-double add, multiply, divide and square
 * root follow (T. J. Dekker, "A floating-point technique for extending the available precision",
 * Numer. Math. 18, 1971). All state is module-level scratch: no allocation per call.
 *
 * FSIN/FCOS/FPTAN/FSINCOS reduce their argument modulo pi/2 as the x87 does, with a 66-bit pi
 * (not the true pi: the host CPU's results follow x - k * pi66/2 to the last bit, and differ from
 * the true sin/cos by up to ~2^-60 absolute for |x| near 100), exactly, in 24-bit limbs.
 *
 * Constants (computed with mpmath at 500 bits, and well-known): pi = 3.14159265358979323846...
 * (double-double 0x400921FB54442D18 + 0x3CA1A62633145C07), ln 2 = 0.69314718055994530941...
 * (0x3FE62E42FEFA39EF + 0x3C7ABC9E3B39803F), log2(e) = 1.44269504088896340735...
 * (0x3FF71547652B82FE + 0x3C7777D0FFDA0D24); pi = 3.243F6A8885A308D313198A2E037073...h, whose
 * top 66 bits are the x87's reduction constant.
 */

import { sf, f80RoundWide } from './softfloat.js';

// ---- double-double primitives: results in (H, L) ----

let H = 0, L = 0;
const SPLIT = 134217729; // 2^27 + 1 (Veltkamp)

/** H + L = a * b exactly (|a|, |b| well inside the double range) */
function twoProd(a: number, b: number): void {
  const p = a * b;
  let t = SPLIT * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b), bl = b - bh;
  H = p; L = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

/** (ah + al) + (bh + bl), both TwoSums kept (accurate under cancellation) */
function ddAdd(ah: number, al: number, bh: number, bl: number): void {
  let s = ah + bh, v = s - ah;
  let e = (ah - (s - v)) + (bh - v);
  const t = al + bl; v = t - al;
  const g = (al - (t - v)) + (bl - v);
  e += t;
  let h = s + e; e = e - (h - s);
  e += g;
  s = h + e; H = s; L = e - (s - h);
}

function ddMul(ah: number, al: number, bh: number, bl: number): void {
  twoProd(ah, bh);
  const p = H, e = L + (ah * bl + al * bh);
  const s = p + e;
  H = s; L = e - (s - p);
}

/** (ah + al) / (bh + bl): three quotient digits */
function ddDiv(ah: number, al: number, bh: number, bl: number): void {
  const q1 = ah / bh;
  ddMul(q1, 0, bh, bl); ddAdd(ah, al, -H, -L);
  const rh = H, rl = L, q2 = rh / bh;
  ddMul(q2, 0, bh, bl); ddAdd(rh, rl, -H, -L);
  const q3 = H / bh;
  const s = q1 + q2;
  let e = q2 - (s - q1);
  e += q3;
  const t = s + e; H = t; L = e - (t - s);
}

/** sqrt(ah + al), ah > 0: one Newton step on the double root */
function ddSqrt(ah: number, al: number): void {
  const s = Math.sqrt(ah);
  twoProd(s, s);
  const c = ((ah - H) - L + al) / (2 * s);
  const t = s + c; H = t; L = c - (t - s);
}

// ---- constants ----

const PI_H = 3.141592653589793, PI_L = 1.2246467991473532e-16;
const PIO2_H = PI_H / 2, PIO2_L = PI_L / 2;
const LN2_H = 0.6931471805599453, LN2_L = 2.3190468138462996e-17;
export const LOG2E_H = 1.4426950408889634, LOG2E_L = 2.0355273740931033e-17;

// 1/n! (n = 0..40) and 1/(2k+1) (k = 0..47) as double-doubles, computed once
const NF = 41, NA = 48;
const invFactH = new Float64Array(NF), invFactL = new Float64Array(NF);
const invOddH = new Float64Array(NA), invOddL = new Float64Array(NA);
invFactH[0] = 1;
for (let n = 1; n < NF; n++) { ddDiv(invFactH[n - 1], invFactL[n - 1], n, 0); invFactH[n] = H; invFactL[n] = L; }
for (let k = 0; k < NA; k++) { ddDiv(1, 0, 2 * k + 1, 0); invOddH[k] = H; invOddL[k] = L; }

// ---- powers of two and exponents of doubles ----

const fv = new Float64Array(1), fu = new Uint32Array(fv.buffer);
/** 2^n for -1022 <= n <= 1023 */
export function pow2(n: number): number { fu[0] = 0; fu[1] = (n + 1023) << 20; return fv[0]; }
/** floor(log2 |v|) of a normal non-zero double */
function expOf(v: number): number { fv[0] = v; return ((fu[1] >>> 20) & 0x7ff) - 1023; }

// ---- f80 in and out ----

/** unpacked f80: significand in [1, 2) as mH + mL (exact), unbiased exponent, sign, limbs */
let mH = 0, mL = 0, mE = 0, mS = 0;
/** the last unpackF80: significand un.h + un.l in [1, 2), exponent un.e, sign un.s */
export const un = { h: 0, l: 0, e: 0, s: 0 };
let sigHi = 0, sigLo = 0;
/** unpack a finite non-zero f80 (denormals normalized) */
export function unpackF80(lo: number, hi: number, se: number): void {
  let e = (se & 0x7fff) === 0 ? -16382 : (se & 0x7fff) - 16383;
  let h = hi >>> 0, l = lo >>> 0;
  if (h === 0) { h = l; l = 0; e -= 32; }
  const k = Math.clz32(h);
  if (k > 0) { h = ((h << k) | (l >>> (32 - k))) >>> 0; l = (l << k) >>> 0; e -= k; }
  sigHi = h; sigLo = l;
  // the top 53 bits and the low 11 bits, each exact in a double
  mH = (h * 4294967296 + ((l >>> 11) * 2048)) / 9223372036854775808;
  mL = (l & 0x7ff) / 9223372036854775808;
  mE = e; mS = (se >>> 15) & 1;
  un.h = mH; un.l = mL; un.e = mE; un.s = mS;
}

/**
 * sf = the f80 rounding (by ctl) of (h + l) * 2^scale; h === 0 gives +0 (exact). The double-double
 * is turned into a 96-bit integer N with |h| in [2^95, 2^96) plus a sticky bit, exactly.
 */
export function roundDD(h: number, l: number, scale: number, ctl: number): void {
  if (h === 0) { sf.flags = 0; sf.c1 = 0; sf.rLo = 0; sf.rHi = 0; sf.rSe = 0; return; }
  let s = 0;
  if (h < 0) { h = -h; l = -l; s = 1; }
  const E = expOf(h);
  let a = h, b = l, n = 95 - E;
  // scale by 2^n in steps inside the double exponent range
  while (n > 1000) { a *= pow2(1000); b *= pow2(1000); n -= 1000; }
  while (n < -1000) { a *= pow2(-1000); b *= pow2(-1000); n += 1000; }
  a *= pow2(n); b *= pow2(n);
  const a2 = Math.floor(a / 18446744073709551616);
  const r1 = a - a2 * 18446744073709551616;
  const a1 = Math.floor(r1 / 4294967296), a0 = r1 - a1 * 4294967296;
  const bi = Math.floor(b), st = b !== bi ? 1 : 0;
  const b1 = Math.floor(bi / 4294967296), b0 = bi - b1 * 4294967296;
  let x0 = a0 + b0, c = Math.floor(x0 / 4294967296); x0 -= c * 4294967296;
  let x1 = a1 + b1 + c; c = Math.floor(x1 / 4294967296); x1 -= c * 4294967296;
  let x2 = a2 + c, e = E + scale, sticky = st;
  if (x2 >= 4294967296) {
    // N = 2^96 (plus less than a unit): one bit right
    sticky |= x0 & 1;
    x0 = ((x0 >>> 1) | ((x1 & 1) << 31)) >>> 0;
    x1 = ((x1 >>> 1) | ((x2 & 1) << 31)) >>> 0;
    x2 = x2 / 2;
    e++;
  }
  f80RoundWide(s, e, x2, x1, x0, sticky, ctl);
}

// ---- kernels on double-doubles; results in (H, L) ----

/** 2 atanh(s) = ln((1 + s) / (1 - s)), |s| <= 1/3 */
function ln2Atanh(sh: number, sl: number): void {
  ddMul(sh, sl, sh, sl);
  const zh = H, zl = L;
  let ah = invOddH[NA - 1], al = invOddL[NA - 1];
  for (let k = NA - 2; k >= 0; k--) { ddMul(ah, al, zh, zl); ddAdd(H, L, invOddH[k], invOddL[k]); ah = H; al = L; }
  ddMul(ah, al, sh, sl);
  H *= 2; L *= 2;
}

/** log2(v) of a double-double v > 0 (|exponent| inside the double range), with an extra e2 */
function log2DD(vh: number, vl: number, e2: number): void {
  let e = expOf(vh);
  let h = vh * pow2(-e), l = vl * pow2(-e);
  if (h > 1.4142135623730951) { h /= 2; l /= 2; e++; }
  ddAdd(h, l, -1, 0); const nh = H, nl = L;
  ddAdd(h, l, 1, 0);
  ddDiv(nh, nl, H, L);
  ln2Atanh(H, L);
  ddMul(H, L, LOG2E_H, LOG2E_L);
  ddAdd(H, L, e + e2, 0);
}

/** results of the exported kernels (double-doubles) */
export const tr = { h: 0, l: 0, sh: 0, sl: 0, ch: 0, cl: 0, th: 0, tl: 0 };

/** tr = log2 of the unpacked f80 (mH + mL) * 2^mE */
export function log2F80(): void { log2DD(mH, mL, mE); tr.h = H; tr.l = L; }

/** tr = log2(1 + x), x = (xh + xl) > -1 */
export function log2p1(xh: number, xl: number): void {
  if (Math.abs(xh) >= 0.5) { ddAdd(1, 0, xh, xl); log2DD(H, L, 0); tr.h = H; tr.l = L; return; }
  // ln(1 + x) = 2 atanh(x / (2 + x))
  ddAdd(2, 0, xh, xl);
  ddDiv(xh, xl, H, L);
  ln2Atanh(H, L);
  ddMul(H, L, LOG2E_H, LOG2E_L);
  tr.h = H; tr.l = L;
}

/** tr = 2^x - 1, |x| < 2 (x = xh + xl) */
export function exp2m1(xh: number, xl: number): void {
  ddMul(xh, xl, LN2_H, LN2_L);
  let uh = H, ul = L;
  tr.h = 0; tr.l = 0;
  if (uh === 0) return;
  let k = expOf(uh) + 11;
  if (k < 0) k = 0;
  const sc = pow2(-k);
  uh *= sc; ul *= sc;
  // expm1(u) = u (1 + u/2! + u^2/3! + ...), |u| < 2^-10
  let ah = invFactH[13], al = invFactL[13];
  for (let n = 12; n >= 1; n--) { ddMul(ah, al, uh, ul); ddAdd(H, L, invFactH[n], invFactL[n]); ah = H; al = L; }
  ddMul(ah, al, uh, ul);
  // expm1(2u) = expm1(u) (expm1(u) + 2)
  for (let j = 0; j < k; j++) { const eh = H, el = L; ddAdd(eh, el, 2, 0); ddMul(eh, el, H, L); }
  tr.h = H; tr.l = L;
}

/** sin and cos of a reduced |r| <= pi/4 + a little, into sinH/sinL, cosH/cosL */
let sinH = 0, sinL = 0, cosH = 0, cosL = 0;
function sinCosKernel(rh: number, rl: number): void {
  ddMul(rh, rl, rh, rl);
  const zh = -H, zl = -L; // -r^2
  // sin r = r (1 - r^2/3! + r^4/5! ...), cos r = 1 - r^2/2! + ...
  let ah = invFactH[35], al = invFactL[35];
  for (let n = 33; n >= 1; n -= 2) { ddMul(ah, al, zh, zl); ddAdd(H, L, invFactH[n], invFactL[n]); ah = H; al = L; }
  ddMul(ah, al, rh, rl); sinH = H; sinL = L;
  ah = invFactH[36]; al = invFactL[36];
  for (let n = 34; n >= 0; n -= 2) { ddMul(ah, al, zh, zl); ddAdd(H, L, invFactH[n], invFactL[n]); ah = H; al = L; }
  cosH = ah; cosL = al;
}

// The x87 reduces its argument modulo pi/2 with a 66-bit pi (the host CPU's FSIN/FCOS/FPTAN/
// FSINCOS results match r = x - k * P exactly, then sin/cos of r, to the last bit), so this does
// the same: P = M66 * 2^-65 with M66 = floor(pi * 2^64) = 0x3243F6A8885A308D3 (66 bits; the
// following bits of pi, 0x13198A2E..., round it down), and r is computed exactly in 24-bit limbs.
const P66_H = 1.5707963267948966, P66_L = 6.123031769111886e-17; // M66 * 2^-65, exactly
const M66_0 = 0xa308d3, M66_1 = 0x6a8885, M66_2 = 0x3243f;
const T24 = 16777216, T48 = 281474976710656;
const LA = new Float64Array(5), LB = new Float64Array(5);

/** limbs l[0..3] (base 2^24) to [0, 2^24) each, carries upward, modulo 2^96 */
function carry4(l: Float64Array): void {
  for (let i = 0; i < 3; i++) { const c = Math.floor(l[i] / T24); l[i] -= c * T24; l[i + 1] += c; }
  l[3] -= Math.floor(l[3] / T24) * T24;
}

/** r = |x| - k P for the unpacked f80 x, |r| <= pi/4 + a little: (redH, redL), redQ = k mod 4 */
let redH = 0, redL = 0, redQ = 0;
function reduce(): void {
  const e = mE;
  if (e < -1 || (e === -1 && mH * 0.5 <= 0.78)) { redH = mH * pow2(e); redL = mL * pow2(e); redQ = 0; return; }
  // k = round(|x| / P): the double-double quotient is within 2^-40 of the true one
  const sc = pow2(e);
  ddDiv(mH * sc, mL * sc, P66_H, P66_L);
  const kh = Math.round(H), kl = Math.round((H - kh) + L);
  // A = |x| * 2^65 = sig * 2^(e + 2) and B = k * M66, both modulo 2^96, in 24-bit limbs
  LA.fill(0); LB.fill(0);
  const s = e + 2, q = Math.floor(s / 24), t = s - 24 * q, m = 1 << t;
  const a0 = sigLo & 0xffffff, a1 = (sigLo >>> 24) | ((sigHi & 0xffff) << 8), a2 = sigHi >>> 16;
  for (let i = 0; i < 3; i++) {
    const w = (i === 0 ? a0 : i === 1 ? a1 : a2) * m; // < 2^47
    const hi = Math.floor(w / T24);
    LA[i + q] += w - hi * T24;
    LA[i + q + 1] += hi;
  }
  carry4(LA);
  const k2 = Math.floor(kh / T48), kr = kh - k2 * T48, k1 = Math.floor(kr / T24);
  LB[0] = kr - k1 * T24 + kl; LB[1] = k1; LB[2] = k2;
  carry4(LB);
  const q0 = LB[0], q1 = LB[1], q2 = LB[2]; // k < 2^63: three limbs
  const b0 = q0 * M66_0, b1 = q0 * M66_1 + q1 * M66_0, b2 = q0 * M66_2 + q1 * M66_1 + q2 * M66_0;
  const b3 = q1 * M66_2 + q2 * M66_1;
  LB[0] = b0; LB[1] = b1; LB[2] = b2; LB[3] = b3;
  carry4(LB);
  redQ = q0 & 3;
  // D = A - B modulo 2^96, read as a signed integer (|D| < 2^66)
  for (let i = 0; i < 4; i++) LA[i] -= LB[i];
  carry4(LA);
  const top = LA[3] >= T24 / 2 ? LA[3] - T24 : LA[3];
  const u = top * T48 * T24 + LA[2] * T48, v = LA[1] * T24 + LA[0];
  const r = u + v, bb = r - u, err = (u - (r - bb)) + (v - bb);
  const sr = pow2(-65);
  redH = r * sr; redL = err * sr;
}

/** tr.s*, tr.c* (and tr.t* = sin/cos) = sin, cos, tan of the unpacked f80 x (|x| < 2^63) */
export function sinCosF80(wantTan: boolean): void {
  reduce();
  sinCosKernel(redH, redL);
  let sh = sinH, sl = sinL, ch = cosH, cl = cosL;
  switch (redQ) {
    case 1: sh = cosH; sl = cosL; ch = -sinH; cl = -sinL; break;
    case 2: sh = -sinH; sl = -sinL; ch = -cosH; cl = -cosL; break;
    case 3: sh = -cosH; sl = -cosL; ch = sinH; cl = sinL; break;
  }
  if (mS) { sh = -sh; sl = -sl; }
  tr.sh = sh; tr.sl = sl; tr.ch = ch; tr.cl = cl;
  if (wantTan) { ddDiv(sh, sl, ch, cl); tr.th = H; tr.tl = L; }
}

/** atan(z) of a double-double 0 <= z <= 1 */
function atanDD(zh: number, zl: number): void {
  // atan z = 2 atan(z / (1 + sqrt(1 + z^2))) until z < 2^-5
  let k = 0;
  while (zh > 0.03125) {
    ddMul(zh, zl, zh, zl); ddAdd(H, L, 1, 0); ddSqrt(H, L); ddAdd(H, L, 1, 0);
    ddDiv(zh, zl, H, L); zh = H; zl = L; k++;
  }
  // atan z = z (1 - z^2/3 + z^4/5 ...)
  ddMul(zh, zl, zh, zl);
  const wh = -H, wl = -L;
  let ah = invOddH[24], al = invOddL[24];
  for (let j = 23; j >= 0; j--) { ddMul(ah, al, wh, wl); ddAdd(H, L, invOddH[j], invOddL[j]); ah = H; al = L; }
  ddMul(ah, al, zh, zl);
  const sc = pow2(k); H *= sc; L *= sc;
}

/**
 * atan2(y, x) for the x87 FPATAN: y = (yh + yl) * 2^ye, x = (xh + xl) * 2^xe with the significands
 * 0 (a zero) or in [1, 2), ys/xs their signs; result in tr.h + tr.l
 */
export function atan2DD(yh: number, yl: number, ye: number, ys: number, xh: number, xl: number, xe: number, xs: number): void {
  const yLess = yh === 0 || (xh !== 0 && (ye < xe || (ye === xe && (yh < xh || (yh === xh && yl <= xl)))));
  let nh: number, nl: number, dh: number, dl: number, d: number;
  if (yLess) { nh = yh; nl = yl; dh = xh; dl = xl; d = ye - xe; } else { nh = xh; nl = xl; dh = yh; dl = yl; d = xe - ye; }
  let zh = 0, zl = 0;
  if (nh !== 0 && d > -300) { ddDiv(nh, nl, dh, dl); const sc = pow2(d); zh = H * sc; zl = L * sc; }
  let rh = 0, rl = 0;
  if (zh !== 0) { atanDD(zh, zl); rh = H; rl = L; }
  if (!yLess) { ddAdd(PIO2_H, PIO2_L, -rh, -rl); rh = H; rl = L; }
  if (xs) { ddAdd(PI_H, PI_L, -rh, -rl); rh = H; rl = L; }
  tr.h = ys ? -rh : rh; tr.l = ys ? -rl : rl;
}

/** tr = (ah + al) * (bh + bl) */
export function mulDD(ah: number, al: number, bh: number, bl: number): void { ddMul(ah, al, bh, bl); tr.h = H; tr.l = L; }
