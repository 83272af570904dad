/**
 * The platform's fixed addresses and ports as the firmware tables (acpi.ts, firmware.ts) give
 * them to the OS. The values come from the devices that answer there (acpipm.ts, ioapic.ts,
 * sysctl.ts, rtc.ts, lapic.ts), so the tables cannot disagree with the machine.
 *
 * The ACPI power-management block is QEMU's pc layout at port 0x600: PM1a event block 0x600
 * (4 bytes), PM1a control 0x604 (2 bytes), the PM timer 0x608 (4 bytes, 24 bits counting at
 * 3.579545 MHz). There is no GPE block (GPE0_BLK 0).
 */

import {
  ACPI_PM1A_CNT_BLK, ACPI_PM1A_EVT_BLK, ACPI_PM1_CNT_LEN, ACPI_PM1_EVT_LEN, ACPI_PM_TMR_BLK,
  ACPI_PM_TMR_LEN, ACPI_SCI_IRQ, ACPI_SLP_TYP_S5,
} from '../acpipm.js';
import { IOAPIC_BASE, IOAPIC_GSI_BASE as IOAPIC_GSI, IOAPIC_PINS as PINS } from '../ioapic.js';
import { LAPIC_BASE } from '../lapic.js';
import { CMOS_CENTURY } from '../rtc.js';
import { ACPI_RESET_PORT, ACPI_RESET_VALUE } from '../sysctl.js';

/** local APIC and I/O APIC MMIO */
export const LAPIC_MMIO = LAPIC_BASE;
export const IOAPIC_MMIO = IOAPIC_BASE;
export const IOAPIC_ID = 0;
/** the I/O APIC's first global system interrupt and its number of redirection entries */
export const IOAPIC_GSI_BASE = IOAPIC_GSI;
export const IOAPIC_PINS = PINS;

export const PM1A_EVT_BLK = ACPI_PM1A_EVT_BLK;
export const PM1_EVT_LEN = ACPI_PM1_EVT_LEN;
export const PM1A_CNT_BLK = ACPI_PM1A_CNT_BLK;
export const PM1_CNT_LEN = ACPI_PM1_CNT_LEN;
export const PM_TMR_BLK = ACPI_PM_TMR_BLK;
export const PM_TMR_LEN = ACPI_PM_TMR_LEN;
/** the PM timer counts 24 bits (FADT flag TMR_VAL_EXT clear) */
export const PM_TMR_32BIT = false;
/** no general-purpose event block */
export const GPE0_BLK = 0;
export const GPE0_BLK_LEN = 0;
/** SLP_TYP value (PM1_CNT bits 12:10) that the DSDT's \_S5 gives for soft-off */
export const SLP_TYP_S5 = ACPI_SLP_TYP_S5;
/** the SCI's ISA IRQ (level, active high: an interrupt source override says so) */
export const SCI_IRQ = ACPI_SCI_IRQ;

/** the reset control register (the chipset's 0xCF9) and the value that resets the machine */
export const RESET_PORT = ACPI_RESET_PORT;
export const RESET_VALUE = ACPI_RESET_VALUE;

/** the CMOS RTC's century byte (the FADT's CENTURY field) */
export const RTC_CENTURY_INDEX = CMOS_CENTURY;

/** an i8042 keyboard controller at 0x60/0x64 (FADT IAPC_BOOT_ARCH bit 1) */
export const HAS_I8042 = true;
/** the PC's low-memory layout: BDA, EBDA and the BIOS area (e820 and the ACPI RSDP scan) */
export const EBDA_START = 0x9fc00;
export const VGA_HOLE_START = 0xa0000;
/** the ACPI tables sit in the BIOS area, the RSDP at its top 64 KiB where Linux scans */
export const ACPI_TABLES_START = 0xe0000;
export const ACPI_TABLES_END = 0xf0000;
export const BIOS_ROM_START = 0xf0000;
export const BIOS_END = 0x100000;
export const RSDP_ADDR = 0xf0000;
