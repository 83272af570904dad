/**
 * FPREM and FPREM1 (AMD64 APM Vol. 5): exact partial remainders of f80 values, on 32-bit halves.
 *
 * Results go to `rem`: the f80 remainder, the low three quotient bits, `partial` when the
 * exponent difference was too large to finish in one step (C2 = 1), and the exception flags.
 */

import { Exc, sf, f80Add, f80Class } from './softfloat.js';

/** `special`: a NaN, invalid, zero-dividend or infinite-divisor case (C0 and C3 are kept) */
export const rem = { lo: 0, hi: 0, se: 0, q: 0, partial: 0, flags: 0, special: 0 };

// normalized significand and unbiased exponent of a finite non-zero f80 (denormals included)
let nH = 0, nL = 0, nE = 0;
function unp(lo: number, hi: number, se: number): void {
  let e = (se & 0x7fff) === 0 ? -16382 : (se & 0x7fff) - 16383;
  let h = hi >>> 0, l = lo >>> 0;
  while ((h & 0x80000000) === 0) { h = ((h << 1) | (l >>> 31)) >>> 0; l = (l << 1) >>> 0; e--; }
  nH = h; nL = l; nE = e;
}

/**
 * ST(0) rem ST(1). `nearest`: FPREM1 (quotient rounded to nearest even), else FPREM (truncated).
 * When the exponent difference is 64 or more, the dividend is reduced by a multiple of the
 * divisor times 2^(d - n), with n = 32 + (d mod 32), and `partial` is set (APM Vol. 5 FPREM: "an
 * implementation-dependent number between 32 and 63").
 */
export function f80Rem(aLo: number, aHi: number, aSe: number, bLo: number, bHi: number, bSe: number, nearest: boolean, um: boolean): void {
  rem.flags = 0; rem.q = 0; rem.partial = 0; rem.special = 1;
  const ca = f80Class(aLo, aHi, aSe), cb = f80Class(bLo, bHi, bSe);
  if (ca >= 3 || cb >= 3) {
    // NaN operands as any arithmetic; unsupported encodings invalid
    f80Add(aLo, aHi, aSe, bLo, bHi, bSe, 0x30);
    rem.flags = sf.flags; rem.lo = sf.rLo; rem.hi = sf.rHi; rem.se = sf.rSe;
    return;
  }
  const aDen = (aSe & 0x7fff) === 0 && (aHi | aLo) !== 0, bDen = (bSe & 0x7fff) === 0 && (bHi | bLo) !== 0;
  if (ca === 2 || cb === 0) {
    rem.flags = Exc.IE; // no DE alongside (as the host CPU)
    rem.lo = 0; rem.hi = 0xc0000000; rem.se = 0xffff;
    return;
  }
  if (aDen || bDen) rem.flags |= Exc.DE;
  rem.lo = aLo >>> 0; rem.hi = aHi >>> 0; rem.se = aSe & 0xffff;
  rem.special = 0;
  if (ca === 0) return; // 0 rem x = 0 (quotient 0)
  const sign = aSe & 0x8000;
  unp(aLo, aHi, aSe);
  const ah = nH, al = nL, ae = nE;
  // x rem inf = x (quotient 0), re-encoded like any remainder below
  let bh = 0x80000000, bl = 0, be = ae + 100000;
  if (cb !== 2) { unp(bLo, bHi, bSe); bh = nH; bl = nL; be = nE; }
  const d = ae - be;
  let n = d;
  if (d >= 64) { n = 32 + (d % 32); rem.partial = 1; }
  // restoring division of ah:al by bh:bl, producing (step + 1) quotient bits
  let rT = 0, rH = ah, rL = al, q = 0;
  if (d >= 0) {
    for (let k = 0; ; k++) {
      if (rT !== 0 || rH > bh || (rH === bh && rL >= bl)) {
        let l = rL - bl, h = rH - bh;
        if (l < 0) { l += 0x100000000; h--; }
        rL = l >>> 0; rH = h >>> 0; rT = 0; q |= 1;
      }
      if (k === n) break;
      rT = rH >>> 31; rH = ((rH << 1) | (rL >>> 31)) >>> 0; rL = (rL << 1) >>> 0;
      q = (q << 1) & 7;
    }
  }
  // remainder r = rT:rH:rL * 2^(be - 63) (or a itself when d = -1)
  let rExp = be;
  let neg = 0;
  // d < 0: quotient 0 so far, the remainder is a (re-encoded: a pseudo-denormal comes out
  // with exponent 1, as the host CPU)
  if (d < 0) { rExp = ae; rH = ah; rL = al; rT = 0; }
  if (nearest && !rem.partial && d >= -1) {
    // compare 2r with b: r > b/2, or r == b/2 with q odd -> r = b - r, flip sign, q + 1
    let cmp: number;
    if (d === -1) cmp = rH > bh || (rH === bh && rL > bl) ? 1 : rH === bh && rL === bl ? 0 : -1; // r*2^ae vs b/2 = b*2^(be-1)
    else {
      const t = rH >>> 31, h2 = ((rH << 1) | (rL >>> 31)) >>> 0, l2 = (rL << 1) >>> 0;
      cmp = t !== 0 || h2 > bh || (h2 === bh && l2 > bl) ? 1 : h2 === bh && l2 === bl ? 0 : -1;
    }
    if (cmp > 0 || (cmp === 0 && (q & 1) !== 0)) {
      // b - r, in the units of r
      let bbh = bh, bbl = bl;
      if (d === -1) { // r is in units of 2^(ae-63) = half the units of b: b becomes 2b
        const t = bbh >>> 31; bbh = ((bbh << 1) | (bbl >>> 31)) >>> 0; bbl = (bbl << 1) >>> 0;
        let l = bbl - rL, h = bbh - rH;
        if (l < 0) { l += 0x100000000; h--; }
        rL = l >>> 0; rH = h >>> 0; rT = (t - (h < 0 ? 1 : 0)) & 1;
      } else {
        let l = bbl - rL, h = bbh - rH;
        if (l < 0) { l += 0x100000000; h--; }
        rL = l >>> 0; rH = h >>> 0; rT = 0;
      }
      neg = 1; q = (q + 1) & 7;
    }
  }
  // a partial remainder is in units of the scaled divisor b * 2^(d - n)
  if (rem.partial) rExp = be + (d - n);
  rem.q = q;
  if ((rT | rH | rL) === 0) { rem.lo = 0; rem.hi = 0; rem.se = sign; return; }
  // normalize: value = rT:rH:rL * 2^(rExp - 63)
  if (rT !== 0) { rL = ((rL >>> 1) | (rH << 31)) >>> 0; rH = ((rH >>> 1) | 0x80000000) >>> 0; rExp++; }
  while ((rH & 0x80000000) === 0) { rH = ((rH << 1) | (rL >>> 31)) >>> 0; rL = (rL << 1) >>> 0; rExp--; }
  let be2 = rExp + 16383;
  if (be2 <= 0 && !um) {
    // unmasked underflow: UE and the bias-adjusted result (APM Vol. 1 6.4.2.6), as the host
    rem.flags |= Exc.UE;
    be2 += 24576;
  } else if (be2 <= 0) { // denormal result (exact: the remainder is a multiple of the smaller ulp)
    const sh = 1 - be2;
    if (sh >= 64) { rH = 0; rL = 0; } else if (sh >= 32) { rL = rH >>> (sh - 32); rH = 0; } else { rL = ((rL >>> sh) | (rH << (32 - sh))) >>> 0; rH = rH >>> sh; }
    be2 = 0;
  }
  rem.lo = rL; rem.hi = rH; rem.se = (sign ^ (neg << 15)) | be2;
}
