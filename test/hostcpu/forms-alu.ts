/** Forms: ADD OR ADC SBB AND SUB XOR CMP in every encoding, TEST, NOT, NEG, INC, DEC. */

import type { FormDef } from './form.js';
import { SIZES, izBytes, kind, rmn, rn } from './form.js';
import { maskOf } from './gen.js';
import type { Family } from './masks.js';

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const LOGIC = new Set([1, 4, 6]);

function fam(op: number): Family {
  return LOGIC.has(op) ? 'logic' : 'arith';
}

export function aluForms(): FormDef[] {
  const out: FormDef[] = [];
  for (let op = 0; op < 8; op++) {
    const m = ALU[op];
    const lockable = op !== 7;
    for (const size of SIZES) {
      const byte = size === 1;
      for (const mem of [false, true]) {
        out.push({
          name: `${m} ${rmn(size)}, ${rn(size)} (${kind(mem)})`, family: fam(op), size,
          gen(cb) {
            const mo = cb.alloc({ w: size === 8, gByte: byte, eByte: byte, mem, span: size });
            cb.setE(mo, size, cb.val(size, 0));
            cb.setG(mo, size, cb.val(size, 1));
            cb.emit(mo, [op * 8 + (byte ? 0 : 1)], { opsize: size, lock: mem && lockable && cb.rng.bool(0.25) });
          },
        });
        out.push({
          name: `${m} ${rn(size)}, ${rmn(size)} (${kind(mem)})`, family: fam(op), size,
          gen(cb) {
            const mo = cb.alloc({ w: size === 8, gByte: byte, eByte: byte, mem, span: size });
            cb.setG(mo, size, cb.val(size, 0));
            cb.setE(mo, size, cb.val(size, 1));
            cb.emit(mo, [op * 8 + (byte ? 2 : 3)], { opsize: size });
          },
        });
        // 80 /op ib, 81 /op iz, 83 /op ib (sign-extended)
        const immForms: [number, number][] = byte ? [[0x80, 1]] : [[0x81, izBytes(size)], [0x83, 1]];
        for (const [opc, ib] of immForms) {
          out.push({
            name: `${m} ${rmn(size)}, imm${ib * 8}${opc === 0x83 ? ' (sign-extended)' : ''} (${kind(mem)})`, family: fam(op), size,
            gen(cb) {
              const mo = cb.alloc({ w: size === 8, eByte: byte, mem, span: size, ext: op });
              cb.setE(mo, size, cb.val(size, 0));
              cb.emit(mo, [opc], { opsize: size, imm: [ib, cb.val(ib, 1)], lock: mem && lockable && cb.rng.bool(0.25) });
            },
          });
        }
      }
      // 04 / 05: AL, imm8 / rAX, imm16/32
      const ib = izBytes(size);
      out.push({
        name: `${m} ${['al', 'ax', 'eax', 'rax'][Math.log2(size)]}, imm${ib * 8}`, family: fam(op), size,
        gen(cb) {
          cb.setReg(0, size, cb.val(size, 0));
          cb.emit(null, [op * 8 + (byte ? 4 : 5)], { opsize: size, imm: [ib, cb.val(ib, 1)] });
        },
      });
    }
  }
  // TEST
  for (const size of SIZES) {
    const byte = size === 1;
    const ib = izBytes(size);
    for (const mem of [false, true]) {
      out.push({
        name: `test ${rmn(size)}, ${rn(size)} (${kind(mem)})`, family: 'logic', size,
        gen(cb) {
          const mo = cb.alloc({ w: size === 8, gByte: byte, eByte: byte, mem, span: size });
          cb.setE(mo, size, cb.val(size, 0));
          cb.setG(mo, size, cb.val(size, 1));
          cb.emit(mo, [byte ? 0x84 : 0x85], { opsize: size });
        },
      });
      // F6/F7 /0, and the /1 alias the APM lists as TEST too
      for (const ext of [0, 1]) {
        out.push({
          name: `test ${rmn(size)}, imm${ib * 8} (/${ext}, ${kind(mem)})`, family: 'logic', size,
          gen(cb) {
            const mo = cb.alloc({ w: size === 8, eByte: byte, mem, span: size, ext });
            cb.setE(mo, size, cb.val(size, 0));
            cb.emit(mo, [byte ? 0xf6 : 0xf7], { opsize: size, imm: [ib, cb.val(ib, 1)] });
          },
        });
      }
    }
    out.push({
      name: `test ${['al', 'ax', 'eax', 'rax'][Math.log2(size)]}, imm${ib * 8}`, family: 'logic', size,
      gen(cb) {
        cb.setReg(0, size, cb.val(size, 0));
        cb.emit(null, [byte ? 0xa8 : 0xa9], { opsize: size, imm: [ib, cb.val(ib, 1)] });
      },
    });
  }
  // NOT, NEG (F6/F7 /2 /3), INC, DEC (FE/FF /0 /1)
  const unary: [string, number, number, Family][] = [
    ['not', 0xf6, 2, 'none'], ['neg', 0xf6, 3, 'arith'], ['inc', 0xfe, 0, 'arith'], ['dec', 0xfe, 1, 'arith'],
  ];
  for (const [m, opc, ext, family] of unary) {
    for (const size of SIZES) {
      for (const mem of [false, true]) {
        out.push({
          name: `${m} ${rmn(size)} (${kind(mem)})`, family, size,
          gen(cb) {
            const mo = cb.alloc({ w: size === 8, eByte: size === 1, mem, span: size, ext });
            cb.setE(mo, size, cb.val(size, 0) & maskOf(size));
            cb.emit(mo, [opc + (size === 1 ? 0 : 1)], { opsize: size, lock: mem && cb.rng.bool(0.25) });
          },
        });
      }
    }
  }
  return out;
}
