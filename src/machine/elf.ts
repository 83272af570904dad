/**
 * ELF executable parsing for the loaders (System V ABI, ELF32 and ELF64 little-endian): the
 * header and the PT_LOAD program headers, checked against the file before anything is copied.
 *
 * Every problem is a `LoadError` with a one-line message (the CLI prints `err.message` alone).
 * 64-bit addresses are returned as exact numbers: offsets, sizes and physical addresses must be
 * below 2^53; virtual addresses and the entry point are canonical, and upper-half ones are
 * negative (the CPU's form for 64-bit linear addresses).
 */

export class LoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadError';
  }
}

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const EM_386 = 3;
export const EM_X86_64 = 62;
const ET_EXEC = 2;
const PT_LOAD = 1;
const TWO32 = 4294967296;

export interface ElfSegment {
  offset: number;
  filesz: number;
  vaddr: number;
  paddr: number;
  memsz: number;
}

export interface ElfImage {
  cls: number;
  entry: number;
  /** PT_LOAD segments with a non-zero memory size, in file order */
  segments: ElfSegment[];
}

export const hex = (n: number): string => (n < 0 ? '-0x' + (-n).toString(16) : '0x' + n.toString(16));

/** true when `file` starts with the ELF magic */
export function isElf(file: Uint8Array): boolean {
  return file.length >= 4 && file[0] === 0x7f && file[1] === 0x45 && file[2] === 0x4c && file[3] === 0x46;
}

export function elfClass(file: Uint8Array): number {
  return isElf(file) && file.length > 4 ? file[4] : 0;
}

class Reader {
  private readonly dv: DataView;
  constructor(readonly file: Uint8Array, private readonly what: string) {
    this.dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  }

  need(off: number, len: number, part: string): void {
    if (off < 0 || off + len > this.file.length) {
      throw new LoadError(`${this.what}: truncated file (${part} at ${hex(off)}+${len} is past the end, ${this.file.length} bytes)`);
    }
  }

  u16(off: number): number { return this.dv.getUint16(off, true); }
  u32(off: number): number { return this.dv.getUint32(off, true); }

  /** unsigned 64-bit field that must stay below 2^53 */
  u64(off: number, field: string): number {
    const hi = this.u32(off + 4);
    if (hi >= 0x200000) throw new LoadError(`${this.what}: ${field} ${hex(hi * TWO32)} is too large`);
    return hi * TWO32 + this.u32(off);
  }

  /** canonical 64-bit virtual address, upper half negative */
  addr64(off: number, field: string): number {
    const lo = this.u32(off);
    const hi = this.u32(off + 4);
    if (hi <= 0x7fff) return hi * TWO32 + lo;
    if (hi >= 0xffff8000) return (hi - TWO32) * TWO32 + lo;
    throw new LoadError(`${this.what}: ${field} 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} is not canonical`);
  }
}

/**
 * Parse an ELF executable of class `cls` for machine `machine` and return its loadable
 * segments; `what` names the image in messages.
 */
export function parseElf(file: Uint8Array, cls: number, machine: number, what: string): ElfImage {
  const r = new Reader(file, what);
  r.need(0, 16, 'ELF identification');
  if (!isElf(file)) throw new LoadError(`${what}: not an ELF file (wrong magic)`);
  if (file[4] !== cls) {
    throw new LoadError(`${what}: ELF class ${file[4]} where ${cls === ELFCLASS32 ? 'ELF32 (1)' : 'ELF64 (2)'} is needed`);
  }
  if (file[5] !== 1) throw new LoadError(`${what}: not a little-endian ELF file`);
  const is64 = cls === ELFCLASS64;
  r.need(0, is64 ? 64 : 52, 'ELF header');
  const type = r.u16(16);
  if (type !== ET_EXEC) throw new LoadError(`${what}: ELF type ${type} is not an executable (ET_EXEC)`);
  const mach = r.u16(18);
  if (mach !== machine) throw new LoadError(`${what}: ELF machine ${mach} where ${machine} is needed`);
  const entry = is64 ? r.addr64(24, 'entry point') : r.u32(24);
  const phoff = is64 ? r.u64(32, 'program header offset') : r.u32(28);
  const phentsize = r.u16(is64 ? 54 : 42);
  const phnum = r.u16(is64 ? 56 : 44);
  const minEnt = is64 ? 56 : 32;
  if (phnum === 0) throw new LoadError(`${what}: no program headers`);
  if (phentsize < minEnt) throw new LoadError(`${what}: program header size ${phentsize} is below ${minEnt}`);
  r.need(phoff, phentsize * phnum, 'program header table');
  const segments: ElfSegment[] = [];
  for (let k = 0; k < phnum; k++) {
    const p = phoff + k * phentsize;
    if (r.u32(p) !== PT_LOAD) continue;
    const s: ElfSegment = is64
      ? {
        offset: r.u64(p + 8, 'segment offset'),
        vaddr: r.addr64(p + 16, 'segment address'),
        paddr: r.u64(p + 24, 'segment physical address'),
        filesz: r.u64(p + 32, 'segment file size'),
        memsz: r.u64(p + 40, 'segment memory size'),
      }
      : { offset: r.u32(p + 4), vaddr: r.u32(p + 8), paddr: r.u32(p + 12), filesz: r.u32(p + 16), memsz: r.u32(p + 20) };
    if (s.filesz > s.memsz) {
      throw new LoadError(`${what}: segment ${k} has file size ${hex(s.filesz)} above its memory size ${hex(s.memsz)}`);
    }
    r.need(s.offset, s.filesz, `segment ${k} data`);
    if (s.memsz > 0) segments.push(s);
  }
  if (segments.length === 0) throw new LoadError(`${what}: no loadable (PT_LOAD) segments`);
  return { cls, entry, segments };
}

/** the segment whose virtual range holds `vaddr`, or undefined */
export function segmentAt(img: ElfImage, vaddr: number): ElfSegment | undefined {
  for (const s of img.segments) if (vaddr >= s.vaddr && vaddr < s.vaddr + s.memsz) return s;
  return undefined;
}
