/**
 * The compiled blocks' memory fast path: an access of 1, 2, 4 or 8 bytes within one 4 KiB page
 * (any alignment: the block loads and stores unaligned ones by bytes, as memory.ts does) that
 * needs nothing but RAM. It applies when the translation is a TLB hit that allows the access (or paging is
 * off with no data breakpoint enabled), the physical address is ordinary RAM below every MMIO
 * region, and, for a write, the page holds no decoded code. Then the access has no side effect
 * but the bytes (and the page's dirty mark), exactly as mmu.ts would do it; anything else
 * returns -1 and the block leaves before the instruction, which the run loop then runs in full.
 */

import type { Cpu } from '../cpu.js';
import { Acc } from '../mmu.js';

/** physical address for a read of `n` (1, 2, 4 or 8) bytes at `lin`, or -1 */
export function fastRead(c: Cpu, lin: number, n: number): number {
  let p: number;
  if (c.pagingOn || c.npActive) {
    p = c.paging.probe(lin, Acc.Read, c.cpl === 3 && !c.implicitSupervisor);
    if (p < 0) return -1;
  } else {
    if (c.dbgData !== 0 || lin < 0) return -1;
    p = lin;
  }
  const m = c.mem;
  if ((p & 0xfff) + n > 4096 || p + n > m.mmioLow || p + n > m.size || p >= 0x7ffff000) return -1;
  // an int32 (not a double that happens to be whole): the block's address arithmetic on it
  // stays in int32 operations
  return p | 0;
}

/**
 * physical address for a write of `n` (1, 2, 4 or 8) bytes at `lin`, or -1; on success the page is
 * marked dirty (the caller writes at once). A write permission implies the read permission,
 * so a read-modify-write uses this too.
 */
export function fastWrite(c: Cpu, lin: number, n: number): number {
  let p: number;
  if (c.pagingOn || c.npActive) {
    p = c.paging.probe(lin, Acc.Write, c.cpl === 3 && !c.implicitSupervisor);
    if (p < 0) return -1;
  } else {
    if (c.dbgData !== 0 || lin < 0) return -1;
    p = lin;
  }
  const m = c.mem;
  if ((p & 0xfff) + n > 4096 || p + n > m.mmioLow || p + n > m.size) return -1;
  const page = p >>> 12;
  if (m.codePage[page] !== 0 || p >= 0x7ffff000) return -1;
  m.dirty[page] = 1;
  return p | 0;
}

/**
 * A block's page-cache miss for a memory operand at the 64-bit address (hi:lo) (int32 halves):
 * the physical address for a read (`write` false) or write of `n` bytes there, or -1 unless the
 * address is canonical (APM Vol. 2 5.3.1), the fast path above allows the access and the whole
 * 4 KiB page is RAM (the block keeps the page for its later accesses). The double-precision
 * address is computed here, not in the block, whose hit path stays in int32 arithmetic.
 */
export function fastMiss(c: Cpu, lo: number, hi: number, n: number, write: boolean): number {
  if (((hi << 16) >> 16) !== hi) return -1;
  const lin = hi * 4294967296 + (lo >>> 0);
  const p = write ? fastWrite(c, lin, n) : fastRead(c, lin, n);
  if (p < 0) return -1;
  const end = p - (lo & 0xfff) + 4096;
  const m = c.mem;
  return end <= m.mmioLow && end <= m.size ? p | 0 : -1;
}
