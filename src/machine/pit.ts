/**
 * The 8254 programmable interval timer (ports 0x40-0x43) and system control port B (0x61),
 * clocked at 1.193182 MHz derived from the cycle counter (clock.ts: tick = floor(cycles * PIT_HZ
 * / tscHz)). The behaviour follows the Intel 8254 datasheet as QEMU (hw/timer/i8254.c,
 * i8254_common.c) and Bochs implement it.
 *
 * Nothing counts while the CPU runs: a channel remembers the tick at which it started (and the
 * ticks it had already counted before a gate stopped it), and its count and OUT are functions of
 * the current tick. A read is a multiply and a few integer operations, so Linux's TSC
 * calibration, which polls channel 2 tens of thousands of times (arch/x86/kernel/tsc.c,
 * pit_hpet_ptimer_calibrate_cpu and quick_pit_calibrate), costs little. Only channel 0 drives an
 * interrupt (IRQ 0; the machine routes it to the PIC and to I/O APIC pin 2): a scheduler event is
 * armed at its next OUT transition.
 *
 * Channels: 0 (IRQ 0, gate tied high), 1 (gate high; no output), 2 (gate = port 0x61 bit 0, OUT
 * read back at port 0x61 bit 5). With N the count written (0 means 0x10000, or 10000 in BCD) and
 * d the clocks counted since the count was loaded:
 *   mode 0 interrupt on terminal count: OUT low until d = N, then high until reprogrammed; the
 *          counter wraps on; gate low pauses counting; writing the first byte of a lo/hi count
 *          stops it (OUT low) until the second;
 *   mode 1 hardware one-shot: a gate rising edge (re)loads; OUT low for N clocks;
 *   mode 2 rate generator: OUT low for one clock when the count reaches 1, period N; gate low
 *          forces OUT high and stops counting, a gate rising edge reloads;
 *   mode 3 square wave: OUT high for ceil(N/2) and low for floor(N/2) clocks, the count going down
 *          by 2; gate as in mode 2;
 *   mode 4 software strobe: OUT low for one clock at d = N; gate low pauses;
 *   mode 5 hardware strobe: as mode 4, started by a gate rising edge.
 * A count written while a channel counts in mode 2 or 3 takes effect at once (QEMU does the
 * same; the datasheet waits for the end of the current period). The count is loaded on the tick
 * it is written (the datasheet loads it on the next clock edge: one tick, 838 ns, earlier here).
 *
 * Control word (0x43): SC (7:6) channel or 11 read-back; RW (5:4) 00 counter latch, 01 LSB,
 * 10 MSB, 11 LSB then MSB; M (3:1) mode (11x = 01x); BCD (0). Read-back (11 CNT STA C2 C1 C0 0)
 * latches the count and/or the status byte (OUT, null count, RW, M, BCD) of each selected
 * channel; a latched status is read before a latched count; a latched count is read in the
 * channel's RW order and then released, and a second latch before then is ignored.
 *
 * Port 0x61 (system control port B): bit 0 timer 2 gate, bit 1 speaker data enable, bits 2-3
 * parity/channel check enables (stored), bit 4 refresh request toggle (flips every 18 PIT clocks,
 * 15.09 us, like the DRAM refresh it reported), bit 5 OUT2, bits 6-7 IOCHK/SERR NMI status (0:
 * nothing on this machine raises them). The speaker makes no sound.
 */

import { PIT_HZ, TickClock } from './clock.js';
import type { PortDevice } from './iobus.js';
import type { Scheduler } from './scheduler.js';

export const PIT_PORT = 0x40;
export const PIT_IRQ = 0;
/** system control port B */
export const PORT_B = 0x61;
/** PIT clocks per half period of port 0x61 bit 4 */
export const REFRESH_HALF_PERIOD = 18;

class PitChannel {
  mode = 0;
  bcd = false;
  /** RW field: 1 LSB, 2 MSB, 3 LSB then MSB */
  access = 3;
  /** lo/hi toggles for live reads and for writes (0: LSB next) */
  readHi = false;
  writeHi = false;
  writeLatch = 0;
  /** latched count: 0 none, 3 LSB then MSB, 1 LSB only, 2 MSB next */
  latchState = 0;
  latchValue = 0;
  statusLatched = false;
  statusValue = 0;
  /** the count N in binary (1..0x10000, or 1..10000 in BCD) */
  reload = 0x10000;
  /** a count has been written since the mode was set */
  loaded = false;
  /** modes 1 and 5: a gate edge has started the count */
  triggered = false;
  /** counting now: d = frozen + (tick - start) */
  running = false;
  start = 0;
  frozen = 0;
  /** tick of the last count write (null count until the next tick) */
  writeTick = -1;
  gate: boolean;

  constructor(gate: boolean) {
    this.gate = gate;
  }

  modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  elapsed(t: number): number {
    return this.running ? this.frozen + (t - this.start) : this.frozen;
  }

  /** the counting element's value at tick t (binary) */
  count(t: number): number {
    if (!this.loaded) return this.reload & 0xffff;
    const n = this.reload;
    const d = this.elapsed(t);
    const m = this.modulus();
    switch (this.mode) {
      case 2: return n - (d % n);
      case 3: {
        const p = d % n;
        const hi = (n + 1) >>> 1;
        const q = p < hi ? p : p - hi;
        const c = (n & ~1) - 2 * q;
        return c > 0 ? c : 2;
      }
      default:
        if ((this.mode === 1 || this.mode === 5) && !this.triggered) return n % m;
        return (((n - d) % m) + m) % m;
    }
  }

  /** the OUT pin at tick t */
  out(t: number): boolean {
    if (!this.loaded) return this.mode !== 0;
    const n = this.reload;
    const d = this.elapsed(t);
    switch (this.mode) {
      case 0: return d >= n;
      case 1: return !this.triggered || d >= n;
      case 2: return !this.gate || n < 2 || d % n !== n - 1;
      case 3: return !this.gate || d % n < ((n + 1) >>> 1);
      case 4: return d !== n;
      default: return !this.triggered || d !== n;
    }
  }

  /** the next tick after t at which OUT changes, or Infinity */
  nextChange(t: number): number {
    if (!this.loaded || !this.running) return Infinity;
    const n = this.reload;
    const d = this.elapsed(t);
    let next: number;
    switch (this.mode) {
      case 0: case 1: next = d < n ? n : Infinity; break;
      case 2: {
        if (n < 2) return Infinity;
        const p = d % n;
        next = p < n - 1 ? d + (n - 1 - p) : d + 1;
        break;
      }
      case 3: {
        const p = d % n;
        const hi = (n + 1) >>> 1;
        next = p < hi ? d + (hi - p) : d + (n - p);
        break;
      }
      default: next = d < n ? n : d === n ? n + 1 : Infinity;
    }
    return next === Infinity ? Infinity : t + (next - d);
  }

  status(t: number): number {
    const nullCount = this.writeTick >= t;
    return (this.out(t) ? 0x80 : 0) | (nullCount ? 0x40 : 0) | (this.access << 4) | (this.mode << 1) | (this.bcd ? 1 : 0);
  }

  setMode(v: number): void {
    this.access = (v >>> 4) & 3;
    let m = (v >>> 1) & 7;
    if (m > 5) m -= 4;
    this.mode = m;
    this.bcd = (v & 1) !== 0;
    this.readHi = false;
    this.writeHi = false;
    this.latchState = 0;
    this.statusLatched = false;
    this.loaded = false;
    this.running = false;
    this.triggered = false;
    this.frozen = 0;
  }

  /** a complete count was written at tick t */
  setCount(raw: number, t: number): void {
    let v = raw & 0xffff;
    if (this.bcd) v = fromBcd4(v);
    this.reload = v === 0 ? this.modulus() : v;
    this.loaded = true;
    this.writeTick = t;
    this.frozen = 0;
    this.start = t;
    switch (this.mode) {
      case 1: case 5:
        // waits for a gate edge (a count written after the trigger applies to the next one)
        this.running = this.triggered;
        this.frozen = 0;
        break;
      default:
        this.running = this.gate;
    }
  }

  setGate(level: boolean, t: number): void {
    if (level === this.gate) return;
    const d = this.elapsed(t);
    this.gate = level;
    if (!this.loaded) return;
    switch (this.mode) {
      case 0: case 4:
        // gate low suspends counting; high resumes it
        if (level) { this.running = true; this.start = t; }
        else { this.running = false; this.frozen = d; }
        return;
      case 2: case 3:
        // gate low holds the count and forces OUT high; a rising edge reloads it
        if (level) { this.running = true; this.frozen = 0; this.start = t; }
        else { this.running = false; this.frozen = d; }
        return;
      default:
        // 1 and 5: a rising edge (re)triggers; gate level does not stop the count
        if (level) { this.triggered = true; this.running = true; this.frozen = 0; this.start = t; }
    }
  }

  /** a byte read of the channel's data port at tick t */
  read(t: number): number {
    if (this.statusLatched) {
      this.statusLatched = false;
      return this.statusValue;
    }
    if (this.latchState !== 0) {
      const v = this.latchValue;
      if (this.latchState === 2) { this.latchState = 0; return (v >>> 8) & 0xff; }
      this.latchState = this.latchState === 3 ? 2 : 0;
      return v & 0xff;
    }
    const c = this.encode(this.count(t));
    switch (this.access) {
      case 1: return c & 0xff;
      case 2: return (c >>> 8) & 0xff;
      default:
        this.readHi = !this.readHi;
        return this.readHi ? c & 0xff : (c >>> 8) & 0xff;
    }
  }

  /** a byte write of the channel's data port at tick t; true when a count was loaded */
  write(v: number, t: number): boolean {
    switch (this.access) {
      case 1: this.setCount(v, t); return true;
      case 2: this.setCount(v << 8, t); return true;
      default:
        if (!this.writeHi) {
          this.writeLatch = v;
          this.writeHi = true;
          if (this.mode === 0 && this.loaded) {
            // mode 0: the first byte stops the count and sets OUT low
            this.loaded = false;
            this.running = false;
            return true;
          }
          return false;
        }
        this.writeHi = false;
        this.setCount(this.writeLatch | (v << 8), t);
        return true;
    }
  }

  latchCount(t: number): void {
    if (this.latchState !== 0) return;
    this.latchValue = this.encode(this.count(t));
    this.latchState = this.access;
  }

  latchStatus(t: number): void {
    if (this.statusLatched) return;
    this.statusValue = this.status(t);
    this.statusLatched = true;
  }

  /** a binary count as the data port shows it (BCD when the channel counts in BCD) */
  private encode(c: number): number {
    return this.bcd ? toBcd4(c % 10000) : c & 0xffff;
  }
}

function fromBcd4(v: number): number {
  return ((v >>> 12) & 0xf) * 1000 + ((v >>> 8) & 0xf) * 100 + ((v >>> 4) & 0xf) * 10 + (v & 0xf);
}

function toBcd4(v: number): number {
  return (Math.floor(v / 1000) % 10) << 12 | (Math.floor(v / 100) % 10) << 8 | (Math.floor(v / 10) % 10) << 4 | v % 10;
}

export class Pit implements PortDevice {
  readonly ch0 = new PitChannel(true);
  readonly ch1 = new PitChannel(true);
  readonly ch2 = new PitChannel(false);
  /** port 0x61 bits 1..3 as written */
  portB = 0;
  /** the level IRQ 0 is driven at (channel 0's OUT) */
  irqLevel = false;
  /** channel 0 OUT transitions the event handler skipped (coalesced) */
  coalesced = 0;
  /** drives IRQ 0 (the machine routes it to the PIC and the I/O APIC) */
  onIrq: (level: boolean) => void = () => {};
  readonly clock: TickClock;
  private readonly event: number;

  constructor(private readonly sched: Scheduler, tscHz: number) {
    this.clock = new TickClock(PIT_HZ, tscHz);
    this.event = sched.register((due, now) => this.fire(due, now));
  }

  /** current PIT tick */
  tick(): number {
    return this.clock.tick(this.sched.now());
  }

  private channel(n: number): PitChannel {
    return n === 0 ? this.ch0 : n === 1 ? this.ch1 : this.ch2;
  }

  /** ports 0x40-0x43 and 0x61 */
  ioRead(port: number, _size: number): number {
    const t = this.tick();
    if (port === PORT_B) {
      return (this.ch2.gate ? 1 : 0) | this.portB
        | ((Math.floor(t / REFRESH_HALF_PERIOD) & 1) << 4) | (this.ch2.out(t) ? 0x20 : 0);
    }
    if (port === PIT_PORT + 3) return 0xff;
    return this.channel(port - PIT_PORT).read(t);
  }

  ioWrite(port: number, _size: number, value: number): void {
    const v = value & 0xff;
    const t = this.tick();
    if (port === PORT_B) {
      this.portB = v & 0x0e;
      this.ch2.setGate((v & 1) !== 0, t);
      return;
    }
    if (port === PIT_PORT + 3) {
      const sc = v >>> 6;
      if (sc === 3) {
        // read-back: bit 5 clear latches counts, bit 4 clear latches status
        for (let n = 0; n < 3; n++) {
          if ((v & (2 << n)) === 0) continue;
          const ch = this.channel(n);
          if ((v & 0x20) === 0) ch.latchCount(t);
          if ((v & 0x10) === 0) ch.latchStatus(t);
        }
        return;
      }
      const ch = this.channel(sc);
      if ((v & 0x30) === 0) { ch.latchCount(t); return; }
      ch.setMode(v);
      if (sc === 0) this.reschedule(t);
      return;
    }
    const n = port - PIT_PORT;
    if (this.channel(n).write(v, t) && n === 0) this.reschedule(t);
  }

  /** channel 0: drive IRQ 0 at OUT's level now and arm the event for its next change */
  private reschedule(t: number): void {
    this.drive(this.ch0.out(t));
    const next = this.ch0.nextChange(t);
    if (next === Infinity) this.sched.disarm(this.event);
    else this.sched.arm(this.event, this.clock.cycleOf(next));
  }

  private drive(level: boolean): void {
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    this.onIrq(level);
  }

  private fire(due: number, now: number): void {
    const ch = this.ch0;
    let t = this.clock.tick(due);
    const tNow = this.clock.tick(now);
    // far behind (a long slice): jump to now, keeping one rising edge for the periods missed
    if (tNow - t > 2 * ch.reload + 4) {
      const rising = !this.irqLevel || ch.mode === 2 || ch.mode === 3;
      this.coalesced++;
      if (rising) { this.drive(false); this.drive(true); }
      t = tNow;
    }
    this.reschedule(t);
  }

  /** OUT of channel `n` now (for tests and reports) */
  out(n: number): boolean {
    return this.channel(n).out(this.tick());
  }
}
