/**
 * Initial CPU states.
 *
 * `setFlatMode` puts the core in a flat 16-, 32- or 64-bit code segment with zero bases and
 * 4 GiB limits and no paging. The 64-bit form is not an architectural state (long mode needs
 * paging): it is the bare-core mode used by the instruction tests and benchmarks, where linear
 * addresses are physical. Machines that boot kernels use the loaders' real initial states.
 */

import type { Cpu } from './cpu.js';
import { Cr0, Efer, S } from './state.js';

export function setFlatMode(c: Cpu, bits: 16 | 32 | 64): void {
  for (let s = 0; s < 6; s++) {
    c.segSel[s] = 0;
    c.segBase[s] = 0;
    c.segLimit[s] = bits === 16 ? 0xffff : 0xffffffff;
    // present, S=1, writable data (type 3) / readable code (type 0xB); G and D/B or L in 11:8
    const code = s === S.CS;
    const typ = code ? 0x9b : 0x93;
    let hi = bits === 16 ? 0 : 0x8; // G
    if (bits === 32) hi |= 0x4; // D/B
    if (bits === 64 && code) hi |= 0x2; // L
    if (bits === 64 && !code) hi |= 0x4;
    c.segAttr[s] = typ | (hi << 8);
  }
  c.cpl = 0;
  c.cr0 = bits === 16 ? 0x60000010 & ~(Cr0.CD | Cr0.NW) : Cr0.PE | Cr0.ET;
  c.efer = bits === 64 ? Efer.LME | Efer.LMA : 0;
  c.bits = bits;
  c.stackSize = bits === 64 ? 8 : bits === 32 ? 4 : 2;
  c.pagingOn = false;
  c.flags = 0x2;
  c.lazySize = 0;
  c.halted = false;
  c.intShadow = false;
  c.nmiPending = false;
  c.smiPending = false;
  c.nmiBlocked = false;
  c.attention = false;
  // not in a guest, GIF = 1 (its reset value), the host's ASID
  c.guestMode = false;
  c.npActive = false;
  c.svm.guest = false;
  c.svm.gif = true;
  c.svm.intercepts.fill(0);
  c.paging.asid = 0;
  c.flushFetch();
}
