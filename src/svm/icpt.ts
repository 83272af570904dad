/**
 * The SVM intercept helpers the instruction handlers call (APM Vol. 2 ch. 15). Type imports
 * only, so that src/cpu/exec can use them without an import cycle.
 */

import type { Cpu } from '../cpu/cpu.js';
import type { Insn } from '../x86/insn.js';
import { Exit, V } from './vmcb.js';

/**
 * An instruction intercept taken without unwinding (the world switch's fast path): when the
 * running guest intercepts `code`, #VMEXIT with RIP = the instruction and NRIP = the next, and
 * true; the caller returns at once. The instruction does not retire: the run loop adds its count
 * and cost after the handler returns, so they are taken back here (as breakpointExec does), and
 * it takes no single-step trap. Everything a throwing exit (Cpu.svmExit) does, at the cost of
 * no exception.
 */
export function icptInsn(c: Cpu, i: Insn, code: number): boolean {
  if (!c.guestMode || !c.intercepted(code)) return false;
  // an instruction wrapped at decode time (cost ledger, breakpoints, watched branches, counted
  // serializing instructions) counts after its handler returns: it takes the throwing exit, so
  // that nothing is counted for an instruction that did not retire
  if (i.exec !== i.orig) c.svmExit(code, 0, 0, 0, c.rip);
  c.svmExitAt(code, 0, 0, 0, c.ripStart, c.rip);
  c.icount--;
  c.cycles -= i.cost;
  c.ownStep(false);
  return true;
}

/**
 * An instruction intercept with EXITINFO1 (decode assists: the GPR of a MOV CR/DR, with bit 63
 * for MOV CR; the vector of INTn; the linear address of INVLPG). Throws the exit like Cpu.icpt.
 */
export function icptInfo(c: Cpu, code: number, info1Lo: number, info1Hi: number): void {
  if (!c.guestMode || !c.intercepted(code)) return;
  c.svmExit(code, info1Lo, info1Hi, 0, c.rip);
}

/** MOV CRn intercepts: EXITINFO1 = bit 63 (a MOV) | the GPR number (APM Vol. 2 ch. 15, "Decode Assists") */
export function icptMovCr(c: Cpu, code: number, gpr: number): void {
  icptInfo(c, code, gpr & 15, 0x80000000 | 0);
}

/**
 * PAUSE with the pause filter (APM Vol. 2 15.14.4): while the count loaded at VMRUN is not 0,
 * an intercepted PAUSE decrements it and completes; at 0 it exits. With a threshold, a PAUSE
 * more than `threshold` cycles after the previous one reloads the count from the VMCB first
 * (a threshold of 0 turns that off).
 */
export function pauseIntercept(c: Cpu, i: Insn, exit: (c: Cpu, i: Insn, code: number) => boolean): void {
  if (!c.guestMode || !c.intercepted(Exit.PAUSE)) return;
  const sv = c.svm;
  const now = c.cycles;
  if (sv.pauseThreshold !== 0 && now - sv.pauseLast > sv.pauseThreshold) {
    sv.pauseCount = (c.mem.read32(sv.vmcb + V.PAUSE_FILTER_THRESHOLD) >>> 16) & 0xffff;
  }
  sv.pauseLast = now;
  if (sv.pauseCount !== 0) { sv.pauseCount--; return; }
  exit(c, i, Exit.PAUSE);
}


/**
 * The task-switch intercept (APM Vol. 2 15.14, "Task Switch Intercept"): a task switch the guest starts (JMP/CALL to
 * a TSS or task gate, an interrupt or exception through a task gate, IRET with NT = 1) exits
 * before any of it happens, with EXITINFO1 = the target TSS selector and EXITINFO2 = bit 36 for
 * IRET, bit 38 for JMP, bit 44 when an error code is pushed (then in bits 31:0). worldswitch
 * does not switch tasks itself (such a switch raises #GP), so this exit is how a guest's task
 * switch can be emulated by its hypervisor, as KVM does.
 */
export function taskSwitchIntercept(c: Cpu, tssSel: number, info2: number): void {
  if (!c.guestMode || !c.intercepted(Exit.TASK_SWITCH)) return;
  c.svmExit(Exit.TASK_SWITCH, tssSel & 0xffff, 0, info2, 0);
}

export const TS_IRET = 2 ** 36;
export const TS_JMP = 2 ** 38;
export const TS_ERROR = 2 ** 44;
