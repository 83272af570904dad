/**
 * Far control transfers and segment-register loads: JMP/CALL far (direct and indirect), RETF,
 * IRET/IRETD/IRETQ, MOV/POP to a segment register, LDS/LES/LSS/LFS/LGS
 * (AMD64 APM Vol. 3; privilege rules from Vol. 2 ch. 4 and 8).
 */

import { taskSwitchIntercept, TS_IRET } from '../../svm/icpt.js';
import { Exit } from '../../svm/vmcb.js';
import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { raise } from '../fault.js';
import { getFlags, setFlags } from '../flags.js';
import { read16, read32 } from '../mmu.js';
import { Attr, updateMode } from '../mode.js';
import { ea, readE } from '../operands.js';
import { setReg } from '../regs.js';
import { attrOf, checkRip, farTransfer, loadCsFromDesc, loadSeg, loadSegProt, readDescriptor, setSeg } from '../segments.js';
import { adjustRsp, peekStack, push } from '../stack.js';
import { Cr0, Efer, Fl, S, TWO32, Vec } from '../state.js';

function realMode(c: Cpu): boolean {
  return (c.cr0 & Cr0.PE) === 0 || (c.flags & Fl.VM) !== 0;
}

function farJumpReal(c: Cpu, sel: number, off: number): void {
  c.segSel[S.CS] = sel;
  c.segBase[S.CS] = sel * 16;
  c.rip = off;
  updateMode(c);
}

function doFar(c: Cpu, sel: number, off: number, opsize: number, isCall: boolean): void {
  if (realMode(c)) {
    if (isCall) {
      push(c, opsize, c.segSel[S.CS], 0);
      push(c, opsize, c.rip, 0);
    }
    farJumpReal(c, sel, opsize === 2 ? off & 0xffff : off >>> 0);
    return;
  }
  farTransfer(c, sel, off, opsize, isCall, push);
}

function jmpFar(c: Cpu, i: Insn): void {
  doFar(c, i.imm2, i.opsize === 2 ? i.imm & 0xffff : i.imm >>> 0, i.opsize, false);
}

function callFar(c: Cpu, i: Insn): void {
  doFar(c, i.imm2, i.opsize === 2 ? i.imm & 0xffff : i.imm >>> 0, i.opsize, true);
}

/** m16:16 or m16:32 (AMD uses m16:32 for a 64-bit operand size too: APM Vol. 3 JMP (Far)) */
function readFarPtr(c: Cpu, i: Insn): number {
  const a = ea(c, i);
  let off: number;
  let selAt: number;
  if (i.opsize === 2) { off = read16(c, a); selAt = a + 2; } else { off = read32(c, a) >>> 0; selAt = a + 4; }
  c.xh = read16(c, selAt);
  return off;
}

function jmpFarInd(c: Cpu, i: Insn): void {
  const off = readFarPtr(c, i);
  doFar(c, c.xh, off, i.opsize === 8 ? 4 : i.opsize, false);
}

function callFarInd(c: Cpu, i: Insn): void {
  const off = readFarPtr(c, i);
  doFar(c, c.xh, off, i.opsize === 8 ? 4 : i.opsize, true);
}

/** RETF [imm16]: same privilege, or to an outer privilege with SS:RSP popped too */
function retFar(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const imm = i.imm & 0xffff; // CA: imm16; CB: no immediate (0)
  const off = peekStack(c, 0, size);
  const offHi = c.xh;
  const sel = peekStack(c, size, size) & 0xffff;
  if (realMode(c)) {
    adjustRsp(c, 2 * size + imm);
    farJumpReal(c, sel, size === 2 ? off & 0xffff : off >>> 0);
    return;
  }
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) raise(Vec.GP, 0);
  if (rpl < c.cpl) raise(Vec.GP, sel & 0xfffc);
  const addr = readDescriptor(c, sel, Vec.GP, false);
  const attr = attrOf(c.descHi);
  const dpl = (attr >> 5) & 3;
  const conforming = (attr & 4) !== 0;
  if ((attr & Attr.S) === 0 || (attr & 8) === 0) raise(Vec.GP, sel & 0xfffc);
  if (conforming ? dpl > rpl : dpl !== rpl) raise(Vec.GP, sel & 0xfffc);
  if ((attr & Attr.P) === 0) raise(Vec.NP, sel & 0xfffc);
  const target = size === 8 ? offHi * TWO32 + (off >>> 0) : size === 4 ? off >>> 0 : off & 0xffff;
  if (rpl === c.cpl) {
    loadReturnCs(c, sel, addr, rpl, target, -1);
    adjustRsp(c, 2 * size + imm);
    c.rip = target;
    return;
  }
  // outer privilege: pop SS:RSP after the immediate
  const newRsp = peekStack(c, 2 * size + imm, size);
  const newRspHi = c.xh;
  const newSs = peekStack(c, 3 * size + imm, size) & 0xffff;
  loadReturnCs(c, sel, addr, rpl, target, newSs);
  setRsp(c, size, newRsp, newRspHi);
  adjustRsp(c, imm);
  invalidateDataSegs(c);
  c.rip = target;
}

/**
 * CS, SS and CPL before a far return or IRET loads CS: when a later check faults (an unusable
 * SS, a RIP outside the new CS) they are put back, as a faulting instruction changes nothing
 * (APM Vol. 2, 8.2: faults are restartable). One instruction at a time uses the slots.
 */
const savedSeg = new Float64Array(9);

function saveCsSs(c: Cpu): void {
  savedSeg[0] = c.cpl;
  savedSeg[1] = c.segSel[S.CS]; savedSeg[2] = c.segBase[S.CS]; savedSeg[3] = c.segLimit[S.CS]; savedSeg[4] = c.segAttr[S.CS];
  savedSeg[5] = c.segSel[S.SS]; savedSeg[6] = c.segBase[S.SS]; savedSeg[7] = c.segLimit[S.SS]; savedSeg[8] = c.segAttr[S.SS];
}

function restoreCsSs(c: Cpu): void {
  c.cpl = savedSeg[0];
  setSeg(c, S.CS, savedSeg[1], savedSeg[2], savedSeg[3], savedSeg[4]);
  setSeg(c, S.SS, savedSeg[5], savedSeg[6], savedSeg[7], savedSeg[8]);
}

/**
 * Load CS for a far return or IRET (and SS, unless `ss` is -1) and check the new RIP; if any
 * of it faults, CS, SS and CPL are as before.
 */
function loadReturnCs(c: Cpu, sel: number, addr: number, rpl: number, target: number, ss: number): void {
  saveCsSs(c);
  try {
    loadCsFromDesc(c, sel, addr, rpl);
    if (ss >= 0) loadSsForOuterReturn(c, ss);
    checkRip(c, target);
  } catch (e) {
    restoreCsSs(c);
    throw e;
  }
}

function setRsp(c: Cpu, size: number, lo: number, hi: number): void {
  if (size === 8) { c.rl[4] = lo; c.rh[4] = hi; }
  else if (size === 4) { c.rl[4] = lo; c.rh[4] = 0; }
  else c.rl[4] = (c.rl[4] & ~0xffff) | (lo & 0xffff);
}

/** returning to outer privilege in 64-bit mode may load a null SS (APM Vol. 3 IRET/RETF) */
function loadSsForOuterReturn(c: Cpu, ss: number): void {
  if ((ss & 0xfffc) === 0 && c.bits === 64 && c.cpl !== 3) {
    c.segSel[S.SS] = ss;
    c.segAttr[S.SS] = (c.segAttr[S.SS] & ~Attr.DPL) | (c.cpl << 5);
    updateMode(c);
    return;
  }
  loadSegProt(c, S.SS, ss);
}

/** After a return to outer privilege, data segments the new CPL may not use become null. */
function invalidateDataSegs(c: Cpu): void {
  for (let k = 0; k < 4; k++) {
    // ES, DS, FS, GS
    const s = k === 0 ? S.ES : k + 2;
    const a = c.segAttr[s];
    const dpl = (a >> 5) & 3;
    const confCode = (a & 0xc) === 0xc;
    if ((c.segSel[s] & 0xfffc) !== 0 && !confCode && dpl < c.cpl) {
      c.segSel[s] = 0;
      c.segAttr[s] &= ~Attr.P;
    }
  }
}

/** RFLAGS bits IRET may change at the current privilege (APM Vol. 3 IRET) */
function iretFlags(c: Cpu, popped: number, size: number, oldCpl: number): number {
  const old = getFlags(c);
  let mask = Fl.ARITH | Fl.TF | Fl.DF | Fl.NT | Fl.AC | Fl.ID | Fl.RF;
  if (oldCpl === 0) mask |= Fl.IOPL | Fl.IF | Fl.VIF | Fl.VIP;
  else if (oldCpl <= ((old >> 12) & 3)) mask |= Fl.IF;
  if (size === 2) mask &= 0xffff;
  return ((old & ~mask) | (popped & mask)) & ~Fl.VM;
}

function iret(c: Cpu, i: Insn): void {
  c.icpt(Exit.IRET);
  const size = i.opsize;
  // IRET ends NMI blocking (APM Vol. 2 8.2.3)
  if (realMode(c)) {
    const ip = peekStack(c, 0, size);
    const cs = peekStack(c, size, size) & 0xffff;
    const fl = peekStack(c, 2 * size, size);
    if ((c.flags & Fl.VM) !== 0) raise(Vec.GP, 0); // virtual-8086 mode is not implemented
    adjustRsp(c, 3 * size);
    const old = getFlags(c);
    const mask = size === 2 ? 0xffff : 0x257fd5;
    setFlags(c, (old & ~mask) | (fl & mask));
    if ((c.flags & Fl.RF) !== 0) c.keepRf();
    farJumpReal(c, cs, size === 2 ? ip & 0xffff : ip >>> 0);
    c.nmiBlocked = false;
    return;
  }
  if ((c.flags & Fl.NT) !== 0 && (c.efer & Efer.LMA) === 0) {
    // a task return to the TSS's back link: only its SVM intercept is modelled (icpt.ts)
    if (c.guestMode) taskSwitchIntercept(c, readTrLink(c), TS_IRET);
    raise(Vec.GP, 0); // task return: not implemented
  }
  if ((c.flags & Fl.NT) !== 0) raise(Vec.GP, 0);
  const rip = peekStack(c, 0, size);
  const ripHi = c.xh;
  const sel = peekStack(c, size, size) & 0xffff;
  const fl = peekStack(c, 2 * size, size);
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) raise(Vec.GP, 0);
  if (rpl < c.cpl) raise(Vec.GP, sel & 0xfffc);
  const addr = readDescriptor(c, sel, Vec.GP, false);
  const attr = attrOf(c.descHi);
  const dpl = (attr >> 5) & 3;
  if ((attr & Attr.S) === 0 || (attr & 8) === 0) raise(Vec.GP, sel & 0xfffc);
  if ((attr & 4) !== 0 ? dpl > rpl : dpl !== rpl) raise(Vec.GP, sel & 0xfffc);
  if ((attr & Attr.P) === 0) raise(Vec.NP, sel & 0xfffc);
  const longRet = c.bits === 64;
  const target = size === 8 ? ripHi * TWO32 + (rip >>> 0) : size === 4 ? rip >>> 0 : rip & 0xffff;
  const oldCpl = c.cpl;
  const nf = iretFlags(c, fl, size, oldCpl);
  if (rpl === oldCpl && !longRet) {
    loadReturnCs(c, sel, addr, rpl, target, -1);
    adjustRsp(c, 3 * size);
    setFlags(c, nf);
    if ((nf & Fl.RF) !== 0) c.keepRf();
    c.rip = target;
    c.nmiBlocked = false;
    return;
  }
  // 64-bit mode always pops SS:RSP; legacy mode only on a privilege change
  const newRsp = peekStack(c, 3 * size, size);
  const newRspHi = c.xh;
  const newSs = peekStack(c, 4 * size, size) & 0xffff;
  saveCsSs(c);
  try {
    loadCsFromDesc(c, sel, addr, rpl);
    if (rpl === oldCpl && longRet && (newSs & 0xfffc) === 0 && c.bits === 64 && rpl !== 3) {
      c.segSel[S.SS] = newSs;
      updateMode(c);
    } else {
      loadSsForOuterReturn(c, newSs);
    }
    checkRip(c, target);
  } catch (e) {
    restoreCsSs(c);
    throw e;
  }
  setRsp(c, size === 2 ? 2 : size, newRsp, newRspHi);
  if (size === 4 && c.bits === 64) c.rh[4] = 0;
  if (rpl > oldCpl) invalidateDataSegs(c);
  setFlags(c, nf);
  if ((nf & Fl.RF) !== 0) c.keepRf();
  c.rip = target;
  c.nmiBlocked = false;
}

/** MOV Sreg, r/m16 (loading CS is #UD; loading SS holds off interrupts for one instruction) */
function movSE(c: Cpu, i: Insn): void {
  const seg = i.reg & 7;
  if (seg === S.CS || seg > S.GS) raise(Vec.UD, 0);
  const sel = readE(c, i, 2);
  loadSeg(c, seg, sel);
  if (seg === S.SS) c.startShadow(true);
}

function popSeg(c: Cpu, i: Insn): void {
  const seg = i.arg;
  const size = i.opsize;
  const sel = peekStack(c, 0, size) & 0xffff;
  loadSeg(c, seg, sel);
  adjustRsp(c, size);
  if (seg === S.SS) c.startShadow(true);
}

/** LDS/LES/LSS/LFS/LGS: offset then selector (arg = segment) */
function loadFarPtr(c: Cpu, i: Insn): void {
  const a = ea(c, i);
  const size = i.opsize;
  let lo: number;
  let hi = 0;
  if (size === 2) lo = read16(c, a);
  else if (size === 4) lo = read32(c, a);
  else { lo = read32(c, a); hi = read32(c, a + 4); }
  const sel = read16(c, a + size);
  loadSeg(c, i.arg, sel);
  setReg(c, i.reg, size, lo, hi);
}

export const handlers = { jmpFar, callFar, jmpFarInd, callFarInd, retFar, iret, movSE, popSeg, loadFarPtr };


/** the back link (bits 15:0 of the first word) of the current TSS, read as a supervisor access */
function readTrLink(c: Cpu): number {
  const save = c.implicitSupervisor;
  c.implicitSupervisor = true;
  try { return read16(c, c.segBase[S.TR]) & 0xffff; } finally { c.implicitSupervisor = save; }
}
