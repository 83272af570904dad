/**
 * SSE/SSE2/SSE3 data movement (AMD64 APM Vol. 4): MOVUPS/MOVAPS/MOVUPD/MOVAPD/MOVDQU/MOVDQA/
 * LDDQU/MOVNTPS/MOVNTPD/MOVNTDQ, MOVSS/MOVSD, MOVLPS/MOVHPS/MOVLPD/MOVHPD, MOVHLPS/MOVLHPS,
 * MOVD/MOVQ, MOVMSKPS/MOVMSKPD/PMOVMSKB, MOVNTI, MASKMOVDQU, MOVSLDUP/MOVSHDUP/MOVDDUP, the
 * shuffles (PSHUFD/PSHUFHW/PSHUFLW/SHUFPS/SHUFPD), PINSRW/PEXTRW, and EMMS. Non-temporal hints
 * are architecturally plain stores here (no caches are modelled).
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { mmxCheck, sseCheck } from '../fpu/checks.js';
import { Acc, read16, read64, translate, write32, write64, write8, writeN } from '../mmu.js';
import { ea } from '../operands.js';
import { getReg, setReg } from '../regs.js';
import { ALIGN_LEGACY, checkAlign, loadW, loadW32, loadW64, RES, storeRes, write128, maskMoveLinear } from './sse-util.js';

/** V = W (128 bits); arg = alignment kind */
function sseLoad(c: Cpu, i: Insn): void {
  sseCheck(c);
  const w = loadW(c, i, i.arg);
  const x = c.fpu.xmm;
  const b = i.reg << 2;
  x[b] = w[0]; x[b + 1] = w[1]; x[b + 2] = w[2]; x[b + 3] = w[3];
}

/** W = V (128 bits); arg = alignment kind */
function sseStore(c: Cpu, i: Insn): void {
  sseCheck(c);
  const x = c.fpu.xmm;
  const s = i.reg << 2;
  if (i.rm >= 0) {
    const d = i.rm << 2;
    x[d] = x[s]; x[d + 1] = x[s + 1]; x[d + 2] = x[s + 2]; x[d + 3] = x[s + 3];
    return;
  }
  const lin = ea(c, i);
  checkAlign(c, lin, i.arg);
  write128(c, lin, x[s], x[s + 1], x[s + 2], x[s + 3]);
}

/** MOVSS/MOVSD load: register source merges the low lane(s); memory zeroes the rest */
function sseMovS(c: Cpu, i: Insn): void {
  sseCheck(c);
  const x = c.fpu.xmm;
  const d = i.reg << 2;
  if (i.rm >= 0) {
    const s = i.rm << 2;
    x[d] = x[s];
    if (i.arg === 8) x[d + 1] = x[s + 1];
    return;
  }
  if (i.arg === 8) {
    const w = loadW64(c, i);
    x[d] = w[0]; x[d + 1] = w[1];
  } else {
    x[d] = loadW32(c, i)[0]; x[d + 1] = 0;
  }
  x[d + 2] = 0; x[d + 3] = 0;
}

/** MOVSS/MOVSD store */
function sseMovSStore(c: Cpu, i: Insn): void {
  sseCheck(c);
  const x = c.fpu.xmm;
  const s = i.reg << 2;
  if (i.rm >= 0) {
    const d = i.rm << 2;
    x[d] = x[s];
    if (i.arg === 8) x[d + 1] = x[s + 1];
    return;
  }
  if (i.arg === 8) write64(c, ea(c, i), x[s], x[s + 1]);
  else write32(c, ea(c, i), x[s]);
}

/** MOVLPS/MOVLPD (arg 0) and MOVHPS/MOVHPD (arg 1) loads: one half of V from m64 */
function sseHalfLoad(c: Cpu, i: Insn): void {
  sseCheck(c);
  const lo = read64(c, ea(c, i));
  const d = (i.reg << 2) + (i.arg << 1);
  c.fpu.xmm[d] = lo;
  c.fpu.xmm[d + 1] = c.xh;
}

/** MOVLPS/MOVLPD (arg 0) and MOVHPS/MOVHPD (arg 1) stores */
function sseHalfStore(c: Cpu, i: Insn): void {
  sseCheck(c);
  const s = (i.reg << 2) + (i.arg << 1);
  write64(c, ea(c, i), c.fpu.xmm[s], c.fpu.xmm[s + 1]);
}

/** MOVHLPS (arg 0): low half of V = high half of U; MOVLHPS (arg 1): high half = low half */
function sseMovHL(c: Cpu, i: Insn): void {
  sseCheck(c);
  const x = c.fpu.xmm;
  const d = (i.reg << 2) + (i.arg === 0 ? 0 : 2);
  const s = (i.rm << 2) + (i.arg === 0 ? 2 : 0);
  const a = x[s];
  const b = x[s + 1];
  x[d] = a; x[d + 1] = b;
}

/** MOVSLDUP (0), MOVSHDUP (1), MOVDDUP (2) */
function sseDup(c: Cpu, i: Insn): void {
  sseCheck(c);
  const w = i.arg === 2 ? loadW64(c, i) : loadW(c, i, ALIGN_LEGACY);
  if (i.arg === 2) { RES[0] = w[0]; RES[1] = w[1]; RES[2] = w[0]; RES[3] = w[1]; }
  else { const k = i.arg; RES[0] = w[k]; RES[1] = w[k]; RES[2] = w[2 + k]; RES[3] = w[2 + k]; }
  storeRes(c, i.reg);
}

/** MOVMSKPS (0), MOVMSKPD (1), PMOVMSKB (2): sign bits into a 32-bit register */
function sseMovmsk(c: Cpu, i: Insn): void {
  sseCheck(c);
  const x = c.fpu.xmm;
  const s = i.rm << 2;
  let m = 0;
  if (i.arg === 0) {
    for (let k = 0; k < 4; k++) m |= (x[s + k] >>> 31) << k;
  } else if (i.arg === 1) {
    m = (x[s + 1] >>> 31) | ((x[s + 3] >>> 31) << 1);
  } else {
    for (let k = 0; k < 16; k++) m |= ((x[s + (k >> 2)] >>> (8 * (k & 3) + 7)) & 1) << k;
  }
  setReg(c, i.reg, 4, m, 0);
}

/** MOVD/MOVQ xmm, r/m32/64: zero-extended into V */
function sseMovdLoad(c: Cpu, i: Insn): void {
  sseCheck(c);
  const size = (i.rex & 8) !== 0 ? 8 : 4;
  let lo: number;
  let hi = 0;
  if (i.rm >= 0) { lo = getReg(c, i.rm, size); hi = c.xh; } else if (size === 8) { lo = read64(c, ea(c, i)); hi = c.xh; } else {
    lo = loadW32(c, i)[0];
  }
  const d = i.reg << 2;
  const x = c.fpu.xmm;
  x[d] = lo; x[d + 1] = hi; x[d + 2] = 0; x[d + 3] = 0;
}

/** MOVD/MOVQ r/m32/64, xmm */
function sseMovdStore(c: Cpu, i: Insn): void {
  sseCheck(c);
  const size = (i.rex & 8) !== 0 ? 8 : 4;
  const s = i.reg << 2;
  const x = c.fpu.xmm;
  if (i.rm >= 0) setReg(c, i.rm, size, x[s], x[s + 1]);
  else writeN(c, ea(c, i), size, x[s], x[s + 1]);
}

/** MOVQ xmm, xmm/m64 (F3 0F 7E, arg 0) and MOVQ xmm/m64, xmm (66 0F D6, arg 1): the upper half of a register destination is zeroed */
function sseMovq(c: Cpu, i: Insn): void {
  sseCheck(c);
  const x = c.fpu.xmm;
  if (i.arg === 0) {
    const w = loadW64(c, i);
    const d = i.reg << 2;
    x[d] = w[0]; x[d + 1] = w[1]; x[d + 2] = 0; x[d + 3] = 0;
    return;
  }
  const s = i.reg << 2;
  if (i.rm >= 0) {
    const d = i.rm << 2;
    x[d] = x[s]; x[d + 1] = x[s + 1]; x[d + 2] = 0; x[d + 3] = 0;
  } else {
    write64(c, ea(c, i), x[s], x[s + 1]);
  }
}

/**
 * MOVNTI m32/m64, r32/r64: an SSE2 instruction on general registers, so none of the SSE
 * state checks (CR0.EM/TS, CR4.OSFXSR) apply (APM Vol. 3 MOVNTI)
 */
function movnti(c: Cpu, i: Insn): void {
  const size = (i.rex & 8) !== 0 ? 8 : 4;
  const lo = getReg(c, i.reg, size);
  writeN(c, ea(c, i), size, lo, c.xh);
}

/**
 * MASKMOVDQU: the bytes of V whose mask byte in U has bit 7 set go to DS:rDI (a segment
 * override applies). Every page a selected byte touches is checked before anything is
 * written; with an all-zero mask nothing is accessed.
 */
function maskmovdqu(c: Cpu, i: Insn): void {
  sseCheck(c);
  const x = c.fpu.xmm;
  const m = i.rm << 2;
  const s = i.reg << 2;
  const lin = maskMoveLinear(c, i);
  let first = -1;
  let last = -1;
  for (let k = 0; k < 16; k++) {
    if (((x[m + (k >> 2)] >>> (8 * (k & 3) + 7)) & 1) !== 0) { if (first < 0) first = k; last = k; }
  }
  if (first < 0) return;
  translate(c, lin + first, Acc.Write);
  translate(c, lin + last, Acc.Write);
  for (let k = first; k <= last; k++) {
    if (((x[m + (k >> 2)] >>> (8 * (k & 3) + 7)) & 1) !== 0) write8(c, lin + k, x[s + (k >> 2)] >>> (8 * (k & 3)));
  }
}

/** PSHUFD (0), PSHUFHW (1), PSHUFLW (2), SHUFPS (3), SHUFPD (4) */
function pShuf(c: Cpu, i: Insn): void {
  sseCheck(c);
  const w = loadW(c, i, ALIGN_LEGACY);
  const x = c.fpu.xmm;
  const d = i.reg << 2;
  const imm = i.imm & 0xff;
  switch (i.arg) {
    case 0:
      for (let k = 0; k < 4; k++) RES[k] = w[(imm >> (2 * k)) & 3];
      break;
    case 1: case 2: {
      const base = i.arg === 1 ? 2 : 0; // the dword pair holding the shuffled words
      RES[0] = w[0]; RES[1] = w[1]; RES[2] = w[2]; RES[3] = w[3];
      let a = 0;
      let b = 0;
      for (let k = 0; k < 4; k++) {
        const sel = (imm >> (2 * k)) & 3;
        const word = (w[base + (sel >> 1)] >>> (16 * (sel & 1))) & 0xffff;
        if (k < 2) a |= word << (16 * k); else b |= word << (16 * (k - 2));
      }
      RES[base] = a; RES[base + 1] = b;
      break;
    }
    case 3:
      RES[0] = x[d + (imm & 3)]; RES[1] = x[d + ((imm >> 2) & 3)];
      RES[2] = w[(imm >> 4) & 3]; RES[3] = w[(imm >> 6) & 3];
      break;
    default: {
      const a = (imm & 1) << 1;
      const b = ((imm >> 1) & 1) << 1;
      RES[0] = x[d + a]; RES[1] = x[d + a + 1]; RES[2] = w[b]; RES[3] = w[b + 1];
    }
  }
  storeRes(c, i.reg);
}

/** PINSRW xmm, r32/m16, imm8 */
function pinsrw(c: Cpu, i: Insn): void {
  sseCheck(c);
  const v = (i.rm >= 0 ? c.rl[i.rm] : read16(c, ea(c, i))) & 0xffff;
  const k = i.imm & 7;
  const x = c.fpu.xmm;
  const p = (i.reg << 2) + (k >> 1);
  const sh = 16 * (k & 1);
  x[p] = (x[p] & ~(0xffff << sh)) | (v << sh);
}

/** PEXTRW r32, xmm, imm8 (zero-extended into the register) */
function pextrw(c: Cpu, i: Insn): void {
  sseCheck(c);
  const k = i.imm & 7;
  const v = (c.fpu.xmm[(i.rm << 2) + (k >> 1)] >>> (16 * (k & 1))) & 0xffff;
  setReg(c, i.reg, 4, v, 0);
}

/** EMMS: every x87 register tagged empty and TOP cleared (APM Vol. 5 EMMS; as the host does) */
function emms(c: Cpu, _i: Insn): void {
  mmxCheck(c);
  c.fpu.ftw = 0xffff;
  c.fpu.fsw &= ~0x3800;
}

export const handlers = {
  sseLoad, sseStore, sseMovS, sseMovSStore, sseHalfLoad, sseHalfStore, sseMovHL, sseDup, sseMovmsk,
  sseMovdLoad, sseMovdStore, sseMovq, movnti, maskmovdqu, pShuf, pinsrw, pextrw, emms,
};
