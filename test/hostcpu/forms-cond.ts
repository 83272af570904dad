/**
 * Forms that evaluate a condition code: CMOVcc, SETcc and Jcc (rel8 and rel32), each over all
 * 32 combinations of CF PF ZF SF OF (case k uses combination k mod 32).
 */

import type { FormDef } from './form.js';
import { VSIZES, kind, rmn, rn } from './form.js';
import type { CB } from './gen.js';
import { AF, CF, DF, OF, PF, SF, ZF } from './layout.js';

export const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

/** flags combination k mod 32 of the five condition flags; AF at random, DF as given */
export function comboFlags(cb: CB): void {
  const c = cb.k % 32;
  const f = (c & 1 ? CF : 0) | (c & 2 ? PF : 0) | (c & 4 ? ZF : 0) | (c & 8 ? SF : 0) | (c & 16 ? OF : 0);
  cb.flags = f | (cb.rng.bool() ? AF : 0) | (cb.flags & DF);
}

/**
 * A branch displacement that lands in the INT3 filler of the code page, never inside the
 * instruction itself: `len` is the instruction length, `wide` a 32-bit displacement.
 */
export function branchDisp(cb: CB, len: number, wide: boolean): number {
  for (;;) {
    const d = wide ? cb.rng.range(-0x7f0, 0x7f0) : cb.rng.range(-128, 127);
    if (d >= -len && d < 0) continue;
    return d;
  }
}

export function le32(d: number): number[] {
  return [d & 0xff, (d >>> 8) & 0xff, (d >>> 16) & 0xff, (d >>> 24) & 0xff];
}

export function condForms(): FormDef[] {
  const out: FormDef[] = [];
  for (let cc = 0; cc < 16; cc++) {
    for (const size of VSIZES) {
      for (const mem of [false, true]) {
        out.push({
          name: `cmov${CC[cc]} ${rn(size)}, ${rmn(size)} (${kind(mem)})`, family: 'none', size,
          gen(cb) {
            comboFlags(cb);
            const mo = cb.alloc({ w: size === 8, mem, span: size });
            cb.setG(mo, size, cb.val(size, 0));
            cb.setE(mo, size, cb.val(size, 1));
            cb.emit(mo, [0x0f, 0x40 + cc], { opsize: size });
          },
        });
      }
    }
    for (const mem of [false, true]) {
      out.push({
        name: `set${CC[cc]} r/m8 (${kind(mem)})`, family: 'none', size: 1,
        gen(cb) {
          comboFlags(cb);
          const mo = cb.alloc({ eByte: true, mem, span: 1, ext: 0 });
          cb.setE(mo, 1, cb.val(1, 0));
          cb.emit(mo, [0x0f, 0x90 + cc]);
        },
      });
    }
    out.push({
      name: `j${CC[cc]} rel8`, family: 'none', size: 8,
      gen(cb) {
        comboFlags(cb);
        // a branch hint prefix (2E/3E) now and then: ignored
        const pre = cb.rng.bool(0.15) ? [cb.rng.pick([0x2e, 0x3e])] : [];
        const d = branchDisp(cb, pre.length + 2, false);
        cb.raw([...pre, 0x70 + cc, d & 0xff]);
      },
    });
    out.push({
      name: `j${CC[cc]} rel32`, family: 'none', size: 8,
      gen(cb) {
        comboFlags(cb);
        const d = branchDisp(cb, 6, true);
        cb.raw([0x0f, 0x80 + cc, ...le32(d)]);
      },
    });
  }
  return out;
}

