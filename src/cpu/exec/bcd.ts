/**
 * Decimal adjustment: DAA, DAS, AAA, AAS, AAM, AAD, and SALC (AMD64 APM Vol. 3, chapter 3).
 * All are invalid in 64-bit mode (the table marks them i64).
 *
 * Undefined flags, and what worldswitch produces:
 *  - DAA/DAS: OF as the addition/subtraction of the correction (0x00, 0x06, 0x60 or 0x66) to
 *    AL would set it;
 *  - AAA/AAS: SF, ZF, PF from the final AL, OF = 0;
 *  - AAM: CF, AF, OF = 0;
 *  - AAD: CF, AF, OF as the 8-bit addition AL + (AH * imm8) that produces the result sets them.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { Fl, Vec } from '../state.js';
import { setLazy } from '../flags.js';
import { raise } from '../fault.js';
import { alu, Alu } from './alu.js';

function setAl(c: Cpu, v: number): void {
  c.rl[0] = (c.rl[0] & ~0xff) | (v & 0xff);
}

function setAx(c: Cpu, v: number): void {
  c.rl[0] = (c.rl[0] & ~0xffff) | (v & 0xffff);
}

/**
 * DAA / DAS (arg: subtract). The low digit is corrected when it exceeds 9 or AF is set, the
 * high digit when AL exceeded 0x99 or CF is set. DAS keeps the borrow of the low correction in
 * CF (APM Vol. 3 DAS).
 */
function decAdjust(c: Cpu, sub: boolean): void {
  const al = c.rl[0] & 0xff;
  const cf = c.flags & Fl.CF;
  let adj = 0;
  let ncf = 0;
  let naf = 0;
  if ((al & 0xf) > 9 || (c.flags & Fl.AF) !== 0) {
    adj = 6;
    naf = Fl.AF;
    ncf = sub ? cf | (al < 6 ? 1 : 0) : 0;
  }
  if (al > 0x99 || cf !== 0) {
    adj += 0x60;
    ncf = 1;
  }
  const r = (sub ? al - adj : al + adj) & 0xff;
  const ov = sub ? (al ^ adj) & (al ^ r) & 0x80 : (al ^ r) & (adj ^ r) & 0x80;
  setAl(c, r);
  c.flags = (c.flags & ~(Fl.CF | Fl.AF | Fl.OF)) | ncf | naf | (ov !== 0 ? Fl.OF : 0);
  setLazy(c, r, 0, 1);
}

function daa(c: Cpu, _i: Insn): void {
  decAdjust(c, false);
}

function das(c: Cpu, _i: Insn): void {
  decAdjust(c, true);
}

/**
 * AAA / AAS: with a decimal carry (low digit above 9, or AF), AX += 0x106 (AAA) or AX -= 6 and
 * AH -= 1 (AAS), and CF = AF = 1; AL keeps only its low digit either way.
 */
function asciiAdjust(c: Cpu, sub: boolean): void {
  let ax = c.rl[0] & 0xffff;
  const carry = (ax & 0xf) > 9 || (c.flags & Fl.AF) !== 0;
  if (carry) ax = sub ? ax - 0x106 : ax + 0x106;
  ax &= 0xff0f;
  setAx(c, ax);
  c.flags = (c.flags & ~(Fl.CF | Fl.AF | Fl.OF)) | (carry ? Fl.CF | Fl.AF : 0);
  setLazy(c, ax & 0xff, 0, 1);
}

function aaa(c: Cpu, _i: Insn): void {
  asciiAdjust(c, false);
}

function aas(c: Cpu, _i: Insn): void {
  asciiAdjust(c, true);
}

/** D4 ib: AH = AL / imm8, AL = AL mod imm8; #DE for imm8 = 0 */
function aam(c: Cpu, i: Insn): void {
  const base = i.imm & 0xff;
  if (base === 0) raise(Vec.DE, 0);
  const al = c.rl[0] & 0xff;
  const q = Math.floor(al / base);
  const r = al - q * base;
  setAx(c, (q << 8) | r);
  c.flags &= ~(Fl.CF | Fl.AF | Fl.OF);
  setLazy(c, r, 0, 1);
}

/** D5 ib: AL = AL + AH * imm8, AH = 0 */
function aad(c: Cpu, i: Insn): void {
  const ax = c.rl[0];
  const t = (((ax >>> 8) & 0xff) * (i.imm & 0xff)) & 0xff;
  const r = alu(c, Alu.ADD, 1, ax & 0xff, 0, t, 0);
  setAx(c, r);
}

/** D6: AL = CF ? 0xFF : 0; no flags change */
function salc(c: Cpu, _i: Insn): void {
  setAl(c, (c.flags & Fl.CF) !== 0 ? 0xff : 0);
}

export const handlers = { daa, das, aaa, aas, aam, aad, salc };
