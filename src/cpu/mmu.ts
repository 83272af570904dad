/**
 * Linear-address memory access for the CPU: translation (paging comes with the system layer;
 * with CR0.PG clear a linear address is the physical address) and reads and writes of 1, 2, 4
 * and 8 bytes, split at page boundaries so each part is translated on its own (APM Vol. 2 5.1).
 *
 * Linear addresses are numbers: 32-bit ones are unsigned, 64-bit ones are canonical and signed
 * (the upper half is negative), so every one is exact.
 */

import type { Cpu } from './cpu.js';
import { TWO32 } from './state.js';
import { dataAccess } from './debug.js';

export const enum Acc {
  Read = 0,
  Write = 1,
  Exec = 2,
}

/**
 * Translate a linear address to a physical one, raising #PF when paging says no. `n` is the
 * size of the access in bytes, for data breakpoints (debug.ts), which are checked on the slow
 * path only: with paging, pages holding a breakpoint never enter the TLB.
 */
export function translate(c: Cpu, lin: number, acc: number, n?: number): number {
  if (c.pagingOn || c.npActive) return c.paging.translate(lin, acc, c.cpl === 3 && !c.implicitSupervisor, n);
  if (c.dbgData !== 0) dataAccess(c, lin, n ?? 1, acc);
  // unpaged: negative (upper-half) addresses are far beyond RAM and read as unmapped
  return lin >= 0 ? lin : lin + TWO32 * TWO32;
}

export function read8(c: Cpu, lin: number): number {
  return c.mem.read8(translate(c, lin, Acc.Read));
}

export function read16(c: Cpu, lin: number): number {
  if ((lin & 0xfff) <= 0xffe) return c.mem.read16(translate(c, lin, Acc.Read, 2));
  return read8(c, lin) | (read8(c, lin + 1) << 8);
}

/** returns a signed int32 */
export function read32(c: Cpu, lin: number): number {
  if ((lin & 0xfff) <= 0xffc) return c.mem.read32(translate(c, lin, Acc.Read, 4));
  return read16(c, lin) | (read16(c, lin + 2) << 16);
}

/** returns the low half; the high half is left in c.xh */
export function read64(c: Cpu, lin: number): number {
  if ((lin & 0xfff) <= 0xff8) {
    const p = translate(c, lin, Acc.Read, 8);
    const lo = c.mem.read32(p);
    c.xh = c.mem.read32(p + 4);
    return lo;
  }
  const lo = read32(c, lin);
  c.xh = read32(c, lin + 4);
  return lo;
}

export function write8(c: Cpu, lin: number, v: number): void {
  c.mem.write8(translate(c, lin, Acc.Write), v & 0xff);
}

export function write16(c: Cpu, lin: number, v: number): void {
  if ((lin & 0xfff) <= 0xffe) { c.mem.write16(translate(c, lin, Acc.Write, 2), v & 0xffff); return; }
  // translate both pages before writing either, so a fault leaves memory unchanged
  const p0 = translate(c, lin, Acc.Write);
  const p1 = translate(c, lin + 1, Acc.Write);
  c.mem.write8(p0, v & 0xff);
  c.mem.write8(p1, (v >>> 8) & 0xff);
}

export function write32(c: Cpu, lin: number, v: number): void {
  if ((lin & 0xfff) <= 0xffc) { c.mem.write32(translate(c, lin, Acc.Write, 4), v); return; }
  const n0 = 0x1000 - (lin & 0xfff);
  const p0 = translate(c, lin, Acc.Write, n0);
  const p1 = translate(c, lin + n0, Acc.Write, 4 - n0);
  for (let k = 0; k < 4; k++) c.mem.write8(k < n0 ? p0 + k : p1 + k - n0, (v >>> (8 * k)) & 0xff);
}

export function write64(c: Cpu, lin: number, lo: number, hi: number): void {
  if ((lin & 0xfff) <= 0xff8) {
    const p = translate(c, lin, Acc.Write, 8);
    c.mem.write32(p, lo);
    c.mem.write32(p + 4, hi);
    return;
  }
  const n0 = 0x1000 - (lin & 0xfff);
  const p0 = translate(c, lin, Acc.Write, n0);
  const p1 = translate(c, lin + n0, Acc.Write, 8 - n0);
  for (let k = 0; k < 8; k++) {
    const b = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
    c.mem.write8(k < n0 ? p0 + k : p1 + k - n0, b);
  }
}

/** read `size` (1, 2, 4, 8) bytes: low half returned, high half in c.xh (0 below 8 bytes) */
export function readN(c: Cpu, lin: number, size: number): number {
  switch (size) {
    case 1: c.xh = 0; return read8(c, lin);
    case 2: c.xh = 0; return read16(c, lin);
    case 4: c.xh = 0; return read32(c, lin);
    default: return read64(c, lin);
  }
}

export function writeN(c: Cpu, lin: number, size: number, lo: number, hi: number): void {
  switch (size) {
    case 1: write8(c, lin, lo); return;
    case 2: write16(c, lin, lo); return;
    case 4: write32(c, lin, lo); return;
    default: write64(c, lin, lo, hi);
  }
}

/** Check that a write of `size` bytes at `lin` would not fault (for instructions that must
 * not change anything before a later fault). */
export function probeWrite(c: Cpu, lin: number, size: number): void {
  translate(c, lin, Acc.Write, 0);
  if (((lin & 0xfff) + size) > 0x1000) translate(c, lin + size - 1, Acc.Write, 0);
}
