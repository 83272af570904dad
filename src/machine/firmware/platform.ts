/**
 * The platform's fixed addresses and ports, in one place for the firmware tables (acpi.ts,
 * e820.ts) and the devices that answer at them.
 *
 * The ACPI power-management block follows QEMU's ICH9 (q35) layout at port 0x600: PM1a event
 * block 0x600 (PM1_STS, PM1_EN; 4 bytes), PM1a control 0x604 (2 bytes), the PM timer 0x608
 * (4 bytes, 3.579545 MHz), GPE0 0x620 (16 bytes). Until the devices that answer there land
 * (the devices branch), these are the one definition; the devices should import them.
 */

/** local APIC and I/O APIC MMIO (APM Vol. 2, 16.3.1; the 82093AA I/O APIC's default base) */
export const LAPIC_MMIO = 0xfee00000;
export const IOAPIC_MMIO = 0xfec00000;
export const IOAPIC_ID = 0;
/** the I/O APIC's first global system interrupt and its number of redirection entries */
export const IOAPIC_GSI_BASE = 0;
export const IOAPIC_PINS = 24;

export const PM_BASE = 0x600;
export const PM1A_EVT_BLK = PM_BASE + 0x00;
export const PM1_EVT_LEN = 4;
export const PM1A_CNT_BLK = PM_BASE + 0x04;
export const PM1_CNT_LEN = 2;
export const PM_TMR_BLK = PM_BASE + 0x08;
export const PM_TMR_LEN = 4;
/** the PM timer counts 32 bits (FADT flag TMR_VAL_EXT) */
export const PM_TMR_32BIT = true;
export const GPE0_BLK = PM_BASE + 0x20;
export const GPE0_BLK_LEN = 16;
/** SLP_TYP value (PM1_CNT bits 12:10) the DSDT's \_S5 gives for soft-off, as QEMU's chipsets take it */
export const SLP_TYP_S5 = 0;
/** the SCI's ISA IRQ (level, active high: an interrupt source override says so) */
export const SCI_IRQ = 9;

/** the reset control register (the chipset's 0xCF9) and the value that resets the machine */
export const RESET_PORT = 0xcf9;
export const RESET_VALUE = 0x06;

/** the CMOS RTC's century byte (the FADT's CENTURY field) */
export const RTC_CENTURY_INDEX = 0x32;

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
