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
import { Clean, Exit, IntCtl, NpCtl, V, VirtExt } from './vmcb.js';
import { cacheVmcb, getCanon, getU, loadSegsW, pageBase, pageIn, pageOut, putN, saveRunState, wr64 } from './vmcbio.js';
import { insnBytes, lbrSwapIn, lbrSwapOut } from './assist.js';
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
  // the host's RFLAGS.TF gives no single-step trap into the guest; VMRUN's own trap is the host's
  // (APM Vol. 2 15.5.2 / 15.7; kvm-unit-tests host_rflags): the trap is taken on the host
  // right after #VMEXIT (or after a VMEXIT_INVALID), at the instruction after VMRUN
  c.ownStep(false);
  sv.hostStep = (c.flags & Fl.TF) !== 0;
  saveRunState(c, hs, c.rip, getFlags(c));

  // the VMCB page as words (RAM's own array, or a copy: vmcbio.ts)
  const w = pageIn(c, vmcb, 0);
  const k = pageBase(w, vmcb);
  // VMCB clean bits (APM Vol. 2 15.15, "VMCB State Caching"): a group whose bit is set may come from what this CPU
  // cached at the last #VMEXIT of the same VMCB; a new VMCB address reloads everything
  const cache = sv.cacheW;
  const cleanRaw = w[k + (V.CLEAN >> 2)];
  const clean = sv.cachePa === vmcb ? cleanRaw : 0;
  // a VMM that sets no clean bits gets no cache (#VMEXIT skips the copy)
  sv.cleanUsed = cleanRaw !== 0;

  // ---- controls ----
  const iw = (((clean >>> Clean.I) & 1) !== 0 ? cache : w);
  const ik = (((clean >>> Clean.I) & 1) !== 0 ? 0 : k);
  const icpt = sv.intercepts;
  icpt[0] = iw[ik + (V.INTERCEPT_CR >> 2)];
  icpt[1] = iw[ik + (V.INTERCEPT_DR >> 2)];
  icpt[2] = iw[ik + (V.INTERCEPT_EXC >> 2)];
  icpt[3] = iw[ik + (V.INTERCEPT_MISC1 >> 2)];
  icpt[4] = iw[ik + (V.INTERCEPT_MISC2 >> 2)];
  const pauseWord = iw[ik + (V.PAUSE_FILTER_THRESHOLD >> 2)];
  const tscLo = iw[ik + (V.TSC_OFFSET >> 2)];
  const tscHi = iw[ik + (V.TSC_OFFSET >> 2) + 1];
  const pw = (((clean >>> Clean.IOPM) & 1) !== 0 ? cache : w);
  const pk = (((clean >>> Clean.IOPM) & 1) !== 0 ? 0 : k);
  const iopmRaw = getU(pw, pk + (V.IOPM_BASE_PA >> 2));
  const msrpmRaw = getU(pw, pk + (V.MSRPM_BASE_PA >> 2));
  const iopm = iopmRaw - (iopmRaw % 4096);
  const msrpm = msrpmRaw - (msrpmRaw % 4096);
  const asid = (((clean >>> Clean.ASID) & 1) !== 0 ? cache : w)[(((clean >>> Clean.ASID) & 1) !== 0 ? 0 : k) + (V.ASID >> 2)];
  const tlbCtl = w[k + (V.TLB_CONTROL >> 2)] & 0xff;
  const intCtl = (((clean >>> Clean.TPR) & 1) !== 0 ? cache : w)[(((clean >>> Clean.TPR) & 1) !== 0 ? 0 : k) + (V.INT_CTL >> 2)];
  const intVector = (((clean >>> Clean.TPR) & 1) !== 0 ? cache : w)[(((clean >>> Clean.TPR) & 1) !== 0 ? 0 : k) + (V.INT_VECTOR >> 2)];
  const nw = (((clean >>> Clean.NP) & 1) !== 0 ? cache : w);
  const nk = (((clean >>> Clean.NP) & 1) !== 0 ? 0 : k);
  const npCtl = nw[nk + (V.NP_ENABLE >> 2)];
  const np = (npCtl & 1) !== 0;
  const virtExt = w[k + (V.VIRT_EXT >> 2)];
  const evLo = w[k + (V.EVENTINJ >> 2)];
  const evErr = w[k + (V.EVENTINJ >> 2) + 1];

  // ---- guest state, checked before anything is committed (APM 15.5.1, "Canonicalization
  // and Consistency Checks") ----
  const cw = (((clean >>> Clean.CR) & 1) !== 0 ? cache : w);
  const ck = (((clean >>> Clean.CR) & 1) !== 0 ? 0 : k);
  const efer = cw[ck + (V.EFER >> 2)];
  const eferHi = cw[ck + (V.EFER >> 2) + 1];
  const cr0 = cw[ck + (V.CR0 >> 2)] >>> 0;
  const cr0Hi = cw[ck + (V.CR0 >> 2) + 1];
  const cr3Lo = cw[ck + (V.CR3 >> 2)];
  const cr3Hi = cw[ck + (V.CR3 >> 2) + 1];
  const cr4 = cw[ck + (V.CR4 >> 2)] >>> 0;
  const cr4Hi = cw[ck + (V.CR4 >> 2) + 1];
  const dw = (((clean >>> Clean.DR) & 1) !== 0 ? cache : w);
  const dk = (((clean >>> Clean.DR) & 1) !== 0 ? 0 : k);
  const dr6Hi = dw[dk + (V.DR6 >> 2) + 1];
  const dr7Hi = dw[dk + (V.DR7 >> 2) + 1];
  const sw = (((clean >>> Clean.SEG) & 1) !== 0 ? cache : w);
  const sk = (((clean >>> Clean.SEG) & 1) !== 0 ? 0 : k);
  const csAttr = (sw[sk + (V.CS >> 2)] >>> 16) & 0xfff;
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
  if (np && !validPat(nw[nk + (V.G_PAT >> 2)], nw[nk + (V.G_PAT >> 2) + 1])) bad = true;
  if (bad) {
    // #VMEXIT(VMEXIT_INVALID): the guest never ran; the host continues after VMRUN with
    // GIF = 0 and EXITCODE = -1 as a 64-bit value
    wr64(c, vmcb + V.EXITCODE, -1, -1);
    wr64(c, vmcb + V.EXITINFO1, 0, 0);
    wr64(c, vmcb + V.EXITINFO2, 0, 0);
    sv.intercepts.fill(0);
    sv.gif = false;
    sv.cachePa = -1;
    countExit(c, Exit.INVALID);
    if (sv.hostStep) { sv.hostStep = false; c.ownStep(true); }
    return;
  }

  // ---- commit controls ----
  sv.vmcb = vmcb;
  sv.iopm = iopm;
  sv.msrpm = msrpm;
  sv.tscOffLo = tscLo;
  sv.tscOffHi = tscHi;
  sv.asid = asid;
  sv.vTpr = intCtl & 0xf;
  sv.vIrq = (intCtl & 0x100) !== 0;
  sv.vIntrPrio = (intCtl >>> 16) & 0xf;
  sv.vIgnTpr = (intCtl & 0x100000) !== 0;
  sv.vIntrMasking = (intCtl & 0x1000000) !== 0;
  sv.vIntrVector = intVector & 0xff;
  sv.vnmiOn = (intCtl & IntCtl.VNMI_ENABLE) !== 0;
  sv.vnmiPending = sv.vnmiOn && (intCtl & IntCtl.VNMI_PENDING) !== 0;
  if (sv.vnmiOn) {
    sv.hostNmiBlocked = c.nmiBlocked;
    c.nmiBlocked = (intCtl & IntCtl.VNMI_BLOCKING) !== 0;
  }
  sv.vgifOn = (intCtl & IntCtl.VGIF_ENABLE) !== 0;
  sv.vgif = (intCtl & IntCtl.VGIF) !== 0;
  sv.hostIf = (getFlags(c) & Fl.IF) !== 0;
  sv.hostEfer = c.efer;
  sv.hostCr4 = c.cr4;
  sv.np = np;
  sv.gmet = np && (npCtl & NpCtl.GMET) !== 0;
  sv.vVmsave = np && (virtExt & VirtExt.VMSAVE_VMLOAD) !== 0;
  sv.nCr3 = getU(nw, nk + (V.N_CR3 >> 2));
  // the pause filter: count and threshold (APM Vol. 2 15.14.4)
  sv.pauseCount = (pauseWord >>> 16) & 0xffff;
  sv.pauseThreshold = pauseWord & 0xffff;
  sv.pauseLast = c.cycles;
  if (np) {
    sv.hostPatLo = c.patLo; sv.hostPatHi = c.patHi;
    c.patLo = nw[nk + (V.G_PAT >> 2)];
    c.patHi = nw[nk + (V.G_PAT >> 2) + 1];
  }
  // LBR virtualization (APM Vol. 2 15.23): the guest's DebugCtl and LBR MSRs from the VMCB
  sv.lbrVirt = (virtExt & VirtExt.LBR) !== 0;
  if (sv.lbrVirt) lbrSwapIn(c, (((clean >>> Clean.LBR) & 1) !== 0 ? cache : w), (((clean >>> Clean.LBR) & 1) !== 0 ? 0 : k));

  // ---- load guest state ----
  loadSegsW(c, sw, sk);
  const tw = (((clean >>> Clean.DT) & 1) !== 0 ? cache : w);
  const tk = (((clean >>> Clean.DT) & 1) !== 0 ? 0 : k);
  c.gdtrLimit = tw[tk + ((V.GDTR + 4) >> 2)] & 0xffff;
  c.gdtrBase = getCanon(tw, tk + ((V.GDTR + 8) >> 2));
  c.idtrLimit = tw[tk + ((V.IDTR + 4) >> 2)] & 0xffff;
  c.idtrBase = getCanon(tw, tk + ((V.IDTR + 8) >> 2));
  c.cr0 = cr0;
  c.cr2 = getU((((clean >>> Clean.CR2) & 1) !== 0 ? cache : w), (((clean >>> Clean.CR2) & 1) !== 0 ? 0 : k) + (V.CR2 >> 2));
  c.cr3 = cr3Hi === 0 ? cr3Lo >>> 0 : (cr3Hi >>> 0) * TWO32 + (cr3Lo >>> 0);
  c.cr4 = cr4;
  // LMA follows LME and CR0.PG
  c.efer = (efer & ~Efer.LMA) | (lme && pg ? Efer.LMA : 0);
  c.dr[6] = dw[dk + (V.DR6 >> 2)] >>> 0;
  setDr7(c, dw[dk + (V.DR7 >> 2)]);
  setFlags(c, w[k + (V.RFLAGS >> 2)]);
  // a guest RFLAGS.RF = 1 suppresses instruction breakpoints on the first guest instruction
  if ((c.flags & Fl.RF) !== 0) c.keepRf();
  c.rip = getCanon(w, k + (V.RIP >> 2));
  c.rl[4] = w[k + (V.RSP >> 2)];
  c.rh[4] = w[k + (V.RSP >> 2) + 1];
  c.rl[0] = w[k + (V.RAX >> 2)];
  c.rh[0] = w[k + (V.RAX >> 2) + 1];
  // CPL: 0 in real mode, 3 in virtual-8086 mode, else the VMCB's
  c.cpl = (cr0 & Cr0.PE) === 0 ? 0 : (c.flags & Fl.VM) !== 0 ? 3 : (sw[sk + (V.CPL >> 2)] >>> 24) & 3;
  c.intShadow = (w[k + (V.INT_STATE >> 2)] & 1) !== 0;
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
  w[k + (V.EXITINTINFO >> 2)] = 0;
  w[k + (V.EXITINTINFO >> 2) + 1] = 0;
  if ((evLo & 0x80000000) !== 0) w[k + (V.EVENTINJ >> 2)] = evLo & ~0x80000000;
  pageOut(c, vmcb, w);

  // ---- event injection, before the first guest instruction (APM 15.20) ----
  if ((evLo & 0x80000000) !== 0) injectEvent(c, evLo, evErr);
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
  // An injected NMI does not block further NMIs (APM 15.20), except with NMI virtualization:
  // "If Event Injection is used to inject an NMI when NMI Virtualization is enabled, VMRUN sets
  // V_NMI_MASK in the guest state" (APM Vol. 2 15.21.10; while vNMI is on, nmiBlocked is the
  // guest's V_NMI_BLOCKING, and the guest's IRET clears it).
  if (type === 2 && sv.vnmiOn) c.nmiBlocked = true;
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
  const w = pageIn(c, vmcb, 0);
  const k = pageBase(w, vmcb);
  putN(w, k + (V.CR2 >> 2), c.cr2);
  putN(w, k + (V.DR6 >> 2), c.dr[6]);
  putN(w, k + (V.DR7 >> 2), c.dr[7]);
  const cplWord = k + (V.CPL >> 2);
  w[cplWord] = (w[cplWord] & 0x00ffffff) | (c.cpl << 24);
  const ic = k + (V.INT_CTL >> 2);
  w[ic] = (w[ic] & ~(0x10f | IntCtl.VGIF)) | (sv.vIrq ? 0x100 : 0) | (sv.vTpr & 0xf) | (sv.vgifOn && sv.vgif ? IntCtl.VGIF : 0);
  if (sv.vnmiOn) {
    w[ic] = (w[ic] & ~(IntCtl.VNMI_PENDING | IntCtl.VNMI_BLOCKING)) | (sv.vnmiPending ? IntCtl.VNMI_PENDING : 0) |
      (c.nmiBlocked ? IntCtl.VNMI_BLOCKING : 0);
    c.nmiBlocked = sv.hostNmiBlocked;
    sv.vnmiOn = false;
    sv.vnmiPending = false;
  }
  const is = k + (V.INT_STATE >> 2);
  w[is] = (w[is] & ~1) | (c.intShadow ? 1 : 0);
  if (sv.np) {
    w[k + (V.G_PAT >> 2)] = c.patLo;
    w[k + (V.G_PAT >> 2) + 1] = c.patHi;
    c.patLo = sv.hostPatLo; c.patHi = sv.hostPatHi;
  }
  if (sv.lbrVirt) lbrSwapOut(c, w, k);
  // 3. exit code and information
  w[k + (V.EXITCODE >> 2)] = code;
  w[k + (V.EXITCODE >> 2) + 1] = code < 0 ? -1 : 0;
  w[k + (V.EXITINFO1 >> 2)] = info1Lo;
  w[k + (V.EXITINFO1 >> 2) + 1] = info1Hi;
  putN(w, k + (V.EXITINFO2 >> 2), info2);
  w[k + (V.EXITINTINFO >> 2)] = sv.delivering;
  w[k + (V.EXITINTINFO >> 2) + 1] = sv.delivering !== 0 ? sv.deliveringErr : 0;
  sv.delivering = 0;
  putN(w, k + (V.NRIP >> 2), nrip);
  // decode assists: the bytes of the instruction behind a #PF or #NPF (APM Vol. 2 ch. 15, "Decode Assists")
  if (code === Exit.NPF || code === Exit.EXCP_BASE + 14) insnBytes(c, w, k, guestRip);
  else w[k + (V.INSN_LEN >> 2)] &= ~0xff;
  // the clean-bit cache: this VMCB as this CPU leaves it, when its VMM uses clean bits (else
  // the next VMRUN loads everything, which the manual always allows)
  if (sv.cleanUsed) {
    cacheVmcb(sv.cacheW, w, k);
    sv.cachePa = vmcb;
  } else sv.cachePa = -1;
  pageOut(c, vmcb, w);
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
  sv.vgifOn = false;
  sv.gmet = false;
  sv.vVmsave = false;
  // 5. host state from the save area
  const hs = c.vmHsavePa;
  const h = pageIn(c, hs, 1);
  const hk = pageBase(h, hs);
  loadSegsW(c, h, hk);
  c.gdtrLimit = h[hk + ((V.GDTR + 4) >> 2)] & 0xffff;
  c.gdtrBase = getCanon(h, hk + ((V.GDTR + 8) >> 2));
  c.idtrLimit = h[hk + ((V.IDTR + 4) >> 2)] & 0xffff;
  c.idtrBase = getCanon(h, hk + ((V.IDTR + 8) >> 2));
  // 7. CR0.PE = 1, RFLAGS.VM = 0, CPL 0, host DR7 breakpoints disabled
  c.cr0 = (h[hk + (V.CR0 >> 2)] | Cr0.PE) >>> 0;
  c.cr3 = getU(h, hk + (V.CR3 >> 2));
  c.cr4 = h[hk + (V.CR4 >> 2)] >>> 0;
  c.efer = h[hk + (V.EFER >> 2)];
  setFlags(c, h[hk + (V.RFLAGS >> 2)] & ~Fl.VM);
  c.rip = getCanon(h, hk + (V.RIP >> 2));
  c.rl[4] = h[hk + (V.RSP >> 2)];
  c.rh[4] = h[hk + (V.RSP >> 2) + 1];
  c.rl[0] = h[hk + (V.RAX >> 2)];
  c.rh[0] = h[hk + (V.RAX >> 2) + 1];
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
