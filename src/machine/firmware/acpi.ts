/**
 * ACPI tables (ACPI 6.4 spec, chapter 5.2) for one CPU, written by the loader into the BIOS area:
 *
 *   RSDP (5.2.5, revision 2, 36 bytes) at RSDP_ADDR (0xF0000), 16-byte aligned inside
 *        0xE0000..0xFFFFF where an OS scans for it; boot protocols also pass its address
 *   RSDT (5.2.7) and XSDT (5.2.8): FADT and MADT
 *   FADT (5.2.9, revision 6): PM1a event/control blocks, PM timer, GPE0 (if any), SCI_INT, the reset
 *        register (0xCF9 <- 6), the RTC century index, IAPC_BOOT_ARCH (legacy devices, i8042,
 *        no VGA), FACS and DSDT by 32- and 64-bit pointers; HW_REDUCED_ACPI clear, SMI_CMD 0
 *        (the machine is always in ACPI mode)
 *   FACS (5.2.10): 64 bytes, 64-byte aligned, no checksum
 *   DSDT (5.2.11.1): the definition block header and \_S5_ (Package {SLP_TYP_S5, SLP_TYP_S5,
 *        0, 0}), which an OS needs to enter S5 (soft off) through PM1_CNT
 *   MADT (5.2.12): local APIC address 0xFEE00000, PCAT_COMPAT (8259 pair present); processor
 *        local APICs 0..N-1 (one per CPU); I/O APIC 0 at 0xFEC00000, GSI base 0; interrupt source overrides
 *        IRQ0 -> GSI 2 (the PIT on pin 2, as on PCs) and IRQ9 -> GSI 9 level, active high
 *        (the SCI); local APIC NMI on LINT1 for every processor
 * Every table's bytes sum to 0 modulo 256 (RSDP: its first 20 bytes, and all 36).
 */

import {
  GPE0_BLK, GPE0_BLK_LEN, HAS_I8042, IOAPIC_GSI_BASE, IOAPIC_ID, IOAPIC_MMIO, LAPIC_MMIO,
  PM1A_CNT_BLK, PM1A_EVT_BLK, PM1_CNT_LEN, PM1_EVT_LEN, PM_TMR_32BIT, PM_TMR_BLK, PM_TMR_LEN,
  RESET_PORT, RESET_VALUE, RTC_CENTURY_INDEX, SCI_IRQ, SLP_TYP_S5,
} from './platform.js';

export const OEM_ID = 'WSWTCH';
export const OEM_TABLE_ID = 'WORLDSW ';
const CREATOR_ID = 'WSLD';
export const HEADER_LEN = 36;

/** a little-endian byte builder */
class Buf {
  readonly b: Uint8Array;
  constructor(len: number) { this.b = new Uint8Array(len); }
  u8(o: number, v: number): void { this.b[o] = v & 0xff; }
  u16(o: number, v: number): void { this.u8(o, v); this.u8(o + 1, v >>> 8); }
  u32(o: number, v: number): void { this.u16(o, v & 0xffff); this.u16(o + 2, v >>> 16); }
  u64(o: number, v: number): void { this.u32(o, v % 0x100000000); this.u32(o + 4, Math.floor(v / 0x100000000)); }
  str(o: number, s: string): void { for (let k = 0; k < s.length; k++) this.b[o + k] = s.charCodeAt(k); }
  /** a Generic Address Structure (5.2.3.2): I/O space, `bits` wide at `port` */
  gasIo(o: number, port: number, bits: number, access: number): void {
    this.u8(o, 1); // system I/O
    this.u8(o + 1, bits);
    this.u8(o + 2, 0);
    this.u8(o + 3, access); // 1 byte, 2 word, 3 dword
    this.u64(o + 4, port);
  }
}

export function checksum(b: Uint8Array, start = 0, end = b.length): number {
  let s = 0;
  for (let k = start; k < end; k++) s = (s + b[k]) & 0xff;
  return s;
}

/** fill the standard header and set the checksum (call after the body is written) */
function header(t: Buf, sig: string, rev: number): Uint8Array {
  t.str(0, sig);
  t.u32(4, t.b.length);
  t.u8(8, rev);
  t.str(10, OEM_ID);
  t.str(16, OEM_TABLE_ID);
  t.u32(24, 1);
  t.str(28, CREATOR_ID);
  t.u32(32, 1);
  t.u8(9, 0);
  t.u8(9, (256 - checksum(t.b)) & 0xff);
  return t.b;
}

/** AML for Name(\_S5_, Package(4) {typ, typ, 0, 0}) (ACPI 6.4, 20.2.5 and 7.4.2) */
function amlS5(): number[] {
  const byteConst = (v: number) => (v === 0 ? [0x00] : v === 1 ? [0x01] : [0x0a, v]);
  const elems = [...byteConst(SLP_TYP_S5), ...byteConst(SLP_TYP_S5), 0x00, 0x00];
  const pkgLen = 1 + 1 + elems.length; // PkgLength (one byte) counts itself, NumElements and the elements
  return [0x08, 0x5c, ...'_S5_'.split('').map((c) => c.charCodeAt(0)), 0x12, pkgLen, 4, ...elems];
}

export function buildDsdt(): Uint8Array {
  const aml = amlS5();
  const t = new Buf(HEADER_LEN + aml.length);
  t.b.set(aml, HEADER_LEN);
  return header(t, 'DSDT', 2);
}

export function buildFacs(): Uint8Array {
  const t = new Buf(64);
  t.str(0, 'FACS');
  t.u32(4, 64);
  t.u8(32, 2); // version
  return t.b;
}

/** FADT flags (5.2.9, table 5.10) */
export const enum FadtFlag {
  Wbinvd = 1 << 0, ProcC1 = 1 << 2, PwrButton = 1 << 4, SlpButton = 1 << 5, FixRtc = 1 << 6,
  TmrValExt = 1 << 8, ResetRegSup = 1 << 10, HwReduced = 1 << 20,
}
/** IAPC_BOOT_ARCH bits (table 5.11) */
export const enum BootArch { LegacyDevices = 1 << 0, I8042 = 1 << 1, VgaNotPresent = 1 << 2, MsiNotSupported = 1 << 3 }

export const FADT_LEN = 276;

export function buildFadt(facs: number, dsdt: number): Uint8Array {
  const t = new Buf(FADT_LEN);
  t.u32(36, facs);
  t.u32(40, dsdt);
  t.u8(45, 0); // preferred PM profile: unspecified
  t.u16(46, SCI_IRQ);
  t.u32(48, 0); // SMI_CMD 0: no SMI, always in ACPI mode
  t.u32(56, PM1A_EVT_BLK);
  t.u32(64, PM1A_CNT_BLK);
  t.u32(76, PM_TMR_BLK);
  t.u32(80, GPE0_BLK);
  t.u8(88, PM1_EVT_LEN);
  t.u8(89, PM1_CNT_LEN);
  t.u8(91, PM_TMR_LEN);
  t.u8(92, GPE0_BLK_LEN);
  t.u16(96, 0x0fff); // P_LVL2_LAT > 100: C2 not supported
  t.u16(98, 0x0fff); // P_LVL3_LAT > 1000: C3 not supported
  t.u8(108, RTC_CENTURY_INDEX);
  t.u16(109, BootArch.LegacyDevices | (HAS_I8042 ? BootArch.I8042 : 0) | BootArch.VgaNotPresent | BootArch.MsiNotSupported);
  t.u32(112, FadtFlag.Wbinvd | FadtFlag.ProcC1 | FadtFlag.PwrButton | FadtFlag.SlpButton | FadtFlag.FixRtc
    | (PM_TMR_32BIT ? FadtFlag.TmrValExt : 0) | FadtFlag.ResetRegSup);
  t.gasIo(116, RESET_PORT, 8, 1);
  t.u8(128, RESET_VALUE);
  t.u8(131, 4); // FADT minor version (6.4)
  // X_FIRMWARE_CTRL stays 0: the 32-bit FIRMWARE_CTRL alone (an OS that reads both installs the FACS twice)
  t.u64(140, dsdt);
  t.gasIo(148, PM1A_EVT_BLK, PM1_EVT_LEN * 8, 2);
  t.gasIo(172, PM1A_CNT_BLK, PM1_CNT_LEN * 8, 2);
  t.gasIo(208, PM_TMR_BLK, PM_TMR_LEN * 8, 3);
  if (GPE0_BLK !== 0) t.gasIo(220, GPE0_BLK, GPE0_BLK_LEN * 8, 1);
  return header(t, 'FACP', 6);
}

/** MADT entry types (5.2.12, table 5.21) */
export const enum MadtType { LocalApic = 0, IoApic = 1, Iso = 2, LocalApicNmi = 4 }

export function buildMadt(cpus = 1): Uint8Array {
  const entries: number[][] = [];
  const le = (v: number, n: number) => Array.from({ length: n }, (_, k) => (Math.floor(v / 2 ** (8 * k))) & 0xff);
  // one processor local APIC entry per CPU: ACPI processor UID k, APIC ID k, enabled
  for (let k = 0; k < cpus; k++) entries.push([MadtType.LocalApic, 8, k, k, ...le(1, 4)]);
  entries.push([MadtType.IoApic, 12, IOAPIC_ID, 0, ...le(IOAPIC_MMIO, 4), ...le(IOAPIC_GSI_BASE, 4)]);
  // flags: bits 1:0 polarity (0 conforms, 1 high, 3 low), bits 3:2 trigger (0 conforms, 1 edge, 3 level)
  entries.push([MadtType.Iso, 10, 0 /* ISA */, 0, ...le(2, 4), ...le(0, 2)]);
  entries.push([MadtType.Iso, 10, 0, SCI_IRQ, ...le(SCI_IRQ, 4), ...le(0x1 | (0x3 << 2), 2)]);
  entries.push([MadtType.LocalApicNmi, 6, 0xff /* all processors */, ...le(0, 2), 1 /* LINT1 */]);
  const body = entries.flat();
  const t = new Buf(HEADER_LEN + 8 + body.length);
  t.u32(36, LAPIC_MMIO);
  t.u32(40, 1); // PCAT_COMPAT: a dual 8259 is present
  t.b.set(body, HEADER_LEN + 8);
  return header(t, 'APIC', 5);
}

function buildSdt(sig: 'RSDT' | 'XSDT', ptrs: number[]): Uint8Array {
  const w = sig === 'RSDT' ? 4 : 8;
  const t = new Buf(HEADER_LEN + w * ptrs.length);
  ptrs.forEach((p, k) => (w === 4 ? t.u32(HEADER_LEN + 4 * k, p) : t.u64(HEADER_LEN + 8 * k, p)));
  return header(t, sig, 1);
}

export function buildRsdp(rsdt: number, xsdt: number): Uint8Array {
  const t = new Buf(36);
  t.str(0, 'RSD PTR ');
  t.str(9, OEM_ID);
  t.u8(15, 2);
  t.u32(16, rsdt);
  t.u32(20, 36);
  t.u64(24, xsdt);
  t.u8(8, (256 - checksum(t.b, 0, 20)) & 0xff);
  t.u8(32, (256 - checksum(t.b)) & 0xff);
  return t.b;
}

export interface AcpiImage {
  /** [address, bytes] pieces to copy into guest memory */
  pieces: [number, Uint8Array][];
  rsdp: number;
  /** table signature -> address */
  tables: Record<string, number>;
}

/**
 * Lay the tables out from `base` (16-byte steps, FACS 64-byte aligned), below `limit`, with the
 * RSDP at `rsdpAddr`.
 */
export function buildAcpi(base: number, limit: number, rsdpAddr: number, cpus = 1): AcpiImage {
  const pieces: [number, Uint8Array][] = [];
  const tables: Record<string, number> = {};
  let at = base;
  const place = (sig: string, b: Uint8Array, align = 16) => {
    at = Math.ceil(at / align) * align;
    const a = at;
    pieces.push([a, b]);
    tables[sig] = a;
    at += b.length;
    if (at > limit) throw new Error(`ACPI tables overflow their area at 0x${limit.toString(16)}`);
    return a;
  };
  const facs = place('FACS', buildFacs(), 64);
  const dsdt = place('DSDT', buildDsdt());
  const fadt = place('FACP', buildFadt(facs, dsdt));
  const madt = place('APIC', buildMadt(cpus));
  const rsdt = place('RSDT', buildSdt('RSDT', [fadt, madt]));
  const xsdt = place('XSDT', buildSdt('XSDT', [fadt, madt]));
  const rsdp = buildRsdp(rsdt, xsdt);
  pieces.push([rsdpAddr, rsdp]);
  tables['RSD PTR '] = rsdpAddr;
  return { pieces, rsdp: rsdpAddr, tables };
}
