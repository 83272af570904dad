/**
 * SSE2/SSSE3 packed-integer and bitwise instructions on XMM registers (AMD64 APM Vol. 4): PADD/
 * PSUB (wrapping and saturating), PMUL*, PMADDWD, PAVG, PMIN/PMAX, PSADBW, PCMPEQ/PCMPGT,
 * PACKSS/PACKUS, PUNPCK* (also UNPCKLPS/UNPCKHPS/UNPCKLPD/UNPCKHPD), PAND/PANDN/POR/PXOR (also
 * the ...PS/...PD forms), shifts by XMM count and by immediate, PSLLDQ/PSRLDQ, and the SSSE3
 * PSHUFB, PHADD*, PHSUB*, PMADDUBSW, PMULHRSW, PSIGN*, PABS*, PALIGNR.
 *
 * Operands are copied into three little-endian scratch vectors with byte/word/dword views (the
 * typed arrays share one buffer each; the result is built in R and then written to V).
 */

import type { Cpu } from '../cpu.js';
import type { Insn } from '../../x86/insn.js';
import { sseCheck } from '../fpu/checks.js';
import { PI } from '../../x86/table-sse.js';
import { ALIGN_LEGACY, loadW } from './sse-util.js';

function vec() {
  const buf = new ArrayBuffer(16);
  return {
    u8: new Uint8Array(buf), i8: new Int8Array(buf), u16: new Uint16Array(buf), i16: new Int16Array(buf),
    u32: new Uint32Array(buf), i32: new Int32Array(buf),
  };
}
/** destination, source and result vectors (mmx.ts uses them too) */
export const D = vec();
export const S = vec();
export const R = vec();
/** 32 bytes for PALIGNR: D high, S low */
const CAT = new Uint8Array(32);

const satSB = (v: number) => (v > 127 ? 127 : v < -128 ? -128 : v);
const satUB = (v: number) => (v > 255 ? 255 : v < 0 ? 0 : v);
const satSW = (v: number) => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);
const satUW = (v: number) => (v > 65535 ? 65535 : v < 0 ? 0 : v);

/** 64-bit lane add/sub on int32 halves: lanes 0/1 and 2/3 */
function add64(sub: boolean): void {
  for (let q = 0; q < 4; q += 2) {
    const al = D.u32[q]; const ah = D.u32[q + 1];
    let bl = S.u32[q]; let bh = S.u32[q + 1];
    if (sub) { bl = (~bl + 1) >>> 0; bh = (~bh + (bl === 0 ? 1 : 0)) >>> 0; }
    const lo = al + bl;
    R.u32[q] = lo >>> 0;
    R.u32[q + 1] = (ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0;
  }
}

/** shift count from the low 64 bits of S (any upper bit set: at least 64) */
function xmmCount(): number {
  return S.u32[1] !== 0 ? 64 : S.u32[0] > 64 ? 64 : S.u32[0];
}

/** logical/arithmetic shifts of every element; kind 0 srl, 1 sra, 2 sll; size 2, 4, 8 */
export function shift(kind: number, size: number, n: number): void {
  if (size === 2) {
    for (let k = 0; k < 8; k++) {
      const v = D.u16[k];
      R.u16[k] = kind === 2 ? (n > 15 ? 0 : v << n) : kind === 0 ? (n > 15 ? 0 : v >>> n) : D.i16[k] >> (n > 15 ? 15 : n);
    }
  } else if (size === 4) {
    for (let k = 0; k < 4; k++) {
      const v = D.u32[k];
      R.u32[k] = kind === 2 ? (n > 31 ? 0 : v << n) : kind === 0 ? (n > 31 ? 0 : v >>> n) : D.i32[k] >> (n > 31 ? 31 : n);
    }
  } else {
    for (let q = 0; q < 4; q += 2) {
      const lo = D.u32[q];
      const hi = D.u32[q + 1];
      if (n > 63) { R.u32[q] = 0; R.u32[q + 1] = 0; } else if (n === 0) { R.u32[q] = lo; R.u32[q + 1] = hi; } else if (kind === 2) {
        if (n >= 32) { R.u32[q + 1] = lo << (n - 32); R.u32[q] = 0; } else { R.u32[q + 1] = (hi << n) | (lo >>> (32 - n)); R.u32[q] = lo << n; }
      } else if (n >= 32) { R.u32[q] = hi >>> (n - 32); R.u32[q + 1] = 0; } else {
        R.u32[q] = (lo >>> n) | (hi << (32 - n)); R.u32[q + 1] = hi >>> n;
      }
    }
  }
}

function loadD(c: Cpu, r: number): void {
  const x = c.fpu.xmm;
  const b = r << 2;
  D.i32[0] = x[b]; D.i32[1] = x[b + 1]; D.i32[2] = x[b + 2]; D.i32[3] = x[b + 3];
}

function storeR(c: Cpu, r: number): void {
  const x = c.fpu.xmm;
  const b = r << 2;
  x[b] = R.i32[0]; x[b + 1] = R.i32[1]; x[b + 2] = R.i32[2]; x[b + 3] = R.i32[3];
}

/** V = op(V, W) */
function pInt(c: Cpu, i: Insn): void {
  sseCheck(c);
  const w = loadW(c, i, ALIGN_LEGACY);
  S.i32[0] = w[0]; S.i32[1] = w[1]; S.i32[2] = w[2]; S.i32[3] = w[3];
  loadD(c, i.reg);
  intCore(i.arg);
  storeR(c, i.reg);
}

/** R = op(D, S) on 128 bits */
export function intCore(op: number): void {
  const { u8, i8, u16, i16, u32, i32 } = R;
  switch (op as PI) {
    case PI.ADDB: for (let k = 0; k < 16; k++) u8[k] = D.u8[k] + S.u8[k]; break;
    case PI.ADDW: for (let k = 0; k < 8; k++) u16[k] = D.u16[k] + S.u16[k]; break;
    case PI.ADDD: for (let k = 0; k < 4; k++) i32[k] = (D.i32[k] + S.i32[k]) | 0; break;
    case PI.ADDQ: add64(false); break;
    case PI.SUBB: for (let k = 0; k < 16; k++) u8[k] = D.u8[k] - S.u8[k]; break;
    case PI.SUBW: for (let k = 0; k < 8; k++) u16[k] = D.u16[k] - S.u16[k]; break;
    case PI.SUBD: for (let k = 0; k < 4; k++) i32[k] = (D.i32[k] - S.i32[k]) | 0; break;
    case PI.SUBQ: add64(true); break;
    case PI.ADDSB: for (let k = 0; k < 16; k++) i8[k] = satSB(D.i8[k] + S.i8[k]); break;
    case PI.ADDSW: for (let k = 0; k < 8; k++) i16[k] = satSW(D.i16[k] + S.i16[k]); break;
    case PI.ADDUSB: for (let k = 0; k < 16; k++) u8[k] = satUB(D.u8[k] + S.u8[k]); break;
    case PI.ADDUSW: for (let k = 0; k < 8; k++) u16[k] = satUW(D.u16[k] + S.u16[k]); break;
    case PI.SUBSB: for (let k = 0; k < 16; k++) i8[k] = satSB(D.i8[k] - S.i8[k]); break;
    case PI.SUBSW: for (let k = 0; k < 8; k++) i16[k] = satSW(D.i16[k] - S.i16[k]); break;
    case PI.SUBUSB: for (let k = 0; k < 16; k++) u8[k] = satUB(D.u8[k] - S.u8[k]); break;
    case PI.SUBUSW: for (let k = 0; k < 8; k++) u16[k] = satUW(D.u16[k] - S.u16[k]); break;
    case PI.MULLW: for (let k = 0; k < 8; k++) u16[k] = Math.imul(D.i16[k], S.i16[k]); break;
    case PI.MULHW: for (let k = 0; k < 8; k++) u16[k] = Math.imul(D.i16[k], S.i16[k]) >> 16; break;
    case PI.MULHUW: for (let k = 0; k < 8; k++) u16[k] = (D.u16[k] * S.u16[k]) >>> 16; break;
    case PI.MULUDQ:
      for (let q = 0; q < 4; q += 2) {
        const a = D.u32[q]; const b = S.u32[q];
        // 32x32 -> 64 in 16-bit pieces
        const al = a & 0xffff; const ah = a >>> 16; const bl = b & 0xffff; const bh = b >>> 16;
        const ll = al * bl; const lh = al * bh; const hl = ah * bl; const hh = ah * bh;
        const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
        u32[q] = ((mid & 0xffff) << 16) | (ll & 0xffff);
        u32[q + 1] = (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
      }
      break;
    case PI.MADDWD:
      for (let k = 0; k < 4; k++) i32[k] = (Math.imul(D.i16[2 * k], S.i16[2 * k]) + Math.imul(D.i16[2 * k + 1], S.i16[2 * k + 1])) | 0;
      break;
    case PI.AVGB: for (let k = 0; k < 16; k++) u8[k] = (D.u8[k] + S.u8[k] + 1) >> 1; break;
    case PI.AVGW: for (let k = 0; k < 8; k++) u16[k] = (D.u16[k] + S.u16[k] + 1) >> 1; break;
    case PI.SADBW:
      for (let h = 0; h < 2; h++) {
        let sum = 0;
        for (let k = 0; k < 8; k++) sum += Math.abs(D.u8[8 * h + k] - S.u8[8 * h + k]);
        u32[2 * h] = sum; u32[2 * h + 1] = 0;
      }
      break;
    case PI.MINUB: for (let k = 0; k < 16; k++) u8[k] = Math.min(D.u8[k], S.u8[k]); break;
    case PI.MAXUB: for (let k = 0; k < 16; k++) u8[k] = Math.max(D.u8[k], S.u8[k]); break;
    case PI.MINSW: for (let k = 0; k < 8; k++) i16[k] = Math.min(D.i16[k], S.i16[k]); break;
    case PI.MAXSW: for (let k = 0; k < 8; k++) i16[k] = Math.max(D.i16[k], S.i16[k]); break;
    case PI.CMPEQB: for (let k = 0; k < 16; k++) u8[k] = D.u8[k] === S.u8[k] ? 0xff : 0; break;
    case PI.CMPEQW: for (let k = 0; k < 8; k++) u16[k] = D.u16[k] === S.u16[k] ? 0xffff : 0; break;
    case PI.CMPEQD: for (let k = 0; k < 4; k++) i32[k] = D.i32[k] === S.i32[k] ? -1 : 0; break;
    case PI.CMPGTB: for (let k = 0; k < 16; k++) u8[k] = D.i8[k] > S.i8[k] ? 0xff : 0; break;
    case PI.CMPGTW: for (let k = 0; k < 8; k++) u16[k] = D.i16[k] > S.i16[k] ? 0xffff : 0; break;
    case PI.CMPGTD: for (let k = 0; k < 4; k++) i32[k] = D.i32[k] > S.i32[k] ? -1 : 0; break;
    case PI.PACKSSWB: for (let k = 0; k < 8; k++) { i8[k] = satSB(D.i16[k]); i8[k + 8] = satSB(S.i16[k]); } break;
    case PI.PACKUSWB: for (let k = 0; k < 8; k++) { u8[k] = satUB(D.i16[k]); u8[k + 8] = satUB(S.i16[k]); } break;
    case PI.PACKSSDW: for (let k = 0; k < 4; k++) { i16[k] = satSW(D.i32[k]); i16[k + 4] = satSW(S.i32[k]); } break;
    case PI.UNPCKLBW: for (let k = 0; k < 8; k++) { u8[2 * k] = D.u8[k]; u8[2 * k + 1] = S.u8[k]; } break;
    case PI.UNPCKHBW: for (let k = 0; k < 8; k++) { u8[2 * k] = D.u8[k + 8]; u8[2 * k + 1] = S.u8[k + 8]; } break;
    case PI.UNPCKLWD: for (let k = 0; k < 4; k++) { u16[2 * k] = D.u16[k]; u16[2 * k + 1] = S.u16[k]; } break;
    case PI.UNPCKHWD: for (let k = 0; k < 4; k++) { u16[2 * k] = D.u16[k + 4]; u16[2 * k + 1] = S.u16[k + 4]; } break;
    case PI.UNPCKLDQ: u32[0] = D.u32[0]; u32[1] = S.u32[0]; u32[2] = D.u32[1]; u32[3] = S.u32[1]; break;
    case PI.UNPCKHDQ: u32[0] = D.u32[2]; u32[1] = S.u32[2]; u32[2] = D.u32[3]; u32[3] = S.u32[3]; break;
    case PI.UNPCKLQDQ: u32[0] = D.u32[0]; u32[1] = D.u32[1]; u32[2] = S.u32[0]; u32[3] = S.u32[1]; break;
    case PI.UNPCKHQDQ: u32[0] = D.u32[2]; u32[1] = D.u32[3]; u32[2] = S.u32[2]; u32[3] = S.u32[3]; break;
    case PI.AND: for (let k = 0; k < 4; k++) i32[k] = D.i32[k] & S.i32[k]; break;
    case PI.ANDN: for (let k = 0; k < 4; k++) i32[k] = ~D.i32[k] & S.i32[k]; break;
    case PI.OR: for (let k = 0; k < 4; k++) i32[k] = D.i32[k] | S.i32[k]; break;
    case PI.XOR: for (let k = 0; k < 4; k++) i32[k] = D.i32[k] ^ S.i32[k]; break;
    case PI.SLLW: shift(2, 2, xmmCount()); break;
    case PI.SLLD: shift(2, 4, xmmCount()); break;
    case PI.SLLQ: shift(2, 8, xmmCount()); break;
    case PI.SRLW: shift(0, 2, xmmCount()); break;
    case PI.SRLD: shift(0, 4, xmmCount()); break;
    case PI.SRLQ: shift(0, 8, xmmCount()); break;
    case PI.SRAW: shift(1, 2, xmmCount()); break;
    case PI.SRAD: shift(1, 4, xmmCount()); break;
    case PI.PSHUFB:
      for (let k = 0; k < 16; k++) { const s = S.u8[k]; u8[k] = s & 0x80 ? 0 : D.u8[s & 15]; }
      break;
    case PI.PHADDW: case PI.PHSUBW: case PI.PHADDSW: case PI.PHSUBSW: {
      const sub = op === PI.PHSUBW || op === PI.PHSUBSW;
      const sat = op === PI.PHADDSW || op === PI.PHSUBSW;
      for (let k = 0; k < 8; k++) {
        const src = k < 4 ? D.i16 : S.i16;
        const j = 2 * (k & 3);
        const v = sub ? src[j] - src[j + 1] : src[j] + src[j + 1];
        i16[k] = sat ? satSW(v) : v;
      }
      break;
    }
    case PI.PHADDD: case PI.PHSUBD: {
      const sub = op === PI.PHSUBD;
      for (let k = 0; k < 4; k++) {
        const src = k < 2 ? D.i32 : S.i32;
        const j = 2 * (k & 1);
        i32[k] = sub ? (src[j] - src[j + 1]) | 0 : (src[j] + src[j + 1]) | 0;
      }
      break;
    }
    case PI.PMADDUBSW:
      for (let k = 0; k < 8; k++) i16[k] = satSW(D.u8[2 * k] * S.i8[2 * k] + D.u8[2 * k + 1] * S.i8[2 * k + 1]);
      break;
    case PI.PMULHRSW:
      for (let k = 0; k < 8; k++) i16[k] = ((Math.imul(D.i16[k], S.i16[k]) >> 14) + 1) >> 1;
      break;
    case PI.PSIGNB: for (let k = 0; k < 16; k++) i8[k] = S.i8[k] < 0 ? -D.i8[k] : S.i8[k] === 0 ? 0 : D.i8[k]; break;
    case PI.PSIGNW: for (let k = 0; k < 8; k++) i16[k] = S.i16[k] < 0 ? -D.i16[k] : S.i16[k] === 0 ? 0 : D.i16[k]; break;
    case PI.PSIGND: for (let k = 0; k < 4; k++) i32[k] = S.i32[k] < 0 ? -D.i32[k] | 0 : S.i32[k] === 0 ? 0 : D.i32[k]; break;
    case PI.PABSB: for (let k = 0; k < 16; k++) u8[k] = Math.abs(S.i8[k]); break;
    case PI.PABSW: for (let k = 0; k < 8; k++) u16[k] = Math.abs(S.i16[k]); break;
    case PI.PABSD: for (let k = 0; k < 4; k++) u32[k] = Math.abs(S.i32[k]); break;
    default: break;
  }
}

/** shifts by an immediate (66 0F 71-73): arg kind | size << 4 (kind 3 PSRLDQ, 4 PSLLDQ) */
function pShiftI(c: Cpu, i: Insn): void {
  sseCheck(c);
  loadD(c, i.rm);
  const n = i.imm & 0xff;
  const kind = i.arg & 15;
  if (kind >= 3) {
    const b = n > 16 ? 16 : n;
    for (let k = 0; k < 16; k++) {
      const src = kind === 3 ? k + b : k - b;
      R.u8[k] = src >= 0 && src < 16 ? D.u8[src] : 0;
    }
  } else {
    shift(kind, i.arg >> 4, n);
  }
  storeR(c, i.rm);
}

/** PALIGNR: (V:W) >> (imm8 * 8), low 16 bytes */
function palignr(c: Cpu, i: Insn): void {
  sseCheck(c);
  const w = loadW(c, i, ALIGN_LEGACY);
  S.i32[0] = w[0]; S.i32[1] = w[1]; S.i32[2] = w[2]; S.i32[3] = w[3];
  loadD(c, i.reg);
  CAT.set(S.u8, 0);
  CAT.set(D.u8, 16);
  const n = i.imm & 0xff;
  for (let k = 0; k < 16; k++) R.u8[k] = k + n < 32 ? CAT[k + n] : 0;
  storeR(c, i.reg);
}

export const handlers = { pInt, pShiftI, palignr };
