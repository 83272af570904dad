/**
 * Sign extension of the accumulator (CBW/CWDE/CDQE, CWD/CDQ/CQO), the flag instructions (CLC,
 * STC, CLD, STD, CMC, SAHF, LAHF), SETcc and CMOVcc (AMD64 APM Vol. 3, chapter 3).
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { Fl } from '../state.js';
import { cond, getFlags } from '../flags.js';
import { readE, writeE } from '../operands.js';
import { setReg } from '../regs.js';

/** 98: AX = sx(AL), EAX = sx(AX), RAX = sx(EAX) by operand size */
function cbw(c: Cpu, i: Insn): void {
  const a = c.rl[0];
  switch (i.opsize) {
    case 2: setReg(c, 0, 2, (a << 24) >> 24, 0); return;
    case 4: setReg(c, 0, 4, (a << 16) >> 16, 0); return;
    default: setReg(c, 0, 8, a, a >> 31);
  }
}

/** 99: DX / EDX / RDX = the sign of AX / EAX / RAX, repeated */
function cwd(c: Cpu, i: Insn): void {
  switch (i.opsize) {
    case 2: setReg(c, 2, 2, (c.rl[0] << 16) >> 31, 0); return;
    case 4: setReg(c, 2, 4, c.rl[0] >> 31, 0); return;
    default: {
      const s = c.rh[0] >> 31;
      setReg(c, 2, 8, s, s);
    }
  }
}

/** F8 CLC, F9 STC, FC CLD, FD STD (arg 0..3) */
function flagOp(c: Cpu, i: Insn): void {
  switch (i.arg) {
    case 0: c.flags &= ~Fl.CF; return;
    case 1: c.flags |= Fl.CF; return;
    case 2: c.flags &= ~Fl.DF; return;
    default: c.flags |= Fl.DF;
  }
}

/** F5: CMC */
function cmc(c: Cpu, _i: Insn): void {
  c.flags ^= Fl.CF;
}

/** 9E: SF ZF AF PF CF = AH bits 7, 6, 4, 2, 0; OF is kept */
function sahf(c: Cpu, _i: Insn): void {
  const ah = (c.rl[0] >>> 8) & (Fl.SF | Fl.ZF | Fl.AF | Fl.PF | Fl.CF);
  // SF, ZF and PF all come from AH, so stale lazy state is simply dropped
  c.flags = (c.flags & ~(Fl.SF | Fl.ZF | Fl.AF | Fl.PF | Fl.CF)) | ah | 2;
  c.lazySize = 0;
}

/** 9F: AH = SF:ZF:0:AF:0:PF:1:CF */
function lahf(c: Cpu, _i: Insn): void {
  const f = (getFlags(c) & (Fl.SF | Fl.ZF | Fl.AF | Fl.PF | Fl.CF)) | 2;
  c.rl[0] = (c.rl[0] & ~0xff00) | (f << 8);
}

/** 0F 90+cc: SETcc Eb */
function setcc(c: Cpu, i: Insn): void {
  writeE(c, i, 1, cond(c, i.arg) ? 1 : 0, 0);
}

/**
 * 0F 40+cc: CMOVcc Gv, Ev. The source is read (and may fault) whatever the condition; with a
 * 32-bit operand size the destination is written either way, so a false condition still clears
 * its upper half (APM Vol. 3 CMOVcc).
 */
function cmov(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const v = readE(c, i, size);
  if (cond(c, i.arg)) setReg(c, i.reg, size, v, c.xh);
  else if (size === 4) c.rh[i.reg] = 0;
}

export const handlers = { cbw, cwd, flagOp, cmc, sahf, lahf, setcc, cmov };
