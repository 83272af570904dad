/**
 * The debug-exit port (like QEMU's isa-debug-exit with iobase 0xF4, iosize 4): a write of value
 * v, of any width at any of its ports, ends the run with exit status (v << 1) | 1, so a guest
 * can never produce status 0 and a status always tells a guest exit from an emulator failure.
 * Test kernels end with it, so the same image runs here and on QEMU.
 *
 * The status is a plain number (v is up to 32 bits, so it can need 33); a process exit code is
 * its low 8 bits, as QEMU's is. Reads return all-ones, as from an empty bus.
 */

import type { PortDevice } from './iobus.js';

export const DEBUG_EXIT_PORT = 0xf4;
export const DEBUG_EXIT_SIZE = 4;

export class DebugExit implements PortDevice {
  /** status of the last exit request, or -1 if none */
  status = -1;

  /** `onExit` is called with the status on every write; the machine stops the CPU */
  constructor(private readonly onExit: (status: number) => void = () => {}) {}

  ioRead(_port: number, size: number): number {
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }

  ioWrite(_port: number, _size: number, value: number): void {
    this.status = (value >>> 0) * 2 + 1;
    this.onExit(this.status);
  }
}
