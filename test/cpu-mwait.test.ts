/**
 * MWAIT after MONITOR with interrupts enabled waits like HLT (an idle loop lets time jump to the
 * next event); with no monitor armed or IF = 0 it ends at once. A machine wakes it with the
 * APIC timer's interrupt.
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { Stop } from '../src/cpu/state.js';
import { Machine } from '../src/machine/machine.js';

const MONITOR = [0x0f, 0x01, 0xc8];
const MWAIT = [0x0f, 0x01, 0xc9];
const STI = [0xfb];

function mk(code: number[]): Cpu {
  const c = new Cpu(new PhysMem(1 << 20));
  setFlatMode(c, 64);
  c.mem.load(0x1000, Uint8Array.from([...code, 0x90, 0x90]));
  c.rip = 0x1000;
  c.rl[4] = 0x8000;
  c.rl[0] = 0x2000; // the monitored address
  return c;
}

/** a minimal ELF64 executable (one PT_LOAD of a NOP at 0x1000) for Machine.boot */
function elf64Stub(): Uint8Array {
  const f = new Uint8Array(0x1001);
  const dv = new DataView(f.buffer);
  f.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true); dv.setUint16(18, 62, true); dv.setUint32(20, 1, true);
  dv.setBigUint64(24, 0x1000n, true); dv.setBigUint64(32, 64n, true);
  dv.setUint16(52, 64, true); dv.setUint16(54, 56, true); dv.setUint16(56, 1, true);
  dv.setUint32(64, 1, true); dv.setBigUint64(72, 0x1000n, true); dv.setBigUint64(80, 0x1000n, true);
  dv.setBigUint64(88, 0x1000n, true); dv.setBigUint64(96, 1n, true); dv.setBigUint64(104, 1n, true);
  f[0x1000] = 0x90;
  return f;
}

describe('MWAIT', () => {
  it('waits after MONITOR with IF = 1', () => {
    const c = mk([...MONITOR, ...STI, ...MWAIT]);
    c.run(3);
    expect(c.halted).toBe(true);
    expect(c.rip).toBe(0x1000 + 7);
    expect(c.run(5)).toBe(Stop.Halt);
  });
  it('ends at once without MONITOR, or with IF = 0', () => {
    const a = mk([...STI, ...MWAIT]);
    expect(a.run(3)).toBe(Stop.Budget);
    expect(a.halted).toBe(false);
    const b = mk([...MONITOR, ...MWAIT]);
    expect(b.run(3)).toBe(Stop.Budget);
    expect(b.halted).toBe(false);
    expect(b.rip).toBe(0x1000 + 7);
  });
  it('is woken by an interrupt, which time jumps to', () => {
    const m = new Machine({ memSize: 4 << 20 });
    const c = m.cpu;
    // long mode on the loader's page tables and boot GDT (64-bit code at 0x18)
    m.boot(Uint8Array.from(elf64Stub()));
    // IDT at 0x3000 with vector 0x30 -> handler at 0x4000 (out 0xf4, al with al = 0x21)
    const gate = (v: number, h: number) => {
      m.mem.write32(0x3000 + 16 * v, (h & 0xffff) | (0x18 << 16));
      m.mem.write32(0x3004 + 16 * v, (h & 0xffff0000) | 0x8e00);
    };
    gate(0x30, 0x4000);
    c.idtrBase = 0x3000;
    c.idtrLimit = 0x3ff;
    m.mem.load(0x4000, Uint8Array.from([0xb0, 0x21, 0xe6, 0xf4]));
    m.mem.load(0x1000, Uint8Array.from([...MONITOR, ...STI, ...MWAIT, 0xeb, 0xfe]));
    c.rip = 0x1000;
    c.rl[4] = 0x8000;
    c.rl[0] = 0x2000;
    // APIC timer: one-shot, vector 0x30, divide by 1, 1,000,000 ticks
    m.lapic.mmioWrite(0xf0, 4, 0x1ff);
    m.lapic.mmioWrite(0x3e0, 4, 0xb);
    m.lapic.mmioWrite(0x320, 4, 0x30);
    m.lapic.mmioWrite(0x380, 4, 1_000_000);
    const r = m.run(1000);
    expect(r.reason).toBe(Stop.Exit);
    expect(r.exitStatus).toBe((0x21 << 1) | 1);
    expect(r.icount).toBeLessThan(20); // waited, did not spin
    expect(r.cycles).toBeGreaterThanOrEqual(1_000_000);
  });
});
