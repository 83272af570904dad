/**
 * The processor mode derived from CR0, EFER, RFLAGS.VM and the CS and SS descriptors
 * (AMD64 APM Vol. 2 1.3, Table 1-1): code size, stack-address size and whether paging is on.
 * Called after anything that can change them (MOV CR0/CR4, WRMSR EFER, CS/SS loads, IRET,
 * task and world switches).
 */

import type { Cpu } from './cpu.js';
import { Cr0, Efer, Fl, S } from './state.js';
import { perfSync } from './pmu.js';

/** descriptor attribute bits in the VMCB-style 12-bit form (bits 11:8 = descriptor 55:52) */
export const enum Attr {
  TYPE = 0x0f, S = 0x10, DPL = 0x60, P = 0x80, AVL = 0x100, L = 0x200, DB = 0x400, G = 0x800,
}

export function updateMode(c: Cpu): void {
  const pe = (c.cr0 & Cr0.PE) !== 0;
  c.pagingOn = pe && (c.cr0 & Cr0.PG) !== 0;
  const lma = (c.efer & Efer.LMA) !== 0;
  let bits: number;
  if (!pe || (c.flags & Fl.VM) !== 0) bits = 16;
  else if (lma && (c.segAttr[S.CS] & Attr.L) !== 0) bits = 64;
  else bits = (c.segAttr[S.CS] & Attr.DB) !== 0 ? 32 : 16;
  c.bits = bits;
  c.stackSize = bits === 64 ? 8 : pe && (c.segAttr[S.SS] & Attr.DB) !== 0 ? 4 : 2;
  c.flushFetch();
  // counting performance counters attribute the events so far to the mode they ran in (CPL,
  // guest, EFER.SVME may have changed)
  if (c.perf.on) perfSync(c);
}

/** true in 64-bit mode or compatibility mode */
export function longMode(c: Cpu): boolean {
  return (c.efer & Efer.LMA) !== 0;
}

export function protectedMode(c: Cpu): boolean {
  return (c.cr0 & Cr0.PE) !== 0;
}
