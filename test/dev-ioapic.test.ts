import { describe, expect, it } from 'vitest';
import { Machine } from '../src/machine/machine.js';
import { IOAPIC_BASE, IOAPIC_VERSION } from '../src/machine/ioapic.js';

function rig() {
  const m = new Machine({ memSize: 1 << 20 });
  const io = m.ioapic;
  const rd = (i: number) => { io.mmioWrite(0, 4, i); return io.mmioRead(0x10, 4) >>> 0; };
  const wr = (i: number, v: number) => { io.mmioWrite(0, 4, i); io.mmioWrite(0x10, 4, v); };
  const route = (pin: number, lo: number, dest = 0) => { wr(0x11 + 2 * pin, dest << 24); wr(0x10 + 2 * pin, lo); };
  m.lapic.writeReg(0xf0, 0x1ff);
  const irrHas = (v: number) => (m.lapic.irr[v >>> 5] & (1 << (v & 31))) !== 0;
  const tmrHas = (v: number) => (m.lapic.tmr[v >>> 5] & (1 << (v & 31))) !== 0;
  return { m, io, rd, wr, route, irrHas, tmrHas };
}

describe('I/O APIC', () => {
  it('identifies itself and resets with every entry masked', () => {
    const { rd, wr, m } = rig();
    expect(rd(1)).toBe(IOAPIC_VERSION);
    expect(IOAPIC_VERSION).toBe(0x00170011);
    wr(0, 0x0f000000 | 0x00ffffff);
    expect(rd(0)).toBe(0x0f000000);
    expect(rd(2)).toBe(0x0f000000);
    for (let pin = 0; pin < 24; pin++) expect(rd(0x10 + 2 * pin)).toBe(0x10000);
    expect(rd(0x10 + 48)).toBe(0);
    // through guest physical memory, as a kernel sees it
    expect(IOAPIC_BASE).toBe(0xfec00000);
    m.mem.write32(IOAPIC_BASE, 0x01);
    expect(m.mem.read32(IOAPIC_BASE + 0x10) >>> 0).toBe(0x00170011);
    m.mem.write32(IOAPIC_BASE, 0x12);
    m.mem.write32(IOAPIC_BASE + 0x10, 0x1a123);
    expect(rd(0x12)).toBe(0x1a123 & ~0x1000);
  });

  it('level-triggered: remote IRR until the local APIC EOI, then delivers again while asserted', () => {
    const { m, rd, route, irrHas, tmrHas } = rig();
    route(9, 0x8000 | 0x49); // level, fixed, vector 0x49, physical dest 0
    m.irq.setIrq(9, true);
    expect(irrHas(0x49)).toBe(true);
    expect(tmrHas(0x49)).toBe(true);
    expect(rd(0x10 + 18) & 0x4000).toBe(0x4000);
    expect(m.irq.acknowledge()).toBe(0x49);
    // the line stays high: nothing new until EOI
    m.irq.setIrq(9, false); m.irq.setIrq(9, true);
    expect(irrHas(0x49)).toBe(false);
    m.lapic.writeReg(0xb0, 0); // EOI, broadcast because TMR was set
    expect(irrHas(0x49)).toBe(true);
    expect(rd(0x10 + 18) & 0x4000).toBe(0x4000);
    expect(m.irq.acknowledge()).toBe(0x49);
    m.irq.setIrq(9, false);
    m.lapic.writeReg(0xb0, 0);
    expect(rd(0x10 + 18) & 0x4000).toBe(0);
    expect(m.irq.hasInterrupt()).toBe(false);
  });

  it('level-triggered and masked: delivered when unmasked if still asserted', () => {
    const { m, route, irrHas } = rig();
    route(11, 0x18000 | 0x4b);
    m.irq.setIrq(11, true);
    expect(irrHas(0x4b)).toBe(false);
    route(11, 0x8000 | 0x4b);
    expect(irrHas(0x4b)).toBe(true);
  });

  it('edge-triggered: IRQ 0 arrives on pin 2, an edge while masked is lost', () => {
    const { m, route, irrHas, tmrHas } = rig();
    route(2, 0x10030);
    m.irq.setIrq(0, true); m.irq.setIrq(0, false);
    route(2, 0x30);
    expect(irrHas(0x30)).toBe(false);
    m.irq.setIrq(0, true);
    expect(irrHas(0x30)).toBe(true);
    expect(tmrHas(0x30)).toBe(false);
    expect(m.irq.acknowledge()).toBe(0x30);
    m.irq.setIrq(0, true); // no edge
    expect(irrHas(0x30)).toBe(false);
  });

  it('checks the destination, delivers NMI, and ExtINT hands INTA to the 8259', () => {
    const { m, route, irrHas, wr } = rig();
    route(4, 0x34, 1); // physical APIC ID 1: not this CPU
    m.irq.setIrq(4, true);
    expect(irrHas(0x34)).toBe(false);
    m.lapic.writeReg(0xd0, 0x01000000); // LDR: logical ID bit 0
    route(5, 0x800 | 0x35, 0x01); // logical, flat
    m.irq.setIrq(5, true);
    expect(irrHas(0x35)).toBe(true);
    route(3, 0x400); // NMI
    m.irq.setIrq(3, true);
    expect(m.cpu.nmiPending).toBe(true);
    // ExtINT on pin 0 (the 8259's INT): LINT0 stays masked, the PIC still reaches the CPU
    const out = (p: number, v: number) => m.io.portOut(p, 1, v);
    out(0x20, 0x11); out(0x21, 0x20); out(0x21, 0x04); out(0x21, 0x01); out(0x21, 0xfe);
    wr(0x10, 0x700);
    m.lapic.irr.fill(0); m.lapic.changed();
    m.irq.setIrq(0, true);
    expect(m.irq.hasInterrupt()).toBe(true);
    expect(m.irq.acknowledge()).toBe(0x20);
  });
});
