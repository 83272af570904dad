import { describe, expect, it } from 'vitest';
import { IoBus, Width } from '../src/machine/iobus.js';
import { Pit } from '../src/machine/pit.js';
import { Scheduler } from '../src/machine/scheduler.js';
import { DEFAULT_TSC_HZ, PIT_HZ, TickClock } from '../src/machine/clock.js';

/** a PIT on a standalone scheduler; 4 cycles per PIT clock unless told otherwise */
function pitRig(tscHz = PIT_HZ * 4) {
  const sched = new Scheduler();
  const pit = new Pit(sched, tscHz);
  const bus = new IoBus();
  bus.register(0x40, 4, pit, Width.B);
  bus.register(0x61, 1, pit, Width.B);
  const edges: [number, boolean][] = [];
  pit.onIrq = (l) => edges.push([pit.clock.tick(sched.now()), l]);
  const out = (p: number, v: number) => bus.portOut(p, 1, v);
  const inb = (p: number) => bus.portIn(p, 1);
  /** move to PIT tick t (firing events on the way) */
  const at = (t: number) => sched.advanceTo(pit.clock.cycleOf(t));
  return { sched, pit, out, inb, edges, at };
}

describe('clock', () => {
  it('maps cycles to ticks monotonically and back', () => {
    const c = new TickClock(PIT_HZ, DEFAULT_TSC_HZ);
    let last = -1;
    for (let k = 0; k < 2000; k++) {
      const cyc = k * 997 + 123456789012;
      const t = c.tick(cyc);
      expect(t).toBeGreaterThanOrEqual(last);
      last = t;
      const back = c.cycleOf(t);
      expect(c.tick(back)).toBe(t);
      expect(c.tick(back - 1)).toBe(t - 1);
    }
    // one PIT clock is about 1676 cycles at 2 GHz
    expect(c.cycleOf(1193182)).toBe(2_000_000_000);
  });
});

describe('8254 PIT', () => {
  it('mode 0: OUT rises at terminal count, once, and raises IRQ 0', () => {
    const { pit, out, edges, at } = pitRig();
    at(10);
    out(0x43, 0x30); // channel 0, lo/hi, mode 0
    out(0x40, 100); out(0x40, 0);
    expect(pit.out(0)).toBe(false);
    at(109);
    expect(pit.out(0)).toBe(false);
    at(110);
    expect(pit.out(0)).toBe(true);
    at(5000);
    expect(edges).toEqual([[110, true]]);
  });

  it('mode 2: OUT low for one clock every N, an IRQ edge per period', () => {
    const { out, edges, at } = pitRig();
    out(0x43, 0x34); // channel 0, lo/hi, mode 2 (Linux's periodic PIT)
    out(0x40, 10); out(0x40, 0);
    for (let t = 1; t <= 35; t++) at(t);
    expect(edges).toEqual([[0, true], [9, false], [10, true], [19, false], [20, true], [29, false], [30, true]]);
  });

  it('mode 3: square wave, count going down by 2', () => {
    const { pit, out, inb, edges, at } = pitRig();
    out(0x43, 0x36);
    out(0x40, 10); out(0x40, 0);
    at(2);
    out(0x43, 0x00); // latch channel 0
    expect(inb(0x40) | (inb(0x40) << 8)).toBe(6);
    for (let t = 3; t <= 21; t++) at(t);
    expect(edges).toEqual([[0, true], [5, false], [10, true], [15, false], [20, true]]);
    expect(pit.out(0)).toBe(true);
  });

  it('latches: the count stays until read, a second latch is ignored; read-back gives status', () => {
    const { out, inb, at } = pitRig();
    out(0x43, 0xb0); // channel 2, lo/hi, mode 0
    out(0x61, 0x01); // gate 2 high
    out(0x42, 0x00); out(0x42, 0x10); // 0x1000
    at(0x100);
    out(0x43, 0x80); // latch channel 2
    at(0x200);
    out(0x43, 0x80); // ignored: still latched
    expect(inb(0x42)).toBe(0x00);
    at(0x300);
    expect(inb(0x42)).toBe(0x0f); // 0x1000 - 0x100
    expect(inb(0x42) | (inb(0x42) << 8)).toBe(0x1000 - 0x300); // live
    // read-back: status and count of channel 2
    out(0x43, 0xc8);
    expect(inb(0x42)).toBe(0x30); // OUT low, count loaded, RW 11, mode 0, binary
    expect(inb(0x42) | (inb(0x42) << 8)).toBe(0x1000 - 0x300);
    // null count right after a write, gone a clock later
    out(0x42, 0x34); out(0x42, 0x12);
    out(0x43, 0xe8);
    expect(inb(0x42)).toBe(0x70);
    at(0x301);
    out(0x43, 0xe8);
    expect(inb(0x42)).toBe(0x30);
    // gate low pauses mode 0
    at(0x310);
    out(0x61, 0x00);
    at(0x400);
    out(0x43, 0x80);
    expect(inb(0x42) | (inb(0x42) << 8)).toBe(0x1234 - 0x10);
  });

  it('counts in BCD and reads LSB-only or MSB-only', () => {
    const { out, inb, at } = pitRig();
    out(0x43, 0x51); // channel 1, LSB only, mode 0, BCD
    out(0x41, 0x99);
    at(9);
    expect(inb(0x41)).toBe(0x90);
    out(0x43, 0x60); // channel 1, MSB only, mode 0, binary
    out(0x41, 0x12);
    at(9 + 0x100);
    expect(inb(0x41)).toBe(0x11);
  });

  it('polled as Linux calibrates the TSC: channel 2, mode 0, OUT2 on port 0x61', () => {
    const { sched, out, inb, pit } = pitRig(DEFAULT_TSC_HZ);
    // pit_calibrate_tsc: gate high, speaker off; mode 0 with latch = 1193182 / 20 (50 ms)
    out(0x61, (inb(0x61) & ~0x02) | 0x01);
    out(0x43, 0xb0);
    const latch = Math.floor(PIT_HZ / 20);
    out(0x42, latch & 0xff); out(0x42, latch >>> 8);
    const t0 = sched.now();
    let polls = 0;
    // each poll costs 600 cycles (about an IN on real hardware)
    while ((inb(0x61) & 0x20) === 0) { sched.time += 600; polls++; }
    const delta = sched.now() - t0;
    // tsc_khz = delta / 50 ms
    const khz = delta / 50;
    expect(Math.abs(khz - DEFAULT_TSC_HZ / 1000)).toBeLessThan(DEFAULT_TSC_HZ / 1000 / 2000);
    expect(polls).toBeGreaterThan(100000);
    // quick_pit_calibrate reads lo then hi without latching: the MSB falls by one per 256 clocks
    out(0x43, 0xb0); out(0x42, 0xff); out(0x42, 0xff);
    inb(0x42); expect(inb(0x42)).toBe(0xff);
    sched.time += pit.clock.cycleOf(pit.tick() + 256) - sched.now();
    inb(0x42); expect(inb(0x42)).toBe(0xfe);
  });

  it('modes 1 and 5 start on a gate rising edge; mode 4 strobes once', () => {
    const { out, inb, at, pit } = pitRig();
    out(0x43, 0xb2); // channel 2, lo/hi, mode 1
    out(0x42, 10); out(0x42, 0);
    at(5);
    expect(pit.out(2)).toBe(true); // waits for the trigger
    out(0x61, 0x01); // gate rises at 5
    expect(pit.out(2)).toBe(false);
    at(14);
    expect(pit.out(2)).toBe(false);
    at(15);
    expect(pit.out(2)).toBe(true);
    out(0x61, 0x00); out(0x61, 0x01); // retrigger at 15
    expect(pit.out(2)).toBe(false);
    at(25);
    expect(inb(0x61) & 0x20).toBe(0x20);
    out(0x43, 0xba); // mode 5
    out(0x42, 4); out(0x42, 0);
    out(0x61, 0x00); at(30); out(0x61, 0x01);
    at(33);
    expect(pit.out(2)).toBe(true);
    at(34);
    expect(pit.out(2)).toBe(false);
    at(35);
    expect(pit.out(2)).toBe(true);
    out(0x43, 0xb8); // mode 4, software triggered
    out(0x42, 3); out(0x42, 0);
    at(37);
    expect(pit.out(2)).toBe(true);
    at(38);
    expect(pit.out(2)).toBe(false);
    at(39);
    expect(pit.out(2)).toBe(true);
    at(100);
    expect(pit.out(2)).toBe(true);
  });

  it('mode 2 and 3 stop with the gate low (OUT high) and reload on its rising edge', () => {
    const { out, inb, at, pit } = pitRig();
    out(0x61, 0x01);
    out(0x43, 0xb4); // channel 2, mode 2
    out(0x42, 100); out(0x42, 0);
    at(40);
    out(0x61, 0x00);
    at(99);
    expect(pit.out(2)).toBe(true);
    out(0x43, 0x80);
    expect(inb(0x42) | (inb(0x42) << 8)).toBe(60); // held
    out(0x61, 0x01); // reload at 99
    at(198);
    expect(pit.out(2)).toBe(false);
    at(199);
    expect(pit.out(2)).toBe(true);
  });

  it('toggles the refresh bit every 18 clocks and keeps port 0x61 bits', () => {
    const { out, inb, at } = pitRig();
    out(0x61, 0x0f);
    expect(inb(0x61) & 0x0f).toBe(0x0f);
    at(17);
    expect(inb(0x61) & 0x10).toBe(0);
    at(18);
    expect(inb(0x61) & 0x10).toBe(0x10);
    at(36);
    expect(inb(0x61) & 0x10).toBe(0);
  });
});
