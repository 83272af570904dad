/**
 * The MC146818 real-time clock and its 128 bytes of CMOS RAM (index port 0x70, data port 0x71,
 * IRQ 8), as QEMU's hw/rtc/mc146818rtc.c and the MC146818A datasheet describe it and Linux's
 * drivers/rtc/rtc-mc146818-lib.c uses it.
 *
 * Time is deterministic: the clock reads `epoch` (Unix seconds, default 2026-01-01 00:00:00 UTC,
 * the machine option `rtcEpoch`) at cycle 0 and advances with the cycle counter through the
 * 32.768 kHz time base (clock.ts). Nothing ticks while the CPU runs: the time registers are
 * computed from the current tick when read, and the interrupt flags are brought up to date
 * (`sync`) when register C is read, when the control registers change, and by a scheduler event
 * armed only for the next flag that has its interrupt enabled.
 *
 * Registers: 0 seconds, 1 seconds alarm, 2 minutes, 3 minutes alarm, 4 hours, 5 hours alarm, 6
 * day of week (1 = Sunday), 7 day of month, 8 month, 9 year, 0x32 century (as the FADT's CENTURY
 * field names it). Values are BCD unless register B's DM bit (2) is set; hours are 12-hour with
 * bit 7 = PM unless B's 24/12 bit (1) is set. The format applies when the registers are read
 * (the clock is kept as a count of seconds), so changing DM converts the time; QEMU does the
 * same.
 *   A: UIP (7, read only) DV2-0 (6:4) RS3-0 (3:0); reset 0x26. UIP is 1 for the last 244 us (8
 *      time-base clocks) of each second, before the update (QEMU's UIP_HOLD_LENGTH). DV = 11x
 *      holds the divider in reset: time and the periodic interrupt stop; on release the first
 *      update comes 500 ms later. DV 000 and 001 (other crystals) are treated as 010, as QEMU does.
 *   B: SET (7) PIE (6) AIE (5) UIE (4) SQWE (3) DM (2) 24/12 (1) DSE (0); reset 0x02. SET stops
 *      updates (the time registers hold what is written) and clears UIE; clearing SET starts the
 *      clock from the registers, the next update one second later. A time register written while
 *      the clock runs sets the clock at once (QEMU does the same). DSE and SQWE are stored only.
 *   C: IRQF (7) PF (6) AF (5) UF (4), read only, cleared by reading. PF is set every periodic
 *      interval (RS: 1 and 2 are 256 and 128 Hz as 8 and 9, otherwise 65536 >> RS Hz) while the
 *      divider runs, AF when an update reaches the alarm time (an alarm byte with bits 7:6 = 11
 *      matches anything), UF after each update. IRQF = PF.PIE + AF.AIE + UF.UIE, and the IRQ 8
 *      line is asserted while IRQF is set: a guest that does not read C gets no more interrupts.
 *   D: VRT (7) = 1 (the battery is good).
 *
 * Port 0x70 bit 7 is the chipset's NMI mask (1 = external NMIs disabled): it is kept in
 * `nmiMasked` and gates nothing, because nothing on this machine raises an external NMI (the
 * IOCHK/SERR sources of port 0x61 are never set; the local APIC's NMIs do not pass through it).
 * Port 0x70 reads 0xFF (it is write-only; QEMU does the same).
 *
 * CMOS RAM as a PC BIOS leaves it: 0x10 no floppy, 0x15-0x16 base memory 640 KiB, 0x17-0x18 and
 * 0x30-0x31 extended memory above 1 MiB in KiB (at most 0xFFFF), 0x34-0x35 memory above 16 MiB
 * in 64 KiB units, 0x5B-0x5D memory above 4 GiB in 64 KiB units, 0x2E-0x2F the checksum of
 * 0x10-0x2D, 0x5F the number of CPUs minus one (QEMU's convention).
 */

import { RTC_HZ, TickClock } from './clock.js';
import type { PortDevice } from './iobus.js';
import type { Scheduler } from './scheduler.js';

export const RTC_PORT = 0x70;
export const RTC_IRQ = 8;
/** CMOS index of the century byte (FADT.CENTURY) */
export const CMOS_CENTURY = 0x32;
/** 2026-01-01 00:00:00 UTC */
export const DEFAULT_RTC_EPOCH = 1767225600;

const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_DM = 0x04;
const B_24H = 0x02;
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;
const SECOND = RTC_HZ;
/** UIP is set this many time-base clocks before each update */
const UIP_HOLD = 8;
const DAY = 86400;
/** the registers that hold the time (the alarm bytes 1, 3, 5 do not) */
const TIME_REGS = [0, 2, 4, 6, 7, 8, 9, CMOS_CENTURY];

/** days since 1970-01-01 of a proleptic Gregorian date (month 1..12) */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const mp = (m + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** the date of a day count since 1970-01-01: [year, month 1..12, day 1..31] */
export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const toBcd = (v: number) => (Math.floor(v / 10) % 10) * 16 + (v % 10);
const fromBcd = (v: number) => (v >>> 4) * 10 + (v & 0xf);

export interface RtcOptions {
  /** Unix seconds the clock shows at cycle 0 */
  epoch?: number;
  /** RAM size in bytes, for the CMOS memory-size bytes */
  memSize?: number;
}

export class Rtc implements PortDevice {
  index = 0;
  /** port 0x70 bit 7: external NMIs disabled (see above: recorded, gates nothing) */
  nmiMasked = false;
  readonly ram = new Uint8Array(128);
  /** the clock shows baseSeconds at 32 kHz tick baseTick while it runs */
  baseSeconds: number;
  baseTick = 0;
  /** the periodic interrupt counts from here (divider reset) */
  divTick = 0;
  /** tick up to which the flags in register C are computed */
  syncTick = 0;
  /** the IRQ 8 level */
  irqLevel = false;
  onIrq: (level: boolean) => void = () => {};
  readonly clock: TickClock;
  private readonly event: number;

  constructor(private readonly sched: Scheduler, tscHz: number, opts: RtcOptions = {}) {
    this.clock = new TickClock(RTC_HZ, tscHz);
    this.event = sched.register((_due, now) => this.fire(now));
    this.baseSeconds = Math.floor(opts.epoch ?? DEFAULT_RTC_EPOCH);
    const r = this.ram;
    r[REG_A] = 0x26;
    r[REG_B] = B_24H;
    r[REG_D] = 0x80;
    this.fillMemorySize(opts.memSize ?? 0);
    r[0x5f] = 0;
  }

  private fillMemorySize(size: number): void {
    const r = this.ram;
    r[0x15] = 640 & 0xff; r[0x16] = 640 >>> 8;
    const ext = Math.min(0xffff, Math.max(0, Math.floor(size / 1024) - 1024));
    r[0x17] = r[0x30] = ext & 0xff;
    r[0x18] = r[0x31] = ext >>> 8;
    const below4g = Math.min(size, 0x100000000);
    const above16m = Math.min(0xffff, Math.max(0, Math.floor((below4g - 0x1000000) / 0x10000)));
    r[0x34] = above16m & 0xff; r[0x35] = above16m >>> 8;
    const above4g = Math.max(0, Math.floor((size - 0x100000000) / 0x10000));
    r[0x5b] = above4g & 0xff; r[0x5c] = (above4g >>> 8) & 0xff; r[0x5d] = (above4g >>> 16) & 0xff;
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += r[i];
    r[0x2e] = (sum >>> 8) & 0xff; r[0x2f] = sum & 0xff;
  }

  private tick(): number {
    return this.clock.tick(this.sched.now());
  }

  /** the divider chain runs (DV is not 11x) */
  private dividerRuns(): boolean {
    return (this.ram[REG_A] & 0x60) !== 0x60;
  }

  /** the time advances and the time registers are computed (divider runs, SET clear) */
  private live(): boolean {
    return this.dividerRuns() && (this.ram[REG_B] & B_SET) === 0;
  }

  /** the clock's Unix seconds at tick t (while live) */
  secondsAt(t: number): number {
    return this.baseSeconds + Math.floor((t - this.baseTick) / SECOND);
  }

  /** the Unix seconds the clock shows now */
  now(): number {
    return this.live() ? this.secondsAt(this.tick()) : this.parseTime();
  }

  /** periodic interval in time-base clocks, 0 when RS = 0 */
  periodTicks(): number {
    let rs = this.ram[REG_A] & 0xf;
    if (rs === 0) return 0;
    if (rs <= 2) rs += 7;
    return 1 << (rs - 1);
  }

  // ---- formats ----

  private enc(v: number): number {
    return (this.ram[REG_B] & B_DM) !== 0 ? v : toBcd(v);
  }

  private dec(v: number): number {
    return (this.ram[REG_B] & B_DM) !== 0 ? v : fromBcd(v);
  }

  private encHour(h: number): number {
    if ((this.ram[REG_B] & B_24H) !== 0) return this.enc(h);
    const h12 = h % 12 === 0 ? 12 : h % 12;
    return this.enc(h12) | (h >= 12 ? 0x80 : 0);
  }

  private decHour(v: number): number {
    if ((this.ram[REG_B] & B_24H) !== 0) return this.dec(v);
    const h = this.dec(v & 0x7f) % 12;
    return (v & 0x80) !== 0 ? h + 12 : h;
  }

  /** write the time `secs` into the time registers in the current format */
  private storeTime(secs: number): void {
    const r = this.ram;
    const days = Math.floor(secs / DAY);
    const tod = secs - days * DAY;
    const [y, mo, d] = civilFromDays(days);
    r[0] = this.enc(tod % 60);
    r[2] = this.enc(Math.floor(tod / 60) % 60);
    r[4] = this.encHour(Math.floor(tod / 3600));
    r[6] = this.enc(((days % 7) + 11) % 7 + 1);
    r[7] = this.enc(d);
    r[8] = this.enc(mo);
    r[9] = this.enc(y % 100);
    r[CMOS_CENTURY] = this.enc(Math.floor(y / 100));
  }

  /** the time the registers hold, as Unix seconds */
  private parseTime(): number {
    const r = this.ram;
    const y = this.dec(r[CMOS_CENTURY]) * 100 + this.dec(r[9]);
    const days = daysFromCivil(y, this.dec(r[8]), this.dec(r[7]));
    return days * DAY + this.decHour(r[4]) * 3600 + this.dec(r[2]) * 60 + this.dec(r[0]);
  }

  // ---- flags and the interrupt ----

  private alarmMatches(secs: number): boolean {
    const r = this.ram;
    const tod = ((secs % DAY) + DAY) % DAY;
    const dontCare = (v: number) => (v & 0xc0) === 0xc0;
    return (dontCare(r[1]) || r[1] === this.enc(tod % 60))
      && (dontCare(r[3]) || r[3] === this.enc(Math.floor(tod / 60) % 60))
      && (dontCare(r[5]) || r[5] === this.encHour(Math.floor(tod / 3600)));
  }

  /** bring register C up to tick t */
  private sync(t: number): void {
    const from = this.syncTick;
    if (t <= from) return;
    this.syncTick = t;
    if (!this.dividerRuns()) return;
    const r = this.ram;
    const p = this.periodTicks();
    if (p !== 0 && Math.floor((t - this.divTick) / p) > Math.floor((from - this.divTick) / p)) r[REG_C] |= C_PF;
    if ((r[REG_B] & B_SET) !== 0) return;
    const s0 = Math.floor((from - this.baseTick) / SECOND);
    const s1 = Math.floor((t - this.baseTick) / SECOND);
    if (s1 > s0) {
      r[REG_C] |= C_UF;
      // an alarm time of day recurs daily: one day of updates covers every match
      for (let k = Math.max(s0 + 1, s1 - DAY); k <= s1; k++) {
        if (this.alarmMatches(this.baseSeconds + k)) { r[REG_C] |= C_AF; break; }
      }
    }
  }

  /** IRQF and the IRQ 8 line from the flags and enables; arm the event for the next flag */
  private update(t: number): void {
    const r = this.ram;
    const c = r[REG_C];
    const b = r[REG_B];
    const irqf = ((c & C_PF) !== 0 && (b & B_PIE) !== 0) || ((c & C_AF) !== 0 && (b & B_AIE) !== 0)
      || ((c & C_UF) !== 0 && (b & B_UIE) !== 0);
    if (irqf) r[REG_C] |= C_IRQF;
    if (irqf !== this.irqLevel) {
      this.irqLevel = irqf;
      this.onIrq(irqf);
    }
    let next = Infinity;
    if (!irqf && this.dividerRuns()) {
      const p = this.periodTicks();
      if (p !== 0 && (b & B_PIE) !== 0) next = this.divTick + (Math.floor((t - this.divTick) / p) + 1) * p;
      if ((b & (B_AIE | B_UIE)) !== 0 && (b & B_SET) === 0) {
        next = Math.min(next, this.baseTick + (Math.floor((t - this.baseTick) / SECOND) + 1) * SECOND);
      }
    }
    if (next === Infinity) this.sched.disarm(this.event);
    else this.sched.arm(this.event, this.clock.cycleOf(next));
  }

  private fire(now: number): void {
    const t = this.clock.tick(now);
    this.sync(t);
    this.update(t);
  }

  // ---- ports ----

  ioRead(port: number, _size: number): number {
    if (port === RTC_PORT) return 0xff;
    const i = this.index;
    const t = this.tick();
    switch (i) {
      case REG_A: {
        const uip = this.live() && ((t - this.baseTick) % SECOND + SECOND) % SECOND >= SECOND - UIP_HOLD;
        return (this.ram[REG_A] & 0x7f) | (uip ? 0x80 : 0);
      }
      case REG_C: {
        this.sync(t);
        const v = this.ram[REG_C];
        this.ram[REG_C] = 0;
        this.update(t);
        return v;
      }
      case 0: case 2: case 4: case 6: case 7: case 8: case 9: case CMOS_CENTURY:
        if (this.live()) this.storeTime(this.secondsAt(t));
        return this.ram[i];
      default:
        return this.ram[i];
    }
  }

  ioWrite(port: number, _size: number, value: number): void {
    const v = value & 0xff;
    if (port === RTC_PORT) {
      this.index = v & 0x7f;
      this.nmiMasked = (v & 0x80) !== 0;
      return;
    }
    const i = this.index;
    const t = this.tick();
    this.sync(t);
    const wasLive = this.live();
    const wasRunning = this.dividerRuns();
    if (wasLive) this.storeTime(this.secondsAt(t));
    switch (i) {
      case REG_A:
        this.ram[REG_A] = v & 0x7f;
        break;
      case REG_B: {
        let b = v;
        // SET stops updates and clears UIE (QEMU: "set mode: reset UIP mode")
        if ((b & B_SET) !== 0) b &= ~B_UIE;
        // the time registers follow a change of format: re-encode them in the new one
        const secs = this.parseTime();
        this.ram[REG_B] = b;
        this.storeTime(secs);
        break;
      }
      case REG_C: case REG_D:
        return;
      default:
        this.ram[i] = v;
    }
    const running = this.dividerRuns();
    if (running && !wasRunning) {
      // divider released from reset: the first update comes 500 ms later
      this.divTick = t;
      this.baseTick = t - SECOND / 2;
      this.baseSeconds = this.parseTime();
    } else if (this.live() && (!wasLive || TIME_REGS.includes(i))) {
      // SET cleared, or a time register written while running: the clock starts from the
      // registers, the next update one second later
      this.baseSeconds = this.parseTime();
      this.baseTick = t;
    }
    this.update(t);
  }
}
