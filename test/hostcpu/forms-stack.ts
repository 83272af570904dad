/**
 * Forms: PUSH/POP (registers, immediates, r/m, RSP itself), PUSHF/POPF, CALL/RET, JMP, ENTER,
 * LEAVE, LOOP/LOOPE/LOOPNE/JrCXZ. RSP points into the compared window; branch targets are
 * INT3s in the code page, so the resulting RIP is compared.
 */

import type { FormDef } from './form.js';
import { kind } from './form.js';
import type { CB } from './gen.js';
import { AF, BUF_ADDR, CF, CODE_ADDR, CODE_OFF, DF, MEMSZ, OF, PAGE, PF, SF, ZF } from './layout.js';
import { branchDisp, comboFlags, le32 } from './forms-cond.js';

/** RSP somewhere in the window, 8-aligned mostly */
function stackAt(cb: CB, lo = 0x40, hi = 0xf0): number {
  let off = cb.rng.range(lo, hi);
  if (cb.rng.bool(0.85)) off &= ~7;
  cb.regs[4] = BigInt(BUF_ADDR + off);
  return off;
}

/** a code-page address that is an INT3 (not inside the instruction of `len` bytes) */
function codeTarget(cb: CB, len: number): bigint {
  for (;;) {
    const off = cb.rng.int(PAGE);
    if (off >= CODE_OFF && off < CODE_OFF + len) continue;
    return BigInt(CODE_ADDR + off);
  }
}

/** a random RFLAGS image POPF may load in user mode: status flags and DF; IF set */
function popfImage(cb: CB): bigint {
  return BigInt((cb.rng.u32() & (CF | PF | AF | ZF | SF | OF | DF)) | 0x202);
}

function regOp(cb: CB, base: number, o16: boolean, allowRsp = false): number[] {
  const r = cb.pickReg(false, true, allowRsp);
  cb.setReg(r, 8, cb.rng.u64());
  const rex = (r >> 3 ? 0x41 : 0) | (cb.rng.bool(0.2) ? 0x40 : 0);
  return [...(o16 ? [0x66] : []), ...(rex ? [rex] : []), base + (r & 7)];
}

export function stackForms(): FormDef[] {
  const out: FormDef[] = [];
  const f = (name: string, gen: (cb: CB) => void, size = 8) => out.push({ name, family: 'none', size, gen });
  for (const o16 of [false, true]) {
    const n = o16 ? 16 : 64;
    f(`push r${n} (50+r)`, (cb) => { stackAt(cb); cb.raw(regOp(cb, 0x50, o16)); });
    f(`pop r${n} (58+r)`, (cb) => { stackAt(cb); cb.raw(regOp(cb, 0x58, o16)); });
    f(`push imm8 (${n}-bit)`, (cb) => { stackAt(cb); cb.raw([...(o16 ? [0x66] : []), 0x6a, Number(cb.val(1, 0))]); });
    f(`push imm${o16 ? 16 : 32} (${n}-bit)`, (cb) => {
      stackAt(cb);
      const v = cb.val(o16 ? 2 : 4, 0);
      const b = o16 ? [Number(v & 0xffn), Number(v >> 8n)] : le32(Number(v));
      cb.raw([...(o16 ? [0x66] : []), 0x68, ...b]);
    });
    for (const mem of [false, true]) {
      f(`push r/m${n} (${kind(mem)})`, (cb) => {
        stackAt(cb, 0x50, 0xf0);
        const mo = cb.alloc({ mem, span: 8, ext: 6 });
        cb.setE(mo, 8, cb.rng.u64());
        cb.emit(mo, [0xff], { opsize: o16 ? 2 : 4 });
      });
      f(`pop r/m${n} (${kind(mem)})`, (cb) => {
        // the address of a memory destination is computed with the incremented RSP
        stackAt(cb, 0x40, 0xe0);
        const mo = cb.alloc({ mem, span: 8, ext: 0, offHi: MEMSZ - 24 });
        cb.emit(mo, [0x8f], { opsize: o16 ? 2 : 4 });
      });
    }
    f(`pushf (${n}-bit)`, (cb) => { stackAt(cb); cb.raw([...(o16 ? [0x66] : []), 0x9c]); });
    f(`popf (${n}-bit)`, (cb) => {
      const off = stackAt(cb);
      cb.writeMem(off, o16 ? 2 : 8, popfImage(cb));
      cb.raw([...(o16 ? [0x66] : []), 0x9d]);
    });
  }
  f('push rsp', (cb) => { stackAt(cb); cb.raw([0x54]); });
  f('pop rsp', (cb) => { stackAt(cb); cb.raw([0x5c]); });
  // near branches
  f('call rel32', (cb) => { stackAt(cb); cb.raw([0xe8, ...le32(branchDisp(cb, 5, true))]); });
  f('jmp rel8', (cb) => { cb.raw([0xeb, branchDisp(cb, 2, false) & 0xff]); });
  f('jmp rel32', (cb) => { cb.raw([0xe9, ...le32(branchDisp(cb, 5, true))]); });
  for (const [m, ext] of [['call', 2], ['jmp', 4]] as [string, number][]) {
    for (const mem of [false, true]) {
      f(`${m} r/m64 (${kind(mem)})`, (cb) => {
        stackAt(cb, 0x50, 0xf0);
        const mo = cb.alloc({ mem, span: 8, ext });
        cb.emit(mo, [0xff], { seg: false });
        cb.setE(mo, 8, codeTarget(cb, cb.code.length));
      });
    }
  }
  // near branches to a non-canonical target: #GP(0) on the branch, nothing changes (RIP, RSP)
  const nonCanonical = (cb: CB) => ((cb.rng.u64() | (1n << 62n)) & ~(1n << 63n)) ^ (cb.rng.bool() ? (1n << 64n) - 1n : 0n);
  for (const [m, ext] of [['call', 2], ['jmp', 4]] as [string, number][]) {
    f(`${m} r/m64 to a non-canonical target (#GP)`, (cb) => {
      const off = stackAt(cb, 0x50, 0xf0);
      const mo = cb.alloc({ mem: cb.rng.bool(), span: 8, ext });
      cb.emit(mo, [0xff], { seg: false });
      cb.setE(mo, 8, nonCanonical(cb));
      // an Intel host has already written the return address below RSP (masks.ts, HOST_QUIRKS)
      if (m === 'call') cb.quirkMem = [off - 8, 8];
    });
  }
  f('ret to a non-canonical address (#GP)', (cb) => {
    const off = stackAt(cb, 0x40, 0xf0);
    cb.writeMem(off, 8, nonCanonical(cb));
    cb.raw(cb.rng.bool() ? [0xc3] : [0xc2, cb.rng.int(256), cb.rng.int(256)]);
  });
  f('ret', (cb) => {
    const off = stackAt(cb, 0x40, 0xf0);
    cb.writeMem(off, 8, codeTarget(cb, 1));
    cb.raw([0xc3]);
  });
  f('ret imm16', (cb) => {
    const off = stackAt(cb, 0x40, 0xf0);
    cb.writeMem(off, 8, codeTarget(cb, 3));
    const n = cb.rng.pick([0, 8, 0x10, 0x7fff, 0x8000, 0xffff, cb.rng.int(0x10000)]);
    cb.raw([0xc2, n & 0xff, n >> 8]);
  });
  for (const o16 of [false, true]) {
    f(`leave (${o16 ? 16 : 64}-bit)`, (cb) => {
      const bp = cb.rng.range(0x40, 0xf0) & ~(cb.rng.bool(0.85) ? 7 : 0);
      cb.regs[5] = BigInt(BUF_ADDR + bp);
      stackAt(cb);
      cb.raw([...(o16 ? [0x66] : []), 0xc9]);
    });
  }
  f('enter imm16, imm8', (cb) => {
    stackAt(cb, 0xa0, 0xf8);
    cb.regs[5] = BigInt(BUF_ADDR + cb.rng.range(0x60, 0xf8));
    // frames that end inside the window: Intel touches the final stack top, which would fault
    // natively outside the mapped page while the emulator's RAM is there (masks.ts, HOST_QUIRKS)
    const size = cb.rng.pick([0, 8, 0x18, 0x60, cb.rng.int(0x61)]);
    const level = cb.k < 4 ? cb.k : cb.rng.pick([0, 1, 2, 3, 0x20, 0x21]);
    cb.raw([0xc8, size & 0xff, size >> 8, level]);
  });
  // LOOP family and JrCXZ: count register edges, ZF both ways; 67 selects ECX
  const loops: [string, number][] = [['loopne', 0xe0], ['loope', 0xe1], ['loop', 0xe2], ['jrcxz', 0xe3]];
  for (const [m, op] of loops) {
    for (const a32 of [false, true]) {
      f(`${m === 'jrcxz' && a32 ? 'jecxz' : m} rel8${a32 && m !== 'jrcxz' ? ' (ECX)' : ''}`, (cb) => {
        comboFlags(cb);
        const e = [0n, 1n, 2n, 0xffffffffn, 0x100000000n, 0x100000001n, -1n & ((1n << 64n) - 1n)];
        cb.regs[1] = cb.k < 32 ? e[(cb.k >> 2) % e.length] : cb.rng.bool(0.5) ? BigInt(cb.rng.int(4)) : cb.rng.u64();
        const pre = a32 ? [0x67] : [];
        cb.raw([...pre, op, branchDisp(cb, pre.length + 2, false) & 0xff]);
      });
    }
  }
  return out;
}
