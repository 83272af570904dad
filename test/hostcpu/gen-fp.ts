/**
 * FP operand values for the FP forms: edge-biased binary32 and binary64 bit patterns (zeros,
 * denormals, the smallest and largest normals, infinities, quiet and signalling NaNs, values
 * near one and near the integer conversion limits) and random ones, and the MXCSR settings
 * (rounding modes, DAZ, FTZ, masked or unmasked exceptions) the cases walk through.
 */

import { defaultFx, setMxcsr, setSt, setX87Env, setXmmLane } from './fx.js';
import type { CB } from './gen.js';

export const F32_EDGES = [
  0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000, 0x80800000,
  0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001,
  0x7fbfffff, 0x7fffffff, 0x3f800000, 0xbf800000, 0x3f800001, 0x3f7fffff, 0x40000000, 0x3fc00000,
  0x4f000000, 0xcf000000, 0x5f000000, 0xdf000000, 0x4effffff, 0x3effffff, 0x34000000, 0x0c000000,
];

/** binary64 edges as [lo, hi] */
export const F64_EDGES: [number, number][] = [
  [0, 0], [0, 0x80000000], [1, 0], [1, 0x80000000], [0xffffffff, 0x000fffff], [0xffffffff, 0x800fffff],
  [0, 0x00100000], [0, 0x80100000], [0xffffffff, 0x7fefffff], [0xffffffff, 0xffefffff],
  [0, 0x7ff00000], [0, 0xfff00000], [0, 0x7ff80000], [0, 0xfff80000], [1, 0x7ff00000], [1, 0xfff00000],
  [0xffffffff, 0x7ff7ffff], [0xffffffff, 0x7fffffff], [0, 0x3ff00000], [0, 0xbff00000], [1, 0x3ff00000],
  [0xffffffff, 0x3fefffff], [0, 0x40000000], [0, 0x3ff80000], [0, 0x41e00000], [0, 0xc1e00000],
  [0, 0x43e00000], [0, 0xc3e00000], [0xffe00000, 0x41dfffff], [0x00200000, 0xc1e00000], [0, 0x3fe00000],
  [0, 0x36a00000], [0, 0x38100000], [0xe0000000, 0x47efffff], [0, 0x36900000],
];

/** a random binary32 pattern with structure */
export function f32Val(cb: CB): number {
  const r = cb.rng;
  switch (r.int(8)) {
    case 0: case 1: return r.pick(F32_EDGES) >>> 0;
    case 2: return (r.u32() & 0x807fffff) >>> 0; // denormal or zero
    case 3: { // small integers and simple fractions
      const v = Math.fround(r.range(-40, 40) / r.pick([1, 2, 3, 4, 7, 10]));
      return f32Bits(v);
    }
    case 4: return ((r.u32() & 0x807fffff) | ((r.range(0x60, 0x9f)) << 23)) >>> 0; // moderate exponents
    case 5: return ((r.u32() & 0x807fffff) | (r.pick([0, 1, 2, 0xfd, 0xfe, 0xff]) << 23)) >>> 0;
    default: return r.u32();
  }
}

/** a random binary64 pattern with structure, as [lo, hi] */
export function f64Val(cb: CB): [number, number] {
  const r = cb.rng;
  switch (r.int(8)) {
    case 0: case 1: { const [lo, hi] = r.pick(F64_EDGES); return [lo >>> 0, hi >>> 0]; }
    case 2: return [r.u32(), (r.u32() & 0x800fffff) >>> 0];
    case 3: {
      const v = r.range(-40, 40) / r.pick([1, 2, 3, 4, 7, 10]);
      return f64Bits(v);
    }
    case 4: return [r.u32(), ((r.u32() & 0x800fffff) | (r.range(0x3c0, 0x43f) << 20)) >>> 0];
    case 5: return [r.u32(), ((r.u32() & 0x800fffff) | (r.pick([0, 1, 2, 0x7fd, 0x7fe, 0x7ff]) << 20)) >>> 0];
    case 6: { // binary32 values widened (exactly representable both ways)
      const b = f32Val(cb);
      return f64Bits(new Float32Array(new Uint32Array([b]).buffer)[0]);
    }
    default: return [r.u32(), r.u32()];
  }
}

const cvt = new DataView(new ArrayBuffer(8));
export function f32Bits(v: number): number { cvt.setFloat32(0, v, true); return cvt.getUint32(0, true); }
export function f64Bits(v: number): [number, number] {
  cvt.setFloat64(0, v, true);
  return [cvt.getUint32(0, true), cvt.getUint32(4, true)];
}

/** the masked-exception default (1F80) with a rounding mode */
export const MXCSR_DEFAULT = 0x1f80;

/**
 * An MXCSR value for case k: the first cases walk the four rounding modes with DAZ and FZ off
 * and on; then random modes, DAZ/FZ, sticky flags, and now and then unmasked exceptions
 * (`unmask` = probability of clearing a random subset of the masks).
 */
export function mxcsrVal(cb: CB, unmask = 0.15): number {
  const r = cb.rng;
  if (cb.k < 16) {
    const rc = cb.k & 3;
    const daz = (cb.k >> 2) & 1;
    const fz = (cb.k >> 3) & 1;
    return MXCSR_DEFAULT | (rc << 13) | (daz << 6) | (fz << 15);
  }
  let m = MXCSR_DEFAULT | (r.int(4) << 13);
  if (r.bool(0.25)) m |= 0x40;
  if (r.bool(0.25)) m |= 0x8000;
  if (r.bool(0.2)) m |= r.u32() & 0x3f; // sticky flags already set
  if (r.bool(unmask)) m &= ~((r.u32() & 0x3f) << 7);
  return m >>> 0;
}

/**
 * A fresh FP image with random XMM contents (FP-valued lanes, `f64` picks binary64 lanes) and
 * the given MXCSR; the x87 part is the FNINIT state.
 */
export function fpImage(cb: CB, mxcsr: number, f64 = false): Uint8Array {
  const b = defaultFx();
  for (let r = 0; r < 16; r++) {
    if (f64) {
      for (let h = 0; h < 2; h++) {
        const [lo, hi] = f64Val(cb);
        setXmmLane(b, r, 2 * h, lo);
        setXmmLane(b, r, 2 * h + 1, hi);
      }
    } else {
      for (let k = 0; k < 4; k++) setXmmLane(b, r, k, f32Val(cb));
    }
  }
  setMxcsr(b, mxcsr);
  return b;
}

/** random x87 contents: registers of every class, a random TOP and abridged tag */
export function randomX87(cb: CB, b: Uint8Array): void {
  const r = cb.rng;
  for (let i = 0; i < 8; i++) {
    const exp = r.pick([0, 1, 0x3fff, 0x4000, 0x3ffe, 0x7ffe, 0x7fff, r.int(0x8000)]);
    let hi = r.u32();
    if (exp !== 0 && r.bool(0.8)) hi |= 0x80000000;
    setSt(b, i, r.u32(), hi, exp | (r.bool(0.5) ? 0x8000 : 0));
  }
  // FCW: exceptions masked or not, PC and RC random, reserved bit 6 set as FNINIT leaves it
  const fcw = 0x40 | (r.u32() & 0x3f) | (r.int(4) << 8) | (r.int(4) << 10);
  // FSW without ES/B (no pending unmasked exception) and a random TOP
  const fsw = (r.u32() & 0x4700 & ~0) | (r.int(8) << 11) | (r.u32() & 0x3f & fcw);
  setX87Env(b, fcw, fsw, r.u32() & 0xff);
}

/** lanes of XMM and memory values */
export type Lanes = 'f32' | 'f64' | 'int';

export interface SseSpec {
  /** mandatory prefix (66, F3, F2) or 0 */
  pre: number;
  /** opcode bytes after 0F (e.g. [0x58], [0x38, 0x00]) */
  op: number[];
  mem: boolean;
  /** bytes the memory operand spans */
  span: number;
  /** the memory operand must be 16-byte aligned: mostly aligned, sometimes not (#GP) */
  aligned: boolean;
  lanes: Lanes;
  /** ModRM.reg is a group extension instead of an XMM register */
  ext?: number;
  /** an immediate byte */
  imm?: (cb: CB) => number;
  /** probability of unmasking MXCSR exceptions */
  unmask?: number;
  /** REX.W */
  w?: boolean;
}

/** fill `n` bytes at window offset `off` with lanes of the kind */
export function fillMem(cb: CB, off: number, n: number, lanes: Lanes): void {
  if (lanes === 'f32') {
    for (let k = 0; k + 4 <= n; k += 4) cb.writeMem(off + k, 4, BigInt(f32Val(cb)));
  } else if (lanes === 'f64') {
    for (let k = 0; k + 8 <= n; k += 8) {
      const [lo, hi] = f64Val(cb);
      cb.writeMem(off + k, 8, (BigInt(hi) << 32n) | BigInt(lo));
    }
  }
}

/** integer lane contents with structure (edges of every element size) */
export function intImage(cb: CB, b: Uint8Array): void {
  const r = cb.rng;
  for (let x = 0; x < 16; x++) {
    for (let k = 0; k < 4; k++) {
      let v: number;
      switch (r.int(5)) {
        case 0: v = r.pick([0, 0xffffffff, 0x80000000, 0x7fffffff, 0x80008000, 0x7fff7fff, 0x80808080, 0x7f7f7f7f, 0x00ff00ff, 0x01010101]); break;
        case 1: v = r.range(-300, 300); break;
        case 2: v = (r.u32() & 0x0f0f0f0f) | (r.bool() ? 0x80808080 : 0); break;
        default: v = r.u32();
      }
      setXmmLane(b, x, k, v);
    }
  }
}

/**
 * One case of an SSE instruction with XMM operands: image with lanes of the kind and MXCSR
 * from mxcsrVal, registers and memory operand allocated, bytes emitted. Returns the ModRM
 * allocation (G = ModRM.reg, E = ModRM.rm register or memory).
 */
export function sseCase(cb: CB, s: SseSpec) {
  const fx = fpImage(cb, mxcsrVal(cb, s.unmask ?? 0.15), s.lanes === 'f64');
  if (s.lanes === 'int') intImage(cb, fx);
  cb.fx = fx;
  const misalign = s.mem && s.aligned && cb.rng.bool(0.08);
  const mo = cb.alloc({
    mem: s.mem, span: s.span, align: s.aligned && !misalign ? 16 : 1, ext: s.ext, w: s.w,
  });
  if (mo.mem !== null) fillMem(cb, mo.mem.off, s.span, s.lanes);
  const op = [0x0f, ...s.op];
  cb.emit(mo, op, {
    pre: s.pre !== 0 ? [s.pre] : undefined,
    opsize: s.w === true ? 8 : undefined,
    imm: s.imm !== undefined ? [1, BigInt(s.imm(cb))] : undefined,
  });
  return mo;
}
