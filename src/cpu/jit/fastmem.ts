/**
 * The compiled blocks' memory fast path: an aligned access of 4 or 8 bytes that needs nothing
 * but RAM. It applies when the translation is a TLB hit that allows the access (or paging is
 * off with no data breakpoint enabled), the physical address is ordinary RAM below every MMIO
 * region, and, for a write, the page holds no decoded code. Then the access has no side effect
 * but the bytes (and the page's dirty mark), exactly as mmu.ts would do it; anything else
 * returns -1 and the block calls the instruction's handler, which takes the full path.
 */

import type { Cpu } from '../cpu.js';
import { Acc } from '../mmu.js';

/** physical address for a read of `n` (4 or 8) bytes at `lin`, or -1 */
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
  if ((p & (n - 1)) !== 0 || p + n > m.mmioLow || p + n > m.size) return -1;
  return p;
}

/**
 * physical address for a write of `n` (4 or 8) bytes at `lin`, or -1; on success the page is
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
  if ((p & (n - 1)) !== 0 || p + n > m.mmioLow || p + n > m.size) return -1;
  const page = p >>> 12;
  if (m.codePage[page] !== 0) return -1;
  m.dirty[page] = 1;
  return p;
}
