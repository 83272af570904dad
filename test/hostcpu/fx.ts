/**
 * FP state in the host-CPU differential test: the 512-byte FXSAVE image (64-bit layout, APM
 * Vol. 2 11.4.4 / Vol. 4 FXSAVE, Table "FXSAVE and FXRSTOR Memory Format, 64-bit mode") that a
 * case carries in and that both sides report out, and its comparison field by field.
 *
 * The native side loads the image with FXRSTOR64 and reports the signal context's fpstate; the
 * emulator side loads the same fields into `Cpu.fpu` (the full tag word is rebuilt from the
 * abridged one and the register contents, as FXRSTOR does) and writes them back in the same
 * layout, so the comparison is of architectural fields, not of either side's FXSAVE.
 */

import type { FpuState } from '../../src/cpu/fpu/state.js';

export const FX_SIZE = 512;

/** byte offsets in the 64-bit FXSAVE image */
export const FX = {
  FCW: 0, FSW: 2, FTW: 4, FOP: 6, FIP: 8, FDP: 16, MXCSR: 24, MXCSR_MASK: 28, ST: 32, XMM: 160,
} as const;

/** a default image: FCW 037F (FNINIT), empty x87 stack, MXCSR 1F80, XMM zero */
export function defaultFx(): Uint8Array {
  const b = new Uint8Array(FX_SIZE);
  const v = new DataView(b.buffer);
  v.setUint16(FX.FCW, 0x037f, true);
  v.setUint32(FX.MXCSR, 0x1f80, true);
  return b;
}

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

export function setMxcsr(b: Uint8Array, v: number): void { dv(b).setUint32(FX.MXCSR, v >>> 0, true); }
export function getMxcsr(b: Uint8Array): number { return dv(b).getUint32(FX.MXCSR, true); }

/** XMM register r, dword lane k */
export function setXmmLane(b: Uint8Array, r: number, k: number, v: number): void {
  dv(b).setUint32(FX.XMM + 16 * r + 4 * k, v >>> 0, true);
}
export function getXmmLane(b: Uint8Array, r: number, k: number): number {
  return dv(b).getUint32(FX.XMM + 16 * r + 4 * k, true);
}

/** ST(i) as significand halves and sign|exponent */
export function setSt(b: Uint8Array, i: number, lo: number, hi: number, se: number): void {
  const v = dv(b);
  v.setUint32(FX.ST + 16 * i, lo >>> 0, true);
  v.setUint32(FX.ST + 16 * i + 4, hi >>> 0, true);
  v.setUint16(FX.ST + 16 * i + 8, se & 0xffff, true);
}

/** x87 control fields: FCW, FSW (TOP in 13:11), abridged FTW (bit k set: R[k] not empty) */
export function setX87Env(b: Uint8Array, fcw: number, fsw: number, ftwAbridged: number): void {
  const v = dv(b);
  v.setUint16(FX.FCW, fcw & 0xffff, true);
  v.setUint16(FX.FSW, fsw & 0xffff, true);
  v.setUint8(FX.FTW, ftwAbridged & 0xff);
}

/** the full two-bit tag of an 80-bit register value (APM Vol. 1 6.2.3): 0 valid, 1 zero, 2 special */
export function tagOf(lo: number, hi: number, se: number): number {
  const exp = se & 0x7fff;
  if (exp === 0x7fff) return 2;
  if (exp === 0) return (lo | hi) === 0 ? 1 : 2;
  return (hi & 0x80000000) !== 0 ? 0 : 2;
}

/** Load an image into the emulator's FPU state (what FXRSTOR64 does to the fields). */
export function loadFx(f: FpuState, b: Uint8Array): void {
  const v = dv(b);
  f.fcw = v.getUint16(FX.FCW, true);
  f.fsw = v.getUint16(FX.FSW, true);
  const top = (f.fsw >> 11) & 7;
  const abr = v.getUint8(FX.FTW);
  for (let i = 0; i < 8; i++) {
    const r = (top + i) & 7;
    f.sigLo[r] = v.getUint32(FX.ST + 16 * i, true);
    f.sigHi[r] = v.getUint32(FX.ST + 16 * i + 4, true);
    f.signExp[r] = v.getUint16(FX.ST + 16 * i + 8, true);
  }
  let ftw = 0;
  for (let r = 0; r < 8; r++) {
    const t = (abr >> r) & 1 ? tagOf(f.sigLo[r], f.sigHi[r], f.signExp[r]) : 3;
    ftw |= t << (2 * r);
  }
  f.ftw = ftw;
  f.fop = v.getUint16(FX.FOP, true) & 0x7ff;
  f.fip = Number(BigInt.asIntN(48, v.getBigUint64(FX.FIP, true)));
  f.fcs = 0;
  f.fdp = Number(BigInt.asIntN(48, v.getBigUint64(FX.FDP, true)));
  f.fds = 0;
  f.mxcsr = v.getUint32(FX.MXCSR, true);
  for (let k = 0; k < 64; k++) f.xmm[k] = v.getInt32(FX.XMM + 4 * k, true);
}

/** The emulator's FPU state as an image (the compared fields; reserved bytes zero). */
export function saveFx(f: FpuState): Uint8Array {
  const b = new Uint8Array(FX_SIZE);
  const v = dv(b);
  v.setUint16(FX.FCW, f.fcw, true);
  v.setUint16(FX.FSW, f.fsw, true);
  let abr = 0;
  for (let r = 0; r < 8; r++) if (((f.ftw >> (2 * r)) & 3) !== 3) abr |= 1 << r;
  v.setUint8(FX.FTW, abr);
  // FOP, FIP and FDP only while an unmasked exception is pending (FSW.ES = 1), zeros otherwise:
  // that is what the host's signal-frame fpstate holds (observed on AMD family 1Ah, which
  // reports XSaveErPtr, even though FNSTENV there shows the pointers updated without ES). The
  // pointers are thus compared for cases that end with ES = 1; FNSTENV/FNSAVE forms compare
  // them through memory.
  if ((f.fsw & 0x80) !== 0) {
    v.setUint16(FX.FOP, f.fop & 0x7ff, true);
    v.setBigUint64(FX.FIP, BigInt.asUintN(64, BigInt(f.fip)), true);
    v.setBigUint64(FX.FDP, BigInt.asUintN(64, BigInt(f.fdp)), true);
  }
  v.setUint32(FX.MXCSR, f.mxcsr >>> 0, true);
  const top = (f.fsw >> 11) & 7;
  for (let i = 0; i < 8; i++) {
    const r = (top + i) & 7;
    v.setUint32(FX.ST + 16 * i, f.sigLo[r], true);
    v.setUint32(FX.ST + 16 * i + 4, f.sigHi[r], true);
    v.setUint16(FX.ST + 16 * i + 8, f.signExp[r], true);
  }
  for (let k = 0; k < 64; k++) v.setInt32(FX.XMM + 4 * k, f.xmm[k], true);
  return b;
}

/** which image fields a case leaves out of the comparison (masks.ts says why) */
export interface FxIgnore {
  /** FOP, FIP and FDP (x87 last-instruction pointers) */
  pointers?: boolean;
  /** MXCSR bits not compared */
  mxcsr?: number;
  /** XMM bytes not compared: [register, byte mask of 16 bits] */
  xmm?: [number, number][];
  /**
   * binary32 lanes compared within a tolerance (RCPPS/RSQRTPS approximations): [register, lane
   * mask]; equal bit patterns, or two finite values of one sign whose encodings differ by at
   * most APPROX_ULPS
   */
  approx?: [number, number][];
}

/** 2^12 units in the last place of binary32: relative error about 2^-11 (2 x 1.5 x 2^-12 bound) */
export const APPROX_ULPS = 0x1000;

const hx = (v: number | bigint, w: number) => `0x${v.toString(16).padStart(w, '0')}`;

function bytesHex(b: Uint8Array, off: number, n: number): string {
  let s = '';
  for (let i = n - 1; i >= 0; i--) s += b[off + i].toString(16).padStart(2, '0');
  return s;
}

/** MXCSR field names for messages */
const MXCSR_BITS: [number, string][] = [
  [0x1, 'IE'], [0x2, 'DE'], [0x4, 'ZE'], [0x8, 'OE'], [0x10, 'UE'], [0x20, 'PE'], [0x40, 'DAZ'],
  [0x80, 'IM'], [0x100, 'DM'], [0x200, 'ZM'], [0x400, 'OM'], [0x800, 'UM'], [0x1000, 'PM'],
  [0x6000, 'RC'], [0x8000, 'FZ'], [0x20000, 'MM'],
];

/**
 * Compare two images (native `n`, emulator `e`, input `i`) field by field; the names say what
 * differs. FCW, FSW, the abridged FTW, FOP, FIP, FDP, MXCSR, ST0-7 (80 bits each) and XMM0-15
 * are compared exactly unless `ign` masks them.
 */
export function compareFx(n: Uint8Array, e: Uint8Array, i: Uint8Array, ign: FxIgnore): string[] {
  const out: string[] = [];
  const vn = dv(n);
  const ve = dv(e);
  const vi = dv(i);
  const f16 = (name: string, off: number, mask = 0xffff) => {
    const a = vn.getUint16(off, true) & mask;
    const b = ve.getUint16(off, true) & mask;
    if (a !== b) out.push(`${name}: native ${hx(a, 4)}, emulator ${hx(b, 4)} (input ${hx(vi.getUint16(off, true) & mask, 4)})`);
  };
  f16('FCW', FX.FCW);
  f16('FSW', FX.FSW);
  f16('FTW (abridged)', FX.FTW, 0xff);
  if (ign.pointers !== true) {
    f16('FOP', FX.FOP, 0x7ff);
    for (const [name, off] of [['FIP', FX.FIP], ['FDP', FX.FDP]] as const) {
      const a = vn.getBigUint64(off, true);
      const b = ve.getBigUint64(off, true);
      if (a !== b) out.push(`${name}: native ${hx(a, 16)}, emulator ${hx(b, 16)}`);
    }
  }
  const mm = ~(ign.mxcsr ?? 0) >>> 0;
  const mn = vn.getUint32(FX.MXCSR, true);
  const me = ve.getUint32(FX.MXCSR, true);
  const md = ((mn ^ me) & mm) >>> 0;
  if (md !== 0) {
    const which = MXCSR_BITS.filter(([bit]) => (md & bit) !== 0).map(([, s]) => s);
    out.push(`MXCSR: native ${hx(mn, 8)}, emulator ${hx(me, 8)} (input ${hx(vi.getUint32(FX.MXCSR, true), 8)}; differ in ${which.join(' ') || hx(md, 8)})`);
  }
  for (let s = 0; s < 8; s++) {
    const off = FX.ST + 16 * s;
    let d = false;
    for (let k = 0; k < 10; k++) if (n[off + k] !== e[off + k]) d = true;
    if (d) out.push(`ST${s}: native ${bytesHex(n, off, 10)}, emulator ${bytesHex(e, off, 10)} (input ${bytesHex(i, off, 10)})`);
  }
  for (let r = 0; r < 16; r++) {
    const off = FX.XMM + 16 * r;
    let m = 0xffff;
    for (const [ir, bm] of ign.xmm ?? []) if (ir === r) m &= ~bm;
    for (const [ir, lanes] of ign.approx ?? []) {
      if (ir !== r) continue;
      for (let k = 0; k < 4; k++) {
        if (((lanes >> k) & 1) === 0) continue;
        m &= ~(0xf << (4 * k));
        const a = vn.getUint32(off + 4 * k, true);
        const b = ve.getUint32(off + 4 * k, true);
        const fin = (v: number) => (v & 0x7f800000) !== 0x7f800000;
        const ok = a === b || (fin(a) && fin(b) && (a >>> 31) === (b >>> 31) && Math.abs(a - b) <= APPROX_ULPS);
        if (!ok) out.push(`XMM${r} lane ${k} (approximation): native ${hx(a, 8)}, emulator ${hx(b, 8)}`);
      }
    }
    let d = false;
    for (let k = 0; k < 16; k++) if ((m >> k) & 1 && n[off + k] !== e[off + k]) d = true;
    if (d) out.push(`XMM${r}: native ${bytesHex(n, off, 16)}, emulator ${bytesHex(e, off, 16)} (input ${bytesHex(i, off, 16)})`);
  }
  return out;
}
