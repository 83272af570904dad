/** Forms: BT BTS BTR BTC (register and immediate offsets), BSF BSR TZCNT LZCNT POPCNT. */

import type { Feature, FormDef } from './form.js';
import { VSIZES, bits, kind, rmn, rn } from './form.js';
import { maskOf, type CB } from './gen.js';
import type { Family } from './masks.js';

const BTS: [string, number][] = [['bt', 0], ['bts', 1], ['btr', 2], ['btc', 3]];

/** a bit offset: edges, then random; for memory forms small enough to stay in the window */
function bitOffset(cb: CB, size: number, mem: boolean): bigint {
  const w = bits(size);
  const e = [0, 1, w - 1, w, w + 1, -1, -w, -w - 1, 2 * w, 63, 64, -64, 200, -200];
  let v: number;
  if (cb.k < e.length) v = e[cb.k];
  else if (cb.rng.bool(0.3)) v = cb.rng.pick(e);
  else v = mem ? cb.rng.range(-700, 700) : Number(cb.rng.u32() | 0);
  if (!mem && cb.rng.bool(0.3)) return cb.rng.u64() & maskOf(size);
  return BigInt(v) & maskOf(size);
}

/** source values for the scans: edges, single bits, sparse and dense random */
function scanSource(cb: CB, size: number): bigint {
  const r = cb.rng;
  switch (r.int(4)) {
    case 0: return cb.val(size, 0);
    case 1: return (1n << BigInt(r.int(bits(size)))) & maskOf(size);
    case 2: return (r.u64() & r.u64() & r.u64()) & maskOf(size);
    default: return r.u64() & maskOf(size);
  }
}

export function bitForms(): FormDef[] {
  const out: FormDef[] = [];
  for (const [m, op] of BTS) {
    const lock = op !== 0;
    for (const size of VSIZES) {
      for (const mem of [false, true]) {
        out.push({
          name: `${m} ${rmn(size)}, ${rn(size)} (${kind(mem)})`, family: 'bt', size,
          gen(cb) {
            // memory: the operand sits mid-window so register offsets of +-700 bits stay inside
            const mo = cb.alloc({ w: size === 8, mem, span: size, offLo: 96, offHi: 152 });
            cb.setE(mo, size, cb.val(size, 1));
            cb.setG(mo, size, bitOffset(cb, size, mem));
            cb.emit(mo, [0x0f, [0xa3, 0xab, 0xb3, 0xbb][op]], { opsize: size, lock: mem && lock && cb.rng.bool(0.25) });
          },
        });
        out.push({
          name: `${m} ${rmn(size)}, imm8 (${kind(mem)})`, family: 'bt', size,
          gen(cb) {
            const mo = cb.alloc({ w: size === 8, mem, span: size, ext: 4 + op });
            cb.setE(mo, size, cb.val(size, 1));
            const w = bits(size);
            const e = [0, 1, w - 1, w, w + 1, 0x7f, 0x80, 0xff];
            const imm = cb.k < e.length ? e[cb.k] : cb.rng.int(256);
            cb.emit(mo, [0x0f, 0xba], { opsize: size, imm: [1, BigInt(imm)], lock: mem && lock && cb.rng.bool(0.25) });
          },
        });
      }
    }
  }
  const scans: [string, number[], number, Family, Feature | undefined][] = [
    ['bsf', [], 0xbc, 'bitScan', undefined],
    ['bsr', [], 0xbd, 'bitScan', undefined],
    ['tzcnt', [0xf3], 0xbc, 'countZeros', 'bmi1'],
    ['lzcnt', [0xf3], 0xbd, 'countZeros', 'lzcnt'],
    ['popcnt', [0xf3], 0xb8, 'popcnt', 'popcnt'],
  ];
  for (const [m, pre, opb, family, feature] of scans) {
    for (const size of VSIZES) {
      for (const mem of [false, true]) {
        out.push({
          name: `${m} ${rn(size)}, ${rmn(size)} (${kind(mem)})`, family, size, feature,
          gen(cb) {
            const mo = cb.alloc({ w: size === 8, mem, span: size });
            cb.setG(mo, size, cb.rng.u64());
            // zero sources in the first cases and now and then after
            cb.setE(mo, size, cb.k < 3 || cb.rng.bool(0.08) ? 0n : scanSource(cb, size));
            cb.emit(mo, [0x0f, opb], { opsize: size, pre });
          },
        });
      }
    }
  }
  return out;
}
