/**
 * LDTR and TR: LLDT, LTR, SLDT, STR; and descriptor probes LAR, LSL, VERR, VERW
 * (AMD64 APM Vol. 3; descriptor formats from Vol. 2 4.7-4.8 and 12.2.5).
 */

import { Exit } from '../../svm/vmcb.js';
import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { FAULT, raise } from '../fault.js';
import { getFlags, setFlags } from '../flags.js';
import { write32 } from '../mmu.js';
import { Attr } from '../mode.js';
import { readE, writeE } from '../operands.js';
import { setReg } from '../regs.js';
import { attrOf, baseOf, limitOf, readDescriptor } from '../segments.js';
import { Cr0, Efer, Fl, S, TWO32, Vec } from '../state.js';

function requireProt(c: Cpu): void {
  if ((c.cr0 & Cr0.PE) === 0 || (c.flags & Fl.VM) !== 0) raise(Vec.UD, 0);
}

function storeSel(c: Cpu, i: Insn, sel: number): void {
  // to a register: zero-extended to the operand size; to memory: 16 bits
  if (i.rm >= 0) writeE(c, i, i.opsize, sel, 0);
  else writeE(c, i, 2, sel, 0);
}

function sldt(c: Cpu, i: Insn): void {
  requireProt(c);
  c.icpt(Exit.LDTR_READ);
  storeSel(c, i, c.segSel[S.LDTR]);
}

function str(c: Cpu, i: Insn): void {
  requireProt(c);
  c.icpt(Exit.TR_READ);
  storeSel(c, i, c.segSel[S.TR]);
}

/** the base of a system descriptor: 64 bits in long mode (16-byte descriptor) */
function sysBase(c: Cpu, lma: boolean): number {
  const b = baseOf(c.descLo, c.descHi);
  return lma ? c.descHi64 * TWO32 + b : b;
}

function lldt(c: Cpu, i: Insn): void {
  requireProt(c);
  if (c.cpl !== 0) raise(Vec.GP, 0);
  c.icpt(Exit.LDTR_WRITE);
  const sel = readE(c, i, 2);
  if ((sel & 0xfffc) === 0) {
    c.segSel[S.LDTR] = sel;
    c.segAttr[S.LDTR] &= ~Attr.P;
    return;
  }
  if ((sel & 4) !== 0) raise(Vec.GP, sel & 0xfffc);
  const lma = (c.efer & Efer.LMA) !== 0;
  readDescriptor(c, sel, Vec.GP, lma);
  const attr = attrOf(c.descHi);
  if ((attr & Attr.S) !== 0 || (attr & 0xf) !== 2) raise(Vec.GP, sel & 0xfffc);
  if ((attr & Attr.P) === 0) raise(Vec.NP, sel & 0xfffc);
  const base = sysBase(c, lma);
  if (base < -0x800000000000 || base >= 0x800000000000) raise(Vec.GP, sel & 0xfffc);
  c.segSel[S.LDTR] = sel;
  c.segBase[S.LDTR] = base;
  c.segLimit[S.LDTR] = limitOf(c.descLo, c.descHi);
  c.segAttr[S.LDTR] = attr;
}

/** LTR: an available TSS (type 9; type 1 too outside long mode), marked busy in the GDT */
function ltr(c: Cpu, i: Insn): void {
  requireProt(c);
  if (c.cpl !== 0) raise(Vec.GP, 0);
  c.icpt(Exit.TR_WRITE);
  const sel = readE(c, i, 2);
  if ((sel & 0xfffc) === 0 || (sel & 4) !== 0) raise(Vec.GP, sel & 0xfffc);
  const lma = (c.efer & Efer.LMA) !== 0;
  const addr = readDescriptor(c, sel, Vec.GP, lma);
  const attr = attrOf(c.descHi);
  const type = attr & 0xf;
  if ((attr & Attr.S) !== 0 || !(type === 9 || (!lma && type === 1))) raise(Vec.GP, sel & 0xfffc);
  if ((attr & Attr.P) === 0) raise(Vec.NP, sel & 0xfffc);
  const base = sysBase(c, lma);
  if (base < -0x800000000000 || base >= 0x800000000000) raise(Vec.GP, sel & 0xfffc);
  const save = c.implicitSupervisor;
  c.implicitSupervisor = true;
  try { write32(c, addr + 4, c.descHi | 0x200); } finally { c.implicitSupervisor = save; }
  c.segSel[S.TR] = sel;
  c.segBase[S.TR] = base;
  c.segLimit[S.TR] = limitOf(c.descLo, c.descHi);
  c.segAttr[S.TR] = attr | 2;
}

/**
 * Is the descriptor for `sel` visible at the current CPL for LAR/LSL/VERR/VERW? Loads it into
 * c.descLo/descHi. `sysOk` lists the system types the instruction accepts (bit per type).
 */
function probe(c: Cpu, sel: number, sysOk: number): boolean {
  if ((sel & 0xfffc) === 0) return false;
  try {
    readDescriptor(c, sel, Vec.GP, false);
  } catch (e) {
    if (e !== FAULT) throw e;
    return false;
  }
  const attr = attrOf(c.descHi);
  const dpl = (attr >> 5) & 3;
  if ((attr & Attr.S) === 0) {
    if (((sysOk >>> (attr & 0xf)) & 1) === 0) return false;
  } else if ((attr & 0xc) === 0xc) {
    return true; // conforming code: no privilege check
  }
  return dpl >= c.cpl && dpl >= (sel & 3);
}

function setZf(c: Cpu, on: boolean): void {
  const f = getFlags(c);
  setFlags(c, on ? f | Fl.ZF : f & ~Fl.ZF);
}

/** LAR (arg 0) and LSL (arg 1) */
function larLsl(c: Cpu, i: Insn): void {
  requireProt(c);
  const sel = readE(c, i, 2);
  const lma = (c.efer & Efer.LMA) !== 0;
  // LDT and available/busy TSS everywhere; call gates (LAR only) and 16-bit types outside long mode
  let ok = (1 << 2) | (1 << 9) | (1 << 11);
  if (i.arg === 0) ok |= 1 << 12;
  if (!lma) ok |= (1 << 1) | (1 << 3) | (i.arg === 0 ? (1 << 4) | (1 << 5) : 0);
  if (!probe(c, sel, ok)) { setZf(c, false); return; }
  if (i.arg === 0) {
    const v = c.descHi & 0x00f0ff00;
    setReg(c, i.reg, i.opsize, i.opsize === 2 ? v & 0xff00 : v, 0);
  } else {
    const l = limitOf(c.descLo, c.descHi);
    setReg(c, i.reg, i.opsize, i.opsize === 2 ? l & 0xffff : l | 0, 0);
  }
  setZf(c, true);
}

/** VERR (arg 0) / VERW (arg 1) */
function verrw(c: Cpu, i: Insn): void {
  requireProt(c);
  const sel = readE(c, i, 2);
  if (!probe(c, sel, 0)) { setZf(c, false); return; }
  const attr = attrOf(c.descHi);
  const code = (attr & 8) !== 0;
  const ok = (attr & Attr.S) !== 0 && (i.arg === 0 ? !code || (attr & 2) !== 0 : !code && (attr & 2) !== 0);
  setZf(c, ok);
}

export const handlers = { sldt, str, lldt, ltr, larLsl, verrw };
