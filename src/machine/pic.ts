/**
 * The 8259A PIC pair of the PC: master at 0x20/0x21 (IRQ 0-7), slave at 0xA0/0xA1 (IRQ 8-15)
 * cascaded on the master's IR2, and the edge/level control registers (ELCR, PIIX/ICH ports
 * 0x4D0/0x4D1). The model follows the 8259A datasheet as QEMU's hw/intc/i8259.c and Bochs
 * implement it.
 *
 * Inputs: `setIrq(irq, level)` drives an ISA line. A line is edge-triggered (a low-to-high
 * transition sets IRR; the edge latch `lastIrr` remembers the level) unless its ELCR bit (or
 * ICW1.LTIM, all lines) makes it level-triggered (IRR follows the level). The slave's INT output
 * drives the master's IR2. The master's INT output (`intr`) goes to the CPU through the local
 * APIC's LINT0 in ExtINT mode (see intr.ts), which answers INTA with `acknowledge()`.
 *
 * Programming (datasheet "Programming the 8259A"):
 *   command port, bit 4 set: ICW1 (IC4 bit 0, SNGL bit 1, LTIM bit 3); starts the sequence, clears
 *     IMR, ISR, the edge latches, special mask mode and rotation, selects IRR for reading;
 *   data port during the sequence: ICW2 (vector base, bits 7:3), ICW3 unless SNGL, ICW4 if IC4
 *     (AEOI bit 1, SFNM bit 4; microprocessor mode and buffering have no effect here);
 *   data port otherwise: OCW1, the interrupt mask (IMR);
 *   command port, bits 4:3 = 00: OCW2 (R SL EOI in bits 7:5, level in 2:0): non-specific EOI (001),
 *     specific EOI (011), rotate on non-specific EOI (101), rotate in AEOI set/clear (100/000),
 *     rotate on specific EOI (111), set priority (110);
 *   command port, bits 4:3 = 01: OCW3: ESMM/SMM (bits 6:5) special mask mode, P (bit 2) poll,
 *     RR/RIS (bits 1:0) read IRR or ISR at the command port.
 *   Reads: command port gives IRR or ISR per OCW3, data port gives IMR; after a poll command the
 *     next read at either port is the poll byte instead (bit 7 = an interrupt was pending, bits
 *     2:0 its level, which is then acknowledged).
 *
 * Priority: IR levels rank from `priorityAdd` (0 after ICW1: IR0 highest) upwards, rotated by the
 * rotate commands. A request is passed on when it outranks every in-service level (in special
 * mask mode masked in-service levels do not block; in special fully nested mode the master's
 * in-service IR2 does not block the slave's higher requests).
 *
 * INTA (`acknowledge`): the highest request is moved from IRR (edge lines only; a level line's
 * IRR follows the line) to ISR (unless AEOI) and its vector returned. If the request went away
 * between INT and INTA, the PIC answers with IR7 of its base and sets no ISR bit: the spurious
 * IRQ 7 (or IRQ 15 from the slave, in which case the master has set ISR bit 2), which Linux
 * detects by reading ISR (arch/x86/kernel/i8259.c, mask_and_ack_8259A).
 */

import type { PortDevice } from './iobus.js';

export const PIC_MASTER_PORT = 0x20;
export const PIC_SLAVE_PORT = 0xa0;
/** edge/level control registers: 0x4D0 (IRQ 0-7), 0x4D1 (IRQ 8-15) */
export const ELCR_PORT = 0x4d0;
export const PIC_CASCADE_IRQ = 2;

class Pic8259 {
  irr = 0;
  isr = 0;
  /** IMR (OCW1) */
  mask = 0;
  /** input levels as last seen, for edge detection */
  lastIrr = 0;
  /** the IR level that ranks highest is priorityAdd (rotation) */
  priorityAdd = 0;
  vectorBase = 0;
  /** 0 outside the initialisation sequence, else the ICW expected next (2, 3 or 4) */
  initStep = 0;
  icw1 = 0;
  /** ICW3: the cascade wiring as programmed (master: slave bitmap; slave: its ID) */
  icw3 = 0;
  readIsr = false;
  poll = false;
  specialMask = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  /** ELCR: 1 = level-triggered */
  elcr = 0;

  constructor(readonly isMaster: boolean, readonly elcrMask: number) {}

  /** lines that are level-triggered (ELCR, or all of them with ICW1.LTIM) */
  private levelLines(): number {
    return (this.icw1 & 0x08) !== 0 ? 0xff : this.elcr;
  }

  setInput(n: number, level: boolean): void {
    const bit = 1 << n;
    if ((this.levelLines() & bit) !== 0) {
      if (level) { this.irr |= bit; this.lastIrr |= bit; } else { this.irr &= ~bit; this.lastIrr &= ~bit; }
    } else if (level) {
      if ((this.lastIrr & bit) === 0) this.irr |= bit;
      this.lastIrr |= bit;
    } else {
      this.lastIrr &= ~bit;
    }
  }

  /** rank of the highest-priority set bit of `bits` (0 = top), 8 when none */
  private rank(bits: number): number {
    if ((bits & 0xff) === 0) return 8;
    let r = 0;
    while ((bits & (1 << ((r + this.priorityAdd) & 7))) === 0) r++;
    return r;
  }

  /** the IR level this PIC would present at INTA, or -1 */
  pending(): number {
    const req = this.rank(this.irr & ~this.mask);
    if (req === 8) return -1;
    let blocking = this.isr;
    if (this.specialMask) blocking &= ~this.mask;
    if (this.specialFullyNested && this.isMaster) blocking &= ~(1 << PIC_CASCADE_IRQ);
    return req < this.rank(blocking) ? (req + this.priorityAdd) & 7 : -1;
  }

  /** INTA for level `n`: IRR -> ISR */
  ack(n: number): void {
    const bit = 1 << n;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (n + 1) & 7;
    } else {
      this.isr |= bit;
    }
    if ((this.levelLines() & bit) === 0) this.irr &= ~bit;
  }

  command(v: number): void {
    if ((v & 0x10) !== 0) {
      // ICW1: the edge latches are cleared, so a line that is already high needs a new edge
      this.icw1 = v;
      this.lastIrr = 0;
      this.irr &= this.levelLines();
      this.mask = 0;
      this.isr = 0;
      this.priorityAdd = 0;
      this.readIsr = false;
      this.poll = false;
      this.specialMask = false;
      this.autoEoi = false;
      this.rotateOnAutoEoi = false;
      this.specialFullyNested = false;
      this.initStep = 2;
      return;
    }
    if ((v & 0x08) !== 0) {
      // OCW3
      if ((v & 0x04) !== 0) this.poll = true;
      if ((v & 0x02) !== 0) this.readIsr = (v & 1) !== 0;
      if ((v & 0x40) !== 0) this.specialMask = (v & 0x20) !== 0;
      return;
    }
    // OCW2
    const level = v & 7;
    switch (v >>> 5) {
      case 0: this.rotateOnAutoEoi = false; return;
      case 4: this.rotateOnAutoEoi = true; return;
      case 1: case 5: {
        const r = this.rank(this.isr);
        if (r === 8) return;
        const n = (r + this.priorityAdd) & 7;
        this.isr &= ~(1 << n);
        if ((v >>> 5) === 5) this.priorityAdd = (n + 1) & 7;
        return;
      }
      case 3: this.isr &= ~(1 << level); return;
      case 7: this.isr &= ~(1 << level); this.priorityAdd = (level + 1) & 7; return;
      case 6: this.priorityAdd = (level + 1) & 7; return;
      default: return; // 010: no operation
    }
  }

  data(v: number): void {
    switch (this.initStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.initStep = (this.icw1 & 0x02) === 0 ? 3 : (this.icw1 & 0x01) !== 0 ? 4 : 0;
        return;
      case 3:
        this.icw3 = v;
        this.initStep = (this.icw1 & 0x01) !== 0 ? 4 : 0;
        return;
      case 4:
        this.autoEoi = (v & 0x02) !== 0;
        this.specialFullyNested = (v & 0x10) !== 0;
        this.initStep = 0;
        return;
      default:
        this.mask = v & 0xff;
    }
  }

  /** command-port read: the poll byte after a poll command, else IRR or ISR */
  readCommand(): number {
    if (this.poll) {
      this.poll = false;
      const n = this.pending();
      if (n < 0) return 0;
      this.ack(n);
      return 0x80 | n;
    }
    return this.readIsr ? this.isr : this.irr;
  }
}

export class LegacyPic implements PortDevice {
  readonly master = new Pic8259(true, 0xf8);
  readonly slave = new Pic8259(false, 0xde);
  /** levels of ISA IRQ lines 0..15 as devices drive them (bit n = IRQ n) */
  lines = 0;
  /** the master's INT output (an interrupt is ready for INTA) */
  intr = false;
  /** INTA cycles answered */
  acks = 0;
  /** times INT rose (for the machine's idle check) */
  raises = 0;
  /** told when INT changes (the machine makes the CPU look, and drives I/O APIC pin 0) */
  onIntr: (level: boolean) => void = () => {};

  /** ports: 0x20-0x21, 0xA0-0xA1, 0x4D0-0x4D1 */
  ioRead(port: number, _size: number): number {
    if (port >= ELCR_PORT) return port === ELCR_PORT ? this.master.elcr : this.slave.elcr;
    const pic = port >= PIC_SLAVE_PORT ? this.slave : this.master;
    // after a poll command the next read at either port is the poll (an INTA)
    if ((port & 1) === 1 && !pic.poll) return pic.mask;
    const v = pic.readCommand();
    if ((v & 0x80) !== 0) this.update();
    return v;
  }

  ioWrite(port: number, _size: number, value: number): void {
    const v = value & 0xff;
    if (port >= ELCR_PORT) {
      const pic = port === ELCR_PORT ? this.master : this.slave;
      pic.elcr = v & pic.elcrMask;
    } else {
      const pic = port >= PIC_SLAVE_PORT ? this.slave : this.master;
      if ((port & 1) === 1) pic.data(v);
      else pic.command(v);
    }
    this.update();
  }

  /** a device drives ISA IRQ line `irq` (0..15) */
  setIrq(irq: number, level: boolean): void {
    const bit = 1 << irq;
    if (level === ((this.lines & bit) !== 0)) return;
    if (level) this.lines |= bit;
    else this.lines &= ~bit;
    if (irq >= 8) this.slave.setInput(irq - 8, level);
    else this.master.setInput(irq, level);
    this.update();
  }

  /** the older name of setIrq */
  setLine(irq: number, level: boolean): void {
    this.setIrq(irq, level);
  }

  /** propagate: slave INT -> master IR2, master INT -> `intr` */
  private update(): void {
    this.master.setInput(PIC_CASCADE_IRQ, this.slave.pending() >= 0);
    const was = this.intr;
    this.intr = this.master.pending() >= 0;
    if (this.intr !== was) {
      if (this.intr) this.raises++;
      this.onIntr(this.intr);
    }
  }

  /** INTA: the vector of the highest request, or the spurious IR7 vector when there is none */
  acknowledge(): number {
    this.acks++;
    const m = this.master;
    const n = m.pending();
    let vector: number;
    if (n < 0) {
      vector = m.vectorBase + 7;
    } else {
      m.ack(n);
      if (n === PIC_CASCADE_IRQ) {
        const s = this.slave.pending();
        if (s >= 0) this.slave.ack(s);
        vector = this.slave.vectorBase + (s >= 0 ? s : 7);
      } else {
        vector = m.vectorBase + n;
      }
    }
    this.update();
    return vector;
  }
}
