/**
 * SSE/SSE2/SSE3 data movement and state forms: the 128-bit loads and stores (aligned, unaligned,
 * non-temporal), MOVSS/MOVSD, the half moves, MOVD/MOVQ, MOVNTI, MASKMOVDQU, the SSE3
 * duplicates and LDDQU, LDMXCSR/STMXCSR (reserved bits: #GP), FXSAVE/FXRSTOR (32-bit and 64-bit
 * forms; the window holds the first 256 bytes of the image, the rest is counted by the
 * bytes-outside check), XSAVE/XSAVEOPT/XRSTOR for x87 and SSE, and EMMS.
 */

import type { Feature, FormDef } from './form.js';
import { fpImage, intImage, mxcsrVal, randomX87, sseCase } from './gen-fp.js';
import { BUF_ADDR, MEMSZ } from './layout.js';

const MK = (mem: boolean) => (mem ? 'mem' : 'reg');

export function sseMoveForms(): FormDef[] {
  const out: FormDef[] = [];
  const both = (name: string, pre: number, opc: number, span: number, aligned: boolean, memOnly = false, regOnly = false, extra: Partial<FormDef> = {}) => {
    for (const mem of [false, true]) {
      if ((memOnly && !mem) || (regOnly && mem)) continue;
      out.push({
        name: `${name} (${MK(mem)})`, family: 'none', size: 16, ...extra,
        gen: (cb) => { sseCase(cb, { pre, op: [opc], mem, span, aligned, lanes: 'int' }); },
      });
    }
  };
  both('movups load', 0, 0x10, 16, false);
  both('movupd load', 0x66, 0x10, 16, false);
  both('movss load', 0xf3, 0x10, 4, false);
  both('movsd load', 0xf2, 0x10, 8, false);
  both('movups store', 0, 0x11, 16, false);
  both('movupd store', 0x66, 0x11, 16, false);
  both('movss store', 0xf3, 0x11, 4, false);
  both('movsd store', 0xf2, 0x11, 8, false);
  both('movlps load', 0, 0x12, 8, false, true);
  both('movhlps', 0, 0x12, 16, false, false, true);
  both('movlpd load', 0x66, 0x12, 8, false, true);
  both('movlps store', 0, 0x13, 8, false, true);
  both('movlpd store', 0x66, 0x13, 8, false, true);
  both('movhps load', 0, 0x16, 8, false, true);
  both('movlhps', 0, 0x16, 16, false, false, true);
  both('movhpd load', 0x66, 0x16, 8, false, true);
  both('movhps store', 0, 0x17, 8, false, true);
  both('movhpd store', 0x66, 0x17, 8, false, true);
  both('movaps load', 0, 0x28, 16, true);
  both('movapd load', 0x66, 0x28, 16, true);
  both('movaps store', 0, 0x29, 16, true);
  both('movapd store', 0x66, 0x29, 16, true);
  both('movntps', 0, 0x2b, 16, true, true);
  both('movntpd', 0x66, 0x2b, 16, true, true);
  both('movdqa load', 0x66, 0x6f, 16, true);
  both('movdqu load', 0xf3, 0x6f, 16, false);
  both('movdqa store', 0x66, 0x7f, 16, true);
  both('movdqu store', 0xf3, 0x7f, 16, false);
  both('movntdq', 0x66, 0xe7, 16, true, true);
  both('movq xmm, xmm/m64', 0xf3, 0x7e, 8, false);
  both('movq xmm/m64, xmm', 0x66, 0xd6, 8, false);
  const sse3: Partial<FormDef> = { feature: 'sse3' as Feature };
  both('lddqu', 0xf2, 0xf0, 16, false, true, false, sse3);
  both('movsldup', 0xf3, 0x12, 16, true, false, false, sse3);
  both('movshdup', 0xf3, 0x16, 16, true, false, false, sse3);
  both('movddup', 0xf2, 0x12, 8, false, false, false, sse3);
  out.push({
    name: 'maskmovdqu (reg)', family: 'none', size: 16,
    gen: (cb) => {
      const mo = sseCase(cb, { pre: 0x66, op: [0xf7], mem: false, span: 16, aligned: false, lanes: 'int' });
      // DS:RDI into the window mostly (16 bytes), else anywhere (non-canonical: #GP)
      if (cb.rng.bool(0.9)) cb.setReg(7, 8, BigInt(BUF_ADDR + cb.rng.int(MEMSZ - 15)));
      // an all-zero mask now and then (the mask is ModRM.rm)
      if (cb.rng.bool(0.1)) cb.fx!.fill(0, 160 + 16 * mo.e, 176 + 16 * mo.e);
    },
  });
  // MOVD/MOVQ between XMM and general registers or memory
  for (const w of [false, true]) {
    for (const mem of [false, true]) {
      const sz = w ? 8 : 4;
      for (const [dir, opc] of [['load', 0x6e], ['store', 0x7e]] as [string, number][]) {
        out.push({
          name: `mov${w ? 'q' : 'd'} ${dir} ${mem ? `m${sz * 8}` : `r${sz * 8}`} (${MK(mem)})`, family: 'none', size: sz,
          gen: (cb) => { sseCase(cb, { pre: 0x66, op: [opc], mem, span: sz, aligned: false, lanes: 'int', w }); },
        });
      }
      if (mem) {
        out.push({
          name: `movnti m${sz * 8}, r${sz * 8}`, family: 'none', size: sz,
          gen: (cb) => { sseCase(cb, { pre: 0, op: [0xc3], mem: true, span: sz, aligned: false, lanes: 'int', w }); },
        });
      }
    }
  }
  // LDMXCSR / STMXCSR: valid values mostly, reserved bits now and then (#GP)
  out.push({
    name: 'ldmxcsr m32', family: 'none', size: 4,
    gen: (cb) => {
      const mo = sseCase(cb, { pre: 0, op: [0xae], mem: true, span: 4, aligned: false, lanes: 'int', ext: 2 });
      const r = cb.rng;
      const v = r.bool(0.85) ? r.u32() & 0xffff : (r.u32() & 0xffff) | (1 << r.range(17, 31));
      cb.writeMem(mo.mem!.off, 4, BigInt(v >>> 0));
    },
  });
  out.push({
    name: 'stmxcsr m32', family: 'none', size: 4,
    gen: (cb) => { sseCase(cb, { pre: 0, op: [0xae], mem: true, span: 4, aligned: false, lanes: 'int', ext: 3 }); },
  });
  // FXSAVE / FXRSTOR (and 64-bit forms): the area starts in the window, 16-aligned mostly
  for (const w of [false, true]) {
    for (const [name, ext] of [['fxsave', 0], ['fxrstor', 1]] as [string, number][]) {
      out.push({
        name: `${name}${w ? '64' : ''} m512`, family: 'none', size: 16,
        gen: (cb) => {
          const fx = fpImage(cb, mxcsrVal(cb, 0.5), cb.rng.bool(0.5));
          intImage(cb, fx);
          randomX87(cb, fx);
          cb.fx = fx;
          const misalign = cb.rng.bool(0.08);
          const mo = cb.alloc({ mem: true, span: 16, align: misalign ? 1 : 16, ext, w, offLo: 0, offHi: 64 });
          if (ext === 1) {
            // a plausible image in the window: FCW, FSW, tags, MXCSR (reserved bits now and then)
            const off = mo.mem!.off;
            const src = fpImage(cb, mxcsrVal(cb, 0.5), false);
            intImage(cb, src);
            randomX87(cb, src);
            if (cb.rng.bool(0.1)) src[24 + 2] |= 1 << cb.rng.range(2, 7);
            for (let k = 0; k < MEMSZ - off; k++) cb.mem[off + k] = src[k];
          }
          cb.emit(mo, [0x0f, 0xae], { opsize: w ? 8 : undefined });
        },
      });
    }
  }
  // XSAVE / XSAVEOPT / XRSTOR: RFBM from EAX bits 1:0 (EDX 0), 64-byte aligned mostly
  for (const w of [false, true]) {
    for (const [name, ext] of [['xsave', 4], ['xrstor', 5], ['xsaveopt', 6]] as [string, number][]) {
      out.push({
        name: `${name}${w ? '64' : ''} mem`, family: 'none', size: 16,
        gen: (cb) => {
          const fx = fpImage(cb, mxcsrVal(cb, 0.5), cb.rng.bool(0.5));
          intImage(cb, fx);
          randomX87(cb, fx);
          cb.fx = fx;
          const misalign = cb.rng.bool(0.08);
          const mo = cb.alloc({ mem: true, span: 64, align: misalign ? 16 : 64, ext, w, offLo: 0, offHi: 128, reserve: [0, 2] });
          cb.setReg(0, 8, BigInt(cb.rng.int(4)) | (cb.rng.u64() & ~0xffffffffn & 0n));
          cb.setReg(2, 8, 0n);
          if (ext === 5) {
            const off = mo.mem!.off;
            const src = fpImage(cb, mxcsrVal(cb, 0.5), false);
            intImage(cb, src);
            randomX87(cb, src);
            for (let k = 0; k < MEMSZ - off; k++) cb.mem[off + k] = src[k];
          }
          cb.emit(mo, [0x0f, 0xae], { opsize: w ? 8 : undefined });
        },
      });
    }
  }
  out.push({
    name: 'emms', family: 'none', size: 4,
    gen: (cb) => {
      const fx = fpImage(cb, mxcsrVal(cb), false);
      randomX87(cb, fx);
      cb.fx = fx;
      cb.raw([0x0f, 0x77]);
    },
  });
  return out;
}
