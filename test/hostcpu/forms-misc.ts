/**
 * Forms: CLC STC CMC CLD STD, SAHF LAHF, XADD, CMPXCHG, CMPXCHG8B/16B, and fault forms: opcodes
 * invalid in 64-bit mode, misplaced LOCK, UD0/UD1/UD2, non-canonical addresses (#GP, and #SS
 * through RSP).
 */

import type { FormDef } from './form.js';
import { SIZES, kind, rmn, rn } from './form.js';
import { maskOf } from './gen.js';

export function miscForms(): FormDef[] {
  const out: FormDef[] = [];
  for (const [m, op] of [['clc', 0xf8], ['stc', 0xf9], ['cmc', 0xf5], ['cld', 0xfc], ['std', 0xfd]] as [string, number][]) {
    out.push({ name: m, family: 'none', size: 4, gen: (cb) => cb.raw([op]) });
  }
  out.push({
    name: 'sahf', family: 'none', size: 1, feature: 'lahf',
    gen(cb) {
      cb.setReg(0, 2, cb.val(2, 0));
      cb.raw([0x9e]);
    },
  });
  out.push({
    name: 'lahf', family: 'none', size: 1, feature: 'lahf',
    gen(cb) {
      cb.raw([0x9f]);
    },
  });
  for (const size of SIZES) {
    const byte = size === 1;
    for (const mem of [false, true]) {
      out.push({
        name: `xadd ${rmn(size)}, ${rn(size)} (${kind(mem)})`, family: 'arith', size,
        gen(cb) {
          const mo = cb.alloc({ w: size === 8, gByte: byte, eByte: byte, mem, span: size });
          cb.setE(mo, size, cb.val(size, 0));
          cb.setG(mo, size, cb.val(size, 1));
          cb.emit(mo, [0x0f, byte ? 0xc0 : 0xc1], { opsize: size, lock: mem && cb.rng.bool(0.25) });
        },
      });
      out.push({
        name: `cmpxchg ${rmn(size)}, ${rn(size)} (${kind(mem)})`, family: 'arith', size,
        gen(cb) {
          const mo = cb.alloc({ w: size === 8, gByte: byte, eByte: byte, mem, span: size, reserve: [0] });
          cb.setE(mo, size, cb.val(size, 0));
          cb.setG(mo, size, cb.val(size, 1));
          // the accumulator equals the destination in half the cases
          cb.setReg(0, size, cb.k % 2 === 0 ? cb.getE(mo, size) : cb.val(size, 2));
          cb.emit(mo, [0x0f, byte ? 0xb0 : 0xb1], { opsize: size, lock: mem && cb.rng.bool(0.25) });
        },
      });
    }
  }
  for (const wide of [false, true]) {
    out.push({
      name: wide ? 'cmpxchg16b m128' : 'cmpxchg8b m64', family: 'none', size: wide ? 8 : 4,
      feature: wide ? 'cx16' : undefined,
      gen(cb) {
        const n = wide ? 16 : 8;
        const h = n / 2;
        // CMPXCHG16B needs a 16-byte aligned operand (else #GP); one case in eight is not
        const align = wide && cb.k % 8 !== 7 ? 16 : 1;
        const mo = cb.alloc({ w: wide, mem: true, span: n, ext: 1, align, reserve: [0, 1, 2, 3] });
        const lo = cb.rng.u64() & maskOf(h);
        const hi = cb.rng.u64() & maskOf(h);
        cb.writeMem(mo.mem!.off, h, lo);
        cb.writeMem(mo.mem!.off + h, h, hi);
        const eq = cb.k % 2 === 0;
        cb.setReg(0, h, eq ? lo : cb.rng.bool() ? lo ^ 1n : cb.rng.u64());
        cb.setReg(2, h, eq || cb.rng.bool() ? hi : cb.rng.u64());
        cb.setReg(3, h, cb.rng.u64());
        cb.setReg(1, h, cb.rng.u64());
        cb.emit(mo, [0x0f, 0xc7], { opsize: wide ? 8 : 4, lock: cb.rng.bool(0.5) });
      },
    });
  }
  // prefixes that change nothing: F2/F3 and segment overrides on ALU instructions (with LOCK
  // on memory they are XACQUIRE/XRELEASE hints), and 66 next to REX.W
  out.push({
    name: 'ignored prefixes on ALU forms (F2/F3, segment overrides, 66 with REX.W)', family: 'arith', size: 8,
    gen(cb) {
      const op = cb.rng.pick([0, 2, 3, 5]); // add adc sbb sub: every flag defined
      const size = cb.rng.pick([1, 2, 4, 8]);
      const mem = cb.rng.bool();
      const mo = cb.alloc({ w: size === 8, gByte: size === 1, eByte: size === 1, mem, span: size });
      cb.setE(mo, size, cb.val(size, 0));
      cb.setG(mo, size, cb.val(size, 1));
      const lead: number[] = [];
      for (let n = cb.rng.range(1, 3); n > 0; n--) lead.push(cb.rng.pick([0xf2, 0xf3, 0x2e, 0x3e, 0x26, 0x36]));
      cb.emit(mo, [op * 8 + (size === 1 ? 0 : 1)], { opsize: size, o16w: size === 8 && cb.rng.bool(), lead, lock: mem && cb.rng.bool(0.3) });
    },
  });
  out.push({
    name: 'REX before a legacy prefix (the REX is ignored)', family: 'arith', size: 2,
    gen(cb) {
      // 4x 66 01 /r: the REX is cancelled by the 66 after it, so this is ADD r/m16, r16 with
      // registers 0..7 whatever the REX bits say
      const g = cb.pickReg(false, false);
      const e = cb.pickReg(false, false);
      cb.setReg(g, 2, cb.val(2, 1));
      cb.setReg(e, 2, cb.val(2, 0));
      cb.raw([0x40 | cb.rng.int(16), 0x66, 0x01, 0xc0 | (g << 3) | e]);
    },
  });
  // opcodes that are invalid in 64-bit mode (C4/C5/62 are VEX/EVEX there and are left out)
  const i64 = [0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5, 0xd6, 0xea];
  out.push({
    name: 'opcodes invalid in 64-bit mode (#UD)', family: 'none', size: 4,
    gen(cb) {
      const op = cb.k < i64.length ? i64[cb.k] : cb.rng.pick(i64);
      cb.raw([op, 0xc0 | cb.rng.int(64), cb.rng.int(256), cb.rng.int(256), cb.rng.int(256), cb.rng.int(256), cb.rng.int(256)]);
    },
  });
  out.push({
    name: 'ud0 / ud1 / ud2 (#UD)', family: 'none', size: 4,
    gen(cb) {
      const which = cb.k % 3;
      cb.raw(which === 2 ? [0x0f, 0x0b] : [0x0f, which === 0 ? 0xff : 0xb9, 0xc0 | cb.rng.int(64)]);
    },
  });
  // LOCK with a register destination, or on an instruction that is never lockable
  out.push({
    name: 'lock on a register destination (#UD)', family: 'none', size: 4,
    gen(cb) {
      const mo = cb.alloc({ mem: false });
      const op = cb.rng.pick([[0x01], [0x09], [0x87], [0x0f, 0xc1], [0x0f, 0xab]]);
      cb.emit(mo, op, { lock: true });
    },
  });
  out.push({
    name: 'lock on a non-lockable instruction (#UD)', family: 'none', size: 4,
    gen(cb) {
      const mo = cb.alloc({ mem: true, span: 8 });
      const op = cb.rng.pick([[0x89], [0x8b], [0x39], [0x85], [0x0f, 0xa3], [0x0f, 0xaf]]);
      cb.emit(mo, op, { lock: true });
    },
  });
  // non-canonical addresses: #GP(0), or #SS(0) when the base is RSP/RBP-relative through SS
  for (const viaRsp of [false, true]) {
    out.push({
      name: `non-canonical address (${viaRsp ? '#SS via RSP' : '#GP'})`, family: 'none', size: 8,
      gen(cb) {
        const bad = (cb.rng.u64() | (1n << 62n)) & ~(1n << 63n) & ~0xfffn;
        const r = viaRsp ? 4 : cb.rng.pick([0, 1, 2, 3, 6, 7, 8, 9]);
        cb.regs[r] = bad | BigInt(cb.rng.int(0x1000));
        const load = cb.rng.bool();
        const rex = 0x48 | (r >> 3);
        const modrm = (r & 7) === 4 ? [0x04, 0x24] : [r & 7];
        cb.raw([rex, load ? 0x8b : 0x89, ...modrm]);
      },
    });
  }
  return out;
}
