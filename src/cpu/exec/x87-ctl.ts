/**
 * x87 control and stack instructions and the D9 E0-FF group (AMD64 APM Vol. 5): FNINIT, FNCLEX,
 * FLDCW, FNSTCW, FNSTSW, FNSTENV, FLDENV, FNSAVE, FRSTOR, FXCH, FFREE(P), FDECSTP, FINCSTP,
 * FNOP, FCHS, FABS, FTST, FXAM, the constants, FSQRT, FRNDINT, FSCALE, FXTRACT, FPREM, FPREM1
 * and the transcendental instructions.
 *
 * Transcendentals (F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS) are NOT bit-exact
 * with hardware: they are computed in JS double precision (53-bit significand, the double
 * exponent range) and widened, with PE always set for a non-trivial result; the hardware's
 * 64-bit-accurate microcode results, its C1 (round-up) reporting and its handling of operands
 * outside the double range differ.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import type { FpuState } from '../fpu/state.js';
import { x87Check, x87CheckNoWait } from '../fpu/checks.js';
import {
  sf, f80Sqrt, f80RoundInt, f80ScaleFinite, f80Class, f80Add, f80Cmp, f80ToF64, f64ToF80, i64ToF80, Exc,
} from '../fpu/softfloat.js';
import { rem, f80Rem } from '../fpu/x87math.js';
import {
  Sw, ctlOf, phys, top, setTop, isEmpty, writePhys, signal, setC1, stackFault, pushValue, pop,
  notePointers, setTag, TAG_EMPTY, updateEs, retag, realLayout, IND_LO, IND_HI, IND_SE,
} from '../fpu/x87core.js';
import { ea } from '../operands.js';
import { readN, writeN, probeWrite } from '../mmu.js';
import { setReg } from '../regs.js';

// ---- control ----

function init(f: FpuState): void {
  f.fcw = 0x037f; f.fsw = 0; f.ftw = 0xffff;
  f.fop = 0; f.fip = 0; f.fcs = 0; f.fdp = 0; f.fds = 0;
}

/** DB E3: FNINIT */
function fninit(c: Cpu, _i: Insn): void { x87CheckNoWait(c); init(c.fpu); }

/** DB E2: FNCLEX: clear the exception flags, SF, ES and B */
function fnclex(c: Cpu, _i: Insn): void { x87CheckNoWait(c); c.fpu.fsw &= ~0x80ff; }

/** DB E0, E1, E4: FNENI, FNDISI, FNSETPM of the 8087/287: no operation since the 387 */
function fnop287(c: Cpu, _i: Insn): void { x87CheckNoWait(c); }

/** D9 /5: FLDCW m16; bits 15:13 and 7 read as zero and bit 6 as one (as the host CPU) */
function fldcw(c: Cpu, i: Insn): void {
  x87Check(c);
  const v = readN(c, ea(c, i), 2);
  c.fpu.fcw = (v & 0x1f3f) | 0x40;
  updateEs(c.fpu);
}

/** D9 /7: FNSTCW m16 */
function fnstcw(c: Cpu, i: Insn): void { x87CheckNoWait(c); writeN(c, ea(c, i), 2, c.fpu.fcw, 0); }

/** DD /7: FNSTSW m16 */
function fnstsw(c: Cpu, i: Insn): void { x87CheckNoWait(c); writeN(c, ea(c, i), 2, c.fpu.fsw, 0); }

/** DF E0: FNSTSW AX */
function fnstswAx(c: Cpu, _i: Insn): void { x87CheckNoWait(c); setReg(c, 0, 2, c.fpu.fsw, 0); }

/**
 * The environment image (APM Vol. 1 6.5, Figures 6-10..6-13): 28 bytes with a 32-bit operand
 * size, 14 with 16 bits; real and virtual-8086 modes store the linear instruction and data
 * pointers with the opcode instead of selectors. Unused upper words are written as FFFFh.
 */
/** word k of an environment image; with a 32-bit image, words 4 and 6 of the real-mode layout
 * use all 32 bits, elsewhere the upper half is reserved and written as FFFFh (as the host) */
function put(c: Cpu, lin: number, o32: boolean, real: boolean, k: number, v: number): void {
  if (!o32) writeN(c, lin + 2 * k, 2, v, 0);
  else writeN(c, lin + 4 * k, 4, real && (k === 4 || k === 6) ? v : (v & 0xffff) | 0xffff0000, 0);
}

function get(c: Cpu, lin: number, o32: boolean, k: number): number {
  return o32 ? readN(c, lin + 4 * k, 4) >>> 0 : readN(c, lin + 2 * k, 2);
}

function storeEnv(c: Cpu, lin: number, o32: boolean): number {
  const f = c.fpu, real = realLayout(c);
  put(c, lin, o32, real, 0, f.fcw); put(c, lin, o32, real, 1, f.fsw); put(c, lin, o32, real, 2, f.ftw);
  if (real) {
    const ip = (f.fcs * 16 + f.fip) >>> 0, dp = (f.fds * 16 + f.fdp) >>> 0;
    put(c, lin, o32, real, 3, ip & 0xffff);
    put(c, lin, o32, real, 4, o32 ? (((ip >>> 16) << 12) | (f.fop & 0x7ff)) >>> 0 : (((ip >>> 16) & 0xf) << 12) | (f.fop & 0x7ff));
    put(c, lin, o32, real, 5, dp & 0xffff);
    put(c, lin, o32, real, 6, o32 ? ((dp >>> 16) << 12) >>> 0 : ((dp >>> 16) & 0xf) << 12);
  } else if (o32) {
    writeN(c, lin + 12, 4, f.fip, 0);
    writeN(c, lin + 16, 4, (f.fcs & 0xffff) | ((f.fop & 0x7ff) << 16), 0);
    writeN(c, lin + 20, 4, f.fdp, 0);
    writeN(c, lin + 24, 4, (f.fds & 0xffff) | 0xffff0000, 0);
  } else {
    put(c, lin, o32, real, 3, f.fip & 0xffff); put(c, lin, o32, real, 4, f.fcs); put(c, lin, o32, real, 5, f.fdp & 0xffff); put(c, lin, o32, real, 6, f.fds);
  }
  return o32 ? 28 : 14;
}

function loadEnv(c: Cpu, lin: number, o32: boolean): number {
  const f = c.fpu, real = realLayout(c);
  const cw = get(c, lin, o32, 0), sw = get(c, lin, o32, 1), tw = get(c, lin, o32, 2);
  let ip: number, cs: number, op: number, dp: number, ds: number;
  if (real) {
    const w4 = get(c, lin, o32, 4), w6 = get(c, lin, o32, 6);
    ip = (get(c, lin, o32, 3) & 0xffff) | ((o32 ? (w4 >>> 12) & 0xffff : (w4 >>> 12) & 0xf) << 16);
    op = w4 & 0x7ff; cs = 0;
    dp = (get(c, lin, o32, 5) & 0xffff) | ((o32 ? (w6 >>> 12) & 0xffff : (w6 >>> 12) & 0xf) << 16);
    ds = 0;
  } else if (o32) {
    ip = get(c, lin, o32, 3); const w4 = get(c, lin, o32, 4); cs = w4 & 0xffff; op = (w4 >>> 16) & 0x7ff; dp = get(c, lin, o32, 5); ds = get(c, lin, o32, 6) & 0xffff;
  } else {
    ip = get(c, lin, o32, 3) & 0xffff; cs = get(c, lin, o32, 4) & 0xffff; op = f.fop; dp = get(c, lin, o32, 5) & 0xffff; ds = get(c, lin, o32, 6) & 0xffff;
  }
  f.fcw = (cw & 0x1f3f) | 0x40; f.fsw = sw & 0xffff; f.ftw = tw & 0xffff;
  f.fip = ip >>> 0; f.fcs = cs; f.fop = op; f.fdp = dp >>> 0; f.fds = ds;
  return o32 ? 28 : 14;
}

/** D9 /6: FNSTENV; afterwards all exceptions are masked (and ES/B clear) */
function fnstenv(c: Cpu, i: Insn): void {
  x87CheckNoWait(c);
  const lin = ea(c, i), o32 = i.opsize !== 2;
  probeWrite(c, lin, o32 ? 28 : 14);
  storeEnv(c, lin, o32);
  // all exceptions masked afterwards, so no exception is pending any more (ES, B clear: as the host)
  c.fpu.fcw |= 0x3f;
  updateEs(c.fpu);
}

/** D9 /4: FLDENV; tags other than empty are recomputed from the registers */
function fldenv(c: Cpu, i: Insn): void {
  x87Check(c);
  const lin = ea(c, i), o32 = i.opsize !== 2;
  readN(c, lin + (o32 ? 24 : 12), 2); // fault before any change
  loadEnv(c, lin, o32);
  retag(c.fpu);
  updateEs(c.fpu);
}

/** DD /6: FNSAVE: the environment, ST(0)..ST(7), then FNINIT */
function fnsave(c: Cpu, i: Insn): void {
  x87CheckNoWait(c);
  const f = c.fpu, lin = ea(c, i), o32 = i.opsize !== 2;
  const size = o32 ? 108 : 94;
  probeWrite(c, lin, size);
  const off = storeEnv(c, lin, o32);
  for (let k = 0; k < 8; k++) {
    const p = phys(f, k), a = lin + off + 10 * k;
    writeN(c, a, 8, f.sigLo[p], f.sigHi[p]);
    writeN(c, a + 8, 2, f.signExp[p], 0);
  }
  init(f);
}

/** DD /4: FRSTOR */
function frstor(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu, lin = ea(c, i), o32 = i.opsize !== 2;
  const off = o32 ? 28 : 14;
  readN(c, lin + off + 79, 1); // fault before any change
  loadEnv(c, lin, o32);
  for (let k = 0; k < 8; k++) {
    const p = phys(f, k), a = lin + off + 10 * k;
    f.sigLo[p] = readN(c, a, 8); f.sigHi[p] = c.xh; f.signExp[p] = readN(c, a + 8, 2);
  }
  retag(f);
  updateEs(f);
}

// ---- stack ----

/** D9 C8+i: FXCH ST(i); an empty operand is replaced by the indefinite when IE is masked */
function fxch(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu;
  notePointers(c, i, i.arg >> 8, 0);
  const p0 = phys(f, 0), pi = phys(f, i.modrm & 7);
  setC1(f, 0);
  if (isEmpty(f, p0) || isEmpty(f, pi)) {
    if (!stackFault(f, false)) return;
    if (isEmpty(f, p0)) writePhys(f, p0, IND_LO, IND_HI, IND_SE);
    if (isEmpty(f, pi)) writePhys(f, pi, IND_LO, IND_HI, IND_SE);
  }
  const lo = f.sigLo[p0], hi = f.sigHi[p0], se = f.signExp[p0];
  writePhys(f, p0, f.sigLo[pi], f.sigHi[pi], f.signExp[pi]);
  writePhys(f, pi, lo, hi, se);
}

/** DD C0+i FFREE ST(i); DF C0+i FFREEP ST(i) (arg bit 4: pop) */
function ffree(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu;
  notePointers(c, i, i.arg >> 8, 0);
  setC1(f, 0);
  setTag(f, phys(f, i.modrm & 7), TAG_EMPTY);
  if ((i.arg & 16) !== 0) pop(f); // FFREEP: then a pop, which empties ST(0) too
}

// ---- D9 E0-FF (and D9 D0 FNOP) ----

// constants: significand (truncated), exponent, and whether round-to-nearest rounds it up
// (APM Vol. 1 6.3.? "the constants are rounded by RC"): log2(10), log2(e), pi, log10(2), ln(2)
const K_HI = [0xd49a784b, 0xb8aa3b29, 0xc90fdaa2, 0x9a209a84, 0xb17217f7];
const K_LO = [0xcd1b8afe, 0x5c17f0bb, 0x2168c234, 0xfbcff798, 0xd1cf79ab];
const K_SE = [0x4000, 0x3fff, 0x4000, 0x3ffd, 0x3ffe];
const K_NEAR_UP = [0, 1, 1, 1, 1];

const CC_OF = [Sw.C0, Sw.C3, 0, Sw.C3 | Sw.C2 | Sw.C0];
const dv = new Float64Array(1);
const du = new Uint32Array(dv.buffer);

function toDouble(f: FpuState, p: number): number {
  f80ToF64(f.sigLo[p], f.sigHi[p], f.signExp[p], 0);
  du[0] = sf.rLo; du[1] = sf.rHi;
  return dv[0];
}

/** widen a JS double result into ST(p), with PE (not bit-exact: see the file header) */
function fromDouble(f: FpuState, p: number, x: number, exact: boolean): boolean {
  if (Number.isNaN(x)) { if (signal(f, Exc.IE) !== 0) return false; writePhys(f, p, IND_LO, IND_HI, IND_SE); return true; }
  dv[0] = x;
  f64ToF80(du[0], du[1]);
  if (!exact && signal(f, Exc.PE) !== 0) { /* PE unmasked: the result is still delivered */ }
  writePhys(f, p, sf.rLo, sf.rHi, sf.rSe);
  return true;
}

function nanOf2(f: FpuState, pa: number, pb: number): boolean {
  const ca = f80Class(f.sigLo[pa], f.sigHi[pa], f.signExp[pa]);
  const cb = f80Class(f.sigLo[pb], f.sigHi[pb], f.signExp[pb]);
  if (ca < 3 && cb < 3) return false;
  f80Add(f.sigLo[pa], f.sigHi[pa], f.signExp[pa], f.sigLo[pb], f.sigHi[pb], f.signExp[pb], 0x30);
  return true;
}

function x87Un(c: Cpu, i: Insn): void {
  x87Check(c);
  const f = c.fpu, op = i.modrm & 0x3f;
  notePointers(c, i, 1, 0);
  const p0 = phys(f, 0), p1 = phys(f, 1);
  const lo = f.sigLo[p0], hi = f.sigHi[p0], se = f.signExp[p0];
  const ctl = ctlOf(f);
  const need2 = op === 0x31 || op === 0x33 || op === 0x35 || op === 0x38 || op === 0x39 || op === 0x3d;
  const pushes = op === 0x32 || op === 0x34 || op === 0x3b || (op >= 0x28 && op <= 0x2e);
  if (op === 0x10 || op === 0x36 || op === 0x37) {
    // FNOP (C1 kept), FDECSTP, FINCSTP (C1 = 0)
    if (op !== 0x10) setC1(f, 0);
    if (op === 0x36) setTop(f, top(f) - 1); else if (op === 0x37) setTop(f, top(f) + 1);
    return;
  }
  if (op === 0x25) { fxam(f, p0); return; }
  if (op >= 0x28 && op <= 0x2e) { loadConst(f, op - 0x28); return; }
  if (isEmpty(f, p0) || (need2 && isEmpty(f, p1))) {
    const masked = stackFault(f, false);
    if (op === 0x38 || op === 0x35) f.fsw &= ~Sw.C2;
    if (op === 0x24) { f.fsw = (f.fsw & ~Sw.CC) | Sw.C3 | Sw.C2 | Sw.C0; return; }
    if (!masked) return;
    if (op === 0x24) { f.fsw = (f.fsw & ~Sw.CC) | Sw.C3 | Sw.C2 | Sw.C0; return; }
    // FYL2X, FPATAN, FYL2XP1 write ST(1) and pop; FPREM, FPREM1, FSCALE write ST(0)
    if (need2 && op !== 0x38 && op !== 0x35 && op !== 0x3d) { writePhys(f, p1, IND_LO, IND_HI, IND_SE); pop(f); return; }
    if (op === 0x38 || op === 0x35) f.fsw &= ~Sw.C2;
    writePhys(f, p0, IND_LO, IND_HI, IND_SE);
    if (pushes) pushValue(f, IND_LO, IND_HI, IND_SE);
    return;
  }
  if (pushes && !isEmpty(f, (top(f) - 1) & 7)) {
    if (stackFault(f, true)) { writePhys(f, p0, IND_LO, IND_HI, IND_SE); pushValue(f, IND_LO, IND_HI, IND_SE); }
    return;
  }
  setC1(f, 0);
  switch (op) {
    case 0x20: writePhys(f, p0, lo, hi, se ^ 0x8000); return; // FCHS
    case 0x21: writePhys(f, p0, lo, hi, se & 0x7fff); return; // FABS
    case 0x24: { // FTST: compare with +0.0, IE on any NaN
      const r = f80Cmp(lo, hi, se, 0, 0, 0, true, 0);
      f.fsw = (f.fsw & ~Sw.CC) | CC_OF[r];
      signal(f, sf.flags);
      return;
    }
    case 0x3a: f80Sqrt(lo, hi, se, ctl); result(f, p0); return; // FSQRT
    case 0x3c: f80RoundInt(lo, hi, se, ctl); result(f, p0); return; // FRNDINT
    case 0x3d: fscale(f, p0, p1, ctl | 0x30); return; // FSCALE is not rounded to PC
    case 0x34: fxtract(f, p0); return;
    case 0x38: case 0x35: { // FPREM, FPREM1
      f80Rem(lo, hi, se, f.sigLo[p1], f.sigHi[p1], f.signExp[p1], op === 0x35, (f.fcw & 0x10) !== 0);
      if ((rem.flags & ~f.fcw & (Exc.IE | Exc.DE)) !== 0) { signal(f, rem.flags & (Exc.IE | Exc.DE)); f.fsw &= ~(Sw.C1 | Sw.C2); return; }
      signal(f, rem.flags);
      writePhys(f, p0, rem.lo, rem.hi, rem.se);
      const q = rem.q;
      // quotient bits: C0 = Q2, C3 = Q0, C1 = Q1; C2 = 1 for a partial remainder. The special
      // cases keep C0 and C3 (as the host CPU)
      if (rem.special) f.fsw &= ~(Sw.C1 | Sw.C2);
      else f.fsw = (f.fsw & ~Sw.CC) | (rem.partial ? Sw.C2 : ((q & 4 ? Sw.C0 : 0) | (q & 2 ? Sw.C3 : 0) | (q & 1 ? Sw.C1 : 0)));
      return;
    }
    default: transcendental(f, op, p0, p1);
  }
}

/** deliver sf's result to ST(p) unless an unmasked IE/DE/ZE stops it */
function result(f: FpuState, p: number): void {
  const fl = sf.flags;
  if ((fl & ~f.fcw & (Exc.IE | Exc.DE | Exc.ZE)) !== 0) { signal(f, fl & (Exc.IE | Exc.DE | Exc.ZE)); return; }
  signal(f, fl);
  setC1(f, sf.c1);
  writePhys(f, p, sf.rLo, sf.rHi, sf.rSe);
}

/** FXAM: class in C3 C2 C0, sign in C1 (APM Vol. 5 FXAM) */
function fxam(f: FpuState, p: number): void {
  const lo = f.sigLo[p], hi = f.sigHi[p], se = f.signExp[p];
  let cc: number;
  if (isEmpty(f, p)) cc = Sw.C3 | Sw.C0;
  else {
    const e = se & 0x7fff;
    if (e === 0) cc = (hi | lo) === 0 ? Sw.C3 : Sw.C3 | Sw.C2;
    else if ((hi & 0x80000000) === 0) cc = 0; // unsupported
    else if (e === 0x7fff) cc = ((hi & 0x7fffffff) | lo) === 0 ? Sw.C2 | Sw.C0 : Sw.C0;
    else cc = Sw.C2;
  }
  f.fsw = (f.fsw & ~Sw.CC) | cc | ((se & 0x8000) !== 0 ? Sw.C1 : 0);
}

function loadConst(f: FpuState, k: number): void {
  let lo = 0, hi = 0, se = 0;
  if (k === 0) { hi = 0x80000000; se = 0x3fff; } // FLD1
  else if (k <= 5) {
    const j = k - 1, rc = (f.fcw >> 10) & 3;
    lo = K_LO[j]; hi = K_HI[j]; se = K_SE[j];
    if ((rc === 0 && K_NEAR_UP[j]) || rc === 2) lo = (lo + 1) >>> 0;
  } // k === 6: FLDZ
  if (!isEmpty(f, (top(f) - 1) & 7)) { if (stackFault(f, true)) pushValue(f, IND_LO, IND_HI, IND_SE); return; }
  setC1(f, 0);
  pushValue(f, lo, hi, se);
}

/** FSCALE: ST(0) * 2^trunc(ST(1)) */
function fscale(f: FpuState, p0: number, p1: number, ctl: number): void {
  if (nanOf2(f, p0, p1)) { result(f, p0); return; }
  const lo = f.sigLo[p0], hi = f.sigHi[p0], se = f.signExp[p0];
  const c0 = f80Class(lo, hi, se), c1 = f80Class(f.sigLo[p1], f.sigHi[p1], f.signExp[p1]);
  const s1 = f.signExp[p1] & 0x8000;
  const den = ((se & 0x7fff) === 0 && c0 === 1) || ((f.signExp[p1] & 0x7fff) === 0 && c1 === 1);
  sf.flags = den ? Exc.DE : 0; sf.c1 = 0; sf.rLo = lo; sf.rHi = hi; sf.rSe = se;
  if (c1 === 2) {
    // scale by an infinity: 0 * 2^+inf and inf * 2^-inf are invalid
    if ((c0 === 0 && !s1) || (c0 === 2 && s1)) { sf.flags = Exc.IE; sf.rLo = IND_LO; sf.rHi = IND_HI; sf.rSe = IND_SE; }
    else if (c0 === 1) { sf.rLo = 0; sf.rHi = s1 ? 0 : 0x80000000; sf.rSe = (se & 0x8000) | (s1 ? 0 : 0x7fff); }
    result(f, p0); return;
  }
  if (c0 !== 1) { result(f, p0); return; }
  // n = ST(1) truncated to an integer, clamped (beyond +-2^17 every result over/underflows)
  let n = 0;
  if (c1 === 1) {
    const e1 = (f.signExp[p1] & 0x7fff) - 16383;
    n = e1 < 0 ? 0 : e1 > 17 ? 1 << 18 : f.sigHi[p1] >>> (31 - e1);
    if (s1) n = -n;
  }
  f80ScaleFinite(lo, hi, se, n, ctl);
  if (den) sf.flags |= Exc.DE;
  result(f, p0);
}

/** FXTRACT: ST(0) = significand, pushed above the exponent */
function fxtract(f: FpuState, p0: number): void {
  const lo = f.sigLo[p0], hi = f.sigHi[p0], se = f.signExp[p0];
  const cl = f80Class(lo, hi, se);
  if (cl >= 3) {
    f80Add(lo, hi, se, lo, hi, se, 0x30);
    if (signal(f, sf.flags) !== 0) return;
    writePhys(f, p0, sf.rLo, sf.rHi, sf.rSe); pushValue(f, sf.rLo, sf.rHi, sf.rSe);
    return;
  }
  if (cl === 0) {
    // zero: ZE; exponent -inf, significand the zero
    if (signal(f, Exc.ZE) !== 0) return;
    writePhys(f, p0, 0, 0x80000000, 0xffff); pushValue(f, lo, hi, se);
    return;
  }
  if (cl === 2) { writePhys(f, p0, 0, 0x80000000, 0x7fff); pushValue(f, lo, hi, se); return; }
  let e = (se & 0x7fff) - 16383, h = hi, l = lo;
  if ((se & 0x7fff) === 0) {
    if (signal(f, Exc.DE) !== 0) return;
    e = -16382;
    while ((h & 0x80000000) === 0) { h = ((h << 1) | (l >>> 31)) >>> 0; l = (l << 1) >>> 0; e--; }
  }
  i64ToF80(e, e >> 31);
  writePhys(f, p0, sf.rLo, sf.rHi, sf.rSe);
  pushValue(f, l, h, (se & 0x8000) | 0x3fff);
}

/** F2XM1, FYL2X, FPTAN, FPATAN, FYL2XP1, FSINCOS, FSIN, FCOS in double precision (not bit-exact) */
function transcendental(f: FpuState, op: number, p0: number, p1: number): void {
  const two = op === 0x31 || op === 0x33 || op === 0x39;
  if (two ? nanOf2(f, p0, p1) : nanOf2(f, p0, p0)) {
    const fl = sf.flags;
    if (signal(f, fl) !== 0) return;
    if (two) { writePhys(f, p1, sf.rLo, sf.rHi, sf.rSe); pop(f); return; }
    writePhys(f, p0, sf.rLo, sf.rHi, sf.rSe);
    if (op === 0x32 || op === 0x3b) pushValue(f, sf.rLo, sf.rHi, sf.rSe);
    return;
  }
  const x = toDouble(f, p0);
  if (op === 0x32 || op === 0x3b || op === 0x3e || op === 0x3f) {
    // |x| >= 2^63: C2 = 1 and the operand is left unchanged
    if (((f.signExp[p0] & 0x7fff) - 16383) >= 63 && (f.signExp[p0] & 0x7fff) !== 0x7fff) { f.fsw |= Sw.C2; return; }
    f.fsw &= ~Sw.C2;
    if (!Number.isFinite(x)) { if (signal(f, Exc.IE) === 0) { writePhys(f, p0, IND_LO, IND_HI, IND_SE); if (op === 0x32 || op === 0x3b) pushValue(f, IND_LO, IND_HI, IND_SE); } return; }
  }
  const exact = x === 0;
  switch (op) {
    case 0x30: fromDouble(f, p0, Math.expm1(x * Math.LN2), exact); return;
    case 0x3e: fromDouble(f, p0, Math.sin(x), exact); return;
    case 0x3f: fromDouble(f, p0, Math.cos(x), false); return;
    case 0x32: if (fromDouble(f, p0, Math.tan(x), exact)) pushValue(f, 0, 0x80000000, 0x3fff); return;
    case 0x3b: {
      const s = Math.sin(x), co = Math.cos(x);
      if (fromDouble(f, p0, s, exact)) { const t = (top(f) - 1) & 7; setTop(f, t); fromDouble(f, t, co, false); }
      return;
    }
    default: {
      const y = toDouble(f, p1);
      let r: number;
      if (op === 0x33) r = Math.atan2(y, x);
      else if (op === 0x31) {
        if (x < 0 || (x === 0 && y === 0) || (x === 1 && !Number.isFinite(y))) r = NaN;
        else { if (x === 0 && signal(f, Exc.ZE) !== 0) return; r = y * Math.log2(x); }
      } else r = y * (Math.log1p(x) / Math.LN2);
      if (fromDouble(f, p1, r, r === 0 && (y === 0 || x === 0))) pop(f);
    }
  }
}

export const handlers = {
  fninit, fnclex, fnop287, fldcw, fnstcw, fnstsw, fnstswAx, fnstenv, fldenv, fnsave, frstor,
  fxch, ffree, x87Un,
};
