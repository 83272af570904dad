/**
 * x87 register stack, tags, exception signalling and the instruction/data pointers (AMD64 APM
 * Vol. 1 6.2-6.4; Vol. 5 "x87 Floating-Point Instruction Reference"). Shared by the x87
 * execution families (src/cpu/exec/x87*.ts).
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import type { FpuState } from './state.js';
import { CTL_OM, CTL_UM } from './softfloat.js';
import { readN, probeWrite, writeN } from '../mmu.js';
import { Cr0, Fl, S } from '../state.js';

/** FSW bits (APM Vol. 1 6.2.2.1) */
export const enum Sw {
  IE = 0x1, DE = 0x2, ZE = 0x4, OE = 0x8, UE = 0x10, PE = 0x20, SF = 0x40, ES = 0x80,
  C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, B = 0x8000, TOP = 0x3800, CC = 0x4700,
}

/** tag values (APM Vol. 1 6.2.3) */
export const TAG_VALID = 0, TAG_ZERO = 1, TAG_SPECIAL = 2, TAG_EMPTY = 3;

/** softfloat ctl from FCW: RC, PC, and the UM/OM masks that choose the masked responses */
export function ctlOf(f: FpuState): number {
  const w = f.fcw;
  return ((w >> 10) & 3) | (((w >> 8) & 3) << 4) | ((w & 0x10) !== 0 ? CTL_UM : 0) | ((w & 0x08) !== 0 ? CTL_OM : 0);
}

export function top(f: FpuState): number { return (f.fsw >> 11) & 7; }
export function setTop(f: FpuState, t: number): void { f.fsw = (f.fsw & ~Sw.TOP) | ((t & 7) << 11); }
/** physical register of ST(i) */
export function phys(f: FpuState, i: number): number { return (((f.fsw >> 11) & 7) + i) & 7; }
export function tagOfPhys(f: FpuState, p: number): number { return (f.ftw >> (2 * p)) & 3; }
export function isEmpty(f: FpuState, p: number): boolean { return ((f.ftw >> (2 * p)) & 3) === TAG_EMPTY; }
export function setTag(f: FpuState, p: number, t: number): void { f.ftw = (f.ftw & ~(3 << (2 * p))) | (t << (2 * p)); }

/** the tag a value gets when it is written (APM Vol. 1 6.2.3) */
export function tagOfValue(lo: number, hi: number, se: number): number {
  const e = se & 0x7fff;
  if (e === 0) return (hi | lo) === 0 ? TAG_ZERO : TAG_SPECIAL;
  if (e === 0x7fff || (hi & 0x80000000) === 0) return TAG_SPECIAL;
  return TAG_VALID;
}

export function writePhys(f: FpuState, p: number, lo: number, hi: number, se: number): void {
  f.sigLo[p] = lo; f.sigHi[p] = hi; f.signExp[p] = se;
  setTag(f, p, tagOfValue(lo, hi, se));
}

/** recompute every non-empty tag from the register contents (FLDENV, FRSTOR) */
export function retag(f: FpuState): void {
  for (let p = 0; p < 8; p++) if (!isEmpty(f, p)) setTag(f, p, tagOfValue(f.sigLo[p], f.sigHi[p], f.signExp[p]));
}

/** ES and B follow "some exception flag is set and unmasked" (APM Vol. 1 6.2.2.1) */
export function updateEs(f: FpuState): void {
  if ((f.fsw & ~f.fcw & 0x3f) !== 0) f.fsw |= Sw.ES | Sw.B;
  else f.fsw &= ~(Sw.ES | Sw.B);
}

/** OR exception flags into FSW; returns the ones that are unmasked */
export function signal(f: FpuState, flags: number): number {
  f.fsw |= flags;
  const um = flags & ~f.fcw & 0x3f;
  if (um !== 0) f.fsw |= Sw.ES | Sw.B;
  return um;
}

/** set C1 */
export function setC1(f: FpuState, v: number): void { f.fsw = v !== 0 ? f.fsw | Sw.C1 : f.fsw & ~Sw.C1; }

/**
 * Stack underflow (a source register is empty) or overflow (the push target is not): IE with
 * SF, C1 = 1 for overflow and 0 for underflow (APM Vol. 1 6.4.2.1). Returns true when IE is
 * masked (the caller then writes the indefinite QNaN as its result).
 */
export function stackFault(f: FpuState, overflow: boolean): boolean {
  setC1(f, overflow ? 1 : 0);
  f.fsw |= Sw.SF;
  return signal(f, Sw.IE) === 0;
}

export const IND_LO = 0, IND_HI = 0xc0000000, IND_SE = 0xffff;

/** push a value (after an overflow check the caller made) */
export function pushValue(f: FpuState, lo: number, hi: number, se: number): void {
  const t = (top(f) - 1) & 7;
  setTop(f, t);
  writePhys(f, t, lo, hi, se);
}

export function pop(f: FpuState): void {
  const t = top(f);
  setTag(f, t, TAG_EMPTY);
  setTop(f, t + 1);
}

/**
 * The x87 instruction and data pointers and the opcode, kept for every non-control x87
 * instruction (APM Vol. 1 6.2.4 and 6.2.5): FIP/FCS the instruction's address, FOP the low
 * three bits of the first opcode byte and the ModRM byte, FDP/FDS the offset and selector of
 * its memory operand (kept unchanged by register-only forms).
 */
export function notePointers(c: Cpu, i: Insn, opcode: number, lin: number): void {
  const f = c.fpu;
  f.fip = c.ripStart;
  f.fcs = c.segSel[S.CS];
  f.fop = ((opcode & 7) << 8) | (i.modrm & 0xff);
  if (i.rm < 0 && i.modrm >= 0) {
    const base = c.bits === 64 && i.seg < 4 ? 0 : c.segBase[i.seg];
    let off = lin - base;
    if (c.bits !== 64 || i.adsize !== 8) off = ((off % 0x100000000) + 0x100000000) % 0x100000000;
    f.fdp = off;
    f.fds = c.segSel[i.seg];
  }
}

/** true in real mode and virtual-8086 mode (the real-mode environment layouts) */
export function realLayout(c: Cpu): boolean {
  return (c.cr0 & Cr0.PE) === 0 || (c.flags & Fl.VM) !== 0;
}

// ---- memory helpers for 80-bit and larger operands ----

/** read an 80-bit value at lin into mLo, mHi, mSe */
export const m80 = { lo: 0, hi: 0, se: 0 };
export function read80(c: Cpu, lin: number): void {
  const lo = readN(c, lin, 8);
  const hi = c.xh;
  const se = readN(c, lin + 8, 2);
  m80.lo = lo >>> 0; m80.hi = hi >>> 0; m80.se = se & 0xffff;
}

export function write80(c: Cpu, lin: number, lo: number, hi: number, se: number): void {
  probeWrite(c, lin, 10);
  writeN(c, lin, 8, lo, hi);
  writeN(c, lin + 8, 2, se, 0);
}

