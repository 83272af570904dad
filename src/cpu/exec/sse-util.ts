/**
 * Operand access shared by the SSE families: the W operand (an XMM register or 16/8/4 bytes of
 * memory) into a scratch array, 16-byte stores that check both pages before writing, the
 * 16-byte alignment rule, and the SIMD floating-point exception commit.
 *
 * Alignment (APM Vol. 1 4.3.2, Vol. 4 each instruction's #GP conditions): a legacy SSE
 * instruction with a 16-byte memory operand raises #GP(0) when it is not 16-byte aligned,
 * except the explicitly unaligned ones (MOVUPS/MOVUPD/MOVDQU/LDDQU, arg 0). With MXCSR.MM = 1
 * (AMD misaligned SSE mode, CPUID 8000_0001 ECX MisAlignSse) the check is dropped for all but
 * the strictly aligned moves MOVAPS/MOVAPD/MOVDQA/MOVNTPS/MOVNTPD/MOVNTDQ (arg 2).
 */

import type { Cpu } from '../cpu.js';
import { Pfx, type Insn } from '../../x86/insn.js';
import { raise } from '../fault.js';
import { Acc, read32, read64, translate, write64 } from '../mmu.js';
import { ea } from '../operands.js';
import { S, TWO32, Vec } from '../state.js';
import { CR4_OSXMMEXCPT } from '../fpu/checks.js';
import { CTL_DAZ, CTL_OM, CTL_UM, f32ToF80, f64ToF80, f80Add, f80Div, f80Mul, f80Sqrt, f80Sub, sf } from '../fpu/softfloat.js';

export const MXCSR_MM = 1 << 17;
export const MXCSR_DAZ = 1 << 6;
export const MXCSR_FZ = 1 << 15;

/** alignment kinds of a 16-byte memory operand */
export const ALIGN_NONE = 0;
export const ALIGN_LEGACY = 1;
export const ALIGN_STRICT = 2;

/** the W operand of the current instruction (lane 0 = bits 31:0) */
export const W = new Int32Array(4);
/** a result being built before it is committed */
export const RES = new Int32Array(4);

/** #GP(0) for a misaligned 16-byte operand, per the rule above */
/**
 * The destination of MASKMOVQ / MASKMOVDQU: DS:rDI (or the override's segment) as a linear
 * address; in 64-bit mode rDI is zero-extended with a 67 prefix, only FS/GS add a base, and a
 * non-canonical address is #GP(0)
 */
export function maskMoveLinear(c: Cpu, i: Insn): number {
  const seg = (i.pfx & Pfx.Seg) !== 0 ? i.seg : S.DS;
  if (c.bits === 64) {
    const hi = i.adsize === 8 ? c.rh[7] : 0;
    const lin = hi * TWO32 + (c.rl[7] >>> 0) + (seg >= S.FS ? c.segBase[seg] : 0);
    if (lin >= 0x800000000000 || lin < -0x800000000000) raise(Vec.GP, 0);
    return lin;
  }
  const off = i.adsize === 4 ? c.rl[7] >>> 0 : c.rl[7] & 0xffff;
  return (c.segBase[seg] + off) % TWO32;
}

export function checkAlign(c: Cpu, lin: number, align: number): void {
  if (align !== ALIGN_NONE && (lin & 15) !== 0 && (align === ALIGN_STRICT || (c.fpu.mxcsr & MXCSR_MM) === 0)) {
    raise(Vec.GP, 0);
  }
}

/** read 16 bytes at `lin` into `out` */
export function read128(c: Cpu, lin: number, out: Int32Array): void {
  const lo = read64(c, lin);
  const lh = c.xh;
  const hi = read64(c, lin + 8);
  out[0] = lo; out[1] = lh; out[2] = hi; out[3] = c.xh;
}

/** write 16 bytes at `lin`: both pages are checked before anything is written */
export function write128(c: Cpu, lin: number, v0: number, v1: number, v2: number, v3: number): void {
  translate(c, lin, Acc.Write);
  if ((lin & 0xfff) > 0xff0) translate(c, lin + 15, Acc.Write);
  write64(c, lin, v0, v1);
  write64(c, lin + 8, v2, v3);
}

/** the full 128-bit W operand into W */
export function loadW(c: Cpu, i: Insn, align: number): Int32Array {
  if (i.rm >= 0) {
    const x = c.fpu.xmm;
    const b = i.rm << 2;
    W[0] = x[b]; W[1] = x[b + 1]; W[2] = x[b + 2]; W[3] = x[b + 3];
  } else {
    const lin = ea(c, i);
    checkAlign(c, lin, align);
    read128(c, lin, W);
  }
  return W;
}

/** the low 64 bits of W (memory: 8 bytes, no alignment rule) into W[0..1] */
export function loadW64(c: Cpu, i: Insn): Int32Array {
  if (i.rm >= 0) {
    const b = i.rm << 2;
    W[0] = c.fpu.xmm[b]; W[1] = c.fpu.xmm[b + 1];
  } else {
    W[0] = read64(c, ea(c, i));
    W[1] = c.xh;
  }
  return W;
}

/** the low 32 bits of W into W[0] */
export function loadW32(c: Cpu, i: Insn): Int32Array {
  W[0] = i.rm >= 0 ? c.fpu.xmm[i.rm << 2] : read32(c, ea(c, i));
  return W;
}

/** the scalar source of a scalar FP instruction: 4 or 8 bytes by `dbl` */
export function loadWs(c: Cpu, i: Insn, dbl: boolean): Int32Array {
  return dbl ? loadW64(c, i) : loadW32(c, i);
}

/** RES into XMM register r */
export function storeRes(c: Cpu, r: number): void {
  const x = c.fpu.xmm;
  const b = r << 2;
  x[b] = RES[0]; x[b + 1] = RES[1]; x[b + 2] = RES[2]; x[b + 3] = RES[3];
}

/** true when the lane's flags hold an overflow or underflow that MXCSR leaves unmasked */
export function unmaskedOU(flags: number, mxcsr: number): boolean {
  return (flags & ~(mxcsr >> 7) & 0x18) !== 0;
}

/**
 * Commit SIMD floating-point exceptions (APM Vol. 1 4.10.4, Vol. 4 "SIMD Floating-Point
 * Exceptions"): `pre` are the flags of the pre-computation checks (IE, DE, ZE) and `post` of the
 * post-computation ones (OE, UE, PE) over all lanes. An unmasked pre-computation exception
 * stops before the post-computation ones are considered; either way the flags found are set in
 * MXCSR, the destination is left unchanged and #XM (CR4.OSXMMEXCPT = 1) or #UD is raised.
 * Returns normally when every exception raised is masked, with the flags set.
 */
export function commitExc(c: Cpu, pre: number, post: number): void {
  const f = c.fpu;
  const masks = (f.mxcsr >> 7) & 0x3f;
  if ((pre & ~masks) !== 0) {
    f.mxcsr |= pre;
    raise((c.cr4 & CR4_OSXMMEXCPT) !== 0 ? Vec.XM : Vec.UD, 0);
  }
  const all = pre | post;
  f.mxcsr |= all;
  if ((post & ~masks) !== 0) raise((c.cr4 & CR4_OSXMMEXCPT) !== 0 ? Vec.XM : Vec.UD, 0);
}

// ---- the precision flag of a lane whose overflow or underflow is unmasked ----

/**
 * With OE or UE unmasked and raised, the host CPU reports PE only when the result's
 * significand, rounded at its own exponent (no overflow or denormalisation), is inexact: the
 * exception handler sees the bias-adjusted result (APM Vol. 1 4.10.4.4/5, Intel SDM 11.5.2.4).
 * That rounding is redone here in the x87 format with precision control (24 or 53 bits), whose
 * exponent range holds any f32/f64 result. `op`: 0 add, 1 mul, 2 sub, 4 div, 6 sqrt, 8 round
 * (a conversion: `a` is the f64 value to round to f32).
 */
export function unboundedPE(op: number, dbl: boolean, aLo: number, aHi: number, bLo: number, bHi: number, ctl: number): number {
  const daz = (ctl & CTL_DAZ) !== 0;
  const pc = (dbl ? 2 : 0) << 4;
  const c80 = (ctl & 3) | pc | CTL_UM | CTL_OM;
  if (op === 8) {
    if (daz && (aHi & 0x7ff00000) === 0) return 0;
    // times 1.0 at 24-bit precision: the rounding to binary32's significand, unbounded
    f64ToF80(aLo, aHi);
    f80Mul(sf.rLo, sf.rHi, sf.rSe, 0, 0x80000000 | 0, 0x3fff, (ctl & 3) | CTL_UM | CTL_OM);
    return sf.flags & 0x20;
  }
  if (dbl) {
    if (daz && (aHi & 0x7ff00000) === 0) { aLo = 0; aHi &= 0x80000000; }
    if (daz && (bHi & 0x7ff00000) === 0) { bLo = 0; bHi &= 0x80000000; }
    f64ToF80(aLo, aHi);
  } else {
    if (daz && (aLo & 0x7f800000) === 0) aLo &= 0x80000000;
    if (daz && (bLo & 0x7f800000) === 0) bLo &= 0x80000000;
    f32ToF80(aLo);
  }
  const xl = sf.rLo, xh = sf.rHi, xs = sf.rSe;
  if (dbl) f64ToF80(bLo, bHi); else f32ToF80(bLo);
  const yl = sf.rLo, yh = sf.rHi, ys = sf.rSe;
  switch (op) {
    case 0: f80Add(xl, xh, xs, yl, yh, ys, c80); break;
    case 1: f80Mul(xl, xh, xs, yl, yh, ys, c80); break;
    case 2: f80Sub(xl, xh, xs, yl, yh, ys, c80); break;
    case 4: f80Div(xl, xh, xs, yl, yh, ys, c80); break;
    default: f80Sqrt(yl, yh, ys, c80);
  }
  return sf.flags & 0x20;
}
