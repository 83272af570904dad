/** Near branches: Jcc, JMP rel (AMD64 APM Vol. 3, chapter 3). */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { cond } from '../flags.js';
import { raise } from '../fault.js';
import { Vec } from '../state.js';

/**
 * A near-branch target at operand size `size`: 16-bit targets wrap to 16 bits, 32-bit to 32
 * bits; in 64-bit mode a non-canonical target raises #GP(0) on the branch itself, before
 * anything changes (APM Vol. 2 3.4.3).
 */
export function nearTarget(size: number, target: number): number {
  if (size === 8) {
    if (target < -0x800000000000 || target >= 0x800000000000) raise(Vec.GP, 0);
    return target;
  }
  return size === 4 ? target >>> 0 : target & 0xffff;
}

/** Set RIP to a near-branch target at operand size `size` (see nearTarget). */
export function jumpNear(c: Cpu, size: number, target: number): void {
  c.rip = nearTarget(size, target);
}

/** target of a relative branch: next RIP + signed displacement (a 64-bit RIP is a signed number) */
export function relTarget(c: Cpu, i: Insn): number {
  return c.rip + i.imm;
}

function jcc(c: Cpu, i: Insn): void {
  if (cond(c, i.arg)) jumpNear(c, i.opsize, c.rip + i.imm);
}

function jmpRel(c: Cpu, i: Insn): void {
  jumpNear(c, i.opsize, c.rip + i.imm);
}

function nop(_c: Cpu, _i: Insn): void {}

export const handlers = { jcc, jmpRel, nop };
