/** Data movement: MOV forms, LEA, MOVZX, MOVSX, MOVSXD (AMD64 APM Vol. 3, chapter 3). */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { BASE_RIP } from '../../x86/insn.js';
import { readE, readG, segFault, writeE, writeG } from '../operands.js';
import { readN, writeN } from '../mmu.js';
import { getReg, setReg } from '../regs.js';
import { TWO32 } from '../state.js';

function movEG(c: Cpu, i: Insn): void {
  const v = readG(c, i, i.opsize);
  writeE(c, i, i.opsize, v, c.xh);
}

function movGE(c: Cpu, i: Insn): void {
  const v = readE(c, i, i.opsize);
  writeG(c, i, i.opsize, v, c.xh);
}

function movEI(c: Cpu, i: Insn): void {
  const s = i.opsize;
  writeE(c, i, s, s === 1 ? i.imm & 0xff : s === 2 ? i.imm & 0xffff : i.imm, i.immHi);
}

/** B0+r / B8+r: the only form with a full 64-bit immediate */
function movZI(c: Cpu, i: Insn): void {
  const s = i.opsize;
  setReg(c, s === 1 ? i.reg8 : i.reg, s, s === 1 ? i.imm & 0xff : s === 2 ? i.imm & 0xffff : i.imm, i.immHi);
}

/** linear address of a moffs operand (A0-A3): the immediate is the offset */
function moffs(c: Cpu, i: Insn): number {
  let off: number;
  if (i.adsize === 8) {
    off = i.immHi * TWO32 + (i.imm >>> 0);
    if (i.seg >= 4) off += c.segBase[i.seg];
    if (off < -0x800000000000 || off >= 0x800000000000) segFault(i.seg);
  } else {
    off = i.adsize === 4 ? i.imm >>> 0 : i.imm & 0xffff;
    off = c.bits === 64 ? (i.seg >= 4 ? off + c.segBase[i.seg] : off) : (c.segBase[i.seg] + off) % TWO32;
  }
  return off;
}

function movAO(c: Cpu, i: Insn): void {
  const v = readN(c, moffs(c, i), i.opsize);
  setReg(c, 0, i.opsize, v, c.xh);
}

function movOA(c: Cpu, i: Insn): void {
  const v = getReg(c, 0, i.opsize);
  writeN(c, moffs(c, i), i.opsize, v, c.xh);
}

/** LEA: the offset (no segment base), truncated or zero-extended to the operand size */
function lea(c: Cpu, i: Insn): void {
  let lo: number;
  let hi = 0;
  if (i.adsize === 8) {
    let l = i.disp;
    let h = l >> 31;
    const b = i.base;
    if (b >= 0) {
      const bl = b === BASE_RIP ? c.rip | 0 : c.rl[b];
      const bh = b === BASE_RIP ? Math.floor(c.rip / TWO32) | 0 : c.rh[b];
      const s = (l >>> 0) + (bl >>> 0);
      l = s | 0;
      h = (h + bh + (s >= TWO32 ? 1 : 0)) | 0;
    }
    if (i.index >= 0) {
      let xl = c.rl[i.index];
      let xh = c.rh[i.index];
      const sc = i.scale;
      if (sc !== 0) { xh = (xh << sc) | (xl >>> (32 - sc)); xl <<= sc; }
      const s = (l >>> 0) + (xl >>> 0);
      l = s | 0;
      h = (h + xh + (s >= TWO32 ? 1 : 0)) | 0;
    }
    lo = l;
    hi = h;
  } else {
    let off = i.disp;
    if (i.base >= 0) off += i.base === BASE_RIP ? c.rip | 0 : c.rl[i.base];
    if (i.index >= 0) off += c.rl[i.index] << i.scale;
    lo = i.adsize === 4 ? off | 0 : off & 0xffff;
  }
  const s = i.opsize;
  setReg(c, i.reg, s, s === 2 ? lo & 0xffff : lo, s === 8 ? hi : 0);
}

function movzx(c: Cpu, i: Insn): void {
  const ss = i.arg;
  const v = readE(c, i, ss);
  setReg(c, i.reg, i.opsize, v, 0);
}

function movsx(c: Cpu, i: Insn): void {
  const ss = i.arg;
  let v = readE(c, i, ss);
  v = ss === 1 ? (v << 24) >> 24 : (v << 16) >> 16;
  const s = i.opsize;
  setReg(c, i.reg, s, s === 2 ? v & 0xffff : v, v >> 31);
}

/** MOVSXD Gv, Ed: with REX.W sign-extends; without it is a 32-bit (or 16-bit) move */
function movsxd(c: Cpu, i: Insn): void {
  const s = i.opsize;
  const v = readE(c, i, s === 2 ? 2 : 4);
  setReg(c, i.reg, s, v, v >> 31);
}

export const handlers = { movEG, movGE, movEI, movZI, movAO, movOA, lea, movzx, movsx, movsxd };
