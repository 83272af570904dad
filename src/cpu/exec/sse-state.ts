/**
 * SSE and extended-state instructions (AMD64 APM Vol. 2 11.4-11.5, Vol. 4 FXSAVE/FXRSTOR, Vol. 3
 * XSAVE/XRSTOR/XGETBV/XSETBV): LDMXCSR, STMXCSR, FXSAVE/FXRSTOR (32-bit and REX.W 64-bit forms),
 * XSAVE/XSAVEOPT/XRSTOR for components 0 (x87) and 1 (SSE), XGETBV and XSETBV.
 *
 * The FXSAVE image (APM Vol. 2 Table 11-2/11-3): 0 FCW, 2 FSW, 4 abridged FTW (bit k set when
 * physical register Rk is not empty), 6 FOP, then FIP/FDP as 64-bit offsets (REX.W form) or
 * as FIP(32) FCS FDP(32) FDS (other forms); 24 MXCSR, 28 MXCSR_MASK, 32 + 16i ST(i) (10 bytes),
 * 160 + 16n XMMn (XMM8-15 only in 64-bit mode); bytes 416-511 are not written. As AMD
 * processors without XSaveErPtr do (APM Vol. 5 FXSAVE), the x87 pointers (FOP, FIP, FCS, FDP,
 * FDS) are stored only while an unmasked x87 exception is pending (FSW.ES = 1), zeros otherwise;
 * the host CPU's saved images show the same. FXRSTOR loads them as stored.
 *
 * EFER.FFXSR (fast FXSAVE/FXRSTOR, APM Vol. 2 3.1.7): in 64-bit mode at CPL 0, FXSAVE and
 * FXRSTOR skip the XMM registers. With CR4.OSFXSR = 0 they move the x87 state only.
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { raise } from '../fault.js';
import { CR4_OSFXSR, CR4_OSXSAVE, sseCheck } from '../fpu/checks.js';
import { FpuState } from '../fpu/state.js';
import { Acc, read16, read32, read64, read8, translate, write16, write32, write64, write8 } from '../mmu.js';
import { ea } from '../operands.js';
import { setReg } from '../regs.js';
import { Cr0, Efer, TWO32, Vec } from '../state.js';
import { Exit } from '../../svm/vmcb.js';

/** XCR0 bits this CPU supports: x87 (0) and SSE (1) */
export const XCR0_SUPPORTED = 0x3;
/** size of the standard-form XSAVE area for x87 + SSE: legacy region + header */
export const XSAVE_SIZE = 576;

// ---- MXCSR ----

function ldmxcsr(c: Cpu, i: Insn): void {
  sseCheck(c);
  const v = read32(c, ea(c, i));
  if ((v & ~FpuState.MXCSR_MASK) !== 0) raise(Vec.GP, 0);
  c.fpu.mxcsr = v >>> 0;
}

function stmxcsr(c: Cpu, i: Insn): void {
  sseCheck(c);
  write32(c, ea(c, i), c.fpu.mxcsr);
}

// ---- the legacy (FXSAVE) region ----

/** full two-bit tag of physical register r from its contents (APM Vol. 1 6.2.3) */
function tagOf(f: FpuState, r: number): number {
  const exp = f.signExp[r] & 0x7fff;
  if (exp === 0x7fff) return 2;
  if (exp === 0) return (f.sigLo[r] | f.sigHi[r]) === 0 ? 1 : 2;
  return (f.sigHi[r] & 0x80000000) !== 0 ? 0 : 2;
}

/** check that `n` bytes at `lin` can be written (every page) */
function probe(c: Cpu, lin: number, n: number, acc: number): void {
  for (let p = 0; p < n; p += 4096) translate(c, lin + p, acc);
  translate(c, lin + n - 1, acc);
}

/** write the x87 part (bytes 0-23 and 32-159) */
function saveX87(c: Cpu, lin: number, w64: boolean): void {
  const f = c.fpu;
  write16(c, lin, f.fcw);
  write16(c, lin + 2, f.fsw);
  let abr = 0;
  for (let r = 0; r < 8; r++) if (((f.ftw >> (2 * r)) & 3) !== 3) abr |= 1 << r;
  write8(c, lin + 4, abr);
  write8(c, lin + 5, 0);
  const es = (f.fsw & 0x80) !== 0;
  write16(c, lin + 6, es ? f.fop & 0x7ff : 0);
  if (!es) {
    write64(c, lin + 8, 0, 0);
    write64(c, lin + 16, 0, 0);
  } else if (w64) {
    write64(c, lin + 8, f.fip | 0, Math.floor(f.fip / TWO32) | 0);
    write64(c, lin + 16, f.fdp | 0, Math.floor(f.fdp / TWO32) | 0);
  } else {
    write32(c, lin + 8, f.fip | 0);
    write32(c, lin + 12, f.fcs & 0xffff);
    write32(c, lin + 16, f.fdp | 0);
    write32(c, lin + 20, f.fds & 0xffff);
  }
  const top = (f.fsw >> 11) & 7;
  for (let k = 0; k < 8; k++) {
    const r = (top + k) & 7;
    const p = lin + 32 + 16 * k;
    write64(c, p, f.sigLo[r] | 0, f.sigHi[r] | 0);
    write16(c, p + 8, f.signExp[r]);
    write16(c, p + 10, 0);
    write32(c, p + 12, 0);
  }
}

/** read the x87 part */
function loadX87(c: Cpu, lin: number, w64: boolean): void {
  const f = c.fpu;
  f.fcw = read16(c, lin);
  f.fsw = read16(c, lin + 2);
  const abr = read8(c, lin + 4);
  f.fop = read16(c, lin + 6) & 0x7ff;
  if (w64) {
    // 64-bit pointers kept as signed canonical numbers (bits 63:48 taken as copies of bit 47)
    const a = read64(c, lin + 8);
    f.fip = ((c.xh << 16) >> 16) * TWO32 + (a >>> 0);
    const b = read64(c, lin + 16);
    f.fdp = ((c.xh << 16) >> 16) * TWO32 + (b >>> 0);
    f.fcs = 0;
    f.fds = 0;
  } else {
    f.fip = read32(c, lin + 8) >>> 0;
    f.fcs = read16(c, lin + 12);
    f.fdp = read32(c, lin + 16) >>> 0;
    f.fds = read16(c, lin + 20);
  }
  const top = (f.fsw >> 11) & 7;
  for (let k = 0; k < 8; k++) {
    const r = (top + k) & 7;
    const p = lin + 32 + 16 * k;
    f.sigLo[r] = read64(c, p);
    f.sigHi[r] = c.xh;
    f.signExp[r] = read16(c, p + 8);
  }
  let ftw = 0;
  for (let r = 0; r < 8; r++) ftw |= ((abr >> r) & 1 ? tagOf(f, r) : 3) << (2 * r);
  f.ftw = ftw;
}

function xmmCount(c: Cpu): number {
  return c.bits === 64 ? 16 : 8;
}

function saveXmm(c: Cpu, lin: number): void {
  const x = c.fpu.xmm;
  for (let n = 0; n < xmmCount(c); n++) {
    write64(c, lin + 160 + 16 * n, x[4 * n], x[4 * n + 1]);
    write64(c, lin + 168 + 16 * n, x[4 * n + 2], x[4 * n + 3]);
  }
}

function loadXmm(c: Cpu, lin: number): void {
  const x = c.fpu.xmm;
  for (let n = 0; n < xmmCount(c); n++) {
    x[4 * n] = read64(c, lin + 160 + 16 * n); x[4 * n + 1] = c.xh;
    x[4 * n + 2] = read64(c, lin + 168 + 16 * n); x[4 * n + 3] = c.xh;
  }
}

/** x87 initial state (FNINIT plus zeroed registers and pointers: XRSTOR's init of component 0) */
function initX87(f: FpuState): void {
  f.fcw = 0x037f;
  f.fsw = 0;
  f.ftw = 0xffff;
  f.fop = 0; f.fip = 0; f.fcs = 0; f.fdp = 0; f.fds = 0;
  f.sigLo.fill(0); f.sigHi.fill(0); f.signExp.fill(0);
}

/** the FXSAVE/XSAVE memory checks: #GP(0) unless aligned to `align` bytes */
function areaAddr(c: Cpu, i: Insn, align: number): number {
  const lin = ea(c, i);
  if ((lin & (align - 1)) !== 0) raise(Vec.GP, 0);
  return lin;
}

/** #NM for CR0.EM or CR0.TS (FXSAVE/FXRSTOR, APM Vol. 4) */
function fxCheck(c: Cpu): void {
  if ((c.cr0 & (Cr0.EM | Cr0.TS)) !== 0) raise(Vec.NM, 0);
}

function fastFx(c: Cpu): boolean {
  return (c.efer & Efer.FFXSR) !== 0 && c.bits === 64 && c.cpl === 0;
}

function fxsave(c: Cpu, i: Insn): void {
  fxCheck(c);
  const lin = areaAddr(c, i, 16);
  probe(c, lin, 416, Acc.Write);
  const w64 = (i.rex & 8) !== 0;
  saveX87(c, lin, w64);
  if ((c.cr4 & CR4_OSFXSR) !== 0) {
    write32(c, lin + 24, c.fpu.mxcsr);
    write32(c, lin + 28, FpuState.MXCSR_MASK);
    if (!fastFx(c)) saveXmm(c, lin);
  }
}

function fxrstor(c: Cpu, i: Insn): void {
  fxCheck(c);
  const lin = areaAddr(c, i, 16);
  probe(c, lin, 416, Acc.Read);
  const osfxsr = (c.cr4 & CR4_OSFXSR) !== 0;
  let mx = 0;
  if (osfxsr) {
    mx = read32(c, lin + 24);
    if ((mx & ~FpuState.MXCSR_MASK) !== 0) raise(Vec.GP, 0);
  }
  loadX87(c, lin, (i.rex & 8) !== 0);
  if (osfxsr) {
    c.fpu.mxcsr = mx >>> 0;
    if (!fastFx(c)) loadXmm(c, lin);
  }
}

// ---- XSAVE ----

function xsaveCheck(c: Cpu): void {
  if ((c.cr4 & CR4_OSXSAVE) === 0) raise(Vec.UD, 0);
  if ((c.cr0 & Cr0.TS) !== 0) raise(Vec.NM, 0);
}

/** requested-feature bitmap: EDX:EAX AND XCR0 (only bits 0 and 1 exist) */
function rfbm(c: Cpu): number {
  return c.rl[0] & c.fpu.xcr0 & XCR0_SUPPORTED;
}

/** XSAVE (arg 0) and XSAVEOPT (arg 1, which saves the same: no init/modified tracking) */
function xsave(c: Cpu, i: Insn): void {
  xsaveCheck(c);
  const lin = areaAddr(c, i, 64);
  probe(c, lin, XSAVE_SIZE, Acc.Write);
  const rf = rfbm(c);
  const w64 = (i.rex & 8) !== 0;
  if ((rf & 1) !== 0) saveX87(c, lin, w64);
  if ((rf & 2) !== 0) {
    write32(c, lin + 24, c.fpu.mxcsr);
    write32(c, lin + 28, FpuState.MXCSR_MASK);
    saveXmm(c, lin);
  }
  // XSTATE_BV: the saved components are reported in use (XINUSE is not tracked)
  const bv = read8(c, lin + 512);
  write8(c, lin + 512, (bv & ~rf) | rf);
}

function xrstor(c: Cpu, i: Insn): void {
  xsaveCheck(c);
  const lin = areaAddr(c, i, 64);
  probe(c, lin, XSAVE_SIZE, Acc.Read);
  // header: XSTATE_BV may name only XCR0 components; XCOMP_BV (compacted form, not supported)
  // and the reserved bytes 16-63 must be zero (APM Vol. 2 11.5.6)
  const bvLo = read32(c, lin + 512);
  const bvHi = read32(c, lin + 516);
  if ((bvLo & ~c.fpu.xcr0) !== 0 || bvHi !== 0) raise(Vec.GP, 0);
  for (let k = 8; k < 64; k += 4) if (read32(c, lin + 512 + k) !== 0) raise(Vec.GP, 0);
  const rf = rfbm(c);
  let mx = c.fpu.mxcsr;
  if ((rf & 2) !== 0) {
    mx = read32(c, lin + 24);
    if ((mx & ~FpuState.MXCSR_MASK) !== 0) raise(Vec.GP, 0);
  }
  const w64 = (i.rex & 8) !== 0;
  if ((rf & 1) !== 0) {
    if ((bvLo & 1) !== 0) loadX87(c, lin, w64); else initX87(c.fpu);
  }
  if ((rf & 2) !== 0) {
    c.fpu.mxcsr = mx >>> 0;
    if ((bvLo & 2) !== 0) loadXmm(c, lin); else c.fpu.xmm.fill(0, 0, 4 * xmmCount(c));
  }
}

/** XGETBV: ECX 0 reads XCR0; other XCRs (XINUSE at 1 needs XGETBV1) #GP(0) */
function xgetbv(c: Cpu, _i: Insn): void {
  if ((c.cr4 & CR4_OSXSAVE) === 0) raise(Vec.UD, 0);
  if (c.rl[1] !== 0) raise(Vec.GP, 0);
  setReg(c, 0, 4, c.fpu.xcr0, 0);
  setReg(c, 2, 4, 0, 0);
}

/**
 * XSETBV: #UD without CR4.OSXSAVE; the SVM XSETBV intercept (exit 8Dh) comes before the
 * privilege and value checks; #GP(0) at CPL > 0, for ECX != 0, and for an invalid XCR0 (bit 0
 * clear, or any bit beyond x87 and SSE).
 */
function xsetbv(c: Cpu, _i: Insn): void {
  if ((c.cr4 & CR4_OSXSAVE) === 0) raise(Vec.UD, 0);
  c.icpt(Exit.XSETBV);
  if (c.cpl !== 0 || c.rl[1] !== 0) raise(Vec.GP, 0);
  const lo = c.rl[0];
  if (c.rl[2] !== 0 || (lo & ~XCR0_SUPPORTED) !== 0 || (lo & 1) === 0) raise(Vec.GP, 0);
  c.fpu.xcr0 = lo;
}

export const handlers = { ldmxcsr, stmxcsr, fxsave, fxrstor, xsave, xrstor, xgetbv, xsetbv };
