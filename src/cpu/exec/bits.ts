/**
 * Bit instructions: BT/BTS/BTR/BTC (register and immediate bit offsets), BSF, BSR, TZCNT,
 * LZCNT, POPCNT and BSWAP (AMD64 APM Vol. 3, chapter 3).
 *
 * Undefined flags, and what worldswitch produces:
 *  - BT*: OF, SF, AF, PF undefined, ZF unaffected: only CF changes.
 *  - BSF/BSR: CF, OF, SF, AF, PF undefined: CF, OF and AF are cleared, SF and PF follow the
 *    source as TEST src,src would set them (ZF = source is zero, as defined).
 *  - TZCNT/LZCNT: OF, SF, AF, PF undefined: OF and AF cleared, SF and PF from the count.
 *  - BSWAP with a 16-bit operand (undefined): the low 16 bits become 0 and the rest of the
 *    register is kept (what AMD parts are reported to do; an Intel host does the same).
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { Fl, TWO32 } from '../state.js';
import { setArith, setLazy } from '../flags.js';
import { ea, readE, readG, readRmw, segFault } from '../operands.js';
import { readN, writeN } from '../mmu.js';
import { getReg, setReg } from '../regs.js';

/** apply BT op (0 BT, 1 BTS, 2 BTR, 3 BTC) to bit `bit` (< 32) of v; returns the new value */
function btApply(op: number, v: number, bit: number): number {
  const m = 1 << bit;
  return op === 1 ? v | m : op === 2 ? v & ~m : v ^ m;
}

function setCf(c: Cpu, cf: number): void {
  c.flags = (c.flags & ~Fl.CF) | cf;
}

/** BT* on a register operand; bit already reduced modulo the operand width */
function btReg(c: Cpu, op: number, r: number, size: number, bit: number): void {
  if (size === 8) {
    if (bit < 32) {
      const v = c.rl[r];
      setCf(c, (v >>> bit) & 1);
      if (op !== 0) c.rl[r] = btApply(op, v, bit);
    } else {
      const v = c.rh[r];
      setCf(c, (v >>> (bit - 32)) & 1);
      if (op !== 0) c.rh[r] = btApply(op, v, bit - 32);
    }
    return;
  }
  const v = getReg(c, r, size);
  setCf(c, (v >>> bit) & 1);
  // BT writes nothing, so a 32-bit BT keeps the register's upper half
  if (op !== 0) setReg(c, r, size, btApply(op, v, bit), 0);
}

/** BT* on `size` bytes of memory at `lin`; bit < 8 * size */
function btMem(c: Cpu, op: number, lin: number, size: number, bit: number): void {
  if (op === 0) {
    const v = readN(c, lin, size);
    setCf(c, bit < 32 ? (v >>> bit) & 1 : (c.xh >>> (bit - 32)) & 1);
    return;
  }
  let v = readRmw(c, lin, size);
  let vh = c.xh;
  if (bit < 32) {
    setCf(c, (v >>> bit) & 1);
    v = btApply(op, v, bit);
  } else {
    setCf(c, (vh >>> (bit - 32)) & 1);
    vh = btApply(op, vh, bit - 32);
  }
  writeN(c, lin, size, v, vh);
}

/**
 * Linear address of the memory operand moved by a byte displacement (dHi:dLo), wrapping as the
 * effective address does at the address size (a 64-bit address must stay canonical).
 */
function movedLinear(c: Cpu, i: Insn, dLo: number, dHi: number): number {
  const lin = ea(c, i);
  if (i.adsize === 8) {
    const lLo = lin | 0;
    const lHi = Math.floor(lin / TWO32) | 0;
    const s = (lLo >>> 0) + (dLo >>> 0);
    const hi = (lHi + dHi + (s >= TWO32 ? 1 : 0)) | 0;
    if (((hi << 16) >> 16) !== hi) segFault(i.seg);
    return hi * TWO32 + (s >>> 0);
  }
  const base = c.bits === 64 && i.seg < 4 ? 0 : c.segBase[i.seg];
  let off = (lin - base + dLo) >>> 0;
  if (i.adsize === 2) off &= 0xffff;
  return c.bits === 64 ? base + off : (base + off) % TWO32;
}

/**
 * 0F A3/AB/B3/BB: BT/BTS/BTR/BTC Ev, Gv. With a register operand the bit offset is taken
 * modulo the width. With a memory operand it is a signed number that can address memory
 * outside the operand: the operand-sized unit at ea + (offset >> log2(width)) * size holds the
 * bit (APM Vol. 3 BT, "bit base / bit offset").
 */
function btG(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const off = readG(c, i, size);
  const offHi = c.xh;
  const bit = off & ((size << 3) - 1);
  if (i.rm >= 0) {
    btReg(c, i.arg, i.rm, size, bit);
    return;
  }
  let dLo: number;
  let dHi: number;
  if (size === 2) {
    dLo = ((off << 16) >> 20) << 1;
    dHi = dLo >> 31;
  } else if (size === 4) {
    dLo = (off >> 5) << 2;
    dHi = dLo >> 31;
  } else {
    dLo = ((off >>> 3) | (offHi << 29)) & ~7;
    dHi = offHi >> 3;
  }
  btMem(c, i.arg, movedLinear(c, i, dLo, dHi), size, bit);
}

/** 0F BA /4../7: BT/BTS/BTR/BTC Ev, Ib; the offset is taken modulo the width, also for memory */
function btI(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const bit = i.imm & ((size << 3) - 1);
  if (i.rm >= 0) btReg(c, i.arg, i.rm, size, bit);
  else btMem(c, i.arg, ea(c, i), size, bit);
}

/** lowest set bit of a non-zero 32-bit value */
function lowBit(v: number): number {
  return 31 - Math.clz32(v & -v);
}

/** 0F BC/BD, F3 0F BC/BD: arg 0 BSF, 1 BSR, 2 TZCNT, 3 LZCNT */
function bitScan(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const v = readE(c, i, size);
  const vh = c.xh;
  const zero = (v | vh) === 0;
  const op = i.arg;
  if (op < 2) {
    c.flags &= ~(Fl.CF | Fl.AF | Fl.OF);
    setLazy(c, v, vh, size);
    // a zero source leaves the destination unchanged (AMD APM Vol. 3 BSF/BSR)
    if (zero) return;
    let n: number;
    if (op === 0) n = v !== 0 ? lowBit(v) : 32 + lowBit(vh);
    else n = vh !== 0 ? 63 - Math.clz32(vh) : 31 - Math.clz32(v);
    setReg(c, i.reg, size, n, 0);
    return;
  }
  const w = size << 3;
  let n: number;
  if (zero) n = w;
  else if (op === 2) n = v !== 0 ? lowBit(v) : 32 + lowBit(vh);
  else if (size === 8) n = vh !== 0 ? Math.clz32(vh) : 32 + Math.clz32(v);
  else n = Math.clz32(v) - (32 - w);
  setReg(c, i.reg, size, n, 0);
  // CF = the source was zero, ZF = the count is zero
  c.flags = (c.flags & ~(Fl.CF | Fl.AF | Fl.OF)) | (zero ? Fl.CF : 0);
  setLazy(c, n, 0, size);
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  v = (v + (v >>> 4)) & 0x0f0f0f0f;
  return Math.imul(v, 0x01010101) >>> 24;
}

/** F3 0F B8: POPCNT Gv, Ev; ZF = source is zero, CF OF SF AF PF cleared (APM Vol. 3 POPCNT) */
function popcnt(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const v = readE(c, i, size);
  const vh = c.xh;
  setReg(c, i.reg, size, popcount32(v) + popcount32(vh), 0);
  setArith(c, 0, 0, 0, (v | vh) === 0 ? 1 : 0, 0, 0);
}

function swap32(v: number): number {
  return (v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

/** 0F C8+r: BSWAP */
function bswap(c: Cpu, i: Insn): void {
  const r = i.reg;
  const size = i.opsize;
  if (size === 4) setReg(c, r, 4, swap32(c.rl[r]), 0);
  else if (size === 8) setReg(c, r, 8, swap32(c.rh[r]), swap32(c.rl[r]));
  else setReg(c, r, 2, 0, 0);
}

export const handlers = { btG, btI, bitScan, popcnt, bswap };
