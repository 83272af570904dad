/**
 * Control and debug registers and the system-table instructions: MOV CRn/DRn, CLTS, LMSW,
 * SMSW, LGDT, LIDT, SGDT, SIDT, INVLPG, WBINVD, INVD (AMD64 APM Vol. 2 ch. 3 and 4, Vol. 3).
 */

import { Exit } from '../../svm/vmcb.js';
import { icptInfo, icptMovCr } from '../../svm/icpt.js';
import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { raise } from '../fault.js';
import { read16, read32, write16, write32 } from '../mmu.js';
import { updateMode } from '../mode.js';
import { ea, readE, writeE } from '../operands.js';
import { getReg, setReg } from '../regs.js';
import { Attr } from '../mode.js';
import { Cr0, Efer, Fl, S, TWO32, Vec } from '../state.js';
import { MAXPHYADDR } from '../paging.js';
import { debugUpdate, Dr6, dr6Value, Dr7, dr7Value, setDr7 } from '../debug.js';

/** CR4 bits worldswitch implements: TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT FSGSBASE OSXSAVE SMEP SMAP */
export const CR4_VALID = 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x10000 | 0x40000 | 0x100000 | 0x200000;

/**
 * The CR0 selective-write intercept: a write that changes any CR0 bit other than TS and MP
 * (APM Vol. 2 15.11), unless the plain CR0-write intercept already took it.
 */
function cr0SelectiveWrite(c: Cpu, v: number): void {
  if (c.guestMode && c.intercepted(Exit.CR0_SEL_WRITE) && ((c.cr0 ^ v) & ~0xa) !== 0) {
    c.svmExit(Exit.CR0_SEL_WRITE, 0, 0, 0, c.rip);
  }
}

function requireCpl0(c: Cpu): void {
  if (c.cpl !== 0) raise(Vec.GP, 0);
}

/** Write CR0 with the checks of APM Vol. 2 3.1.1 and 14.6 (long-mode activation). */
export function writeCr0(c: Cpu, lo: number, hi: number): void {
  if (hi !== 0) raise(Vec.GP, 0);
  const v = (lo | Cr0.ET) >>> 0;
  if ((v & Cr0.PG) !== 0 && (v & Cr0.PE) === 0) raise(Vec.GP, 0);
  if ((v & Cr0.NW) !== 0 && (v & Cr0.CD) === 0) raise(Vec.GP, 0);
  const old = c.cr0;
  const pgOn = (v & Cr0.PG) !== 0 && (old & Cr0.PG) === 0;
  const pgOff = (v & Cr0.PG) === 0 && (old & Cr0.PG) !== 0;
  let efer = c.efer;
  if (pgOn && (efer & Efer.LME) !== 0) {
    // activating long mode needs PAE and a CS that is not 64-bit already
    if ((c.cr4 & 0x20) === 0) raise(Vec.GP, 0);
    if ((c.segAttr[S.CS] & Attr.L) !== 0) raise(Vec.GP, 0);
    efer |= Efer.LMA;
  }
  if (pgOff && (efer & Efer.LMA) !== 0) {
    if (c.bits === 64) raise(Vec.GP, 0);
    efer &= ~Efer.LMA;
  }
  c.cr0 = v;
  c.efer = efer;
  if (((old ^ v) & (Cr0.PG | Cr0.PE | Cr0.WP)) !== 0) c.paging.flushAll();
  updateMode(c);
}

export function writeCr4(c: Cpu, lo: number, hi: number): void {
  if (hi !== 0 || (lo & ~CR4_VALID) !== 0) raise(Vec.GP, 0);
  if ((c.efer & Efer.LMA) !== 0 && (lo & 0x20) === 0) raise(Vec.GP, 0);
  const old = c.cr4;
  c.cr4 = lo >>> 0;
  if (((old ^ c.cr4) & (0x10 | 0x20 | 0x80 | 0x100000 | 0x200000)) !== 0) c.paging.flushAll();
  // CR4.DE turns R/W = 10b breakpoints into I/O breakpoints
  if (((old ^ c.cr4) & 0x8) !== 0) debugUpdate(c);
}

export function writeCr3(c: Cpu, lo: number, hi: number): void {
  if ((c.efer & Efer.LMA) !== 0) {
    // bits 63:MAXPHYADDR are reserved in long mode
    if ((hi >>> (MAXPHYADDR - 32)) !== 0) raise(Vec.GP, 0);
    c.cr3 = (hi >>> 0) * TWO32 + (lo >>> 0);
  } else {
    c.cr3 = lo >>> 0;
  }
  c.paging.flushNonGlobal();
  c.flushFetch();
}

function movCR(c: Cpu, i: Insn): void {
  requireCpl0(c);
  icptMovCr(c, Exit.WRITE_CR0 + i.reg, i.rm);
  const lo = getReg(c, i.rm, i.opsize);
  const hi = c.xh;
  if (i.reg === 0) cr0SelectiveWrite(c, lo);
  switch (i.reg) {
    case 0: writeCr0(c, lo, hi); break;
    case 2: c.cr2 = i.opsize === 8 ? hi * TWO32 + (lo >>> 0) : lo >>> 0; break;
    case 3: writeCr3(c, lo, hi); break;
    case 4: writeCr4(c, lo, hi); break;
    case 8:
      if ((lo & ~0xf) !== 0 || hi !== 0) raise(Vec.GP, 0);
      // with V_INTR_MASKING a guest's CR8 is its virtual TPR (APM Vol. 2 15.21.1)
      if (c.guestMode && c.svm.vIntrMasking) { c.svm.vTpr = lo; c.attention = true; break; }
      c.cr8 = lo;
      if (c.tprWrite !== null) c.tprWrite(lo);
      break;
    default: raise(Vec.UD, 0);
  }
}

function movRC(c: Cpu, i: Insn): void {
  requireCpl0(c);
  icptMovCr(c, Exit.READ_CR0 + i.reg, i.rm);
  let v: number;
  switch (i.reg) {
    case 0: v = c.cr0; break;
    case 2: v = c.cr2; break;
    case 3: v = c.cr3; break;
    case 4: v = c.cr4; break;
    case 8: v = c.guestMode && c.svm.vIntrMasking ? c.svm.vTpr : c.tprRead !== null ? c.tprRead() : c.cr8; break;
    default: raise(Vec.UD, 0);
  }
  setReg(c, i.rm, i.opsize, v | 0, Math.floor(v / TWO32) | 0);
}

/** DR4/DR5 alias DR6/DR7 unless CR4.DE, which makes them #UD (APM Vol. 2 13.1, DR4 and DR5) */
function drIndex(c: Cpu, r: number): number {
  if (r === 4 || r === 5) {
    if ((c.cr4 & 0x8) !== 0) raise(Vec.UD, 0);
    return r + 2;
  }
  if (r > 7) raise(Vec.UD, 0);
  return r;
}

/**
 * General detect (APM Vol. 2 13.1, DR7): with DR7.GD = 1 any MOV to or from a debug register
 * is a #DB fault with DR6.BD set, and GD is cleared so that the handler can use them. Checked
 * after the CPL check and the SVM DR intercepts, before the DR4/DR5 #UD (as Bochs orders it).
 */
function generalDetect(c: Cpu): void {
  if ((c.dr[7] & Dr7.GD) === 0) return;
  c.dr[6] = (c.dr[6] | Dr6.BD) >>> 0;
  c.dr[7] = (c.dr[7] & ~Dr7.GD) >>> 0;
  // a fault that is not an instruction breakpoint: its RFLAGS image has RF = 1
  c.flags |= Fl.RF;
  raise(Vec.DB, 0);
}

/**
 * MOV DRn, reg. 64-bit operands in 64-bit mode (f64), else 32 bits zero-extended (APM Vol. 2
 * 13.1, 64-bit mode). In 64-bit mode bits 63:32 of DR6 and DR7 are reserved: writing a 1 there is
 * #GP(0). Reserved bits in the low halves keep their fixed values.
 */
function movDR(c: Cpu, i: Insn): void {
  requireCpl0(c);
  icptInfo(c, Exit.WRITE_DR0 + i.reg, i.rm & 15, 0);
  generalDetect(c);
  const r = drIndex(c, i.reg);
  const lo = getReg(c, i.rm, i.opsize);
  const hi = i.opsize === 8 ? c.xh : 0;
  if (r >= 6) {
    if (hi !== 0) raise(Vec.GP, 0);
    if (r === 6) c.dr[6] = dr6Value(lo);
    else setDr7(c, dr7Value(lo));
    return;
  }
  c.dr[r] = hi * TWO32 + (lo >>> 0);
  debugUpdate(c);
}

function movRD(c: Cpu, i: Insn): void {
  requireCpl0(c);
  icptInfo(c, Exit.READ_DR0 + i.reg, i.rm & 15, 0);
  generalDetect(c);
  const r = drIndex(c, i.reg);
  const v = c.dr[r];
  setReg(c, i.rm, i.opsize, v | 0, Math.floor(v / TWO32) | 0);
}

function clts(c: Cpu, _i: Insn): void {
  requireCpl0(c);
  c.icpt(Exit.WRITE_CR0);
  c.cr0 = (c.cr0 & ~Cr0.TS) >>> 0;
}

/** LMSW loads PE, MP, EM, TS; it can set PE but never clear it */
function lmsw(c: Cpu, i: Insn): void {
  requireCpl0(c);
  c.icpt(Exit.WRITE_CR0);
  const v = readE(c, i, 2);
  const nv = ((c.cr0 & ~0xe) | (v & 0xf) | (c.cr0 & Cr0.PE)) >>> 0;
  // LMSW treats the selective CR0-write intercept as non-selective: it exits whatever the value
  // written, MP and TS changes included (APM Vol. 2 15.9)
  c.icpt(Exit.CR0_SEL_WRITE);
  writeCr0(c, nv, 0);
}

function smsw(c: Cpu, i: Insn): void {
  c.icpt(Exit.READ_CR0);
  if (i.rm >= 0) writeE(c, i, i.opsize, i.opsize === 2 ? c.cr0 & 0xffff : c.cr0 | 0, 0);
  else writeE(c, i, 2, c.cr0 & 0xffff, 0);
}

/** LGDT/LIDT: limit (16 bits) then base: 24 bits with 16-bit operand size, 32 bits, or 64 bits in 64-bit mode */
function loadTable(c: Cpu, i: Insn, idt: boolean): void {
  requireCpl0(c);
  const a = ea(c, i);
  const limit = read16(c, a);
  let base: number;
  if (c.bits === 64) {
    base = read32(c, a + 6) * TWO32 + (read32(c, a + 2) >>> 0);
    if (base < -0x800000000000 || base >= 0x800000000000) raise(Vec.GP, 0);
  } else {
    base = read32(c, a + 2) >>> 0;
    if (i.opsize === 2) base &= 0xffffff;
  }
  if (idt) { c.idtrBase = base; c.idtrLimit = limit; } else { c.gdtrBase = base; c.gdtrLimit = limit; }
}

function storeTable(c: Cpu, i: Insn, idt: boolean): void {
  const a = ea(c, i);
  const base = idt ? c.idtrBase : c.gdtrBase;
  write16(c, a, idt ? c.idtrLimit : c.gdtrLimit);
  write32(c, a + 2, base | 0);
  if (c.bits === 64) write32(c, a + 6, Math.floor(base / TWO32) | 0);
}

function lgdt(c: Cpu, i: Insn): void { requireCpl0(c); c.icpt(Exit.GDTR_WRITE); loadTable(c, i, false); }
function lidt(c: Cpu, i: Insn): void { requireCpl0(c); c.icpt(Exit.IDTR_WRITE); loadTable(c, i, true); }
function sgdt(c: Cpu, i: Insn): void { c.icpt(Exit.GDTR_READ); storeTable(c, i, false); }
function sidt(c: Cpu, i: Insn): void { c.icpt(Exit.IDTR_READ); storeTable(c, i, true); }

function invlpg(c: Cpu, i: Insn): void {
  requireCpl0(c);
  const lin = ea(c, i);
  // decode assists: EXITINFO1 = the linear address (APM Vol. 2 ch. 15, "Decode Assists")
  icptInfo(c, Exit.INVLPG, lin | 0, Math.floor(lin / TWO32) | 0);
  if (c.invlpgHook !== null && c.invlpgHook(c, lin)) return;
  c.paging.invlpg(lin);
  c.flushFetch();
}

function wbinvd(c: Cpu, _i: Insn): void {
  requireCpl0(c);
  c.icpt(Exit.WBINVD);
}

function invd(c: Cpu, _i: Insn): void {
  requireCpl0(c);
  c.icpt(Exit.INVD);
}

export const handlers = {
  movCR, movRC, movDR, movRD, clts, lmsw, smsw, lgdt, lidt, sgdt, sidt, invlpg, wbinvd, invd,
};
