/** Forms: MUL, IMUL (one, two and three operands), DIV, IDIV at every size. */

import type { FormDef } from './form.js';
import { SIZES, VSIZES, bits, izBytes, kind, rmn, rn } from './form.js';
import { maskOf, operand, sext, type CB } from './gen.js';

/** set the dividend: AX for bytes, rDX:rAX otherwise */
function setDividend(cb: CB, size: number, v: bigint): void {
  const m2 = maskOf(size * 2);
  v &= m2;
  if (size === 1) { cb.setReg(0, 2, v); return; }
  cb.setReg(0, size, v & maskOf(size));
  cb.setReg(2, size, v >> BigInt(bits(size)));
}

/**
 * A dividend/divisor pair: every eighth case divides by zero, every eighth overflows the
 * quotient, the rest divide cleanly (with edge quotients and divisors among them).
 */
function divCase(cb: CB, size: number, signed: boolean): [bigint, bigint] {
  const rng = cb.rng;
  const w = BigInt(bits(size));
  const m = maskOf(size);
  const kind8 = cb.k % 8;
  let d = operand(rng, size, cb.k >> 1, 0);
  if (kind8 === 0) return [((rng.u64() << 64n) | rng.u64()) & maskOf(size * 2), 0n];
  if (d === 0n) d = 1n;
  if (!signed) {
    if (kind8 === 1) {
      // quotient overflow: the high half is at least the divisor
      const hi = rng.bool(0.3) ? d : d + (rng.u64() & m) % (m - d + 1n);
      return [(hi << w) | (rng.u64() & m), d];
    }
    const hi = rng.bool(0.2) ? d - 1n : (rng.u64() & m) % d;
    return [(hi << w) | (rng.u64() & m), d];
  }
  const ds = sext(d, size);
  const qmin = -(1n << (w - 1n));
  const qmax = (1n << (w - 1n)) - 1n;
  if (kind8 === 1) {
    // the classic overflow (most negative / -1), or a quotient just out of range
    if (rng.bool(0.5)) return [rng.bool() ? -(1n << (2n * w - 1n)) : qmin, m];
    const q = rng.bool() ? qmax + 1n + BigInt(rng.int(5)) : qmin - 1n - BigInt(rng.int(5));
    const dd = ds === 0n ? 1n : ds;
    return [q * dd, dd & m];
  }
  let q = rng.bool(0.3) ? rng.pick([0n, 1n, -1n, qmin, qmax]) : sext(rng.u64() & m, size);
  if (rng.bool(0.5)) q = q >> BigInt(rng.int(bits(size)));
  const ad = ds < 0n ? -ds : ds;
  let r = ad > 1n ? (BigInt(rng.u32()) * BigInt(rng.u32()) * 3n) % ad : 0n;
  // the remainder takes the dividend's sign: keep it on the product's side
  const prod = q * ds;
  if (prod < 0n || (prod === 0n && rng.bool())) r = -r;
  return [prod + r, ds & m];
}

export function mulDivForms(): FormDef[] {
  const out: FormDef[] = [];
  const ops: [string, number][] = [['mul', 4], ['imul', 5], ['div', 6], ['idiv', 7]];
  for (const [m, ext] of ops) {
    for (const size of SIZES) {
      for (const mem of [false, true]) {
        out.push({
          name: `${m} ${rmn(size)} (${kind(mem)})`, family: ext < 6 ? 'mul' : 'div', size,
          gen(cb) {
            const mo = cb.alloc({ w: size === 8, eByte: size === 1, mem, span: size, ext, reserve: [0, 2] });
            if (ext < 6) {
              cb.setE(mo, size, cb.val(size, 1));
              cb.setReg(0, size, cb.val(size, 0));
            } else {
              const [dividend, divisor] = divCase(cb, size, ext === 7);
              cb.setE(mo, size, divisor);
              setDividend(cb, size, dividend);
            }
            cb.emit(mo, [size === 1 ? 0xf6 : 0xf7], { opsize: size });
          },
        });
      }
    }
  }
  // IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69 iz, 6B ib)
  for (const size of VSIZES) {
    for (const mem of [false, true]) {
      out.push({
        name: `imul ${rn(size)}, ${rmn(size)} (${kind(mem)})`, family: 'mul', size,
        gen(cb) {
          const mo = cb.alloc({ w: size === 8, mem, span: size });
          cb.setG(mo, size, cb.val(size, 0));
          cb.setE(mo, size, cb.val(size, 1));
          cb.emit(mo, [0x0f, 0xaf], { opsize: size });
        },
      });
      for (const [opc, ib] of [[0x69, izBytes(size)], [0x6b, 1]]) {
        out.push({
          name: `imul ${rn(size)}, ${rmn(size)}, imm${ib * 8} (${kind(mem)})`, family: 'mul', size,
          gen(cb) {
            const mo = cb.alloc({ w: size === 8, mem, span: size });
            cb.setG(mo, size, cb.val(size, 2));
            cb.setE(mo, size, cb.val(size, 0));
            cb.emit(mo, [opc], { opsize: size, imm: [ib, cb.val(ib, 1)] });
          },
        });
      }
    }
  }
  return out;
}
