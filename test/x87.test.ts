/**
 * x87 checks outside the 64-bit host-CPU differential (test/hostcpu/forms-x87.ts): the real-mode
 * and 16-bit environment layouts, FNSAVE/FRSTOR, #NM, and the transcendental instructions,
 * which are computed in double precision and so are compared with the host CPU within a
 * tolerance rather than bit-exactly.
 */

import { describe, expect, it } from 'vitest';
import { Cr0 } from '../src/cpu/state.js';
import { expectFault, mk, rd16, rd32, runToUd } from './flow-helpers.js';
import { CB, Rng } from './hostcpu/gen.js';
import { defaultFx, FX, setSt, setX87Env } from './hostcpu/fx.js';
import { EmuRunner } from './hostcpu/emu.js';
import { buildHarness, runNative } from './hostcpu/native.js';
import type { Case } from './hostcpu/layout.js';

describe('x87 environment images', () => {
  it('real mode: FNSTENV 14-byte and 28-byte layouts hold the linear FIP with FOP', () => {
    // fninit; fld1; fnstenv [2000h]; o32 fnstenv [3000h]; ud2
    const c = mk(16, 'db e3 d9 e8 d9 36 00 20 66 d9 36 00 30 0f 0b');
    runToUd(c);
    const w = (k: number) => rd16(c, 0x2000 + 2 * k);
    expect([w(0), w(1), w(2), w(3), w(4), w(5), w(6)]).toEqual([0x037f, 0x3800, 0x3fff, 0x1002, 0x01e8, 0, 0]);
    const d = (k: number) => rd32(c, 0x3000 + 4 * k);
    expect([d(0), d(1), d(2), d(3), d(4), d(5), d(6)]).toEqual([0xffff037f, 0xffff3800, 0xffff3fff, 0xffff1002, 0x000001e8, 0xffff0000, 0]);
  });

  it('16-bit protected layout: FIP offset, FCS, FDP offset and FDS selectors; FLDENV loads it back', () => {
    // fninit; fld dword [2100h]; fnstenv [2000h]; ud2 (32-bit code with 16-bit operand size via 66)
    const c = mk(32, 'db e3 d9 05 00 21 00 00 66 d9 35 00 20 00 00 0f 0b');
    runToUd(c);
    const w = (k: number) => rd16(c, 0x2000 + 2 * k);
    expect([w(0), w(1), w(2), w(3), w(4), w(5), w(6)]).toEqual([0x037f, 0x3800, 0x7fff, 0x1002, 0, 0x2100, 0]);
    // modify the image's FCW and load it: fldenv [2000h] (o16); fnstcw [2200h]; ud2
    const d = mk(32, '66 d9 25 00 20 00 00 d9 3d 00 22 00 00 0f 0b');
    d.mem.u8.set(c.mem.u8.subarray(0x2000, 0x200e), 0x2000);
    d.mem.u8[0x2000] = 0x7e; d.mem.u8[0x2001] = 0x0e;
    runToUd(d);
    expect(rd16(d, 0x2200)).toBe(0x0e7e);
    expect(d.fpu.fsw & 0x3800).toBe(0x3800);
    expect(d.fpu.fdp).toBe(0x2100);
  });

  it('FNSAVE stores the registers in stack order and reinitializes; FRSTOR restores', () => {
    // fninit; fldpi; fld1; fnsave [2000h]; fnstsw ax; mov ebx,eax; frstor [2000h]; fnstsw ax;
    // fstp tword [2100h]; ud2
    const c = mk(32, 'db e3 d9 eb d9 e8 dd 35 00 20 00 00 df e0 89 c3 dd 25 00 20 00 00 df e0 db 3d 00 21 00 00 0f 0b');
    runToUd(c);
    expect(c.rl[3] & 0xffff).toBe(0); // after FNSAVE: TOP 0, no flags
    expect((c.rl[0] >> 11) & 7).toBe(6); // restored TOP
    // ST(0) = 1.0 at +28, ST(1) = pi at +38
    expect(rd32(c, 0x2000 + 28 + 4)).toBe(0x80000000);
    expect(rd16(c, 0x2000 + 28 + 8)).toBe(0x3fff);
    expect(rd32(c, 0x2000 + 38 + 4)).toBe(0xc90fdaa2);
    expect(rd16(c, 0x2108)).toBe(0x3fff);
  });
});

describe('x87 #NM and #MF', () => {
  it('CR0.TS or CR0.EM: #NM on x87 instructions, WAIT only with TS and MP', () => {
    const c = mk(32, 'd9 e8 0f 0b');
    c.cr0 |= Cr0.TS;
    expectFault(c, 7, 0x1000);
    const e = mk(32, 'db e3 0f 0b');
    e.cr0 |= Cr0.EM;
    expectFault(e, 7, 0x1000);
    const w = mk(32, '9b 0f 0b');
    w.cr0 |= Cr0.TS;
    runToUd(w, 0x1001);
    const w2 = mk(32, '9b 0f 0b');
    w2.cr0 |= Cr0.TS | Cr0.MP;
    expectFault(w2, 7, 0x1000);
  });

  it('an unmasked divide by zero is reported at the next waiting instruction', () => {
    // fninit; fldcw [2000h] (ZE unmasked); fldz; fld1; fdiv st,st(1); fnstsw ax; fwait
    const c = mk(32, 'db e3 d9 2d 00 20 00 00 d9 ee d9 e8 d8 f1 df e0 9b 0f 0b');
    c.mem.u8[0x2000] = 0x7b; c.mem.u8[0x2001] = 0x03;
    expectFault(c, 16, 0x1010);
    expect(c.rl[0] & 0xffff).toBe(0x3084 | 0x8000); // B, TOP 6, ES, ZE
  });
});

/** f80 bytes to a JS number (for the tolerance comparison) */
function f80ToNumber(b: Uint8Array, off: number): number {
  const v = new DataView(b.buffer, b.byteOffset + off, 10);
  const sig = v.getBigUint64(0, true);
  const se = v.getUint16(8, true);
  const e = se & 0x7fff;
  if (e === 0x7fff) return sig << 1n === 0n ? (se & 0x8000 ? -Infinity : Infinity) : NaN;
  const m = Number(sig) / 2 ** 63;
  const x = m * 2 ** ((e === 0 ? 1 : e) - 16383);
  return se & 0x8000 ? -x : x;
}

const TRANS: [string, number, number, (r: Rng) => [number, number]][] = [
  // name, D9 second byte, registers written (1: ST0, 2: ST0 and ST1 after a push/pop), inputs
  ['f2xm1', 0xf0, 1, (r) => [r.range(-1000, 1000) / 1000, 0]],
  ['fyl2x', 0xf1, 1, (r) => [r.range(1, 1e6) / 997, r.range(-1000, 1000) / 7]],
  ['fptan', 0xf2, 2, (r) => [r.range(-1400, 1400) / 1000, 0]],
  ['fpatan', 0xf3, 1, (r) => [r.range(-1e5, 1e5) / 31, r.range(-1e5, 1e5) / 37]],
  ['fyl2xp1', 0xf9, 1, (r) => [r.range(-290, 290) / 1000, r.range(-1000, 1000) / 7]],
  ['fsincos', 0xfb, 2, (r) => [r.range(-100000, 100000) / 1000, 0]],
  ['fsin', 0xfe, 1, (r) => [r.range(-100000, 100000) / 1000, 0]],
  ['fcos', 0xff, 1, (r) => [r.range(-100000, 100000) / 1000, 0]],
];

function toF80(x: number): [number, number, number] {
  if (x === 0) return [0, 0, 0];
  const s = x < 0 ? 0x8000 : 0;
  let a = Math.abs(x), e = 0;
  while (a >= 2) { a /= 2; e++; }
  while (a < 1) { a *= 2; e--; }
  const hi = Math.floor(a * 2 ** 31) >>> 0;
  const lo = Math.floor((a * 2 ** 31 - Math.floor(a * 2 ** 31)) * 2 ** 32) >>> 0;
  return [lo, hi, s | (e + 16383)];
}

describe.skipIf(process.arch !== 'x64')('x87 transcendentals vs the host CPU (double-precision accuracy, not bit-exact)', () => {
  const bin = buildHarness();
  const runner = new EmuRunner();
  for (const [name, op, nres, gen] of TRANS) {
    it(`${name}: 200 cases within 2^-50 relative (or 2^-52 absolute)`, () => {
      const rng = new Rng(0x7ab1e ^ op);
      const cases: Case[] = [];
      for (let k = 0; k < 200; k++) {
        const cb = new CB(rng, k);
        const [x, y] = gen(rng);
        const b = defaultFx();
        const [lo, hi, se] = toF80(x);
        const [lo1, hi1, se1] = toF80(y);
        setSt(b, 0, lo, hi, se);
        setSt(b, 1, lo1, hi1, se1);
        // TOP 1, ST0/ST1 valid (physical 1, 2), rounding to nearest, 64-bit precision
        setX87Env(b, 0x037f, 1 << 11, 0b110);
        cb.fx = b;
        cb.raw([0xd9, op]);
        cases.push(cb.build());
      }
      const nat = runNative(bin, cases);
      const bad: string[] = [];
      cases.forEach((cs, k) => {
        const e = runner.run(cs);
        const n = nat[k];
        if (n.fx === null || e.fx === null) { bad.push('no FP state'); return; }
        for (let s = 0; s < nres; s++) {
          const a = f80ToNumber(n.fx, FX.ST + 16 * s), b = f80ToNumber(e.fx, FX.ST + 16 * s);
          const tol = Math.max(Math.abs(a) * 2 ** -50, 2 ** -52);
          if (!(Math.abs(a - b) <= tol) && !(Number.isNaN(a) && Number.isNaN(b))) bad.push(`${name} case ${k} ST${s}: host ${a}, emulator ${b}`);
        }
        const top = (v: Uint8Array) => (new DataView(v.buffer, v.byteOffset).getUint16(FX.FSW, true) >> 11) & 7;
        if (top(n.fx) !== top(e.fx)) bad.push(`${name} case ${k}: TOP host ${top(n.fx)}, emulator ${top(e.fx)}`);
      });
      expect(bad.slice(0, 8).join('\n')).toBe('');
    });
  }
});
