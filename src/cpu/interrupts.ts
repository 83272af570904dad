/**
 * Event delivery through the IVT (real mode) or the IDT (protected and long mode), with
 * privilege and stack switches, IST stacks, error codes, #DF promotion and triple faults
 * (AMD64 APM Vol. 2, chapter 8).
 */

import { taskSwitchIntercept, TS_ERROR } from '../svm/icpt.js';
import type { Cpu } from './cpu.js';
import { FAULT, raise, type CpuFault } from './fault.js';
import { getFlags, setFlags } from './flags.js';
import { read16, read32, write16, write32 } from './mmu.js';
import { Attr, updateMode } from './mode.js';
import { attrOf, baseOf, limitOf, loadInnerSs, readDescriptor, setDescAccessed } from './segments.js';
import { Cr0, Efer, Fl, S, Stop, TWO32, Vec } from './state.js';
import { perfDelivered } from './pmu.js';

/** Event types as in EVENTINJ / EXITINTINFO (APM Vol. 2 15.20). */
export const enum Ev {
  Ext = 0, Nmi = 2, Exception = 3, Soft = 4, Int1 = 5, SoftExc = 6,
}

const CONTRIBUTORY = (1 << 0) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13);

/** What the machine reports after a shutdown (triple fault). */
export class ShutdownInfo {
  rip = 0;
  chain: number[] = [];
  reason = '';
}

/**
 * Deliver an event. `kind` selects privilege checks (software INT n checks the gate DPL) and
 * what RIP is saved (RIP already points where the handler should return). Faults raised while
 * delivering propagate to the caller (deliverWithPromotion decides #DF or shutdown).
 */
export function deliverEvent(c: Cpu, vector: number, kind: number, errorCode: number, hasErr: boolean): void {
  c.halted = false;
  if (c.onDeliver !== null) c.onDeliver(c, vector, kind);
  if ((c.cr0 & Cr0.PE) === 0) deliverReal(c, vector);
  else if ((c.efer & Efer.LMA) !== 0) deliverLong(c, vector, kind, errorCode, hasErr);
  else deliverProt(c, vector, kind, errorCode, hasErr);
  // last-branch recording, DebugCtl on #DB, branch events (pmu.ts)
  if (c.perf.watchEvents) perfDelivered(c, vector, kind);
}

/** external events (INTR, NMI) set EXT in error codes raised during their delivery */
function extBit(kind: number): number {
  return kind === Ev.Ext || kind === Ev.Nmi ? 1 : 0;
}

function deliverReal(c: Cpu, vector: number): void {
  const a = c.idtrBase + vector * 4;
  if (vector * 4 + 3 > c.idtrLimit) raise(Vec.GP, 0);
  const ip = read16(c, a);
  const cs = read16(c, a + 2);
  const fl = getFlags(c);
  const sp = c.rl[4];
  const ssb = c.segBase[S.SS];
  const push16 = (k: number, v: number) => write16(c, ssb + ((sp - 2 * k) & 0xffff), v);
  push16(1, fl);
  push16(2, c.segSel[S.CS]);
  push16(3, c.rip);
  c.rl[4] = (sp & ~0xffff) | ((sp - 6) & 0xffff);
  setFlags(c, fl & ~(Fl.IF | Fl.TF | Fl.AC | Fl.RF));
  c.segSel[S.CS] = cs;
  c.segBase[S.CS] = cs * 16;
  c.rip = ip;
  updateMode(c);
}

/** read the IDT gate for `vector` (8 or 16 bytes) into c.descLo/descHi/descHi64 */
function readGate(c: Cpu, vector: number, size: number, ext: number): void {
  const err = vector * 8 + 2 + ext;
  if (vector * size + size - 1 > c.idtrLimit) raise(Vec.GP, err);
  const a = c.idtrBase + vector * size;
  const save = c.implicitSupervisor;
  c.implicitSupervisor = true;
  try {
    c.descLo = read32(c, a);
    c.descHi = read32(c, a + 4);
    c.descHi64 = size === 16 ? read32(c, a + 8) : 0;
  } finally {
    c.implicitSupervisor = save;
  }
}

function deliverLong(c: Cpu, vector: number, kind: number, errorCode: number, hasErr: boolean): void {
  const ext = extBit(kind);
  const gerr = vector * 8 + 2 + ext;
  readGate(c, vector, 16, ext);
  const lo = c.descLo;
  const hi = c.descHi;
  const offHi = c.descHi64;
  const type = (hi >>> 8) & 0x1f;
  const dpl = (hi >>> 13) & 3;
  // only 64-bit interrupt and trap gates exist in long mode (APM Vol. 2 8.9.1)
  if (type !== 0xe && type !== 0xf) raise(Vec.GP, gerr);
  if (kind === Ev.Soft || kind === Ev.SoftExc) { if (dpl < c.cpl) raise(Vec.GP, gerr); }
  if ((hi & 0x8000) === 0) raise(Vec.NP, gerr);
  const sel = lo >>> 16;
  const target = offHi * TWO32 + (((hi & 0xffff0000) | (lo & 0xffff)) >>> 0);
  const ist = hi & 7;
  if ((sel & 0xfffc) === 0) raise(Vec.GP, ext);
  const csAddr = readDescriptor(c, sel, Vec.GP, false);
  const csLo = c.descLo;
  const csHi = c.descHi;
  const cattr = attrOf(csHi);
  const cdpl = (cattr >> 5) & 3;
  if ((cattr & Attr.S) === 0 || (cattr & 8) === 0 || (cattr & (Attr.L | Attr.DB)) !== Attr.L || cdpl > c.cpl) {
    raise(Vec.GP, (sel & 0xfffc) + ext);
  }
  if ((cattr & Attr.P) === 0) raise(Vec.NP, (sel & 0xfffc) + ext);
  const conforming = (cattr & 4) !== 0;
  const newCpl = conforming ? c.cpl : cdpl;
  if (target < -0x800000000000 || target >= 0x800000000000) raise(Vec.GP, ext);

  const oldSs = c.segSel[S.SS];
  const oldRsp = c.rh[4] * TWO32 + (c.rl[4] >>> 0);
  const fl = getFlags(c);
  let rsp: number;
  if (ist !== 0 || newCpl !== c.cpl) {
    const save = c.implicitSupervisor;
    c.implicitSupervisor = true;
    try {
      const a = c.segBase[S.TR] + (ist !== 0 ? 0x24 + (ist - 1) * 8 : 4 + newCpl * 8);
      if ((ist !== 0 ? 0x24 + ist * 8 : 4 + newCpl * 8 + 8) - 1 > c.segLimit[S.TR]) raise(Vec.TS, (c.segSel[S.TR] & 0xfffc) + ext);
      rsp = read32(c, a + 4) * TWO32 + (read32(c, a) >>> 0);
    } finally {
      c.implicitSupervisor = save;
    }
    if (rsp < -0x800000000000 || rsp >= 0x800000000000) raise(Vec.SS, ext);
  } else {
    rsp = oldRsp;
  }
  // the new stack is aligned to 16 bytes (APM Vol. 2 8.9.3)
  rsp -= ((rsp % 16) + 16) % 16;
  const frame = hasErr ? 6 : 5;
  const base = rsp - frame * 8;
  // write the frame (as a supervisor access at the new CPL), then commit
  const oldCpl = c.cpl;
  c.cpl = newCpl;
  try {
    const w64 = (a: number, v: number) => { write32(c, a, v | 0); write32(c, a + 4, Math.floor(v / TWO32) | 0); };
    let p = base;
    if (hasErr) { write32(c, p, errorCode); write32(c, p + 4, 0); p += 8; }
    w64(p, c.rip); p += 8;
    write32(c, p, c.segSel[S.CS]); write32(c, p + 4, 0); p += 8;
    write32(c, p, fl); write32(c, p + 4, 0); p += 8;
    w64(p, oldRsp); p += 8;
    write32(c, p, oldSs); write32(c, p + 4, 0);
  } catch (e) {
    c.cpl = oldCpl;
    throw e;
  }
  if (newCpl !== oldCpl) {
    // SS becomes a null selector with RPL = new CPL
    c.segSel[S.SS] = newCpl;
    c.segAttr[S.SS] = (c.segAttr[S.SS] & ~Attr.DPL) | (newCpl << 5);
  }
  c.rl[4] = base | 0;
  c.rh[4] = Math.floor(base / TWO32) | 0;
  setDescAccessed(c, csAddr, csHi);
  c.segSel[S.CS] = (sel & 0xfffc) | newCpl;
  c.segBase[S.CS] = baseOf(csLo, csHi);
  c.segLimit[S.CS] = limitOf(csLo, csHi);
  c.segAttr[S.CS] = cattr | 1;
  let nf = fl & ~(Fl.TF | Fl.NT | Fl.RF | Fl.VM);
  if (type === 0xe) nf &= ~Fl.IF;
  setFlags(c, nf);
  c.rip = target;
  updateMode(c);
}

function deliverProt(c: Cpu, vector: number, kind: number, errorCode: number, hasErr: boolean): void {
  const ext = extBit(kind);
  const gerr = vector * 8 + 2 + ext;
  readGate(c, vector, 8, ext);
  const lo = c.descLo;
  const hi = c.descHi;
  const type = (hi >>> 8) & 0x1f;
  const dpl = (hi >>> 13) & 3;
  const is32 = type === 0xe || type === 0xf;
  if (type === 5 && c.guestMode) {
    // a task gate: only the SVM task-switch intercept is modelled (icpt.ts)
    if ((kind === Ev.Soft || kind === Ev.SoftExc) && dpl < c.cpl) raise(Vec.GP, gerr);
    if ((hi & 0x8000) === 0) raise(Vec.NP, gerr);
    taskSwitchIntercept(c, lo >>> 16, hasErr ? TS_ERROR + (errorCode >>> 0) : 0);
  }
  if (!is32 && type !== 6 && type !== 7) raise(Vec.GP, gerr); // task gates are not implemented
  if ((kind === Ev.Soft || kind === Ev.SoftExc) && dpl < c.cpl) raise(Vec.GP, gerr);
  if ((hi & 0x8000) === 0) raise(Vec.NP, gerr);
  const sel = lo >>> 16;
  const target = is32 ? ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0 : lo & 0xffff;
  if ((sel & 0xfffc) === 0) raise(Vec.GP, ext);
  const csAddr = readDescriptor(c, sel, Vec.GP, false);
  const csLo = c.descLo;
  const csHi = c.descHi;
  const cattr = attrOf(csHi);
  const cdpl = (cattr >> 5) & 3;
  if ((cattr & Attr.S) === 0 || (cattr & 8) === 0 || cdpl > c.cpl) raise(Vec.GP, (sel & 0xfffc) + ext);
  if ((cattr & Attr.P) === 0) raise(Vec.NP, (sel & 0xfffc) + ext);
  const newCpl = (cattr & 4) !== 0 ? c.cpl : cdpl;
  if (target > limitOf(csLo, csHi)) raise(Vec.GP, ext);
  const fl = getFlags(c);
  const size = is32 ? 4 : 2;
  const oldSs = c.segSel[S.SS];
  const oldEsp = c.rl[4];
  const oldCpl = c.cpl;
  if ((fl & Fl.VM) !== 0 && newCpl !== 0) raise(Vec.GP, (sel & 0xfffc) + ext);
  if (newCpl < c.cpl) {
    // inner-privilege stack from the 32-bit TSS; a TSS too short for it is #TS(TR), an
    // unusable SS #TS or #SS (APM Vol. 3 INT, READ_INNER_LEVEL_SP)
    if (4 + newCpl * 8 + 7 > c.segLimit[S.TR]) raise(Vec.TS, (c.segSel[S.TR] & 0xfffc) + ext);
    const save = c.implicitSupervisor;
    c.implicitSupervisor = true;
    let esp0: number;
    let ss0: number;
    try {
      const a = c.segBase[S.TR] + 4 + newCpl * 8;
      esp0 = read32(c, a);
      ss0 = read32(c, a + 4) & 0xffff;
    } finally {
      c.implicitSupervisor = save;
    }
    c.cpl = newCpl;
    try {
      loadInnerSs(c, ss0, ext);
    } catch (e) {
      c.cpl = oldCpl;
      throw e;
    }
    c.rl[4] = esp0;
    pushProt(c, size, oldSs);
    pushProt(c, size, oldEsp);
  }
  pushProt(c, size, fl);
  pushProt(c, size, c.segSel[S.CS]);
  pushProt(c, size, c.rip);
  if (hasErr) pushProt(c, size, errorCode);
  setDescAccessed(c, csAddr, csHi);
  c.cpl = newCpl;
  c.segSel[S.CS] = (sel & 0xfffc) | newCpl;
  c.segBase[S.CS] = baseOf(csLo, csHi);
  c.segLimit[S.CS] = limitOf(csLo, csHi);
  c.segAttr[S.CS] = cattr | 1;
  let nf = fl & ~(Fl.TF | Fl.NT | Fl.RF | Fl.VM);
  if ((type & 1) === 0) nf &= ~Fl.IF;
  setFlags(c, nf);
  c.rip = target;
  updateMode(c);
}

function pushProt(c: Cpu, size: number, v: number): void {
  const esp = c.stackSize === 4 ? (c.rl[4] - size) >>> 0 : (c.rl[4] - size) & 0xffff;
  const lin = (c.segBase[S.SS] + esp) % TWO32;
  if (size === 4) write32(c, lin, v); else write16(c, lin, v);
  c.rl[4] = c.stackSize === 4 ? esp | 0 : (c.rl[4] & ~0xffff) | esp;
}

/**
 * Deliver an exception raised by an instruction, promoting to #DF or shutdown when a second
 * fault happens during delivery (APM Vol. 2 8.2.9, Table 8-7).
 */
export function deliverException(c: Cpu, f: CpuFault): void {
  let vector = f.vector;
  let err = f.errorCode;
  let hasErr = f.hasErrorCode;
  let address = f.address;
  const chain = c.shutdown.chain;
  chain.length = 0;
  const sv = c.svm;
  for (let attempt = 0; ; attempt++) {
    chain.push(vector);
    try {
      // an intercepted exception leaves the guest before delivery and before CR2 changes
      if (c.exceptionHook !== null && c.exceptionHook(c, vector, err, hasErr)) return;
      if (vector === Vec.PF) c.cr2 = address;
      // the RFLAGS image of a fault has RF = 1, so that the faulting instruction restarts
      // without hitting its instruction breakpoint again; #DB (whose faults are instruction
      // breakpoints and general detect, and whose traps follow completed instructions) and the
      // aborts #DF and #MC push RF as it is (APM Vol. 2 3.1.6; Intel SDM Vol. 3 17.3.1.1 lists
      // the cases). Delivery clears RF in the handler's RFLAGS. An intercepted fault leaves the
      // guest before this, with RF as it was; so do injected events (world.ts), as KVM expects
      // when it sets RF itself before injecting a fault.
      if (vector !== Vec.DB && vector !== Vec.DF && vector !== Vec.MC) c.flags |= Fl.RF;
      if (c.guestMode && sv.delivering === 0) {
        sv.delivering = 0x80000000 | (Ev.Exception << 8) | (hasErr ? 0x800 : 0) | vector;
        sv.deliveringErr = err;
      }
      deliverEvent(c, vector, Ev.Exception, err, hasErr);
      sv.delivering = 0;
      return;
    } catch (e) {
      if (e !== FAULT) throw e;
      const second = FAULT.vector;
      const firstC = ((CONTRIBUTORY >>> vector) & 1) === 1 && vector < 32;
      const secondC = ((CONTRIBUTORY >>> second) & 1) === 1 && second < 32;
      if (vector === Vec.DF && (secondC || second === Vec.PF)) {
        chain.push(second);
        sv.delivering = 0;
        shutdown(c, 'triple fault');
        return;
      }
      if ((firstC && secondC) || (vector === Vec.PF && (secondC || second === Vec.PF))) {
        chain.push(second);
        vector = Vec.DF;
        err = 0;
        hasErr = true;
        address = 0;
        continue;
      }
      vector = second;
      err = FAULT.errorCode;
      hasErr = FAULT.hasErrorCode;
      address = FAULT.address;
      if (attempt > 8) { sv.delivering = 0; shutdown(c, 'exception loop'); return; }
    }
  }
}

export function shutdown(c: Cpu, reason: string): void {
  // a guest's shutdown is a #VMEXIT when intercepted (APM Vol. 2 15.13.3)
  if (c.guestMode && c.intercepted(0x7f)) {
    c.svmExitAt(0x7f, 0, 0, 0, c.rip, 0);
    return;
  }
  c.shutdown.rip = c.rip;
  c.shutdown.reason = reason;
  c.stopReason = Stop.Shutdown;
}

/** INT n, INT3, INTO, INT1: RIP already points past the instruction. */
export function deliverSoftware(c: Cpu, vector: number, kind: number): void {
  // delivery clears TF: no single-step trap after INT n, INT3, INTO or INT1 (the trap comes
  // after the handler's IRET restores TF and one more instruction completes)
  c.ownStep(false);
  if (c.guestMode) {
    // INT3, INTO and ICEBP raise #BP, #OF and #DB, which the exception intercepts see. INT3
    // and INTO exit at the instruction with NRIP after it (APM Vol. 2 15.12, 15.7.1); ICEBP's
    // #DB is a trap and exits after the instruction
    if ((kind === Ev.SoftExc || kind === Ev.Int1) && c.intercepted(0x40 + vector)) {
      if (kind === Ev.SoftExc) c.svmExitAt(0x40 + vector, 0, 0, 0, c.ripStart, c.rip);
      else c.svmExitAt(0x40 + vector, 0, 0, 0, c.rip, 0);
      return;
    }
  }
  deliverCatching(c, vector, kind);
}

/**
 * Deliver an interrupt, NMI or software interrupt whose delivery may fault: the fault is then
 * delivered instead, reported at the instruction (RIP = ripStart). In guest mode the event is
 * recorded for EXITINTINFO in case an intercept cuts its delivery short (APM Vol. 2 15.7.2).
 */
export function deliverCatching(c: Cpu, vector: number, kind: number): void {
  const sv = c.svm;
  if (c.guestMode) {
    sv.delivering = 0x80000000 | (kind << 8) | vector;
    sv.deliveringErr = 0;
  }
  try {
    deliverEvent(c, vector, kind, 0, false);
  } catch (e) {
    if (e !== FAULT) throw e;
    c.rip = c.ripStart;
    c.deliverException(c, FAULT);
  }
  sv.delivering = 0;
}
