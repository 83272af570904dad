/**
 * The I/O APIC (82093AA) at 0xFEC00000: 24 interrupt input pins, each with a 64-bit redirection
 * entry, delivering to the machine's one local APIC. As QEMU's hw/intc/ioapic.c and the 82093AA
 * datasheet describe it, and as Linux programs it (arch/x86/kernel/apic/io_apic.c).
 *
 * MMIO: IOREGSEL at offset 0x00 (register index, bits 7:0), IOWIN at 0x10 (the selected
 * register, 32 bits). Registers: 0x00 ID (bits 27:24), 0x01 version (0x00170011: version 11h, 24
 * entries), 0x02 arbitration ID (= the ID), 0x10 + 2n / 0x11 + 2n the low / high half of pin n's
 * redirection entry. Other offsets read 0 and drop writes; so do other registers.
 *
 * Redirection entry: vector (7:0), delivery mode (10:8: 000 fixed, 001 lowest priority, 010
 * SMI, 100 NMI, 101 INIT, 111 ExtINT), destination mode (11: logical), delivery status (12, read
 * only, always 0: delivery is immediate), polarity (13), remote IRR (14, read only), trigger
 * mode (15: level), mask (16), destination (63:56). After reset every entry is masked.
 *
 * Inputs (`setPin`) carry the asserted level of the line: polarity is recorded, not applied (the
 * devices drive a logical level; QEMU does the same). An edge-triggered pin delivers on each
 * rising edge while unmasked (an edge while masked is lost, 82093AA). A level-triggered pin
 * delivers while asserted and unmasked and sets remote IRR; it is not delivered again until the
 * local APIC's EOI for its vector (an EOI of a level-triggered vector, TMR set, is broadcast
 * here: `eoi(vector)`) clears remote IRR, after which a still-asserted line delivers again.
 *
 * Delivery to the one local APIC: fixed and lowest priority (one CPU: the same) accept the vector
 * if the destination names this APIC (physical: its ID or 0xFF; logical: the LDR/DFR match);
 * NMI raises an NMI; ExtINT makes the CPU take an interrupt from the 8259 (its INTA goes to the
 * PIC, intr.ts); SMI and INIT have no target here and are counted in `ignoredMessages`.
 */

import type { LocalApic } from './lapic.js';
import type { MmioDevice } from './memory.js';

export const IOAPIC_BASE = 0xfec00000;
export const IOAPIC_SIZE = 0x1000;
export const IOAPIC_PINS = 24;
export const IOAPIC_VERSION = 0x00170011;
/** the GSI base of the machine's one I/O APIC (MADT) */
export const IOAPIC_GSI_BASE = 0;

const MASKED = 0x10000;
const LEVEL = 0x8000;
const REMOTE_IRR = 0x4000;
const DELIVERY_STATUS = 0x1000;
/** writable bits of the low half (delivery status and remote IRR are read only) */
const LOW_BITS = 0x1afff;

export class IoApic implements MmioDevice {
  id = 0;
  regsel = 0;
  /** redirection entries: low halves and high halves */
  readonly redLo = new Int32Array(IOAPIC_PINS).fill(MASKED);
  readonly redHi = new Int32Array(IOAPIC_PINS);
  /** input levels (bit n = pin n asserted) */
  levels = 0;
  /** edge requests latched while delivery is pending (bit n = pin n) */
  irr = 0;
  /** pins whose entry is unmasked with delivery mode ExtINT */
  extIntPins = 0;
  ignoredMessages = 0;
  deliveries = 0;
  /** told when an ExtINT pin changes (the CPU looks at the PIC) */
  onExtInt: () => void = () => {};

  constructor(private readonly lapic: LocalApic) {}
  /** with more than one CPU, the APIC bus that delivers to the APICs a destination names */
  bus: { fromIoApic(dest: number, logical: boolean, mode: number, vector: number, level: boolean): boolean } | null = null;

  // ---- inputs ----

  /** drive input pin `pin` (a GSI of this I/O APIC) */
  setPin(pin: number, level: boolean): void {
    if (pin < 0 || pin >= IOAPIC_PINS) return;
    const bit = 1 << pin;
    const was = (this.levels & bit) !== 0;
    if (level) this.levels |= bit;
    else this.levels &= ~bit;
    const lo = this.redLo[pin];
    if ((lo & LEVEL) !== 0) {
      if (level) { this.irr |= bit; this.service(pin); } else this.irr &= ~bit;
    } else if (level && !was && (lo & MASKED) === 0) {
      this.irr |= bit;
      this.service(pin);
    }
    if ((this.extIntPins & bit) !== 0 && level !== was) this.onExtInt();
  }

  /** an unmasked ExtINT pin is asserted: the CPU may take an interrupt from the PIC */
  extIntAsserted(): boolean {
    return (this.levels & this.extIntPins) !== 0;
  }

  /** deliver pin `pin` if it is requesting, unmasked and (level) not waiting for its EOI */
  private service(pin: number): void {
    const bit = 1 << pin;
    const lo = this.redLo[pin];
    if ((this.irr & bit) === 0 || (lo & MASKED) !== 0) return;
    const level = (lo & LEVEL) !== 0;
    if (level) {
      if ((lo & REMOTE_IRR) !== 0) return;
    } else {
      this.irr &= ~bit;
    }
    const mode = (lo >>> 8) & 7;
    const dest = this.redHi[pin] >>> 24;
    const logical = (lo & 0x800) !== 0;
    switch (mode) {
      case 0: case 1:
        if (this.bus !== null) {
          // more than one CPU: the APIC bus finds the destination (smp.ts)
          if (level) this.redLo[pin] = lo | REMOTE_IRR;
          if (this.bus.fromIoApic(dest, logical, mode, lo & 0xff, level)) this.deliveries++;
          else if (level) this.redLo[pin] = lo;
          return;
        }
        if (!this.lapic.destinationIsSelf(dest, logical)) return;
        // remote IRR is set when the local APIC accepts a level-triggered interrupt
        if (level) this.redLo[pin] = lo | REMOTE_IRR;
        this.deliveries++;
        this.lapic.accept(lo & 0xff, level);
        return;
      case 4:
        this.deliveries++;
        if (this.bus !== null) this.bus.fromIoApic(dest, logical, 4, 0, false);
        else this.lapic.nmi();
        return;
      case 7:
        // ExtINT: the 8259 supplies the vector at INTA; nothing is latched here
        return;
      default:
        this.ignoredMessages++;
    }
  }

  /** EOI broadcast from the local APIC for a level-triggered `vector` */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const lo = this.redLo[pin];
      if ((lo & REMOTE_IRR) === 0 || (lo & 0xff) !== vector) continue;
      this.redLo[pin] = lo & ~REMOTE_IRR;
      this.service(pin);
    }
  }

  // ---- registers ----

  readReg(index: number): number {
    switch (index) {
      case 0x00: return (this.id & 0xf) << 24;
      case 0x01: return IOAPIC_VERSION;
      case 0x02: return (this.id & 0xf) << 24;
      default: {
        const n = (index - 0x10) >> 1;
        if (index < 0x10 || n >= IOAPIC_PINS) return 0;
        return ((index & 1) === 0 ? this.redLo[n] : this.redHi[n]) >>> 0;
      }
    }
  }

  writeReg(index: number, value: number): void {
    if (index === 0x00) { this.id = (value >>> 24) & 0xf; return; }
    const n = (index - 0x10) >> 1;
    if (index < 0x10 || n >= IOAPIC_PINS) return;
    if ((index & 1) === 1) { this.redHi[n] = value & 0xff000000; return; }
    const old = this.redLo[n];
    let lo = (value & LOW_BITS) | (old & REMOTE_IRR);
    // an edge-triggered entry has no remote IRR (QEMU clears it on the switch to edge)
    if ((lo & LEVEL) === 0) lo &= ~REMOTE_IRR;
    this.redLo[n] = lo & ~DELIVERY_STATUS;
    const bit = 1 << n;
    const wasExt = (this.extIntPins & bit) !== 0;
    if ((lo & MASKED) === 0 && ((lo >>> 8) & 7) === 7) this.extIntPins |= bit;
    else this.extIntPins &= ~bit;
    // a level line that is asserted requests again (unmasking delivers it)
    if ((lo & LEVEL) !== 0 && (this.levels & bit) !== 0) this.irr |= bit;
    this.service(n);
    if (wasExt !== ((this.extIntPins & bit) !== 0)) this.onExtInt();
  }

  // ---- MMIO ----

  mmioRead(offset: number, size: number): number {
    const off = offset & 0xff;
    let v = 0;
    if (off < 4) v = this.regsel;
    else if (off >= 0x10 && off < 0x14) v = this.readReg(this.regsel);
    else return 0;
    const sh = 8 * (off & 3);
    return size === 4 && sh === 0 ? v | 0 : (v >>> sh) & (size === 1 ? 0xff : 0xffff);
  }

  mmioWrite(offset: number, size: number, value: number): void {
    const off = offset & 0xff;
    if (off === 0) this.regsel = value & 0xff;
    else if (off === 0x10 && size === 4) this.writeReg(this.regsel, value >>> 0);
  }
}
