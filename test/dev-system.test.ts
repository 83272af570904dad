import { describe, expect, it } from 'vitest';
import { Machine } from '../src/machine/machine.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { Stop } from '../src/cpu/state.js';
import { restoreSnapshot, takeSnapshot } from '../src/lab/snapshot.js';
import { ACPI_PM_TMR_BLK, ACPI_PM1A_CNT_BLK, ACPI_PM1A_EVT_BLK, ACPI_SLP_TYP_S5 } from '../src/machine/acpipm.js';
import { ACPI_RESET_PORT, ACPI_RESET_VALUE } from '../src/machine/sysctl.js';
import { PM_TIMER_HZ } from '../src/machine/clock.js';

/** a machine running `code` at 0x1000 in flat 64-bit mode */
function bare(code: number[]) {
  const m = new Machine({ memSize: 4 * 1024 * 1024 });
  m.mem.load(0x1000, Uint8Array.from(code));
  setFlatMode(m.cpu, 64);
  m.cpu.rip = 0x1000;
  return m;
}

const MOV_DX = (p: number) => [0x66, 0xba, p & 0xff, p >>> 8];

describe('resets and power-off end the run', () => {
  it('ACPI reset register (CF9h, value 6)', () => {
    expect(ACPI_RESET_PORT).toBe(0xcf9);
    const m = bare([0xb0, 0x02, ...MOV_DX(0xcf9), 0xee, 0xb0, ACPI_RESET_VALUE, 0xee, 0xf4]);
    const r = m.run(100);
    expect(r.reason).toBe(Stop.Reset);
    expect(m.stopCause).toMatch(/CF9h/);
    expect(r.icount).toBe(5); // stops after the OUT, before the HLT
    expect(r.exitStatus).toBe(null);
  });

  it('port 92h bit 0 and the 8042 reset pulse', () => {
    const a = bare([0xb0, 0x01, 0xe6, 0x92, 0xf4]);
    expect(a.run(100).reason).toBe(Stop.Reset);
    expect(a.stopCause).toMatch(/92h/);
    // the 8042: self-test answers 55h, then the FEh pulse resets
    const b = bare([0xb0, 0xaa, 0xe6, 0x64, 0xe4, 0x60, 0x88, 0xc3, 0xb0, 0xfe, 0xe6, 0x64, 0xf4]);
    expect(b.run(100).reason).toBe(Stop.Reset);
    expect(b.cpu.rl[3] & 0xff).toBe(0x55); // mov bl, al after the IN
    expect(b.kbc.status & 0x04).toBe(0x04);
    expect(b.stopCause).toMatch(/8042/);
  });

  it('ACPI S5 (SLP_TYP, SLP_EN in PM1a_CNT) powers off with exit status 0', () => {
    const v = (ACPI_SLP_TYP_S5 << 10) | 0x2000;
    const m = bare([0x66, 0xb8, v & 0xff, v >>> 8, ...MOV_DX(ACPI_PM1A_CNT_BLK), 0x66, 0xef, 0xf4]);
    const r = m.run(100);
    expect(r.reason).toBe(Stop.Exit);
    expect(r.exitStatus).toBe(0);
    expect(m.stopCause).toMatch(/S5/);
  });

  it('another sleep type does not end the run', () => {
    const m = bare([0x66, 0xb8, 0x00, 0x20 | (5 << 2), ...MOV_DX(ACPI_PM1A_CNT_BLK), 0x66, 0xef, 0xf4]);
    expect(m.run(100).reason).toBe(Stop.Halt);
    expect(m.acpi.unsupportedSleeps).toBe(1);
  });
});

describe('ACPI PM timer and PM1 registers', () => {
  it('counts at 3.579545 MHz in 24 bits and sets TMR_STS (with an SCI) when bit 23 flips', () => {
    const m = new Machine({ memSize: 1 << 20, tscHz: 1_000_000_000 });
    const inl = (p: number) => m.io.portIn(p, 4);
    expect(inl(ACPI_PM_TMR_BLK)).toBe(0);
    m.cpu.cycles = 1_000_000_000;
    expect(inl(ACPI_PM_TMR_BLK)).toBe(PM_TIMER_HZ & 0xffffff);
    expect(m.io.portIn(ACPI_PM1A_CNT_BLK, 2) & 1).toBe(1); // SCI_EN
    expect(m.io.portIn(ACPI_PM1A_EVT_BLK, 2) & 1).toBe(0);
    m.cpu.cycles = 2_400_000_000; // past 2^23 ticks (2.34 s)
    expect(m.io.portIn(ACPI_PM1A_EVT_BLK, 2) & 1).toBe(1);
    m.io.portOut(ACPI_PM1A_EVT_BLK, 2, 1); // write 1 to clear
    expect(m.io.portIn(ACPI_PM1A_EVT_BLK, 2) & 1).toBe(0);
    // TMR_EN: the SCI (IRQ 9) comes at the next flip of bit 23
    m.io.portOut(ACPI_PM1A_EVT_BLK + 2, 2, 1);
    expect(m.acpi.sciLevel).toBe(false);
    m.sched.runDue(4_680_000_000);
    expect(m.acpi.sciLevel).toBe(false);
    m.sched.runDue(4_690_000_000); // 2^24 ticks / 3.579545 MHz = 4.687 s
    expect(m.acpi.sciLevel).toBe(true);
    expect(m.pic.lines & (1 << 9)).toBe(1 << 9);
    expect(m.io.portIn(ACPI_PM_TMR_BLK + 3, 1)).toBe(0);
  });
});

describe('PCI configuration ports and the 8042', () => {
  it('CF8h/CFCh read all-ones at every width: no PCI bus', () => {
    const m = new Machine({ memSize: 1 << 20 });
    // Linux pci_check_type1: write 0x80000000 to CF8h and read it back
    m.io.portOut(0xcfb, 1, 0x01);
    m.io.portOut(0xcf8, 4, 0x80000000);
    expect(m.io.portIn(0xcf8, 4)).toBe(0xffffffff);
    expect(m.io.portIn(0xcfc, 4)).toBe(0xffffffff);
    expect(m.io.portIn(0xcfc, 2)).toBe(0xffff);
    expect(m.io.portIn(0xcfe, 1)).toBe(0xff);
    expect(m.io.portIn(0xcf9, 1)).toBe(0); // the reset control register
    expect(m.sysctl.pciReads).toBe(4);
  });

  it('8042: status, configuration byte, self-test, test commands and IRQ 1', () => {
    const m = new Machine({ memSize: 1 << 20 });
    const inb = (p: number) => m.io.portIn(p, 1);
    const out = (p: number, v: number) => m.io.portOut(p, 1, v);
    expect(inb(0x64) & 0x01).toBe(0);
    out(0x64, 0x20);
    expect(inb(0x64) & 0x09).toBe(0x09); // OBF, last write was a command
    expect(inb(0x60)).toBe(0x65);
    out(0x64, 0x60); out(0x60, 0x44); // keyboard interrupt off
    out(0x64, 0x20);
    expect(inb(0x60)).toBe(0x44);
    out(0x64, 0xaa);
    expect(inb(0x60)).toBe(0x55);
    out(0x64, 0xab);
    expect(inb(0x60)).toBe(0x00);
    // with the keyboard interrupt on, a response raises IRQ 1 until read
    out(0x64, 0x60); out(0x60, 0x45);
    out(0x64, 0xd2); out(0x60, 0xab);
    expect(m.pic.lines & 2).toBe(2);
    expect(inb(0x60)).toBe(0xab);
    expect(m.pic.lines & 2).toBe(0);
    // bytes for the absent keyboard get no answer
    out(0x60, 0xf2);
    expect(inb(0x64) & 0x01).toBe(0);
    expect(m.kbc.dropped).toBe(1);
  });
});

describe('device snapshots', () => {
  it('captures and restores PIC, PIT, RTC, I/O APIC, ACPI and the 8042 with their timers', () => {
    const m = new Machine({ memSize: 1 << 20 });
    const out = (p: number, v: number) => m.io.portOut(p, 1, v);
    const inb = (p: number) => m.io.portIn(p, 1);
    out(0x20, 0x11); out(0x21, 0x20); out(0x21, 0x04); out(0x21, 0x01); out(0x21, 0xfa);
    out(0x43, 0x34); out(0x40, 0x9c); out(0x40, 0x2e); // mode 2, 11932: 100 Hz
    out(0x70, 0x0b); out(0x71, 0x42); // RTC PIE
    m.ioapic.writeReg(0x14, 0x30);
    out(0x64, 0xaa);
    m.cpu.cycles = 12_345_678;
    m.sched.runDue(m.cpu.cycles);
    const view = () => JSON.stringify({
      pit: (out(0x43, 0x00), inb(0x40) | (inb(0x40) << 8)),
      rtcA: (out(0x70, 0x0a), inb(0x71)),
      pic: [m.pic.master.irr, m.pic.master.isr, m.pic.master.mask, m.pic.master.vectorBase, m.pic.intr],
      io: [m.ioapic.readReg(0x14), m.ioapic.levels],
      kbc: m.kbc.status,
      due: [0, 1, 2, 3, 4].map((k) => m.sched.dueAt(k)),
      rtcIrq: m.rtc.irqLevel,
    });
    const snap = takeSnapshot(m);
    const before = view();
    const cycles = m.cpu.cycles;
    // change everything
    out(0x21, 0x00); out(0x43, 0x30); out(0x40, 1); out(0x40, 0);
    out(0x70, 0x0b); out(0x71, 0x02); out(0x70, 0x0c); inb(0x71);
    m.ioapic.writeReg(0x14, 0x10000);
    inb(0x60);
    m.cpu.cycles += 50_000_000;
    m.sched.runDue(m.cpu.cycles);
    expect(view()).not.toBe(before);
    restoreSnapshot(m, snap);
    expect(m.cpu.cycles).toBe(cycles);
    expect(view()).toBe(before);
    // and the restored timers run on as they would have
    const fresh = new Machine({ memSize: 1 << 20 });
    expect(fresh.sched.next()).toBe(Infinity);
    expect(m.sched.next()).toBeLessThan(Infinity);
  });
});
