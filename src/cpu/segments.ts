/**
 * Segmentation (AMD64 APM Vol. 2, chapter 4): descriptor-table reads, segment-register loads
 * with their checks and hidden state, and the code-segment half of far transfers.
 *
 * The hidden attributes are kept in the VMCB's 12-bit form (descriptor bits 47:40 in 7:0 and
 * bits 55:52 in 11:8), so VMRUN, #VMEXIT, VMLOAD and VMSAVE copy them unchanged.
 */

import { taskSwitchIntercept, TS_JMP } from '../svm/icpt.js';
import type { Cpu } from './cpu.js';
import { raise } from './fault.js';
import { read32, write32 } from './mmu.js';
import { Attr, updateMode } from './mode.js';
import { Cr0, Efer, Fl, S, TWO32, Vec } from './state.js';

/** Descriptor types (S = 0 system types in long mode / legacy). */
export const enum DescType {
  LDT = 2, TSS16_AVAIL = 1, TSS_AVAIL = 9, TSS_BUSY = 11, CALL_GATE = 12, INT_GATE = 14, TRAP_GATE = 15,
  TASK_GATE = 5, CALL_GATE16 = 4, INT_GATE16 = 6, TRAP_GATE16 = 7, TSS16_BUSY = 3,
}

export function attrOf(hi: number): number {
  return ((hi >>> 8) & 0xff) | (((hi >>> 20) & 0xf) << 8);
}

export function baseOf(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
}

export function limitOf(lo: number, hi: number): number {
  const l = (lo & 0xffff) | (hi & 0xf0000);
  return (hi & 0x800000) !== 0 ? ((l << 12) | 0xfff) >>> 0 : l;
}

/**
 * Read the 8-byte descriptor for `sel` into c.descLo/c.descHi (and the upper 8 bytes into
 * c.descHi64 when `wide`, for long-mode system descriptors). Raises `vec`(sel) if the selector
 * is beyond the table limit. Returns the descriptor's linear address.
 */
export function readDescriptor(c: Cpu, sel: number, vec: number, wide: boolean): number {
  const ti = (sel & 4) !== 0;
  let base: number;
  let limit: number;
  if (ti) {
    if ((c.segAttr[S.LDTR] & Attr.P) === 0 || (c.segSel[S.LDTR] & 0xfffc) === 0) raise(vec, sel & 0xfffc);
    base = c.segBase[S.LDTR];
    limit = c.segLimit[S.LDTR];
  } else {
    base = c.gdtrBase;
    limit = c.gdtrLimit;
  }
  const off = sel & 0xfff8;
  if (off + (wide ? 15 : 7) > limit) raise(vec, sel & 0xfffc);
  const addr = base + off;
  const save = c.implicitSupervisor;
  c.implicitSupervisor = true;
  try {
    c.descLo = read32(c, addr);
    c.descHi = read32(c, addr + 4);
    c.descHi64 = wide ? read32(c, addr + 8) : 0;
  } finally {
    c.implicitSupervisor = save;
  }
  return addr;
}

/** Set the accessed bit of a code/data descriptor in memory (APM Vol. 2 4.7.2). */
export function setDescAccessed(c: Cpu, addr: number, hi: number): void {
  if ((hi & 0x100) !== 0) return;
  const save = c.implicitSupervisor;
  c.implicitSupervisor = true;
  try { write32(c, addr + 4, hi | 0x100); } finally { c.implicitSupervisor = save; }
}

/** Load a segment register's visible and hidden parts directly. */
export function setSeg(c: Cpu, seg: number, sel: number, base: number, limit: number, attr: number): void {
  c.segSel[seg] = sel;
  c.segBase[seg] = base;
  c.segLimit[seg] = limit >>> 0;
  c.segAttr[seg] = attr;
  if (seg === S.CS || seg === S.SS) updateMode(c);
}

/** Real mode and virtual-8086 mode: base = selector * 16 (APM Vol. 2 4.2). */
export function loadSegReal(c: Cpu, seg: number, sel: number): void {
  c.segSel[seg] = sel;
  c.segBase[seg] = sel * 16;
  if ((c.flags & Fl.VM) !== 0) {
    c.segLimit[seg] = 0xffff;
    c.segAttr[seg] = seg === S.CS ? 0xfb : 0xf3;
  } else {
    // real mode keeps the limit and attributes, but the segment is present and usable
    c.segAttr[seg] |= Attr.P;
  }
  if (seg === S.CS || seg === S.SS) updateMode(c);
}

/**
 * MOV/POP/LxS to DS, ES, FS, GS or SS in protected mode, with the checks of APM Vol. 3 (MOV
 * Sreg) and Vol. 2 4.10.
 */
export function loadSegProt(c: Cpu, seg: number, sel: number): void {
  const rpl = sel & 3;
  const is64 = c.bits === 64;
  if ((sel & 0xfffc) === 0) {
    if (seg === S.SS) {
      // a null SS is legal only in 64-bit mode at CPL < 3 with RPL = CPL
      if (!is64 || c.cpl === 3 || rpl !== c.cpl) raise(Vec.GP, 0);
      c.segSel[S.SS] = sel;
      c.segAttr[S.SS] = (c.segAttr[S.SS] & ~Attr.P) | (c.cpl << 5);
      updateMode(c);
      return;
    }
    // null data selector: the register becomes unusable; AMD keeps the base and limit
    // (Linux X86_BUG_NULL_SEG describes the same behaviour). `nullSelClearsBase` models the
    // CPUs that clear them (Intel; AMD parts with CPUID 8000_0021 EAX[6] NullSelectClearsBase)
    c.segSel[seg] = sel;
    c.segAttr[seg] &= ~Attr.P;
    if (c.nullSelClearsBase) {
      c.segBase[seg] = 0;
      c.segLimit[seg] = 0;
    }
    return;
  }
  const addr = readDescriptor(c, sel, Vec.GP, false);
  const lo = c.descLo;
  const hi = c.descHi;
  const attr = attrOf(hi);
  const dpl = (attr >> 5) & 3;
  const type = attr & 0xf;
  if ((attr & Attr.S) === 0) raise(Vec.GP, sel & 0xfffc);
  const code = (type & 8) !== 0;
  if (seg === S.SS) {
    if (code || (type & 2) === 0 || rpl !== c.cpl || dpl !== c.cpl) raise(Vec.GP, sel & 0xfffc);
    if ((attr & Attr.P) === 0) raise(Vec.SS, sel & 0xfffc);
  } else {
    if (code && (type & 2) === 0) raise(Vec.GP, sel & 0xfffc); // execute-only code
    const conforming = code && (type & 4) !== 0;
    if (!conforming && (rpl > dpl || c.cpl > dpl)) raise(Vec.GP, sel & 0xfffc);
    if ((attr & Attr.P) === 0) raise(Vec.NP, sel & 0xfffc);
  }
  setDescAccessed(c, addr, hi);
  c.segSel[seg] = sel;
  c.segBase[seg] = baseOf(lo, hi);
  c.segLimit[seg] = limitOf(lo, hi);
  c.segAttr[seg] = attr | 1;
  if (seg === S.SS) updateMode(c);
}

/**
 * Load SS for a switch to the inner stack of c.cpl (already the new CPL) named by the TSS, for
 * an interrupt or a call gate in legacy mode (APM Vol. 3 INT and CALL (Far), READ_DESCRIPTOR
 * with ss_chk): a null selector is #TS(EXT); one beyond the table, with RPL or DPL other than
 * the new CPL, or not a writable data segment is #TS(selector + EXT); a not-present one is
 * #SS(selector + EXT).
 */
export function loadInnerSs(c: Cpu, sel: number, ext: number): void {
  if ((sel & 0xfffc) === 0) raise(Vec.TS, ext);
  const err = (sel & 0xfffc) + ext;
  const ti = (sel & 4) !== 0;
  const limit = ti ? c.segLimit[S.LDTR] : c.gdtrLimit;
  if (ti && ((c.segAttr[S.LDTR] & Attr.P) === 0 || (c.segSel[S.LDTR] & 0xfffc) === 0)) raise(Vec.TS, err);
  if ((sel & 0xfff8) + 7 > limit) raise(Vec.TS, err);
  const addr = readDescriptor(c, sel, Vec.TS, false);
  const lo = c.descLo;
  const hi = c.descHi;
  const attr = attrOf(hi);
  const dpl = (attr >> 5) & 3;
  if ((sel & 3) !== c.cpl || dpl !== c.cpl || (attr & Attr.S) === 0 || (attr & 0xa) !== 2) raise(Vec.TS, err);
  if ((attr & Attr.P) === 0) raise(Vec.SS, err);
  setDescAccessed(c, addr, hi);
  c.segSel[S.SS] = sel;
  c.segBase[S.SS] = baseOf(lo, hi);
  c.segLimit[S.SS] = limitOf(lo, hi);
  c.segAttr[S.SS] = attr | 1;
  updateMode(c);
}

/** MOV/POP/LxS to a data or stack segment register in any mode. */
export function loadSeg(c: Cpu, seg: number, sel: number): void {
  if ((c.cr0 & Cr0.PE) === 0 || (c.flags & Fl.VM) !== 0) loadSegReal(c, seg, sel);
  else loadSegProt(c, seg, sel);
}

/**
 * Check a code-segment descriptor (in c.descLo/descHi) as the target of a far JMP/CALL or of a
 * call gate: returns the new CPL. Raises #GP(sel)/#NP(sel).
 */
export function checkCodeTarget(c: Cpu, sel: number, viaGate: boolean): number {
  const attr = attrOf(c.descHi);
  const type = attr & 0xf;
  const dpl = (attr >> 5) & 3;
  const rpl = sel & 3;
  if ((attr & Attr.S) === 0 || (type & 8) === 0) raise(Vec.GP, sel & 0xfffc);
  const conforming = (type & 4) !== 0;
  let newCpl = c.cpl;
  if (viaGate) {
    if (dpl > c.cpl) raise(Vec.GP, sel & 0xfffc);
    if (!conforming) newCpl = dpl;
  } else if (conforming) {
    if (dpl > c.cpl) raise(Vec.GP, sel & 0xfffc);
  } else if (rpl > c.cpl || dpl !== c.cpl) {
    raise(Vec.GP, sel & 0xfffc);
  }
  // a long-mode code segment with L and D both set is reserved
  if ((c.efer & Efer.LMA) !== 0 && (attr & Attr.L) !== 0 && (attr & Attr.DB) !== 0) raise(Vec.GP, sel & 0xfffc);
  if ((attr & Attr.P) === 0) raise(Vec.NP, sel & 0xfffc);
  return newCpl;
}

/** Load CS from the descriptor in c.descLo/descHi at descriptor address `addr` with CPL `cpl`. */
export function loadCsFromDesc(c: Cpu, sel: number, addr: number, cpl: number): void {
  setDescAccessed(c, addr, c.descHi);
  c.cpl = cpl;
  c.segSel[S.CS] = (sel & 0xfffc) | cpl;
  c.segBase[S.CS] = baseOf(c.descLo, c.descHi);
  c.segLimit[S.CS] = limitOf(c.descLo, c.descHi);
  c.segAttr[S.CS] = attrOf(c.descHi) | 1;
  updateMode(c);
}

/** Check a new RIP against the CS limit (legacy) or for canonical form (64-bit mode). */
export function checkRip(c: Cpu, rip: number): void {
  if (c.bits === 64) {
    if (rip < -0x800000000000 || rip >= 0x800000000000) raise(Vec.GP, 0);
  } else if (rip > c.segLimit[S.CS]) {
    raise(Vec.GP, 0);
  }
}

/**
 * Check a far JMP/CALL target offset against the code-segment descriptor in c.descLo/descHi,
 * before anything changes: canonical for a 64-bit segment, else within its limit; #GP(0)
 * otherwise (APM Vol. 3 JMP (Far), CALL (Far)).
 */
function checkTargetInDesc(c: Cpu, target: number): void {
  const attr = attrOf(c.descHi);
  if ((c.efer & Efer.LMA) !== 0 && (attr & (Attr.L | Attr.DB)) === Attr.L) {
    if (target < -0x800000000000 || target >= 0x800000000000) raise(Vec.GP, 0);
  } else if (target > limitOf(c.descLo, c.descHi)) {
    raise(Vec.GP, 0);
  }
}

/**
 * Far JMP or CALL to `sel:off` in protected mode (APM Vol. 3 JMP (Far), CALL (Far)).
 * Handles code segments and call gates (same and more privileged for CALL). `opsize` is the
 * instruction's operand size; for CALL, `retSel:retOff` is pushed.
 */
export function farTransfer(c: Cpu, sel: number, off: number, opsize: number, isCall: boolean,
  push: (c: Cpu, size: number, lo: number, hi: number) => void): void {
  if ((sel & 0xfffc) === 0) raise(Vec.GP, 0);
  const lma = (c.efer & Efer.LMA) !== 0;
  let addr = readDescriptor(c, sel, Vec.GP, false);
  const attr = attrOf(c.descHi);
  const retSel = c.segSel[S.CS];
  const retOff = c.rip;
  if ((attr & Attr.S) !== 0) {
    const cpl = checkCodeTarget(c, sel, false);
    const target = opsize === 2 ? off & 0xffff : off;
    checkTargetInDesc(c, target);
    if (isCall) {
      push(c, opsize, retSel, 0);
      push(c, opsize, retOff | 0, Math.floor(retOff / TWO32) | 0);
    }
    loadCsFromDesc(c, sel, addr, cpl);
    c.rip = target;
    return;
  }
  // system descriptor: only call gates are supported targets (task gates/TSS: task switches
  // are not implemented and raise #GP)
  const type = attr & 0xf;
  const dpl = (attr >> 5) & 3;
  // a task switch (available TSS or task gate, legacy mode): only its SVM intercept is modelled
  if (!lma && (type === 1 || type === 9 || type === 5) && c.guestMode) {
    if (dpl < c.cpl || dpl < (sel & 3)) raise(Vec.GP, sel & 0xfffc);
    if ((attr & Attr.P) === 0) raise(Vec.NP, sel & 0xfffc);
    taskSwitchIntercept(c, type === 5 ? c.descLo >>> 16 : sel, isCall ? 0 : TS_JMP);
  }
  if (type !== DescType.CALL_GATE && type !== DescType.CALL_GATE16) raise(Vec.GP, sel & 0xfffc);
  if (lma && type !== DescType.CALL_GATE) raise(Vec.GP, sel & 0xfffc);
  if (dpl < c.cpl || dpl < (sel & 3)) raise(Vec.GP, sel & 0xfffc);
  if ((attr & Attr.P) === 0) raise(Vec.NP, sel & 0xfffc);
  let gateOff = (c.descLo & 0xffff) | (type === DescType.CALL_GATE ? c.descHi & 0xffff0000 : 0);
  gateOff >>>= 0;
  const gateSel = c.descLo >>> 16;
  const params = c.descHi & 0x1f;
  if (lma) {
    // 16-byte gate: the upper half holds the offset's bits 63:32, and its type field (bits
    // 12:8 of the last doubleword) must be 0, else #GP(gate) (APM Vol. 2, the long-mode
    // call-gate descriptor; Vol. 3 CALL (Far))
    const gateAddr = readDescriptor(c, sel, Vec.GP, true);
    gateOff = c.descHi64 * TWO32 + gateOff;
    const save = c.implicitSupervisor;
    c.implicitSupervisor = true;
    let upper: number;
    try { upper = read32(c, gateAddr + 12); } finally { c.implicitSupervisor = save; }
    if (((upper >>> 8) & 0x1f) !== 0) raise(Vec.GP, sel & 0xfffc);
  }
  if ((gateSel & 0xfffc) === 0) raise(Vec.GP, 0);
  addr = readDescriptor(c, gateSel, Vec.GP, false);
  const tattr = attrOf(c.descHi);
  if (lma && (tattr & (Attr.L | Attr.DB)) !== Attr.L) raise(Vec.GP, gateSel & 0xfffc);
  const newCpl = isCall ? checkCodeTarget(c, gateSel, true) : (() => {
    // JMP through a gate never changes privilege: conforming with DPL <= CPL, or DPL = CPL
    const t = attrOf(c.descHi);
    const tdpl = (t >> 5) & 3;
    const conf = (t & 4) !== 0;
    if ((t & Attr.S) === 0 || (t & 8) === 0 || (conf ? tdpl > c.cpl : tdpl !== c.cpl)) raise(Vec.GP, gateSel & 0xfffc);
    if ((t & Attr.P) === 0) raise(Vec.NP, gateSel & 0xfffc);
    return c.cpl;
  })();
  checkTargetInDesc(c, gateOff);
  const gsize = lma ? 8 : type === DescType.CALL_GATE ? 4 : 2;
  if (isCall && newCpl < c.cpl) {
    callGateStackSwitch(c, newCpl, gsize, params, retSel, retOff, gateSel, addr, gateOff, lma);
    return;
  }
  if (isCall) {
    push(c, gsize, retSel, 0);
    push(c, gsize, retOff | 0, Math.floor(retOff / TWO32) | 0);
  }
  loadCsFromDesc(c, gateSel, addr, newCpl);
  c.rip = gateOff;
}

/** CALL through a gate to a more privileged level: switch to the TSS stack (APM Vol. 2 4.11.4). */
function callGateStackSwitch(c: Cpu, newCpl: number, gsize: number, params: number, retSel: number,
  retOff: number, gateSel: number, csAddr: number, gateOff: number, lma: boolean): void {
  const csLo = c.descLo;
  const csHi = c.descHi;
  const oldSs = c.segSel[S.SS];
  const oldRsp = c.rh[4] * TWO32 + (c.rl[4] >>> 0);
  const oldSsBase = c.segBase[S.SS];
  const oldStack = c.stackSize;
  let newRsp: number;
  let newSs: number;
  // the TSS must hold the stack pointer (and SS) for the new CPL (APM Vol. 3 CALL (Far))
  if (4 + newCpl * 8 + 7 > c.segLimit[S.TR]) raise(Vec.TS, c.segSel[S.TR] & 0xfffc);
  const save = c.implicitSupervisor;
  c.implicitSupervisor = true;
  try {
    if (lma) {
      const a = c.segBase[S.TR] + 4 + newCpl * 8;
      newRsp = read32(c, a + 4) * TWO32 + (read32(c, a) >>> 0);
      newSs = newCpl; // a null selector with RPL = new CPL
    } else {
      const a = c.segBase[S.TR] + 4 + newCpl * 8;
      newRsp = read32(c, a) >>> 0;
      newSs = read32(c, a + 4) & 0xffff;
    }
  } finally {
    c.implicitSupervisor = save;
  }
  // copy parameters from the old stack (legacy gates only)
  const copied: number[] = [];
  if (!lma) {
    for (let k = params - 1; k >= 0; k--) {
      const off = (oldStack === 4 ? c.rl[4] >>> 0 : c.rl[4] & 0xffff) + k * gsize;
      copied.push(gsize === 4 ? read32(c, oldSsBase + off) : read32(c, oldSsBase + off) & 0xffff);
    }
  }
  // a fault on the new stack leaves CS, SS, rSP and CPL as they were
  const oldCpl = c.cpl;
  const oldCs = c.segSel[S.CS], oldCsBase = c.segBase[S.CS], oldCsLimit = c.segLimit[S.CS], oldCsAttr = c.segAttr[S.CS];
  const oldSsLimit = c.segLimit[S.SS], oldSsAttr = c.segAttr[S.SS];
  const oldRl = c.rl[4], oldRh = c.rh[4];
  c.descLo = csLo; c.descHi = csHi;
  loadCsFromDesc(c, gateSel, csAddr, newCpl);
  try {
    if (lma) {
      c.segSel[S.SS] = newSs;
      c.segAttr[S.SS] = (c.segAttr[S.SS] & ~(Attr.P | Attr.DPL)) | (newCpl << 5) | Attr.P;
      updateMode(c);
    } else {
      loadInnerSs(c, newSs, 0);
    }
    c.rl[4] = newRsp | 0;
    // RSP comes from the TSS as it is: only interrupt delivery aligns the new stack
    // (APM Vol. 2 8.9.3); a call gate pushes at the RSPn value itself
    c.rh[4] = lma ? Math.floor(newRsp / TWO32) | 0 : 0;
    const pushN = (v: number) => {
      const sp = c.stackSize === 8 ? c.rh[4] * TWO32 + (c.rl[4] >>> 0) - gsize : ((c.rl[4] >>> 0) - gsize) >>> 0;
      const lin = c.stackSize === 8 ? sp : c.segBase[S.SS] + (c.stackSize === 4 ? sp : sp & 0xffff);
      if (gsize === 8) { write32(c, lin, v | 0); write32(c, lin + 4, Math.floor(v / TWO32) | 0); }
      else if (gsize === 4) write32(c, lin, v | 0);
      else { write32(c, lin, (v & 0xffff) | (read32(c, lin) & 0xffff0000)); }
      c.rl[4] = sp | 0;
      c.rh[4] = c.stackSize === 8 ? Math.floor(sp / TWO32) | 0 : c.rh[4];
    };
    pushN(oldSs);
    pushN(oldRsp);
    for (let k = 0; k < copied.length; k++) pushN(copied[k]);
    pushN(retSel);
    pushN(retOff);
  } catch (e) {
    c.cpl = oldCpl;
    setSeg(c, S.CS, oldCs, oldCsBase, oldCsLimit, oldCsAttr);
    setSeg(c, S.SS, oldSs, oldSsBase, oldSsLimit, oldSsAttr);
    c.rl[4] = oldRl;
    c.rh[4] = oldRh;
    throw e;
  }
  c.rip = gateOff;
}
