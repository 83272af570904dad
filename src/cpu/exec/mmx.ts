/**
 * MMX instructions (AMD64 APM Vol. 5, 64-bit media) and the SSE/SSE2/SSSE3 forms on MMX
 * registers: the 0F integer opcodes without a prefix, MOVD/MOVQ, PSHUFW, PINSRW/PEXTRW,
 * PMOVMSKB, MOVNTQ, MASKMOVQ, the shifts by immediate, the 0F 38 / 0F 3A SSSE3 forms, MOVQ2DQ/
 * MOVDQ2Q and the MMX conversions CVTPI2PS/CVTPI2PD/CVT(T)PS2PI/CVT(T)PD2PI.
 *
 * MMn is the significand of x87 physical register Rn (APM Vol. 5 1.2): a read takes its 64
 * bits; a write stores them and sets the sign/exponent field to all ones. Every instruction that
 * touches an MMX register makes the transition to MMX state once it completes: TOP = 0 and all
 * tags valid (EMMS, in sse-move.ts, empties them). The host CPU makes this transition right
 * after the checks, before the operands are read: an instruction that then faults (#GP, #XM)
 * leaves the x87 state in MMX form, and so does worldswitch. The checks: CR0.EM -> #UD, CR0.TS -> #NM, a
 * pending unmasked x87 exception -> #MF (fpu/checks.ts mmxCheck); the forms that also involve
 * XMM registers make the SSE checks first. MMX memory operands have no alignment rule; the
 * low-half unpacks (PUNPCKLBW/WD/DQ) read 32 bits of memory.
 *
 * The integer operations reuse the 128-bit kernel of sse-int.ts: the 64-bit operands are
 * placed in its vectors so that the low (or, for the high unpacks, upper) 64 bits of the
 * result are the MMX result (packs and horizontal ops take [D, S] as their first operand).
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { raise } from '../fault.js';
import { mmxCheck, sseCheck } from '../fpu/checks.js';
import { f32ToI32, f64ToI32, i32ToF32, i32ToF64, sf } from '../fpu/softfloat.js';
import { Acc, read32, read64, translate, write64, write8, writeN, read16 } from '../mmu.js';
import { ea } from '../operands.js';
import { getReg, setReg } from '../regs.js';
import { Vec } from '../state.js';
import { PI } from '../../x86/table-sse.js';
import { D, intCore, R, S, shift } from './sse-int.js';
import { sseCtl } from './sse-fp.js';
import { ALIGN_LEGACY, checkAlign, commitExc, loadW, loadW64, read128, W, maskMoveLinear } from './sse-util.js';

/** FSW.ES */
const FSW_ES = 0x80;

/** the transition to MMX state: TOP = 0, all registers valid */
function toMmx(c: Cpu): void {
  c.fpu.fsw &= ~0x3800;
  c.fpu.ftw = 0;
}

/** the MMX checks, then the transition (before the operands are accessed: see above) */
function mmxEnter(c: Cpu): void {
  mmxCheck(c);
  toMmx(c);
}

function setMm(c: Cpu, r: number, lo: number, hi: number): void {
  const f = c.fpu;
  f.sigLo[r] = lo;
  f.sigHi[r] = hi;
  f.signExp[r] = 0xffff;
}

/** the 64-bit Q operand (MMX register or memory) as lo, hi in SQ */
let qLo = 0;
let qHi = 0;
function loadQ(c: Cpu, i: Insn, bytes: number): void {
  if (i.rm >= 0) { const r = i.rm & 7; qLo = c.fpu.sigLo[r] | 0; qHi = c.fpu.sigHi[r] | 0; return; }
  if (bytes === 4) { qLo = read32(c, ea(c, i)); qHi = 0; return; }
  qLo = read64(c, ea(c, i));
  qHi = c.xh;
}

/** integer operation on MMX registers; arg = PI operation */
function mInt(c: Cpu, i: Insn): void {
  mmxEnter(c);
  const op = i.arg as PI;
  const narrow = op === PI.UNPCKLBW || op === PI.UNPCKLWD || op === PI.UNPCKLDQ;
  loadQ(c, i, narrow ? 4 : 8);
  const d = i.reg & 7;
  const dLo = c.fpu.sigLo[d] | 0;
  const dHi = c.fpu.sigHi[d] | 0;
  let high = false;
  switch (op) {
    case PI.UNPCKHBW: case PI.UNPCKHWD: case PI.UNPCKHDQ:
      D.i32[0] = 0; D.i32[1] = 0; D.i32[2] = dLo; D.i32[3] = dHi;
      S.i32[0] = 0; S.i32[1] = 0; S.i32[2] = qLo; S.i32[3] = qHi;
      high = true;
      break;
    case PI.PACKSSWB: case PI.PACKSSDW: case PI.PACKUSWB:
    case PI.PHADDW: case PI.PHADDD: case PI.PHADDSW: case PI.PHSUBW: case PI.PHSUBD: case PI.PHSUBSW:
      D.i32[0] = dLo; D.i32[1] = dHi; D.i32[2] = qLo; D.i32[3] = qHi;
      S.i32[0] = qLo; S.i32[1] = qHi; S.i32[2] = 0; S.i32[3] = 0;
      break;
    case PI.PSHUFB:
      D.i32[0] = dLo; D.i32[1] = dHi; D.i32[2] = dLo; D.i32[3] = dHi;
      S.i32[0] = qLo; S.i32[1] = qHi; S.i32[2] = 0; S.i32[3] = 0;
      break;
    default:
      D.i32[0] = dLo; D.i32[1] = dHi; D.i32[2] = 0; D.i32[3] = 0;
      S.i32[0] = qLo; S.i32[1] = qHi; S.i32[2] = 0; S.i32[3] = 0;
  }
  intCore(op);
  if (high) setMm(c, d, R.i32[2], R.i32[3]); else setMm(c, d, R.i32[0], R.i32[1]);
}

/** shifts of an MMX register by an immediate: arg kind | size << 4 (kinds 0 srl, 1 sra, 2 sll) */
function mShiftI(c: Cpu, i: Insn): void {
  mmxEnter(c);
  const r = i.rm & 7;
  D.i32[0] = c.fpu.sigLo[r] | 0; D.i32[1] = c.fpu.sigHi[r] | 0; D.i32[2] = 0; D.i32[3] = 0;
  shift(i.arg & 15, i.arg >> 4, i.imm & 0xff);
  setMm(c, r, R.i32[0], R.i32[1]);
}

/** PALIGNR mm, mm/m64, imm8: (D:S) >> imm8 * 8, low 8 bytes */
function mPalignr(c: Cpu, i: Insn): void {
  mmxEnter(c);
  loadQ(c, i, 8);
  const d = i.reg & 7;
  const n = i.imm & 0xff;
  // bytes 0-7 of S then 0-7 of D
  let lo = 0;
  let hi = 0;
  const dLo = c.fpu.sigLo[d] | 0;
  const dHi = c.fpu.sigHi[d] | 0;
  for (let k = 0; k < 8; k++) {
    const p = k + n;
    let b = 0;
    if (p < 16) {
      const w = p < 4 ? qLo : p < 8 ? qHi : p < 12 ? dLo : dHi;
      b = (w >>> (8 * (p & 3))) & 0xff;
    }
    if (k < 4) lo |= b << (8 * k); else hi |= b << (8 * (k - 4));
  }
  setMm(c, d, lo, hi);
}

/** MOVD/MOVQ mm, r/m32/64 (zero-extended) */
function mMovdLoad(c: Cpu, i: Insn): void {
  mmxEnter(c);
  const size = (i.rex & 8) !== 0 ? 8 : 4;
  let lo: number;
  let hi = 0;
  if (i.rm >= 0) { lo = getReg(c, i.rm, size); hi = c.xh; } else if (size === 8) { lo = read64(c, ea(c, i)); hi = c.xh; } else lo = read32(c, ea(c, i));
  setMm(c, i.reg & 7, lo, hi);
}

/** MOVD/MOVQ r/m32/64, mm */
function mMovdStore(c: Cpu, i: Insn): void {
  mmxEnter(c);
  const size = (i.rex & 8) !== 0 ? 8 : 4;
  const s = i.reg & 7;
  const lo = c.fpu.sigLo[s] | 0;
  const hi = c.fpu.sigHi[s] | 0;
  if (i.rm >= 0) setReg(c, i.rm, size, lo, hi);
  else writeN(c, ea(c, i), size, lo, hi);
}

/** MOVQ mm, mm/m64 (arg 0); MOVQ mm/m64, mm and MOVNTQ (arg 1) */
function mMovq(c: Cpu, i: Insn): void {
  mmxEnter(c);
  if (i.arg === 0) {
    loadQ(c, i, 8);
    setMm(c, i.reg & 7, qLo, qHi);
  } else {
    const s = i.reg & 7;
    const lo = c.fpu.sigLo[s] | 0;
    const hi = c.fpu.sigHi[s] | 0;
    if (i.rm >= 0) setMm(c, i.rm & 7, lo, hi);
    else write64(c, ea(c, i), lo, hi);
  }
}

/** PSHUFW mm, mm/m64, imm8 */
function mPshufw(c: Cpu, i: Insn): void {
  mmxEnter(c);
  loadQ(c, i, 8);
  const imm = i.imm & 0xff;
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < 4; k++) {
    const sel = (imm >> (2 * k)) & 3;
    const w = ((sel < 2 ? qLo : qHi) >>> (16 * (sel & 1))) & 0xffff;
    if (k < 2) lo |= w << (16 * k); else hi |= w << (16 * (k - 2));
  }
  setMm(c, i.reg & 7, lo, hi);
}

/** PINSRW mm, r32/m16, imm8 */
function mPinsrw(c: Cpu, i: Insn): void {
  mmxEnter(c);
  const v = (i.rm >= 0 ? c.rl[i.rm] : read16(c, ea(c, i))) & 0xffff;
  const d = i.reg & 7;
  const k = i.imm & 3;
  let lo = c.fpu.sigLo[d] | 0;
  let hi = c.fpu.sigHi[d] | 0;
  const sh = 16 * (k & 1);
  if (k < 2) lo = (lo & ~(0xffff << sh)) | (v << sh); else hi = (hi & ~(0xffff << sh)) | (v << sh);
  setMm(c, d, lo, hi);
}

/** PEXTRW r32, mm, imm8 */
function mPextrw(c: Cpu, i: Insn): void {
  mmxEnter(c);
  const s = i.rm & 7;
  const k = i.imm & 3;
  const w = ((k < 2 ? c.fpu.sigLo[s] : c.fpu.sigHi[s]) >>> (16 * (k & 1))) & 0xffff;
  setReg(c, i.reg, 4, w, 0);
}

/** PMOVMSKB r32, mm */
function mPmovmskb(c: Cpu, i: Insn): void {
  mmxEnter(c);
  const s = i.rm & 7;
  const lo = c.fpu.sigLo[s];
  const hi = c.fpu.sigHi[s];
  let m = 0;
  for (let k = 0; k < 4; k++) { m |= ((lo >>> (8 * k + 7)) & 1) << k; m |= ((hi >>> (8 * k + 7)) & 1) << (k + 4); }
  setReg(c, i.reg, 4, m, 0);
}

function byteOf(lo: number, hi: number, k: number): number {
  return ((k < 4 ? lo : hi) >>> (8 * (k & 3))) & 0xff;
}

/** MASKMOVQ mm, mm: bytes of MMreg selected by the mask's sign bits to DS:rDI */
function mMaskmovq(c: Cpu, i: Insn): void {
  mmxEnter(c);
  const f = c.fpu;
  const m = i.rm & 7;
  const s = i.reg & 7;
  const lin = maskMoveLinear(c, i);
  let first = -1;
  let last = -1;
  for (let k = 0; k < 8; k++) if ((byteOf(f.sigLo[m], f.sigHi[m], k) & 0x80) !== 0) { if (first < 0) first = k; last = k; }
  if (first >= 0) {
    translate(c, lin + first, Acc.Write);
    translate(c, lin + last, Acc.Write);
    for (let k = first; k <= last; k++) {
      if ((byteOf(f.sigLo[m], f.sigHi[m], k) & 0x80) !== 0) write8(c, lin + k, byteOf(f.sigLo[s], f.sigHi[s], k));
    }
  }
}

/** an SSE instruction with an MMX operand: SSE checks, a pending x87 exception -> #MF, then the transition */
function sseMmxCheck(c: Cpu): void {
  sseCheck(c);
  if ((c.fpu.fsw & FSW_ES) !== 0) raise(Vec.MF, 0);
  toMmx(c);
}

/** MOVQ2DQ xmm, mm */
function movq2dq(c: Cpu, i: Insn): void {
  sseMmxCheck(c);
  const s = i.rm & 7;
  const x = c.fpu.xmm;
  const d = i.reg << 2;
  x[d] = c.fpu.sigLo[s] | 0; x[d + 1] = c.fpu.sigHi[s] | 0; x[d + 2] = 0; x[d + 3] = 0;
}

/** MOVDQ2Q mm, xmm */
function movdq2q(c: Cpu, i: Insn): void {
  sseMmxCheck(c);
  const s = i.rm << 2;
  setMm(c, i.reg & 7, c.fpu.xmm[s], c.fpu.xmm[s + 1]);
}

let pre = 0;
let post = 0;
function gather(): void {
  pre |= sf.flags & 7;
  post |= sf.flags & 0x38;
}

/**
 * MMX conversions (arg): 0 CVTPI2PS xmm, mm/m64; 1 CVTPI2PD xmm, mm/m64; 2 CVTPS2PI mm,
 * xmm/m64; 3 CVTTPS2PI; 4 CVTPD2PI mm, xmm/m128; 5 CVTTPD2PI. The integer sources from memory
 * make no MMX transition (nor the #MF check).
 */
function mCvt(c: Cpu, i: Insn): void {
  const a = i.arg;
  const ctl = sseCtl(c.fpu.mxcsr);
  pre = 0;
  post = 0;
  if (a <= 1) {
    const mmxSrc = i.rm >= 0;
    if (mmxSrc) sseMmxCheck(c); else sseCheck(c);
    loadQ(c, i, 8);
    const x = c.fpu.xmm;
    const d = i.reg << 2;
    if (a === 0) {
      i32ToF32(qLo, ctl); gather(); const r0 = sf.rLo;
      i32ToF32(qHi, ctl); gather(); const r1 = sf.rLo;
      commitExc(c, pre, post);
      x[d] = r0; x[d + 1] = r1;
    } else {
      i32ToF64(qLo); const l0 = sf.rLo; const h0 = sf.rHi;
      i32ToF64(qHi);
      x[d] = l0; x[d + 1] = h0; x[d + 2] = sf.rLo; x[d + 3] = sf.rHi;
    }
    return;
  }
  const tr = a === 3 || a === 5;
  let r0: number;
  let r1: number;
  if (a <= 3) {
    sseMmxCheck(c);
    const w = loadW64(c, i);
    const s0 = w[0];
    const s1 = w[1];
    f32ToI32(s0, ctl, tr); gather(); r0 = sf.rLo;
    f32ToI32(s1, ctl, tr); gather(); r1 = sf.rLo;
  } else {
    // the 16-byte alignment #GP comes before the MMX transition (as on the host CPU)
    sseCheck(c);
    if ((c.fpu.fsw & FSW_ES) !== 0) raise(Vec.MF, 0);
    let w: Int32Array;
    if (i.rm >= 0) { toMmx(c); w = loadW(c, i, ALIGN_LEGACY); } else {
      const lin = ea(c, i);
      checkAlign(c, lin, ALIGN_LEGACY);
      toMmx(c);
      read128(c, lin, W);
      w = W;
    }
    f64ToI32(w[0], w[1], ctl, tr); gather(); r0 = sf.rLo;
    f64ToI32(w[2], w[3], ctl, tr); gather(); r1 = sf.rLo;
  }
  commitExc(c, pre, post);
  setMm(c, i.reg & 7, r0, r1);
}

export const handlers = {
  mInt, mShiftI, mPalignr, mMovdLoad, mMovdStore, mMovq, mPshufw, mPinsrw, mPextrw, mPmovmskb, mMaskmovq,
  movq2dq, movdq2q, mCvt,
};
