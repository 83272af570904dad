/**
 * Symbols of an ELF image (32- or 64-bit): name -> address, from the SHT_SYMTAB section. The
 * lab uses them to find places in the host kernel (the KVM_RUN entry and exit, handler entry
 * points) without the kernel having to announce them.
 */

/** A symbol with its ELF size and whether it is a function (STT_FUNC: C code; assembly labels
 * are NOTYPE unless they declare a type) */
export interface Sym { name: string; addr: number; size: number; func: boolean }

export class SymbolTable {
  private readonly byName = new Map<string, number>();
  private readonly sorted: Sym[] = [];

  constructor(entries: [name: string, addr: number, size?: number, func?: boolean][]) {
    for (const [n, a, size, func] of entries) {
      if (!this.byName.has(n)) this.byName.set(n, a);
      this.sorted.push({ addr: a, name: n, size: size ?? 0, func: func ?? false });
    }
    this.sorted.sort((x, y) => x.addr - y.addr);
  }

  /** every symbol, in address order */
  all(): readonly Sym[] {
    return this.sorted;
  }

  /** the ELF size of a symbol (0 for labels and unknown names) */
  sizeOf(name: string): number {
    return this.sorted.find((s) => s.name === name)?.size ?? 0;
  }

  get(name: string): number | undefined {
    return this.byName.get(name);
  }

  require(name: string): number {
    const a = this.byName.get(name);
    if (a === undefined) throw new Error(`symbol ${name} not found in the image`);
    return a;
  }

  /** the symbol at or below an address (the function an instruction belongs to) */
  at(addr: number): Sym | undefined {
    let lo = 0;
    let hi = this.sorted.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid].addr <= addr) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return best < 0 ? undefined : this.sorted[best];
  }

  /** "name+0x12" for an address (the nearest symbol at or below it) */
  describe(addr: number): string {
    const s = this.at(addr);
    if (s === undefined) return `0x${addr.toString(16)}`;
    const off = addr - s.addr;
    return off === 0 ? s.name : `${s.name}+0x${off.toString(16)}`;
  }

  get size(): number {
    return this.byName.size;
  }
}

/** Read the symbol table of an ELF32 or ELF64 little-endian image. */
export function readSymbols(image: Uint8Array): SymbolTable {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 52 || dv.getUint32(0, false) !== 0x7f454c46) throw new Error('not an ELF image');
  const is64 = image[4] === 2;
  const shoff = is64 ? Number(dv.getBigUint64(0x28, true)) : dv.getUint32(0x20, true);
  const shentsize = dv.getUint16(is64 ? 0x3a : 0x2e, true);
  const shnum = dv.getUint16(is64 ? 0x3c : 0x30, true);
  const sec = (k: number) => {
    const o = shoff + k * shentsize;
    return is64
      ? { type: dv.getUint32(o + 4, true), offset: Number(dv.getBigUint64(o + 0x18, true)), size: Number(dv.getBigUint64(o + 0x20, true)), link: dv.getUint32(o + 0x28, true), entsize: Number(dv.getBigUint64(o + 0x38, true)) }
      : { type: dv.getUint32(o + 4, true), offset: dv.getUint32(o + 0x10, true), size: dv.getUint32(o + 0x14, true), link: dv.getUint32(o + 0x18, true), entsize: dv.getUint32(o + 0x24, true) };
  };
  const entries: [string, number, number, boolean][] = [];
  for (let k = 0; k < shnum; k++) {
    const s = sec(k);
    if (s.type !== 2) continue; // SHT_SYMTAB
    const str = sec(s.link);
    const n = s.entsize > 0 ? Math.floor(s.size / s.entsize) : 0;
    for (let j = 1; j < n; j++) {
      const o = s.offset + j * s.entsize;
      const nameOff = dv.getUint32(o, true);
      const value = is64 ? dv.getBigInt64(o + 8, true) : BigInt(dv.getUint32(o + 4, true));
      const size = is64 ? Number(dv.getBigUint64(o + 16, true)) : dv.getUint32(o + 8, true);
      const info = is64 ? image[o + 4] : image[o + 12];
      const type = info & 0xf;
      if (type === 3 || type === 4) continue; // sections and files
      let end = str.offset + nameOff;
      while (end < image.length && image[end] !== 0) end++;
      const name = new TextDecoder().decode(image.subarray(str.offset + nameOff, end));
      if (name === '') continue;
      // 64-bit addresses as signed canonical numbers, like RIP
      entries.push([name, Number(value), size, type === 2]);
    }
  }
  return new SymbolTable(entries);
}
