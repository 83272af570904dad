/**
 * Stack instructions: PUSH / POP in their register, memory, immediate and segment forms,
 * PUSHA / POPA, PUSHF / POPF, ENTER and LEAVE (AMD64 APM Vol. 3, chapters 3 and 4).
 *
 * Pushes and pops use the operand size for the data and the stack-address size for rSP (see
 * ../stack.ts). Instructions that touch several stack slots read or probe all of them before
 * they change anything, so a #PF or #SS leaves no trace.
 */

import { Exit } from '../../svm/vmcb.js';
import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { raise } from '../fault.js';
import { getFlags, setFlags } from '../flags.js';
import { Acc, probeWrite, readN, translate, writeN } from '../mmu.js';
import { ea, readE, segFault } from '../operands.js';
import { getReg, setReg } from '../regs.js';
import { adjustRsp, peekStack, pop, push, stackLinear } from '../stack.js';
import { Cr0, Fl, R, S, TWO32, Vec } from '../state.js';

const CR4_VME = 0x1;

/** linear address of SS:[rBP + delta] at the stack-address size */
function bpLinear(c: Cpu, delta: number): number {
  if (c.stackSize === 8) {
    const a = c.rh[R.RBP] * TWO32 + (c.rl[R.RBP] >>> 0) + delta;
    if (a < -0x800000000000 || a >= 0x800000000000) segFault(S.SS);
    return a;
  }
  const off = c.stackSize === 4 ? (c.rl[R.RBP] + delta) >>> 0 : (c.rl[R.RBP] + delta) & 0xffff;
  return (c.segBase[S.SS] + off) % TWO32;
}

function probeRead(c: Cpu, lin: number, size: number): void {
  translate(c, lin, Acc.Read);
  if (((lin & 0xfff) + size) > 0x1000) translate(c, lin + size - 1, Acc.Read);
}

// ---- PUSH / POP ---------------------------------------------------------------------------

/** 50+r: PUSH reg (PUSH rSP pushes the value before the decrement) */
function pushZ(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const v = getReg(c, i.reg, size);
  push(c, size, v, c.xh);
}

/** 58+r: POP reg (POP rSP leaves the popped value in rSP) */
function popZ(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const v = pop(c, size);
  setReg(c, i.reg, size, v, c.xh);
}

/** FF /6: PUSH r/m (the address is formed with rSP before the push) */
function pushE(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const v = readE(c, i, size);
  push(c, size, v, c.xh);
}

/**
 * 8F /0: POP r/m. A memory destination based on rSP is addressed with rSP already incremented
 * (APM Vol. 3 POP); the store happens before rSP really changes, so a faulting store leaves
 * rSP as it was.
 */
function popE(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const v = peekStack(c, 0, size);
  const vh = c.xh;
  if (i.rm >= 0) {
    adjustRsp(c, size);
    setReg(c, i.rm, size, v, vh);
    return;
  }
  let lin: number;
  if (i.base === R.RSP) {
    const lo = c.rl[R.RSP];
    const hi = c.rh[R.RSP];
    adjustRsp(c, size);
    try {
      lin = ea(c, i);
    } finally {
      c.rl[R.RSP] = lo;
      c.rh[R.RSP] = hi;
    }
  } else {
    lin = ea(c, i);
  }
  writeN(c, lin, size, v, vh);
  adjustRsp(c, size);
}

/** 68 / 6A: PUSH imm, sign-extended to the operand size */
function pushI(c: Cpu, i: Insn): void {
  const size = i.opsize;
  push(c, size, size === 2 ? i.imm & 0xffff : i.imm, size === 8 ? i.immHi : 0);
}

/**
 * PUSH ES/CS/SS/DS/FS/GS (arg = segment). The operand size sets the bytes pushed (APM Vol. 3
 * PUSH); the 16-bit selector fills the slot zero-extended, as AMD's MOV from a segment
 * register also zero-extends (APM Vol. 3 MOV).
 */
function pushSeg(c: Cpu, i: Insn): void {
  push(c, i.opsize, c.segSel[i.arg], 0);
}

/** 60: PUSHA / PUSHAD: AX CX DX BX (original) SP BP SI DI */
function pusha(c: Cpu, i: Insn): void {
  const size = i.opsize;
  for (let k = 1; k <= 8; k++) probeWrite(c, stackLinear(c, -k * size), size);
  for (let r = 0; r < 8; r++) {
    writeN(c, stackLinear(c, -(r + 1) * size), size, getReg(c, r, size), 0);
  }
  adjustRsp(c, -8 * size);
}

/** 61: POPA / POPAD: DI SI BP (SP skipped) BX DX CX AX */
function popa(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const di = peekStack(c, 0, size);
  const si = peekStack(c, size, size);
  const bp = peekStack(c, 2 * size, size);
  const bx = peekStack(c, 4 * size, size);
  const dx = peekStack(c, 5 * size, size);
  const cx = peekStack(c, 6 * size, size);
  const ax = peekStack(c, 7 * size, size);
  setReg(c, R.RDI, size, di, 0);
  setReg(c, R.RSI, size, si, 0);
  setReg(c, R.RBP, size, bp, 0);
  setReg(c, R.RBX, size, bx, 0);
  setReg(c, R.RDX, size, dx, 0);
  setReg(c, R.RCX, size, cx, 0);
  setReg(c, R.RAX, size, ax, 0);
  adjustRsp(c, 8 * size);
}

// ---- PUSHF / POPF -------------------------------------------------------------------------

/** RFLAGS bits that exist (the rest read as zero, bit 1 as one) */
const FLAGS_DEFINED = 0x3f7fd5;

/**
 * 9C: PUSHF. The image has VM and RF clear. In virtual-8086 mode with IOPL < 3 it is allowed
 * only with CR4.VME and a 16-bit operand, and then pushes VIF in place of IF and IOPL = 3;
 * otherwise #GP(0) (APM Vol. 3 PUSHF, Vol. 2 15.x virtual-8086 extensions).
 */
function pushf(c: Cpu, i: Insn): void {
  const size = i.opsize;
  let f = getFlags(c);
  if ((f & Fl.VM) !== 0 && (f & Fl.IOPL) !== Fl.IOPL) {
    if ((c.cr4 & CR4_VME) === 0 || size !== 2) raise(Vec.GP, 0);
    f = (f & ~Fl.IF) | ((f & Fl.VIF) !== 0 ? Fl.IF : 0) | Fl.IOPL;
  }
  c.icpt(Exit.PUSHF);
  f &= ~(Fl.VM | Fl.RF);
  push(c, size, size === 2 ? f & 0xffff : f, 0);
}

/**
 * 9D: POPF, with the write rules of APM Vol. 3 POPF:
 *  - real mode: everything but VM, VIP, VIF;
 *  - protected mode: the same, but IOPL only at CPL 0 and IF only when CPL <= IOPL (no fault
 *    otherwise: those bits just keep their value);
 *  - virtual-8086 mode with IOPL 3: neither IOPL nor VM, VIP, VIF;
 *  - virtual-8086 mode with IOPL < 3: only with CR4.VME and a 16-bit operand, the popped IF
 *    going to VIF (IF and IOPL unchanged); #GP(0) if that would set VIF with VIP pending or
 *    sets TF; else #GP(0).
 * RF is cleared; a 16-bit POPF leaves bits 31:16 alone. Reserved bits are zero, bit 1 is one.
 */
function popf(c: Cpu, i: Insn): void {
  c.icpt(Exit.POPF);
  const size = i.opsize;
  const v = peekStack(c, 0, size);
  const old = getFlags(c);
  const iopl = (old >> 12) & 3;
  let keep = Fl.VM | Fl.VIP | Fl.VIF;
  let vme = false;
  if ((c.cr0 & Cr0.PE) === 0) {
    // real mode: keep the default
  } else if ((old & Fl.VM) === 0) {
    if (c.cpl !== 0) keep |= Fl.IOPL;
    if (c.cpl > iopl) keep |= Fl.IF;
  } else if (iopl === 3) {
    keep |= Fl.IOPL;
  } else if ((c.cr4 & CR4_VME) !== 0 && size === 2) {
    if (((v & Fl.IF) !== 0 && (old & Fl.VIP) !== 0) || (v & Fl.TF) !== 0) raise(Vec.GP, 0);
    keep |= Fl.IF | Fl.IOPL;
    vme = true;
  } else {
    raise(Vec.GP, 0);
  }
  let f = ((v & FLAGS_DEFINED) & ~keep) | (old & keep);
  if (size === 2) f = (f & 0xffff) | (old & ~0xffff);
  if (vme) f = (f & ~Fl.VIF) | ((v & Fl.IF) !== 0 ? Fl.VIF : 0);
  adjustRsp(c, size);
  setFlags(c, f & ~Fl.RF);
}

// ---- ENTER / LEAVE ------------------------------------------------------------------------

/**
 * C8 iw ib: ENTER alloc, level (APM Vol. 3 ENTER). Pushes rBP; for level > 1 copies level - 1
 * frame pointers from the old frame (read at rBP - k * size); for level > 0 pushes the new
 * frame pointer; then rSP -= alloc and rBP = the frame pointer (rSP after the first push).
 * Every slot is probed first so that a fault in the middle cannot leave a half-built frame.
 */
function enter(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const alloc = i.imm & 0xffff;
  const level = i.imm2 & 31;
  const slots = level === 0 ? 1 : level + 1;
  for (let k = 1; k <= slots; k++) probeWrite(c, stackLinear(c, -k * size), size);
  for (let k = 1; k < level; k++) probeRead(c, bpLinear(c, -k * size), size);

  const bp = getReg(c, R.RBP, size);
  writeN(c, stackLinear(c, -size), size, bp, c.xh);
  for (let k = 1; k < level; k++) {
    const v = readN(c, bpLinear(c, -k * size), size);
    writeN(c, stackLinear(c, -(k + 1) * size), size, v, c.xh);
  }
  // the frame pointer is rSP after the first push
  adjustRsp(c, -size);
  const fpLo = c.rl[R.RSP];
  const fpHi = c.rh[R.RSP];
  if (level > 0) writeN(c, stackLinear(c, -level * size), size, fpLo, fpHi);
  adjustRsp(c, -(slots - 1) * size - alloc);
  setReg(c, R.RBP, size, size === 2 ? fpLo & 0xffff : fpLo, fpHi);
}

/** C9: LEAVE: rSP = rBP (stack-address size), then POP rBP (operand size) */
function leave(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const v = readN(c, bpLinear(c, 0), size);
  const vh = c.xh;
  const ss = c.stackSize;
  if (ss === 8) {
    c.rl[R.RSP] = c.rl[R.RBP];
    c.rh[R.RSP] = c.rh[R.RBP];
  } else if (ss === 4) {
    c.rl[R.RSP] = c.rl[R.RBP];
  } else {
    c.rl[R.RSP] = (c.rl[R.RSP] & ~0xffff) | (c.rl[R.RBP] & 0xffff);
  }
  adjustRsp(c, size);
  setReg(c, R.RBP, size, v, vh);
}

export const handlers = {
  pushZ, popZ, pushE, popE, pushI, pushSeg, pusha, popa, pushf, popf, enter, leave,
};
