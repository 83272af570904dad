/**
 * MMX-register forms: the integer operations, moves, shuffles, inserts/extracts, shifts by
 * immediate, the SSSE3 forms, MOVQ2DQ/MOVDQ2Q and the MMX conversions. The x87 state comes in
 * with random contents, TOP and tags (MMn is the significand of physical register Rn; after
 * the instruction TOP = 0, all tags valid and the written register's exponent all ones), and
 * now and then with a pending unmasked x87 exception (FSW.ES: #MF).
 */

import type { Feature, FormDef } from './form.js';
import type { CB } from './gen.js';
import { fpImage, fillMem, intImage, mxcsrVal, randomX87 } from './gen-fp.js';
import { setSt } from './fx.js';
import { BUF_ADDR, MEMSZ } from './layout.js';

const MK = (mem: boolean) => (mem ? 'mem' : 'reg');

const INT: [number, string][] = [
  [0x60, 'punpcklbw'], [0x61, 'punpcklwd'], [0x62, 'punpckldq'], [0x63, 'packsswb'], [0x64, 'pcmpgtb'],
  [0x65, 'pcmpgtw'], [0x66, 'pcmpgtd'], [0x67, 'packuswb'], [0x68, 'punpckhbw'], [0x69, 'punpckhwd'],
  [0x6a, 'punpckhdq'], [0x6b, 'packssdw'], [0x74, 'pcmpeqb'], [0x75, 'pcmpeqw'], [0x76, 'pcmpeqd'],
  [0xd1, 'psrlw'], [0xd2, 'psrld'], [0xd3, 'psrlq'], [0xd4, 'paddq'], [0xd5, 'pmullw'], [0xd8, 'psubusb'],
  [0xd9, 'psubusw'], [0xda, 'pminub'], [0xdb, 'pand'], [0xdc, 'paddusb'], [0xdd, 'paddusw'], [0xde, 'pmaxub'],
  [0xdf, 'pandn'], [0xe0, 'pavgb'], [0xe1, 'psraw'], [0xe2, 'psrad'], [0xe3, 'pavgw'], [0xe4, 'pmulhuw'],
  [0xe5, 'pmulhw'], [0xe8, 'psubsb'], [0xe9, 'psubsw'], [0xea, 'pminsw'], [0xeb, 'por'], [0xec, 'paddsb'],
  [0xed, 'paddsw'], [0xee, 'pmaxsw'], [0xef, 'pxor'], [0xf1, 'psllw'], [0xf2, 'pslld'], [0xf3, 'psllq'],
  [0xf4, 'pmuludq'], [0xf5, 'pmaddwd'], [0xf6, 'psadbw'], [0xf8, 'psubb'], [0xf9, 'psubw'], [0xfa, 'psubd'],
  [0xfb, 'psubq'], [0xfc, 'paddb'], [0xfd, 'paddw'], [0xfe, 'paddd'],
];

const SSSE3: [number, string][] = [
  [0x00, 'pshufb'], [0x01, 'phaddw'], [0x02, 'phaddd'], [0x03, 'phaddsw'], [0x04, 'pmaddubsw'], [0x05, 'phsubw'],
  [0x06, 'phsubd'], [0x07, 'phsubsw'], [0x08, 'psignb'], [0x09, 'psignw'], [0x0a, 'psignd'], [0x0b, 'pmulhrsw'],
  [0x1c, 'pabsb'], [0x1d, 'pabsw'], [0x1e, 'pabsd'],
];

/** FP image with integer XMM lanes, random x87 state with integer-like MMX values */
function mmxImage(cb: CB, f64 = false): Uint8Array {
  const fx = fpImage(cb, mxcsrVal(cb), f64);
  if (!f64) intImage(cb, fx);
  randomX87(cb, fx);
  const r = cb.rng;
  for (let i = 0; i < 8; i++) {
    const v = (k: number) => (r.bool(0.3) ? r.pick([0, 0xffffffff, 0x80008000, 0x7fff7fff, 0x80808080, 0x7f7f7f7f, 0x00ff00ff]) : r.u32()) + 0 * k;
    const se = r.bool(0.7) ? r.u32() & 0xffff : 0xffff;
    setSt(fx, i, v(0), v(1), se);
  }
  // a pending unmasked x87 exception now and then: #MF
  if (r.bool(0.05)) {
    const v = new DataView(fx.buffer);
    v.setUint16(0, v.getUint16(0, true) & ~1, true); // IM clear
    v.setUint16(2, v.getUint16(2, true) | 0x8081, true); // B, ES, IE
  }
  cb.fx = fx;
  return fx;
}

interface Spec { op: number[]; mem: boolean; span: number; pre?: number; ext?: number; imm?: (cb: CB) => number; w?: boolean; lanes?: 'f32' | 'f64' }

function mmxCase(cb: CB, s: Spec) {
  mmxImage(cb, s.lanes === 'f64');
  const mo = cb.alloc({ mem: s.mem, span: s.span, align: s.span === 16 && !cb.rng.bool(0.08) ? 16 : 1, ext: s.ext, w: s.w });
  if (mo.mem !== null && s.lanes !== undefined) fillMem(cb, mo.mem.off, s.span, s.lanes);
  cb.emit(mo, [0x0f, ...s.op], {
    pre: s.pre !== undefined ? [s.pre] : undefined,
    opsize: s.w === true ? 8 : undefined,
    imm: s.imm !== undefined ? [1, BigInt(s.imm(cb))] : undefined,
  });
  return mo;
}

export function mmxForms(): FormDef[] {
  const out: FormDef[] = [];
  const add = (name: string, s: Omit<Spec, 'mem'>, kinds: boolean[] = [false, true], extra: Partial<FormDef> = {}) => {
    for (const mem of kinds) {
      out.push({ name: `${name} (${MK(mem)})`, family: 'none', size: 8, ...extra, gen: (cb) => { mmxCase(cb, { ...s, mem }); } });
    }
  };
  for (const [opc, name] of INT) add(`${name} mm`, { op: [opc], span: opc <= 0x62 ? 4 : 8 });
  const ssse3: Partial<FormDef> = { feature: 'ssse3' as Feature };
  for (const [opc, name] of SSSE3) add(`${name} mm`, { op: [0x38, opc], span: 8 }, [false, true], ssse3);
  add('palignr mm', { op: [0x3a, 0x0f], span: 8, imm: (cb) => cb.rng.int(24) }, [false, true], ssse3);
  const sh: [string, number, number][] = [
    ['psrlw', 0x71, 2], ['psraw', 0x71, 4], ['psllw', 0x71, 6], ['psrld', 0x72, 2], ['psrad', 0x72, 4],
    ['pslld', 0x72, 6], ['psrlq', 0x73, 2], ['psllq', 0x73, 6],
  ];
  for (const [name, opc, ext] of sh) add(`${name} mm, imm8`, { op: [opc], span: 8, ext, imm: (cb) => (cb.rng.bool(0.8) ? cb.rng.int(20) : cb.rng.int(256)) }, [false]);
  for (const w of [false, true]) {
    add(`mov${w ? 'q' : 'd'} mm, r/m${w ? 64 : 32}`, { op: [0x6e], span: w ? 8 : 4, w });
    add(`mov${w ? 'q' : 'd'} r/m${w ? 64 : 32}, mm`, { op: [0x7e], span: w ? 8 : 4, w });
  }
  add('movq mm, mm/m64', { op: [0x6f], span: 8 });
  add('movq mm/m64, mm', { op: [0x7f], span: 8 });
  add('movntq m64, mm', { op: [0xe7], span: 8 }, [true]);
  add('pshufw', { op: [0x70], span: 8, imm: (cb) => cb.rng.int(256) });
  add('pinsrw mm', { op: [0xc4], span: 2, imm: (cb) => cb.rng.int(256) });
  add('pextrw r32, mm', { op: [0xc5], span: 8, imm: (cb) => cb.rng.int(256) }, [false]);
  add('pmovmskb r32, mm', { op: [0xd7], span: 8 }, [false]);
  out.push({
    name: 'maskmovq (reg)', family: 'none', size: 8,
    gen: (cb) => {
      mmxCase(cb, { op: [0xf7], mem: false, span: 8 });
      if (cb.rng.bool(0.9)) cb.setReg(7, 8, BigInt(BUF_ADDR + cb.rng.int(MEMSZ - 7)));
    },
  });
  add('movq2dq', { op: [0xd6], span: 8, pre: 0xf3 }, [false]);
  add('movdq2q', { op: [0xd6], span: 8, pre: 0xf2 }, [false]);
  add('cvtpi2ps', { op: [0x2a], span: 8 });
  add('cvtpi2pd', { op: [0x2a], span: 8, pre: 0x66 });
  add('cvtps2pi', { op: [0x2d], span: 8, lanes: 'f32' });
  add('cvttps2pi', { op: [0x2c], span: 8, lanes: 'f32' });
  add('cvtpd2pi', { op: [0x2d], span: 16, pre: 0x66, lanes: 'f64' });
  add('cvttpd2pi', { op: [0x2c], span: 16, pre: 0x66, lanes: 'f64' });
  return out;
}
