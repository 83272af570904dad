/**
 * A 16550A UART (COM1 at 0x3F8, IRQ 4), register-exact to the PC16550D datasheet, with a line
 * that is infinitely fast: a byte written to THR is sent at once (so THRE and TEMT always read
 * 1), and bytes the host queues arrive as fast as the receiver has room for them.
 *
 * Registers (offset, DLAB = LCR bit 7):
 *   0  read RBR / write THR; with DLAB, DLL       4  MCR: DTR RTS OUT1 OUT2 LOOP
 *   1  IER: RDA THRE RLS MS; with DLAB, DLM       5  LSR: DR OE PE FE BI THRE TEMT RXFE
 *   2  read IIR / write FCR                       6  MSR: deltas (clear on read), CTS DSR RI DCD
 *   3  LCR                                        7  SCR
 *
 * Interrupts, highest priority first (datasheet Table 4): receiver line status (IIR 0x6),
 * received data available (0x4; in FIFO mode when the FIFO reaches its trigger level, else a
 * character timeout 0xC while data waits below it), THR empty (0x2: raised when THR empties or
 * when ETBEI is enabled while it is empty, cleared by an IIR read that reports it or a THR
 * write), modem status (0x0). The interrupt output reaches the IRQ line through the OUT2 pin
 * (MCR bit 3), as on every PC serial port; loopback forces that pin inactive.
 *
 * The receiver holds up to 16 bytes in FIFO mode and 1 byte otherwise; bytes beyond that wait
 * in the host queue (they have not "arrived" yet), so there are never overruns. Clearing the RX
 * FIFO (FCR bit 1, or toggling FCR bit 0) discards the bytes that had arrived. Outside loopback
 * the modem inputs read as CTS, DSR and DCD asserted (a connected terminal); in loopback (MCR
 * bit 4) THR bytes come back into the receiver and the inputs follow DTR, RTS, OUT1 and OUT2.
 */

import type { PortDevice } from './iobus.js';

export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;

const TRIGGER = [1, 4, 8, 14];

/** a growable byte queue (host input and the collected output) */
class ByteQueue {
  buf = new Uint8Array(256);
  head = 0;
  tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  push(b: number): void {
    if (this.tail === this.buf.length) {
      const n = this.tail - this.head;
      if (n * 2 > this.buf.length) {
        const nb = new Uint8Array(this.buf.length * 2);
        nb.set(this.buf.subarray(this.head, this.tail), 0);
        this.buf = nb;
      } else {
        this.buf.copyWithin(0, this.head, this.tail);
      }
      this.head = 0;
      this.tail = n;
    }
    this.buf[this.tail++] = b;
  }

  shift(): number {
    const b = this.buf[this.head++];
    if (this.head === this.tail) this.head = this.tail = 0;
    return b;
  }

  drop(n: number): void {
    this.head += Math.min(n, this.length);
    if (this.head === this.tail) this.head = this.tail = 0;
  }

  bytes(): Uint8Array {
    return this.buf.slice(this.head, this.tail);
  }
}

export class Uart16550 implements PortDevice {
  ier = 0;
  lcr = 0;
  mcr = 0;
  scr = 0;
  /** divisor latch; 12 (9600 baud) after reset, as PC firmware leaves it */
  dll = 0x0c;
  dlm = 0;
  fifoEnabled = false;
  /** RX FIFO trigger level in bytes (FCR bits 7:6) */
  trigger = 1;
  /** MSR: bits 7:4 input levels, bits 3:0 deltas since the last MSR read */
  msr = 0xb0;
  /** THR-empty interrupt latched (see header) */
  thrEmptyIntr = false;
  /** current level of the interrupt line (after the OUT2 gate) */
  irqLevel = false;

  /** bytes sent by the guest; the default collects them for `output()` */
  onTx: (byte: number) => void;
  /** the IRQ line changed level */
  onIrq: (level: boolean) => void;

  private readonly rx = new ByteQueue();
  private readonly tx = new ByteQueue();

  constructor(opts: { onTx?: (byte: number) => void; onIrq?: (level: boolean) => void } = {}) {
    this.onTx = opts.onTx ?? ((b) => this.tx.push(b));
    this.onIrq = opts.onIrq ?? (() => {});
  }

  // ---- host side ----

  /** queue bytes for the guest to receive (strings are sent as UTF-8) */
  queueInput(data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    for (let k = 0; k < bytes.length; k++) this.rx.push(bytes[k]);
    this.update();
  }

  /** bytes waiting for the guest (arrived or not) */
  get inputPending(): number {
    return this.rx.length;
  }

  /** what the default output sink collected, decoded as UTF-8 */
  output(): string {
    return new TextDecoder().decode(this.tx.bytes());
  }

  outputBytes(): Uint8Array {
    return this.tx.bytes();
  }

  clearOutput(): void {
    this.tx.drop(this.tx.length);
  }

  // ---- register interface ----

  /** bytes that have arrived in the receiver */
  private rxCount(): number {
    return Math.min(this.rx.length, this.fifoEnabled ? 16 : 1);
  }

  private lsr(): number {
    return (this.rx.length > 0 ? 0x01 : 0) | 0x60;
  }

  /** IIR bits 3:0 for the highest-priority pending interrupt, or 1 when none */
  private pending(): number {
    const ier = this.ier;
    // no line-status errors ever occur (see header), so RLS (0x6) is never pending
    if ((ier & 0x01) !== 0 && this.rx.length > 0) {
      return !this.fifoEnabled || this.rxCount() >= this.trigger ? 0x04 : 0x0c;
    }
    if ((ier & 0x02) !== 0 && this.thrEmptyIntr) return 0x02;
    if ((ier & 0x08) !== 0 && (this.msr & 0x0f) !== 0) return 0x00;
    return 0x01;
  }

  ioRead(port: number, _size: number): number {
    let v = 0;
    switch (port & 7) {
      case 0:
        if ((this.lcr & 0x80) !== 0) return this.dll;
        v = this.rx.length > 0 ? this.rx.shift() : 0;
        break;
      case 1:
        return (this.lcr & 0x80) !== 0 ? this.dlm : this.ier;
      case 2: {
        const id = this.pending();
        if (id === 0x02) this.thrEmptyIntr = false;
        v = id | (this.fifoEnabled ? 0xc0 : 0);
        break;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        return this.lsr();
      case 6:
        v = this.msr;
        this.msr &= 0xf0;
        break;
      default:
        return this.scr;
    }
    this.update();
    return v;
  }

  ioWrite(port: number, _size: number, value: number): void {
    const v = value & 0xff;
    switch (port & 7) {
      case 0:
        if ((this.lcr & 0x80) !== 0) { this.dll = v; return; }
        this.thrEmptyIntr = false;
        if ((this.mcr & 0x10) !== 0) this.rx.push(v);
        else this.onTx(v);
        // sent at once: THR is empty again
        this.thrEmptyIntr = true;
        break;
      case 1: {
        if ((this.lcr & 0x80) !== 0) { this.dlm = v; return; }
        const old = this.ier;
        this.ier = v & 0x0f;
        if ((this.ier & 0x02) !== 0 && (old & 0x02) === 0) this.thrEmptyIntr = true;
        if ((this.ier & 0x02) === 0) this.thrEmptyIntr = false;
        break;
      }
      case 2: {
        const enable = (v & 0x01) !== 0;
        // changing FCR0 clears both FIFOs; bits 1 and 2 clear one each (self-clearing)
        if (enable !== this.fifoEnabled || (v & 0x02) !== 0) this.rx.drop(this.rxCount());
        this.fifoEnabled = enable;
        if (enable) this.trigger = TRIGGER[v >>> 6];
        break;
      }
      case 3:
        this.lcr = v;
        return;
      case 4:
        this.mcr = v & 0x1f;
        this.setModemInputs();
        break;
      case 5:
        // LSR is read-only (writes are for factory test)
        return;
      case 6:
        return;
      default:
        this.scr = v;
        return;
    }
    this.update();
  }

  /** modem input levels: a connected terminal, or the MCR outputs in loopback */
  private setModemInputs(): void {
    const m = this.mcr;
    const lines = (m & 0x10) === 0
      ? 0xb0
      : ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4);
    const old = this.msr & 0xf0;
    const changed = old ^ lines;
    let delta = this.msr & 0x0f;
    if ((changed & 0x10) !== 0) delta |= 0x01; // DCTS
    if ((changed & 0x20) !== 0) delta |= 0x02; // DDSR
    if ((old & 0x40) !== 0 && (lines & 0x40) === 0) delta |= 0x04; // TERI: RI trailing edge
    if ((changed & 0x80) !== 0) delta |= 0x08; // DDCD
    this.msr = lines | delta;
  }

  /** recompute the interrupt line and report a change */
  private update(): void {
    // loopback forces the OUT2 pin inactive, which closes the PC's IRQ gate
    const level = this.pending() !== 0x01 && (this.mcr & 0x18) === 0x08;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.onIrq(level);
    }
  }
}
