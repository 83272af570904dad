/**
 * Operands of a decoded instruction: the effective address of its memory operand (AMD64 APM
 * Vol. 1 2.5 and Vol. 3 1.5) and reads and writes of its ModRM r/m and reg operands.
 */

import type { Cpu } from './cpu.js';
import { BASE_RIP, type Insn } from '../x86/insn.js';
import { raise } from './fault.js';
import { readN, writeN, translate, Acc } from './mmu.js';
import { getReg, setReg } from './regs.js';
import { S, TWO32, Vec } from './state.js';

/** #SS for stack-segment references, #GP otherwise (APM Vol. 2 8.2.13/8.2.14) */
export function segFault(seg: number): never {
  return raise(seg === S.SS ? Vec.SS : Vec.GP, 0);
}

/** Linear address of the instruction's memory operand. */
export function ea(c: Cpu, i: Insn): number {
  return i.adsize === 8 ? ea64(c, i) : eaLegacy(c, i);
}

function ea64(c: Cpu, i: Insn): number {
  let lo = i.disp;
  let hi = lo >> 31;
  const b = i.base;
  if (b >= 0) {
    let bl: number;
    let bh: number;
    if (b === BASE_RIP) { bl = c.rip | 0; bh = Math.floor(c.rip / TWO32) | 0; } else { bl = c.rl[b]; bh = c.rh[b]; }
    const s = (lo >>> 0) + (bl >>> 0);
    lo = s | 0;
    hi = (hi + bh + (s >= TWO32 ? 1 : 0)) | 0;
  }
  const x = i.index;
  if (x >= 0) {
    let xl = c.rl[x];
    let xh = c.rh[x];
    const sc = i.scale;
    if (sc !== 0) { xh = (xh << sc) | (xl >>> (32 - sc)); xl <<= sc; }
    const s = (lo >>> 0) + (xl >>> 0);
    lo = s | 0;
    hi = (hi + xh + (s >= TWO32 ? 1 : 0)) | 0;
  }
  const seg = i.seg;
  if (seg >= 4) {
    const base = c.segBase[seg];
    const bl = base | 0;
    const bh = Math.floor(base / TWO32) | 0;
    const s = (lo >>> 0) + (bl >>> 0);
    lo = s | 0;
    hi = (hi + bh + (s >= TWO32 ? 1 : 0)) | 0;
  }
  // canonical: bits 63:47 all equal (APM Vol. 2 5.3.1)
  if (((hi << 16) >> 16) !== hi) segFault(seg);
  return hi * TWO32 + (lo >>> 0);
}

function eaLegacy(c: Cpu, i: Insn): number {
  let off = i.disp;
  const b = i.base;
  if (b >= 0) off += b === BASE_RIP ? (c.rip | 0) : c.rl[b];
  if (i.index >= 0) off += c.rl[i.index] << i.scale;
  off = i.adsize === 4 ? off >>> 0 : off & 0xffff;
  if (c.bits === 64) {
    // 32-bit addressing in 64-bit mode: zero-extended, only FS/GS add a base
    if (i.seg < 4) return off;
    const lin = c.segBase[i.seg] + off;
    if (lin >= 0x800000000000) segFault(i.seg);
    return lin;
  }
  return (c.segBase[i.seg] + off) % TWO32;
}

/** Read the r/m operand (register or memory) of `size` bytes; high half in c.xh. */
export function readE(c: Cpu, i: Insn, size: number): number {
  if (i.rm >= 0) return getReg(c, size === 1 ? i.rm8 : i.rm, size);
  return readN(c, ea(c, i), size);
}

export function writeE(c: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  if (i.rm >= 0) setReg(c, size === 1 ? i.rm8 : i.rm, size, lo, hi);
  else writeN(c, ea(c, i), size, lo, hi);
}

export function readG(c: Cpu, i: Insn, size: number): number {
  return getReg(c, size === 1 ? i.reg8 : i.reg, size);
}

export function writeG(c: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  setReg(c, size === 1 ? i.reg8 : i.reg, size, lo, hi);
}

/**
 * Read a memory operand that will be written back: translated for writing first, so a
 * read-only page faults as a write before anything changes (APM Vol. 2 8.4.2).
 */
export function readRmw(c: Cpu, lin: number, size: number): number {
  translate(c, lin, Acc.Write);
  if (((lin & 0xfff) + size) > 0x1000) translate(c, lin + size - 1, Acc.Write);
  return readN(c, lin, size);
}
