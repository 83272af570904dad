/**
 * String and small system instructions on a bare core in flat 64-, 32- and 16-bit modes, and
 * one paged 32-bit setup for faults in the middle of REP string instructions. Encodings were
 * produced with GNU as.
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { getFlags } from '../src/cpu/flags.js';
import { Cr0, Fl, Stop } from '../src/cpu/state.js';
import { HANDLERS } from '../src/cpu/exec/registry.js';
import { writeCr0, writeCr3 } from '../src/cpu/exec/ctrl.js';
import { CODE, STACK, hex, mk, runToUd, expectFault, get64, set64, dv, rd64, rd32, rd16, wr64, wr32, wr16, RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI } from './flow-helpers.js';

describe('string instructions', () => {
  const SRC = 0x10000;
  const DST = 0x20000;

  function fillSrc(c: Cpu, n: number, at = SRC): void {
    for (let k = 0; k < n; k++) c.mem.u8[at + k] = (k * 7 + 1) & 0xff;
  }

  it('REP MOVSB copies and advances rSI, rDI, rCX', () => {
    const c = mk(64, 'f3 a4 0f 0b');
    fillSrc(c, 100);
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(DST));
    set64(c, RCX, 100n);
    c.flags = 0x2 | Fl.CF;
    runToUd(c);
    for (let k = 0; k < 100; k++) expect(c.mem.u8[DST + k]).toBe((k * 7 + 1) & 0xff);
    expect(c.mem.u8[DST + 100]).toBe(0);
    expect(get64(c, RSI)).toBe(BigInt(SRC + 100));
    expect(get64(c, RDI)).toBe(BigInt(DST + 100));
    expect(get64(c, RCX)).toBe(0n);
    expect(getFlags(c)).toBe(0x2 | Fl.CF);
    expect(c.icount).toBe(1);
  });

  it('REP MOVSQ to an unaligned destination', () => {
    const c = mk(64, 'f3 48 a5 0f 0b');
    fillSrc(c, 24);
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(DST + 3));
    set64(c, RCX, 3n);
    runToUd(c);
    for (let k = 0; k < 24; k++) expect(c.mem.u8[DST + 3 + k]).toBe((k * 7 + 1) & 0xff);
    expect(get64(c, RDI)).toBe(BigInt(DST + 27));
  });

  it('a long REP MOVSB crosses pages and restarts itself', () => {
    const n = 10000;
    const c = mk(64, 'f3 a4 0f 0b');
    fillSrc(c, n, SRC + 0x123);
    set64(c, RSI, BigInt(SRC + 0x123));
    set64(c, RDI, BigInt(DST + 0xf00));
    set64(c, RCX, BigInt(n));
    runToUd(c, CODE + 2);
    for (let k = 0; k < n; k++) expect(c.mem.u8[DST + 0xf00 + k]).toBe((k * 7 + 1) & 0xff);
    expect(get64(c, RCX)).toBe(0n);
    expect(get64(c, RSI)).toBe(BigInt(SRC + 0x123 + n));
    // 10000 iterations at up to 4096 per execution
    expect(c.icount).toBe(3);
  });

  it('REP MOVSB with the destination just ahead of the source replicates bytes', () => {
    const c = mk(64, 'f3 a4 0f 0b');
    c.mem.u8[SRC] = 0x77;
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(SRC + 1));
    set64(c, RCX, 50n);
    runToUd(c);
    for (let k = 0; k <= 50; k++) expect(c.mem.u8[SRC + k]).toBe(0x77);
  });

  it('overlapping REP MOVSD copies element by element', () => {
    const c = mk(64, 'f3 a5 0f 0b');
    fillSrc(c, 64);
    const ref = c.mem.u8.slice(SRC, SRC + 64);
    for (let e = 0; e < 10; e++) {
      const tmp = ref.slice(e * 4, e * 4 + 4);
      ref.set(tmp, 2 + e * 4);
    }
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(SRC + 2));
    set64(c, RCX, 10n);
    runToUd(c);
    expect(Array.from(c.mem.u8.slice(SRC, SRC + 64))).toEqual(Array.from(ref));
  });

  it('REP with rCX = 0 does nothing, not even address checks', () => {
    const c = mk(64, 'f3 aa f3 a4 f3 a6 f3 ae 0f 0b');
    set64(c, RDI, -0x8000000000000000n);
    set64(c, RSI, -0x8000000000000000n);
    c.flags = 0x2 | Fl.CF;
    runToUd(c, CODE + 8);
    expect(get64(c, RDI)).toBe(0x8000000000000000n);
    expect(getFlags(c)).toBe(0x2 | Fl.CF);
  });

  it('DF = 1 runs backwards', () => {
    const c = mk(64, 'f3 a4 0f 0b');
    fillSrc(c, 10);
    set64(c, RSI, BigInt(SRC + 9));
    set64(c, RDI, BigInt(DST + 9));
    set64(c, RCX, 10n);
    c.flags = 0x2 | Fl.DF;
    runToUd(c);
    for (let k = 0; k < 10; k++) expect(c.mem.u8[DST + k]).toBe((k * 7 + 1) & 0xff);
    expect(get64(c, RSI)).toBe(BigInt(SRC - 1));
    expect(get64(c, RDI)).toBe(BigInt(DST - 1));
    // rep stosd backwards
    const d = mk(64, 'f3 ab 0f 0b');
    set64(d, RAX, 0xdeadbeefn);
    set64(d, RDI, BigInt(DST + 8));
    set64(d, RCX, 3n);
    d.flags = 0x2 | Fl.DF;
    runToUd(d);
    for (let k = 0; k < 3; k++) expect(rd32(d, DST + 4 * k)).toBe(0xdeadbeef);
    expect(get64(d, RDI)).toBe(BigInt(DST - 4));
  });

  it('REP STOSB / STOSW / STOSD / STOSQ, aligned and not', () => {
    const c = mk(64, 'f3 aa 0f 0b');
    set64(c, RAX, 0x1234abn);
    set64(c, RDI, BigInt(DST + 0xff0));
    set64(c, RCX, 5000n);
    runToUd(c);
    for (let k = 0; k < 5000; k++) expect(c.mem.u8[DST + 0xff0 + k]).toBe(0xab);
    expect(c.mem.u8[DST + 0xff0 - 1]).toBe(0);
    expect(c.mem.u8[DST + 0xff0 + 5000]).toBe(0);
    expect(c.icount).toBe(2);
    for (const [code, size] of [['f3 66 ab', 2], ['f3 ab', 4], ['f3 48 ab', 8]] as [string, number][]) {
      for (const off of [0, 1, 4]) {
        const d = mk(64, `${code} 0f 0b`);
        set64(d, RAX, 0x1122334455667788n);
        set64(d, RDI, BigInt(DST + off));
        set64(d, RCX, 7n);
        runToUd(d);
        const pat = [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11];
        for (let k = 0; k < 7 * size; k++) expect(d.mem.u8[DST + off + k]).toBe(pat[k % size]);
        expect(d.mem.u8[DST + off + 7 * size]).toBe(0);
        expect(get64(d, RDI)).toBe(BigInt(DST + off + 7 * size));
      }
    }
  });

  it('REPNE SCASB finds a terminator (strlen)', () => {
    const c = mk(64, 'f2 ae 0f 0b');
    c.mem.load(SRC, new TextEncoder().encode('hello world\0'));
    set64(c, RDI, BigInt(SRC));
    set64(c, RCX, -1n);
    set64(c, RAX, 0n);
    runToUd(c);
    expect(get64(c, RDI)).toBe(BigInt(SRC + 12));
    expect(get64(c, RCX)).toBe(BigInt.asUintN(64, -13n));
    expect(getFlags(c) & Fl.ZF).toBe(Fl.ZF);
    expect(c.icount).toBe(1);
    // backwards (the element-by-element path)
    const d = mk(64, 'f2 ae 0f 0b');
    d.mem.load(SRC, new TextEncoder().encode('xabcdef'));
    set64(d, RDI, BigInt(SRC + 6));
    set64(d, RCX, 100n);
    set64(d, RAX, 0x78n);
    d.flags = 0x2 | Fl.DF;
    runToUd(d);
    expect(get64(d, RDI)).toBe(BigInt(SRC - 1));
    expect(get64(d, RCX)).toBe(93n);
  });

  it('REPE SCASB stops at the first different byte; exhausting the count keeps ZF = 1', () => {
    const c = mk(64, 'f3 ae 0f 0b');
    c.mem.u8.fill(0x41, SRC, SRC + 9);
    c.mem.u8[SRC + 9] = 0x50;
    set64(c, RDI, BigInt(SRC));
    set64(c, RCX, 30n);
    set64(c, RAX, 0x41n);
    runToUd(c);
    expect(get64(c, RDI)).toBe(BigInt(SRC + 10));
    expect(get64(c, RCX)).toBe(20n);
    expect(getFlags(c) & (Fl.ZF | Fl.CF)).toBe(Fl.CF);
    const d = mk(64, 'f3 ae 0f 0b');
    d.mem.u8.fill(0x41, SRC, SRC + 9);
    set64(d, RDI, BigInt(SRC));
    set64(d, RCX, 5n);
    set64(d, RAX, 0x41n);
    runToUd(d);
    expect(get64(d, RCX)).toBe(0n);
    expect(getFlags(d) & Fl.ZF).toBe(Fl.ZF);
  });

  it('REPE CMPSB stops at the first mismatch', () => {
    const c = mk(64, 'f3 a6 0f 0b');
    fillSrc(c, 20, SRC);
    fillSrc(c, 20, DST);
    c.mem.u8[DST + 7] = 0xff;
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(DST));
    set64(c, RCX, 20n);
    runToUd(c);
    expect(get64(c, RSI)).toBe(BigInt(SRC + 8));
    expect(get64(c, RDI)).toBe(BigInt(DST + 8));
    expect(get64(c, RCX)).toBe(12n);
    // [rsi] - [rdi] = 0x32 - 0xff borrows
    expect(getFlags(c) & (Fl.ZF | Fl.CF)).toBe(Fl.CF);
  });

  it('REPE / REPNE CMPSB across pages and backwards', () => {
    const c = mk(64, 'f3 a6 0f 0b');
    c.mem.u8.fill(0x33, SRC + 0x800, SRC + 0x800 + 6000);
    c.mem.u8.fill(0x33, DST + 0x10, DST + 0x10 + 6000);
    c.mem.u8[DST + 0x10 + 4500] = 0x34;
    set64(c, RSI, BigInt(SRC + 0x800));
    set64(c, RDI, BigInt(DST + 0x10));
    set64(c, RCX, 6000n);
    runToUd(c);
    expect(get64(c, RCX)).toBe(BigInt(6000 - 4501));
    expect(get64(c, RSI)).toBe(BigInt(SRC + 0x800 + 4501));
    expect(getFlags(c) & (Fl.ZF | Fl.CF)).toBe(Fl.CF);
    expect(c.icount).toBe(2);
    // REPNE: the first equal pair ends it
    const d = mk(64, 'f2 a6 0f 0b');
    fillSrc(d, 40, SRC);
    d.mem.u8[DST + 30] = d.mem.u8[SRC + 30];
    set64(d, RSI, BigInt(SRC));
    set64(d, RDI, BigInt(DST));
    set64(d, RCX, 40n);
    runToUd(d);
    expect(get64(d, RCX)).toBe(9n);
    expect(getFlags(d) & Fl.ZF).toBe(Fl.ZF);
    // DF = 1, REPE
    const e = mk(64, 'f3 a6 0f 0b');
    fillSrc(e, 10, SRC);
    fillSrc(e, 10, DST);
    e.mem.u8[DST + 2] = 0;
    set64(e, RSI, BigInt(SRC + 9));
    set64(e, RDI, BigInt(DST + 9));
    set64(e, RCX, 10n);
    e.flags = 0x2 | Fl.DF;
    runToUd(e);
    expect(get64(e, RCX)).toBe(2n);
    expect(get64(e, RDI)).toBe(BigInt(DST + 1));
    expect(getFlags(e) & (Fl.ZF | Fl.CF)).toBe(0);
  });

  it('REP MOVSB over already-decoded code takes effect', () => {
    // s: rep movsb; mov al, 1; inc ebx; cmp ebx, 2; je e; mov ecx, 2; jmp s; e: ud2
    const c = mk(64, 'f3 a4 b0 01 ff c3 83 fb 02 74 07 b9 02 00 00 00 eb ee 0f 0b');
    c.mem.load(0x3000, hex('b0 02'));
    set64(c, RSI, 0x3000n);
    set64(c, RDI, BigInt(CODE + 2));
    runToUd(c);
    expect(c.rl[RAX] & 0xff).toBe(2);
  });

  it('CMPSQ and SCASW without REP set flags from one comparison', () => {
    // cmpsq; scasw; ud2
    const c = mk(64, '48 a7 66 af 0f 0b');
    wr64(c, SRC, 5n);
    wr64(c, DST, 5n);
    wr16(c, DST + 8, 0x8000);
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(DST));
    set64(c, RAX, 0x7fffn);
    c.run(1);
    expect(getFlags(c) & (Fl.ZF | Fl.CF)).toBe(Fl.ZF);
    expect(get64(c, RSI)).toBe(BigInt(SRC + 8));
    runToUd(c);
    // 0x7fff - 0x8000: borrow and signed overflow
    expect(getFlags(c) & (Fl.ZF | Fl.CF | Fl.OF | Fl.SF)).toBe(Fl.CF | Fl.OF | Fl.SF);
    expect(get64(c, RDI)).toBe(BigInt(DST + 10));
  });

  it('LODSB / LODSQ / REP LODSB', () => {
    // lodsb; lodsq; ud2
    const c = mk(64, 'ac 48 ad 0f 0b');
    fillSrc(c, 16);
    set64(c, RSI, BigInt(SRC));
    set64(c, RAX, -1n);
    c.run(1);
    expect(get64(c, RAX)).toBe(0xffffffffffffff01n);
    runToUd(c);
    expect(get64(c, RAX)).toBe(rd64(c, SRC + 1));
    expect(get64(c, RSI)).toBe(BigInt(SRC + 9));
    const d = mk(64, 'f3 ac 0f 0b');
    fillSrc(d, 16);
    set64(d, RSI, BigInt(SRC));
    set64(d, RCX, 3n);
    runToUd(d);
    expect(d.rl[RAX] & 0xff).toBe(d.mem.u8[SRC + 2]);
    expect(get64(d, RCX)).toBe(0n);
  });

  it('address-size override: 32-bit rSI / rDI / rCX in 64-bit mode', () => {
    const c = mk(64, '67 f3 a4 0f 0b');
    fillSrc(c, 4);
    set64(c, RSI, 0xdead000000010000n);
    set64(c, RDI, 0xbeef000000020000n);
    set64(c, RCX, 0x100000004n);
    runToUd(c);
    for (let k = 0; k < 4; k++) expect(c.mem.u8[DST + k]).toBe((k * 7 + 1) & 0xff);
    expect(get64(c, RSI)).toBe(BigInt(SRC + 4));
    expect(get64(c, RDI)).toBe(BigInt(DST + 4));
    expect(get64(c, RCX)).toBe(0n);
  });

  it('source segment override: FS in 64-bit mode', () => {
    // movsb byte ptr es:[rdi], byte ptr fs:[rsi]
    const c = mk(64, '64 a4 0f 0b');
    c.segBase[4] = 0x5000;
    c.mem.u8[0x5100] = 0x9a;
    set64(c, RSI, 0x100n);
    set64(c, RDI, BigInt(DST));
    runToUd(c);
    expect(c.mem.u8[DST]).toBe(0x9a);
    expect(get64(c, RSI)).toBe(0x101n);
  });

  it('a fault in the middle of REP STOSB / MOVSB leaves the registers at the iterations done', () => {
    const c = mk(64, 'f3 aa 0f 0b');
    set64(c, RDI, 0x7ffffffffffcn);
    set64(c, RCX, 8n);
    expectFault(c, 13, CODE);
    expect(get64(c, RDI)).toBe(0x800000000000n);
    expect(get64(c, RCX)).toBe(4n);
    const d = mk(64, 'f3 a4 0f 0b');
    set64(d, RSI, 0x7ffffffffffen);
    set64(d, RDI, BigInt(DST));
    set64(d, RCX, 4n);
    expectFault(d, 13, CODE);
    expect(get64(d, RSI)).toBe(0x800000000000n);
    expect(get64(d, RDI)).toBe(BigInt(DST + 2));
    expect(get64(d, RCX)).toBe(2n);
  });

  it('16-bit addressing wraps rSI at 64 KiB and keeps the upper half', () => {
    const c = mk(16, 'f3 a4 0f 0b');
    c.mem.u8[0xfffe] = 1;
    c.mem.u8[0xffff] = 2;
    c.mem.u8[0x0000] = 3;
    c.mem.u8[0x0001] = 4;
    c.rl[RSI] = 0x1234fffe;
    c.rl[RDI] = 0x2000;
    c.rl[RCX] = 0x50004;
    runToUd(c);
    expect(Array.from(c.mem.u8.slice(0x2000, 0x2004))).toEqual([1, 2, 3, 4]);
    expect(c.rl[RSI]).toBe(0x12340002);
    expect(c.rl[RCX]).toBe(0x50000);
  });

  it('32-bit mode: REP MOVSD, REP MOVSW, and addr16 REP MOVSB', () => {
    const c = mk(32, 'f3 a5 66 f3 a5 67 f3 a4 0f 0b');
    fillSrc(c, 64);
    c.rl[RSI] = SRC;
    c.rl[RDI] = DST;
    c.rl[RCX] = 4;
    c.run(1);
    expect(c.rl[RSI]).toBe(SRC + 16);
    c.rl[RCX] = 3;
    c.run(1);
    expect(c.rl[RDI]).toBe(DST + 22);
    c.rl[RSI] = 0x10040;
    c.rl[RDI] = 0x30008;
    c.rl[RCX] = 0x10002;
    c.mem.u8[0x40] = 0xa1;
    c.mem.u8[0x41] = 0xa2;
    runToUd(c);
    for (let k = 0; k < 22; k++) expect(c.mem.u8[DST + k]).toBe((k * 7 + 1) & 0xff);
    // addr16: SI = 0x0040, DI = 0x0008 (DS/ES bases 0)
    expect(Array.from(c.mem.u8.slice(8, 10))).toEqual([0xa1, 0xa2]);
    expect(c.rl[RSI]).toBe(0x10042);
    expect(c.rl[RDI]).toBe(0x3000a);
    expect(c.rl[RCX]).toBe(0x10000);
  });

  it('XLAT at 64, 32 and 16-bit address sizes', () => {
    const c = mk(64, 'd7 0f 0b');
    c.mem.u8[0x3005] = 0x99;
    set64(c, RBX, 0x3000n);
    set64(c, RAX, 0x1205n);
    runToUd(c);
    expect(get64(c, RAX)).toBe(0x1299n);
    // xlatb; addr16 xlatb (32-bit mode)
    const d = mk(32, 'd7 67 d7 0f 0b');
    d.mem.u8[0x13005] = 7;
    d.mem.u8[0x3007] = 0x55;
    d.rl[RBX] = 0x13000;
    d.rl[RAX] = 5;
    runToUd(d);
    expect(d.rl[RAX]).toBe(0x55);
  });
});

describe('REP string faults with paging (32-bit)', () => {
  /** identity-mapped 32-bit paging for the first 1 MiB, page 0x30 not present */
  function paged(code: string): Cpu {
    const c = mk(32, code);
    const PD = 0x80000;
    const PT = 0x81000;
    wr32(c, PD, PT | 7);
    for (let k = 0; k < 256; k++) wr32(c, PT + 4 * k, k === 0x30 ? 0 : (k << 12) | 7);
    writeCr3(c, PD, 0);
    writeCr0(c, c.cr0 | Cr0.PG, 0);
    return c;
  }

  it('REP STOSB runs up to the missing page, then #PF with consistent registers', () => {
    const c = paged('f3 aa 0f 0b');
    c.rl[RAX] = 0xcc;
    c.rl[RDI] = 0x2ff00;
    c.rl[RCX] = 0x200;
    expectFault(c, 14, CODE, 2);
    expect(c.rl[RDI]).toBe(0x30000);
    expect(c.rl[RCX]).toBe(0x100);
    for (let k = 0x2ff00; k < 0x30000; k++) expect(c.mem.u8[k]).toBe(0xcc);
    expect(c.mem.u8[0x30000]).toBe(0);
  });

  it('REP MOVSD with the source running into the missing page', () => {
    const c = paged('f3 a5 0f 0b');
    fillSrc(c, 16);
    c.mem.u8.copyWithin(0x2fff0, 0x10000, 0x10010);
    c.rl[RSI] = 0x2fff0;
    c.rl[RDI] = 0x40000;
    c.rl[RCX] = 8;
    expectFault(c, 14, CODE, 0);
    expect(c.rl[RSI]).toBe(0x30000);
    expect(c.rl[RDI]).toBe(0x40010);
    expect(c.rl[RCX]).toBe(4);
    expect(Array.from(c.mem.u8.slice(0x40000, 0x40010))).toEqual(Array.from(c.mem.u8.slice(0x10000, 0x10010)));
  });

  function fillSrc(c: Cpu, n: number): void {
    for (let k = 0; k < n; k++) c.mem.u8[0x10000 + k] = (k * 13 + 5) & 0xff;
  }
});

describe('small instructions', () => {
  it('PAUSE is a no-op; WAIT raises #NM only with CR0.MP and CR0.TS', () => {
    const c = mk(64, 'f3 90 9b 0f 0b');
    runToUd(c, CODE + 3);
    const d = mk(64, '9b 0f 0b');
    d.cr0 |= Cr0.TS;
    runToUd(d, CODE + 1);
    const e = mk(64, '9b 0f 0b');
    e.cr0 |= Cr0.TS | Cr0.MP;
    expectFault(e, 7, CODE);
  });

  it('UD0 / UD1 / UD2 raise #UD', () => {
    for (const code of ['0f 0b', '0f b9 c0', '0f ff c0']) {
      const c = mk(64, code);
      expectFault(c, 6, CODE);
      expect(c.icount).toBe(0);
    }
  });

  it('HLT halts at CPL 0 and raises #GP(0) above it', () => {
    const c = mk(64, 'f4 0f 0b');
    expect(c.run(100)).toBe(Stop.Halt);
    expect(c.rip).toBe(CODE + 1);
    expect(c.icount).toBe(1);
    const d = mk(64, 'f4');
    d.cpl = 3;
    expectFault(d, 13, CODE);
  });

  it('INT3, INT n, INT1 and INTO deliver with RIP past the instruction', () => {
    const c = mk(64, 'cc');
    c.run(10);
    expect(c.lastFault.vector).toBe(3);
    expect(c.lastFault.rip).toBe(CODE + 1);
    const d = mk(64, 'cd 80');
    d.run(10);
    expect(d.lastFault.vector).toBe(0x80);
    expect(d.lastFault.rip).toBe(CODE + 2);
    const e = mk(64, 'f1');
    e.run(10);
    expect(e.lastFault.vector).toBe(1);
    // into: nothing without OF, #OF with it (32-bit mode only)
    const f = mk(32, 'ce 0f 0b');
    runToUd(f, CODE + 1);
    const g = mk(32, 'ce 0f 0b');
    g.flags = 0x2 | Fl.OF;
    g.run(10);
    expect(g.lastFault.vector).toBe(4);
    expect(g.lastFault.rip).toBe(CODE + 1);
    const h = mk(64, 'ce');
    expectFault(h, 6, CODE);
  });

  it('the software-interrupt hook gets the event kinds', () => {
    const seen: [number, number][] = [];
    const c = mk(32, 'cc cd 21 ce f1 0f 0b');
    c.flags = 0x2 | Fl.OF;
    c.deliverSoftware = (_c, v, k) => { seen.push([v, k]); };
    runToUd(c);
    expect(seen).toEqual([[3, 6], [0x21, 4], [4, 6], [1, 5]]);
  });

  it('BOUND checks signed bounds (32 and 16 bits)', () => {
    // bound eax, [ebx]; bound ax, [ebx]; ud2
    const c = mk(32, '62 03 66 62 03 0f 0b');
    c.rl[RBX] = 0x3000;
    wr32(c, 0x3000, -5);
    wr32(c, 0x3004, 10);
    c.rl[RAX] = -5;
    c.run(1);
    expect(c.rip).toBe(CODE + 2);
    // 16-bit: bounds are 0xfffb (-5) and 0xffff (upper half of -5) = -1; AX = 10 is out of range
    c.rl[RAX] = 10;
    expectFault(c, 5, CODE + 2);
    const d = mk(32, '62 03 0f 0b');
    d.rl[RBX] = 0x3000;
    wr32(d, 0x3000, 0);
    wr32(d, 0x3004, 10);
    d.rl[RAX] = 11;
    expectFault(d, 5, CODE);
    d.rl[RAX] = 10;
    d.rip = CODE;
    runToUd(d, CODE + 2);
  });

  it('MOV r/m, Sreg: zero-extended into 32/64-bit registers, 16 bits otherwise', () => {
    // mov rax, fs; mov cx, fs; mov edx, ds; mov word ptr [rbx], fs; ud2
    const c = mk(64, '48 8c e0 66 8c e1 8c da 8c 23 0f 0b');
    c.segSel[4] = 0x1234;
    c.segSel[3] = 0x2b;
    set64(c, RAX, -1n);
    set64(c, RCX, -1n);
    set64(c, RDX, -1n);
    set64(c, RBX, 0x3000n);
    wr32(c, 0x3000, 0xffffffff);
    runToUd(c);
    expect(get64(c, RAX)).toBe(0x1234n);
    expect(get64(c, RCX)).toBe(0xffffffffffff1234n);
    expect(get64(c, RDX)).toBe(0x2bn);
    expect(rd32(c, 0x3000)).toBe(0xffff1234);
    // ModRM.reg = 6 names no segment register
    const d = mk(64, '8c f0');
    expectFault(d, 6, CODE);
  });

  it('CLI / STI at CPL 0, #GP(0) at CPL 3 with IOPL 0, allowed with IOPL 3', () => {
    const c = mk(64, 'fa fb 0f 0b');
    c.flags = 0x2 | Fl.IF;
    c.run(1);
    expect(getFlags(c) & Fl.IF).toBe(0);
    c.run(1);
    expect(getFlags(c) & Fl.IF).toBe(Fl.IF);
    expect(c.intShadow).toBe(true);
    const d = mk(64, 'fa');
    d.cpl = 3;
    d.flags = 0x2 | Fl.IF;
    expectFault(d, 13, CODE);
    expect(getFlags(d) & Fl.IF).toBe(Fl.IF);
    const e = mk(64, 'fa 0f 0b');
    e.cpl = 3;
    e.flags = 0x2 | Fl.IF | Fl.IOPL;
    runToUd(e);
    expect(getFlags(e) & Fl.IF).toBe(0);
    // real mode: always allowed
    const f = mk(16, 'fb 0f 0b');
    runToUd(f);
    expect(getFlags(f) & Fl.IF).toBe(Fl.IF);
  });

  it('CLI / STI with CR4.PVI at CPL 3 change VIF', () => {
    const c = mk(32, 'fa fb 0f 0b');
    c.cpl = 3;
    c.cr4 = 2;
    c.flags = 0x2 | Fl.IF | Fl.VIF;
    c.run(1);
    expect(getFlags(c) & (Fl.IF | Fl.VIF)).toBe(Fl.IF);
    c.run(1);
    expect(getFlags(c) & (Fl.IF | Fl.VIF)).toBe(Fl.IF | Fl.VIF);
    // STI with VIP set: #GP(0)
    const d = mk(32, 'fb');
    d.cpl = 3;
    d.cr4 = 2;
    d.flags = 0x2 | Fl.VIP;
    expectFault(d, 13, CODE);
  });
});
