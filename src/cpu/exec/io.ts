/**
 * Port I/O: IN, OUT, INS, OUTS (AMD64 APM Vol. 3; Vol. 1 3.8 for the I/O address space).
 *
 * Protection (APM Vol. 2, "I/O-Permission Bitmap", 12.2.4 in recent revisions): in protected
 * mode with CPL > IOPL, and always in virtual-8086 mode, every port an access touches must have
 * its bit clear in the TSS I/O-permission bitmap, else #GP(0). Real mode has no check.
 *
 * After the permission check the SVM layer's IOIO intercept (Cpu.ioHook) sees the access,
 * described as EXITINFO1 (APM Vol. 2 15.10.2); if it takes it, nothing else happens here.
 * Ports go to the machine through c.io.
 *
 * REP INS/OUTS run at most MAX_ITER iterations per execution and then execute again (see
 * string.ts); each iteration does its memory access before it moves rDI/rSI and rCX, and INS
 * checks that the destination is writable before it reads the port, so a fault loses no data.
 */

import type { Cpu } from '../cpu.js';
import { Pfx, type Insn } from '../../x86/insn.js';
import { raise } from '../fault.js';
import { probeWrite, read16, read8, readN, writeN } from '../mmu.js';
import { Attr } from '../mode.js';
import { Cr0, Fl, R, S, Vec } from '../state.js';
import { addRegAd, countAd, repAgain, repBudget, segLinear } from './string.js';
import { ioAccess } from '../debug.js';

/** EXITINFO1 bits for IOIO intercepts (APM Vol. 2 15.10.2) */
export const enum IoInfo {
  IN = 1, STR = 4, REP = 8, SZ8 = 0x10, SZ16 = 0x20, SZ32 = 0x40, A16 = 0x80, A32 = 0x100, A64 = 0x200,
  /** effective segment in bits 12:10, port in 31:16 */
  SEG_SHIFT = 10, PORT_SHIFT = 16,
}

/**
 * Raise #GP(0) unless the current privilege may access `size` ports from `port`: always in
 * real mode and at CPL <= IOPL in protected mode; otherwise (and always in virtual-8086 mode)
 * by the TSS I/O-permission bitmap. The bitmap starts at the offset in TSS bytes 66h-67h;
 * bitmap bytes beyond the TSS limit count as all ones. Only TSSs of the 32-bit / long-mode
 * format have a bitmap (a 16-bit TSS, or an unusable TR, denies).
 */
export function checkIoPermission(c: Cpu, port: number, size: number): void {
  if ((c.cr0 & Cr0.PE) === 0) return;
  if ((c.flags & Fl.VM) === 0 && c.cpl <= ((c.flags >>> 12) & 3)) return;
  const attr = c.segAttr[S.TR];
  const type = attr & 0xf;
  const limit = c.segLimit[S.TR];
  if ((attr & Attr.P) === 0 || (type !== 9 && type !== 11) || limit < 0x67) raise(Vec.GP, 0);
  const base = c.segBase[S.TR];
  const save = c.implicitSupervisor;
  c.implicitSupervisor = true;
  let bits: number;
  try {
    const map = read16(c, base + 0x66);
    const first = map + (port >>> 3);
    const last = map + ((port + size - 1) >>> 3);
    bits = first > limit ? 0xff : read8(c, base + first);
    if (last !== first) bits |= (last > limit ? 0xff : read8(c, base + last)) << 8;
  } finally {
    c.implicitSupervisor = save;
  }
  if (((bits >>> (port & 7)) & ((1 << size) - 1)) !== 0) raise(Vec.GP, 0);
}

/** IN/OUT sizes: 1, 2 or 4 (REX.W does not make a 64-bit port access) */
function ioSize(i: Insn): number {
  return i.opsize === 8 ? 4 : i.opsize;
}

/** EXITINFO1 for an I/O instruction (`seg` only matters for OUTS) */
function exitInfo(i: Insn, port: number, size: number, isIn: boolean, str: boolean, seg: number): number {
  let v = (port << IoInfo.PORT_SHIFT) | (size === 1 ? IoInfo.SZ8 : size === 2 ? IoInfo.SZ16 : IoInfo.SZ32);
  if (isIn) v |= IoInfo.IN;
  if (str) {
    v |= IoInfo.STR | (seg << IoInfo.SEG_SHIFT);
    if ((i.pfx & (Pfx.Rep | Pfx.Repne)) !== 0) v |= IoInfo.REP;
  }
  v |= i.adsize === 2 ? IoInfo.A16 : i.adsize === 4 ? IoInfo.A32 : IoInfo.A64;
  return v >>> 0;
}

/** permission check, then the SVM intercept: true if the access may go ahead */
function ioAllowed(c: Cpu, i: Insn, port: number, size: number, isIn: boolean, str: boolean, seg: number): boolean {
  checkIoPermission(c, port, size);
  if (c.ioHook !== null && c.ioHook(c, exitInfo(i, port, size, isIn, str, seg))) return false;
  // I/O breakpoints (APM Vol. 2 13.1, I/O breakpoints): a #DB trap after the instruction
  if (c.dbgIo !== 0) ioAccess(c, port, size);
  return true;
}

function portIn(c: Cpu, port: number, size: number): number {
  const v = c.io.portIn(port, size);
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v | 0;
}

function inTo(c: Cpu, i: Insn, port: number): void {
  const size = ioSize(i);
  if (!ioAllowed(c, i, port, size, true, false, 0)) return;
  const v = portIn(c, port, size);
  if (size === 1) c.rl[R.RAX] = (c.rl[R.RAX] & ~0xff) | v;
  else if (size === 2) c.rl[R.RAX] = (c.rl[R.RAX] & ~0xffff) | v;
  else { c.rl[R.RAX] = v; c.rh[R.RAX] = 0; }
}

function outFrom(c: Cpu, i: Insn, port: number): void {
  const size = ioSize(i);
  if (!ioAllowed(c, i, port, size, false, false, 0)) return;
  const a = c.rl[R.RAX];
  c.io.portOut(port, size, size === 1 ? a & 0xff : size === 2 ? a & 0xffff : a >>> 0);
}

/** IN AL/eAX, imm8 */
function inI(c: Cpu, i: Insn): void {
  inTo(c, i, i.imm & 0xff);
}

/** IN AL/eAX, DX */
function inDX(c: Cpu, i: Insn): void {
  inTo(c, i, c.rl[R.RDX] & 0xffff);
}

/** OUT imm8, AL/eAX */
function outI(c: Cpu, i: Insn): void {
  outFrom(c, i, i.imm & 0xff);
}

/** OUT DX, AL/eAX */
function outDX(c: Cpu, i: Insn): void {
  outFrom(c, i, c.rl[R.RDX] & 0xffff);
}

/** INS: port DX to ES:rDI (no segment override) */
function ins(c: Cpu, i: Insn): void {
  const size = ioSize(i);
  const ad = i.adsize;
  const rep = (i.pfx & (Pfx.Rep | Pfx.Repne)) !== 0;
  let n = rep ? countAd(c, ad) : 1;
  if (n === 0) return;
  const port = c.rl[R.RDX] & 0xffff;
  if (!ioAllowed(c, i, port, size, true, true, S.ES)) return;
  const step = (c.flags & Fl.DF) !== 0 ? -size : size;
  n = repBudget(c, n);
  for (let k = 0; k < n; k++) {
    const lin = segLinear(c, S.ES, c.rl[R.RDI], c.rh[R.RDI], ad);
    probeWrite(c, lin, size);
    writeN(c, lin, size, portIn(c, port, size), 0);
    addRegAd(c, R.RDI, ad, step);
    if (rep) addRegAd(c, R.RCX, ad, -1);
    if (c.dbgPending !== 0) break;
  }
  if (rep && countAd(c, ad) !== 0) repAgain(c);
}

/** OUTS: seg:rSI (DS unless overridden) to port DX */
function outs(c: Cpu, i: Insn): void {
  const size = ioSize(i);
  const ad = i.adsize;
  const rep = (i.pfx & (Pfx.Rep | Pfx.Repne)) !== 0;
  let n = rep ? countAd(c, ad) : 1;
  if (n === 0) return;
  const port = c.rl[R.RDX] & 0xffff;
  const seg = i.seg;
  if (!ioAllowed(c, i, port, size, false, true, seg)) return;
  const step = (c.flags & Fl.DF) !== 0 ? -size : size;
  n = repBudget(c, n);
  for (let k = 0; k < n; k++) {
    const v = readN(c, segLinear(c, seg, c.rl[R.RSI], c.rh[R.RSI], ad), size);
    c.io.portOut(port, size, size === 4 ? v >>> 0 : v);
    addRegAd(c, R.RSI, ad, step);
    if (rep) addRegAd(c, R.RCX, ad, -1);
    if (c.dbgPending !== 0) break;
  }
  if (rep && countAd(c, ad) !== 0) repAgain(c);
}

export const handlers = { inI, inDX, outI, outDX, ins, outs };
