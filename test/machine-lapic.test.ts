import { describe, expect, it } from 'vitest';
import { ApicReg, LocalApic, APIC_VERSION } from '../src/machine/lapic.js';
import { Scheduler } from '../src/machine/scheduler.js';

function apic(opts: { id?: number; cyclesPerTick?: number } = {}) {
  const sched = new Scheduler();
  const a = new LocalApic(sched, opts);
  let signals = 0;
  a.onSignal = () => { signals++; };
  const rd = (r: number) => a.mmioRead(r, 4) >>> 0;
  const wr = (r: number, v: number) => a.mmioWrite(r, 4, v);
  wr(ApicReg.Svr, 0x1ff); // software-enable, spurious vector 0xFF
  return { sched, a, rd, wr, signals: () => signals };
}

const irrHas = (a: LocalApic, v: number) => ((a.irr[v >>> 5] >>> (v & 31)) & 1) === 1;

describe('local APIC registers', () => {
  it('comes out of reset as the manual says', () => {
    const a = new LocalApic(new Scheduler(), { id: 3 });
    expect(a.mmioRead(ApicReg.Id, 4) >>> 0).toBe(0x03000000);
    expect(a.mmioRead(ApicReg.Version, 4) >>> 0).toBe(APIC_VERSION);
    expect((APIC_VERSION >>> 16) & 0xff).toBe(5); // six LVT entries
    expect(a.mmioRead(ApicReg.Svr, 4)).toBe(0xff);
    expect(a.mmioRead(ApicReg.Dfr, 4)).toBe(-1);
    for (const r of [ApicReg.LvtTimer, ApicReg.LvtThermal, ApicReg.LvtPerf, ApicReg.LvtLint0, ApicReg.LvtLint1, ApicReg.LvtError]) {
      expect(a.mmioRead(r, 4)).toBe(0x10000);
    }
    expect(a.mmioRead(ApicReg.Tpr, 4)).toBe(0);
    expect(a.mmioRead(ApicReg.ExtFeature, 4)).toBe(0);
  });

  it('keeps LVT entries masked while software-disabled and drops fixed interrupts', () => {
    const a = new LocalApic(new Scheduler());
    a.mmioWrite(ApicReg.LvtTimer, 4, 0x20);
    expect(a.mmioRead(ApicReg.LvtTimer, 4)).toBe(0x10020);
    a.accept(0x40, false);
    expect(a.hasPendingInterrupt()).toBe(false);
    a.mmioWrite(ApicReg.Svr, 4, 0x1ff);
    a.mmioWrite(ApicReg.LvtTimer, 4, 0x20);
    expect(a.mmioRead(ApicReg.LvtTimer, 4)).toBe(0x20);
    a.mmioWrite(ApicReg.Svr, 4, 0x0ff); // disabling masks every LVT entry
    expect(a.mmioRead(ApicReg.LvtTimer, 4)).toBe(0x10020);
  });

  it('reads narrow accesses out of the register and ignores narrow writes', () => {
    const { a, rd, wr } = apic();
    wr(ApicReg.Tpr, 0x5a);
    expect(a.mmioRead(ApicReg.Tpr, 1)).toBe(0x5a);
    expect(a.mmioRead(ApicReg.Version + 2, 1)).toBe(0x05);
    expect(a.mmioRead(ApicReg.Version + 2, 2)).toBe(0x8005);
    expect(a.mmioRead(ApicReg.Tpr + 4, 4)).toBe(0);
    a.mmioWrite(ApicReg.Tpr, 1, 0x10);
    a.mmioWrite(ApicReg.Tpr + 4, 4, 0x10);
    expect(rd(ApicReg.Tpr)).toBe(0x5a);
    expect(a.ignoredWrites).toBe(2);
  });

  it('keeps only the writable bits', () => {
    const { rd, wr } = apic();
    wr(ApicReg.Ldr, 0xffffffff);
    expect(rd(ApicReg.Ldr)).toBe(0xff000000);
    wr(ApicReg.Dfr, 0);
    expect(rd(ApicReg.Dfr)).toBe(0x0fffffff);
    wr(ApicReg.LvtTimer, 0xffffffff);
    expect(rd(ApicReg.LvtTimer)).toBe(0x300ff);
    wr(ApicReg.LvtLint0, 0xffffffff);
    expect(rd(ApicReg.LvtLint0)).toBe(0x1a7ff);
    wr(ApicReg.LvtError, 0xffffffff);
    expect(rd(ApicReg.LvtError)).toBe(0x100ff);
    wr(ApicReg.TimerDivide, 0xffffffff);
    expect(rd(ApicReg.TimerDivide)).toBe(0xb);
    wr(ApicReg.IcrHi, 0xffffffff);
    expect(rd(ApicReg.IcrHi)).toBe(0xff000000);
    wr(ApicReg.Version, 0); // read-only
    expect(rd(ApicReg.Version)).toBe(APIC_VERSION);
  });

  it('latches errors into ESR on write and flags illegal register addresses', () => {
    const { a, rd, wr } = apic();
    rd(0x40);
    expect(rd(ApicReg.Esr)).toBe(0);
    wr(ApicReg.Esr, 0);
    expect(rd(ApicReg.Esr)).toBe(0x80);
    wr(ApicReg.Esr, 0);
    expect(rd(ApicReg.Esr)).toBe(0);
    // an illegal vector raises the error LVT interrupt when it is unmasked
    wr(ApicReg.LvtError, 0xfe);
    wr(ApicReg.IcrLo, 0x40000 | 0x05);
    expect(irrHas(a, 0xfe)).toBe(true);
    expect(irrHas(a, 0x05)).toBe(false);
    wr(ApicReg.Esr, 0);
    expect(rd(ApicReg.Esr)).toBe(0x20);
  });
});

describe('local APIC priority', () => {
  it('takes a request only when its class is above the processor priority', () => {
    const { a, rd, wr } = apic();
    wr(ApicReg.Tpr, 0x50);
    a.accept(0x55, false);
    expect(a.highestPendingVector()).toBe(-1); // class 5 is not above TPR class 5
    expect(rd(ApicReg.Ppr)).toBe(0x50);
    a.accept(0x61, false);
    expect(a.highestPendingVector()).toBe(0x61);
    expect(rd(ApicReg.Apr)).toBe(0x60);
    expect(a.acknowledge()).toBe(0x61);
    expect(rd(ApicReg.Isr + 0x30)).toBe(1 << 1); // vector 0x61 in ISR word 3
    expect(rd(ApicReg.Irr + 0x20)).toBe(1 << 0x15); // 0x55 still requested
    expect(rd(ApicReg.Ppr)).toBe(0x60);
    a.accept(0x65, false);
    expect(a.hasPendingInterrupt()).toBe(false); // same class as the one in service
    a.accept(0x71, false);
    expect(a.acknowledge()).toBe(0x71); // a higher class nests
    expect(rd(ApicReg.Ppr)).toBe(0x70);
    wr(ApicReg.Eoi, 0);
    expect(rd(ApicReg.Ppr)).toBe(0x60);
    wr(ApicReg.Eoi, 0);
    expect(rd(ApicReg.Ppr)).toBe(0x50);
    expect(a.acknowledge()).toBe(0x65);
    wr(ApicReg.Eoi, 0);
    wr(ApicReg.Tpr, 0);
    expect(a.acknowledge()).toBe(0x55);
  });

  it('keeps the low TPR bits out of the decision and aliases CR8', () => {
    const { a, rd } = apic();
    a.setCr8(3);
    expect(rd(ApicReg.Tpr)).toBe(0x30);
    expect(a.cr8()).toBe(3);
    a.accept(0x3f, false);
    expect(a.hasPendingInterrupt()).toBe(false);
    a.accept(0x40, false);
    expect(a.highestPendingVector()).toBe(0x40);
  });

  it('returns the spurious vector when nothing can be acknowledged', () => {
    const { a, wr } = apic();
    wr(ApicReg.Svr, 0x1cf);
    expect(a.acknowledge()).toBe(0xcf);
    expect(a.isr.every((w) => w === 0)).toBe(true);
  });
});

describe('local APIC timer', () => {
  const divides: [number, number][] = [[0x0, 2], [0x1, 4], [0x2, 8], [0x3, 16], [0x8, 32], [0x9, 64], [0xa, 128], [0xb, 1]];

  for (const [dcr, div] of divides) {
    it(`one-shot with divide configuration ${dcr.toString(16)} (divide by ${div})`, () => {
      const { sched, a, rd, wr } = apic({ cyclesPerTick: 3 });
      wr(ApicReg.TimerDivide, dcr);
      wr(ApicReg.LvtTimer, 0x30);
      sched.time = 1000;
      wr(ApicReg.TimerInitial, 100);
      const period = 100 * div * 3;
      expect(a.timerDue()).toBe(1000 + period);
      expect(sched.next()).toBe(1000 + period);
      expect(rd(ApicReg.TimerCurrent)).toBe(100);
      sched.time = 1000 + 25 * div * 3;
      expect(rd(ApicReg.TimerCurrent)).toBe(75);
      sched.advanceTo(1000 + period - 1);
      expect(irrHas(a, 0x30)).toBe(false);
      expect(rd(ApicReg.TimerCurrent)).toBe(1);
      sched.advanceTo(1000 + period);
      expect(irrHas(a, 0x30)).toBe(true);
      expect(rd(ApicReg.TimerCurrent)).toBe(0);
      expect(sched.next()).toBe(Infinity);
      expect(rd(ApicReg.TimerInitial)).toBe(100);
    });
  }

  it('periodic reloads from the initial count and fires every period', () => {
    const { sched, a, rd, wr } = apic();
    wr(ApicReg.TimerDivide, 0xb); // divide by 1
    wr(ApicReg.LvtTimer, 0x20000 | 0x40);
    wr(ApicReg.TimerInitial, 50);
    const fired: number[] = [];
    for (let t = 1; t <= 200; t++) {
      sched.advanceTo(t);
      if (irrHas(a, 0x40)) { fired.push(t); a.acknowledge(); a.eoi(); }
    }
    expect(fired).toEqual([50, 100, 150, 200]);
    sched.time = 210;
    expect(rd(ApicReg.TimerCurrent)).toBe(40);
    // switching to one-shot: the running count ends once more and stops
    wr(ApicReg.LvtTimer, 0x40);
    sched.advanceTo(1000);
    expect(irrHas(a, 0x40)).toBe(true);
    expect(rd(ApicReg.TimerCurrent)).toBe(0);
    expect(sched.next()).toBe(Infinity);
  });

  it('coalesces periods that pass unseen into one request', () => {
    const { sched, a, wr } = apic();
    wr(ApicReg.TimerDivide, 0xb);
    wr(ApicReg.LvtTimer, 0x20000 | 0x40);
    wr(ApicReg.TimerInitial, 10);
    sched.advanceTo(1005);
    expect(irrHas(a, 0x40)).toBe(true);
    expect(a.acceptCount).toBe(1);
    expect(sched.next()).toBe(1010);
  });

  it('counts while masked without requesting, stops on a zero initial count', () => {
    const { sched, a, rd, wr } = apic();
    wr(ApicReg.TimerDivide, 0xb);
    wr(ApicReg.LvtTimer, 0x10000 | 0x20000 | 0x40);
    wr(ApicReg.TimerInitial, 10);
    sched.advanceTo(25);
    expect(irrHas(a, 0x40)).toBe(false);
    expect(rd(ApicReg.TimerCurrent)).toBe(5);
    wr(ApicReg.TimerInitial, 0);
    expect(rd(ApicReg.TimerCurrent)).toBe(0);
    expect(sched.next()).toBe(Infinity);
  });

  it('carries the count on at the new rate when the divide value changes', () => {
    const { sched, rd, wr, a } = apic();
    wr(ApicReg.TimerDivide, 0x0); // by 2
    wr(ApicReg.LvtTimer, 0x41);
    wr(ApicReg.TimerInitial, 100);
    sched.time = 100; // 50 counts gone
    expect(rd(ApicReg.TimerCurrent)).toBe(50);
    wr(ApicReg.TimerDivide, 0x3); // by 16
    expect(rd(ApicReg.TimerCurrent)).toBe(50);
    expect(a.timerDue()).toBe(100 + 50 * 16);
  });

  it('restarts the count when the initial count is rewritten', () => {
    const { sched, rd, wr, a } = apic();
    wr(ApicReg.TimerDivide, 0xb);
    wr(ApicReg.LvtTimer, 0x41);
    wr(ApicReg.TimerInitial, 100);
    sched.time = 60;
    wr(ApicReg.TimerInitial, 100);
    expect(rd(ApicReg.TimerCurrent)).toBe(100);
    expect(a.timerDue()).toBe(160);
  });
});

describe('local APIC interrupts in', () => {
  it('delivers self-IPIs by shorthand and by destination', () => {
    const { a, wr, signals } = apic({ id: 2 });
    wr(ApicReg.IcrLo, 0x40000 | 0x31); // self
    expect(irrHas(a, 0x31)).toBe(true);
    expect(signals()).toBe(1);
    wr(ApicReg.IcrHi, 0x02000000);
    wr(ApicReg.IcrLo, 0x32); // physical destination 2 = own ID
    expect(irrHas(a, 0x32)).toBe(true);
    wr(ApicReg.IcrHi, 0x05000000);
    wr(ApicReg.IcrLo, 0x33); // another processor
    expect(irrHas(a, 0x33)).toBe(false);
    wr(ApicReg.IcrLo, 0xc0000 | 0x34); // all excluding self
    expect(irrHas(a, 0x34)).toBe(false);
    wr(ApicReg.IcrLo, 0x80000 | 0x35); // all including self
    expect(irrHas(a, 0x35)).toBe(true);
    wr(ApicReg.IcrHi, 0xff000000);
    wr(ApicReg.IcrLo, 0x36); // physical broadcast
    expect(irrHas(a, 0x36)).toBe(true);
    // logical, flat model: LDR bit 0x04 matches destination 0x0c
    wr(ApicReg.Ldr, 0x04000000);
    wr(ApicReg.IcrHi, 0x0c000000);
    wr(ApicReg.IcrLo, 0x800 | 0x37);
    expect(irrHas(a, 0x37)).toBe(true);
    wr(ApicReg.IcrHi, 0x08000000);
    wr(ApicReg.IcrLo, 0x800 | 0x38);
    expect(irrHas(a, 0x38)).toBe(false);
    // level trigger mode sets the TMR bit
    wr(ApicReg.IcrLo, 0x40000 | 0x8000 | 0x4000 | 0x39);
    expect(((a.tmr[1] >>> 0x19) & 1)).toBe(1);
    expect(a.mmioRead(ApicReg.IcrLo, 4) & 0x1000).toBe(0); // delivery status idle
  });

  it('delivers NMIs from ICR and LINT1 once each', () => {
    const { a, wr } = apic({ id: 1 });
    wr(ApicReg.IcrLo, 0x40000 | 0x400);
    expect(a.hasPendingNmi()).toBe(true);
    expect(a.takeNmi()).toBe(true);
    expect(a.takeNmi()).toBe(false);
    wr(ApicReg.IcrHi, 0x01000000);
    wr(ApicReg.IcrLo, 0x400);
    expect(a.takeNmi()).toBe(true);
    wr(ApicReg.LvtLint1, 0x400);
    a.setLint(1, true);
    expect(a.takeNmi()).toBe(true);
    a.setLint(1, true); // still asserted: no new edge
    expect(a.takeNmi()).toBe(false);
    a.setLint(1, false);
    a.setLint(1, true);
    expect(a.takeNmi()).toBe(true);
    wr(ApicReg.IcrLo, 0x40000 | 0x500); // INIT has no target here
    expect(a.ignoredMessages).toBe(1);
  });

  it('holds a level-triggered LINT0 in remote IRR until EOI', () => {
    const { a, rd, wr } = apic();
    wr(ApicReg.LvtLint0, 0x8000 | 0x50);
    a.setLint(0, true);
    expect(irrHas(a, 0x50)).toBe(true);
    expect(rd(ApicReg.LvtLint0) & 0x4000).toBe(0x4000);
    expect(a.acknowledge()).toBe(0x50);
    a.setLint(0, true);
    expect(irrHas(a, 0x50)).toBe(false);
    wr(ApicReg.Eoi, 0); // line still up: taken again
    expect(irrHas(a, 0x50)).toBe(true);
    expect(a.acknowledge()).toBe(0x50);
    a.setLint(0, false);
    wr(ApicReg.Eoi, 0);
    expect(rd(ApicReg.LvtLint0) & 0x4000).toBe(0);
    expect(a.hasPendingInterrupt()).toBe(false);
  });
});
