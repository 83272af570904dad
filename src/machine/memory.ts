/**
 * Guest physical memory: RAM in one ArrayBuffer (the host OS commits only the pages that are
 * touched, so a large machine costs only what it uses), MMIO regions above or inside it, and a
 * per-page "holds decoded code" mark so that writes to code invalidate the decoded-instruction
 * cache.
 *
 * Physical addresses are plain numbers below 2^52. Devices register MMIO regions here and never
 * see the CPU.
 */

export interface MmioDevice {
  /** read `size` (1, 2 or 4) bytes at `offset` within the region */
  mmioRead(offset: number, size: number): number;
  mmioWrite(offset: number, size: number, value: number): void;
}

interface Region {
  base: number;
  size: number;
  dev: MmioDevice;
}

export class PhysMem {
  readonly size: number;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  /** 1 for each 4 KiB page that has decoded instructions cached */
  readonly codePage: Uint8Array;
  /** 1 for each 4 KiB page written since the last snapshot or restore (lab/snapshot.ts) */
  readonly dirty: Uint8Array;
  /** called with the page number when a write hits a page marked in codePage */
  onCodeWrite: (page: number) => void = () => {};
  /** lowest MMIO address; every access at or above it takes the slow path */
  mmioLow = Infinity;
  private regions: Region[] = [];
  /** reads of physical addresses with neither RAM nor a device */
  unmappedReads = 0;

  constructor(size: number) {
    if (size % 4096 !== 0 || size <= 0) throw new Error(`memory size ${size} is not a positive multiple of 4 KiB`);
    this.size = size;
    const buf = new ArrayBuffer(size);
    this.u8 = new Uint8Array(buf);
    this.u16 = new Uint16Array(buf);
    this.u32 = new Uint32Array(buf);
    this.i32 = new Int32Array(buf);
    this.codePage = new Uint8Array(Math.ceil(size / 4096));
    this.dirty = new Uint8Array(Math.ceil(size / 4096));
  }

  /**
   * For writers that store into `u8` directly (string fast paths, loaders): drop decoded code
   * and mark the pages dirty for `n` bytes at `a`.
   */
  touch(a: number, n: number): void {
    const p1 = (a + Math.max(n, 1) - 1) >>> 12;
    for (let p = a >>> 12; p <= p1; p++) {
      this.dirty[p] = 1;
      if (this.codePage[p]) this.onCodeWrite(p);
    }
  }

  addMmio(base: number, size: number, dev: MmioDevice): void {
    this.regions.push({ base, size, dev });
    this.mmioLow = Math.min(this.mmioLow, base);
  }

  /**
   * Move the MMIO window of `dev` (`size` bytes) to `base`, or remove it (null): the addresses
   * it covered become RAM or unmapped again.
   */
  moveMmio(dev: MmioDevice, base: number | null, size: number): void {
    const k = this.regions.findIndex((r) => r.dev === dev);
    if (k >= 0) this.regions.splice(k, 1);
    if (base !== null) this.regions.push({ base, size, dev });
    this.mmioLow = Infinity;
    for (const r of this.regions) this.mmioLow = Math.min(this.mmioLow, r.base);
  }

  private region(addr: number): Region | undefined {
    for (let k = 0; k < this.regions.length; k++) {
      const r = this.regions[k];
      if (addr >= r.base && addr < r.base + r.size) return r;
    }
    return undefined;
  }

  /** true when `addr` is ordinary RAM (no MMIO region covers it) */
  isRam(addr: number): boolean {
    return addr < this.size && (addr < this.mmioLow || this.region(addr) === undefined);
  }

  read8(a: number): number {
    if (a < this.mmioLow && a < this.size) return this.u8[a];
    return this.slowRead(a, 1);
  }

  read16(a: number): number {
    if (a + 1 < this.mmioLow && a + 1 < this.size) {
      return (a & 1) === 0 ? this.u16[a >>> 1] : this.u8[a] | (this.u8[a + 1] << 8);
    }
    return this.slowRead(a, 2);
  }

  /** 32-bit read, returned as a signed int32 */
  read32(a: number): number {
    if (a + 3 < this.mmioLow && a + 3 < this.size) {
      if ((a & 3) === 0) return this.i32[a >>> 2];
      const u = this.u8;
      return u[a] | (u[a + 1] << 8) | (u[a + 2] << 16) | (u[a + 3] << 24);
    }
    return this.slowRead(a, 4);
  }

  write8(a: number, v: number): void {
    if (a < this.mmioLow && a < this.size) {
      if (this.codePage[a >>> 12]) this.onCodeWrite(a >>> 12);
      this.dirty[a >>> 12] = 1;
      this.u8[a] = v;
      return;
    }
    this.slowWrite(a, 1, v & 0xff);
  }

  write16(a: number, v: number): void {
    if (a + 1 < this.mmioLow && a + 1 < this.size) {
      if (this.codePage[a >>> 12] || this.codePage[(a + 1) >>> 12]) this.codeWrite(a, 2);
      this.dirty[a >>> 12] = 1;
      this.dirty[(a + 1) >>> 12] = 1;
      if ((a & 1) === 0) this.u16[a >>> 1] = v;
      else { this.u8[a] = v; this.u8[a + 1] = v >>> 8; }
      return;
    }
    this.slowWrite(a, 2, v & 0xffff);
  }

  write32(a: number, v: number): void {
    if (a + 3 < this.mmioLow && a + 3 < this.size) {
      if (this.codePage[a >>> 12] || this.codePage[(a + 3) >>> 12]) this.codeWrite(a, 4);
      this.dirty[a >>> 12] = 1;
      this.dirty[(a + 3) >>> 12] = 1;
      if ((a & 3) === 0) this.i32[a >>> 2] = v;
      else {
        const u = this.u8;
        u[a] = v; u[a + 1] = v >>> 8; u[a + 2] = v >>> 16; u[a + 3] = v >>> 24;
      }
      return;
    }
    this.slowWrite(a, 4, v | 0);
  }

  private codeWrite(a: number, n: number): void {
    const p0 = a >>> 12;
    const p1 = (a + n - 1) >>> 12;
    if (this.codePage[p0]) this.onCodeWrite(p0);
    if (p1 !== p0 && this.codePage[p1]) this.onCodeWrite(p1);
  }

  private slowRead(a: number, n: number): number {
    const r = this.region(a);
    if (r !== undefined) return r.dev.mmioRead(a - r.base, n);
    if (a + n <= this.size) {
      let v = 0;
      for (let k = n - 1; k >= 0; k--) v = (v << 8) | this.u8[a + k];
      return n === 4 ? v | 0 : v;
    }
    // straddling the end of RAM or beyond it: per byte, unmapped bytes read as all-ones
    let v = 0;
    for (let k = n - 1; k >= 0; k--) {
      const b = a + k < this.size && a + k < this.mmioLow ? this.u8[a + k] : 0xff;
      if (a + k >= this.size) this.unmappedReads++;
      v = (v << 8) | b;
    }
    return n === 4 ? v | 0 : v;
  }

  private slowWrite(a: number, n: number, v: number): void {
    const r = this.region(a);
    if (r !== undefined) { r.dev.mmioWrite(a - r.base, n, v); return; }
    for (let k = 0; k < n; k++) {
      const x = a + k;
      if (x < this.size) {
        if (this.codePage[x >>> 12]) this.onCodeWrite(x >>> 12);
        this.dirty[x >>> 12] = 1;
        this.u8[x] = v >>> (8 * k);
      }
      // writes to unmapped physical addresses are dropped
    }
  }

  /** copy bytes into RAM (loaders); invalidates decoded code like any write */
  load(addr: number, data: Uint8Array): void {
    if (addr < 0 || addr + data.length > this.size) {
      throw new RangeError(`load of ${data.length} bytes at 0x${addr.toString(16)} is outside RAM (0x${this.size.toString(16)} bytes)`);
    }
    this.touch(addr, data.length);
    this.u8.set(data, addr);
  }
}
