/**
 * Small instructions: PAUSE, WAIT, UD0/UD1/UD2, HLT, INT3, INT n, INTO, INT1, BOUND, MOV r/m
 * from a segment register, CLI, STI, CLAC, STAC, ARPL (AMD64 APM Vol. 3, chapters 3 and 4).
 */

import { Exit } from '../../svm/vmcb.js';
import { icptInfo, icptInsn, pauseIntercept } from '../../svm/icpt.js';
import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { raise } from '../fault.js';
import { waitCheck } from '../fpu/checks.js';
import { readN, writeN } from '../mmu.js';
import { ea, readE, readG, writeE } from '../operands.js';
import { getFlags, setFlags } from '../flags.js';
import { getReg, setReg } from '../regs.js';
import { Cr0, Fl, Stop, TWO32, Vec } from '../state.js';

const CR4_VME = 0x1;
const CR4_PVI = 0x2;

/** F3 90: a spin-loop hint; architecturally a NOP */
function pause(c: Cpu, i: Insn): void {
  pauseIntercept(c, i, icptInsn);
}

/** 9B: WAIT / FWAIT: #NM when CR0.MP and CR0.TS are both set, then #MF for a pending
 * unmasked x87 exception (APM Vol. 3 WAIT; fpu/checks.ts) */
function wait(c: Cpu, _i: Insn): void {
  waitCheck(c);
}

/** UD0 / UD1 / UD2: always #UD */
function ud(_c: Cpu, _i: Insn): void {
  raise(Vec.UD, 0);
}

/**
 * F4: HLT, privileged (#GP(0) above CPL 0). For now the run simply stops with Stop.Halt, RIP
 * past the HLT; waiting for an interrupt (c.halted) is left to the system layer.
 */
function hlt(c: Cpu, _i: Insn): void {
  if (c.cpl !== 0) raise(Vec.GP, 0);
  c.icpt(Exit.HLT);
  // wait for an interrupt or NMI: the run loop's event check takes it (or stops with
  // Stop.Halt when nothing can wake the CPU)
  c.halted = true;
  c.attention = true;
}

/** CC: INT3, a #BP trap (event kind 6, software exception) */
function int3(c: Cpu, _i: Insn): void {
  c.deliverSoftware(c, Vec.BP, 6);
}

/**
 * CD ib: INT n (event kind 4, software interrupt). In virtual-8086 mode INT n is
 * IOPL-sensitive: with IOPL < 3 and CR4.VME clear it raises #GP(0) (APM Vol. 3 INT n). The
 * CR4.VME redirection through the TSS bitmap is not modelled: such an INT n is delivered
 * through the IDT.
 */
function intN(c: Cpu, i: Insn): void {
  if ((c.flags & Fl.VM) !== 0 && (c.flags & Fl.IOPL) !== Fl.IOPL && (c.cr4 & CR4_VME) === 0 &&
    (c.cr0 & Cr0.PE) !== 0) raise(Vec.GP, 0);
  // decode assists: EXITINFO1 = the vector
  icptInfo(c, Exit.SWINT, i.imm & 0xff, 0);
  c.deliverSoftware(c, i.imm & 0xff, 4);
}

/** CE: INTO, #OF as a trap when OF = 1 (legacy modes only) */
function into(c: Cpu, _i: Insn): void {
  if ((c.flags & Fl.OF) !== 0) c.deliverSoftware(c, Vec.OF, 6);
}

/** F1: INT1 (ICEBP), a #DB trap (event kind 5) */
function int1(c: Cpu, _i: Insn): void {
  c.icpt(Exit.ICEBP);
  c.deliverSoftware(c, Vec.DB, 5);
}

/**
 * 62: BOUND Gv, Mv (16/32-bit only): #BR unless lower <= index <= upper, signed, with the
 * bounds at [m] and [m + size] (APM Vol. 3 BOUND).
 */
function bound(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const lin = ea(c, i);
  let lower = readN(c, lin, size);
  let upper = readN(c, (lin + size) % TWO32, size);
  let idx = getReg(c, i.reg, size);
  if (size === 2) {
    lower = (lower << 16) >> 16;
    upper = (upper << 16) >> 16;
    idx = (idx << 16) >> 16;
  }
  if (idx < lower || idx > upper) raise(Vec.BR, 0);
}

/**
 * 8C: MOV r/m, Sreg. A memory destination always takes 16 bits; a register destination with a
 * 32- or 64-bit operand gets the selector zero-extended (APM Vol. 3 MOV). ModRM.reg 6 and 7
 * name no segment register: #UD.
 */
function movES(c: Cpu, i: Insn): void {
  const sr = (i.modrm >> 3) & 7;
  if (sr > 5) raise(Vec.UD, 0);
  const sel = c.segSel[sr];
  if (i.rm >= 0) setReg(c, i.rm, i.opsize, sel, 0);
  else writeN(c, ea(c, i), 2, sel, 0);
}

/**
 * CLI / STI (APM Vol. 3 CLI, STI). Real mode: always. Protected mode: IF when CPL <= IOPL;
 * else VIF when CR4.PVI and CPL = 3; else #GP(0). Virtual-8086 mode: IF when IOPL = 3; else
 * VIF when CR4.VME; else #GP(0). STI may not set VIF while VIP is set (#GP(0)).
 * Returns the flag to change (IF or VIF).
 */
function interruptFlagTarget(c: Cpu, setting: boolean): number {
  if ((c.cr0 & Cr0.PE) === 0) return Fl.IF;
  const f = c.flags;
  const iopl = (f >> 12) & 3;
  let virt: boolean;
  if ((f & Fl.VM) === 0) {
    if (c.cpl <= iopl) return Fl.IF;
    virt = c.cpl === 3 && (c.cr4 & CR4_PVI) !== 0;
  } else {
    if (iopl === 3) return Fl.IF;
    virt = (c.cr4 & CR4_VME) !== 0;
  }
  if (!virt || (setting && (f & Fl.VIP) !== 0)) raise(Vec.GP, 0);
  return Fl.VIF;
}

function cli(c: Cpu, _i: Insn): void {
  c.flags &= ~interruptFlagTarget(c, false);
}

/**
 * STI. When it sets IF from 0, interrupts stay held off until after the next instruction (the
 * interrupt shadow; APM Vol. 3 STI).
 */
function sti(c: Cpu, _i: Insn): void {
  const bit = interruptFlagTarget(c, true);
  if (bit === Fl.IF && (c.flags & Fl.IF) === 0) {
    c.startShadow();
  }
  c.flags |= bit;
}

/**
 * 0F 01 CA / 0F 01 CB: CLAC / STAC clear / set RFLAGS.AC (APM Vol. 3 CLAC, STAC). #UD at
 * CPL > 0 (so always in virtual-8086 mode); CR4.SMAP does not matter. CPUID 7.0 EBX[20]
 * (SMAP) advertises them.
 */
function clac(c: Cpu, _i: Insn): void {
  if (c.cpl !== 0) raise(Vec.UD, 0);
  c.flags &= ~Fl.AC;
}

function stac(c: Cpu, _i: Insn): void {
  if (c.cpl !== 0) raise(Vec.UD, 0);
  c.flags |= Fl.AC;
}

/**
 * 63: ARPL Ew, Gw (legacy and compatibility mode; 63 is MOVSXD in 64-bit mode). Raises the RPL
 * of the selector in Ew to that of Gw: ZF = 1 and Ew written if it was lower, else ZF = 0.
 * #UD in real and virtual-8086 mode (APM Vol. 3 ARPL).
 */
function arpl(c: Cpu, i: Insn): void {
  if ((c.cr0 & Cr0.PE) === 0 || (c.flags & Fl.VM) !== 0) raise(Vec.UD, 0);
  const dst = readE(c, i, 2);
  const src = readG(c, i, 2);
  const f = getFlags(c);
  if ((dst & 3) < (src & 3)) {
    writeE(c, i, 2, (dst & ~3) | (src & 3), 0);
    setFlags(c, f | Fl.ZF);
  } else {
    setFlags(c, f & ~Fl.ZF);
  }
}

export const handlers = {
  pause, wait, ud, hlt, int3, intN, into, int1, bound, movES, cli, sti, clac, stac, arpl,
};
