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

/** MOV CRn intercepts: EXITINFO1 = bit 63 (a MOV) | the GPR number (APM Vol. 2 15.33.1) */
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

