/**
 * Kernel loaders: Multiboot v1 (the Multiboot Specification 0.6.96) and ELF64.
 *
 * Multiboot: the header (magic 0x1BADB002, flags, checksum; 32-bit aligned, wholly inside the
 * first 8192 bytes) says how to load. With flag bit 16 (the "a.out kludge") its address fields
 * do: the file from (header offset - (header_addr - load_addr)) is copied to load_addr up to
 * load_end_addr (0: to the end of the file), zeroed up to bss_end_addr (0: no BSS), entered at
 * entry_addr. Without it the image must be ELF32 (i386): PT_LOAD segments are copied to their
 * physical addresses (p_paddr) and the entry point, an ELF virtual address, is translated
 * through the segment that holds it, as GRUB does. Requirement flags: bits 0 (page-aligned
 * modules) and 1 (memory information) are always honoured; bit 2 (video mode) cannot be, and
 * bits 3..15 are unknown, so the loader refuses them as the spec requires.
 *
 * Then modules go, page-aligned, after the kernel, and the boot information after them (page
 * aligned, never in the PC's reserved window 0x9FC00..0x100000):
 *   +0   multiboot_info (88 bytes): flags = MEMORY | CMDLINE | MODS | MMAP | LOADER_NAME,
 *        mem_lower = 639 KiB, mem_upper = KiB of RAM above 1 MiB, cmdline, mods_count/addr,
 *        mmap_length/addr, boot_loader_name "worldswitch"
 *   +88  module structures (mod_start, mod_end (exclusive), string, 0), 16 bytes each
 *   ...  memory map: 0..0x9FC00 available (1), 0x9FC00..0x100000 reserved (2), 0x100000..end
 *        of RAM available (1); 24-byte entries whose size field (20) excludes itself
 *   ...  the boot GDT (bootstate.ts), then the NUL-terminated strings
 * The CPU starts as the spec says (3.2): EAX = 0x2BADB002, EBX = the info address, 32-bit
 * protected mode with paging off, CS a flat 32-bit code segment (selector 0x08), DS, ES, FS,
 * GS and SS flat data (0x10), EFLAGS.IF and VM clear. ESP is undefined by the spec (0 here);
 * GDTR points at the boot GDT, which the kernel must not rely on.
 *
 * ELF64 (x86-64): PT_LOAD segments go to their physical addresses; the CPU starts in 64-bit
 * long mode at e_entry with paging on, through page tables the loader writes at 0x8000..0xEFFF
 * (bootstate.ts: 0..4 GiB identity-mapped with 2 MiB pages, and the top 2 GiB mapped onto
 * 0..2 GiB for higher-half kernels) and the boot GDT at 0xF000 (CS 0x18, data 0x10). The entry
 * point must be mapped by those tables to the physical address its segment is loaded at.
 *
 * Everything is checked before the first byte is written; a problem is a `LoadError` with a
 * one-line message.
 */

import type { PhysMem } from './memory.js';
import {
  Placement, PT_BASE, PT_END, PT_GDT, GDT_SIZE, LOW_RESERVED_START, LOW_RESERVED_END,
  copyAndZero, initialMapping, longModeState, protectedModeState, writeBootGdt,
  writeIdentityPageTables, type InitialState,
} from './bootstate.js';
import { isBzImage, loadBzImage, loadPvh, looksLikeTruncatedBzImage, pvhEntry } from './linux.js';
import { ELFCLASS32, ELFCLASS64, EM_386, EM_X86_64, LoadError, elfClass, hex, isElf, parseElf, segmentAt } from './elf.js';

export { LoadError } from './elf.js';
export type { InitialState, SegmentState } from './bootstate.js';

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
const SEARCH_LIMIT = 8192;
const FLAG_VIDEO = 1 << 2;
const FLAG_AOUT_KLUDGE = 1 << 16;
/** multiboot_info.flags bits this loader fills */
export const enum MbInfo {
  Memory = 1 << 0, Cmdline = 1 << 2, Mods = 1 << 3, Mmap = 1 << 6, LoaderName = 1 << 9,
}
export const MBI_SIZE = 88;
export const BOOT_LOADER_NAME = 'worldswitch';

/** a boot module: its contents (missing when the file could not be read) and its string */
export interface ModuleSpec {
  name: string;
  data: Uint8Array | null | undefined;
  cmdline: string;
}

export interface LoadedModule {
  start: number;
  end: number;
  cmdline: string;
}

export interface LoadResult {
  kind: 'multiboot' | 'elf64' | 'bzimage' | 'pvh';
  /** where the CPU starts (physical for multiboot; a virtual address for ELF64) */
  entry: number;
  eax: number;
  ebx: number;
  /** multiboot information, boot_params or hvm_start_info address, or -1 */
  infoAddr: number;
  /** lowest and highest physical address of the kernel image (BSS included) */
  kernelStart: number;
  kernelEnd: number;
  modules: LoadedModule[];
  state: InitialState;
}

export interface LoadOptions {
  /** names the image in error messages */
  name?: string;
  /**
   * the kernel command line (multiboot), as the kernel sees it: GRUB and QEMU put the image
   * name first, and so does `worldswitch run` (cli/run.ts); the loader adds nothing
   */
  cmdline?: string;
  modules?: ModuleSpec[];
  /** a Linux initramfs (bzImage and PVH kernels) and its name for messages */
  initrd?: Uint8Array | null;
  initrdName?: string;
  /** CPUs in the machine: the ACPI MADT lists one local APIC per CPU (default 1) */
  cpus?: number;
}

interface Chunk {
  addr: number;
  data: Uint8Array;
  zero: number;
}

function u32(file: Uint8Array, off: number): number {
  return (file[off] | (file[off + 1] << 8) | (file[off + 2] << 16) | (file[off + 3] << 24)) >>> 0;
}

/** the multiboot header's offset, checked; throws if there is none */
function findMultibootHeader(file: Uint8Array, what: string): number {
  let badAt = -1;
  const limit = Math.min(file.length, SEARCH_LIMIT);
  for (let off = 0; off + 12 <= limit; off += 4) {
    if (u32(file, off) !== MULTIBOOT_HEADER_MAGIC) continue;
    if (((MULTIBOOT_HEADER_MAGIC + u32(file, off + 4) + u32(file, off + 8)) >>> 0) === 0) return off;
    if (badAt < 0) badAt = off;
  }
  if (badAt >= 0) throw new LoadError(`${what}: multiboot header at offset ${hex(badAt)} has a bad checksum (magic + flags + checksum must be 0)`);
  if (file.length < 12) throw new LoadError(`${what}: truncated file (${file.length} bytes)`);
  throw new LoadError(`${what}: no multiboot header (magic 0x1badb002) in the first 8192 bytes, and not an ELF64 image`);
}

/** the a.out kludge: the header's address fields say where the image goes */
function aoutChunks(file: Uint8Array, hdr: number, place: Placement, what: string): { chunk: Chunk; entry: number } {
  if (hdr + 32 > SEARCH_LIMIT) throw new LoadError(`${what}: multiboot address fields at ${hex(hdr + 12)} extend past the first 8192 bytes`);
  if (hdr + 32 > file.length) throw new LoadError(`${what}: truncated file (multiboot address fields past the end)`);
  const headerAddr = u32(file, hdr + 12);
  const loadAddr = u32(file, hdr + 16);
  const loadEndAddr = u32(file, hdr + 20);
  const bssEndAddr = u32(file, hdr + 24);
  const entry = u32(file, hdr + 28);
  if (loadAddr > headerAddr) throw new LoadError(`${what}: load_addr ${hex(loadAddr)} is above header_addr ${hex(headerAddr)}`);
  const fileOff = hdr - (headerAddr - loadAddr);
  if (fileOff < 0) throw new LoadError(`${what}: header_addr - load_addr (${hex(headerAddr - loadAddr)}) puts the load start before the file`);
  let len = file.length - fileOff;
  if (loadEndAddr !== 0) {
    if (loadEndAddr < loadAddr) throw new LoadError(`${what}: load_end_addr ${hex(loadEndAddr)} is below load_addr ${hex(loadAddr)}`);
    len = loadEndAddr - loadAddr;
    if (fileOff + len > file.length) {
      throw new LoadError(`${what}: truncated file (load_end_addr needs ${len} bytes from offset ${hex(fileOff)}, the file has ${file.length - fileOff})`);
    }
  }
  const dataEnd = loadAddr + len;
  if (bssEndAddr !== 0 && bssEndAddr < dataEnd) throw new LoadError(`${what}: bss_end_addr ${hex(bssEndAddr)} is below the end of the loaded data ${hex(dataEnd)}`);
  const end = bssEndAddr !== 0 ? bssEndAddr : dataEnd;
  place.claim(loadAddr, end - loadAddr, 'kernel image');
  if (entry < loadAddr || entry >= end) throw new LoadError(`${what}: entry point ${hex(entry)} is outside the loaded image ${hex(loadAddr)}..${hex(end)}`);
  return { chunk: { addr: loadAddr, data: file.subarray(fileOff, fileOff + len), zero: end - dataEnd }, entry };
}

function elfChunks(file: Uint8Array, cls: number, machine: number, place: Placement, what: string): { chunks: Chunk[]; img: ReturnType<typeof parseElf> } {
  const img = parseElf(file, cls, machine, what);
  const chunks: Chunk[] = [];
  img.segments.forEach((s, k) => {
    place.claim(s.paddr, s.memsz, `segment ${k}`);
    chunks.push({ addr: s.paddr, data: file.subarray(s.offset, s.offset + s.filesz), zero: s.memsz - s.filesz });
  });
  return { chunks, img };
}

function span(chunks: Chunk[]): { start: number; end: number } {
  let start = Infinity;
  let end = 0;
  for (const c of chunks) {
    start = Math.min(start, c.addr);
    end = Math.max(end, c.addr + c.data.length + c.zero);
  }
  return { start, end };
}

/** Load a Multiboot v1 kernel with its modules and boot information. */
export function loadMultiboot(mem: PhysMem, file: Uint8Array, opts: LoadOptions = {}): LoadResult {
  const what = opts.name ?? 'kernel';
  const hdr = findMultibootHeader(file, what);
  const flags = u32(file, hdr + 4);
  if ((flags & FLAG_VIDEO) !== 0) throw new LoadError(`${what}: multiboot flag bit 2 asks for a video mode, which this machine does not provide`);
  if ((flags & 0xfff8) !== 0) throw new LoadError(`${what}: multiboot flags ${hex(flags)} set unknown requirement bits (3..15)`);
  const place = new Placement(mem, what);

  let chunks: Chunk[];
  let entry: number;
  if ((flags & FLAG_AOUT_KLUDGE) !== 0) {
    const a = aoutChunks(file, hdr, place, what);
    chunks = [a.chunk];
    entry = a.entry;
  } else {
    if (!isElf(file)) throw new LoadError(`${what}: not an ELF file and the multiboot header has no address fields (flag bit 16)`);
    if (elfClass(file) === ELFCLASS64) throw new LoadError(`${what}: multiboot v1 loads ELF32 images; link as elf_i386 or set the a.out kludge (flag bit 16)`);
    const e = elfChunks(file, ELFCLASS32, EM_386, place, what);
    chunks = e.chunks;
    const s = segmentAt(e.img, e.img.entry);
    if (s === undefined) throw new LoadError(`${what}: entry point ${hex(e.img.entry)} is outside the loaded segments`);
    entry = e.img.entry - s.vaddr + s.paddr;
  }
  const kernel = span(chunks);

  // modules, page-aligned after the kernel (flag bit 0 asks for it; it is always done)
  const mods = opts.modules ?? [];
  const loaded: LoadedModule[] = [];
  mods.forEach((m, k) => {
    if (m.data === null || m.data === undefined) throw new LoadError(`${what}: module ${k} (${m.name}): file is missing`);
    const start = place.allocate(place.highest, m.data.length, 4096, `module ${k} (${m.name})`);
    loaded.push({ start, end: start + m.data.length, cmdline: m.cmdline });
  });

  // boot information
  const enc = new TextEncoder();
  const strings = [opts.cmdline ?? '', ...mods.map((m) => m.cmdline), BOOT_LOADER_NAME].map((s) => enc.encode(s + '\0'));
  const ramEnd = place.ramEnd;
  const mmap: [number, number, number][] = [[0, Math.min(LOW_RESERVED_START, ramEnd), 1], [LOW_RESERVED_START, LOW_RESERVED_END, 2]];
  if (ramEnd > LOW_RESERVED_END) mmap.push([LOW_RESERVED_END, ramEnd, 1]);
  const modsOff = MBI_SIZE;
  const mmapOff = modsOff + 16 * mods.length;
  const gdtOff = mmapOff + 24 * mmap.length;
  let strOff = gdtOff + GDT_SIZE;
  const infoLen = strOff + strings.reduce((n, s) => n + s.length, 0);
  const info = place.allocate(place.highest, infoLen, 4096, 'multiboot information');

  // everything fits: write
  for (const c of chunks) copyAndZero(mem, c.addr, c.data, c.zero);
  mods.forEach((m, k) => mem.load(loaded[k].start, m.data!));
  copyAndZero(mem, info, new Uint8Array(0), infoLen);
  const strAddr: number[] = [];
  for (const s of strings) {
    mem.load(info + strOff, s);
    strAddr.push(info + strOff);
    strOff += s.length;
  }
  mem.write32(info + 0, MbInfo.Memory | MbInfo.Cmdline | MbInfo.Mods | MbInfo.Mmap | MbInfo.LoaderName);
  mem.write32(info + 4, Math.floor(Math.min(LOW_RESERVED_START, ramEnd) / 1024));
  mem.write32(info + 8, Math.max(0, Math.floor((ramEnd - LOW_RESERVED_END) / 1024)));
  mem.write32(info + 16, strAddr[0]);
  mem.write32(info + 20, mods.length);
  mem.write32(info + 24, info + modsOff);
  mem.write32(info + 44, 24 * mmap.length);
  mem.write32(info + 48, info + mmapOff);
  mem.write32(info + 64, strAddr[strAddr.length - 1]);
  loaded.forEach((m, k) => {
    const a = info + modsOff + 16 * k;
    mem.write32(a, m.start);
    mem.write32(a + 4, m.end);
    mem.write32(a + 8, strAddr[1 + k]);
  });
  mmap.forEach(([base, end, type], k) => {
    const a = info + mmapOff + 24 * k;
    mem.write32(a, 20);
    mem.write32(a + 4, base);
    mem.write32(a + 12, end - base);
    mem.write32(a + 20, type);
  });
  writeBootGdt(mem, info + gdtOff);

  return {
    kind: 'multiboot', entry, eax: MULTIBOOT_BOOTLOADER_MAGIC, ebx: info, infoAddr: info,
    kernelStart: kernel.start, kernelEnd: kernel.end, modules: loaded,
    state: protectedModeState(entry, MULTIBOOT_BOOTLOADER_MAGIC, info, info + gdtOff),
  };
}

/** Load an ELF64 kernel and the long-mode page tables it starts on. */
export function loadElf64(mem: PhysMem, file: Uint8Array, opts: LoadOptions = {}): LoadResult {
  const what = opts.name ?? 'kernel';
  if ((opts.modules ?? []).length > 0) throw new LoadError(`${what}: boot modules need a multiboot kernel`);
  if (opts.initrd) throw new LoadError(`${what}: --initrd needs a Linux kernel (bzImage or PVH vmlinux)`);
  const place = new Placement(mem, what);
  place.claim(PT_BASE, PT_END - PT_BASE, 'initial page tables and GDT');
  const { chunks, img } = elfChunks(file, ELFCLASS64, EM_X86_64, place, what);
  const s = segmentAt(img, img.entry);
  if (s === undefined) throw new LoadError(`${what}: entry point ${hex(img.entry)} is outside the loaded segments`);
  const phys = img.entry - s.vaddr + s.paddr;
  if (initialMapping(img.entry) !== phys) {
    throw new LoadError(`${what}: entry point ${hex(img.entry)} (loaded at ${hex(phys)}) is not mapped there by the initial page tables (identity below 4 GiB, top 2 GiB onto 0..2 GiB)`);
  }
  for (const c of chunks) copyAndZero(mem, c.addr, c.data, c.zero);
  writeIdentityPageTables(mem);
  const k = span(chunks);
  return {
    kind: 'elf64', entry: img.entry, eax: 0, ebx: 0, infoAddr: -1,
    kernelStart: k.start, kernelEnd: k.end, modules: [],
    state: longModeState(img.entry, PT_BASE, PT_GDT),
  };
}

/**
 * Tell the formats apart by their headers: a bzImage (setup header "HdrS"), an ELF64 with a
 * PVH entry note (a Linux vmlinux), another ELF64, and everything else as multiboot (whose
 * errors say what is wrong).
 */
export function loadKernel(mem: PhysMem, file: Uint8Array, opts: LoadOptions = {}): LoadResult {
  const what = opts.name ?? 'kernel';
  if (isBzImage(file)) return loadBzImage(mem, file, opts);
  if (looksLikeTruncatedBzImage(file)) throw new LoadError(`${what}: truncated bzImage (${file.length} bytes, no setup header)`);
  if (elfClass(file) === ELFCLASS64) return pvhEntry(file) !== null ? loadPvh(mem, file, opts) : loadElf64(mem, file, opts);
  if (opts.initrd) throw new LoadError(`${what}: --initrd needs a Linux kernel (bzImage or PVH vmlinux)`);
  return loadMultiboot(mem, file, opts);
}

/**
 * Read module files given as "path arg ..." strings (the whole string is the module's command
 * line, as GRUB passes it) with the caller's file reader; a file that cannot be read becomes a
 * LoadError. The loaders never touch a file system themselves.
 */
export function readModules(args: string[], read: (path: string) => Uint8Array): ModuleSpec[] {
  return args.map((arg) => {
    const path = arg.trim().split(/\s+/)[0] ?? '';
    if (path === '') throw new LoadError('module: empty module argument');
    try {
      return { name: path, data: read(path), cmdline: arg.trim() };
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT') throw new LoadError(`module file ${path} is missing`);
      throw new LoadError(`cannot read module file ${path}: ${String((e as Error).message ?? e).split('\n')[0]}`);
    }
  });
}
