/**
 * Shifts and rotates: ROL ROR RCL RCR SHL/SAL SHR SAR (group 2: C0/C1, D0/D1, D2/D3) and the
 * double shifts SHLD/SHRD (AMD64 APM Vol. 3, chapter 3).
 *
 * The count is masked to 5 bits (6 with a 64-bit operand). A masked count of 0 changes no flags
 * and no value; a 32-bit register destination is still written, so its upper half is cleared
 * as for any 32-bit register write (APM Vol. 1 3.1.2.3), which is what the hardware does.
 *
 * Where the manual leaves a flag undefined, worldswitch produces (and the tests pin):
 *  - OF for counts other than 1: the count-1 formula applied to the result (left shifts and
 *    rotates: MSB(result) XOR CF; right shifts and rotates: XOR of the result's two top bits;
 *    SAR: 0);
 *  - AF after a shift with a non-zero count: 0;
 *  - CF of SHL/SHR on 8/16-bit operands with counts above the width: 0 (the bits shifted out
 *    last are the zeros shifted in);
 *  - 16-bit SHLD/SHRD with a count above 16 (result undefined): the operand is shifted as the
 *    48-bit value dest:src:dest, so dest's own bits follow src's in.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { INSNS } from '../../x86/table.js';
import { Fl } from '../state.js';
import { setLazy } from '../flags.js';
import { ea, readG, readRmw } from '../operands.js';
import { writeN } from '../mmu.js';
import { getReg, setReg } from '../regs.js';

/** where a table row takes its count from: 0 the Ib immediate, 1 the constant 1, 2 CL */
const COUNT_SRC = new Uint8Array(INSNS.length);
for (let r = 0; r < INSNS.length; r++) {
  const ops = INSNS[r].ops;
  const last = ops.length > 0 ? ops[ops.length - 1] : '';
  COUNT_SRC[r] = last === '1' ? 1 : last === 'CL' ? 2 : 0;
}

function countOf(c: Cpu, i: Insn): number {
  const k = COUNT_SRC[i.row];
  const n = k === 0 ? i.imm : k === 1 ? 1 : c.rl[1];
  return n & (i.opsize === 8 ? 63 : 31);
}

// ---- 64-bit helpers on lo/hi halves; the high half of a result is left in `th` ----

let th = 0;

/** (hi:lo) << n, n in 0..63 */
function shl64(lo: number, hi: number, n: number): number {
  if (n === 0) { th = hi; return lo; }
  if (n < 32) { th = (hi << n) | (lo >>> (32 - n)); return lo << n; }
  th = lo << (n - 32);
  return 0;
}

/** (hi:lo) >>> n, n in 0..63 */
function shr64(lo: number, hi: number, n: number): number {
  if (n === 0) { th = hi; return lo; }
  if (n < 32) { th = (hi >>> n) | 0; return (lo >>> n) | (hi << (32 - n)); }
  th = 0;
  return (hi >>> (n - 32)) | 0;
}

/** (hi:lo) >> n (arithmetic), n in 0..63 */
function sar64(lo: number, hi: number, n: number): number {
  if (n === 0) { th = hi; return lo; }
  if (n < 32) { th = hi >> n; return (lo >>> n) | (hi << (32 - n)); }
  th = hi >> 31;
  return hi >> (n - 32);
}

function bit64(lo: number, hi: number, k: number): number {
  return k < 32 ? (lo >>> k) & 1 : (hi >>> (k - 32)) & 1;
}

/** CF and OF of a rotate; SF, ZF, PF and AF are untouched (lazy ones stay valid) */
function setCO(c: Cpu, cf: number, of: number): void {
  c.flags = (c.flags & ~(Fl.CF | Fl.OF)) | cf | (of << 11);
}

/** CF and OF of a shift, AF = 0, SF/ZF/PF from the result */
function setShiftFlags(c: Cpu, cf: number, of: number, r: number, rh: number, size: number): void {
  c.flags = (c.flags & ~(Fl.CF | Fl.AF | Fl.OF)) | cf | (of << 11);
  setLazy(c, r, rh, size);
}

/**
 * Group-2 operation `op` (ModRM.reg) on a 1/2/4-byte operand `a` (zero-extended below 32 bits)
 * by a masked count n in 1..31. Returns the result; sets the flags.
 */
function shift32(c: Cpu, op: number, size: number, a: number, n: number): number {
  const w = size << 3;
  const m = size === 1 ? 0xff : size === 2 ? 0xffff : -1;
  const sb = w - 1;
  let r: number;
  let cf: number;
  switch (op) {
    case 0: { // ROL: CF = LSB of the result, even when count mod width is 0
      const k = n & sb;
      r = k === 0 ? a : ((a << k) | (a >>> (w - k))) & m;
      cf = r & 1;
      setCO(c, cf, ((r >>> sb) & 1) ^ cf);
      return r;
    }
    case 1: { // ROR: CF = MSB of the result
      const k = n & sb;
      r = k === 0 ? a : ((a >>> k) | (a << (w - k))) & m;
      cf = (r >>> sb) & 1;
      setCO(c, cf, cf ^ ((r >>> (sb - 1)) & 1));
      return r;
    }
    case 2: { // RCL: rotate the (w+1)-bit value CF:a; 8/16-bit counts are taken mod 9/17
      const cin = c.flags & Fl.CF;
      if (size === 4) {
        r = (a << n) | (cin << (n - 1)) | (n > 1 ? a >>> (33 - n) : 0);
        cf = (a >>> (32 - n)) & 1;
      } else {
        const k = n % (w + 1);
        if (k === 0) { r = a; cf = cin; } else {
          const v = a | (cin << w);
          const rv = ((v << k) | (v >>> (w + 1 - k))) & ((m << 1) | 1);
          r = rv & m;
          cf = (rv >>> w) & 1;
        }
      }
      setCO(c, cf, ((r >>> sb) & 1) ^ cf);
      return r;
    }
    case 3: { // RCR
      const cin = c.flags & Fl.CF;
      if (size === 4) {
        r = (a >>> n) | (cin << (32 - n)) | (n > 1 ? a << (33 - n) : 0);
        cf = (a >>> (n - 1)) & 1;
      } else {
        const k = n % (w + 1);
        if (k === 0) { r = a; cf = cin; } else {
          const v = a | (cin << w);
          const rv = ((v >>> k) | (v << (w + 1 - k))) & ((m << 1) | 1);
          r = rv & m;
          cf = (rv >>> w) & 1;
        }
      }
      setCO(c, cf, ((r >>> sb) ^ (r >>> (sb - 1))) & 1);
      return r;
    }
    case 5: // SHR
      r = (a >>> n) | 0;
      cf = n <= w ? (a >>> (n - 1)) & 1 : 0;
      setShiftFlags(c, cf, ((r >>> sb) ^ (r >>> (sb - 1))) & 1, r, 0, size);
      return r;
    case 7: { // SAR: OF = 0 (the sign never changes)
      const s = size === 1 ? (a << 24) >> 24 : size === 2 ? (a << 16) >> 16 : a;
      r = (s >> n) & m;
      cf = (s >> (n - 1)) & 1;
      setShiftFlags(c, cf, 0, r, 0, size);
      return r;
    }
    default: // 4 SHL, 6 SAL
      r = (a << n) & m;
      cf = n <= w ? (a >>> (w - n)) & 1 : 0;
      setShiftFlags(c, cf, ((r >>> sb) & 1) ^ cf, r, 0, size);
      return r;
  }
}

/** the same for a 64-bit operand (lo, hi) and a count n in 1..63; high half left in c.xh */
function shift64(c: Cpu, op: number, lo: number, hi: number, n: number): number {
  let r: number;
  let rh: number;
  let cf: number;
  switch (op) {
    case 0: // ROL
      r = shl64(lo, hi, n); rh = th;
      r |= shr64(lo, hi, 64 - n); rh |= th;
      cf = r & 1;
      setCO(c, cf, (rh >>> 31) ^ cf);
      break;
    case 1: // ROR
      r = shr64(lo, hi, n); rh = th;
      r |= shl64(lo, hi, 64 - n); rh |= th;
      cf = rh >>> 31;
      setCO(c, cf, cf ^ ((rh >>> 30) & 1));
      break;
    case 2: { // RCL over 65 bits
      const cin = c.flags & Fl.CF;
      r = shl64(lo, hi, n); rh = th;
      if (n <= 32) r |= cin << (n - 1); else rh |= cin << (n - 33);
      if (n > 1) { r |= shr64(lo, hi, 65 - n); rh |= th; }
      cf = bit64(lo, hi, 64 - n);
      setCO(c, cf, (rh >>> 31) ^ cf);
      break;
    }
    case 3: { // RCR over 65 bits
      const cin = c.flags & Fl.CF;
      r = shr64(lo, hi, n); rh = th;
      if (n > 32) r |= cin << (64 - n); else rh |= cin << (32 - n);
      if (n > 1) { r |= shl64(lo, hi, 65 - n); rh |= th; }
      cf = bit64(lo, hi, n - 1);
      setCO(c, cf, ((rh >>> 31) ^ (rh >>> 30)) & 1);
      break;
    }
    case 5: // SHR
      r = shr64(lo, hi, n); rh = th;
      cf = bit64(lo, hi, n - 1);
      setShiftFlags(c, cf, ((rh >>> 31) ^ (rh >>> 30)) & 1, r, rh, 8);
      break;
    case 7: // SAR
      r = sar64(lo, hi, n); rh = th;
      cf = bit64(lo, hi, n - 1);
      setShiftFlags(c, cf, 0, r, rh, 8);
      break;
    default: // SHL, SAL
      r = shl64(lo, hi, n); rh = th;
      cf = bit64(lo, hi, 64 - n);
      setShiftFlags(c, cf, (rh >>> 31) ^ cf, r, rh, 8);
      break;
  }
  c.xh = rh;
  return r;
}

function shift(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const n = countOf(c, i);
  if (i.rm >= 0) {
    const r = size === 1 ? i.rm8 : i.rm;
    if (n === 0) {
      if (size === 4) c.rh[r] = 0;
      return;
    }
    const a = getReg(c, r, size);
    const res = size === 8 ? shift64(c, i.arg, a, c.xh, n) : shift32(c, i.arg, size, a, n);
    setReg(c, r, size, res, c.xh);
    return;
  }
  const lin = ea(c, i);
  // read for writing even with a zero count, so a read-only page faults alike for every count
  const a = readRmw(c, lin, size);
  if (n === 0) return;
  if (size === 8) {
    const res = shift64(c, i.arg, a, c.xh, n);
    writeN(c, lin, 8, res, c.xh);
  } else {
    writeN(c, lin, size, shift32(c, i.arg, size, a, n), 0);
  }
}

// ---- SHLD / SHRD ----

/**
 * SHLD (op 0) or SHRD (op 1) of dest (a, ah) with bits from src (b, bh) by n in 1..31 (1..63
 * for 64-bit operands). Returns the result (high half in c.xh); sets the flags.
 */
function dshift(c: Cpu, op: number, size: number, a: number, ah: number, b: number, bh: number, n: number): number {
  let r: number;
  let rh = 0;
  let cf: number;
  if (size === 2) {
    // the 48-bit value dest:src:dest; counts up to 16 are the defined ones
    if (op === 0) {
      if (n <= 16) {
        r = ((((a << 16) | b) << n) >>> 16) & 0xffff;
        cf = (a >>> (16 - n)) & 1;
      } else {
        r = ((((b << 16) | a) << (n - 16)) >>> 16) & 0xffff;
        cf = (b >>> (32 - n)) & 1;
      }
    } else if (n <= 16) {
      r = (((b << 16) | a) >>> n) & 0xffff;
      cf = (a >>> (n - 1)) & 1;
    } else {
      r = (((a << 16) | b) >>> (n - 16)) & 0xffff;
      cf = (b >>> (n - 17)) & 1;
    }
  } else if (size === 4) {
    if (op === 0) {
      r = (a << n) | (b >>> (32 - n));
      cf = (a >>> (32 - n)) & 1;
    } else {
      r = (a >>> n) | (b << (32 - n));
      cf = (a >>> (n - 1)) & 1;
    }
  } else if (op === 0) {
    r = shl64(a, ah, n); rh = th;
    r |= shr64(b, bh, 64 - n); rh |= th;
    cf = bit64(a, ah, 64 - n);
  } else {
    r = shr64(a, ah, n); rh = th;
    r |= shl64(b, bh, 64 - n); rh |= th;
    cf = bit64(a, ah, n - 1);
  }
  // OF (defined for count 1: a sign change): MSB(result) ^ CF for SHLD, the result's top two
  // bits XORed for SHRD, at every count
  const top = size === 8 ? rh : r;
  const sb = size === 8 ? 31 : (size << 3) - 1;
  const of = op === 0 ? ((top >>> sb) & 1) ^ cf : ((top >>> sb) ^ (top >>> (sb - 1))) & 1;
  setShiftFlags(c, cf, of, r, rh, size);
  c.xh = rh;
  return r;
}

function shld(c: Cpu, i: Insn): void {
  const size = i.opsize;
  const n = countOf(c, i);
  const b = readG(c, i, size);
  const bh = c.xh;
  if (i.rm >= 0) {
    const r = i.rm;
    if (n === 0) {
      if (size === 4) c.rh[r] = 0;
      return;
    }
    const a = getReg(c, r, size);
    const res = dshift(c, i.arg, size, a, c.xh, b, bh, n);
    setReg(c, r, size, res, c.xh);
    return;
  }
  const lin = ea(c, i);
  const a = readRmw(c, lin, size);
  if (n === 0) return;
  const res = dshift(c, i.arg, size, a, c.xh, b, bh, n);
  writeN(c, lin, size, res, c.xh);
}

export const handlers = { shift, shld };
