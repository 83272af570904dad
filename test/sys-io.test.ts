/**
 * Port I/O: IN/OUT/INS/OUTS through a fake port bus, with the IOPL and TSS I/O-permission
 * bitmap checks and the SVM IOIO hook. Encodings were produced with GNU as.
 */
import { describe, expect, it } from 'vitest';
import { Cpu, type PortIo } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { setFlags } from '../src/cpu/flags.js';
import { updateMode } from '../src/cpu/mode.js';
import { Fl, S, Stop, Vec } from '../src/cpu/state.js';
import { IoInfo, checkIoPermission } from '../src/cpu/exec/io.js';
import { MAX_ITER } from '../src/cpu/exec/string.js';

const CODE = 0x1000;
const TWO32 = 4294967296;

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));
}

/** records every access; reads return a counter mixed with the port */
class FakeIo implements PortIo {
  log: string[] = [];
  reads = 0;
  portIn(port: number, size: number): number {
    this.reads++;
    this.log.push(`in${size * 8} ${port.toString(16)}`);
    return (0xa1b2c3d0 + this.reads) ^ (port << 8);
  }
  portOut(port: number, size: number, value: number): void {
    this.log.push(`out${size * 8} ${port.toString(16)} ${value.toString(16)}`);
  }
}

function mk(bits: 16 | 32 | 64, code: string): { c: Cpu; io: FakeIo } {
  const c = new Cpu(new PhysMem(1 << 20));
  setFlatMode(c, bits);
  c.mem.load(CODE, hex(code));
  c.rip = CODE;
  const io = new FakeIo();
  c.io = io;
  return { c, io };
}

function step(c: Cpu, n = 1): number {
  const s = c.run(n);
  if (s === Stop.Budget) return -1;
  expect(s).toBe(Stop.Exception);
  return c.lastFault.vector;
}

/** the value FakeIo returns on its n-th read (1-based) of `port` */
function val(n: number, port: number): number {
  return ((0xa1b2c3d0 + n) ^ (port << 8)) >>> 0;
}

describe('IN / OUT', () => {
  it('moves AL, AX, EAX with imm8 and DX ports, merging narrow reads into RAX', () => {
    // in $0x60,%al; in $0x60,%ax; in $0x60,%eax; in (%dx),%al; in (%dx),%eax
    const { c, io } = mk(64, 'e4 60 66 e5 60 e5 60 ec ed');
    c.rl[0] = 0x11223344; c.rh[0] = 0x55667788;
    c.rl[2] = 0x103f8;
    expect(step(c)).toBe(-1);
    expect([c.rl[0] >>> 0, c.rh[0]]).toEqual([0x11223300 | (val(1, 0x60) & 0xff), 0x55667788]);
    expect(step(c)).toBe(-1);
    expect([c.rl[0] >>> 0, c.rh[0]]).toEqual([0x11220000 | (val(2, 0x60) & 0xffff), 0x55667788]);
    expect(step(c)).toBe(-1);
    expect([c.rl[0] >>> 0, c.rh[0]]).toEqual([val(3, 0x60), 0]);
    expect(step(c, 2)).toBe(-1);
    expect(c.rl[0] >>> 0).toBe(val(5, 0x3f8));
    expect(io.log).toEqual(['in8 60', 'in16 60', 'in32 60', 'in8 3f8', 'in32 3f8']);
  });

  it('writes AL, AX, EAX', () => {
    // out %al,$0x80; out %eax,$0x80; out %al,(%dx); out %ax,(%dx); out %eax,(%dx)
    const { c, io } = mk(32, 'e6 80 e7 80 ee 66 ef ef');
    c.rl[0] = 0x87654321 | 0;
    c.rl[2] = 0xe9;
    expect(step(c, 5)).toBe(-1);
    expect(io.log).toEqual(['out8 80 21', 'out32 80 87654321', 'out8 e9 21', 'out16 e9 4321', 'out32 e9 87654321']);
  });
});

/**
 * 32-bit protected mode at CPL 3, IOPL 0, TR -> a TSS at 0x3000 whose bitmap (at 0x68) covers
 * ports 0..FF and denies everything except 60-63, 7E-81 and 80; the limit ends at the bitmap.
 */
function tssCpu(code: string): { c: Cpu; io: FakeIo } {
  const r = mk(32, code);
  const { c } = r;
  const tss = 0x3000;
  c.mem.write16(tss + 0x66, 0x68);
  for (let k = 0; k < 0x20; k++) c.mem.write8(tss + 0x68 + k, 0xff);
  c.mem.write8(tss + 0x68 + 0x0c, 0xf0); // 60-63
  c.mem.write8(tss + 0x68 + 0x0f, 0x3f); // 7E, 7F
  c.mem.write8(tss + 0x68 + 0x10, 0xfc); // 80, 81
  c.segSel[S.TR] = 0x28;
  c.segBase[S.TR] = tss;
  c.segLimit[S.TR] = 0x68 + 0x20 - 1;
  c.segAttr[S.TR] = 0x8b; // present, busy 32-bit TSS
  c.cpl = 3;
  return r;
}

/** can CPL 3 access `size` ports at `port`? */
function allowed(c: Cpu, port: number, size: number): boolean {
  try {
    checkIoPermission(c, port, size);
    return true;
  } catch {
    return false;
  }
}

describe('I/O permission', () => {
  it('checks every port of the access against the bitmap', () => {
    const { c } = tssCpu('');
    expect(allowed(c, 0x60, 1)).toBe(true);
    expect(allowed(c, 0x60, 4)).toBe(true);
    expect(allowed(c, 0x61, 4)).toBe(false); // 64 is denied
    expect(allowed(c, 0x64, 1)).toBe(false);
    expect(allowed(c, 0x7e, 4)).toBe(true); // spans two bitmap bytes
    expect(allowed(c, 0x7d, 4)).toBe(false);
    expect(allowed(c, 0x80, 2)).toBe(true);
    expect(allowed(c, 0x81, 2)).toBe(false);
  });

  it('treats bitmap bytes beyond the TSS limit as ones', () => {
    const { c } = tssCpu('');
    c.mem.write8(0x3000 + 0x68 + 0x20, 0); // memory past the limit says "allowed": ignored
    expect(allowed(c, 0x100, 1)).toBe(false);
    c.segLimit[S.TR] += 1;
    expect(allowed(c, 0x100, 1)).toBe(true);
    c.mem.write16(0x3066, 0xfff0); // bitmap base beyond the limit: nothing is allowed
    expect(allowed(c, 0x60, 1)).toBe(false);
  });

  it('allows everything at CPL <= IOPL and in real mode; uses the bitmap in virtual-8086 mode', () => {
    const { c } = tssCpu('');
    setFlags(c, 0x3000);
    expect(allowed(c, 0x1234, 4)).toBe(true);
    setFlags(c, 0x1000);
    expect(allowed(c, 0x1234, 4)).toBe(false);
    c.cpl = 1;
    expect(allowed(c, 0x1234, 4)).toBe(true);
    setFlags(c, 0x3000 | Fl.VM);
    c.cpl = 3;
    expect(allowed(c, 0x64, 1)).toBe(false);
    expect(allowed(c, 0x60, 1)).toBe(true);
    const r = mk(16, '');
    expect(allowed(r.c, 0x1234, 4)).toBe(true);
  });

  it('denies without a usable 32-bit TSS', () => {
    const { c } = tssCpu('');
    c.segAttr[S.TR] = 0x83; // 16-bit busy TSS: no bitmap
    expect(allowed(c, 0x60, 1)).toBe(false);
    c.segAttr[S.TR] = 0x0b; // not present
    expect(allowed(c, 0x60, 1)).toBe(false);
    c.segAttr[S.TR] = 0x89;
    c.segLimit[S.TR] = 0x66;
    expect(allowed(c, 0x60, 1)).toBe(false);
  });

  it('a denied IN/OUT raises #GP(0) before touching the port or a register', () => {
    // in $0x64,%al; out %al,$0x80; in $0x60,%eax
    const { c, io } = tssCpu('e4 64 e6 80 e4 60');
    c.rl[0] = 0x12345678;
    expect(step(c)).toBe(Vec.GP);
    expect(c.lastFault.errorCode).toBe(0);
    expect(c.rl[0]).toBe(0x12345678);
    expect(io.log).toEqual([]);
    c.rip = CODE + 2;
    expect(step(c, 2)).toBe(-1);
    expect(io.log).toEqual(['out8 80 78', 'in8 60']);
  });

  it('virtual-8086 mode ignores IOPL for IN/OUT', () => {
    const { c, io } = tssCpu('e4 64 e4 60');
    setFlags(c, Fl.VM | 0x3000);
    updateMode(c);
    expect(c.bits).toBe(16);
    expect(step(c)).toBe(Vec.GP);
    c.rip = CODE + 2;
    expect(step(c)).toBe(-1);
    expect(io.log).toEqual(['in8 60']);
  });
});

describe('the SVM IOIO hook', () => {
  it('sees EXITINFO1 after the permission check and can take the instruction', () => {
    // in $0x60,%al; rep outsl %ds:(%rsi),(%dx); outsb %fs:(%rsi),(%dx); in $0x64,%al (denied)
    const { c, io } = mk(64, 'e4 60 f3 6f 64 6e');
    const seen: number[] = [];
    c.ioHook = (_c, info) => { seen.push(info); return true; };
    c.rl[0] = 0x55;
    c.rl[1] = 3;
    c.rl[2] = 0x1f0;
    expect(step(c, 3)).toBe(-1);
    expect(io.log).toEqual([]);
    expect(c.rl[0]).toBe(0x55);
    expect(c.rl[1]).toBe(3);
    expect(seen).toEqual([
      (0x60 << 16) | IoInfo.IN | IoInfo.SZ8 | IoInfo.A64,
      (0x1f0 << 16) | IoInfo.STR | IoInfo.REP | IoInfo.SZ32 | IoInfo.A64 | (S.DS << 10),
      (0x1f0 << 16) | IoInfo.STR | IoInfo.SZ8 | IoInfo.A64 | (S.FS << 10),
    ]);
    const t = tssCpu('e4 64');
    let called = false;
    t.c.ioHook = () => { called = true; return true; };
    expect(step(t.c)).toBe(Vec.GP);
    expect(called).toBe(false);
  });

  it('lets the access through when it returns false', () => {
    const { c, io } = mk(64, 'e6 80');
    c.ioHook = () => false;
    expect(step(c)).toBe(-1);
    expect(io.log).toEqual(['out8 80 0']);
  });
});

describe('INS / OUTS', () => {
  it('REP INSB fills ES:RDI and counts RCX down; a single INSL does one', () => {
    // rep insb; insl
    const { c, io } = mk(64, 'f3 6c 6d');
    c.rl[1] = 5;
    c.rl[2] = 0x300;
    c.rl[7] = 0x5000;
    expect(step(c)).toBe(-1);
    expect([c.rl[7], c.rl[1], c.rip]).toEqual([0x5005, 0, CODE + 2]);
    for (let k = 0; k < 5; k++) expect(c.mem.read8(0x5000 + k)).toBe(val(k + 1, 0x300) & 0xff);
    expect(step(c)).toBe(-1);
    expect(c.mem.read32(0x5005) >>> 0).toBe(val(6, 0x300));
    expect([c.rl[7], c.rl[1]]).toEqual([0x5009, 0]);
    expect(io.reads).toBe(6);
  });

  it('REP INSW runs backwards with DF = 1; a zero count does nothing', () => {
    // rep insw; rep insb
    const { c, io } = mk(64, '66 f3 6d f3 6c');
    setFlags(c, Fl.DF);
    c.rl[1] = 2;
    c.rl[2] = 0x10;
    c.rl[7] = 0x6002;
    expect(step(c)).toBe(-1);
    expect(c.rl[7]).toBe(0x5ffe);
    expect(c.mem.read16(0x6002)).toBe(val(1, 0x10) & 0xffff);
    expect(c.mem.read16(0x6000)).toBe(val(2, 0x10) & 0xffff);
    expect(step(c)).toBe(-1);
    expect(io.reads).toBe(2);
  });

  it('REP OUTSL / OUTSB with a segment override read seg:RSI', () => {
    // rep outsl; outsb %fs:(%rsi),(%dx)
    const { c, io } = mk(64, 'f3 6f 64 6e');
    c.mem.write32(0x7000, 0x11111111);
    c.mem.write32(0x7004, 0xfedcba98 | 0);
    c.mem.write8(0x9008, 0x5a);
    c.rl[1] = 2;
    c.rl[2] = 0x3f8;
    c.rl[6] = 0x7000;
    expect(step(c)).toBe(-1);
    expect(c.rl[6]).toBe(0x7008);
    c.segBase[S.FS] = 0x2000;
    expect(step(c)).toBe(-1);
    expect(io.log).toEqual(['out32 3f8 11111111', 'out32 3f8 fedcba98', 'out8 3f8 5a']);
  });

  it('a long REP re-executes in chunks of MAX_ITER', () => {
    const { c, io } = mk(32, 'f3 6e 0f 0b');
    const n = MAX_ITER + 100;
    c.rl[1] = n;
    c.rl[6] = 0x10000;
    expect(step(c)).toBe(-1);
    expect([c.rl[1], c.rip]).toEqual([100, CODE]);
    expect(step(c, 10)).toBe(Vec.UD);
    expect(io.log.length).toBe(n);
    expect(c.rl[6]).toBe(0x10000 + n);
  });

  it('a fault in the middle keeps the completed iterations and loses no port data', () => {
    // rep insw with RDI running into non-canonical space: the second store faults
    const { c, io } = mk(64, '66 f3 6d');
    c.rl[1] = 3;
    c.rl[7] = 0xfffffffe | 0;
    c.rh[7] = 0x7fff;
    expect(step(c)).toBe(Vec.GP);
    expect(io.reads).toBe(1);
    expect([c.rl[1], c.rl[7], c.rh[7]]).toEqual([2, 0, 0x8000]);
    expect(c.rh[7] * TWO32 + c.rl[7]).toBe(0x800000000000);
  });

  it('INS and OUTS check the bitmap once per instruction', () => {
    // rep insb at port 0x64 (denied), then at 0x60
    const { c, io } = tssCpu('f3 6c');
    c.rl[1] = 2;
    c.rl[2] = 0x64;
    c.rl[7] = 0x5000;
    expect(step(c)).toBe(Vec.GP);
    expect([io.reads, c.rl[1], c.rl[7]]).toEqual([0, 2, 0x5000]);
    c.rl[2] = 0x60;
    c.rip = CODE;
    expect(step(c)).toBe(-1);
    expect([io.reads, c.rl[1], c.rl[7]]).toEqual([2, 0, 0x5002]);
  });
});
