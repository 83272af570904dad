/**
 * SSE/SSE2/SSE3 floating-point forms: arithmetic (ADD MUL SUB MIN DIV MAX SQRT in PS/SS/PD/SD),
 * CMPxx with every predicate, (U)COMISS/SD, RCP/RSQRT (approximations compared within a
 * tolerance: fx.ts APPROX_ULPS), ADDSUB/HADD/HSUB, and the conversions. Inputs are edge-biased
 * FP values (NaNs, denormals, infinities, zeros, limits) under every rounding mode, DAZ and FZ,
 * with masked and unmasked exceptions (an unmasked one ends in #XM on both sides).
 */

import type { Feature, FormDef } from './form.js';
import { sseCase, type Lanes } from './gen-fp.js';

const TYPES: { sfx: string; pre: number; lanes: Lanes; span: number; packed: boolean }[] = [
  { sfx: 'ps', pre: 0, lanes: 'f32', span: 16, packed: true },
  { sfx: 'ss', pre: 0xf3, lanes: 'f32', span: 4, packed: false },
  { sfx: 'pd', pre: 0x66, lanes: 'f64', span: 16, packed: true },
  { sfx: 'sd', pre: 0xf2, lanes: 'f64', span: 8, packed: false },
];

const MK = (mem: boolean) => (mem ? 'mem' : 'reg');

function simple(name: string, pre: number, op: number[], lanes: Lanes, span: number, aligned: boolean, extra: Partial<FormDef> = {}, imm?: (cb: import('./gen.js').CB) => number): FormDef[] {
  const out: FormDef[] = [];
  for (const mem of [false, true]) {
    out.push({
      name: `${name} (${MK(mem)})`, family: 'none', size: 16, ...extra,
      gen: (cb) => { sseCase(cb, { pre, op, mem, span, aligned, lanes, imm }); },
    });
  }
  return out;
}

export function sseFpForms(): FormDef[] {
  const out: FormDef[] = [];
  const ops: [string, number][] = [['add', 0x58], ['mul', 0x59], ['sub', 0x5c], ['min', 0x5d], ['div', 0x5e], ['max', 0x5f], ['sqrt', 0x51]];
  for (const [op, opc] of ops) {
    for (const t of TYPES) out.push(...simple(`${op}${t.sfx}`, t.pre, [opc], t.lanes, t.span, t.packed));
  }
  for (const t of TYPES) {
    // predicates 0-7, now and then an imm8 with upper bits set (only bits 2:0 count)
    out.push(...simple(`cmp${t.sfx}`, t.pre, [0xc2], t.lanes, t.span, t.packed, {}, (cb) => (cb.rng.bool(0.85) ? cb.k & 7 : cb.rng.int(256))));
  }
  out.push(...simple('ucomiss', 0, [0x2e], 'f32', 4, false));
  out.push(...simple('comiss', 0, [0x2f], 'f32', 4, false));
  out.push(...simple('ucomisd', 0x66, [0x2e], 'f64', 8, false));
  out.push(...simple('comisd', 0x66, [0x2f], 'f64', 8, false));
  const sse3: Partial<FormDef> = { feature: 'sse3' as Feature };
  out.push(...simple('addsubps', 0xf2, [0xd0], 'f32', 16, true, sse3));
  out.push(...simple('addsubpd', 0x66, [0xd0], 'f64', 16, true, sse3));
  out.push(...simple('haddps', 0xf2, [0x7c], 'f32', 16, true, sse3));
  out.push(...simple('haddpd', 0x66, [0x7c], 'f64', 16, true, sse3));
  out.push(...simple('hsubps', 0xf2, [0x7d], 'f32', 16, true, sse3));
  out.push(...simple('hsubpd', 0x66, [0x7d], 'f64', 16, true, sse3));
  // approximations: the destination lanes written are compared within a tolerance
  for (const [name, pre, opc, lanes] of [['rcpps', 0, 0x53, 0xf], ['rcpss', 0xf3, 0x53, 1], ['rsqrtps', 0, 0x52, 0xf], ['rsqrtss', 0xf3, 0x52, 1]] as [string, number, number, number][]) {
    for (const mem of [false, true]) {
      out.push({
        name: `${name} (${MK(mem)})`, family: 'none', size: 16,
        gen: (cb) => {
          const mo = sseCase(cb, { pre, op: [opc], mem, span: pre === 0 ? 16 : 4, aligned: pre === 0, lanes: 'f32' });
          cb.fxIgnore = { approx: [[mo.g, lanes]] };
        },
      });
    }
  }
  // ---- conversions ----
  const cv: [string, number, number, Lanes, number, boolean][] = [
    ['cvtps2pd', 0, 0x5a, 'f32', 8, false], ['cvtpd2ps', 0x66, 0x5a, 'f64', 16, true],
    ['cvtss2sd', 0xf3, 0x5a, 'f32', 4, false], ['cvtsd2ss', 0xf2, 0x5a, 'f64', 8, false],
    ['cvtdq2ps', 0, 0x5b, 'int', 16, true], ['cvtps2dq', 0x66, 0x5b, 'f32', 16, true],
    ['cvttps2dq', 0xf3, 0x5b, 'f32', 16, true], ['cvtdq2pd', 0xf3, 0xe6, 'int', 8, false],
    ['cvtpd2dq', 0xf2, 0xe6, 'f64', 16, true], ['cvttpd2dq', 0x66, 0xe6, 'f64', 16, true],
  ];
  for (const [name, pre, opc, lanes, span, aligned] of cv) out.push(...simple(name, pre, [opc], lanes, span, aligned));
  // CVTSI2SS/SD from a 32- or 64-bit register or memory
  for (const [name, pre] of [['cvtsi2ss', 0xf3], ['cvtsi2sd', 0xf2]] as [string, number][]) {
    for (const w of [false, true]) {
      for (const mem of [false, true]) {
        const sz = w ? 8 : 4;
        out.push({
          name: `${name} xmm, ${mem ? `m${sz * 8}` : `r${sz * 8}`} (${MK(mem)})`, family: 'none', size: sz,
          gen: (cb) => {
            const mo = sseCase(cb, { pre, op: [0x2a], mem, span: sz, aligned: false, lanes: 'int', w });
            // the integer source (registers and memory are read when the case is built)
            cb.setE(mo, sz, cb.val(sz, 0));
          },
        });
      }
    }
  }
  // CVT(T)SS2SI / CVT(T)SD2SI to a 32- or 64-bit register
  for (const [name, pre, opc, dbl] of [['cvtss2si', 0xf3, 0x2d, false], ['cvttss2si', 0xf3, 0x2c, false], ['cvtsd2si', 0xf2, 0x2d, true], ['cvttsd2si', 0xf2, 0x2c, true]] as [string, number, number, boolean][]) {
    for (const w of [false, true]) {
      for (const mem of [false, true]) {
        out.push({
          name: `${name} r${w ? 64 : 32}, ${dbl ? 'xmm/m64' : 'xmm/m32'} (${MK(mem)})`, family: 'none', size: w ? 8 : 4,
          gen: (cb) => {
            sseCase(cb, { pre, op: [opc], mem, span: dbl ? 8 : 4, aligned: false, lanes: dbl ? 'f64' : 'f32', w });
          },
        });
      }
    }
  }
  return out;
}
