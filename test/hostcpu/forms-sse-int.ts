/**
 * SSE2/SSSE3 packed-integer and bitwise forms (every 66 0F integer opcode, the ...PS/...PD
 * logic and unpack forms, shifts by register and immediate, shuffles, PINSRW/PEXTRW, the 0F 38
 * and 0F 3A SSSE3 forms), each with a register and a memory source (16-byte alignment rule
 * included: now and then a misaligned operand raises #GP).
 */

import type { Feature, FormDef } from './form.js';
import { sseCase, type Lanes } from './gen-fp.js';

const MK = (mem: boolean) => (mem ? 'mem' : 'reg');

const INT_OPS: [number, string][] = [
  [0x60, 'punpcklbw'], [0x61, 'punpcklwd'], [0x62, 'punpckldq'], [0x63, 'packsswb'], [0x64, 'pcmpgtb'],
  [0x65, 'pcmpgtw'], [0x66, 'pcmpgtd'], [0x67, 'packuswb'], [0x68, 'punpckhbw'], [0x69, 'punpckhwd'],
  [0x6a, 'punpckhdq'], [0x6b, 'packssdw'], [0x6c, 'punpcklqdq'], [0x6d, 'punpckhqdq'], [0x74, 'pcmpeqb'],
  [0x75, 'pcmpeqw'], [0x76, 'pcmpeqd'], [0xd1, 'psrlw'], [0xd2, 'psrld'], [0xd3, 'psrlq'], [0xd4, 'paddq'],
  [0xd5, 'pmullw'], [0xd8, 'psubusb'], [0xd9, 'psubusw'], [0xda, 'pminub'], [0xdb, 'pand'], [0xdc, 'paddusb'],
  [0xdd, 'paddusw'], [0xde, 'pmaxub'], [0xdf, 'pandn'], [0xe0, 'pavgb'], [0xe1, 'psraw'], [0xe2, 'psrad'],
  [0xe3, 'pavgw'], [0xe4, 'pmulhuw'], [0xe5, 'pmulhw'], [0xe8, 'psubsb'], [0xe9, 'psubsw'], [0xea, 'pminsw'],
  [0xeb, 'por'], [0xec, 'paddsb'], [0xed, 'paddsw'], [0xee, 'pmaxsw'], [0xef, 'pxor'], [0xf1, 'psllw'],
  [0xf2, 'pslld'], [0xf3, 'psllq'], [0xf4, 'pmuludq'], [0xf5, 'pmaddwd'], [0xf6, 'psadbw'], [0xf8, 'psubb'],
  [0xf9, 'psubw'], [0xfa, 'psubd'], [0xfb, 'psubq'], [0xfc, 'paddb'], [0xfd, 'paddw'], [0xfe, 'paddd'],
];

const SSSE3_OPS: [number, string][] = [
  [0x00, 'pshufb'], [0x01, 'phaddw'], [0x02, 'phaddd'], [0x03, 'phaddsw'], [0x04, 'pmaddubsw'], [0x05, 'phsubw'],
  [0x06, 'phsubd'], [0x07, 'phsubsw'], [0x08, 'psignb'], [0x09, 'psignw'], [0x0a, 'psignd'], [0x0b, 'pmulhrsw'],
  [0x1c, 'pabsb'], [0x1d, 'pabsw'], [0x1e, 'pabsd'],
];

function pair(name: string, pre: number, op: number[], lanes: Lanes, extra: Partial<FormDef> = {}, imm?: (cb: import('./gen.js').CB) => number): FormDef[] {
  return [false, true].map((mem) => ({
    name: `${name} (${MK(mem)})`, family: 'none' as const, size: 16, ...extra,
    gen: (cb: import('./gen.js').CB) => {
      const mo = sseCase(cb, { pre, op, mem, span: 16, aligned: true, lanes, imm });
      // shift counts by register: small counts mostly, some beyond the element size
      if (/^ps[lr]/.test(name) && cb.rng.bool(0.8)) {
        const cnt = BigInt(cb.rng.bool(0.8) ? cb.rng.int(20) : cb.rng.int(70));
        if (mo.mem !== null) cb.writeMem(mo.mem.off, 8, cnt);
        else {
          const b = cb.fx!;
          new DataView(b.buffer).setBigUint64(160 + 16 * mo.e, cnt, true);
        }
      }
    },
  }));
}

export function sseIntForms(): FormDef[] {
  const out: FormDef[] = [];
  for (const [opc, name] of INT_OPS) out.push(...pair(name, 0x66, [opc], 'int'));
  const ssse3: Partial<FormDef> = { feature: 'ssse3' as Feature };
  for (const [opc, name] of SSSE3_OPS) out.push(...pair(name, 0x66, [0x38, opc], 'int', ssse3));
  out.push(...pair('palignr', 0x66, [0x3a, 0x0f], 'int', ssse3, (cb) => (cb.rng.bool(0.9) ? cb.rng.int(33) : cb.rng.int(256))));
  for (const [opc, base] of [[0x54, 'and'], [0x55, 'andn'], [0x56, 'or'], [0x57, 'xor'], [0x14, 'unpckl'], [0x15, 'unpckh']] as [number, string][]) {
    out.push(...pair(`${base}ps`, 0, [opc], 'f32'));
    out.push(...pair(`${base}pd`, 0x66, [opc], 'f64'));
  }
  const imm8 = (cb: import('./gen.js').CB) => cb.rng.int(256);
  out.push(...pair('pshufd', 0x66, [0x70], 'int', {}, imm8));
  out.push(...pair('pshufhw', 0xf3, [0x70], 'int', {}, imm8));
  out.push(...pair('pshuflw', 0xf2, [0x70], 'int', {}, imm8));
  out.push(...pair('shufps', 0, [0xc6], 'f32', {}, imm8));
  out.push(...pair('shufpd', 0x66, [0xc6], 'f64', {}, imm8));
  // shifts by immediate (register operand only)
  const sh: [string, number, number][] = [
    ['psrlw', 0x71, 2], ['psraw', 0x71, 4], ['psllw', 0x71, 6], ['psrld', 0x72, 2], ['psrad', 0x72, 4], ['pslld', 0x72, 6],
    ['psrlq', 0x73, 2], ['psrldq', 0x73, 3], ['psllq', 0x73, 6], ['pslldq', 0x73, 7],
  ];
  for (const [name, opc, ext] of sh) {
    out.push({
      name: `${name} xmm, imm8`, family: 'none', size: 16,
      gen: (cb) => { sseCase(cb, { pre: 0x66, op: [opc], mem: false, span: 16, aligned: true, lanes: 'int', ext, imm: (c) => (c.rng.bool(0.8) ? c.rng.int(20) : c.rng.int(256)) }); },
    });
  }
  // PINSRW xmm, r32/m16, imm8 and PEXTRW r32, xmm, imm8
  for (const mem of [false, true]) {
    out.push({
      name: `pinsrw xmm, ${mem ? 'm16' : 'r32'}, imm8 (${MK(mem)})`, family: 'none', size: 2,
      gen: (cb) => { sseCase(cb, { pre: 0x66, op: [0xc4], mem, span: 2, aligned: false, lanes: 'int', imm: (c) => c.rng.int(256) }); },
    });
  }
  out.push({
    name: 'pextrw r32, xmm, imm8', family: 'none', size: 4,
    gen: (cb) => { sseCase(cb, { pre: 0x66, op: [0xc5], mem: false, span: 16, aligned: false, lanes: 'int', imm: (c) => c.rng.int(256), w: cb.rng.bool(0.2) }); },
  });
  for (const [name, pre, opc] of [['movmskps', 0, 0x50], ['movmskpd', 0x66, 0x50], ['pmovmskb', 0x66, 0xd7]] as [string, number, number][]) {
    out.push({
      name: `${name} r32, xmm`, family: 'none', size: 4,
      gen: (cb) => { sseCase(cb, { pre, op: [opc], mem: false, span: 16, aligned: false, lanes: 'int' }); },
    });
  }
  return out;
}
