/**
 * Exchanges: XCHG, XADD, CMPXCHG, CMPXCHG8B/CMPXCHG16B (AMD64 APM Vol. 3, chapter 3).
 *
 * The memory forms are locked read-modify-writes: the operand is read with readRmw, so a write
 * fault is raised before anything changes, and memory is written before any register.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { Fl, Vec } from '../state.js';
import { getFlags } from '../flags.js';
import { raise } from '../fault.js';
import { ea, readG, readRmw, writeG } from '../operands.js';
import { readN, writeN } from '../mmu.js';
import { getReg, setReg } from '../regs.js';
import { alu, Alu } from './alu.js';

/** 86/87: XCHG Ev, Gv (the memory form is always locked) */
function xchgEG(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const g = readG(c, i, size);
  const gh = c.xh;
  if (i.rm >= 0) {
    const r = size === 1 ? i.rm8 : i.rm;
    const e = getReg(c, r, size);
    const eh = c.xh;
    setReg(c, r, size, g, gh);
    writeG(c, i, size, e, eh);
    return;
  }
  const lin = ea(c, i);
  const e = readRmw(c, lin, size);
  const eh = c.xh;
  writeN(c, lin, size, g, gh);
  writeG(c, i, size, e, eh);
}

/** 90+r with REX.B (or 91..97): XCHG rAX, r */
function xchgZA(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const a = getReg(c, 0, size);
  const ah = c.xh;
  const b = getReg(c, i.reg, size);
  setReg(c, 0, size, b, c.xh);
  setReg(c, i.reg, size, a, ah);
}

/** 0F C0/C1: XADD Ev, Gv: temp = E + G; G = E; E = temp (flags of the addition) */
function xadd(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const g = readG(c, i, size);
  const gh = c.xh;
  if (i.rm >= 0) {
    const r = size === 1 ? i.rm8 : i.rm;
    const e = getReg(c, r, size);
    const eh = c.xh;
    const s = alu(c, Alu.ADD, size, e, eh, g, gh);
    const sh = c.xh;
    writeG(c, i, size, e, eh);
    // the destination is written last, so XADD r, r leaves the sum
    setReg(c, r, size, s, sh);
    return;
  }
  const lin = ea(c, i);
  const e = readRmw(c, lin, size);
  const eh = c.xh;
  const s = alu(c, Alu.ADD, size, e, eh, g, gh);
  writeN(c, lin, size, s, c.xh);
  writeG(c, i, size, e, eh);
}

/**
 * 0F B0/B1: CMPXCHG Ev, Gv. Flags as CMP accumulator, E. Equal: E = G. Not equal: the
 * accumulator = E. A register destination is written only when equal (so a failing 32-bit
 * CMPXCHG keeps its upper half); a memory destination is always written, with its own value
 * when not equal (APM Vol. 3 CMPXCHG).
 */
function cmpxchg(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const g = readG(c, i, size);
  const gh = c.xh;
  const acc = getReg(c, 0, size);
  const acch = c.xh;
  if (i.rm >= 0) {
    const r = size === 1 ? i.rm8 : i.rm;
    const e = getReg(c, r, size);
    const eh = c.xh;
    alu(c, Alu.CMP, size, acc, acch, e, eh);
    if (acc === e && acch === eh) setReg(c, r, size, g, gh);
    else setReg(c, 0, size, e, eh);
    return;
  }
  const lin = ea(c, i);
  const e = readRmw(c, lin, size);
  const eh = c.xh;
  alu(c, Alu.CMP, size, acc, acch, e, eh);
  if (acc === e && acch === eh) {
    writeN(c, lin, size, g, gh);
  } else {
    writeN(c, lin, size, e, eh);
    setReg(c, 0, size, e, eh);
  }
}

function setZf(c: Cpu, z: boolean): void {
  c.flags = (getFlags(c) & ~Fl.ZF) | (z ? Fl.ZF : 0);
}

/**
 * 0F C7 /1: CMPXCHG8B m64 (EDX:EAX vs memory, ECX:EBX stored), or CMPXCHG16B m128 with REX.W
 * (RDX:RAX, RCX:RBX), which needs a 16-byte aligned operand, else #GP(0). Only ZF changes.
 * Memory is always written (its own value when not equal); EDX:EAX is loaded only when not
 * equal, and then, as 32-bit writes, clears the upper halves of RAX and RDX.
 */
function cmpxchg8b(c: Cpu, i: Insn): void {
  const lin = ea(c, i);
  if (i.opsize !== 8) {
    const lo = readRmw(c, lin, 8);
    const hi = c.xh;
    if (lo === c.rl[0] && hi === c.rl[2]) {
      writeN(c, lin, 8, c.rl[3], c.rl[1]);
      setZf(c, true);
    } else {
      writeN(c, lin, 8, lo, hi);
      setReg(c, 0, 4, lo, 0);
      setReg(c, 2, 4, hi, 0);
      setZf(c, false);
    }
    return;
  }
  if ((lin & 15) !== 0) raise(Vec.GP, 0);
  // 16-byte aligned: both halves are on one page, which readRmw checked for writing
  const l0 = readRmw(c, lin, 8);
  const l1 = c.xh;
  const h0 = readN(c, lin + 8, 8);
  const h1 = c.xh;
  if (l0 === c.rl[0] && l1 === c.rh[0] && h0 === c.rl[2] && h1 === c.rh[2]) {
    writeN(c, lin, 8, c.rl[3], c.rh[3]);
    writeN(c, lin + 8, 8, c.rl[1], c.rh[1]);
    setZf(c, true);
  } else {
    writeN(c, lin, 8, l0, l1);
    writeN(c, lin + 8, 8, h0, h1);
    setReg(c, 0, 8, l0, l1);
    setReg(c, 2, 8, h0, h1);
    setZf(c, false);
  }
}

export const handlers = { xchgEG, xchgZA, xadd, cmpxchg, cmpxchg8b };
