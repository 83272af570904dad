/**
 * A minimal 8042 keyboard controller (data port 0x60, status/command port 0x64) with no
 * keyboard or mouse attached: enough for a kernel to find the controller, test it, read and
 * write its configuration byte, and reset the machine through it. Behaviour as QEMU's
 * hw/input/pckbd.c and Linux's drivers/input/serio/i8042.c expect it.
 *
 * Status (0x64 read): OBF (0) output buffer full, IBF (1) always 0 (commands complete at once),
 * SYS (2) system flag (set: POST done), A2 (3) last write was a command, INH (4) 1 = keyboard
 * not inhibited, AUXB (5) the output byte is from the aux port.
 *
 * Commands (0x64 write): 0x20 read the configuration byte, 0x60 write it (next 0x60 byte),
 * 0xA7/0xA8 disable/enable the aux port, 0xA9 test it (0x00), 0xAA self-test (0x55, sets SYS),
 * 0xAB test the keyboard port (0x00), 0xAD/0xAE disable/enable the keyboard, 0xC0 read the
 * input port, 0xD0 read the output port, 0xD1 write it (next 0x60 byte; bit 0 = 0 resets, bit 1
 * is A20, recorded only), 0xD2/0xD3 write the keyboard/aux output buffer (the byte comes back as
 * if the device sent it), 0xF0-0xFF pulse output port bits whose command bit is 0 (0xFE pulses
 * bit 0: reset). Others are ignored. A reset ends the run (sysctl.ts).
 *
 * Bytes written to 0x60 without a pending command go to the keyboard, which is absent: they are
 * dropped and nothing answers (the kernel's driver times out). 0xD4 (write to the aux device) is
 * the same. IRQ 1 / IRQ 12 follow OBF for keyboard / aux bytes when the configuration byte
 * enables them (bits 0 / 1).
 */

import type { PortDevice } from './iobus.js';

export const I8042_DATA_PORT = 0x60;
export const I8042_CMD_PORT = 0x64;
export const KBD_IRQ = 1;
export const AUX_IRQ = 12;

const ST_OBF = 0x01;
const ST_SYS = 0x04;
const ST_CMD = 0x08;
const ST_UNLOCKED = 0x10;
const ST_AUXB = 0x20;

export class I8042 implements PortDevice {
  status = ST_SYS | ST_UNLOCKED;
  /** configuration byte: keyboard interrupt, system flag, aux clock disabled, translation */
  config = 0x65;
  /** output port: bit 0 reset line (1 = running), bit 1 A20 */
  outPort = 0x03;
  outByte = 0;
  /** the command waiting for its data byte at 0x60, or 0 */
  pending = 0;
  /** bytes the absent keyboard and aux device did not answer */
  dropped = 0;
  irq1 = false;
  irq12 = false;
  onIrq: (irq: number, level: boolean) => void = () => {};
  onReset: (source: string) => void = () => {};

  private put(v: number, aux: boolean): void {
    this.outByte = v & 0xff;
    this.status = (this.status | ST_OBF) & ~ST_AUXB;
    if (aux) this.status |= ST_AUXB;
    this.updateIrq();
  }

  private updateIrq(): void {
    const full = (this.status & ST_OBF) !== 0;
    const aux = (this.status & ST_AUXB) !== 0;
    const i1 = full && !aux && (this.config & 1) !== 0;
    const i12 = full && aux && (this.config & 2) !== 0;
    if (i1 !== this.irq1) { this.irq1 = i1; this.onIrq(1, i1); }
    if (i12 !== this.irq12) { this.irq12 = i12; this.onIrq(12, i12); }
  }

  ioRead(port: number, _size: number): number {
    if (port === I8042_CMD_PORT) return this.status;
    const v = this.outByte;
    this.status &= ~(ST_OBF | ST_AUXB);
    this.updateIrq();
    return v;
  }

  ioWrite(port: number, _size: number, value: number): void {
    const v = value & 0xff;
    if (port === I8042_CMD_PORT) {
      this.status |= ST_CMD;
      this.command(v);
      return;
    }
    this.status &= ~ST_CMD;
    const cmd = this.pending;
    this.pending = 0;
    switch (cmd) {
      case 0x60:
        this.config = v;
        this.status = (this.status & ~ST_SYS) | (v & ST_SYS);
        this.updateIrq();
        return;
      case 0xd1: this.writeOutPort(v); return;
      case 0xd2: this.put(v, false); return;
      case 0xd3: this.put(v, true); return;
      default: this.dropped++;
    }
  }

  private writeOutPort(v: number): void {
    this.outPort = v | 0x01;
    if ((v & 1) === 0) this.onReset('8042 output port reset line');
  }

  private command(c: number): void {
    if (c >= 0xf0) {
      if ((c & 1) === 0) this.onReset('8042 reset pulse');
      return;
    }
    switch (c) {
      case 0x20: this.put(this.config, false); return;
      case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4: this.pending = c; return;
      case 0xa7: this.config |= 0x20; return;
      case 0xa8: this.config &= ~0x20; return;
      case 0xa9: this.put(0x00, false); return;
      case 0xaa:
        this.status |= ST_SYS;
        this.config |= ST_SYS;
        this.put(0x55, false);
        return;
      case 0xab: this.put(0x00, false); return;
      case 0xad: this.config |= 0x10; return;
      case 0xae: this.config &= ~0x10; return;
      case 0xc0: this.put(0x00, false); return;
      case 0xd0: this.put(this.outPort, false); return;
      default: return;
    }
  }
}
