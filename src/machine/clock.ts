/**
 * Device clocks derived from the CPU's cycle counter.
 *
 * The cycle counter is the TSC (design.md §4), so every device clock of the PC (the 8254's
 * 1.193182 MHz, the RTC's 32.768 kHz, the ACPI PM timer's 3.579545 MHz) is a function of it:
 * tick(c) = floor(c * hz / tscHz). The machine has one TSC frequency, `DEFAULT_TSC_HZ` unless a
 * machine option says otherwise; with the unit cost profile (one cycle per instruction) it
 * means 2e9 instructions per guest second. A guest that wants to know it measures it, as Linux
 * does (arch/x86/kernel/tsc.c calibrates the TSC against PIT channel 2), so the choice only
 * sets how many instructions a guest second takes.
 *
 * The mapping is computed in doubles: c * ratio is monotonic in c (IEEE rounding is monotonic),
 * so ticks never go backwards and the same cycle always gives the same tick (deterministic,
 * and exact for c * hz below 2^53). `cycleOf(t)` is the first cycle at which tick t has begun.
 */

/** TSC frequency: 2.0 GHz, the base clock of the EPYC 7002 parts the cost profiles model
 * (zen2, cost-data.md); a machine option (`tscHz`) may change it */
export const DEFAULT_TSC_HZ = 2_000_000_000;

/** the 8254's input clock (14.31818 MHz / 12) */
export const PIT_HZ = 1_193_182;
/** the RTC's time base (32.768 kHz crystal) */
export const RTC_HZ = 32_768;
/** the ACPI PM timer (14.31818 MHz / 4) */
export const PM_TIMER_HZ = 3_579_545;

export class TickClock {
  /** ticks per cycle */
  readonly ratio: number;

  constructor(readonly hz: number, readonly tscHz: number) {
    if (!(hz > 0) || !(tscHz >= hz)) throw new RangeError(`clock of ${hz} Hz from a TSC of ${tscHz} Hz`);
    this.ratio = hz / tscHz;
  }

  /** ticks that have begun by cycle `c` */
  tick(c: number): number {
    return Math.floor(c * this.ratio);
  }

  /** the first cycle at which tick `t` has begun (tick(cycleOf(t)) >= t) */
  cycleOf(t: number): number {
    if (t <= 0) return 0;
    let c = Math.ceil(t / this.ratio);
    while (this.tick(c) < t) c++;
    while (c > 0 && this.tick(c - 1) >= t) c--;
    return c;
  }
}
