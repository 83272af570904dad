/**
 * Forms: MOVS STOS LODS CMPS SCAS at every element size, without REP, with REP/REPE and (for
 * CMPS/SCAS) REPNE; DF alternates between cases, RSI/RDI point into the window, RCX is small
 * (with REP). One case in six uses 32-bit addressing (67: ESI/EDI/ECX, upper halves garbage).
 */

import type { FormDef } from './form.js';
import { SIZES } from './form.js';
import { maskOf, type CB } from './gen.js';
import { BUF_ADDR, DF } from './layout.js';

const SFX = ['b', 'w', 'd', 'q'];

interface StrOp {
  m: string;
  op: number;
  src: boolean;
  dst: boolean;
  /** compares (REPE/REPNE stop on ZF) */
  cmp: boolean;
}

const OPS: StrOp[] = [
  { m: 'movs', op: 0xa4, src: true, dst: true, cmp: false },
  { m: 'cmps', op: 0xa6, src: true, dst: true, cmp: true },
  { m: 'stos', op: 0xaa, src: false, dst: true, cmp: false },
  { m: 'lods', op: 0xac, src: true, dst: false, cmp: false },
  { m: 'scas', op: 0xae, src: false, dst: true, cmp: true },
];

const MAXN = 7;

function setup(cb: CB, o: StrOp, size: number, rep: number): void {
  const rng = cb.rng;
  const a32 = rng.bool(1 / 6);
  const down = (cb.flags & DF) !== 0;
  // element i of a string starting at offset p is at p + i*size (or - with DF)
  const lo = MAXN * 8;
  const hi = 256 - MAXN * 8 - 8;
  const si = rng.range(lo, hi);
  const di = rng.bool(0.2) ? si : rng.range(lo, hi);
  const n = rep ? (cb.k < 4 ? cb.k : rng.int(MAXN + 1)) : rng.int(4);
  const addr = (off: number) => {
    const v = BigInt(BUF_ADDR + off);
    return a32 ? (rng.u64() & ~0xffffffffn) | v : v;
  };
  cb.regs[6] = addr(si);
  cb.regs[7] = addr(di);
  cb.regs[1] = rep ? (a32 ? (rng.u64() & ~0xffffffffn) | BigInt(n) : BigInt(n)) : rng.u64();
  cb.regs[0] = cb.val(size, 0) | (cb.regs[0] & ~maskOf(size));
  const el = (p: number, i: number) => p + (down ? -i : i) * size;
  if (o.cmp) {
    // a run of matching elements, so REPE continues for a while and REPNE stops somewhere
    const j = rng.int(n + 2);
    for (let i = 0; i < j; i++) {
      const v = o.m === 'scas' ? cb.regs[0] & maskOf(size) : cb.readMem(el(si, i), size);
      if (rep === 0xf2) {
        if (i === j - 1) cb.writeMem(el(di, i), size, v);
      } else {
        cb.writeMem(el(di, i), size, v);
      }
    }
  }
  if (rep && a32 && n === 0) {
    // an Intel host zero-extends ECX/ESI/EDI even when the count is zero (masks.ts, HOST_QUIRKS)
    const hi = ~0xffffffffn & ((1n << 64n) - 1n);
    cb.quirkRegs.push([1, hi]);
    if (o.src) cb.quirkRegs.push([6, hi]);
    if (o.dst) cb.quirkRegs.push([7, hi]);
  }
  cb.raw([...(a32 ? [0x67] : []), ...(rep ? [rep] : []), ...(size === 2 ? [0x66] : []), ...(size === 8 ? [0x48] : []), o.op + (size === 1 ? 0 : 1)]);
}

export function stringForms(): FormDef[] {
  const out: FormDef[] = [];
  for (const o of OPS) {
    const reps = o.cmp ? [0, 0xf3, 0xf2] : [0, 0xf3];
    for (const size of SIZES) {
      for (const rep of reps) {
        const rn = rep === 0 ? '' : rep === 0xf2 ? 'repne ' : o.cmp ? 'repe ' : 'rep ';
        out.push({
          name: `${rn}${o.m}${SFX[Math.log2(size)]}`, family: o.cmp ? 'arith' : 'none', size,
          gen(cb) {
            setup(cb, o, size, rep);
          },
        });
      }
    }
  }
  return out;
}
