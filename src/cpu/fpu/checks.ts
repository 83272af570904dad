/**
 * The checks every x87, SSE and MMX instruction makes before it runs (AMD64 APM Vol. 2 11.2-11.3,
 * Vol. 3/4/5 "Exceptions" tables):
 *
 * - x87: CR0.EM or CR0.TS -> #NM; then an unmasked x87 exception left pending in FSW (ES = 1) ->
 *   #MF (CR0.NE = 1; with NE = 0 the legacy FERR# path is not modelled and #MF is raised too).
 *   Non-waiting control instructions (FNINIT, FNCLEX, FNSTCW, FNSTSW, FNSTENV, FNSAVE) skip the
 *   pending-exception check.
 * - WAIT/FWAIT: CR0.TS with CR0.MP -> #NM; then a pending unmasked x87 exception -> #MF.
 * - SSE: CR0.EM -> #UD; CR4.OSFXSR = 0 -> #UD; CR0.TS -> #NM.
 * - MMX: CR0.EM -> #UD; CR0.TS -> #NM; then a pending x87 exception -> #MF.
 */

import type { Cpu } from '../cpu.js';
import { raise } from '../fault.js';
import { Cr0, Vec } from '../state.js';

/** CR4.OSFXSR (bit 9), OSXMMEXCPT (bit 10), OSXSAVE (bit 18) */
export const CR4_OSFXSR = 1 << 9;
export const CR4_OSXMMEXCPT = 1 << 10;
export const CR4_OSXSAVE = 1 << 18;

/** FSW.ES: an unmasked exception is pending */
const FSW_ES = 0x80;

/** an x87 instruction that waits (all but the FN... control forms) */
export function x87Check(c: Cpu): void {
  if ((c.cr0 & (Cr0.EM | Cr0.TS)) !== 0) raise(Vec.NM);
  if ((c.fpu.fsw & FSW_ES) !== 0) raise(Vec.MF);
}

/** a non-waiting x87 control instruction (FNINIT, FNCLEX, FNSTCW, FNSTSW, FNSTENV, FNSAVE) */
export function x87CheckNoWait(c: Cpu): void {
  if ((c.cr0 & (Cr0.EM | Cr0.TS)) !== 0) raise(Vec.NM);
}

/** WAIT/FWAIT */
export function waitCheck(c: Cpu): void {
  if ((c.cr0 & (Cr0.TS | Cr0.MP)) === (Cr0.TS | Cr0.MP)) raise(Vec.NM);
  if ((c.fpu.fsw & FSW_ES) !== 0) raise(Vec.MF);
}

/** an SSE/SSE2 instruction (and FXSAVE/FXRSTOR, LDMXCSR/STMXCSR: see their own rules) */
export function sseCheck(c: Cpu): void {
  if ((c.cr0 & Cr0.EM) !== 0 || (c.cr4 & CR4_OSFXSR) === 0) raise(Vec.UD);
  if ((c.cr0 & Cr0.TS) !== 0) raise(Vec.NM);
}

/** an MMX instruction (including EMMS) */
export function mmxCheck(c: Cpu): void {
  if ((c.cr0 & Cr0.EM) !== 0) raise(Vec.UD);
  if ((c.cr0 & Cr0.TS) !== 0) raise(Vec.NM);
  if ((c.fpu.fsw & FSW_ES) !== 0) raise(Vec.MF);
}
