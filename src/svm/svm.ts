/**
 * The SVM layer on a CPU: the SVM instructions (VMRUN, VMLOAD, VMSAVE, STGI, CLGI, VMMCALL,
 * INVLPGA, SKINIT), and the short list of places where the core calls in (APM Vol. 2 ch. 15):
 *
 *  - Cpu.icpt(code): instruction intercepts, at each instruction's intercept site;
 *  - Cpu.msrHook / ioHook: the MSR and I/O permission maps;
 *  - Cpu.exceptionHook: exception intercepts, before IDT delivery;
 *  - Cpu.npfHook: nested page faults from the paging unit;
 *  - Cpu.guestEvents: physical INTR/NMI intercepts and virtual interrupts in guest mode (GIF
 *    itself is checked by the run loop's event check);
 *  - shutdown: the SHUTDOWN intercept.
 */

import type { Cpu } from '../cpu/cpu.js';
import type { Insn } from '../x86/insn.js';
import { FAULT, raise, VMEXIT_ABORT } from '../cpu/fault.js';
import { deliverCatching, Ev } from '../cpu/interrupts.js';
import { Acc } from '../cpu/mmu.js';
import { MAXPHYADDR } from '../cpu/paging.js';
import './assist.js';
import { Cr0, Efer, Fl, TWO32, Vec } from '../cpu/state.js';
import { Exit } from './vmcb.js';
import { loadVmloadSet, saveVmloadSet } from './vmcbio.js';
import { vmexit, vmrun } from './world.js';
import { icptInsn } from './icpt.js';

/** Install the SVM hooks on a CPU (done once, by its constructor). */
export function installSvm(c: Cpu): void {
  c.svmExitAt = (code, i1lo, i1hi, i2, guestRip, nrip) => {
    c.halted = false;
    vmexit(c, code, i1lo, i1hi, i2, guestRip, nrip);
  };
  c.svmExit = (code, i1lo, i1hi, i2, nrip) => {
    c.svmExitAt(code, i1lo, i1hi, i2, c.ripStart, nrip);
    throw VMEXIT_ABORT;
  };
  c.npfHook = (gpa, lo, hi) => c.svmExit(Exit.NPF, lo, hi, gpa, 0);
  c.exceptionHook = (cpu, vector, err, hasErr) => {
    if (!cpu.guestMode || !cpu.intercepted(Exit.EXCP_BASE + vector)) return false;
    // #PF: EXITINFO2 is the faulting address and CR2 is left alone (APM 15.12)
    cpu.svmExitAt(Exit.EXCP_BASE + vector, hasErr ? err : 0, 0, vector === Vec.PF ? FAULT.address : 0, cpu.rip, 0);
    return true;
  };
  c.msrHook = (cpu, msr, write) => {
    if (!cpu.guestMode || !cpu.intercepted(Exit.MSR)) return false;
    if (!msrIntercepted(cpu, msr, write)) return false;
    return cpu.svmExit(Exit.MSR, write ? 1 : 0, 0, 0, cpu.rip);
  };
  c.ioHook = (cpu, info1) => {
    if (!cpu.guestMode || !cpu.intercepted(Exit.IOIO)) return false;
    if (!ioIntercepted(cpu, info1 >>> 16, (info1 >>> 4) & 7)) return false;
    // EXITINFO2 = the next RIP (APM 15.10.2)
    return cpu.svmExit(Exit.IOIO, info1, 0, cpu.rip, cpu.rip);
  };
  c.invlpgHook = null;
  c.guestEvents = guestEvents;
  c.extraAttention = () => c.guestMode && (c.svm.vIrq || c.svm.vnmiPending);
}

/**
 * MSRPM (APM 15.11): two bits per MSR (read, write) in three 2 KiB ranges; MSRs outside them
 * always exit.
 */
function msrIntercepted(c: Cpu, msr: number, write: boolean): boolean {
  let base: number;
  if (msr <= 0x1fff) base = 0;
  else if (msr >= 0xc0000000 && msr <= 0xc0001fff) base = 0x800;
  else if (msr >= 0xc0010000 && msr <= 0xc0011fff) base = 0x1000;
  else return true;
  const bit = (msr & 0x1fff) * 2 + (write ? 1 : 0);
  return ((c.mem.read8(c.svm.msrpm + base + (bit >>> 3)) >>> (bit & 7)) & 1) !== 0;
}

/** IOPM (APM 15.10.1): one bit per port; every byte of a multi-byte access is checked */
function ioIntercepted(c: Cpu, port: number, sizeBits: number): boolean {
  const n = sizeBits === 1 ? 1 : sizeBits === 2 ? 2 : 4;
  for (let k = 0; k < n; k++) {
    const p = port + k; // the 12 KiB map covers port 0xFFFF + 3
    if (((c.mem.read8(c.svm.iopm + (p >>> 3)) >>> (p & 7)) & 1) !== 0) return true;
  }
  return false;
}

/** Between instructions in guest mode: NMI, physical INTR and virtual interrupts (APM 15.21). */
function guestEvents(c: Cpu): void {
  const sv = c.svm;
  if (!sv.gif) return;
  // SMI before NMI (APM Vol. 2 8.5); with the intercept the SMI stays pending for the host
  if (c.smiPending) {
    if (c.intercepted(Exit.SMI)) { c.svmExitAt(Exit.SMI, 0, 0, 0, c.rip, 0); return; }
    c.smiPending = false;
    c.smisDropped++;
  }
  // vNMI: the virtual NMI, held by V_NMI_BLOCKING and (with VGIF) by V_GIF = 0
  if (sv.vnmiPending && !c.nmiBlocked && (!sv.vgifOn || sv.vgif)) {
    sv.vnmiPending = false;
    c.nmiBlocked = true;
    deliverToGuest(c, 2, Ev.Nmi);
    return;
  }
  if (c.nmiPending && !c.nmiBlocked) {
    if (c.intercepted(Exit.NMI)) { c.svmExitAt(Exit.NMI, 0, 0, 0, c.rip, 0); return; }
    c.nmiPending = false;
    c.nmiBlocked = true;
    deliverToGuest(c, 2, Ev.Nmi);
    return;
  }
  // with V_INTR_MASKING the host's IF (at VMRUN) gates physical interrupts, else the guest's
  const physOn = sv.vIntrMasking ? sv.hostIf : (c.flags & Fl.IF) !== 0;
  if (physOn && c.intc !== null && c.intc.hasInterrupt()) {
    if (c.intercepted(Exit.INTR)) { c.svmExitAt(Exit.INTR, 0, 0, 0, c.rip, 0); return; }
    if ((c.flags & Fl.IF) !== 0) {
      deliverToGuest(c, c.intc.acknowledge(), Ev.Ext);
      return;
    }
  }
  // with VGIF, V_GIF = 0 holds virtual interrupts (APM Vol. 2 ch. 15, "Virtual GIF")
  if (sv.vIrq && (c.flags & Fl.IF) !== 0 && (sv.vIgnTpr || sv.vIntrPrio > sv.vTpr) && (!sv.vgifOn || sv.vgif)) {
    if (c.intercepted(Exit.VINTR)) { c.svmExitAt(Exit.VINTR, 0, 0, 0, c.rip, 0); return; }
    sv.vIrq = false;
    deliverToGuest(c, sv.vIntrVector, Ev.Ext);
  }
}

function deliverToGuest(c: Cpu, vector: number, kind: number): void {
  c.ripStart = c.rip;
  deliverCatching(c, vector, kind);
}

// ---- the SVM instructions ----

/** #UD unless EFER.SVME in protected mode; #GP(0) unless CPL 0 (APM Vol. 3 VMRUN etc.) */
function svmCheck(c: Cpu): void {
  if ((c.efer & Efer.SVME) === 0 || (c.cr0 & Cr0.PE) === 0 || (c.flags & Fl.VM) !== 0) raise(Vec.UD, 0);
  if (c.cpl !== 0) raise(Vec.GP, 0);
}

/** rAX at the effective address size: a 4 KiB-aligned physical address below MAXPHYADDR */
function raxAddress(c: Cpu, i: Insn): number {
  const lo = i.adsize === 2 ? c.rl[0] & 0xffff : c.rl[0];
  const hi = i.adsize === 8 ? c.rh[0] : 0;
  if ((lo & 0xfff) !== 0 || (hi >>> (MAXPHYADDR - 32)) !== 0) raise(Vec.GP, 0);
  return hi === 0 ? lo >>> 0 : hi * TWO32 + (lo >>> 0);
}

function vmrunInsn(c: Cpu, i: Insn): void {
  svmCheck(c);
  const pa = raxAddress(c, i);
  if (icptInsn(c, i, Exit.VMRUN)) return;
  vmrun(c, pa);
}

/**
 * V_VMSAVE_VMLOAD (APM Vol. 2 ch. 15, "VMSAVE and VMLOAD Virtualization"): a guest's VMLOAD/VMSAVE that is not intercepted takes
 * rAX as a guest-physical address, translated by the nested page tables (an #NPF if they do not
 * map it); without it rAX is a system-physical address.
 */
function vmlsAddress(c: Cpu, pa: number, write: boolean): number {
  if (!c.guestMode || !c.svm.vVmsave) return pa;
  const spa = c.paging.nested(pa, write ? Acc.Write : Acc.Read, false);
  return spa - (spa % 4096);
}

function vmload(c: Cpu, i: Insn): void {
  svmCheck(c);
  const pa = raxAddress(c, i);
  if (icptInsn(c, i, Exit.VMLOAD)) return;
  loadVmloadSet(c, vmlsAddress(c, pa, false));
}

function vmsave(c: Cpu, i: Insn): void {
  svmCheck(c);
  const pa = raxAddress(c, i);
  if (icptInsn(c, i, Exit.VMSAVE)) return;
  saveVmloadSet(c, vmlsAddress(c, pa, true));
}

/** STGI/CLGI; in a guest with VGIF they set and clear V_GIF instead of GIF (APM Vol. 2 ch. 15, "Virtual GIF") */
function stgi(c: Cpu, i: Insn): void {
  svmCheck(c);
  if (icptInsn(c, i, Exit.STGI)) return;
  if (c.guestMode && c.svm.vgifOn) c.svm.vgif = true;
  else c.svm.gif = true;
  // events held while GIF was 0 are taken now
  c.attention = true;
}

function clgi(c: Cpu, i: Insn): void {
  svmCheck(c);
  if (icptInsn(c, i, Exit.CLGI)) return;
  if (c.guestMode && c.svm.vgifOn) c.svm.vgif = false;
  else c.svm.gif = false;
}

/** VMMCALL: #UD unless intercepted; no CPL check (APM Vol. 3 VMMCALL) */
function vmmcall(c: Cpu, i: Insn): void {
  if (icptInsn(c, i, Exit.VMMCALL)) return;
  raise(Vec.UD, 0);
}

/** INVLPGA: invalidate the page at rAX in the ASID in ECX */
function invlpga(c: Cpu, i: Insn): void {
  svmCheck(c);
  c.icpt(Exit.INVLPGA);
  const lin = i.adsize === 8 ? c.rh[0] * TWO32 + (c.rl[0] >>> 0) : c.rl[0] >>> 0;
  c.paging.invlpgAsid(lin, c.rl[1] >>> 0);
  c.flushFetch();
}

/**
 * RSM outside SMM is #UD, but in a guest the RSM intercept is checked first (APM Vol. 2 15.7:
 * the RSM intercept; SMM itself is not implemented, so RSM is never legal here).
 */
function rsm(c: Cpu, _i: Insn): void {
  c.icpt(Exit.RSM);
  raise(Vec.UD, 0);
}

/** SKINIT is not implemented (CPUID 8000_0001 ECX.SKINIT = 0): #UD */
function skinit(_c: Cpu, _i: Insn): void {
  raise(Vec.UD, 0);
}

export const handlers = { rsm, vmrun: vmrunInsn, vmload, vmsave, stgi, clgi, vmmcall, invlpga, skinit };
