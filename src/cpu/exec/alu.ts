/**
 * Integer arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP, TEST, INC, DEC, NEG, NOT
 * (AMD64 APM Vol. 3, chapter 3). CF, AF and OF are computed here; ZF, SF and PF lazily.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { Fl } from '../state.js';
import { setLazy } from '../flags.js';
import { ea, readE, readG, readRmw, writeE, writeG } from '../operands.js';
import { readN, writeN } from '../mmu.js';
import { getReg, setReg } from '../regs.js';

export const enum Alu { ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7 }

/** CF, AF (bit 4 of `af`) and OF; the booleans become bits without a branch (`+b`: V8 sets a flag; `b ? x : 0` is a branch, mispredicted on data-dependent carries) */
function setCAO(c: Cpu, cf: boolean, af: number, of: boolean): void {
  c.flags = (c.flags & ~(Fl.CF | Fl.AF | Fl.OF)) | +cf | (af & Fl.AF) | (+of << 11);
}

/**
 * One ALU operation on `size`-byte operands (a: lo/ah, b: lo/bh); returns the result's low
 * half and leaves the high half in c.xh. Sets the flags.
 */
export function alu(c: Cpu, op: number, size: number, a: number, ah: number, b: number, bh: number): number {
  let r = 0;
  let rh = 0;
  switch (op) {
    case Alu.OR: r = a | b; rh = ah | bh; break;
    case Alu.AND: r = a & b; rh = ah & bh; break;
    case Alu.XOR: r = a ^ b; rh = ah ^ bh; break;
    case Alu.ADD: case Alu.ADC: {
      const cin = op === Alu.ADC ? c.flags & Fl.CF : 0;
      if (size === 4) {
        const s = (a >>> 0) + (b >>> 0) + cin;
        r = s | 0;
        setCAO(c, s > 0xffffffff, a ^ b ^ r, ((a ^ r) & (b ^ r)) < 0);
      } else if (size === 8) {
        const sl = (a >>> 0) + (b >>> 0) + cin;
        r = sl | 0;
        const sh = (ah >>> 0) + (bh >>> 0) + (sl > 0xffffffff ? 1 : 0);
        rh = sh | 0;
        setCAO(c, sh > 0xffffffff, a ^ b ^ r, ((ah ^ rh) & (bh ^ rh)) < 0);
      } else {
        const m = size === 1 ? 0xff : 0xffff;
        const sb = size === 1 ? 0x80 : 0x8000;
        const s = a + b + cin;
        r = s & m;
        setCAO(c, s > m, a ^ b ^ r, ((a ^ r) & (b ^ r) & sb) !== 0);
      }
      c.xh = rh;
      setLazy(c, r, rh, size);
      return r;
    }
    default: { // SUB, SBB, CMP
      const cin = op === Alu.SBB ? c.flags & Fl.CF : 0;
      if (size === 4) {
        const d = (a >>> 0) - (b >>> 0) - cin;
        r = d | 0;
        setCAO(c, d < 0, a ^ b ^ r, ((a ^ b) & (a ^ r)) < 0);
      } else if (size === 8) {
        const dl = (a >>> 0) - (b >>> 0) - cin;
        r = dl | 0;
        const dh = (ah >>> 0) - (bh >>> 0) - (dl < 0 ? 1 : 0);
        rh = dh | 0;
        setCAO(c, dh < 0, a ^ b ^ r, ((ah ^ bh) & (ah ^ rh)) < 0);
      } else {
        const m = size === 1 ? 0xff : 0xffff;
        const sb = size === 1 ? 0x80 : 0x8000;
        const d = a - b - cin;
        r = d & m;
        setCAO(c, d < 0, a ^ b ^ r, ((a ^ b) & (a ^ r) & sb) !== 0);
      }
      c.xh = rh;
      setLazy(c, r, rh, size);
      return r;
    }
  }
  // logic: CF = OF = 0; AF is undefined (cleared here, as AMD parts do)
  c.flags &= ~(Fl.CF | Fl.AF | Fl.OF);
  c.xh = rh;
  setLazy(c, r, rh, size);
  return r;
}

/** immediate of `size` bytes from the instruction (sign-extended imm truncated to size) */
function immOf(i: Insn, size: number): number {
  return size === 1 ? i.imm & 0xff : size === 2 ? i.imm & 0xffff : i.imm;
}

function immHiOf(i: Insn, size: number): number {
  return size === 8 ? i.immHi : 0;
}

/** op E, G */
function aluEG(c: Cpu, i: Insn): void {
  const b = readG(c, i, i.opsize);
  aluToE(c, i, b, c.xh);
}

/** E = E op b: a register, or memory read for writing first (CMP only reads) */
function aluToE(c: Cpu, i: Insn, b: number, bh: number): void {
  const size = i.opsize;
  if (i.rm >= 0) {
    const r = size === 1 ? i.rm8 : i.rm;
    const a = getReg(c, r, size);
    const res = alu(c, i.arg, size, a, c.xh, b, bh);
    if (i.arg !== Alu.CMP) setReg(c, r, size, res, c.xh);
    return;
  }
  const lin = ea(c, i);
  if (i.arg === Alu.CMP) {
    const a = readN(c, lin, size);
    alu(c, i.arg, size, a, c.xh, b, bh);
    return;
  }
  const a = readRmw(c, lin, size);
  const res = alu(c, i.arg, size, a, c.xh, b, bh);
  writeN(c, lin, size, res, c.xh);
}

/** op G, E */
function aluGE(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const b = readE(c, i, size);
  const bh = c.xh;
  const a = readG(c, i, size);
  const res = alu(c, i.arg, size, a, c.xh, b, bh);
  if (i.arg !== Alu.CMP) writeG(c, i, size, res, c.xh);
}

/** op AL/rAX, imm */
function aluAI(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const a = getReg(c, 0, size);
  const res = alu(c, i.arg, size, a, c.xh, immOf(i, size), immHiOf(i, size));
  if (i.arg !== Alu.CMP) setReg(c, 0, size, res, c.xh);
}

/** op E, imm */
function aluEI(c: Cpu, i: Insn): void {
  aluToE(c, i, immOf(i, i.opsize), immHiOf(i, i.opsize));
}

function testEG(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const b = readG(c, i, size);
  const bh = c.xh;
  const a = readE(c, i, size);
  alu(c, Alu.AND, size, a, c.xh, b, bh);
}

function testEI(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const a = readE(c, i, size);
  alu(c, Alu.AND, size, a, c.xh, immOf(i, size), immHiOf(i, size));
}

function testAI(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const a = getReg(c, 0, size);
  alu(c, Alu.AND, size, a, c.xh, immOf(i, size), immHiOf(i, size));
}

/** INC/DEC: like ADD/SUB 1 but CF is preserved */
function incDec(c: Cpu, dec: boolean, size: number, a: number, ah: number): number {
  const cf = c.flags & Fl.CF;
  const r = alu(c, dec ? Alu.SUB : Alu.ADD, size, a, ah, 1, 0);
  c.flags = (c.flags & ~Fl.CF) | cf;
  return r;
}

function incDecE(c: Cpu, i: Insn): void {
  const size = i.opsize;
  if (i.rm >= 0) {
    const r = size === 1 ? i.rm8 : i.rm;
    const a = getReg(c, r, size);
    const res = incDec(c, i.arg === 1, size, a, c.xh);
    setReg(c, r, size, res, c.xh);
    return;
  }
  const lin = ea(c, i);
  const a = readRmw(c, lin, size);
  const res = incDec(c, i.arg === 1, size, a, c.xh);
  writeN(c, lin, size, res, c.xh);
}

/** 40+r / 48+r (16/32-bit modes) */
function incDecZ(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const a = getReg(c, i.reg, size);
  const res = incDec(c, i.arg === 1, size, a, c.xh);
  setReg(c, i.reg, size, res, c.xh);
}

function neg(c: Cpu, i: Insn): void {
  const size = i.opsize;
  if (i.rm >= 0) {
    const r = size === 1 ? i.rm8 : i.rm;
    const a = getReg(c, r, size);
    const res = alu(c, Alu.SUB, size, 0, 0, a, c.xh);
    setReg(c, r, size, res, c.xh);
    return;
  }
  const lin = ea(c, i);
  const a = readRmw(c, lin, size);
  const res = alu(c, Alu.SUB, size, 0, 0, a, c.xh);
  writeN(c, lin, size, res, c.xh);
}

/** NOT changes no flags */
function not(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const m = size === 1 ? 0xff : size === 2 ? 0xffff : -1;
  if (i.rm >= 0) {
    const a = readE(c, i, size);
    writeE(c, i, size, ~a & m, ~c.xh);
    return;
  }
  const lin = ea(c, i);
  const a = readRmw(c, lin, size);
  writeN(c, lin, size, ~a & m, size === 8 ? ~c.xh : 0);
}

export const handlers = {
  aluEG, aluGE, aluAI, aluEI, testEG, testEI, testAI, incDecE, incDecZ, neg, not,
};
