/**
 * x87 arithmetic, compares, loads and stores (AMD64 APM Vol. 5; Vol. 1 6.4 for exceptions).
 *
 * Every handler first makes the #NM/#MF checks (fpu/checks.ts), reads its memory operand (so a
 * fault leaves the x87 state unchanged), records FIP/FCS/FOP (and FDP/FDS for memory forms),
 * then computes with the software float (fpu/softfloat.ts). Exceptions: an unmasked IE, DE or
 * ZE leaves the destination and the stack unchanged; unmasked OE/UE deliver the bias-adjusted
 * result to a register (and store nothing to memory); any unmasked exception sets ES and B so
 * that the next waiting x87 instruction raises #MF (APM Vol. 1 6.4.2-6.4.3).
 *
 * Table rows pass `arg`: bits 10:8 the low bits of the first opcode byte (for FOP), the rest
 * per handler.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import type { FpuState } from '../fpu/state.js';
import { x87Check } from '../fpu/checks.js';
import {
  sf, f32ToF80, f64ToF80, i64ToF80, f80Add, f80Sub, f80Mul, f80Div, f80Cmp, f80ToF32, f80ToF64,
  f80ToI16, f80ToI32, f80ToI64, Exc,
} from '../fpu/softfloat.js';
import {
  Sw, ctlOf, phys, isEmpty, writePhys, signal, setC1, stackFault, pushValue, pop, top,
  notePointers, read80, write80, m80, IND_LO, IND_HI, IND_SE,
} from '../fpu/x87core.js';
import { ea } from '../operands.js';
import { readN, writeN, probeWrite } from '../mmu.js';
import { cond, setArith } from '../flags.js';

// the source operand of a memory form, as an f80, with the flags its conversion raised
let sLo = 0, sHi = 0, sSe = 0, sFl = 0;

/**
 * Read a memory source: kind 0 m32 real, 1 m32 integer, 2 m64 real, 3 m16 integer (the D8, DA,
 * DC, DE order), 4 m80 real, 5 m64 integer. Real operands keep their SNaN-ness (the arithmetic
 * applies the NaN rules and raises IE); a denormal m32/m64 raises DE here.
 */
function loadSrc(c: Cpu, lin: number, kind: number): void {
  sFl = 0;
  switch (kind) {
    case 0: {
      const v = readN(c, lin, 4) >>> 0;
      f32ToF80(v);
      sFl = sf.flags & Exc.DE;
      sLo = sf.rLo; sHi = sf.rHi; sSe = sf.rSe;
      if ((v & 0x7f800000) === 0x7f800000 && (v & 0x7fffff) !== 0 && (v & 0x400000) === 0) sHi = (sHi & ~0x40000000) >>> 0;
      return;
    }
    case 2: {
      const lo = readN(c, lin, 8), hi = c.xh;
      f64ToF80(lo, hi);
      sFl = sf.flags & Exc.DE;
      sLo = sf.rLo; sHi = sf.rHi; sSe = sf.rSe;
      if ((hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) | lo) !== 0 && (hi & 0x80000) === 0) sHi = (sHi & ~0x40000000) >>> 0;
      return;
    }
    case 1: { const v = readN(c, lin, 4) | 0; i64ToF80(v, v >> 31); break; }
    case 3: { const v = (readN(c, lin, 2) << 16) >> 16; i64ToF80(v, v >> 31); break; }
    case 4: read80(c, lin); sLo = m80.lo; sHi = m80.hi; sSe = m80.se; return;
    default: { const lo = readN(c, lin, 8); i64ToF80(lo, c.xh); break; }
  }
  sLo = sf.rLo; sHi = sf.rHi; sSe = sf.rSe;
}

/** ST(dst) = a op b (op: 0 add, 1 mul, 4 sub, 5 subr, 6 div, 7 divr); then pop if asked */
function binop(f: FpuState, op: number, aLo: number, aHi: number, aSe: number, bLo: number, bHi: number, bSe: number,
  dst: number, extra: number, doPop: boolean): void {
  const ctl = ctlOf(f);
  switch (op) {
    case 0: f80Add(aLo, aHi, aSe, bLo, bHi, bSe, ctl); break;
    case 1: f80Mul(aLo, aHi, aSe, bLo, bHi, bSe, ctl); break;
    case 4: f80Sub(aLo, aHi, aSe, bLo, bHi, bSe, ctl); break;
    case 5: f80Sub(bLo, bHi, bSe, aLo, aHi, aSe, ctl); break;
    case 6: f80Div(aLo, aHi, aSe, bLo, bHi, bSe, ctl); break;
    default: f80Div(bLo, bHi, bSe, aLo, aHi, aSe, ctl); break;
  }
  // a NaN result from a NaN operand does not report the other operand's denormal
  // (nor does a divide by zero)
  const fl = ((sf.rSe & 0x7fff) === 0x7fff && (sf.rHi & 0x7fffffff | sf.rLo) !== 0) || (sf.flags & Exc.ZE) !== 0 ? sf.flags : sf.flags | extra;
  const um = fl & ~f.fcw & (Exc.IE | Exc.DE | Exc.ZE);
  setC1(f, 0);
  if (um !== 0) { signal(f, fl & (Exc.IE | Exc.DE | Exc.ZE)); return; }
  signal(f, fl);
  setC1(f, sf.c1);
  writePhys(f, dst, sf.rLo, sf.rHi, sf.rSe);
  if (doPop) pop(f);
}

/** D8/DA/DC/DE /0,/1,/4-/7 with a memory operand: ST(0) = ST(0) op m */
function x87ArithM(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu, kind = (i.arg >> 4) & 3;
  const lin = ea(c, i);
  loadSrc(c, lin, kind);
  notePointers(c, i, i.arg >> 8, lin);
  const p0 = phys(f, 0);
  if (isEmpty(f, p0)) { if (stackFault(f, false)) writePhys(f, p0, IND_LO, IND_HI, IND_SE); return; }
  binop(f, i.arg & 7, f.sigLo[p0], f.sigHi[p0], f.signExp[p0], sLo, sHi, sSe, p0, sFl, false);
}

/**
 * D8 / DC / DE register forms. arg bits 2:0 the operation, bit 4: the destination is ST(i)
 * (else ST(0)), bit 5: pop.
 */
function x87ArithR(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu;
  notePointers(c, i, i.arg >> 8, 0);
  const p0 = phys(f, 0), pi = phys(f, i.modrm & 7);
  const toI = (i.arg & 16) !== 0, doPop = (i.arg & 32) !== 0;
  const dst = toI ? pi : p0;
  if (isEmpty(f, p0) || isEmpty(f, pi)) {
    if (stackFault(f, false)) { writePhys(f, dst, IND_LO, IND_HI, IND_SE); if (doPop) pop(f); }
    return;
  }
  // dst = dst op src
  const src = toI ? p0 : pi;
  binop(f, i.arg & 7, f.sigLo[dst], f.sigHi[dst], f.signExp[dst], f.sigLo[src], f.sigHi[src], f.signExp[src], dst, 0, doPop);
}

// ---- compares ----

/** FSW condition codes for a compare result (0 less, 1 equal, 2 greater, 3 unordered) */
const CC_OF = [Sw.C0, Sw.C3, 0, Sw.C3 | Sw.C2 | Sw.C0];

/** compare ST(0) with b; set C3/C2/C0 (C1 = 0) and pop `pops` times, unless IE/DE is unmasked */
function compare(f: FpuState, bLo: number, bHi: number, bSe: number, extra: number, unordered: boolean, pops: number): void {
  const p0 = phys(f, 0);
  const r = f80Cmp(f.sigLo[p0], f.sigHi[p0], f.signExp[p0], bLo, bHi, bSe, !unordered, 0);
  const fl = r === 3 ? sf.flags : sf.flags | extra;
  // the condition codes are written even when the exception is unmasked (as the host CPU);
  // the pops are not done then
  f.fsw = (f.fsw & ~Sw.CC) | CC_OF[r];
  if (signal(f, fl) !== 0) return;
  for (let k = 0; k < pops; k++) pop(f);
}

function compareUnderflow(f: FpuState, pops: number): void {
  const masked = stackFault(f, false);
  f.fsw = (f.fsw & ~Sw.CC) | Sw.C3 | Sw.C2 | Sw.C0;
  if (masked) for (let k = 0; k < pops; k++) pop(f);
}

/** FCOM/FCOMP m32/m64, FICOM/FICOMP m16/m32: arg bits 5:4 kind, bit 0 pop */
function x87ComM(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu;
  const lin = ea(c, i);
  loadSrc(c, lin, (i.arg >> 4) & 3);
  notePointers(c, i, i.arg >> 8, lin);
  const pops = i.arg & 1;
  if (isEmpty(f, phys(f, 0))) { compareUnderflow(f, pops); return; }
  compare(f, sLo, sHi, sSe, sFl, false, pops);
}

/** FCOM/FCOMP/FUCOM/FUCOMP ST(i), FCOMPP/FUCOMPP: arg bits 1:0 pops, bit 2 unordered */
function x87ComR(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu;
  notePointers(c, i, i.arg >> 8, 0);
  const pops = i.arg & 3, pi = phys(f, i.modrm & 7);
  if (isEmpty(f, phys(f, 0)) || isEmpty(f, pi)) { compareUnderflow(f, pops); return; }
  compare(f, f.sigLo[pi], f.sigHi[pi], f.signExp[pi], 0, (i.arg & 4) !== 0, pops);
}

/** FCOMI/FCOMIP/FUCOMI/FUCOMIP: ZF, PF, CF from the compare, OF SF AF cleared; arg bit 0 pop, bit 2 unordered */
function x87ComI(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu;
  notePointers(c, i, i.arg >> 8, 0);
  const p0 = phys(f, 0), pi = phys(f, i.modrm & 7);
  let r = 3, um = 0;
  // C1 is left as it was; RFLAGS is written even when the exception is unmasked (as the host)
  if (isEmpty(f, p0) || isEmpty(f, pi)) {
    um = stackFault(f, false) ? 0 : 1;
  } else {
    r = f80Cmp(f.sigLo[p0], f.sigHi[p0], f.signExp[p0], f.sigLo[pi], f.sigHi[pi], f.signExp[pi], (i.arg & 4) === 0, 0);
    um = signal(f, sf.flags);
  }
  setArith(c, r === 0 || r === 3 ? 1 : 0, r === 3 ? 1 : 0, 0, r === 1 || r === 3 ? 1 : 0, 0, 0);
  if (um === 0 && (i.arg & 1) !== 0) pop(f);
}

/** FCMOVcc ST(0), ST(i): arg bits 3:0 the condition code (CC_NAMES order) */
function x87Cmov(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu;
  notePointers(c, i, i.arg >> 8, 0);
  const p0 = phys(f, 0), pi = phys(f, i.modrm & 7);
  if (isEmpty(f, p0) || isEmpty(f, pi)) {
    if (stackFault(f, false)) writePhys(f, p0, IND_LO, IND_HI, IND_SE);
    return;
  }
  if (cond(c, i.arg & 15)) writePhys(f, p0, f.sigLo[pi], f.sigHi[pi], f.signExp[pi]);
}

// ---- loads ----

/** push with the overflow check; false when nothing was pushed */
function pushChecked(f: FpuState, lo: number, hi: number, se: number, fl: number): void {
  if (!isEmpty(f, (top(f) - 1) & 7)) {
    if (stackFault(f, true)) pushValue(f, IND_LO, IND_HI, IND_SE);
    return;
  }
  setC1(f, 0);
  // an unmasked IE stops the load; an unmasked DE does not (as the host CPU)
  if (fl !== 0 && (signal(f, fl) & Exc.IE) !== 0) return;
  pushValue(f, lo, hi, se);
}

/**
 * FLD m32/m64/m80, FILD m16/m32/m64, FBLD m80 (kind: 0 m32, 1 m32 int, 2 m64, 3 m16 int, 4 m80,
 * 5 m64 int, 6 BCD): arg bits 3:0
 */
function x87LdM(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu, kind = i.arg & 15;
  const lin = ea(c, i);
  let fl = 0;
  if (kind === 6) loadBcd(c, lin);
  else {
    loadSrc(c, lin, kind);
    if (kind === 0 || kind === 2) {
      fl = sFl;
      // an SNaN loaded from m32/m64 is quietened with IE (not from m80)
      if ((sSe & 0x7fff) === 0x7fff && (sHi & 0x40000000) === 0 && ((sHi & 0x3fffffff) | sLo) !== 0) {
        fl |= Exc.IE; sHi = (sHi | 0x40000000) >>> 0;
      }
    }
  }
  notePointers(c, i, i.arg >> 8, lin);
  pushChecked(f, sLo, sHi, sSe, fl);
}

/** FLD ST(i) */
function x87LdR(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu;
  notePointers(c, i, 1, 0);
  const pi = phys(f, i.modrm & 7);
  if (isEmpty(f, pi)) {
    // an empty source is reported as underflow even when the push would overflow (as the host)
    if (stackFault(f, false)) pushValue(f, IND_LO, IND_HI, IND_SE);
    return;
  }
  pushChecked(f, f.sigLo[pi], f.sigHi[pi], f.signExp[pi], 0);
}

/** FBLD: 18 packed BCD digits and a sign byte, converted exactly */
function loadBcd(c: Cpu, lin: number): void {
  read80(c, lin);
  // value in four 16-bit limbs, most significant digit first
  let l0 = 0, l1 = 0, l2 = 0, l3 = 0;
  for (let k = 8; k >= 0; k--) {
    const byte = k >= 4 ? (k === 8 ? m80.se & 0xff : (m80.hi >>> (8 * (k - 4))) & 0xff) : (m80.lo >>> (8 * k)) & 0xff;
    for (let h = 1; h >= 0; h--) {
      const d = (byte >> (4 * h)) & 15;
      let t = l0 * 10 + d; l0 = t & 0xffff;
      t = l1 * 10 + (t >>> 16); l1 = t & 0xffff;
      t = l2 * 10 + (t >>> 16); l2 = t & 0xffff;
      l3 = (l3 * 10 + (t >>> 16)) & 0xffff;
    }
  }
  const lo = (l1 << 16) | l0, hi = (l3 << 16) | l2;
  i64ToF80(lo, hi);
  sLo = sf.rLo; sHi = sf.rHi; sSe = sf.rSe | (m80.se & 0x8000);
}

// ---- stores ----

/**
 * FST/FSTP m32/m64/m80, FIST/FISTP/FISTTP m16/m32/m64, FBSTP m80: arg bits 3:0 kind (as x87LdM),
 * bit 4 pop, bit 5 truncate (FISTTP)
 */
function x87StM(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu, kind = i.arg & 15, doPop = (i.arg & 16) !== 0;
  const lin = ea(c, i);
  const size = kind === 0 || kind === 1 ? 4 : kind === 3 ? 2 : kind === 2 || kind === 5 ? 8 : 10;
  probeWrite(c, lin, size);
  notePointers(c, i, i.arg >> 8, lin);
  const p0 = phys(f, 0);
  const ctl = ctlOf(f);
  let lo = 0, hi = 0, se = 0, fl = 0, c1 = 0;
  if (isEmpty(f, p0)) {
    if (!stackFault(f, false)) return;
    // masked stack underflow: the indefinite of the destination format
    switch (kind) {
      case 0: lo = 0xffc00000; break;
      case 2: hi = 0xfff80000; break;
      case 4: lo = IND_LO; hi = IND_HI; se = IND_SE; break;
      case 6: hi = 0xc0000000; se = 0xffff; break;
      case 3: lo = 0x8000; break;
      case 1: lo = 0x80000000; break;
      default: hi = 0x80000000;
    }
  } else {
    const aLo = f.sigLo[p0], aHi = f.sigHi[p0], aSe = f.signExp[p0];
    const tr = (i.arg & 32) !== 0;
    switch (kind) {
      case 0: f80ToF32(aLo, aHi, aSe, ctl); lo = sf.rLo; break;
      case 2: f80ToF64(aLo, aHi, aSe, ctl); lo = sf.rLo; hi = sf.rHi; break;
      case 4: lo = aLo; hi = aHi; se = aSe; sf.flags = 0; sf.c1 = 0; break;
      case 3: f80ToI16(aLo, aHi, aSe, ctl, tr); lo = sf.rLo; break;
      case 1: f80ToI32(aLo, aHi, aSe, ctl, tr); lo = sf.rLo; break;
      case 6: storeBcdValue(aLo, aHi, aSe, ctl); lo = sf.rLo; hi = sf.rHi; se = sf.rSe; break;
      default: f80ToI64(aLo, aHi, aSe, ctl, tr); lo = sf.rLo; hi = sf.rHi;
    }
    fl = sf.flags; c1 = sf.c1;
    // unmasked invalid, overflow or underflow: nothing is stored and nothing popped
    const um = fl & ~f.fcw & (Exc.IE | Exc.OE | Exc.UE | Exc.DE);
    if (um !== 0) {
      // nothing stored: OE/UE are reported without PE, C1 cleared (as the host CPU)
      setC1(f, 0);
      signal(f, (fl & Exc.IE) !== 0 ? fl & (Exc.IE | Exc.DE) : fl & ~Exc.PE);
      return;
    }
  }
  if (size === 10) write80(c, lin, lo, hi, se);
  else writeN(c, lin, size, lo, hi);
  if (fl !== 0) signal(f, fl);
  setC1(f, c1);
  if (doPop) pop(f);
}

/** FBSTP conversion: round by RC to an integer below 10^18 in magnitude, pack 18 BCD digits */
function storeBcdValue(lo: number, hi: number, se: number, ctl: number): void {
  f80ToI64(lo, hi, se, ctl, false);
  let vLo = sf.rLo >>> 0, vHi = sf.rHi >>> 0;
  const fl = sf.flags, c1 = sf.c1;
  const neg = (vHi & 0x80000000) !== 0;
  if (neg) { vLo = (~vLo + 1) >>> 0; vHi = (~vHi + (vLo === 0 ? 1 : 0)) >>> 0; }
  // 10^18 = 0DE0B6B3 A7640000
  if ((fl & Exc.IE) !== 0 || vHi > 0x0de0b6b3 || (vHi === 0x0de0b6b3 && vLo >= 0xa7640000)) {
    sf.flags = Exc.IE; sf.c1 = 0; sf.rLo = 0; sf.rHi = 0xc0000000; sf.rSe = 0xffff;
    return;
  }
  let l0 = vLo & 0xffff, l1 = vLo >>> 16, l2 = vHi & 0xffff, l3 = vHi >>> 16;
  let oLo = 0, oHi = 0, oSe = 0;
  for (let d = 0; d < 18; d++) {
    let r = l3 % 10; l3 = (l3 - r) / 10;
    let t = r * 65536 + l2; r = t % 10; l2 = (t - r) / 10;
    t = r * 65536 + l1; r = t % 10; l1 = (t - r) / 10;
    t = r * 65536 + l0; r = t % 10; l0 = (t - r) / 10;
    const sh = 4 * d;
    if (d < 8) oLo |= r << sh; else if (d < 16) oHi |= r << (sh - 32); else oSe |= r << (sh - 64);
  }
  sf.flags = fl; sf.c1 = c1;
  // the sign byte follows the source (a negative value that rounds to zero stores -0)
  sf.rLo = oLo >>> 0; sf.rHi = oHi >>> 0; sf.rSe = oSe | ((se & 0x8000) !== 0 ? 0x8000 : 0);
}

/**
 * FST/FSTP ST(i) (arg bit 4 pop): a plain copy, no exceptions but stack underflow. FSTPNCE
 * (D9 D8+i, arg bit 6) with an empty ST(0) only pops, without the underflow (as the host CPU).
 */
function x87StR(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu;
  notePointers(c, i, i.arg >> 8, 0);
  const p0 = phys(f, 0), pi = phys(f, i.modrm & 7);
  setC1(f, 0);
  if (isEmpty(f, p0)) {
    if ((i.arg & 64) !== 0) { pop(f); return; }
    if (!stackFault(f, false)) return;
    writePhys(f, pi, IND_LO, IND_HI, IND_SE);
  } else writePhys(f, pi, f.sigLo[p0], f.sigHi[p0], f.signExp[p0]);
  if ((i.arg & 16) !== 0) pop(f);
}

export const handlers = { x87ArithM, x87ArithR, x87ComM, x87ComR, x87ComI, x87Cmov, x87LdM, x87LdR, x87StM, x87StR };
