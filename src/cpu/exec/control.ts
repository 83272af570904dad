/**
 * Near calls, returns, indirect jumps and the counted branches LOOPcc / JrCXZ (AMD64 APM Vol. 3,
 * chapter 3).
 *
 * Branch targets are taken at the operand size (64 by default in 64-bit mode, 16 with 66). Every
 * handler checks the target before it changes anything: a non-canonical target raises #GP(0)
 * with no return address pushed, rSP unchanged and rCX undecremented.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { readE } from '../operands.js';
import { adjustRsp, peekStack, push } from '../stack.js';
import { zf } from '../flags.js';
import { R, TWO32 } from '../state.js';
import { jumpNear, nearTarget } from './branch.js';
import { addRegAd } from './string.js';

/** a value of `size` bytes (lo, hi) as a branch target before the size rules */
function targetOf(size: number, lo: number, hi: number): number {
  return size === 8 ? hi * TWO32 + (lo >>> 0) : lo >>> 0;
}

/** push the return address (the next instruction) at operand size `size` */
function pushRip(c: Cpu, size: number): void {
  const rip = c.rip;
  push(c, size, rip | 0, size === 8 ? Math.floor(rip / TWO32) | 0 : 0);
}

/** E8: CALL rel16/rel32 */
function callRel(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const t = nearTarget(size, c.rip + i.imm);
  pushRip(c, size);
  c.rip = t;
}

/** FF /2: CALL r/m (the operand is read before the push, so CALL [rsp] sees the old rSP) */
function callInd(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const lo = readE(c, i, size);
  const t = nearTarget(size, targetOf(size, lo, c.xh));
  pushRip(c, size);
  c.rip = t;
}

/** FF /4: JMP r/m */
function jmpInd(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const lo = readE(c, i, size);
  jumpNear(c, size, targetOf(size, lo, c.xh));
}

/** C3 / C2 Iw: RET, then release imm16 more bytes of stack (APM Vol. 3 RET (Near)) */
function retNear(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const lo = peekStack(c, 0, size);
  const t = nearTarget(size, targetOf(size, lo, c.xh));
  adjustRsp(c, size + (i.imm & 0xffff));
  c.rip = t;
}

/**
 * E0 / E1 / E2: LOOPNE, LOOPE, LOOP (arg 0, 1, 2). rCX is decremented at the address size and
 * the branch taken if it is then nonzero (and ZF agrees for LOOPcc); flags are unchanged.
 */
function loop(c: Cpu, i: Insn): void {
  const ad = i.adsize;
  const lo = c.rl[R.RCX];
  let nonzero: boolean;
  if (ad === 2) nonzero = ((lo - 1) & 0xffff) !== 0;
  else if (ad === 4) nonzero = lo !== 1;
  else nonzero = lo !== 1 || c.rh[R.RCX] !== 0;
  let take = nonzero;
  if (i.arg === 0) take = take && !zf(c);
  else if (i.arg === 1) take = take && zf(c);
  const t = take ? nearTarget(i.opsize, c.rip + i.imm) : 0;
  addRegAd(c, R.RCX, ad, -1);
  if (take) c.rip = t;
}

/** E3: JCXZ / JECXZ / JRCXZ, by address size */
function jcxz(c: Cpu, i: Insn): void {
  const ad = i.adsize;
  const lo = c.rl[R.RCX];
  const z = ad === 2 ? (lo & 0xffff) === 0 : ad === 4 ? lo === 0 : (lo | c.rh[R.RCX]) === 0;
  if (z) jumpNear(c, i.opsize, c.rip + i.imm);
}

export const handlers = { callRel, callInd, jmpInd, retNear, loop, jcxz };
