/**
 * Linux boot protocols: the x86 boot protocol for a bzImage (Documentation/arch/x86/boot.rst),
 * entered through its 64-bit entry, and the PVH entry of an uncompressed vmlinux (Xen's
 * hvm_start_info, the entry in the XEN_ELFNOTE_PHYS32_ENTRY note).
 *
 * bzImage: the real-mode setup header sits at 0x1F1 ("HdrS" at 0x202, boot_flag 0xAA55 at
 * 0x1FE); protocol 2.12 or later with XLF_KERNEL_64 is required (the 64-bit entry). The
 * protected-mode kernel (the file from (setup_sects + 1) * 512 on) is copied to its preferred
 * address (pref_address, 2.10+; relocatable kernels are moved up to kernel_alignment if
 * needed) and needs init_size bytes there. The 64-bit entry is chosen over the 32-bit one
 * because the loader already builds long-mode page tables for ELF64 kernels, so the kernel
 * starts where the 32-bit entry would arrive after setting up its own: 64-bit mode, paging on
 * with 0..4 GiB identity-mapped (bootstate.ts), a GDT with __BOOT_CS = 0x10 (64-bit code) and
 * __BOOT_DS = 0x18, CS = 0x10, the data segments 0x18, IF clear, RSI = boot_params, RIP = load
 * address + 0x200 (boot.rst, "64-bit Boot Protocol").
 *
 * Memory (both protocols):
 *   0x6000   hvm_start_info, its module list and memory map (PVH)
 *   0x7000   boot_params, the "zero page" (bzImage): the setup header copied from the file
 *            (0x1F1 up to 0x202 + the byte at 0x201), type_of_loader 0xFF, code32_start,
 *            cmd_line_ptr, ramdisk_image/size, hardware_subarch 0, acpi_rsdp_addr, e820 table
 *   0x8000   page tables, GDT at 0xF000 (bootstate.ts)
 *   0x20000  the command line (at most cmdline_size bytes, NUL-terminated)
 *   0xE0000  ACPI tables, RSDP at 0xF0000 (firmware/)
 *   kernel   at its preferred address (bzImage) or its segments' physical addresses (vmlinux)
 *   initrd   as high as possible: page-aligned, ending below RAM's end and initrd_addr_max
 *
 * PVH (xen/include/public/arch-x86/hvm/start_info.h; the PVH boot ABI): the CPU starts in
 * 32-bit protected mode with paging off, flat 32-bit CS and data segments, EFLAGS.IF clear,
 * EBX = the hvm_start_info address (magic 0x336EC578, version 1, the initrd as module 0, the
 * command line, rsdp_paddr, and the e820 map as hvm_memmap_table_entry).
 */

import type { PhysMem } from './memory.js';
import {
  Placement, PT_BASE, PT_END, PT_GDT, GDT_SIZE, alignUp, copyAndZero, longModeState,
  protectedModeState, writeBootGdt, writeIdentityPageTables,
} from './bootstate.js';
import { ELFCLASS64, EM_X86_64, LoadError, hex, parseElf } from './elf.js';
import { buildFirmware, writeFirmware, type E820Entry } from './firmware/firmware.js';
import { compressionOf, isCpio, parseCpio } from './cpio.js';
import type { LoadOptions, LoadResult } from './loaders.js';

export const SETUP_HEADER = 0x1f1;
export const HDRS_MAGIC = 0x53726448; // "HdrS"
export const ZERO_PAGE = 0x7000;
export const START_INFO = 0x6000;
export const CMDLINE_ADDR = 0x20000;
export const BOOT_CS = 0x10;
export const BOOT_DS = 0x18;
export const XEN_HVM_START_MAGIC = 0x336ec578;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const MAX_E820 = 128;
const XLF_KERNEL_64 = 1 << 0;
const LOADED_HIGH = 1 << 0;

/** boot_params offsets (arch/x86/include/uapi/asm/bootparam.h) */
export const enum Zp {
  AcpiRsdp = 0x070, ExtRamdiskImage = 0x0c0, ExtRamdiskSize = 0x0c4, ExtCmdLinePtr = 0x0c8,
  AltMemK = 0x1e0, E820Entries = 0x1e8, SetupSects = 0x1f1, BootFlag = 0x1fe, Header = 0x202,
  Version = 0x206, TypeOfLoader = 0x210, LoadFlags = 0x211, Code32Start = 0x214,
  RamdiskImage = 0x218, RamdiskSize = 0x21c, CmdLinePtr = 0x228, InitrdAddrMax = 0x22c,
  KernelAlignment = 0x230, RelocatableKernel = 0x234, XLoadFlags = 0x236, CmdlineSize = 0x238,
  HardwareSubarch = 0x23c, PrefAddress = 0x258, InitSize = 0x260, E820Table = 0x2d0,
}

export interface SetupHeader {
  setupSects: number;
  version: number;
  loadFlags: number;
  xloadFlags: number;
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  cmdlineSize: number;
  prefAddress: number;
  initSize: number;
  /** file offset and length of the protected-mode kernel */
  pmOffset: number;
  pmSize: number;
  /** end of the setup header: 0x202 + the byte at 0x201 */
  headerEnd: number;
}

const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number) => (u16(b, o) | (u16(b, o + 2) << 16)) >>> 0;

/** a bzImage: boot_flag 0xAA55 and "HdrS" where the setup header has them */
export function isBzImage(file: Uint8Array): boolean {
  return file.length >= 0x206 && u16(file, Zp.BootFlag) === 0xaa55 && u32(file, Zp.Header) === HDRS_MAGIC;
}

/** a file that starts like a bzImage (the PE "MZ" of an EFI-stub kernel) but is cut short */
export function looksLikeTruncatedBzImage(file: Uint8Array): boolean {
  return file.length < 0x206 && file.length >= 2 && file[0] === 0x4d && file[1] === 0x5a;
}

export function parseSetupHeader(file: Uint8Array, what: string): SetupHeader {
  if (!isBzImage(file)) throw new LoadError(`${what}: not a bzImage (no boot_flag 0xAA55 and "HdrS" setup header)`);
  const version = u16(file, Zp.Version);
  const v = `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
  if (version < 0x20c) throw new LoadError(`${what}: boot protocol ${v} is older than 2.12 (the 64-bit entry needs 2.12)`);
  const headerEnd = 0x202 + file[0x201];
  if (headerEnd > file.length) throw new LoadError(`${what}: truncated bzImage (setup header ends at ${hex(headerEnd)})`);
  let setupSects = file[Zp.SetupSects];
  if (setupSects === 0) setupSects = 4;
  const pmOffset = (setupSects + 1) * 512;
  const syssize = u32(file, 0x1f4) * 16;
  if (pmOffset + syssize > file.length || pmOffset >= file.length) {
    throw new LoadError(`${what}: truncated bzImage (${file.length} bytes; the setup code and the ${syssize}-byte kernel need ${pmOffset + syssize})`);
  }
  const xloadFlags = u16(file, Zp.XLoadFlags);
  if ((xloadFlags & XLF_KERNEL_64) === 0) throw new LoadError(`${what}: the kernel has no 64-bit entry (xloadflags bit 0 clear)`);
  const prefLo = u32(file, Zp.PrefAddress);
  const prefHi = u32(file, Zp.PrefAddress + 4);
  if (prefHi !== 0) throw new LoadError(`${what}: preferred load address above 4 GiB is not supported`);
  return {
    setupSects, version, loadFlags: file[Zp.LoadFlags], xloadFlags,
    initrdAddrMax: u32(file, Zp.InitrdAddrMax), kernelAlignment: u32(file, Zp.KernelAlignment),
    relocatable: file[Zp.RelocatableKernel] !== 0, cmdlineSize: u32(file, Zp.CmdlineSize),
    prefAddress: prefLo, initSize: u32(file, Zp.InitSize), pmOffset, pmSize: file.length - pmOffset, headerEnd,
  };
}

/**
 * Check an initramfs before it is placed: an uncompressed one must be a whole newc archive
 * (several may be concatenated); a compressed one is taken as it is (the kernel unpacks it).
 */
export function checkInitrd(data: Uint8Array, what: string): void {
  if (data.length === 0) throw new LoadError(`${what}: the initrd is empty`);
  if (isCpio(data)) {
    try { parseCpio(data); } catch (e) { throw new LoadError(`${what}: corrupt initramfs: ${(e as Error).message}`); }
    return;
  }
  if (compressionOf(data) !== null) return;
  throw new LoadError(`${what}: the initrd is neither a newc cpio archive (070701) nor a compressed one`);
}

function cmdlineBytes(cmdline: string, max: number, what: string): Uint8Array {
  const b = new TextEncoder().encode(cmdline + '\0');
  if (b.length - 1 > max) throw new LoadError(`${what}: command line of ${b.length - 1} bytes is longer than the kernel's ${max}`);
  return b;
}

/** place the initrd as high as it goes: page-aligned, ending at or below min(RAM end, limit + 1) */
function placeInitrd(place: Placement, size: number, limit: number, what: string, name: string): number {
  const top = Math.min(place.ramEnd, limit + 1);
  const at = Math.floor((top - size) / 4096) * 4096;
  const low = place.highest;
  if (at < low) {
    throw new LoadError(`${what}: initrd ${name} (${size} bytes) does not fit between the kernel's end ${hex(low)} and ${hex(top)}; give more --mem`);
  }
  place.claim(at, size, `initrd ${name}`);
  return at;
}

function writeE820(mem: PhysMem, at: number, map: E820Entry[], stride: number): void {
  map.forEach((e, k) => {
    const a = at + k * stride;
    mem.write32(a, e.addr >>> 0);
    mem.write32(a + 4, Math.floor(e.addr / 0x100000000));
    mem.write32(a + 8, e.size >>> 0);
    mem.write32(a + 12, Math.floor(e.size / 0x100000000));
    mem.write32(a + 16, e.type);
    if (stride > 20) mem.write32(a + 20, 0);
  });
}

interface Initrd { data: Uint8Array; name: string }

function initrdOf(opts: LoadOptions, what: string): Initrd | null {
  if ((opts.modules ?? []).length > 0) throw new LoadError(`${what}: boot modules need a multiboot kernel (use --initrd for Linux)`);
  if (opts.initrd === undefined || opts.initrd === null) return null;
  const name = opts.initrdName ?? 'initrd';
  checkInitrd(opts.initrd, name);
  return { data: opts.initrd, name };
}

/** Load a bzImage through the 64-bit boot protocol. */
export function loadBzImage(mem: PhysMem, file: Uint8Array, opts: LoadOptions = {}): LoadResult {
  const what = opts.name ?? 'kernel';
  const h = parseSetupHeader(file, what);
  const initrd = initrdOf(opts, what);
  const cmd = cmdlineBytes(opts.cmdline ?? '', h.cmdlineSize, what);
  if ((h.loadFlags & LOADED_HIGH) === 0) throw new LoadError(`${what}: a zImage (loaded low) is not supported`);
  const place = new Placement(mem, what);
  place.claim(ZERO_PAGE, 0x1000, 'boot_params');
  place.claim(PT_BASE, PT_END - PT_BASE, 'initial page tables and GDT');
  place.claim(CMDLINE_ADDR, cmd.length, 'command line');
  let load = h.prefAddress;
  if (h.relocatable && h.kernelAlignment > 0) load = alignUp(load, h.kernelAlignment);
  const need = Math.max(h.initSize, h.pmSize);
  if (load + need > place.ramEnd) {
    throw new LoadError(`${what}: the kernel needs ${hex(need)} bytes (init_size) at ${hex(load)}, past the end of RAM ${hex(place.ramEnd)}; give more --mem`);
  }
  place.claim(load, need, 'kernel');
  const initrdAt = initrd ? placeInitrd(place, initrd.data.length, h.initrdAddrMax, what, initrd.name) : 0;
  const fw = buildFirmware(place.ramEnd, opts.cpus ?? 1);
  if (fw.e820.length > MAX_E820) throw new LoadError(`${what}: too many e820 entries`);

  // everything fits: write
  writeFirmware(mem, fw);
  copyAndZero(mem, load, file.subarray(h.pmOffset), 0);
  if (initrd) mem.load(initrdAt, initrd.data);
  mem.load(CMDLINE_ADDR, cmd);
  const zp = ZERO_PAGE;
  copyAndZero(mem, zp, new Uint8Array(0), 0x1000);
  mem.load(zp + SETUP_HEADER, file.subarray(SETUP_HEADER, h.headerEnd));
  mem.write8(zp + Zp.TypeOfLoader, 0xff);
  mem.write32(zp + Zp.Code32Start, load);
  mem.write32(zp + Zp.RamdiskImage, initrdAt);
  mem.write32(zp + Zp.RamdiskSize, initrd ? initrd.data.length : 0);
  mem.write32(zp + Zp.CmdLinePtr, CMDLINE_ADDR);
  mem.write32(zp + Zp.HardwareSubarch, 0);
  mem.write32(zp + Zp.AcpiRsdp, fw.rsdp);
  mem.write32(zp + Zp.AltMemK, Math.floor((place.ramEnd - 0x100000) / 1024));
  mem.write8(zp + Zp.E820Entries, fw.e820.length);
  writeE820(mem, zp + Zp.E820Table, fw.e820, 20);
  writeIdentityPageTables(mem);
  writeLinuxGdt(mem, PT_GDT);

  const entry = load + 0x200;
  const st = longModeState(entry, PT_BASE, PT_GDT);
  st.cs = { ...st.cs, sel: BOOT_CS };
  st.data = { ...st.data, sel: BOOT_DS };
  st.rsi = zp;
  return {
    kind: 'bzimage', entry, eax: 0, ebx: 0, infoAddr: zp, kernelStart: load, kernelEnd: load + need,
    modules: initrd ? [{ start: initrdAt, end: initrdAt + initrd.data.length, cmdline: initrd.name }] : [],
    state: st,
  };
}

/** the 64-bit boot protocol's GDT: 0x10 64-bit code, 0x18 flat data (GDT_SIZE bytes) */
function writeLinuxGdt(mem: PhysMem, base: number): void {
  for (let a = base; a < base + GDT_SIZE; a += 4) mem.write32(a, 0);
  mem.write32(base + BOOT_CS, 0x0000ffff);
  mem.write32(base + BOOT_CS + 4, 0x00af9b00);
  mem.write32(base + BOOT_DS, 0x0000ffff);
  mem.write32(base + BOOT_DS + 4, 0x00cf9300);
}

/** the physical entry from a vmlinux's XEN_ELFNOTE_PHYS32_ENTRY note, or null if it has none */
export function pvhEntry(file: Uint8Array): number | null {
  if (file.length < 64 || file[4] !== ELFCLASS64 || file[5] !== 1) return null;
  const phoff = u32(file, 32) + u32(file, 36) * 0x100000000;
  const phentsize = u16(file, 54);
  const phnum = u16(file, 56);
  for (let k = 0; k < phnum; k++) {
    const p = phoff + k * phentsize;
    if (p + 56 > file.length || u32(file, p) !== 4 /* PT_NOTE */) continue;
    const off = u32(file, p + 8);
    const end = Math.min(file.length, off + u32(file, p + 32));
    for (let n = off; n + 12 <= end;) {
      const namesz = u32(file, n);
      const descsz = u32(file, n + 4);
      const type = u32(file, n + 8);
      const name = n + 12;
      const desc = name + alignUp(namesz, 4);
      if (desc + descsz > end) break;
      const isXen = namesz === 4 && file[name] === 0x58 && file[name + 1] === 0x65 && file[name + 2] === 0x6e && file[name + 3] === 0;
      if (isXen && type === XEN_ELFNOTE_PHYS32_ENTRY && (descsz === 4 || descsz === 8)) {
        if (descsz === 8 && u32(file, desc + 4) !== 0) return null;
        return u32(file, desc);
      }
      n = desc + alignUp(descsz, 4);
    }
  }
  return null;
}

/** Load an uncompressed vmlinux and start it at its PVH entry. */
export function loadPvh(mem: PhysMem, file: Uint8Array, opts: LoadOptions = {}): LoadResult {
  const what = opts.name ?? 'kernel';
  const entry = pvhEntry(file);
  if (entry === null) throw new LoadError(`${what}: no XEN_ELFNOTE_PHYS32_ENTRY note (not a PVH kernel)`);
  const img = parseElf(file, ELFCLASS64, EM_X86_64, what);
  const initrd = initrdOf(opts, what);
  const cmd = cmdlineBytes(opts.cmdline ?? '', 0xffff, what);
  const place = new Placement(mem, what);
  place.claim(START_INFO, 0x1000, 'hvm_start_info');
  place.claim(PT_GDT, GDT_SIZE, 'boot GDT');
  place.claim(CMDLINE_ADDR, cmd.length, 'command line');
  let kStart = Infinity;
  let kEnd = 0;
  img.segments.forEach((s, k) => {
    if (s.paddr + s.memsz > place.ramEnd) {
      throw new LoadError(`${what}: segment ${k} at ${hex(s.paddr)}..${hex(s.paddr + s.memsz)} is past the end of RAM ${hex(place.ramEnd)}; give more --mem`);
    }
    place.claim(s.paddr, s.memsz, `segment ${k}`);
    kStart = Math.min(kStart, s.paddr);
    kEnd = Math.max(kEnd, s.paddr + s.memsz);
  });
  if (entry < kStart || entry >= kEnd) throw new LoadError(`${what}: PVH entry ${hex(entry)} is outside the loaded segments`);
  // the initrd must stay below 4 GiB (32-bit addresses in the 32-bit entry)
  const initrdAt = initrd ? placeInitrd(place, initrd.data.length, 0xffffffff, what, initrd.name) : 0;
  const fw = buildFirmware(place.ramEnd, opts.cpus ?? 1);
  const modlist = START_INFO + 56;
  const memmap = modlist + 32;
  if (memmap + 24 * fw.e820.length > START_INFO + 0x1000) throw new LoadError(`${what}: too many e820 entries`);

  writeFirmware(mem, fw);
  for (const s of img.segments) copyAndZero(mem, s.paddr, file.subarray(s.offset, s.offset + s.filesz), s.memsz - s.filesz);
  if (initrd) mem.load(initrdAt, initrd.data);
  mem.load(CMDLINE_ADDR, cmd);
  const si = START_INFO;
  copyAndZero(mem, si, new Uint8Array(0), 0x1000);
  mem.write32(si + 0, XEN_HVM_START_MAGIC);
  mem.write32(si + 4, 1); // version 1: memmap fields present
  mem.write32(si + 8, 0); // flags
  mem.write32(si + 12, initrd ? 1 : 0);
  mem.write32(si + 16, initrd ? modlist : 0);
  mem.write32(si + 24, CMDLINE_ADDR);
  mem.write32(si + 32, fw.rsdp);
  mem.write32(si + 40, memmap);
  mem.write32(si + 48, fw.e820.length);
  if (initrd) {
    mem.write32(modlist, initrdAt);
    mem.write32(modlist + 8, initrd.data.length);
  }
  writeE820(mem, memmap, fw.e820, 24);
  writeBootGdt(mem, PT_GDT);
  return {
    kind: 'pvh', entry, eax: 0, ebx: si, infoAddr: si, kernelStart: kStart, kernelEnd: kEnd,
    modules: initrd ? [{ start: initrdAt, end: initrdAt + initrd.data.length, cmdline: initrd.name }] : [],
    state: protectedModeState(entry, 0, si, PT_GDT),
  };
}
