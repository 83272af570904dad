import { describe, expect, it } from 'vitest';
import { IoBus, Width } from '../src/machine/iobus.js';
import { LegacyPic } from '../src/machine/pic.js';
import { Machine } from '../src/machine/machine.js';

function picOnBus() {
  const bus = new IoBus();
  const pic = new LegacyPic();
  bus.register(0x20, 2, pic, Width.B);
  bus.register(0xa0, 2, pic, Width.B);
  bus.register(0x4d0, 2, pic, Width.B);
  const out = (p: number, v: number) => bus.portOut(p, 1, v);
  const inb = (p: number) => bus.portIn(p, 1);
  return { bus, pic, out, inb };
}

/** arch/x86/kernel/i8259.c init_8259A(0): vectors 0x30 and 0x38, cascade on IR2, normal EOI */
function linuxInit(out: (p: number, v: number) => void, masterMask = 0xfb, slaveMask = 0xff) {
  out(0x21, 0xff); out(0xa1, 0xff);
  out(0x20, 0x11); out(0x21, 0x30); out(0x21, 0x04); out(0x21, 0x01);
  out(0xa0, 0x11); out(0xa1, 0x38); out(0xa1, 0x02); out(0xa1, 0x01);
  out(0x21, masterMask); out(0xa1, slaveMask);
}

describe('8259A PIC pair', () => {
  it('passes Linux probe_8259A and its init sequence', () => {
    const { pic, out, inb } = picOnBus();
    out(0x21, 0xff);
    expect(inb(0x21)).toBe(0xff);
    linuxInit(out);
    expect(pic.master.vectorBase).toBe(0x30);
    expect(pic.slave.vectorBase).toBe(0x38);
    expect(pic.master.icw3).toBe(0x04);
    expect(pic.slave.icw3).toBe(0x02);
    expect(inb(0x21)).toBe(0xfb);
    expect(inb(0xa1)).toBe(0xff);
    expect(pic.intr).toBe(false);
  });

  it('delivers an edge IRQ, holds lower priorities until EOI, and reads IRR/ISR through OCW3', () => {
    const { pic, out, inb } = picOnBus();
    linuxInit(out, 0x00, 0x00);
    pic.setIrq(4, true);
    expect(pic.intr).toBe(true);
    expect(inb(0x20)).toBe(0x10); // IRR
    expect(pic.acknowledge()).toBe(0x34);
    expect(pic.intr).toBe(false);
    out(0x20, 0x0b); // OCW3: read ISR
    expect(inb(0x20)).toBe(0x10);
    // a lower priority request waits; a higher one (IRQ 1) interrupts the handler
    pic.setIrq(6, true);
    expect(pic.intr).toBe(false);
    pic.setIrq(1, true);
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x31);
    expect(inb(0x20)).toBe(0x12);
    out(0x20, 0x20); // non-specific EOI retires IRQ 1
    expect(inb(0x20)).toBe(0x10);
    expect(pic.intr).toBe(false);
    out(0x20, 0x64); // specific EOI for IRQ 4, as Linux sends (0x60 + irq)
    expect(inb(0x20)).toBe(0x00);
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x36);
    out(0x20, 0x0a);
    expect(inb(0x20)).toBe(0x00); // IRR: edge requests are cleared by INTA
    // the line is still high: no new edge, no new request
    out(0x20, 0x66);
    expect(pic.intr).toBe(false);
    pic.setIrq(6, false); pic.setIrq(6, true);
    expect(pic.intr).toBe(true);
  });

  it('cascades the slave through IR2 and needs an EOI to both', () => {
    const { pic, out, inb } = picOnBus();
    linuxInit(out, 0xfb, 0xfe); // RTC (IRQ 8) unmasked
    pic.setIrq(8, true);
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x38);
    out(0xa0, 0x0b); out(0x20, 0x0b);
    expect(inb(0xa0)).toBe(0x01);
    expect(inb(0x20)).toBe(0x04);
    out(0xa0, 0x60); // specific EOI to the slave
    out(0x20, 0x62); // and the cascade line of the master
    expect(inb(0xa0)).toBe(0);
    expect(inb(0x20)).toBe(0);
  });

  it('answers a vanished request with the spurious IR7/IR15 vector and no ISR bit', () => {
    const { pic, out, inb } = picOnBus();
    linuxInit(out, 0x00, 0x00);
    expect(pic.acknowledge()).toBe(0x37);
    out(0x20, 0x0b);
    expect(inb(0x20)).toBe(0);
    // the slave raises IRQ 9, the master latches the edge on IR2, then the slave masks it
    pic.setIrq(9, true);
    out(0xa1, 0x02);
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x3f);
    out(0xa0, 0x0b);
    expect(inb(0xa0)).toBe(0); // no slave ISR bit: spurious IRQ 15
    expect(inb(0x20)).toBe(0x04); // the master did set IR2
  });

  it('level-triggers per ELCR and keeps IRR while the line is high', () => {
    const { pic, out, inb } = picOnBus();
    linuxInit(out, 0x00, 0x00);
    out(0x4d1, 0xff);
    expect(inb(0x4d1)).toBe(0xde); // IRQ 8 and 13 are always edge
    out(0x4d0, 0xff);
    expect(inb(0x4d0)).toBe(0xf8);
    pic.setIrq(9, true);
    expect(pic.acknowledge()).toBe(0x39);
    out(0xa0, 0x0a);
    expect(inb(0xa0)).toBe(0x02);
    out(0xa0, 0x20); out(0x20, 0x20);
    expect(pic.intr).toBe(true); // still asserted: requests again
    pic.setIrq(9, false);
    out(0xa0, 0x0a);
    expect(inb(0xa0)).toBe(0); // the slave's level request went away with the line
    // but the master latched the cascade edge: INTA gets the spurious IRQ 15 vector
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x3f);
  });

  it('auto-EOI, rotation, special mask mode and poll', () => {
    const { pic, out, inb } = picOnBus();
    out(0x20, 0x11); out(0x21, 0x20); out(0x21, 0x04); out(0x21, 0x03); // ICW4: AEOI
    out(0x21, 0x00);
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x23);
    out(0x20, 0x0b);
    expect(inb(0x20)).toBe(0); // AEOI: nothing in service
    // rotate on non-specific EOI: the level just served becomes the lowest
    out(0x20, 0x11); out(0x21, 0x20); out(0x21, 0x04); out(0x21, 0x01); out(0x21, 0x00);
    pic.setIrq(1, true); pic.setIrq(5, true);
    expect(pic.acknowledge()).toBe(0x21);
    out(0x20, 0xa0);
    expect(pic.master.priorityAdd).toBe(2);
    pic.setIrq(1, false); pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x25); // IR5 now outranks IR1
    // special mask mode: masking the in-service level lets lower ones through
    expect(pic.intr).toBe(false);
    out(0x20, 0x68); // OCW3 ESMM|SMM
    out(0x21, 0x20);
    expect(pic.intr).toBe(true);
    out(0x20, 0x48); // leave special mask mode
    expect(pic.intr).toBe(false);
    out(0x21, 0x00);
    out(0x20, 0x65);
    // poll: the pending level with bit 7, acknowledged by the read
    out(0x20, 0x0c);
    expect(inb(0x20)).toBe(0x81);
    out(0x20, 0x0b);
    expect(inb(0x20)).toBe(0x02);
    out(0x20, 0x0c);
    expect(inb(0x20)).toBe(0x00);
  });

  it('reaches the CPU only through LINT0 in ExtINT mode (virtual wire)', () => {
    const m = new Machine({ memSize: 1 << 20 });
    linuxInit((p, v) => m.io.portOut(p, 1, v), 0xfa, 0xff);
    m.irq.setIrq(0, true);
    expect(m.pic.intr).toBe(true);
    expect(m.irq.hasInterrupt()).toBe(false); // LINT0 masked after reset
    m.lapic.writeReg(0xf0, 0x1ff); // software enable
    m.lapic.writeReg(0x350, 0x700); // LINT0: ExtINT, unmasked
    expect(m.irq.hasInterrupt()).toBe(true);
    // TPR does not hold an ExtINT interrupt back
    m.lapic.writeReg(0x80, 0xf0);
    expect(m.irq.hasInterrupt()).toBe(true);
    expect(m.irq.acknowledge()).toBe(0x30);
    expect(m.irq.hasInterrupt()).toBe(false);
    expect(m.lapic.isr.every((w) => w === 0)).toBe(true);
  });

  it('goes straight to the CPU when the local APIC is globally disabled', () => {
    const m = new Machine({ memSize: 1 << 20 });
    linuxInit((p, v) => m.io.portOut(p, 1, v), 0xfe, 0xff);
    m.irq.setIrq(0, true);
    expect(m.irq.hasInterrupt()).toBe(false); // LINT0 masked
    // APIC_BASE.AE clear, as the local APIC reports it
    Object.defineProperty(m.lapic, 'hardwareEnabled', { value: false, configurable: true });
    expect(m.irq.hasInterrupt()).toBe(true);
    expect(m.irq.acknowledge()).toBe(0x30);
  });
});
