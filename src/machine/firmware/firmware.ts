/**
 * What a PC BIOS leaves in memory for an OS that a loader starts directly: the BIOS data area's
 * base-memory size and EBDA segment, the ACPI tables (acpi.ts) and the e820 memory map that
 * boot protocols hand over.
 *
 * e820 map (types: 1 usable RAM, 2 reserved, 3 ACPI reclaimable):
 *   0x00000000 .. 0x0009FC00  1  conventional memory (the BDA and the loader's data in it)
 *   0x0009FC00 .. 0x000A0000  2  EBDA
 *   (0xA0000 .. 0xE0000 is not listed: the VGA and option-ROM hole)
 *   0x000E0000 .. 0x000F0000  3  ACPI tables
 *   0x000F0000 .. 0x00100000  2  BIOS area (the RSDP)
 *   0x00100000 .. end of RAM  1
 *   0xFEC00000 .. +4 KiB      2  I/O APIC
 *   0xFEE00000 .. +4 KiB      2  local APIC
 */

import type { PhysMem } from '../memory.js';
import { buildAcpi, type AcpiImage } from './acpi.js';
import {
  ACPI_TABLES_END, ACPI_TABLES_START, BIOS_END, BIOS_ROM_START, EBDA_START, IOAPIC_MMIO,
  LAPIC_MMIO, RSDP_ADDR,
} from './platform.js';

export const enum E820 { Ram = 1, Reserved = 2, Acpi = 3 }

export interface E820Entry {
  addr: number;
  size: number;
  type: E820;
}

export function e820Map(ramEnd: number): E820Entry[] {
  const map: E820Entry[] = [
    { addr: 0, size: Math.min(EBDA_START, ramEnd), type: E820.Ram },
    { addr: EBDA_START, size: 0xa0000 - EBDA_START, type: E820.Reserved },
    { addr: ACPI_TABLES_START, size: ACPI_TABLES_END - ACPI_TABLES_START, type: E820.Acpi },
    { addr: BIOS_ROM_START, size: BIOS_END - BIOS_ROM_START, type: E820.Reserved },
  ];
  if (ramEnd > BIOS_END) map.push({ addr: BIOS_END, size: ramEnd - BIOS_END, type: E820.Ram });
  map.push({ addr: IOAPIC_MMIO, size: 0x1000, type: E820.Reserved });
  map.push({ addr: LAPIC_MMIO, size: 0x1000, type: E820.Reserved });
  return map;
}

export interface Firmware {
  e820: E820Entry[];
  acpi: AcpiImage;
  rsdp: number;
}

/** the tables as they will be written; nothing touches memory */
export function buildFirmware(ramEnd: number, cpus = 1): Firmware {
  const acpi = buildAcpi(ACPI_TABLES_START, ACPI_TABLES_END, RSDP_ADDR, cpus);
  return { e820: e820Map(ramEnd), acpi, rsdp: acpi.rsdp };
}

/** write the BDA fields, clear the BIOS area and copy the ACPI tables into it */
export function writeFirmware(mem: PhysMem, fw: Firmware): void {
  mem.u8.fill(0, ACPI_TABLES_START, BIOS_END);
  mem.u8.fill(0, EBDA_START, 0xa0000);
  mem.touch(ACPI_TABLES_START, BIOS_END - ACPI_TABLES_START);
  mem.touch(EBDA_START, 0xa0000 - EBDA_START);
  mem.write16(0x40e, EBDA_START >>> 4); // BDA: EBDA segment
  mem.write16(0x413, EBDA_START >>> 10); // BDA: base memory in KiB (639)
  for (const [a, b] of fw.acpi.pieces) mem.load(a, b);
}
