/**
 * General-register access by operand size. Byte registers use the decoder's numbering: 0..15
 * are the low bytes (SPL..DIL need REX), 16..19 are AH, CH, DH, BH.
 *
 * Values: the low 32 bits are returned as an int32 with bits above the operand size zero (sizes
 * 1 and 2 are zero-extended); for size 8 the high half is left in c.xh, else c.xh = 0.
 */

import type { Cpu } from './cpu.js';

export function getReg(c: Cpu, r: number, size: number): number {
  switch (size) {
    case 1:
      c.xh = 0;
      return r < 16 ? c.rl[r] & 0xff : (c.rl[r - 16] >> 8) & 0xff;
    case 2:
      c.xh = 0;
      return c.rl[r] & 0xffff;
    case 4:
      c.xh = 0;
      return c.rl[r];
    default:
      c.xh = c.rh[r];
      return c.rl[r];
  }
}

/** Write a register; a 32-bit write clears the upper half (APM Vol. 1 3.1.2.3). */
export function setReg(c: Cpu, r: number, size: number, lo: number, hi: number): void {
  switch (size) {
    case 1:
      if (r < 16) c.rl[r] = (c.rl[r] & ~0xff) | (lo & 0xff);
      else c.rl[r - 16] = (c.rl[r - 16] & ~0xff00) | ((lo & 0xff) << 8);
      return;
    case 2:
      c.rl[r] = (c.rl[r] & ~0xffff) | (lo & 0xffff);
      return;
    case 4:
      c.rl[r] = lo;
      c.rh[r] = 0;
      return;
    default:
      c.rl[r] = lo;
      c.rh[r] = hi;
  }
}

/** RAX/RCX/... as one number (exact below 2^53; for addresses and counts) */
export function regNumber(c: Cpu, r: number): number {
  return c.rh[r] * 4294967296 + (c.rl[r] >>> 0);
}
