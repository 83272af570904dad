/**
 * SSE/SSE2 conversions (AMD64 APM Vol. 4): CVTSI2SS/SD and CVT(T)SS2SI/CVT(T)SD2SI with 32- and
 * 64-bit integers (REX.W), CVTPS2PD/CVTPD2PS, CVTSS2SD/CVTSD2SS, CVTDQ2PS, CVT(T)PS2DQ,
 * CVTDQ2PD, CVT(T)PD2DQ. The MMX-register forms (CVTPI2PS, CVTPS2PI, CVTTPS2PI, CVTPI2PD,
 * CVTPD2PI, CVTTPD2PI) are not implemented.
 *
 * Rounding by MXCSR.RC (the T forms truncate); a NaN or out-of-range value converts to the
 * integer indefinite (80000000h / 8000000000000000h) with IE. Exceptions are committed as in
 * sse-fp.ts: an unmasked one leaves the destination unchanged.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { sseCheck } from '../fpu/checks.js';
import {
  f32ToF64, f32ToI32, f32ToI64, f64ToF32, f64ToI32, f64ToI64, i32ToF32, i32ToF64, i64ToF32, i64ToF64, sf,
} from '../fpu/softfloat.js';
import { read64, readN } from '../mmu.js';
import { ea } from '../operands.js';
import { getReg, setReg } from '../regs.js';
import { sseCtl } from './sse-fp.js';
import { ALIGN_LEGACY, commitExc, loadW, loadWs, RES, storeRes } from './sse-util.js';

let pre = 0;
let post = 0;
function gather(): void {
  pre |= sf.flags & 7;
  post |= sf.flags & 0x38;
}

/** CVTSI2SS (arg 0) / CVTSI2SD (arg 1) xmm, r/m32 or r/m64 */
function sseCvtI2F(c: Cpu, i: Insn): void {
  sseCheck(c);
  const size = (i.rex & 8) !== 0 ? 8 : 4;
  let lo: number;
  let hi: number;
  if (i.rm >= 0) { lo = getReg(c, i.rm, size); hi = c.xh; } else if (size === 8) { lo = read64(c, ea(c, i)); hi = c.xh; } else {
    lo = readN(c, ea(c, i), 4); hi = 0;
  }
  const ctl = sseCtl(c.fpu.mxcsr);
  if (i.arg === 0) {
    if (size === 8) i64ToF32(lo, hi, ctl); else i32ToF32(lo, ctl);
  } else if (size === 8) i64ToF64(lo, hi, ctl); else i32ToF64(lo);
  commitExc(c, sf.flags & 7, sf.flags & 0x38);
  const d = i.reg << 2;
  c.fpu.xmm[d] = sf.rLo;
  if (i.arg === 1) c.fpu.xmm[d + 1] = sf.rHi;
}

/** CVT(T)SS2SI (arg bit 0 clear) / CVT(T)SD2SI (set); arg bit 1: truncate */
function sseCvtF2I(c: Cpu, i: Insn): void {
  sseCheck(c);
  const dbl = (i.arg & 1) !== 0;
  const tr = (i.arg & 2) !== 0;
  const w = loadWs(c, i, dbl);
  const ctl = sseCtl(c.fpu.mxcsr);
  const size = (i.rex & 8) !== 0 ? 8 : 4;
  if (dbl) {
    if (size === 8) f64ToI64(w[0], w[1], ctl, tr); else f64ToI32(w[0], w[1], ctl, tr);
  } else if (size === 8) f32ToI64(w[0], ctl, tr); else f32ToI32(w[0], ctl, tr);
  commitExc(c, sf.flags & 7, sf.flags & 0x38);
  setReg(c, i.reg, size, sf.rLo, sf.rHi);
}

/**
 * Packed and scalar conversions (arg): 0 CVTPS2PD, 1 CVTPD2PS, 2 CVTSS2SD, 3 CVTSD2SS,
 * 4 CVTDQ2PS, 5 CVTPS2DQ, 6 CVTTPS2DQ, 7 CVTDQ2PD, 8 CVTPD2DQ, 9 CVTTPD2DQ
 */
function sseCvt(c: Cpu, i: Insn): void {
  sseCheck(c);
  const a = i.arg;
  // 64-bit sources: CVTPS2PD, CVTDQ2PD (m64), CVTSD2SS; 32-bit: CVTSS2SD; else 128 bits aligned
  const w = a === 0 || a === 7 || a === 3 ? loadWs(c, i, true) : a === 2 ? loadWs(c, i, false) : loadW(c, i, ALIGN_LEGACY);
  const x = c.fpu.xmm;
  const d = i.reg << 2;
  const ctl = sseCtl(c.fpu.mxcsr);
  pre = 0; post = 0;
  RES[0] = x[d]; RES[1] = x[d + 1]; RES[2] = x[d + 2]; RES[3] = x[d + 3];
  switch (a) {
    case 0: {
      const s0 = w[0]; const s1 = w[1];
      f32ToF64(s0, ctl); gather(); RES[0] = sf.rLo; RES[1] = sf.rHi;
      f32ToF64(s1, ctl); gather(); RES[2] = sf.rLo; RES[3] = sf.rHi;
      break;
    }
    case 1:
      f64ToF32(w[0], w[1], ctl); gather(); RES[0] = sf.rLo;
      f64ToF32(w[2], w[3], ctl); gather(); RES[1] = sf.rLo;
      RES[2] = 0; RES[3] = 0;
      break;
    case 2: f32ToF64(w[0], ctl); gather(); RES[0] = sf.rLo; RES[1] = sf.rHi; break;
    case 3: f64ToF32(w[0], w[1], ctl); gather(); RES[0] = sf.rLo; break;
    case 4: for (let k = 0; k < 4; k++) { i32ToF32(w[k], ctl); gather(); RES[k] = sf.rLo; } break;
    case 5: case 6: for (let k = 0; k < 4; k++) { f32ToI32(w[k], ctl, a === 6); gather(); RES[k] = sf.rLo; } break;
    case 7: {
      const s0 = w[0]; const s1 = w[1];
      i32ToF64(s0); RES[0] = sf.rLo; RES[1] = sf.rHi;
      i32ToF64(s1); RES[2] = sf.rLo; RES[3] = sf.rHi;
      break;
    }
    default:
      f64ToI32(w[0], w[1], ctl, a === 9); gather(); RES[0] = sf.rLo;
      f64ToI32(w[2], w[3], ctl, a === 9); gather(); RES[1] = sf.rLo;
      RES[2] = 0; RES[3] = 0;
  }
  commitExc(c, pre, post);
  storeRes(c, i.reg);
}

export const handlers = { sseCvtI2F, sseCvtF2I, sseCvt };
