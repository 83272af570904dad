/**
 * String instructions: MOVS, CMPS, STOS, LODS, SCAS with REP / REPE / REPNE (AMD64 APM Vol. 3,
 * chapter 3 and 1.2.6), and XLAT, which shares their address arithmetic.
 *
 * rSI / rDI / rCX are read and written at the address size (16, 32 or 64 bits; a 32-bit update
 * in 64-bit mode zero-extends like any 32-bit register write). The source segment is DS unless
 * overridden; the destination is always ES (whose base 64-bit mode ignores).
 *
 * A repeated instruction runs at most MAX_ITER iterations per execution; if iterations remain it
 * leaves RIP at itself so that it executes again (each partial execution counts as one retired
 * instruction). Every iteration does its memory accesses before it updates any register, so a
 * fault in the middle leaves rSI / rDI / rCX describing exactly the iterations completed, and
 * RIP at the instruction, ready to restart (APM Vol. 3 1.2.6).
 */

import type { Cpu } from '../cpu.js';
import { Pfx, type Insn } from '../../x86/insn.js';
import { Acc, readN, translate, writeN } from '../mmu.js';
import { segFault } from '../operands.js';
import { getReg, setReg } from '../regs.js';
import { zf } from '../flags.js';
import { Fl, R, S, TWO32 } from '../state.js';
import { alu, Alu } from './alu.js';

/** iterations of a repeated string instruction per execution */
export const MAX_ITER = 4096;

/**
 * Linear address of segment `seg` at offset lo/hi (a register value), the offset taken at
 * address size `ad`. In 64-bit mode only FS and GS add a base, and the result must be canonical
 * (#SS for SS references, else #GP; APM Vol. 2 5.3.1).
 */
export function segLinear(c: Cpu, seg: number, lo: number, hi: number, ad: number): number {
  if (ad === 8) {
    if (seg >= 4) {
      const base = c.segBase[seg];
      const s = (lo >>> 0) + ((base | 0) >>> 0);
      lo = s | 0;
      hi = (hi + (Math.floor(base / TWO32) | 0) + (s >= TWO32 ? 1 : 0)) | 0;
    }
    if (((hi << 16) >> 16) !== hi) segFault(seg);
    return hi * TWO32 + (lo >>> 0);
  }
  const off = ad === 4 ? lo >>> 0 : lo & 0xffff;
  if (c.bits === 64) {
    if (seg < 4) return off;
    const lin = c.segBase[seg] + off;
    if (lin >= 0x800000000000) segFault(seg);
    return lin;
  }
  return (c.segBase[seg] + off) % TWO32;
}

/** linear address of seg:rSI / ES:rDI and friends */
function regLinear(c: Cpu, seg: number, r: number, ad: number): number {
  return segLinear(c, seg, c.rl[r], c.rh[r], ad);
}

/** add `delta` (|delta| < 2^31) to register `r` at address size `ad` */
export function addRegAd(c: Cpu, r: number, ad: number, delta: number): void {
  const rl = c.rl;
  if (ad === 2) {
    rl[r] = (rl[r] & ~0xffff) | ((rl[r] + delta) & 0xffff);
  } else if (ad === 4) {
    rl[r] = (rl[r] + delta) | 0;
    c.rh[r] = 0;
  } else {
    const s = (rl[r] >>> 0) + delta;
    rl[r] = s | 0;
    if (s >= TWO32) c.rh[r] = (c.rh[r] + 1) | 0;
    else if (s < 0) c.rh[r] = (c.rh[r] - 1) | 0;
  }
}

/** rCX at address size `ad`, as a count; 2^32 stands for any larger 64-bit count */
export function countAd(c: Cpu, ad: number): number {
  if (ad === 2) return c.rl[R.RCX] & 0xffff;
  if (ad === 8 && c.rh[R.RCX] !== 0) return TWO32;
  return c.rl[R.RCX] >>> 0;
}

/**
 * Whole elements of `size` bytes a block operation may take from `lin` (the address in register
 * `r`): up to the end of its page, and before the offset wraps at address size `ad` (a linear
 * discontinuity).
 */
function room(c: Cpu, lin: number, r: number, ad: number, size: number): number {
  const page = ((0x1000 - (lin & 0xfff)) / size) | 0;
  if (ad === 8) return page;
  const off = ad === 2 ? c.rl[r] & 0xffff : c.rl[r] >>> 0;
  const wrap = Math.floor(((ad === 2 ? 0x10000 : TWO32) - off) / size);
  return wrap < page ? wrap : page;
}

/** true when physical [p, p + n) is plain RAM */
function inRam(c: Cpu, p: number, n: number): boolean {
  const m = c.mem;
  return p + n <= m.size && p + n <= m.mmioLow;
}

function isRep(i: Insn): boolean {
  return (i.pfx & (Pfx.Rep | Pfx.Repne)) !== 0;
}

/**
 * Iterations one execution of a repeated instruction may do (of `count` left): MAX_ITER, or
 * one with RFLAGS.TF set, since single-step traps after each iteration (APM Vol. 2 13.1, single-step).
 */
export function repBudget(c: Cpu, count: number): number {
  const max = (c.flags & Fl.TF) !== 0 ? 1 : MAX_ITER;
  return count > max ? max : count;
}

/**
 * A repeated instruction stops with iterations left: it executes again. An iteration that hit
 * a data breakpoint ends the execution, so that the #DB trap comes after it (APM Vol. 2
 * 13.1, data breakpoints); RF = 1 keeps the instruction's own instruction breakpoint from firing again when
 * it resumes, after that trap or an interrupt (APM Vol. 2 3.1.6).
 */
export function repAgain(c: Cpu): void {
  c.rip = c.ripStart;
  c.flags |= Fl.RF;
  c.keepRf();
}

// ---- MOVS ---------------------------------------------------------------------------------

function movsOne(c: Cpu, seg: number, size: number, ad: number, step: number): void {
  const v = readN(c, regLinear(c, seg, R.RSI, ad), size);
  writeN(c, regLinear(c, S.ES, R.RDI, ad), size, v, c.xh);
  addRegAd(c, R.RSI, ad, step);
  addRegAd(c, R.RDI, ad, step);
}

/**
 * Forward REP MOVS within one source page and one destination page of RAM, as a block copy.
 * Returns the iterations done (0: not applicable here, take one slow iteration instead).
 */
function movsFast(c: Cpu, seg: number, size: number, ad: number, max: number): number {
  const src = regLinear(c, seg, R.RSI, ad);
  const dst = regLinear(c, S.ES, R.RDI, ad);
  const n = Math.min(max, room(c, src, R.RSI, ad, size), room(c, dst, R.RDI, ad, size));
  if (n < 2) return 0;
  const ps = translate(c, src, Acc.Read);
  const pd = translate(c, dst, Acc.Write);
  const bytes = n * size;
  if (!inRam(c, ps, bytes) || !inRam(c, pd, bytes)) return 0;
  const mem = c.mem;
  mem.touch(pd, bytes);
  const u8 = mem.u8;
  if (pd > ps && pd < ps + bytes) {
    // the destination overlaps the source ahead of it: element by element, as the loop would
    if (size === 1) {
      for (let k = 0; k < bytes; k++) u8[pd + k] = u8[ps + k];
    } else {
      for (let k = 0; k < bytes; k += size) u8.copyWithin(pd + k, ps + k, ps + k + size);
    }
  } else {
    u8.copyWithin(pd, ps, ps + bytes);
  }
  addRegAd(c, R.RSI, ad, bytes);
  addRegAd(c, R.RDI, ad, bytes);
  addRegAd(c, R.RCX, ad, -n);
  return n;
}

function movs(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const ad = i.adsize;
  const seg = i.seg;
  const back = (c.flags & Fl.DF) !== 0;
  const step = back ? -size : size;
  if (!isRep(i)) { movsOne(c, seg, size, ad, step); return; }
  const count = countAd(c, ad);
  if (count === 0) return;
  const budget = repBudget(c, count);
  // data breakpoints see every iteration: no block copies while one is enabled
  const block = !back && c.dbgData === 0;
  let left = budget;
  while (left > 0) {
    const n = block ? movsFast(c, seg, size, ad, left) : 0;
    if (n > 0) { left -= n; continue; }
    movsOne(c, seg, size, ad, step);
    addRegAd(c, R.RCX, ad, -1);
    left--;
    if (c.dbgPending !== 0) break;
  }
  if (count > budget - left) repAgain(c);
}

// ---- STOS ---------------------------------------------------------------------------------

function stosFast(c: Cpu, size: number, ad: number, max: number, v: number, vh: number): number {
  const dst = regLinear(c, S.ES, R.RDI, ad);
  const n = Math.min(max, room(c, dst, R.RDI, ad, size));
  if (n < 2) return 0;
  const pd = translate(c, dst, Acc.Write);
  const bytes = n * size;
  if (!inRam(c, pd, bytes)) return 0;
  const mem = c.mem;
  mem.touch(pd, bytes);
  const end = pd + bytes;
  if (size === 1) {
    mem.u8.fill(v & 0xff, pd, end);
  } else if (size === 2 && (pd & 1) === 0) {
    mem.u16.fill(v & 0xffff, pd >>> 1, end >>> 1);
  } else if (size === 4 && (pd & 3) === 0) {
    mem.i32.fill(v, pd >>> 2, end >>> 2);
  } else if (size === 8 && (pd & 3) === 0) {
    const i32 = mem.i32;
    if (v === vh) i32.fill(v, pd >>> 2, end >>> 2);
    else for (let k = pd >>> 2; k < end >>> 2; k += 2) { i32[k] = v; i32[k + 1] = vh; }
  } else {
    const u8 = mem.u8;
    for (let k = 0; k < bytes; k++) {
      const at = k % size;
      u8[pd + k] = at < 4 ? v >>> (8 * at) : vh >>> (8 * (at - 4));
    }
  }
  addRegAd(c, R.RDI, ad, bytes);
  addRegAd(c, R.RCX, ad, -n);
  return n;
}

function stos(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const ad = i.adsize;
  const back = (c.flags & Fl.DF) !== 0;
  const step = back ? -size : size;
  const v = getReg(c, R.RAX, size);
  const vh = c.xh;
  if (!isRep(i)) {
    writeN(c, regLinear(c, S.ES, R.RDI, ad), size, v, vh);
    addRegAd(c, R.RDI, ad, step);
    return;
  }
  const count = countAd(c, ad);
  if (count === 0) return;
  const budget = repBudget(c, count);
  const block = !back && c.dbgData === 0;
  let left = budget;
  while (left > 0) {
    const n = block ? stosFast(c, size, ad, left, v, vh) : 0;
    if (n > 0) { left -= n; continue; }
    writeN(c, regLinear(c, S.ES, R.RDI, ad), size, v, vh);
    addRegAd(c, R.RDI, ad, step);
    addRegAd(c, R.RCX, ad, -1);
    left--;
    if (c.dbgPending !== 0) break;
  }
  if (count > budget - left) repAgain(c);
}

// ---- LODS ---------------------------------------------------------------------------------

function lods(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const ad = i.adsize;
  const step = (c.flags & Fl.DF) !== 0 ? -size : size;
  const rep = isRep(i);
  const count = rep ? countAd(c, ad) : 1;
  const budget = repBudget(c, count);
  let left = budget;
  while (left > 0) {
    const v = readN(c, regLinear(c, i.seg, R.RSI, ad), size);
    setReg(c, R.RAX, size, v, c.xh);
    addRegAd(c, R.RSI, ad, step);
    if (rep) addRegAd(c, R.RCX, ad, -1);
    left--;
    if (c.dbgPending !== 0) break;
  }
  if (count > budget - left) repAgain(c);
}

// ---- CMPS / SCAS --------------------------------------------------------------------------

/** REPNE ends when ZF = 1, REPE when ZF = 0 (APM Vol. 3 1.2.6) */
function repDone(c: Cpu, repne: boolean): boolean {
  return zf(c) === repne;
}

/** CMPS compares [seg:rSI] - ES:[rDI] */
function cmpsOne(c: Cpu, seg: number, size: number, ad: number, step: number): void {
  const a = readN(c, regLinear(c, seg, R.RSI, ad), size);
  const ah = c.xh;
  const b = readN(c, regLinear(c, S.ES, R.RDI, ad), size);
  alu(c, Alu.CMP, size, a, ah, b, c.xh);
  addRegAd(c, R.RSI, ad, step);
  addRegAd(c, R.RDI, ad, step);
}

/** Forward REPE/REPNE CMPSB within one page each of RAM; returns iterations done (0: not here). */
function cmpsbFast(c: Cpu, seg: number, ad: number, max: number, repne: boolean): number {
  const src = regLinear(c, seg, R.RSI, ad);
  const dst = regLinear(c, S.ES, R.RDI, ad);
  const n = Math.min(max, room(c, src, R.RSI, ad, 1), room(c, dst, R.RDI, ad, 1));
  if (n < 2) return 0;
  const ps = translate(c, src, Acc.Read);
  const pd = translate(c, dst, Acc.Read);
  if (!inRam(c, ps, n) || !inRam(c, pd, n)) return 0;
  const u8 = c.mem.u8;
  let k = 0;
  let x = 0;
  let y = 0;
  while (k < n) {
    x = u8[ps + k];
    y = u8[pd + k];
    k++;
    if ((x === y) === repne) break;
  }
  alu(c, Alu.CMP, 1, x, 0, y, 0);
  addRegAd(c, R.RSI, ad, k);
  addRegAd(c, R.RDI, ad, k);
  addRegAd(c, R.RCX, ad, -k);
  return k;
}

function cmps(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const ad = i.adsize;
  const back = (c.flags & Fl.DF) !== 0;
  const step = back ? -size : size;
  if (!isRep(i)) { cmpsOne(c, i.seg, size, ad, step); return; }
  // With both F2 and F3 present the decoded record does not say which came last; REPNE is
  // taken then.
  const repne = (i.pfx & Pfx.Repne) !== 0;
  const count = countAd(c, ad);
  if (count === 0) return;
  const budget = repBudget(c, count);
  const block = size === 1 && !back && c.dbgData === 0;
  let left = budget;
  while (left > 0) {
    let n = block ? cmpsbFast(c, i.seg, ad, left, repne) : 0;
    if (n === 0) {
      cmpsOne(c, i.seg, size, ad, step);
      addRegAd(c, R.RCX, ad, -1);
      n = 1;
    }
    left -= n;
    if (repDone(c, repne)) return;
    if (c.dbgPending !== 0) break;
  }
  if (count > budget - left) repAgain(c);
}

function scasOne(c: Cpu, size: number, ad: number, step: number): void {
  const a = getReg(c, R.RAX, size);
  const ah = c.xh;
  const b = readN(c, regLinear(c, S.ES, R.RDI, ad), size);
  alu(c, Alu.CMP, size, a, ah, b, c.xh);
  addRegAd(c, R.RDI, ad, step);
}

/** Forward REPE/REPNE SCASB within one page of RAM; returns iterations done (0: not here). */
function scasbFast(c: Cpu, ad: number, max: number, repne: boolean): number {
  const dst = regLinear(c, S.ES, R.RDI, ad);
  const n = Math.min(max, room(c, dst, R.RDI, ad, 1));
  if (n < 2) return 0;
  const pd = translate(c, dst, Acc.Read);
  if (!inRam(c, pd, n)) return 0;
  const u8 = c.mem.u8;
  const al = c.rl[R.RAX] & 0xff;
  let k = 0;
  let v = 0;
  while (k < n) {
    v = u8[pd + k];
    k++;
    if ((v === al) === repne) break;
  }
  // the flags are those of the last comparison made
  alu(c, Alu.CMP, 1, al, 0, v, 0);
  addRegAd(c, R.RDI, ad, k);
  addRegAd(c, R.RCX, ad, -k);
  return k;
}

function scas(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const ad = i.adsize;
  const back = (c.flags & Fl.DF) !== 0;
  const step = back ? -size : size;
  if (!isRep(i)) { scasOne(c, size, ad, step); return; }
  const repne = (i.pfx & Pfx.Repne) !== 0;
  const count = countAd(c, ad);
  if (count === 0) return;
  const budget = repBudget(c, count);
  const block = size === 1 && !back && c.dbgData === 0;
  let left = budget;
  while (left > 0) {
    let n = block ? scasbFast(c, ad, left, repne) : 0;
    if (n === 0) {
      scasOne(c, size, ad, step);
      addRegAd(c, R.RCX, ad, -1);
      n = 1;
    }
    left -= n;
    if (repDone(c, repne)) return;
    if (c.dbgPending !== 0) break;
  }
  if (count > budget - left) repAgain(c);
}

// ---- XLAT ---------------------------------------------------------------------------------

/** AL = [seg:rBX + AL], the sum taken at the address size (APM Vol. 3 XLAT) */
function xlat(c: Cpu, i: Insn): void {
  const al = c.rl[R.RAX] & 0xff;
  const s = (c.rl[R.RBX] >>> 0) + al;
  const hi = (c.rh[R.RBX] + (s >= TWO32 ? 1 : 0)) | 0;
  const v = readN(c, segLinear(c, i.seg, s | 0, hi, i.adsize), 1);
  setReg(c, R.RAX, 1, v, 0);
}

export const handlers = { movs, cmps, stos, lods, scas, xlat };
