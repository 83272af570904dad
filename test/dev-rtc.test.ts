import { describe, expect, it } from 'vitest';
import { IoBus, Width } from '../src/machine/iobus.js';
import { civilFromDays, daysFromCivil, DEFAULT_RTC_EPOCH, Rtc } from '../src/machine/rtc.js';
import { Scheduler } from '../src/machine/scheduler.js';
import { RTC_HZ } from '../src/machine/clock.js';

const TSC = 1_000_000_000;

function rtcRig(opts: { epoch?: number; memSize?: number } = {}) {
  const sched = new Scheduler();
  const rtc = new Rtc(sched, TSC, opts);
  const bus = new IoBus();
  bus.register(0x70, 2, rtc, Width.B);
  const rd = (i: number) => { bus.portOut(0x70, 1, i); return bus.portIn(0x71, 1); };
  const wr = (i: number, v: number) => { bus.portOut(0x70, 1, i); bus.portOut(0x71, 1, v); };
  let irqs = 0;
  rtc.onIrq = (l) => { if (l) irqs++; };
  /** seconds (as a float) to cycles */
  const at = (s: number) => sched.advanceTo(Math.round(s * TSC));
  return { sched, rtc, bus, rd, wr, at, irqs: () => irqs };
}

describe('MC146818 RTC and CMOS', () => {
  it('converts dates both ways', () => {
    expect(daysFromCivil(1970, 1, 1)).toBe(0);
    expect(daysFromCivil(2026, 1, 1) * 86400).toBe(DEFAULT_RTC_EPOCH);
    expect(civilFromDays(daysFromCivil(2000, 2, 29))).toEqual([2000, 2, 29]);
    for (let d = -800000; d < 800000; d += 9973) expect(daysFromCivil(...civilFromDays(d))).toBe(d);
  });

  it('shows the epoch in BCD 24-hour form and advances with the cycle clock', () => {
    const { rd, at } = rtcRig();
    expect([rd(0), rd(2), rd(4), rd(7), rd(8), rd(9), rd(0x32)]).toEqual([0, 0, 0, 0x01, 0x01, 0x26, 0x20]);
    expect(rd(6)).toBe(5); // 2026-01-01 is a Thursday (Sunday = 1)
    expect(rd(0x0a)).toBe(0x26);
    expect(rd(0x0b)).toBe(0x02);
    expect(rd(0x0d)).toBe(0x80);
    at(3723.5); // 1:02:03.5
    expect([rd(4), rd(2), rd(0)]).toEqual([0x01, 0x02, 0x03]);
  });

  it('binary and 12-hour formats follow register B', () => {
    const { rd, wr, at } = rtcRig({ epoch: DEFAULT_RTC_EPOCH + 13 * 3600 + 59 * 60 + 58 });
    wr(0x0b, 0x04); // binary, 12-hour
    expect([rd(4), rd(2), rd(0)]).toEqual([0x81, 59, 58]); // 1 PM
    at(2.5);
    expect([rd(4), rd(2), rd(0)]).toEqual([0x82, 0, 0]);
    wr(0x0b, 0x06);
    expect(rd(4)).toBe(14);
  });

  it('sets UIP only for the 244 us before each update', () => {
    const { rd, at } = rtcRig();
    at(0.5);
    expect(rd(0x0a) & 0x80).toBe(0);
    at(1 - 250e-6);
    expect(rd(0x0a) & 0x80).toBe(0);
    at(1 - 240e-6);
    expect(rd(0x0a) & 0x80).toBe(0x80);
    expect(rd(0)).toBe(0x00); // the update has not happened yet
    at(1.0000001);
    expect(rd(0x0a) & 0x80).toBe(0);
    expect(rd(0)).toBe(0x01);
  });

  it('periodic interrupt at the RS rate, held until register C is read', () => {
    const { rd, wr, at, irqs, rtc } = rtcRig();
    rd(0x0c);
    wr(0x0b, 0x42); // PIE
    // 1024 Hz (RS = 6): read C in every "handler"
    let n = 0;
    for (let k = 1; k <= 2048; k++) {
      at(k / 2048);
      if (irqs() > n) { n = irqs(); expect(rd(0x0c) & 0xc0).toBe(0xc0); }
    }
    expect(irqs()).toBe(1024);
    // without a read of C, no further interrupt
    at(1.01);
    const before = irqs();
    at(1.2);
    expect(irqs()).toBe(before);
    expect(rd(0x0c)).toBe(0xc0);
    expect(rd(0x0c)).toBe(0);
    // RS = 15: 2 Hz
    wr(0x0a, 0x2f);
    const start = irqs();
    for (let k = 0; k < 40; k++) { at(1.2 + k * 0.05); if (rtc.irqLevel) rd(0x0c); }
    expect(irqs() - start).toBe(4); // at 1.5, 2.0, 2.5 and 3.0 s
  });

  it('update-ended and alarm interrupts; SET freezes the clock and clears UIE', () => {
    const { rd, wr, at, irqs } = rtcRig();
    wr(0x01, 0x05); wr(0x03, 0xc0); wr(0x05, 0xff); // alarm at second 5 of any minute and hour
    wr(0x0b, 0x22); // AIE
    at(4.9);
    expect(irqs()).toBe(0);
    at(5.01);
    expect(irqs()).toBe(1);
    expect(rd(0x0c)).toBe(0xf0); // IRQF, PF (RS = 6 runs without PIE), AF, UF
    wr(0x0b, 0x12); // UIE
    at(6.01);
    expect(irqs()).toBe(2);
    expect(rd(0x0c) & 0xb0).toBe(0x90);
    // SET: the registers hold what is written; clearing it starts the clock from them
    wr(0x0b, 0x92);
    expect(rd(0x0b)).toBe(0x82); // UIE cleared
    wr(0x04, 0x23); wr(0x02, 0x59); wr(0x00, 0x59); wr(0x07, 0x31); wr(0x08, 0x12); wr(0x09, 0x99); wr(0x32, 0x19);
    at(20);
    expect(rd(0x00)).toBe(0x59);
    wr(0x0b, 0x02);
    at(21.01);
    expect([rd(0x32), rd(0x09), rd(0x08), rd(0x07), rd(0x04), rd(0x02), rd(0x00)]).toEqual([0x20, 0x00, 0x01, 0x01, 0, 0, 0]);
    expect(rd(0x06)).toBe(7); // 2000-01-01 was a Saturday
  });

  it('holds the divider in reset and restarts with the first update 500 ms later', () => {
    const { rd, wr, at } = rtcRig();
    wr(0x0a, 0x76);
    at(10);
    expect(rd(0)).toBe(0);
    wr(0x0a, 0x26);
    at(10.49);
    expect(rd(0)).toBe(0);
    at(10.51);
    expect(rd(0)).toBe(1);
  });

  it('keeps CMOS RAM, the NMI mask bit and the memory-size bytes', () => {
    const { rd, wr, bus, rtc } = rtcRig({ memSize: 256 * 1024 * 1024 });
    expect(rd(0x15) | (rd(0x16) << 8)).toBe(640);
    expect(rd(0x17) | (rd(0x18) << 8)).toBe(0xffff);
    expect(rd(0x30) | (rd(0x31) << 8)).toBe(0xffff);
    expect(rd(0x34) | (rd(0x35) << 8)).toBe((256 - 16) * 16);
    expect([rd(0x5b), rd(0x5c), rd(0x5d)]).toEqual([0, 0, 0]);
    wr(0x40, 0xa5);
    expect(rd(0x40)).toBe(0xa5);
    bus.portOut(0x70, 1, 0x80 | 0x40);
    expect(rtc.nmiMasked).toBe(true);
    expect(bus.portIn(0x71, 1)).toBe(0xa5);
    expect(bus.portIn(0x70, 1)).toBe(0xff);
    const small = rtcRig({ memSize: 8 * 1024 * 1024 });
    expect(small.rd(0x17) | (small.rd(0x18) << 8)).toBe(7 * 1024);
    expect(small.rd(0x34) | (small.rd(0x35) << 8)).toBe(0);
    expect(RTC_HZ).toBe(32768);
  });
});
