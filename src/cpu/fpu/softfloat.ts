/**
 * IEEE-754 arithmetic in software for binary32 (f32), binary64 (f64) and the x87 double-extended
 * format (f80), on 32-bit integer halves (no BigInt, no JS double standing in for a result).
 *
 * Contract: /work/softfloat-api.md. Every entry point resets `sf.flags` and leaves its result in
 * `sf` (f32 bits in rLo; f64 in rLo/rHi; f80 significand in rLo/rHi and sign|exponent in rSe;
 * integers in rLo (and rHi for 64-bit)). No allocation per call.
 *
 * Behaviour follows AMD64 APM Vol. 1 4.9-4.10 (SSE) and 6.4 (x87); where the manual leaves
 * room, it is what the host CPU the tests run on does (an AMD family 1Ah part):
 * - tininess is detected AFTER rounding (both SSE and x87; checked bit-exactly against the host
 *   CPU in test/softfloat.test.ts);
 * - masked underflow sets UE only when the tiny result is also inexact; unmasked underflow sets
 *   UE for every tiny result (ctl bit 6 UM tells which);
 * - FTZ (ctl bit 3, SSE) flushes a tiny result to a signed zero with UE|PE when UE is masked;
 *   DAZ (ctl bit 2, SSE) reads denormal inputs as signed zeros without DE;
 * - x87 precision control (ctl bits 5:4, f80 results only) rounds the significand to 24/53/64
 *   bits and keeps the extended exponent range (APM Vol. 1 6.2.2.2);
 * - x87 unmasked overflow/underflow (f80 results; UM = 0 or ctl bit 8 OM = 0) deliver the
 *   result with its exponent wrapped by -/+ 24576 (APM Vol. 1 6.4.2.5/6.4.2.6 "bias-adjusted");
 * - NaN results: f32/f64 use the SSE rule (first source if it is a NaN, else the second,
 *   quietened); f80 uses the x87 rule (QNaN over SNaN, else the larger significand; APM Vol. 1
 *   6.4.4.3, Table 6-11). Unsupported f80 encodings (pseudo-NaN, pseudo-infinity, unnormal) are
 *   invalid operands: IE and the indefinite QNaN. Pseudo-denormals are read as denormals;
 * - DE: set for a denormal operand of add/sub/mul/div/sqrt/compare/conversion, also next to an
 *   infinity; not when a NaN operand decides the result, not for a finite dividend over zero
 *   (ZE alone), not for the square root of a negative denormal (IE alone), not for
 *   f80ToF32/f80ToF64 (FST m32/m64) and not for conversions to integers.
 */

export const RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2, RC_ZERO = 3;
export const enum Exc { IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32 }
/** ctl bits beyond the rounding mode */
export const CTL_DAZ = 4, CTL_FTZ = 8, CTL_UM = 64, CTL_OM = 256;

export const sf = { flags: 0, rLo: 0, rHi: 0, rSe: 0, c1: 0 };

// operand classes
const ZERO = 0, NORM = 1, INF = 2, QNAN = 3, SNAN = 4, BAD = 5;

// ---- unpacked operands: sign, unbiased exponent (value = 1.f * 2^e), 64-bit significand with
// bit 63 set, class, denormal input flag ----
let uS = 0, uE = 0, uH = 0, uL = 0, uC = 0, uD = 0;
let aS = 0, aE = 0, aH = 0, aL = 0, aC = 0, aD = 0;
let bS = 0, bE = 0, bH = 0, bL = 0, bC = 0, bD = 0;
// working value for rounding: 96-bit significand (H:L integer part in the 64.32 frame, X the
// next 32 bits) plus a sticky bit
let wS = 0, wE = 0, wH = 0, wL = 0, wX = 0, wSt = 0;
// shift results
let tH = 0, tL = 0, tX = 0, tS = 0;

function saveA(): void { aS = uS; aE = uE; aH = uH; aL = uL; aC = uC; aD = uD; }
function saveB(): void { bS = uS; bE = uE; bH = uH; bL = uL; bC = uC; bD = uD; }

function unpack32(a: number, daz: boolean): void {
  uS = a >>> 31; uD = 0;
  const ex = (a >>> 23) & 0xff, f = a & 0x7fffff;
  uH = 0; uL = 0; uE = 0;
  if (ex === 0xff) { uC = f === 0 ? INF : (f & 0x400000) !== 0 ? QNAN : SNAN; uH = ((0x800000 | f) << 8) >>> 0; return; }
  if (ex === 0) {
    if (f === 0 || daz) { uC = ZERO; return; }
    uD = 1; uC = NORM;
    const n = Math.clz32(f);
    uH = (f << n) >>> 0; uE = -149 + 31 - n;
    return;
  }
  uC = NORM; uH = ((0x800000 | f) << 8) >>> 0; uE = ex - 127;
}

function unpack64(lo: number, hi: number, daz: boolean): void {
  lo >>>= 0;
  uS = hi >>> 31; uD = 0;
  const ex = (hi >>> 20) & 0x7ff, fH = hi & 0xfffff;
  uH = 0; uL = 0; uE = 0;
  if (ex === 0x7ff) {
    uC = (fH | lo) === 0 ? INF : (fH & 0x80000) !== 0 ? QNAN : SNAN;
    uH = (0x80000000 | (fH << 11) | (lo >>> 21)) >>> 0; uL = (lo << 11) >>> 0;
    return;
  }
  if (ex === 0) {
    if ((fH | lo) === 0 || daz) { uC = ZERO; return; }
    uD = 1; uC = NORM;
    if (fH !== 0) {
      const n = Math.clz32(fH);
      uH = ((fH << n) | (lo >>> (32 - n))) >>> 0; uL = (lo << n) >>> 0; uE = 63 - n - 1074;
    } else {
      const n = Math.clz32(lo);
      uH = (lo << n) >>> 0; uL = 0; uE = 31 - n - 1074;
    }
    return;
  }
  uC = NORM; uH = (0x80000000 | (fH << 11) | (lo >>> 21)) >>> 0; uL = (lo << 11) >>> 0; uE = ex - 1023;
}

function unpack80(lo: number, hi: number, se: number): void {
  lo >>>= 0; hi >>>= 0;
  uS = (se >>> 15) & 1; uD = 0;
  const ex = se & 0x7fff;
  uH = hi; uL = lo; uE = ex - 16383;
  if (ex === 0x7fff) {
    if ((hi & 0x80000000) === 0) { uC = BAD; return; }
    uC = ((hi & 0x7fffffff) | lo) === 0 ? INF : (hi & 0x40000000) !== 0 ? QNAN : SNAN;
    return;
  }
  if (ex === 0) {
    if ((hi | lo) === 0) { uC = ZERO; return; }
    uD = 1; uC = NORM;
    if ((hi & 0x80000000) !== 0) { uE = -16382; return; } // pseudo-denormal
    normU(); uE = -16382 - uE;
    return;
  }
  uC = (hi & 0x80000000) !== 0 ? NORM : BAD; // unnormal: unsupported
}

/** normalize uH:uL (non-zero) so bit 63 is set; leaves the shift count in uE */
function normU(): void {
  let n = 0;
  if (uH === 0) { uH = uL; uL = 0; n = 32; }
  const k = Math.clz32(uH);
  if (k > 0) { uH = ((uH << k) | (uL >>> (32 - k))) >>> 0; uL = (uL << k) >>> 0; }
  uE = n + k;
}

/** (h,l,x) >> n with sticky, into tH,tL,tX,tS */
function shr96(h: number, l: number, x: number, s: number, n: number): void {
  if (n >= 96) { tH = 0; tL = 0; tX = 0; tS = (s | h | l | x) !== 0 ? 1 : 0; return; }
  while (n >= 32) { if (x !== 0) s = 1; x = l; l = h; h = 0; n -= 32; }
  if (n > 0) {
    if ((x << (32 - n)) !== 0) s = 1;
    x = ((x >>> n) | (l << (32 - n))) >>> 0;
    l = ((l >>> n) | (h << (32 - n))) >>> 0;
    h = h >>> n;
  }
  tH = h; tL = l; tX = x; tS = s;
}

/** normalize wH:wL:wX (non-zero) so bit 95 is set */
function normW(): void {
  while (wH === 0) { wH = wL; wL = wX; wX = 0; wE -= 32; }
  const k = Math.clz32(wH);
  if (k > 0) {
    wH = ((wH << k) | (wL >>> (32 - k))) >>> 0;
    wL = ((wL << k) | (wX >>> (32 - k))) >>> 0;
    wX = (wX << k) >>> 0;
    wE -= k;
  }
}

let rInexact = 0, rIncr = 0;
/** round w (shifted right by sh in the 64.32 frame) to an integer in tH:tL, incremented */
function roundShifted(sh: number, rc: number): void {
  shr96(wH, wL, wX, wSt, sh);
  const rb = tX >>> 31, rest = (tX & 0x7fffffff) !== 0 || tS !== 0;
  rInexact = rb !== 0 || rest ? 1 : 0;
  if (rc === RC_NEAREST) rIncr = rb !== 0 && (rest || (tL & 1) !== 0) ? 1 : 0;
  else if (rc === RC_DOWN) rIncr = rInexact & wS;
  else if (rc === RC_UP) rIncr = rInexact & (wS ^ 1);
  else rIncr = 0;
  if (rIncr !== 0) {
    tL = (tL + 1) >>> 0;
    if (tL === 0) tH = (tH + 1) >>> 0;
  }
}

function precOf(fmt: number, ctl: number): number {
  if (fmt === 0) return 24;
  if (fmt === 1) return 53;
  const pc = (ctl >>> 4) & 3;
  return pc === 0 ? 24 : pc === 2 ? 53 : 64;
}

/** pack integer significand tH:tL (p bits, top bit p-1 set iff normal) with exponent e */
function pack(fmt: number, p: number, e: number): void {
  const normal = p === 64 ? (tH & 0x80000000) !== 0 : p > 32 ? (tH >>> (p - 33)) !== 0 : (tL >>> (p - 1)) !== 0;
  if (fmt === 0) {
    sf.rLo = ((wS << 31) | ((normal ? e + 127 : 0) << 23) | (tL & 0x7fffff)) >>> 0;
  } else if (fmt === 1) {
    sf.rHi = ((wS << 31) | ((normal ? e + 1023 : 0) << 20) | (tH & 0xfffff)) >>> 0;
    sf.rLo = tL >>> 0;
  } else {
    const s = 64 - p;
    if (s >= 32) { sf.rHi = (tL << (s - 32)) >>> 0; sf.rLo = 0; }
    else if (s > 0) { sf.rHi = ((tH << s) | (tL >>> (32 - s))) >>> 0; sf.rLo = (tL << s) >>> 0; }
    else { sf.rHi = tH; sf.rLo = tL; }
    sf.rSe = (wS << 15) | (normal ? (e + 16383) & 0x7fff : 0);
  }
}

function packInf(fmt: number): void {
  if (fmt === 0) sf.rLo = ((wS << 31) | 0x7f800000) >>> 0;
  else if (fmt === 1) { sf.rHi = ((wS << 31) | 0x7ff00000) >>> 0; sf.rLo = 0; }
  else { sf.rHi = 0x80000000; sf.rLo = 0; sf.rSe = (wS << 15) | 0x7fff; }
}

function packZero(fmt: number, s: number): void {
  sf.rLo = 0; sf.rHi = 0; sf.rSe = s << 15;
  if (fmt === 0) sf.rLo = (s << 31) >>> 0;
  else if (fmt === 1) sf.rHi = (s << 31) >>> 0;
}

/** largest finite value of precision p */
function packMax(fmt: number, p: number): void {
  if (fmt === 0) { sf.rLo = ((wS << 31) | 0x7f7fffff) >>> 0; return; }
  if (fmt === 1) { sf.rHi = ((wS << 31) | 0x7fefffff) >>> 0; sf.rLo = 0xffffffff; return; }
  sf.rSe = (wS << 15) | 0x7ffe;
  if (p === 64) { sf.rHi = 0xffffffff; sf.rLo = 0xffffffff; }
  else if (p === 53) { sf.rHi = 0xffffffff; sf.rLo = 0xfffff800; }
  else { sf.rHi = 0xffffff00; sf.rLo = 0; }
}

/** round and pack the working value w (non-zero, normalized: bit 95 set) */
function roundPack(fmt: number, ctl: number): void {
  const p = precOf(fmt, ctl), rc = ctl & 3;
  const emin = fmt === 0 ? -126 : fmt === 1 ? -1022 : -16382;
  const emax = fmt === 0 ? 127 : fmt === 1 ? 1023 : 16383;
  let e = wE;
  sf.c1 = 0;
  if (e < emin) {
    // tiny before rounding; after rounding only if rounding to p bits at an unbounded
    // exponent stays below 2^emin
    roundShifted(64 - p, rc);
    const carried = p === 64 ? (tH | tL) === 0 && rIncr !== 0 : p > 32 ? (tH >>> (p - 32)) !== 0 : tH !== 0 || (tL >>> p) !== 0;
    const tiny = !(e === emin - 1 && carried);
    const unbInexact = rInexact;
    if (tiny) {
      if (fmt === 2 && (ctl & CTL_UM) === 0) {
        // x87 unmasked underflow: bias-adjusted result (APM Vol. 1 6.4.2.6)
        wE = e + 24576;
        roundNormal(fmt, p, rc, emax, ctl);
        sf.flags |= Exc.UE;
        return;
      }
      if ((ctl & CTL_UM) === 0) {
        // SSE unmasked underflow: the caller does not write a result
        sf.flags |= Exc.UE | (unbInexact !== 0 ? Exc.PE : 0);
        roundShifted(64 - p + (emin - e), rc);
        pack(fmt, p, emin);
        return;
      }
      if ((ctl & CTL_FTZ) !== 0 && fmt !== 2) {
        sf.flags |= Exc.UE | Exc.PE;
        packZero(fmt, wS);
        return;
      }
    }
    const sh = 64 - p + (emin - e);
    roundShifted(sh > 200 ? 200 : sh, rc);
    if (rInexact !== 0) sf.flags |= Exc.PE | (tiny ? Exc.UE : 0);
    sf.c1 = rIncr;
    pack(fmt, p, emin);
    return;
  }
  roundNormal(fmt, p, rc, emax, ctl);
}

function roundNormal(fmt: number, p: number, rc: number, emax: number, ctl: number): void {
  let e = wE;
  roundShifted(64 - p, rc);
  // carry out of p bits: the integer is exactly 2^p
  const carried = p === 64 ? (tH | tL) === 0 && rIncr !== 0 : p > 32 ? (tH >>> (p - 32)) !== 0 : tH !== 0 || (tL >>> p) !== 0;
  if (carried) {
    e++;
    if (p === 64) { tH = 0x80000000; tL = 0; }
    else if (p > 32) { tH = 1 << (p - 33); tL = 0; }
    else { tH = 0; tL = 1 << (p - 1); }
  }
  if (rInexact !== 0) sf.flags |= Exc.PE;
  sf.c1 = rIncr;
  if (e > emax) {
    if (fmt === 2 && (ctl & CTL_OM) === 0) {
      // x87 unmasked overflow: bias-adjusted result (APM Vol. 1 6.4.2.5)
      sf.flags |= Exc.OE;
      pack(fmt, p, e - 24576);
      return;
    }
    sf.flags |= Exc.OE | Exc.PE;
    const toInf = rc === RC_NEAREST || (rc === RC_DOWN && wS === 1) || (rc === RC_UP && wS === 0);
    if (toInf) { packInf(fmt); sf.c1 = 1; } else { packMax(fmt, p); sf.c1 = 0; }
    return;
  }
  pack(fmt, p, e);
}

// ---- NaN results ----

function defaultNaN(fmt: number): void {
  if (fmt === 0) sf.rLo = 0xffc00000;
  else if (fmt === 1) { sf.rHi = 0xfff80000; sf.rLo = 0; }
  else { sf.rHi = 0xc0000000; sf.rLo = 0; sf.rSe = 0xffff; }
}

function invalid(fmt: number): void { sf.flags |= Exc.IE; defaultNaN(fmt); }

// ---- common arithmetic on unpacked a, b into w ----

function addCore(sub: number, fmt: number, ctl: number): void {
  const bSign = bS ^ sub;
  if (aD | bD) sf.flags |= Exc.DE;
  if (aC === INF || bC === INF) {
    if (aC === INF && bC === INF && aS !== bSign) { invalid(fmt); return; }
    wS = aC === INF ? aS : bSign; packInf(fmt); return;
  }
  if (aC === ZERO && bC === ZERO) {
    packZero(fmt, aS === bSign ? aS : (ctl & 3) === RC_DOWN ? 1 : 0);
    return;
  }
  if (bC === ZERO) { wS = aS; wE = aE; wH = aH; wL = aL; wX = 0; wSt = 0; roundPack(fmt, ctl); return; }
  if (aC === ZERO) { wS = bSign; wE = bE; wH = bH; wL = bL; wX = 0; wSt = 0; roundPack(fmt, ctl); return; }
  // order by magnitude: x (larger) op y
  let xS = aS, xE = aE, xH = aH, xL = aL, yS = bSign, yE = bE, yH = bH, yL = bL;
  if (aE < bE || (aE === bE && (aH < bH || (aH === bH && aL < bL)))) {
    xS = bSign; xE = bE; xH = bH; xL = bL; yS = aS; yE = aE; yH = aH; yL = aL;
  }
  shr96(yH, yL, 0, 0, xE - yE > 200 ? 200 : xE - yE);
  wE = xE;
  wS = xS;
  if (xS === yS) {
    let x = tX, l = xL + tL, h = xH + tH;
    if (l > 0xffffffff) { l -= 0x100000000; h++; }
    if (h > 0xffffffff) {
      h -= 0x100000000;
      // carry: shift right by one, bring the carry in at the top
      wSt = tS | (x & 1);
      wX = ((x >>> 1) | (l << 31)) >>> 0;
      wL = ((l >>> 1) | (h << 31)) >>> 0;
      wH = ((h >>> 1) | 0x80000000) >>> 0;
      wE++;
    } else { wH = h; wL = l; wX = x; wSt = tS; }
  } else {
    // x - y; a sticky y is one unit below X: subtract one more and keep the sticky
    let x = 0 - tX - tS, l = xL - tL, h = xH - tH;
    if (x < 0) { x += 0x100000000; l--; }
    if (l < 0) { l += 0x100000000; h--; }
    wH = h >>> 0; wL = l >>> 0; wX = x >>> 0; wSt = tS;
    if ((wH | wL | wX) === 0 && wSt === 0) {
      packZero(fmt, (ctl & 3) === RC_DOWN ? 1 : 0);
      return;
    }
    normW();
  }
  roundPack(fmt, ctl);
}

function mulCore(fmt: number, ctl: number): void {
  wS = aS ^ bS;
  if (aD | bD) sf.flags |= Exc.DE;
  if (aC === INF || bC === INF) {
    if (aC === ZERO || bC === ZERO) { invalid(fmt); return; }
    packInf(fmt); return;
  }
  if (aC === ZERO || bC === ZERO) { packZero(fmt, wS); return; }
  // 64x64 -> 128 with 16-bit limbs (column sums stay below 2^36: exact in doubles)
  const a0 = aL & 0xffff, a1 = aL >>> 16, a2 = aH & 0xffff, a3 = aH >>> 16;
  const b0 = bL & 0xffff, b1 = bL >>> 16, b2 = bH & 0xffff, b3 = bH >>> 16;
  let c = a0 * b0;
  const r0 = c % 65536; c = (c - r0) / 65536;
  c += a0 * b1 + a1 * b0;
  const r1 = c % 65536; c = (c - r1) / 65536;
  c += a0 * b2 + a1 * b1 + a2 * b0;
  const r2 = c % 65536; c = (c - r2) / 65536;
  c += a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0;
  const r3 = c % 65536; c = (c - r3) / 65536;
  c += a1 * b3 + a2 * b2 + a3 * b1;
  const r4 = c % 65536; c = (c - r4) / 65536;
  c += a2 * b3 + a3 * b2;
  const r5 = c % 65536; c = (c - r5) / 65536;
  c += a3 * b3;
  const r6 = c % 65536; c = (c - r6) / 65536;
  const r7 = c;
  let w3 = (r7 * 65536 + r6) >>> 0, w2 = (r5 * 65536 + r4) >>> 0, w1 = (r3 * 65536 + r2) >>> 0, w0 = (r1 * 65536 + r0) >>> 0;
  wE = aE + bE;
  if ((w3 & 0x80000000) !== 0) wE++;
  else {
    w3 = ((w3 << 1) | (w2 >>> 31)) >>> 0; w2 = ((w2 << 1) | (w1 >>> 31)) >>> 0;
    w1 = ((w1 << 1) | (w0 >>> 31)) >>> 0; w0 = (w0 << 1) >>> 0;
  }
  wH = w3; wL = w2; wX = w1; wSt = w0 !== 0 ? 1 : 0;
  roundPack(fmt, ctl);
}

function divCore(fmt: number, ctl: number): void {
  wS = aS ^ bS;
  if (aD | bD) sf.flags |= Exc.DE;
  if (aC === INF) {
    if (bC === INF) { invalid(fmt); return; }
    packInf(fmt); return;
  }
  if (bC === INF) { packZero(fmt, wS); return; }
  if (bC === ZERO) {
    if (aC === ZERO) { invalid(fmt); return; }
    // a finite dividend over zero: ZE only (a denormal dividend does not add DE, as the host)
    sf.flags = (sf.flags & ~Exc.DE) | Exc.ZE; packInf(fmt); return;
  }
  if (aC === ZERO) { packZero(fmt, wS); return; }
  // restoring division, one quotient bit per step; remainder is 65 bits (rT:rH:rL)
  let rT = 0, rH = aH, rL = aL;
  wE = aE - bE;
  if (aH < bH || (aH === bH && aL < bL)) {
    rT = 1; rH = ((aH << 1) | (aL >>> 31)) >>> 0; rL = (aL << 1) >>> 0; wE--;
    // the shifted-out top bit of aH is bit 63 (always set), it is rT
  }
  let qH = 0, qL = 0, qX = 0;
  for (let i = 0; i < 67; i++) {
    if (rT !== 0 || rH > bH || (rH === bH && rL >= bL)) {
      let l = rL - bL, h = rH - bH;
      if (l < 0) { l += 0x100000000; h--; }
      rL = l >>> 0; rH = h >>> 0; rT = 0;
      if (i < 32) qH |= 1 << (31 - i); else if (i < 64) qL |= 1 << (63 - i); else qX |= 1 << (95 - i);
    }
    rT = rH >>> 31; rH = ((rH << 1) | (rL >>> 31)) >>> 0; rL = (rL << 1) >>> 0;
  }
  wH = qH >>> 0; wL = qL >>> 0; wX = qX >>> 0; wSt = (rT | rH | rL) !== 0 ? 1 : 0;
  roundPack(fmt, ctl);
}

function sqrtCore(fmt: number, ctl: number): void {
  wS = aS;
  if (aC === ZERO) { packZero(fmt, aS); return; }
  if (aS === 1) { invalid(fmt); return; } // no DE for a negative denormal (as the host CPU)
  if (aC === INF) { packInf(fmt); return; }
  if (aD) sf.flags |= Exc.DE;
  // digit-by-digit root of N = M * 2^68, M = significand (doubled when the exponent is odd)
  const t = aE - 63;
  const odd = t & 1;
  const tt = t - odd;
  let q2 = 0, q1 = 0, q0 = 0, r2 = 0, r1 = 0, r0 = 0;
  for (let j = 66; j >= 0; j--) {
    // bits 2j+1 and 2j of N: bits (2j+1-68-odd) and (2j-68-odd) of the significand
    const k = 2 * j - 68 - odd;
    const bHi = sigBit(k + 1), bLo = sigBit(k);
    // r = r << 2 | pair
    r2 = ((r2 << 2) | (r1 >>> 30)) >>> 0; r1 = ((r1 << 2) | (r0 >>> 30)) >>> 0; r0 = ((r0 << 2) | (bHi << 1) | bLo) >>> 0;
    // t = q << 2 | 1
    const t2 = ((q2 << 2) | (q1 >>> 30)) >>> 0, t1 = ((q1 << 2) | (q0 >>> 30)) >>> 0, t0 = ((q0 << 2) | 1) >>> 0;
    const ge = r2 > t2 || (r2 === t2 && (r1 > t1 || (r1 === t1 && r0 >= t0)));
    q2 = ((q2 << 1) | (q1 >>> 31)) >>> 0; q1 = ((q1 << 1) | (q0 >>> 31)) >>> 0; q0 = ((q0 << 1) | (ge ? 1 : 0)) >>> 0;
    if (ge) {
      let x0 = r0 - t0, x1 = r1 - t1, x2 = r2 - t2;
      if (x0 < 0) { x0 += 0x100000000; x1--; }
      if (x1 < 0) { x1 += 0x100000000; x2--; }
      r0 = x0 >>> 0; r1 = x1 >>> 0; r2 = x2 >>> 0;
    }
  }
  // q has its top bit at 65 or 66
  const top = (q2 & 4) !== 0 ? 66 : 65;
  const sh = 95 - top;
  wH = ((q2 << sh) | (q1 >>> (32 - sh))) >>> 0;
  wL = ((q1 << sh) | (q0 >>> (32 - sh))) >>> 0;
  wX = (q0 << sh) >>> 0;
  wSt = (r0 | r1 | r2) !== 0 ? 1 : 0;
  wE = top - 34 + tt / 2;
  roundPack(fmt, ctl);
}

function sigBit(i: number): number {
  if (i < 0 || i > 63) return 0;
  return i < 32 ? (aL >>> i) & 1 : (aH >>> (i - 32)) & 1;
}

// ---- f32 ----

function nan32(a: number, b: number): boolean {
  if (aC < QNAN && bC < QNAN) return false;
  if (aC === SNAN || bC === SNAN) sf.flags |= Exc.IE;
  sf.rLo = ((aC >= QNAN ? a : b) | 0x400000) >>> 0;
  return true;
}

function start32(a: number, b: number, ctl: number): boolean {
  sf.flags = 0; sf.c1 = 0;
  const daz = (ctl & CTL_DAZ) !== 0;
  unpack32(a, daz); saveA(); unpack32(b, daz); saveB();
  return nan32(a, b);
}

export function f32Add(a: number, b: number, ctl: number): void { if (!start32(a, b, ctl)) addCore(0, 0, ctl); }
export function f32Sub(a: number, b: number, ctl: number): void { if (!start32(a, b, ctl)) addCore(1, 0, ctl); }
export function f32Mul(a: number, b: number, ctl: number): void { if (!start32(a, b, ctl)) mulCore(0, ctl); }
export function f32Div(a: number, b: number, ctl: number): void { if (!start32(a, b, ctl)) divCore(0, ctl); }
export function f32Sqrt(a: number, ctl: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpack32(a, (ctl & CTL_DAZ) !== 0); saveA();
  if (aC >= QNAN) { if (aC === SNAN) sf.flags |= Exc.IE; sf.rLo = (a | 0x400000) >>> 0; return; }
  sqrtCore(0, ctl);
}

// ---- f64 ----

function nan64(aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  if (aC < QNAN && bC < QNAN) return false;
  if (aC === SNAN || bC === SNAN) sf.flags |= Exc.IE;
  if (aC >= QNAN) { sf.rHi = (aHi | 0x80000) >>> 0; sf.rLo = aLo >>> 0; }
  else { sf.rHi = (bHi | 0x80000) >>> 0; sf.rLo = bLo >>> 0; }
  return true;
}

function start64(aLo: number, aHi: number, bLo: number, bHi: number, ctl: number): boolean {
  sf.flags = 0; sf.c1 = 0;
  const daz = (ctl & CTL_DAZ) !== 0;
  unpack64(aLo, aHi, daz); saveA(); unpack64(bLo, bHi, daz); saveB();
  return nan64(aLo, aHi, bLo, bHi);
}

export function f64Add(aLo: number, aHi: number, bLo: number, bHi: number, ctl: number): void { if (!start64(aLo, aHi, bLo, bHi, ctl)) addCore(0, 1, ctl); }
export function f64Sub(aLo: number, aHi: number, bLo: number, bHi: number, ctl: number): void { if (!start64(aLo, aHi, bLo, bHi, ctl)) addCore(1, 1, ctl); }
export function f64Mul(aLo: number, aHi: number, bLo: number, bHi: number, ctl: number): void { if (!start64(aLo, aHi, bLo, bHi, ctl)) mulCore(1, ctl); }
export function f64Div(aLo: number, aHi: number, bLo: number, bHi: number, ctl: number): void { if (!start64(aLo, aHi, bLo, bHi, ctl)) divCore(1, ctl); }
export function f64Sqrt(aLo: number, aHi: number, ctl: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpack64(aLo, aHi, (ctl & CTL_DAZ) !== 0); saveA();
  if (aC >= QNAN) { if (aC === SNAN) sf.flags |= Exc.IE; sf.rHi = (aHi | 0x80000) >>> 0; sf.rLo = aLo >>> 0; return; }
  sqrtCore(1, ctl);
}

// ---- f80 ----

/** x87 NaN rule (APM Vol. 1 6.4.4.3): returns true when the result is a NaN (or invalid) */
function nan80(aLo: number, aHi: number, aSe: number, bLo: number, bHi: number, bSe: number): boolean {
  if (aC < QNAN && bC < QNAN) return false;
  if (aC === BAD || bC === BAD) { invalid(2); return true; }
  if (aC === SNAN || bC === SNAN) sf.flags |= Exc.IE;
  let pickA: boolean;
  if (aC >= QNAN && bC >= QNAN) {
    if (aC !== bC) pickA = aC === QNAN; // a QNaN wins over an SNaN
    else {
      const ah = (aHi & 0x3fffffff) >>> 0, bh = (bHi & 0x3fffffff) >>> 0, al = aLo >>> 0, bl = bLo >>> 0;
      if (ah !== bh) pickA = ah > bh;
      else if (al !== bl) pickA = al > bl;
      else pickA = (aSe & 0x8000) === 0 || (bSe & 0x8000) !== 0; // equal: the positive one
    }
  } else pickA = aC >= QNAN;
  if (pickA) { sf.rHi = (aHi | 0xc0000000) >>> 0; sf.rLo = aLo >>> 0; sf.rSe = aSe & 0xffff; }
  else { sf.rHi = (bHi | 0xc0000000) >>> 0; sf.rLo = bLo >>> 0; sf.rSe = bSe & 0xffff; }
  return true;
}

function start80(aLo: number, aHi: number, aSe: number, bLo: number, bHi: number, bSe: number): boolean {
  sf.flags = 0; sf.c1 = 0;
  unpack80(aLo, aHi, aSe); saveA(); unpack80(bLo, bHi, bSe); saveB();
  return nan80(aLo, aHi, aSe, bLo, bHi, bSe);
}

export function f80Add(aLo: number, aHi: number, aSe: number, bLo: number, bHi: number, bSe: number, ctl: number): void {
  if (!start80(aLo, aHi, aSe, bLo, bHi, bSe)) addCore(0, 2, ctl);
}
export function f80Sub(aLo: number, aHi: number, aSe: number, bLo: number, bHi: number, bSe: number, ctl: number): void {
  if (!start80(aLo, aHi, aSe, bLo, bHi, bSe)) addCore(1, 2, ctl);
}
export function f80Mul(aLo: number, aHi: number, aSe: number, bLo: number, bHi: number, bSe: number, ctl: number): void {
  if (!start80(aLo, aHi, aSe, bLo, bHi, bSe)) mulCore(2, ctl);
}
export function f80Div(aLo: number, aHi: number, aSe: number, bLo: number, bHi: number, bSe: number, ctl: number): void {
  if (!start80(aLo, aHi, aSe, bLo, bHi, bSe)) divCore(2, ctl);
}
export function f80Sqrt(aLo: number, aHi: number, aSe: number, ctl: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpack80(aLo, aHi, aSe); saveA();
  if (aC >= QNAN) {
    if (aC === BAD) { invalid(2); return; }
    if (aC === SNAN) sf.flags |= Exc.IE;
    sf.rHi = (aHi | 0xc0000000) >>> 0; sf.rLo = aLo >>> 0; sf.rSe = aSe & 0xffff;
    return;
  }
  sqrtCore(2, ctl);
}

/** round an f80 to precision/format of ctl (used by the x87 for loads of results); fmt 2 */
function fromU(fmt: number, ctl: number): void {
  // u holds a finite non-zero normalized value
  wS = uS; wE = uE; wH = uH; wL = uL; wX = 0; wSt = 0;
  roundPack(fmt, ctl);
}

// ---- conversions between formats ----

export function f32ToF64(a: number, ctl: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpack32(a, (ctl & CTL_DAZ) !== 0);
  if (uC >= QNAN) {
    if (uC === SNAN) sf.flags |= Exc.IE;
    sf.rHi = ((a & 0x80000000) | 0x7ff80000 | ((a & 0x3fffff) >>> 3)) >>> 0; sf.rLo = (a << 29) >>> 0;
    return;
  }
  if (uC === INF) { wS = uS; packInf(1); return; }
  if (uC === ZERO) { packZero(1, uS); return; }
  if (uD) sf.flags |= Exc.DE;
  fromU(1, ctl);
}

export function f64ToF32(lo: number, hi: number, ctl: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpack64(lo, hi, (ctl & CTL_DAZ) !== 0);
  if (uC >= QNAN) {
    if (uC === SNAN) sf.flags |= Exc.IE;
    sf.rLo = ((hi & 0x80000000) | 0x7fc00000 | ((hi & 0x7ffff) << 3) | (lo >>> 29)) >>> 0;
    return;
  }
  if (uC === INF) { wS = uS; packInf(0); return; }
  if (uC === ZERO) { packZero(0, uS); return; }
  if (uD) sf.flags |= Exc.DE;
  fromU(0, ctl);
}

/** FLD m32: exact; SNaN -> IE and quietened, denormal -> DE (normalized result) */
export function f32ToF80(a: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpack32(a, false);
  f80FromU();
}

export function f64ToF80(lo: number, hi: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpack64(lo, hi, false);
  f80FromU();
}

function f80FromU(): void {
  sf.rSe = uS << 15;
  if (uC === ZERO) { sf.rHi = 0; sf.rLo = 0; return; }
  if (uC === INF) { sf.rSe |= 0x7fff; sf.rHi = 0x80000000; sf.rLo = 0; return; }
  if (uC >= QNAN) {
    if (uC === SNAN) sf.flags |= Exc.IE;
    sf.rSe |= 0x7fff; sf.rHi = (uH | 0xc0000000) >>> 0; sf.rLo = uL;
    return;
  }
  if (uD) sf.flags |= Exc.DE;
  sf.rSe |= uE + 16383; sf.rHi = uH; sf.rLo = uL;
}

/** the significand bits a NaN keeps when it is narrowed: the unpacked NaN fields hold the raw
 * significand (uH:uL, bit 63 the integer bit for f80) */
export function f80ToF32(lo: number, hi: number, se: number, ctl: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpack80(lo, hi, se);
  if (uC === BAD) { invalid(0); return; }
  if (uC >= QNAN) {
    if (uC === SNAN) sf.flags |= Exc.IE;
    sf.rLo = ((uS << 31) | 0x7fc00000 | ((uH >>> 8) & 0x3fffff)) >>> 0;
    return;
  }
  if (uC === INF) { wS = uS; packInf(0); return; }
  if (uC === ZERO) { packZero(0, uS); return; }
  // a denormal source does not raise DE on FST/FSTP m32/m64 (as the host CPU)
  fromU(0, ctl);
}

export function f80ToF64(lo: number, hi: number, se: number, ctl: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpack80(lo, hi, se);
  if (uC === BAD) { invalid(1); return; }
  if (uC >= QNAN) {
    if (uC === SNAN) sf.flags |= Exc.IE;
    sf.rHi = ((uS << 31) | 0x7ff80000 | ((uH >>> 11) & 0x7ffff)) >>> 0;
    sf.rLo = ((uH << 21) | (uL >>> 11)) >>> 0;
    return;
  }
  if (uC === INF) { wS = uS; packInf(1); return; }
  if (uC === ZERO) { packZero(1, uS); return; }
  // a denormal source does not raise DE on FST/FSTP m32/m64 (as the host CPU)
  fromU(1, ctl);
}

// ---- integers to floats ----

/** unpack a signed 64-bit integer into u (class NORM or ZERO) */
function unpackI64(lo: number, hi: number): void {
  lo >>>= 0; hi >>>= 0;
  uS = hi >>> 31; uD = 0;
  if (uS) { lo = (~lo + 1) >>> 0; hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0; }
  uH = hi; uL = lo;
  if ((hi | lo) === 0) { uC = ZERO; uE = 0; return; }
  uC = NORM; normU(); uE = 63 - uE;
}

export function i32ToF32(i: number, ctl: number): void { i64ToF32(i | 0, (i | 0) < 0 ? -1 : 0, ctl); }
export function i32ToF64(i: number): void { i64ToF64(i | 0, (i | 0) < 0 ? -1 : 0, RC_NEAREST); }
export function i64ToF32(lo: number, hi: number, ctl: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpackI64(lo, hi);
  if (uC === ZERO) { packZero(0, 0); return; }
  fromU(0, ctl);
}
export function i64ToF64(lo: number, hi: number, ctl: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpackI64(lo, hi);
  if (uC === ZERO) { packZero(1, 0); return; }
  fromU(1, ctl);
}
export function i64ToF80(lo: number, hi: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpackI64(lo, hi);
  if (uC === ZERO) { packZero(2, 0); return; }
  sf.rSe = (uS << 15) | (uE + 16383); sf.rHi = uH; sf.rLo = uL;
}

// ---- floats to integers ----

/** u -> signed integer of `bits` bits in rLo (rHi); invalid/out of range -> IE, indefinite */
function toInt(bits: number, ctl: number, truncate: boolean): void {
  if (uC !== NORM && uC !== ZERO) { intIndef(bits); return; }
  if (uC === ZERO) { sf.rLo = 0; sf.rHi = 0; return; }
  if (uE > 63) { intIndef(bits); return; }
  wS = uS; wH = uH; wL = uL; wX = 0; wSt = 0;
  roundShifted(63 - uE, truncate ? RC_ZERO : ctl & 3);
  // magnitude tH:tL (may have wrapped to 0 when 2^64 - 1 rounded up)
  const wrapped = rIncr !== 0 && (tH | tL) === 0;
  let ok: boolean;
  if (wrapped) ok = false;
  else if (bits === 64) ok = tH < 0x80000000 || (uS === 1 && tH === 0x80000000 && tL === 0);
  else if (tH !== 0) ok = false;
  else { const lim = bits === 32 ? 0x80000000 : 0x8000; ok = tL < lim || (uS === 1 && tL === lim); }
  if (!ok) { intIndef(bits); return; }
  if (rInexact) sf.flags |= Exc.PE;
  sf.c1 = rIncr;
  let lo = tL, hi = tH;
  if (uS) { lo = (~lo + 1) >>> 0; hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0; }
  if (bits === 64) { sf.rLo = lo; sf.rHi = hi; }
  else if (bits === 32) { sf.rLo = lo | 0; sf.rHi = 0; }
  else { sf.rLo = lo & 0xffff; sf.rHi = 0; }
}

function intIndef(bits: number): void {
  sf.flags |= Exc.IE; sf.c1 = 0;
  if (bits === 64) { sf.rLo = 0; sf.rHi = 0x80000000; }
  else if (bits === 32) { sf.rLo = 0x80000000 | 0; sf.rHi = 0; }
  else { sf.rLo = 0x8000; sf.rHi = 0; }
}

export function f32ToI32(a: number, ctl: number, truncate: boolean): void {
  sf.flags = 0; sf.c1 = 0; unpack32(a, (ctl & CTL_DAZ) !== 0); toInt(32, ctl, truncate);
}
export function f32ToI64(a: number, ctl: number, truncate: boolean): void {
  sf.flags = 0; sf.c1 = 0; unpack32(a, (ctl & CTL_DAZ) !== 0); toInt(64, ctl, truncate);
}
export function f64ToI32(lo: number, hi: number, ctl: number, truncate: boolean): void {
  sf.flags = 0; sf.c1 = 0; unpack64(lo, hi, (ctl & CTL_DAZ) !== 0); toInt(32, ctl, truncate);
}
export function f64ToI64(lo: number, hi: number, ctl: number, truncate: boolean): void {
  sf.flags = 0; sf.c1 = 0; unpack64(lo, hi, (ctl & CTL_DAZ) !== 0); toInt(64, ctl, truncate);
}
export function f80ToI16(lo: number, hi: number, se: number, ctl: number, truncate: boolean): void {
  sf.flags = 0; sf.c1 = 0; unpack80(lo, hi, se); toInt(16, ctl, truncate);
}
export function f80ToI32(lo: number, hi: number, se: number, ctl: number, truncate: boolean): void {
  sf.flags = 0; sf.c1 = 0; unpack80(lo, hi, se); toInt(32, ctl, truncate);
}
export function f80ToI64(lo: number, hi: number, se: number, ctl: number, truncate: boolean): void {
  sf.flags = 0; sf.c1 = 0; unpack80(lo, hi, se); toInt(64, ctl, truncate);
}

// ---- compares: 0 less, 1 equal, 2 greater, 3 unordered ----

function cmpCore(signalQuiet: boolean): number {
  if (aC >= QNAN || bC >= QNAN) {
    if (signalQuiet || aC === SNAN || bC === SNAN || aC === BAD || bC === BAD) sf.flags |= Exc.IE;
    return 3;
  }
  if (aD | bD) sf.flags |= Exc.DE;
  if (aC === ZERO && bC === ZERO) return 1;
  if (aC === ZERO) return bS ? 2 : 0;
  if (bC === ZERO) return aS ? 0 : 2;
  if (aS !== bS) return aS ? 0 : 2;
  // same sign: compare magnitudes (INF as the largest exponent)
  const ae = aC === INF ? 1e9 : aE, be = bC === INF ? 1e9 : bE;
  let m = 0;
  if (ae !== be) m = ae > be ? 1 : -1;
  else if (aH !== bH) m = aH > bH ? 1 : -1;
  else if (aL !== bL) m = aL > bL ? 1 : -1;
  if (m === 0) return 1;
  if (aS) m = -m;
  return m > 0 ? 2 : 0;
}

export function f32Cmp(a: number, b: number, signalQuiet: boolean, ctl: number): number {
  sf.flags = 0; sf.c1 = 0;
  const daz = (ctl & CTL_DAZ) !== 0;
  unpack32(a, daz); saveA(); unpack32(b, daz); saveB();
  return cmpCore(signalQuiet);
}
export function f64Cmp(aLo: number, aHi: number, bLo: number, bHi: number, signalQuiet: boolean, ctl: number): number {
  sf.flags = 0; sf.c1 = 0;
  const daz = (ctl & CTL_DAZ) !== 0;
  unpack64(aLo, aHi, daz); saveA(); unpack64(bLo, bHi, daz); saveB();
  return cmpCore(signalQuiet);
}
export function f80Cmp(aLo: number, aHi: number, aSe: number, bLo: number, bHi: number, bSe: number, signalQuiet: boolean, _ctl: number): number {
  sf.flags = 0; sf.c1 = 0;
  unpack80(aLo, aHi, aSe); saveA(); unpack80(bLo, bHi, bSe); saveB();
  return cmpCore(signalQuiet);
}

// ---- x87 helpers: FRNDINT and FSCALE on finite values ----

/** FRNDINT (APM Vol. 5): round to an integer by ctl.RC (not PC); PE when inexact, C1 rounded up */
export function f80RoundInt(lo: number, hi: number, se: number, ctl: number): void {
  sf.flags = 0; sf.c1 = 0;
  unpack80(lo, hi, se);
  if (uC === BAD) { invalid(2); return; }
  sf.rLo = lo >>> 0; sf.rHi = hi >>> 0; sf.rSe = se & 0xffff;
  if (uC >= QNAN) { if (uC === SNAN) { sf.flags |= Exc.IE; sf.rHi = (sf.rHi | 0x40000000) >>> 0; } return; }
  if (uC !== NORM) return;
  if (uD) sf.flags |= Exc.DE;
  if (uE >= 63) return;
  wS = uS; wH = uH; wL = uL; wX = 0; wSt = 0;
  const sh = 63 - uE;
  roundShifted(sh > 200 ? 200 : sh, ctl & 3);
  if (rInexact) sf.flags |= Exc.PE;
  sf.c1 = rIncr;
  if ((tH | tL) === 0) { packZero(2, uS); return; }
  uH = tH; uL = tL; normU();
  sf.rHi = uH; sf.rLo = uL; sf.rSe = (uS << 15) | (63 - uE + 16383);
}

/**
 * FSCALE core: a finite non-zero f80 times 2^n (n an integer the caller clamps to about
 * +-2^17), rounded by ctl (PC included) with over/underflow as any arithmetic result.
 * Returns false (and does nothing) when the operand is not a finite non-zero number.
 */
export function f80ScaleFinite(lo: number, hi: number, se: number, n: number, ctl: number): boolean {
  sf.flags = 0; sf.c1 = 0;
  unpack80(lo, hi, se);
  if (uC !== NORM) return false;
  if (uD) sf.flags |= Exc.DE;
  wS = uS; wE = uE + n; wH = uH; wL = uL; wX = 0; wSt = 0;
  // beyond what the unmasked bias adjustment can bring back into range: a signed zero with
  // UE|PE, or an infinity with OE|PE (as the host CPU)
  if ((ctl & CTL_UM) === 0 && wE + 24576 < -16382) { sf.flags |= Exc.UE | Exc.PE; packZero(2, wS); return true; }
  if ((ctl & CTL_OM) === 0 && wE - 24576 > 16383) { sf.flags |= Exc.OE | Exc.PE; packInf(2); sf.c1 = 1; return true; }
  roundPack(2, ctl);
  return true;
}

/** class of an f80: 0 zero, 1 finite non-zero, 2 infinity, 3 QNaN, 4 SNaN, 5 unsupported */
export function f80Class(lo: number, hi: number, se: number): number {
  unpack80(lo, hi, se);
  return uC;
}
