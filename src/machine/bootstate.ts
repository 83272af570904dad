/**
 * What a loader leaves behind besides the image: the initial CPU state it describes (applied to
 * a CPU by the machine, see boot.ts), the boot GDT that makes that state's selectors real, the
 * long-mode page tables for ELF64 kernels, and the bookkeeping that keeps every placed range
 * inside RAM and clear of the others.
 *
 * Boot GDT (written by both loaders; the kernel is expected to load its own):
 *   0x00 null, 0x08 flat 32-bit code, 0x10 flat data, 0x18 flat 64-bit code
 * (base 0, limit 4 GiB, accessed bit set so the descriptors match the hidden state).
 */

import type { PhysMem } from './memory.js';
import { LoadError, hex } from './elf.js';

/** a segment register's selector and hidden part (attributes in VMCB form, see cpu.ts) */
export interface SegmentState {
  sel: number;
  base: number;
  limit: number;
  attr: number;
}

export interface InitialState {
  /** 32: protected mode with paging off; 64: long mode with the loader's page tables */
  bits: 32 | 64;
  rip: number;
  /** general registers that carry boot information (others are 0) */
  rax: number;
  rbx: number;
  /** RSI (the Linux 64-bit boot protocol's boot_params pointer); 0 when absent */
  rsi?: number;
  /** 0: the kernel sets its own stack (the multiboot spec leaves ESP undefined) */
  rsp: number;
  rflags: number;
  cr0: number;
  cr3: number;
  cr4: number;
  efer: number;
  cs: SegmentState;
  /** DS, ES, FS, GS and SS */
  data: SegmentState;
  gdtBase: number;
  gdtLimit: number;
}

export const SEL_CODE32 = 0x08;
export const SEL_DATA = 0x10;
export const SEL_CODE64 = 0x18;
export const GDT_SIZE = 32;
const ATTR_CODE32 = 0xc9b;
const ATTR_DATA = 0xc93;
const ATTR_CODE64 = 0xa9b;

/** the reserved window of the PC memory map: EBDA, VGA and BIOS (mmap type 2) */
export const LOW_RESERVED_START = 0x9fc00;
export const LOW_RESERVED_END = 0x100000;

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function write64(mem: PhysMem, a: number, lo: number, hi: number): void {
  mem.write32(a, lo);
  mem.write32(a + 4, hi);
}

/** write the boot GDT (GDT_SIZE bytes) at `base` */
export function writeBootGdt(mem: PhysMem, base: number): void {
  write64(mem, base, 0, 0);
  write64(mem, base + SEL_CODE32, 0x0000ffff, 0x00cf9b00);
  write64(mem, base + SEL_DATA, 0x0000ffff, 0x00cf9300);
  write64(mem, base + SEL_CODE64, 0x0000ffff, 0x00af9b00);
}

function seg(sel: number, attr: number): SegmentState {
  return { sel, base: 0, limit: 0xffffffff, attr };
}

/** multiboot's machine state (spec 3.2): flat 32-bit protected mode, paging off, IF clear */
export function protectedModeState(entry: number, eax: number, ebx: number, gdtBase: number): InitialState {
  return {
    bits: 32, rip: entry, rax: eax, rbx: ebx, rsp: 0, rflags: 0x2,
    cr0: 0x11 /* PE | ET */, cr3: 0, cr4: 0, efer: 0,
    cs: seg(SEL_CODE32, ATTR_CODE32), data: seg(SEL_DATA, ATTR_DATA),
    gdtBase, gdtLimit: GDT_SIZE - 1,
  };
}

/** long mode (APM Vol. 2 ch. 14, long-mode activation): PAE paging through `cr3`, 64-bit CS, IF clear */
export function longModeState(entry: number, cr3: number, gdtBase: number): InitialState {
  return {
    bits: 64, rip: entry, rax: 0, rbx: 0, rsp: 0, rflags: 0x2,
    cr0: 0x80000011 /* PG | ET | PE */, cr3, cr4: 0x20 /* PAE */, efer: 0x500 /* LMA | LME */,
    cs: seg(SEL_CODE64, ATTR_CODE64), data: seg(SEL_DATA, ATTR_DATA),
    gdtBase, gdtLimit: GDT_SIZE - 1,
  };
}

/**
 * Long-mode page tables for ELF64 kernels, in the 28 KiB at PT_BASE (0x8000..0xEFFF), with the
 * boot GDT after them at 0xF000:
 *   0x8000 PML4: [0] -> low PDPT, [511] -> high PDPT
 *   0x9000 low PDPT: [0..3] -> the four page directories
 *   0xA000..0xDFFF page directories: 2048 2 MiB pages mapping 0..4 GiB onto itself
 *   0xE000 high PDPT: [510], [511] -> the first two page directories, so the top 2 GiB of the
 *          address space (0xFFFFFFFF80000000..) map onto physical 0..2 GiB (higher-half kernels)
 * Every entry is present, writable, supervisor.
 */
export const PT_BASE = 0x8000;
export const PT_END = 0x10000;
export const PT_GDT = 0xf000;
const HIGH_HALF = -0x80000000;

export function writeIdentityPageTables(mem: PhysMem): void {
  const pml4 = PT_BASE;
  const pdptLow = PT_BASE + 0x1000;
  const pd = PT_BASE + 0x2000;
  const pdptHigh = PT_BASE + 0x6000;
  for (let a = PT_BASE; a < PT_END; a += 4) mem.write32(a, 0);
  write64(mem, pml4, pdptLow | 3, 0);
  write64(mem, pml4 + 511 * 8, pdptHigh | 3, 0);
  for (let i = 0; i < 4; i++) {
    write64(mem, pdptLow + i * 8, (pd + i * 0x1000) | 3, 0);
    for (let j = 0; j < 512; j++) {
      // present, writable, page size (2 MiB)
      write64(mem, pd + i * 0x1000 + j * 8, ((i * 512 + j) * 0x200000 + 0x83) | 0, 0);
    }
  }
  write64(mem, pdptHigh + 510 * 8, pd | 3, 0);
  write64(mem, pdptHigh + 511 * 8, (pd + 0x1000) | 3, 0);
  writeBootGdt(mem, PT_GDT);
}

/** the physical address the initial page tables map `vaddr` to, or -1 */
export function initialMapping(vaddr: number): number {
  if (vaddr >= 0 && vaddr < 0x100000000) return vaddr;
  if (vaddr >= HIGH_HALF && vaddr < 0) return vaddr - HIGH_HALF;
  return -1;
}

/** Ranges placed in guest memory so far, to keep new ones in RAM and apart. */
export class Placement {
  private readonly ranges: { start: number; end: number; what: string }[] = [];

  constructor(private readonly mem: PhysMem, private readonly what: string) {}

  /** the end of usable RAM (below any MMIO region) */
  get ramEnd(): number {
    return Math.min(this.mem.size, this.mem.mmioLow);
  }

  /** claim [start, start+len) for `part`, or throw if it leaves RAM or meets a claimed range */
  claim(start: number, len: number, part: string): void {
    const end = start + len;
    if (start < 0 || end > this.ramEnd) {
      throw new LoadError(`${this.what}: ${part} at ${hex(start)}..${hex(end)} is outside RAM (0..${hex(this.ramEnd)})`);
    }
    // the PC's legacy window (EBDA, video memory, option and system ROMs) is not RAM a kernel
    // can be loaded into: the firmware tables live there (firmware/), and real firmware would
    // not load a kernel over it either
    if (start < LOW_RESERVED_END && end > LOW_RESERVED_START) {
      throw new LoadError(`${this.what}: ${part} at ${hex(start)}..${hex(end)} overlaps the PC's reserved window ${hex(LOW_RESERVED_START)}..${hex(LOW_RESERVED_END)} (EBDA, video memory, BIOS)`);
    }
    for (const r of this.ranges) {
      if (start < r.end && r.start < end) {
        throw new LoadError(`${this.what}: ${part} at ${hex(start)}..${hex(end)} overlaps ${r.what} at ${hex(r.start)}..${hex(r.end)}`);
      }
    }
    this.ranges.push({ start, end, what: part });
  }

  /** highest end of the claimed ranges */
  get highest(): number {
    let m = 0;
    for (const r of this.ranges) m = Math.max(m, r.end);
    return m;
  }

  /**
   * Claim `len` bytes at the first `align`-aligned address at or above `from` that is free, in
   * RAM and outside the PC's reserved low window.
   */
  allocate(from: number, len: number, align: number, part: string): number {
    let a = alignUp(from, align);
    for (;;) {
      const end = a + Math.max(len, 1);
      if (a < LOW_RESERVED_END && end > LOW_RESERVED_START) { a = LOW_RESERVED_END; continue; }
      let moved = false;
      for (const r of this.ranges) {
        if (a < r.end && r.start < end) { a = alignUp(r.end, align); moved = true; }
      }
      if (moved) continue;
      if (a + len > this.ramEnd) {
        throw new LoadError(`${this.what}: no room for ${part} (${len} bytes) in RAM above ${hex(from)}; RAM ends at ${hex(this.ramEnd)}`);
      }
      this.claim(a, len, part);
      return a;
    }
  }
}

/** copy `data` to `addr` and zero the `zeroLen` bytes after it (BSS) */
export function copyAndZero(mem: PhysMem, addr: number, data: Uint8Array, zeroLen: number): void {
  if (data.length > 0) mem.load(addr, data);
  if (zeroLen <= 0) return;
  const start = addr + data.length;
  for (let p = start >>> 12; p <= (start + zeroLen - 1) >>> 12; p++) {
    if (mem.codePage[p]) mem.onCodeWrite(p);
  }
  mem.touch(start, zeroLen);
  mem.u8.fill(0, start, start + zeroLen);
}
