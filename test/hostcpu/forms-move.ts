/**
 * Forms: MOV (all general-register encodings and moffs), MOVZX, MOVSX, MOVSXD, LEA, XCHG,
 * NOP/PAUSE, BSWAP, CBW..CQO, XLAT.
 */

import type { FormDef } from './form.js';
import { SIZES, VSIZES, bits, izBytes, kind, rmn, rn } from './form.js';
import { BUF_ADDR, MEMSZ } from './layout.js';

export function moveForms(): FormDef[] {
  const out: FormDef[] = [];
  for (const size of SIZES) {
    const byte = size === 1;
    for (const mem of [false, true]) {
      out.push({
        name: `mov ${rmn(size)}, ${rn(size)} (${kind(mem)})`, family: 'none', size,
        gen(cb) {
          const mo = cb.alloc({ w: size === 8, gByte: byte, eByte: byte, mem, span: size });
          cb.setE(mo, size, cb.val(size, 0));
          cb.setG(mo, size, cb.val(size, 1));
          cb.emit(mo, [byte ? 0x88 : 0x89], { opsize: size });
        },
      });
      out.push({
        name: `mov ${rn(size)}, ${rmn(size)} (${kind(mem)})`, family: 'none', size,
        gen(cb) {
          const mo = cb.alloc({ w: size === 8, gByte: byte, eByte: byte, mem, span: size });
          cb.setG(mo, size, cb.val(size, 0));
          cb.setE(mo, size, cb.val(size, 1));
          cb.emit(mo, [byte ? 0x8a : 0x8b], { opsize: size });
        },
      });
      out.push({
        name: `mov ${rmn(size)}, imm${izBytes(size) * 8} (${kind(mem)})`, family: 'none', size,
        gen(cb) {
          const mo = cb.alloc({ w: size === 8, eByte: byte, mem, span: size, ext: 0 });
          cb.setE(mo, size, cb.val(size, 0));
          cb.emit(mo, [byte ? 0xc6 : 0xc7], { opsize: size, imm: [izBytes(size), cb.val(izBytes(size), 1)] });
        },
      });
      out.push({
        name: `xchg ${rmn(size)}, ${rn(size)} (${kind(mem)})`, family: 'none', size,
        gen(cb) {
          const mo = cb.alloc({ w: size === 8, gByte: byte, eByte: byte, mem, span: size });
          cb.setE(mo, size, cb.val(size, 0));
          cb.setG(mo, size, cb.val(size, 1));
          cb.emit(mo, [byte ? 0x86 : 0x87], { opsize: size, lock: mem && cb.rng.bool(0.25) });
        },
      });
    }
    // B0+r / B8+r; with REX.W the only 64-bit immediate
    out.push({
      name: `mov ${rn(size)}, imm${bits(size)} (B0/B8+r)`, family: 'none', size,
      gen(cb) {
        const rex = size === 8 || cb.rng.bool(0.5);
        const r = cb.pickReg(byte, rex);
        const pre = rex ? [0x40 | (size === 8 ? 8 : 0) | (r >> 3)] : [];
        cb.setReg(r, size, cb.val(size, 0), byte, rex);
        const imm = cb.val(size, 1);
        const ib: number[] = [];
        for (let i = 0; i < size; i++) ib.push(Number((imm >> BigInt(8 * i)) & 0xffn));
        cb.raw([...(size === 2 ? [0x66] : []), ...pre, (byte ? 0xb0 : 0xb8) + (r & 7), ...ib]);
      },
    });
    // A0-A3 moffs: 64-bit absolute address, or 32-bit with 67
    for (const store of [false, true]) {
      for (const a32 of [false, true]) {
        out.push({
          name: `mov ${store ? `moffs${a32 ? 32 : 64}, ${['al', 'ax', 'eax', 'rax'][Math.log2(size)]}` : `${['al', 'ax', 'eax', 'rax'][Math.log2(size)]}, moffs${a32 ? 32 : 64}`}`,
          family: 'none', size,
          gen(cb) {
            const off = cb.pickOff(size);
            cb.setReg(0, size, cb.val(size, 0));
            cb.writeMem(off, size, cb.val(size, 1));
            const addr = BigInt(BUF_ADDR + off);
            const ab: number[] = [];
            for (let i = 0; i < (a32 ? 4 : 8); i++) ab.push(Number((addr >> BigInt(8 * i)) & 0xffn));
            const pre = [...(a32 ? [0x67] : []), ...(size === 2 ? [0x66] : []), ...(size === 8 ? [0x48] : [])];
            cb.raw([...pre, (store ? 0xa2 : 0xa0) + (byte ? 0 : 1), ...ab]);
          },
        });
      }
    }
  }
  // MOVZX / MOVSX
  for (const [m, opb] of [['movzx', 0xb6], ['movsx', 0xbe]] as [string, number][]) {
    for (const src of [1, 2]) {
      for (const dst of VSIZES) {
        for (const mem of [false, true]) {
          out.push({
            name: `${m} ${rn(dst)}, ${rmn(src)} (${kind(mem)})`, family: 'none', size: dst,
            gen(cb) {
              const mo = cb.alloc({ w: dst === 8, eByte: src === 1, mem, span: src });
              cb.setG(mo, dst, cb.val(dst, 1), false);
              cb.setE(mo, src, cb.val(src, 0));
              cb.emit(mo, [0x0f, opb + (src === 2 ? 1 : 0)], { opsize: dst });
            },
          });
        }
      }
    }
  }
  // MOVSXD: with REX.W sign-extends r/m32; without it, a 32- or 16-bit move
  for (const dst of VSIZES) {
    for (const mem of [false, true]) {
      const src = dst === 2 ? 2 : 4;
      out.push({
        name: `movsxd ${rn(dst)}, ${rmn(src)} (${kind(mem)})`, family: 'none', size: dst,
        gen(cb) {
          const mo = cb.alloc({ w: dst === 8, mem, span: 4 });
          cb.setG(mo, dst, cb.val(dst, 1));
          cb.setE(mo, 4, cb.val(4, 0));
          cb.emit(mo, [0x63], { opsize: dst });
        },
      });
    }
  }
  // LEA at every operand size, 64- and 32-bit address size (the address is never accessed)
  for (const dst of VSIZES) {
    out.push({
      name: `lea ${rn(dst)}, m`, family: 'none', size: dst,
      gen(cb) {
        const mo = cb.alloc({ w: dst === 8, mem: true, anyAddr: true });
        cb.setG(mo, dst, cb.val(dst, 0));
        cb.emit(mo, [0x8d], { opsize: dst });
      },
    });
  }
  // XCHG rAX, r (90+r); 90 without REX.B is NOP, with REX.B it is XCHG r8, rAX
  for (const size of VSIZES) {
    out.push({
      name: `xchg ${rn(size)}, ${['ax', 'eax', 'rax'][Math.log2(size) - 1]} (90+r)`, family: 'none', size,
      gen(cb) {
        let r = cb.pickReg(false, true);
        if (r === 0) r = 8;
        cb.setReg(r, size, cb.val(size, 0));
        cb.setReg(0, size, cb.val(size, 1));
        const rex = (size === 8 ? 0x48 : 0) | (r >> 3 ? 0x41 : 0) | (cb.rng.bool(0.3) ? 0x40 : 0);
        cb.raw([...(size === 2 ? [0x66] : []), ...(rex ? [rex] : []), 0x90 + (r & 7)]);
      },
    });
  }
  out.push({
    name: 'nop (90, 66 90, F3 90 pause)', family: 'none', size: 4,
    gen(cb) {
      cb.raw(cb.rng.pick([[0x90], [0x66, 0x90], [0xf3, 0x90], [0x48, 0x90]]));
    },
  });
  for (const mem of [false, true]) {
    out.push({
      name: `nop r/m (0F 1F /0, ${kind(mem)})`, family: 'none', size: 4,
      gen(cb) {
        const size = cb.rng.pick([2, 4, 8]);
        const mo = cb.alloc({ w: size === 8, mem, anyAddr: true, ext: 0 });
        cb.emit(mo, [0x0f, 0x1f], { opsize: size });
      },
    });
  }
  // BSWAP: 32 and 64 bits; 16 bits is undefined (the low word is not compared)
  for (const size of VSIZES) {
    out.push({
      name: `bswap ${rn(size)}`, family: 'none', size,
      gen(cb) {
        const r = cb.pickReg(false, true);
        cb.setReg(r, size, cb.val(size, 0));
        const rex = (size === 8 ? 0x48 : 0) | (r >> 3 ? 0x41 : 0);
        cb.raw([...(size === 2 ? [0x66] : []), ...(rex ? [rex] : []), 0x0f, 0xc8 + (r & 7)]);
        if (size === 2) {
          cb.ignoreRegs.push([r, 0xffffn]);
          cb.note = 'BSWAP r16: result undefined';
        }
      },
    });
  }
  // CBW/CWDE/CDQE, CWD/CDQ/CQO
  for (const [m, op] of [['cbw', 0x98], ['cwd', 0x99]] as [string, number][]) {
    for (const size of VSIZES) {
      const names = m === 'cbw' ? ['cbw', 'cwde', 'cdqe'] : ['cwd', 'cdq', 'cqo'];
      out.push({
        name: names[Math.log2(size) - 1], family: 'none', size,
        gen(cb) {
          cb.setReg(0, size, cb.val(size, 0));
          cb.raw([...(size === 2 ? [0x66] : []), ...(size === 8 ? [0x48] : cb.rng.bool(0.2) ? [0x40] : []), op]);
        },
      });
    }
  }
  // XLAT: AL = [rBX + AL]
  for (const a32 of [false, true]) {
    out.push({
      name: `xlat (${a32 ? 'EBX' : 'RBX'})`, family: 'none', size: 1,
      gen(cb) {
        cb.setReg(0, 1, cb.val(1, 0));
        const base = BigInt(BUF_ADDR + cb.rng.int(MEMSZ - 255));
        cb.regs[3] = a32 ? (cb.rng.u64() & ~0xffffffffn) | base : base;
        cb.raw([...(a32 ? [0x67] : []), ...(cb.rng.bool(0.3) ? [0x48] : []), 0xd7]);
      },
    });
  }
  return out;
}
