/**
 * The world switch: VMRUN (APM Vol. 2 15.5.1) and #VMEXIT (15.6), in the manual's steps.
 *
 * Host state at VMRUN goes to the VM_HSAVE_PA page, written in VMCB state-save layout at the
 * same offsets a VMCB uses (ES/CS/SS/DS with hidden parts, GDTR, IDTR, CR0, CR3, CR4, EFER,
 * RFLAGS, RIP = the instruction after VMRUN, RSP, RAX). The manual leaves the format
 * implementation-defined; this is the layout QEMU uses too, and it does not overlap the
 * VMSAVE/VMLOAD fields, so a host may share the page with VMSAVE as Linux does.
 */

import type { Cpu } from '../cpu/cpu.js';
import { getFlags, setFlags } from '../cpu/flags.js';
import { Attr, updateMode } from '../cpu/mode.js';
import { MAXPHYADDR } from '../cpu/paging.js';
import { Cr0, Efer, Fl, S, Stop, TWO32 } from '../cpu/state.js';
import { CR4_VALID } from '../cpu/exec/ctrl.js';
import { deliverEvent } from '../cpu/interrupts.js';
import { FAULT } from '../cpu/fault.js';
import { Dr6, setDr7 } from '../cpu/debug.js';
import { Exit, V } from './vmcb.js';
import { loadSegsAndTables, rd32, rd64canon, rd64u, saveRunState, wr32, wr64, wr64n } from './vmcbio.js';
import { LEDGER_VMEXIT } from '../cost/ledger.js';

/** misc2 bit 0: the VMRUN intercept, which VMRUN requires (APM 15.5.1) */
const VMRUN_INTERCEPT = 1;

/** EFER bits a guest may have (SCE, LME, LMA, NXE, SVME, FFXSR) */
const EFER_VALID = Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE | Efer.SVME | Efer.FFXSR;

/**
 * VMRUN with the VMCB at physical address `vmcb` (already checked: aligned, below
 * MAXPHYADDR). Returns after the guest state is loaded, or after a VMEXIT_INVALID.
 */
export function vmrun(c: Cpu, vmcb: number): void {
  const sv = c.svm;
  const hs = c.vmHsavePa;
  // the host's RFLAGS.TF gives no single-step trap into the guest: the host's TF comes back
  // with its RFLAGS at #VMEXIT and traps after the next host instruction
  // (APM Vol. 2 15.5.2 / 15.7; kvm-unit-tests host_rflags): the trap is taken on the host
  // right after #VMEXIT (or after a VMEXIT_INVALID), at the instruction after VMRUN
  c.ownStep(false);
  sv.hostStep = (c.flags & Fl.TF) !== 0;
  saveRunState(c, hs, c.rip, getFlags(c));

  // ---- controls ----
  const icpt = sv.intercepts;
  icpt[0] = rd32(c, vmcb + V.INTERCEPT_CR);
  icpt[1] = rd32(c, vmcb + V.INTERCEPT_DR);
  icpt[2] = rd32(c, vmcb + V.INTERCEPT_EXC);
  icpt[3] = rd32(c, vmcb + V.INTERCEPT_MISC1);
  icpt[4] = rd32(c, vmcb + V.INTERCEPT_MISC2);
  const iopm = rd64u(c, vmcb + V.IOPM_BASE_PA) - (rd64u(c, vmcb + V.IOPM_BASE_PA) % 4096);
  const msrpm = rd64u(c, vmcb + V.MSRPM_BASE_PA) - (rd64u(c, vmcb + V.MSRPM_BASE_PA) % 4096);
  const asid = rd32(c, vmcb + V.ASID);
  const tlbCtl = c.mem.read8(vmcb + V.TLB_CONTROL);
  const intCtl = rd32(c, vmcb + V.INT_CTL);
  const np = (rd32(c, vmcb + V.NP_ENABLE) & 1) !== 0;
  const evLo = rd32(c, vmcb + V.EVENTINJ);
  const evErr = rd32(c, vmcb + V.EVENTINJ + 4);

  // ---- guest state, checked before anything is committed (APM 15.5.1, "Canonicalization
  // and Consistency Checks") ----
  const efer = rd32(c, vmcb + V.EFER);
  const eferHi = rd32(c, vmcb + V.EFER + 4);
  const cr0 = rd32(c, vmcb + V.CR0) >>> 0;
  const cr0Hi = rd32(c, vmcb + V.CR0 + 4);
  const cr3Lo = rd32(c, vmcb + V.CR3);
  const cr3Hi = rd32(c, vmcb + V.CR3 + 4);
  const cr4 = rd32(c, vmcb + V.CR4) >>> 0;
  const cr4Hi = rd32(c, vmcb + V.CR4 + 4);
  const dr6Hi = rd32(c, vmcb + V.DR6 + 4);
  const dr7Hi = rd32(c, vmcb + V.DR7 + 4);
  const csAttr = (rd32(c, vmcb + V.CS) >>> 16) & 0xfff;
  const lme = (efer & Efer.LME) !== 0;
  const pg = (cr0 & Cr0.PG) !== 0;
  let bad = false;
  if ((efer & Efer.SVME) === 0) bad = true;
  if ((cr0 & Cr0.CD) === 0 && (cr0 & Cr0.NW) !== 0) bad = true;
  if (cr0Hi !== 0) bad = true;
  if (lme && pg ? (cr3Hi >>> (MAXPHYADDR - 32)) !== 0 : cr3Hi !== 0) bad = true;
  if (cr4Hi !== 0 || (cr4 & ~CR4_VALID) !== 0) bad = true;
  if (dr6Hi !== 0 || dr7Hi !== 0) bad = true;
  if (eferHi !== 0 || (efer & ~EFER_VALID) !== 0) bad = true;
  if (lme && pg && ((cr4 & 0x20) === 0 || (cr0 & Cr0.PE) === 0)) bad = true;
  if (lme && pg && (cr4 & 0x20) !== 0 && (csAttr & Attr.L) !== 0 && (csAttr & Attr.DB) !== 0) bad = true;
  if ((icpt[4] & VMRUN_INTERCEPT) === 0) bad = true;
  if (asid === 0) bad = true;
  // a permission map that extends to an address at or above MAXPHYADDR is illegal (APM Vol. 2
  // 15.5.1): the MSRPM's 8 KiB, the IOPM's 2 pages + 1 byte that ports 0-FFFFh (+3) use
  if (iopm + 0x2001 >= 2 ** MAXPHYADDR || msrpm + 0x2000 >= 2 ** MAXPHYADDR) bad = true;
  // legacy PAE paging without nested paging: VMRUN loads the four PDPTEs from guest CR3 and a
  // reserved bit in a present one (2:1, 8:5, 63:MAXPHYADDR, so 62:52 too) makes the state
  // illegal; with nested paging they are read (and checked) during the guest's walks instead
  if (!np && pg && !lme && (cr4 & 0x20) !== 0 && !pdptesValid(c, (cr3Lo & 0xffffffe0) >>> 0)) bad = true;
  if ((evLo & 0x80000000) !== 0) {
    const type = (evLo >>> 8) & 7;
    const vector = evLo & 0xff;
    // reserved types, and exceptions with a vector that is not an exception (2 = NMI)
    if (type === 1 || type === 5 || type === 6 || type === 7) bad = true;
    if (type === 3 && (vector === 2 || vector > 31)) bad = true;
  }
  if (np && !validPat(rd32(c, vmcb + V.G_PAT), rd32(c, vmcb + V.G_PAT + 4))) bad = true;
  if (bad) {
    // #VMEXIT(VMEXIT_INVALID): the guest never ran; the host continues after VMRUN with
    // GIF = 0 and EXITCODE = -1 as a 64-bit value
    wr64(c, vmcb + V.EXITCODE, -1, -1);
    wr64(c, vmcb + V.EXITINFO1, 0, 0);
    wr64(c, vmcb + V.EXITINFO2, 0, 0);
    sv.intercepts.fill(0);
    sv.gif = false;
    countExit(c, Exit.INVALID);
    if (sv.hostStep) { sv.hostStep = false; c.ownStep(true); }
    return;
  }

  // ---- commit controls ----
  sv.vmcb = vmcb;
  sv.iopm = iopm;
  sv.msrpm = msrpm;
  sv.tscOffLo = rd32(c, vmcb + V.TSC_OFFSET);
  sv.tscOffHi = rd32(c, vmcb + V.TSC_OFFSET + 4);
  sv.asid = asid;
  sv.vTpr = intCtl & 0xf;
  sv.vIrq = (intCtl & 0x100) !== 0;
  sv.vIntrPrio = (intCtl >>> 16) & 0xf;
  sv.vIgnTpr = (intCtl & 0x100000) !== 0;
  sv.vIntrMasking = (intCtl & 0x1000000) !== 0;
  sv.vIntrVector = rd32(c, vmcb + V.INT_VECTOR) & 0xff;
  sv.hostIf = (getFlags(c) & Fl.IF) !== 0;
  sv.hostEfer = c.efer;
  sv.hostCr4 = c.cr4;
  sv.np = np;
  sv.nCr3 = rd64u(c, vmcb + V.N_CR3);
  if (np) {
    sv.hostPatLo = c.patLo; sv.hostPatHi = c.patHi;
    c.patLo = rd32(c, vmcb + V.G_PAT);
    c.patHi = rd32(c, vmcb + V.G_PAT + 4);
  }

  // ---- load guest state ----
  loadSegsAndTables(c, vmcb);
  c.cr0 = cr0;
  c.cr2 = rd64u(c, vmcb + V.CR2);
  c.cr3 = (cr3Hi >>> 0) * TWO32 + (cr3Lo >>> 0);
  c.cr4 = cr4;
  // LMA follows LME and CR0.PG
  c.efer = (efer & ~Efer.LMA) | (lme && pg ? Efer.LMA : 0);
  c.dr[6] = rd32(c, vmcb + V.DR6) >>> 0;
  setDr7(c, rd32(c, vmcb + V.DR7));
  setFlags(c, rd32(c, vmcb + V.RFLAGS));
  // a guest RFLAGS.RF = 1 suppresses instruction breakpoints on the first guest instruction
  if ((c.flags & Fl.RF) !== 0) c.keepRf();
  c.rip = rd64canon(c, vmcb + V.RIP);
  c.rl[4] = rd32(c, vmcb + V.RSP);
  c.rh[4] = rd32(c, vmcb + V.RSP + 4);
  c.rl[0] = rd32(c, vmcb + V.RAX);
  c.rh[0] = rd32(c, vmcb + V.RAX + 4);
  // CPL: 0 in real mode, 3 in virtual-8086 mode, else the VMCB's
  c.cpl = (cr0 & Cr0.PE) === 0 ? 0 : (c.flags & Fl.VM) !== 0 ? 3 : c.mem.read8(vmcb + V.CPL) & 3;
  c.intShadow = (rd32(c, vmcb + V.INT_STATE) & 1) !== 0;
  c.shadowArmed = false;
  c.movSsShadow = false;
  sv.guest = true;
  c.guestMode = true;
  c.npActive = np;
  updateMode(c);
  c.paging.asid = asid;
  applyTlbControl(c, tlbCtl);
  c.flushFetch();
  // VMRUN sets GIF after the guest state is loaded (APM 15.5.1)
  sv.gif = true;
  sv.vmruns++;
  c.attention = true;
  wr64(c, vmcb + V.EXITINTINFO, 0, 0);

  // ---- event injection, before the first guest instruction (APM 15.20) ----
  if ((evLo & 0x80000000) !== 0) {
    wr32(c, vmcb + V.EVENTINJ, evLo & ~0x80000000);
    injectEvent(c, evLo, evErr);
  }
}

function pdptesValid(c: Cpu, base: number): boolean {
  for (let k = 0; k < 4; k++) {
    const e = c.mem.read32(base + 8 * k);
    const eh = c.mem.read32(base + 8 * k + 4);
    if ((e & 1) !== 0 && ((e & 0x1e6) !== 0 || (eh >>> (MAXPHYADDR - 32)) !== 0)) return false;
  }
  return true;
}

function validPat(lo: number, hi: number): boolean {
  for (let k = 0; k < 8; k++) {
    const t = ((k < 4 ? lo : hi) >>> ((k & 3) * 8)) & 0xff;
    if (t === 2 || t === 3 || t > 7) return false;
  }
  return true;
}

/** TLB_CONTROL (APM 15.16.2): 1 flushes everything; 3 and 7 this ASID's entries */
function applyTlbControl(c: Cpu, ctl: number): void {
  if (ctl === 1) c.paging.flushAll();
  else if (ctl === 3 || ctl === 7) c.paging.flushAsid(c.svm.asid, ctl === 7);
}

/** Deliver EVENTINJ in the guest (kind = its TYPE field). */
function injectEvent(c: Cpu, lo: number, err: number): void {
  const sv = c.svm;
  const vector = lo & 0xff;
  const type = (lo >>> 8) & 7;
  const hasErr = (lo & 0x800) !== 0;
  sv.delivering = lo | 0x80000000;
  sv.deliveringErr = err;
  c.ripStart = c.rip;
  try {
    deliverEvent(c, vector, type, err, hasErr);
    sv.delivering = 0;
  } catch (e) {
    if (e !== FAULT) throw e;
    c.deliverException(c, FAULT);
    sv.delivering = 0;
  }
  // an injected NMI does not block further NMIs (APM 15.20)
}

function countExit(c: Cpu, code: number): void {
  c.svm.exits.set(code, (c.svm.exits.get(code) ?? 0) + 1);
}

/**
 * #VMEXIT (APM 15.6): save the guest, report the exit, reload the host. `guestRip` is where
 * the guest resumes (the intercepted instruction for instruction intercepts and faults), and
 * `nrip` the next RIP for the VMCB's NRIP field (0 where the exit defines none).
 */
export function vmexit(c: Cpu, code: number, info1Lo: number, info1Hi: number, info2: number, guestRip: number, nrip: number): void {
  const sv = c.svm;
  const vmcb = sv.vmcb;
  countExit(c, code);
  c.cycles += c.vmexitCost;
  if (c.ledger !== null) {
    c.ledger[LEDGER_VMEXIT]++;
    c.onLedgerExit?.(c, code);
  }
  // 1. GIF = 0
  sv.gif = false;
  // #DB traps the guest's unfinished instruction recorded (data breakpoints) are not taken
  c.dbgPending = 0;
  // 2. guest state back to the VMCB
  saveRunState(c, vmcb, guestRip, getFlags(c));
  wr64n(c, vmcb + V.CR2, c.cr2);
  wr64n(c, vmcb + V.DR6, c.dr[6]);
  wr64n(c, vmcb + V.DR7, c.dr[7]);
  c.mem.write8(vmcb + V.CPL, c.cpl);
  const oldCtl = rd32(c, vmcb + V.INT_CTL);
  wr32(c, vmcb + V.INT_CTL, (oldCtl & ~0x10f) | (sv.vIrq ? 0x100 : 0) | (sv.vTpr & 0xf));
  wr32(c, vmcb + V.INT_STATE, (rd32(c, vmcb + V.INT_STATE) & ~1) | (c.intShadow ? 1 : 0));
  if (sv.np) {
    wr64(c, vmcb + V.G_PAT, c.patLo, c.patHi);
    c.patLo = sv.hostPatLo; c.patHi = sv.hostPatHi;
  }
  // 3. exit code and information
  wr64(c, vmcb + V.EXITCODE, code, code < 0 ? -1 : 0);
  wr64(c, vmcb + V.EXITINFO1, info1Lo, info1Hi);
  wr64n(c, vmcb + V.EXITINFO2, info2);
  wr64(c, vmcb + V.EXITINTINFO, sv.delivering, sv.delivering !== 0 ? sv.deliveringErr : 0);
  sv.delivering = 0;
  wr64n(c, vmcb + V.NRIP, nrip);
  // 4. intercepts, ASID, V_INTR_MASKING and the TSC offset no longer apply
  sv.guest = false;
  c.guestMode = false;
  c.npActive = false;
  sv.intercepts.fill(0);
  sv.tscOffLo = 0;
  sv.tscOffHi = 0;
  sv.vIntrMasking = false;
  sv.vIrq = false;
  sv.np = false;
  // 5. host state from the save area
  const hs = c.vmHsavePa;
  loadSegsAndTables(c, hs);
  // 7. CR0.PE = 1, RFLAGS.VM = 0, CPL 0, host DR7 breakpoints disabled
  c.cr0 = (rd32(c, hs + V.CR0) | Cr0.PE) >>> 0;
  c.cr3 = rd64u(c, hs + V.CR3);
  c.cr4 = rd32(c, hs + V.CR4) >>> 0;
  c.efer = rd32(c, hs + V.EFER);
  setFlags(c, rd32(c, hs + V.RFLAGS) & ~Fl.VM);
  c.rip = rd64canon(c, hs + V.RIP);
  c.rl[4] = rd32(c, hs + V.RSP);
  c.rh[4] = rd32(c, hs + V.RSP + 4);
  c.rl[0] = rd32(c, hs + V.RAX);
  c.rh[0] = rd32(c, hs + V.RAX + 4);
  c.cpl = 0;
  setDr7(c, c.dr[7] & ~0xff);
  c.intShadow = false;
  c.shadowArmed = false;
  updateMode(c);
  c.paging.asid = 0;
  c.flushFetch();
  c.attention = true;
  // the single-step trap of a VMRUN executed with TF = 1, now on the host
  if (sv.hostStep) { sv.hostStep = false; c.dbgPending |= Dr6.BS; }
  // 8. a host state that cannot run is a shutdown
  if ((c.efer & Efer.LMA) !== 0 && (c.segAttr[S.CS] & Attr.L) !== 0 && (c.rip < -0x800000000000 || c.rip >= 0x800000000000)) {
    c.shutdown.reason = 'bad host state after #VMEXIT';
    c.shutdown.rip = c.rip;
    c.stopReason = Stop.Shutdown;
  }
}
