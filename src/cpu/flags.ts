/**
 * RFLAGS with lazily derived ZF, SF and PF.
 *
 * Arithmetic handlers set CF, AF and OF exactly in `c.flags` and leave the (size-masked) result
 * in `lazyRes`/`lazyResHi` with `lazySize`; ZF, SF and PF are computed from it only when read.
 * Anything that reads or writes RFLAGS as a whole goes through getFlags/setFlags.
 */

import type { Cpu } from './cpu.js';
import { Fl } from './state.js';

/** 1 where the byte has even parity (PF = 1) */
export const PARITY = new Uint8Array(256);
for (let v = 0; v < 256; v++) {
  let n = 0;
  for (let b = v; b; b >>= 1) n += b & 1;
  PARITY[v] = (n & 1) === 0 ? 1 : 0;
}

export function getFlags(c: Cpu): number {
  if (c.lazySize !== 0) materialize(c);
  return c.flags;
}

/** Replace RFLAGS (the caller applies the architectural write masks). */
export function setFlags(c: Cpu, v: number): void {
  c.flags = v | 2;
  c.lazySize = 0;
}

function materialize(c: Cpu): void {
  const r = c.lazyRes;
  let zf: boolean;
  let sf: boolean;
  switch (c.lazySize) {
    case 1: zf = (r & 0xff) === 0; sf = (r & 0x80) !== 0; break;
    case 2: zf = (r & 0xffff) === 0; sf = (r & 0x8000) !== 0; break;
    case 4: zf = r === 0; sf = r < 0; break;
    default: zf = (r | c.lazyResHi) === 0; sf = c.lazyResHi < 0; break;
  }
  c.flags = (c.flags & ~(Fl.ZF | Fl.SF | Fl.PF)) | (zf ? Fl.ZF : 0) | (sf ? Fl.SF : 0) | (PARITY[r & 0xff] << 2);
  c.lazySize = 0;
}

export function zf(c: Cpu): boolean {
  switch (c.lazySize) {
    case 0: return (c.flags & Fl.ZF) !== 0;
    case 1: return (c.lazyRes & 0xff) === 0;
    case 2: return (c.lazyRes & 0xffff) === 0;
    case 4: return c.lazyRes === 0;
    default: return (c.lazyRes | c.lazyResHi) === 0;
  }
}

export function sf(c: Cpu): boolean {
  switch (c.lazySize) {
    case 0: return (c.flags & Fl.SF) !== 0;
    case 1: return (c.lazyRes & 0x80) !== 0;
    case 2: return (c.lazyRes & 0x8000) !== 0;
    case 4: return c.lazyRes < 0;
    default: return c.lazyResHi < 0;
  }
}

export function pf(c: Cpu): boolean {
  return c.lazySize === 0 ? (c.flags & Fl.PF) !== 0 : PARITY[c.lazyRes & 0xff] === 1;
}

/** Set the result-derived flags lazily from a result of `size` bytes. */
export function setLazy(c: Cpu, res: number, resHi: number, size: number): void {
  c.lazyRes = res;
  c.lazyResHi = resHi;
  c.lazySize = size;
}

/** Set all six arithmetic flags at once (materialized). */
export function setArith(c: Cpu, cf: number, pf: number, af: number, zf: number, sf: number, of: number): void {
  c.flags = (c.flags & ~Fl.ARITH) | (cf ? Fl.CF : 0) | (pf ? Fl.PF : 0) | (af ? Fl.AF : 0) |
    (zf ? Fl.ZF : 0) | (sf ? Fl.SF : 0) | (of ? Fl.OF : 0);
  c.lazySize = 0;
}

/** Evaluate condition code `cc` (0..15, APM Vol. 3 Appendix B.3 order). */
export function cond(c: Cpu, cc: number): boolean {
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = (c.flags & Fl.OF) !== 0; break;
    case 1: r = (c.flags & Fl.CF) !== 0; break;
    case 2: r = zf(c); break;
    case 3: r = (c.flags & Fl.CF) !== 0 || zf(c); break;
    case 4: r = sf(c); break;
    case 5: r = pf(c); break;
    case 6: r = sf(c) !== ((c.flags & Fl.OF) !== 0); break;
    default: r = zf(c) || sf(c) !== ((c.flags & Fl.OF) !== 0); break;
  }
  return (cc & 1) === 0 ? r : !r;
}
