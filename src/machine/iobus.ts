/**
 * The port I/O bus: the CPU's `PortIo` (IN, OUT, INS, OUTS) routed to devices by port number.
 *
 * A device registers a range of ports and the access widths it decodes itself; an access of a
 * width the device does not decode is split into byte accesses to consecutive ports (as an
 * 8-bit ISA device sees a 16-bit IN: two cycles), each routed on its own. Ports with no device
 * read as all-ones for the access size (the floating ISA data bus) and drop writes; both are
 * counted per port (an access is counted once, at its first port) so that a run can report what
 * the guest touched that the machine lacks. PIC mask registers live in pic.ts.
 *
 * Values are unsigned: portIn returns 0..2^(8*size)-1.
 */

import type { PortIo } from '../cpu/cpu.js';

export interface PortDevice {
  /** read `size` (1, 2 or 4) bytes from absolute port `port` */
  ioRead(port: number, size: number): number;
  ioWrite(port: number, size: number, value: number): void;
}

/** access-width bits for `register`: which widths the device decodes itself */
export const enum Width {
  B = 1,
  W = 2,
  D = 4,
  All = 7,
}

const ONES = [0, 0xff, 0xffff, 0, 0xffffffff];

export class IoBus implements PortIo {
  private readonly devices: PortDevice[] = [];
  private readonly widths: number[] = [];
  /** per port: 1 + index into `devices`, 0 when no device answers */
  private readonly owner = new Uint16Array(0x10000);
  /**
   * reads and writes of ports with no device, by port (maps: a snapshot holds what was touched,
   * not 512 KiB of counters; `devices`, `widths` and `owner` are wiring, set up with the machine)
   */
  readonly unknownReads = new Map<number, number>();
  readonly unknownWrites = new Map<number, number>();

  /**
   * Attach `dev` at ports base .. base+count-1. `widths` says which access sizes it decodes
   * (others are split into bytes). Ranges may not overlap.
   */
  register(base: number, count: number, dev: PortDevice, widths: number = Width.B): void {
    if (base < 0 || count <= 0 || base + count > 0x10000) throw new RangeError(`port range 0x${base.toString(16)}+${count} is outside 0..0xffff`);
    for (let p = base; p < base + count; p++) {
      if (this.owner[p] !== 0) throw new Error(`port 0x${p.toString(16)} is already taken`);
    }
    this.devices.push(dev);
    this.widths.push(widths);
    const id = this.devices.length;
    for (let p = base; p < base + count; p++) this.owner[p] = id;
  }

  portIn(port: number, size: number): number {
    port &= 0xffff;
    const id = this.owner[port];
    if (id !== 0 && (this.widths[id - 1] & size) !== 0) {
      const v = this.devices[id - 1].ioRead(port, size);
      return size === 4 ? v >>> 0 : v & ONES[size];
    }
    if (id === 0 && this.unowned(port, size)) {
      this.unknownReads.set(port, (this.unknownReads.get(port) ?? 0) + 1);
      return ONES[size];
    }
    // split into bytes; the port number wraps at 64 Ki like the address lines do
    let v = 0;
    for (let k = 0; k < size; k++) v |= this.portIn(port + k, 1) << (8 * k);
    return v >>> 0;
  }

  portOut(port: number, size: number, value: number): void {
    port &= 0xffff;
    const id = this.owner[port];
    if (id !== 0 && (this.widths[id - 1] & size) !== 0) {
      this.devices[id - 1].ioWrite(port, size, size === 4 ? value >>> 0 : value & ONES[size]);
      return;
    }
    if (id === 0 && this.unowned(port, size)) {
      this.unknownWrites.set(port, (this.unknownWrites.get(port) ?? 0) + 1);
      return;
    }
    for (let k = 0; k < size; k++) this.portOut(port + k, 1, (value >>> (8 * k)) & 0xff);
  }

  /** no device at any port of a `size`-byte access at `port` (counted once, at `port`) */
  private unowned(port: number, size: number): boolean {
    for (let k = 1; k < size; k++) if (this.owner[(port + k) & 0xffff] !== 0) return false;
    return true;
  }

  /** true when a device answers at `port` */
  claimed(port: number): boolean {
    return this.owner[port & 0xffff] !== 0;
  }

  /** ports with no device that the guest touched, in port order (for run reports) */
  unknownPorts(): { port: number; reads: number; writes: number }[] {
    const out: { port: number; reads: number; writes: number }[] = [];
    const ports = [...new Set([...this.unknownReads.keys(), ...this.unknownWrites.keys()])].sort((a, b) => a - b);
    for (const p of ports) out.push({ port: p, reads: this.unknownReads.get(p) ?? 0, writes: this.unknownWrites.get(p) ?? 0 });
    return out;
  }
}
