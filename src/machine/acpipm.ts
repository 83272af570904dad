/**
 * ACPI fixed hardware: the PM1a event and control registers and the PM timer, at the PIIX4 PM
 * I/O block QEMU's pc machine uses (base 0x600; SeaBIOS programs it there), as QEMU's
 * hw/acpi/core.c implements them and ACPICA (drivers/acpi/acpica: hwtimer.c, hwsleep.c,
 * hwregs.c) drives them. The ACPI tables (FADT) name these blocks through the constants below.
 *
 *   PM1a_EVT_BLK 0x600, 4 bytes: PM1_STS (0x600, 16 bits, write 1 to clear) and PM1_EN (0x602):
 *     TMR (bit 0), GBL (5), PWRBTN (8), SLPBTN (9), RTC (10); WAK_STS (15) in PM1_STS.
 *   PM1a_CNT_BLK 0x604, 2 bytes: SCI_EN (0, reads 1: there is no SMI_CMD port, so the machine is
 *     always in ACPI mode), BM_RLD (1), GBL_RLS (2), SLP_TYP (12:10), SLP_EN (13, write only).
 *     Writing SLP_EN with SLP_TYP = ACPI_SLP_TYP_S5 (0, as QEMU's PIIX4 and its DSDT's _S5) powers
 *     the machine off: the run ends as a debug exit with status 0. Other sleep types (S1-S4) are
 *     not supported: the write is counted in `unsupportedSleeps` and the machine runs on.
 *   PM_TMR_BLK 0x608, 4 bytes: the PM timer, 24 bits (FADT TMR_VAL_EXT = 0), counting at
 *     3.579545 MHz from cycle 0 (clock.ts). TMR_STS is set each time bit 23 changes.
 *
 * The SCI (ACPI_SCI_IRQ, 9, level-triggered: the MADT override) is asserted while a status bit
 * and its enable are both set. Nothing raises the power button, sleep button or RTC status here
 * (the RTC's alarm is not wired to RTC_STS).
 */

import { PM_TIMER_HZ, TickClock } from './clock.js';
import type { PortDevice } from './iobus.js';
import type { Scheduler } from './scheduler.js';

export const ACPI_PM_BASE = 0x600;
export const ACPI_PM1A_EVT_BLK = 0x600;
export const ACPI_PM1_EVT_LEN = 4;
export const ACPI_PM1A_CNT_BLK = 0x604;
export const ACPI_PM1_CNT_LEN = 2;
export const ACPI_PM_TMR_BLK = 0x608;
export const ACPI_PM_TMR_LEN = 4;
/** ports of the whole block, 0x600-0x60B */
export const ACPI_PM_SIZE = 12;
export const ACPI_SCI_IRQ = 9;
/** SLP_TYP of S5 (soft off): the DSDT's _S5 package must give this value */
export const ACPI_SLP_TYP_S5 = 0;
/** FADT.IAPC_BOOT_ARCH: LEGACY_DEVICES (bit 0: the RTC, PIT, PICs) and 8042 (bit 1) */
export const ACPI_IAPC_BOOT_ARCH = 0x0003;
/** FADT.SMI_CMD = 0: no SMI command port; the machine is always in ACPI mode (SCI_EN reads 1) */
export const ACPI_SMI_CMD = 0;

const TMR_STS = 0x0001;
const TMR_BIT = 1 << 23;
/** status bits with an enable bit */
const EN_BITS = 0x0721;
const STS_BITS = 0x8731;

export class AcpiPm implements PortDevice {
  sts = 0;
  en = 0;
  /** PM1_CNT as written (SCI_EN always reads 1, SLP_EN never) */
  cnt = 0;
  /** timer tick up to which TMR_STS is computed */
  tmrTick = 0;
  sciLevel = false;
  unsupportedSleeps = 0;
  onSci: (level: boolean) => void = () => {};
  /** the guest entered S5 */
  onPowerOff: () => void = () => {};
  readonly clock: TickClock;
  private readonly event: number;

  constructor(private readonly sched: Scheduler, tscHz: number) {
    this.clock = new TickClock(PM_TIMER_HZ, tscHz);
    this.event = sched.register((_due, now) => { this.sync(this.clock.tick(now)); this.update(); });
  }

  /** the PM timer's 24-bit value now */
  timer(): number {
    return this.clock.tick(this.sched.now()) & 0xffffff;
  }

  /** TMR_STS: bit 23 of the timer changed since the last look */
  private sync(t: number): void {
    if (Math.floor(t / TMR_BIT) > Math.floor(this.tmrTick / TMR_BIT)) this.sts |= TMR_STS;
    if (t > this.tmrTick) this.tmrTick = t;
  }

  private update(): void {
    const sci = (this.sts & this.en & EN_BITS) !== 0;
    if (sci !== this.sciLevel) { this.sciLevel = sci; this.onSci(sci); }
    if ((this.en & TMR_STS) !== 0 && (this.sts & TMR_STS) === 0) {
      this.sched.arm(this.event, this.clock.cycleOf((Math.floor(this.tmrTick / TMR_BIT) + 1) * TMR_BIT));
    } else {
      this.sched.disarm(this.event);
    }
  }

  private readByte(port: number): number {
    const off = port - ACPI_PM_BASE;
    if (off < 4) {
      this.sync(this.clock.tick(this.sched.now()));
      const reg = off < 2 ? this.sts : this.en;
      return (reg >>> (8 * (off & 1))) & 0xff;
    }
    if (off < 6) return (((this.cnt & ~0x2000) | 1) >>> (8 * (off & 1))) & 0xff;
    if (off < 8) return 0xff;
    if (off < 11) return (this.timer() >>> (8 * (off - 8))) & 0xff;
    return off === 11 ? 0 : 0xff;
  }

  private writeByte(port: number, v: number): void {
    const off = port - ACPI_PM_BASE;
    const sh = 8 * (off & 1);
    if (off < 2) {
      this.sync(this.clock.tick(this.sched.now()));
      this.sts &= ~((v << sh) & STS_BITS);
    } else if (off < 4) {
      this.en = (this.en & ~(0xff << sh)) | ((v << sh) & EN_BITS);
    } else if (off < 6) {
      this.cnt = (this.cnt & ~(0xff << sh)) | ((v << sh) & 0x3c06);
      if ((this.cnt & 0x2000) !== 0) {
        this.cnt &= ~0x2000;
        if (((this.cnt >>> 10) & 7) === ACPI_SLP_TYP_S5) this.onPowerOff();
        else this.unsupportedSleeps++;
      }
    }
  }

  /** ports 0x600-0x60B, any width */
  ioRead(port: number, size: number): number {
    if (size === 4 && port === ACPI_PM_TMR_BLK) return this.timer();
    let v = 0;
    for (let k = 0; k < size; k++) v |= this.readByte(port + k) << (8 * k);
    return v >>> 0;
  }

  ioWrite(port: number, size: number, value: number): void {
    // a 16-bit PM1_CNT write sets SLP_TYP and SLP_EN together: the high byte carries both
    for (let k = 0; k < size; k++) {
      if (port + k < ACPI_PM_BASE + ACPI_PM_SIZE) this.writeByte(port + k, (value >>> (8 * k)) & 0xff);
    }
    this.update();
  }
}
