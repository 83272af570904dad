/**
 * Stack pushes and pops at a given operand size, through SS with the stack-address size
 * (64-bit in long mode, else SS.B selects 32 or 16; APM Vol. 1 2.5.6 / Vol. 2 4.7.3).
 * Memory is written before RSP changes, so a faulting push leaves no trace.
 */

import type { Cpu } from './cpu.js';
import { readN, writeN } from './mmu.js';
import { segFault } from './operands.js';
import { R, S, TWO32 } from './state.js';

/** linear address of RSP + delta */
export function stackLinear(c: Cpu, delta: number): number {
  if (c.stackSize === 8) {
    const a = c.rh[R.RSP] * TWO32 + (c.rl[R.RSP] >>> 0) + delta;
    if (a < -0x800000000000 || a >= 0x800000000000) segFault(S.SS);
    return a;
  }
  const off = c.stackSize === 4 ? (c.rl[R.RSP] + delta) >>> 0 : (c.rl[R.RSP] + delta) & 0xffff;
  return (c.segBase[S.SS] + off) % TWO32;
}

/** add `delta` to RSP at the stack-address size */
export function adjustRsp(c: Cpu, delta: number): void {
  if (c.stackSize === 8) {
    const s = (c.rl[R.RSP] >>> 0) + delta;
    c.rl[R.RSP] = s | 0;
    if (s >= TWO32) c.rh[R.RSP] = (c.rh[R.RSP] + 1) | 0;
    else if (s < 0) c.rh[R.RSP] = (c.rh[R.RSP] - 1) | 0;
  } else if (c.stackSize === 4) {
    c.rl[R.RSP] = (c.rl[R.RSP] + delta) | 0;
  } else {
    c.rl[R.RSP] = (c.rl[R.RSP] & ~0xffff) | ((c.rl[R.RSP] + delta) & 0xffff);
  }
}

export function push(c: Cpu, size: number, lo: number, hi: number): void {
  writeN(c, stackLinear(c, -size), size, lo, hi);
  adjustRsp(c, -size);
}

/** pop `size` bytes; returns the low half, high half in c.xh */
export function pop(c: Cpu, size: number): number {
  const v = readN(c, stackLinear(c, 0), size);
  adjustRsp(c, size);
  return v;
}

/** read the stack at RSP + delta without moving RSP */
export function peekStack(c: Cpu, delta: number, size: number): number {
  return readN(c, stackLinear(c, delta), size);
}
