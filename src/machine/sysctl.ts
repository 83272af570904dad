/**
 * System control ports of a PIIX/ICH-style PC: port 0x92 (system control port A, "fast A20 and
 * reset") and 0xCF9 (the reset control register), with the PCI configuration mechanism #1 ports
 * around it (0xCF8-0xCFF), which answer as a bus with no PCI host bridge.
 *
 * Port 0x92: bit 0 (write 1) resets the processor, bit 1 is the A20 gate. A20 masking is not
 * modelled: addresses never wrap at 1 MiB (every kernel this machine loads enables A20, or runs
 * with it already on), so bit 1 only reads back as written (1 after reset, A20 on).
 *
 * Port 0xCF9 (byte access only, as on PIIX3/ICH): bit 1 SYS_RST (hard reset type), bit 2 RST_CPU
 * (writing 1 resets), bit 3 FULL_RST; bits 1 and 3 read back. This is the ACPI reset register
 * the FADT names (ACPI_RESET_PORT, value ACPI_RESET_VALUE), and Linux's reboot=pci path.
 *
 * Any reset ends the run with Stop.Reset and the source in the machine's stop cause: restarting
 * would need firmware to boot again, which this machine does not have.
 *
 * 0xCF8-0xCFF other than byte 0xCF9: no PCI devices. Reads return all-ones at every width (a
 * dword read of 0xCF8 is not the address written, so Linux's pci_check_type1 finds no
 * configuration mechanism, and a read of 0xCFC is "no device"); writes are dropped. They are
 * counted in `pciReads` / `pciWrites`.
 */

import type { PortDevice } from './iobus.js';

export const PORT_A = 0x92;
export const PCI_CONFIG_PORT = 0xcf8;
export const RESET_CONTROL_PORT = 0xcf9;
/** the FADT's RESET_REG (system I/O, 8 bits) and RESET_VALUE */
export const ACPI_RESET_PORT = RESET_CONTROL_PORT;
export const ACPI_RESET_VALUE = 0x06;

const ONES = [0, 0xff, 0xffff, 0, 0xffffffff];

export class SystemControl implements PortDevice {
  /** port 0x92 bits as written (bit 1 A20) */
  portA = 0x02;
  /** reset control register bits 1 and 3 */
  rcr = 0;
  pciReads = 0;
  pciWrites = 0;
  /** the guest asked for a reset; `source` names the port */
  onReset: (source: string) => void = () => {};

  /** ports 0x92 and 0xCF8-0xCFF */
  ioRead(port: number, size: number): number {
    if (port === PORT_A) return this.portA & 0x02;
    if (port === RESET_CONTROL_PORT && size === 1) return this.rcr;
    this.pciReads++;
    return ONES[size];
  }

  ioWrite(port: number, size: number, value: number): void {
    if (port === PORT_A) {
      this.portA = value & 0x03;
      if ((value & 1) !== 0) this.onReset('port 92h fast reset');
      return;
    }
    if (port === RESET_CONTROL_PORT && size === 1) {
      if ((value & 0x04) !== 0) { this.onReset('CF9h reset control'); return; }
      this.rcr = value & 0x0a;
      return;
    }
    this.pciWrites++;
  }
}
