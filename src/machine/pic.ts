/**
 * The legacy 8259A PIC pair (master at 0x20/0x21, slave at 0xA0/0xA1), as far as this machine
 * needs it: interrupts are delivered through the local APIC, so the PICs only have to accept
 * the programming a kernel does before it masks them (the ICW1..ICW4 initialisation sequence
 * and OCW1 mask writes) and read the masks back.
 *
 * Command port (0x20/0xA0): a write with bit 4 set is ICW1 and starts the sequence; the next
 * data-port writes are ICW2 (vector base), ICW3 (cascade wiring) when ICW1.SNGL is clear, and
 * ICW4 when ICW1.IC4 is set; the sequence clears the mask. Other command writes (OCW2 EOI,
 * OCW3 register select) are accepted and have nothing to act on. Data port (0x21/0xA1) writes
 * outside the sequence are OCW1, the interrupt mask. Reads of the command port return the
 * IRR/ISR (always 0: no interrupt is ever pending here); reads of the data port the mask.
 *
 * IRQ lines that devices raise (the UART's IRQ 4) are recorded in `lines`, not delivered.
 */

import type { PortDevice } from './iobus.js';

class Pic8259 {
  mask = 0;
  vectorBase = 0;
  /** 0 outside the initialisation sequence, else the ICW expected next (2, 3 or 4) */
  initStep = 0;
  private icw1 = 0;

  command(v: number): void {
    if ((v & 0x10) !== 0) {
      this.icw1 = v;
      this.mask = 0;
      this.initStep = 2;
    }
  }

  data(v: number): void {
    switch (this.initStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.initStep = (this.icw1 & 0x02) === 0 ? 3 : (this.icw1 & 0x01) !== 0 ? 4 : 0;
        return;
      case 3:
        this.initStep = (this.icw1 & 0x01) !== 0 ? 4 : 0;
        return;
      case 4:
        this.initStep = 0;
        return;
      default:
        this.mask = v & 0xff;
    }
  }
}

export class LegacyPic implements PortDevice {
  readonly master = new Pic8259();
  readonly slave = new Pic8259();
  /** levels of ISA IRQ lines 0..15 as devices drive them (bit n = IRQ n) */
  lines = 0;

  /** ports: 0x20-0x21 and 0xA0-0xA1 */
  ioRead(port: number, _size: number): number {
    const pic = port >= 0xa0 ? this.slave : this.master;
    return (port & 1) === 1 ? pic.mask : 0;
  }

  ioWrite(port: number, _size: number, value: number): void {
    const pic = port >= 0xa0 ? this.slave : this.master;
    if ((port & 1) === 1) pic.data(value & 0xff);
    else pic.command(value & 0xff);
  }

  /** a device drives ISA IRQ line `irq` */
  setLine(irq: number, level: boolean): void {
    if (level) this.lines |= 1 << irq;
    else this.lines &= ~(1 << irq);
  }
}
