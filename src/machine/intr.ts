/**
 * Interrupt wiring of the PC: ISA IRQ lines to the 8259 pair and the I/O APIC, and the CPU's
 * INTR input (its `intc`), which combines the local APIC and the 8259.
 *
 * IRQ routing (as on a PIIX/ICH board and in QEMU's pc machine): ISA IRQ n drives PIC input n and
 * I/O APIC pin n, except IRQ 0 (the PIT), which drives pin 2 (the MADT's interrupt source
 * override ISA 0 -> GSI 2); IRQ 2 is the PICs' cascade and has no ISA source. The master PIC's
 * INT output also drives I/O APIC pin 0 (INTIN0 of the 82093AA on PC boards: ExtINT virtual
 * wire through the I/O APIC; QEMU leaves pin 0 unconnected).
 *
 * The CPU's INTR (Intel MP spec 1.4 §3.6.2, virtual wire mode; QEMU's apic_accept_pic_intr and
 * cpu_get_pic_interrupt): a fixed interrupt pending in the local APIC comes first; otherwise,
 * when the 8259's INT is up and the local APIC passes it on (LINT0 unmasked in ExtINT mode, or
 * an unmasked I/O APIC pin in ExtINT mode is asserted), the CPU takes it and the INTA cycle goes
 * to the 8259, which supplies the vector. ExtINT interrupts bypass the local APIC's IRR, ISR and
 * TPR. With the local APIC globally disabled (APIC_BASE.AE clear: its `hardwareEnabled` is
 * false) the processor has no local APIC and the 8259's INT is its INTR pin directly (QEMU's
 * apic_accept_pic_intr does the same).
 */

import type { InterruptSource } from '../cpu/cpu.js';
import type { IoApic } from './ioapic.js';
import type { LocalApic } from './lapic.js';
import type { LegacyPic } from './pic.js';

export class InterruptRouter implements InterruptSource {
  constructor(private readonly lapic: LocalApic, private readonly pic: LegacyPic, private readonly ioapic: IoApic) {}

  /** drive ISA IRQ line `irq` (0..15) */
  setIrq(irq: number, level: boolean): void {
    this.pic.setIrq(irq, level);
    this.ioapic.setPin(irq === 0 ? 2 : irq, level);
  }

  /** drive a GSI above the ISA range (I/O APIC pins 16-23: PCI-style level lines) */
  setGsi(gsi: number, level: boolean): void {
    if (gsi < 16) this.setIrq(gsi, level);
    else this.ioapic.setPin(gsi, level);
  }

  /** the 8259's INT reaches the CPU */
  extIntReady(): boolean {
    if (!this.pic.intr) return false;
    // (read by name: the global enable is the APIC_BASE work's, merged separately)
    if ((this.lapic as { hardwareEnabled?: boolean }).hardwareEnabled === false) return true;
    return this.lapic.extIntAccepted() || this.ioapic.extIntAsserted();
  }

  hasInterrupt(): boolean {
    return this.lapic.hasInterrupt() || this.extIntReady();
  }

  acknowledge(): number {
    if (this.lapic.hasInterrupt()) return this.lapic.acknowledge();
    return this.pic.acknowledge();
  }

  /** interrupt requests so far (the machine's idle check compares it across a jump in time) */
  requests(): number {
    return this.lapic.acceptCount + this.pic.raises;
  }
}

/**
 * What the ACPI tables must say about this wiring (MADT interrupt source overrides; MPS INTI
 * flags: polarity bits 1:0, trigger mode bits 3:2, 01 = active high / edge, 11 = level): ISA
 * IRQ 0 arrives on GSI 2 (edge, active high, as on every PC and QEMU's pc machine), and the ACPI
 * SCI on IRQ 9 is level-triggered, active high. Every other ISA IRQ n is GSI n, edge, active high.
 */
export const ISA_OVERRIDES: readonly { irq: number; gsi: number; flags: number }[] = [
  { irq: 0, gsi: 2, flags: 0x0005 },
  { irq: 9, gsi: 9, flags: 0x000d },
];
