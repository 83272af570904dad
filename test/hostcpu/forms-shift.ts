/** Forms: ROL ROR RCL RCR SHL SHR SAR by 1, CL and imm8 at every size; SHLD/SHRD by imm8 and CL. */

import type { FormDef } from './form.js';
import { SIZES, VSIZES, bits, kind, rmn, rn } from './form.js';
import type { CB } from './gen.js';
import { maskedCount, type Family } from './masks.js';

const SHIFTS: [string, number, Family][] = [
  ['rol', 0, 'rotate'], ['ror', 1, 'rotate'], ['rcl', 2, 'rotateCarry'], ['rcr', 3, 'rotateCarry'],
  ['shl', 4, 'shift'], ['shr', 5, 'shift'], ['sar', 7, 'shiftSar'],
];

/** shift counts: the edges first (0, 1, width-1, width, above width, mask boundaries), then random */
export function shiftCount(cb: CB, size: number): number {
  const w = bits(size);
  const e = [0, 1, w - 1, w, w + 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 0x80, 0xff];
  if (cb.k < e.length) return e[cb.k];
  return cb.rng.bool(0.3) ? cb.rng.pick(e) : cb.rng.int(256);
}

export function shiftForms(): FormDef[] {
  const out: FormDef[] = [];
  for (const [m, ext, family] of SHIFTS) {
    for (const size of SIZES) {
      const byte = size === 1;
      for (const mem of [false, true]) {
        for (const how of ['1', 'cl', 'imm8'] as const) {
          out.push({
            name: `${m} ${rmn(size)}, ${how} (${kind(mem)})`, family, size,
            gen(cb) {
              const mo = cb.alloc({ w: size === 8, eByte: byte, mem, span: size, ext, reserve: [1] });
              cb.setE(mo, size, cb.val(size, 0));
              const count = how === '1' ? 1 : shiftCount(cb, size);
              if (how === 'cl') cb.setReg(1, 1, BigInt(count));
              cb.count = maskedCount(how === 'cl' ? Number(cb.regs[1] & 0xffn) : count, size);
              const opc = (how === '1' ? 0xd0 : how === 'cl' ? 0xd2 : 0xc0) + (byte ? 0 : 1);
              cb.emit(mo, [opc], { opsize: size, imm: how === 'imm8' ? [1, BigInt(count)] : undefined });
            },
          });
        }
      }
    }
  }
  // SHLD / SHRD
  for (const [m, opb] of [['shld', 0xa4], ['shrd', 0xac]] as [string, number][]) {
    for (const size of VSIZES) {
      for (const mem of [false, true]) {
        for (const how of ['imm8', 'cl'] as const) {
          out.push({
            name: `${m} ${rmn(size)}, ${rn(size)}, ${how} (${kind(mem)})`, family: 'shiftDouble', size,
            gen(cb) {
              const mo = cb.alloc({ w: size === 8, mem, span: size, reserve: [1] });
              cb.setE(mo, size, cb.val(size, 0));
              cb.setG(mo, size, cb.val(size, 1));
              const count = shiftCount(cb, size);
              if (how === 'cl') cb.setReg(1, 1, BigInt(count));
              const mc = maskedCount(how === 'cl' ? Number(cb.regs[1] & 0xffn) : count, size);
              cb.count = mc;
              if (mc > bits(size)) {
                // APM: the destination is undefined when the count exceeds the operand size
                if (mo.mem === null) cb.ignoreRegs.push([mo.e, 0xffffn]); else cb.ignoreMem = [mo.mem.off, size];
                cb.note = `count ${mc} above ${bits(size)}: result undefined`;
              }
              cb.emit(mo, [0x0f, opb + (how === 'cl' ? 1 : 0)], { opsize: size, imm: how === 'imm8' ? [1, BigInt(count)] : undefined });
            },
          });
        }
      }
    }
  }
  return out;
}
