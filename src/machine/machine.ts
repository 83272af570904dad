/**
 * The machine: RAM, the port bus with the UART (COM1), the debug-exit port and the legacy PC
 * devices (8259 pair, 8254 PIT and port 61h, RTC/CMOS, ACPI PM registers, port 92h, CF9h reset
 * control and the empty PCI configuration ports, a minimal 8042), the local APIC and the I/O
 * APIC in MMIO, the device scheduler, and the CPU that runs on them. The device clocks derive
 * from the cycle counter at `tscHz` (clock.ts).
 *
 * Time is the CPU's cycle counter. `run` executes the CPU in slices that end at the next device
 * event (the APIC timer), then lets the scheduler fire what is due. The CPU is not told the
 * event's cycle, only an instruction count, so a slice is sized from the cycles per instruction
 * of the previous one and may overshoot an event by part of a slice when instruction costs
 * vary; with a uniform cost it ends exactly at the event. While the CPU waits in HLT, time
 * jumps to the next event (the TSC keeps counting while halted).
 *
 * Interrupt delivery belongs to the CPU: its `intc` is the interrupt router (intr.ts), which
 * answers from the local APIC or, through LINT0 in ExtINT mode, from the 8259; ISA IRQ lines go
 * to both the PICs and the I/O APIC. CR8 reads and writes go to the APIC's TPR, and a new request
 * sets `cpu.attention` so the run loop looks at events before the next instruction; APIC NMIs
 * are handed to `cpu.raiseNmi()`.
 *
 * A guest reset (port 92h, CF9h, the 8042) ends the run with Stop.Reset; an ACPI S5 power-off
 * ends it as a debug exit with status 0 (which the debug-exit port itself cannot produce);
 * `stopCause` says which.
 */

import { Cpu } from '../cpu/cpu.js';
import { Stop } from '../cpu/state.js';
import { applyInitialState } from './boot.js';
import { DebugExit, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE } from './debugexit.js';
import { IoBus, Width } from './iobus.js';
import { LocalApic, LAPIC_BASE, LAPIC_SIZE } from './lapic.js';
import { LapicWindow, runSmp, Smp } from './smp.js';
import { perfSync } from '../cpu/pmu.js';
import { loadKernel, type LoadOptions, type LoadResult } from './loaders.js';
import { PhysMem, type MmioDevice } from './memory.js';
import { ELCR_PORT, LegacyPic, PIC_MASTER_PORT, PIC_SLAVE_PORT } from './pic.js';
import { Scheduler } from './scheduler.js';
import { DEFAULT_TSC_HZ } from './clock.js';
import { PIT_IRQ, PIT_PORT, Pit, PORT_B } from './pit.js';
import { IOAPIC_BASE, IOAPIC_SIZE, IoApic } from './ioapic.js';
import { InterruptRouter } from './intr.js';
import { Rtc, RTC_IRQ, RTC_PORT } from './rtc.js';
import { AcpiPm, ACPI_PM_BASE, ACPI_PM_SIZE, ACPI_SCI_IRQ } from './acpipm.js';
import { PCI_CONFIG_PORT, PORT_A, SystemControl } from './sysctl.js';
import { I8042, I8042_CMD_PORT, I8042_DATA_PORT } from './i8042.js';
import { COM1_IRQ, COM1_PORT, Uart16550 } from './uart16550.js';

export const DEFAULT_MEM_SIZE = 256 * 1024 * 1024;
/** RAM must end below the APIC pages (0xFEC00000 and up hold the I/O and local APICs) */
export const MAX_MEM_SIZE = 0xfec00000;

const tooBig = (size: number) => new RangeError(`memory size 0x${size.toString(16)} reaches the APIC area at 0xfec00000`);

export interface MachineOptions {
  /** RAM size in bytes (multiple of 4 KiB); default 256 MiB. Ignored when `cpu` is given. */
  memSize?: number;
  /** a CPU built by the caller on its own PhysMem; by default the machine builds one */
  cpu?: Cpu;
  /** where UART output goes; by default it collects in `uart.output()` */
  onUartByte?: (byte: number) => void;
  /** CPU cycles per tick of the APIC timer's input clock (default 1) */
  apicCyclesPerTick?: number;
  /** deliver exceptions through the IDT (default true); false keeps the bare core's stop */
  architecturalDelivery?: boolean;
  /** TSC frequency in Hz: the device clocks (PIT, RTC, ACPI PM timer) derive from it
   * (default DEFAULT_TSC_HZ, clock.ts) */
  tscHz?: number;
  /** what the RTC shows at cycle 0, in Unix seconds (default 2026-01-01 00:00:00 UTC) */
  rtcEpoch?: number;
  /** the CPU's block compiler (cpu/jit) on or off; default: JIT_DEFAULTS.on */
  jit?: boolean;
  /** number of CPUs (default 1; at most MAX_CPUS): CPU 0 boots, the others wait for INIT/SIPI */
  cpus?: number;
  /** with more than one CPU: instructions per CPU per turn (smp.ts, default DEFAULT_QUANTUM) */
  quantum?: number;
}

/** CPUs a machine can have (APIC IDs 0..MAX_CPUS-1, one bit each in PhysMem.codePage) */
export const MAX_CPUS = 8;

export interface RunResult {
  reason: Stop;
  /** instructions retired and cycles counted, in total */
  icount: number;
  cycles: number;
  /** debug-exit status ((v << 1) | 1), or null if the guest did not exit that way */
  exitStatus: number | null;
  rip: number;
  /** with more than one CPU: each CPU's instructions and cycles (icount above is their sum,
   * cycles the largest) */
  perCpu?: { icount: number; cycles: number }[];
}

export class Machine {
  /** CPU 0, the bootstrap processor */
  readonly cpu: Cpu;
  /** every CPU, CPU k with APIC ID k (cpus[0] === cpu) */
  readonly cpus: Cpu[];
  /** their local APICs (lapics[0] === lapic) */
  readonly lapics: LocalApic[];
  /** the APIC bus, INIT/SIPI and the interleaving of the CPUs (smp.ts) */
  readonly smp: Smp;
  /** the device at the APIC window: the APIC itself with one CPU, else the running CPU's */
  private readonly apicDev: MmioDevice;
  readonly mem: PhysMem;
  readonly sched = new Scheduler();
  readonly io = new IoBus();
  readonly uart: Uart16550;
  readonly pic = new LegacyPic();
  readonly debugExit: DebugExit;
  readonly lapic: LocalApic;
  readonly ioapic: IoApic;
  readonly pit: Pit;
  /** ISA IRQ lines to the PICs and the I/O APIC; the CPU's INTR input */
  readonly irq: InterruptRouter;
  readonly rtc: Rtc;
  readonly acpi: AcpiPm;
  readonly sysctl: SystemControl;
  readonly kbc: I8042;
  readonly tscHz: number;
  exitStatus: number | null = null;
  /** why the guest ended the run when it was not the debug-exit port: a reset or power-off */
  stopCause = '';
  /** a reset was requested (the run ends with Stop.Reset) */
  resetRequested = false;
  /** average cycles per instruction of the last slice, for sizing the next */
  private cpi = 1;

  constructor(opts: MachineOptions = {}) {
    if (opts.cpu !== undefined) {
      this.cpu = opts.cpu;
      this.mem = opts.cpu.mem;
    } else {
      const size = opts.memSize ?? DEFAULT_MEM_SIZE;
      if (size > MAX_MEM_SIZE) throw tooBig(size);
      this.mem = new PhysMem(size);
      this.cpu = new Cpu(this.mem);
    }
    if (this.mem.size > MAX_MEM_SIZE) throw tooBig(this.mem.size);
    const cpu = this.cpu;
    if (opts.jit !== undefined) cpu.setJit(opts.jit);
    this.sched.clock = () => cpu.cycles;
    // an event armed while the CPU runs (a guest starting the APIC timer) ends the slice there
    this.sched.onArm = (at) => { if (at < cpu.cycleDeadline) cpu.cycleDeadline = at; };

    cpu.io = this.io;
    this.tscHz = opts.tscHz ?? DEFAULT_TSC_HZ;
    this.uart = new Uart16550({ onTx: opts.onUartByte, onIrq: (level) => this.irq.setIrq(COM1_IRQ, level) });
    this.io.register(COM1_PORT, 8, this.uart, Width.B);
    this.io.register(PIC_MASTER_PORT, 2, this.pic, Width.B);
    this.io.register(PIC_SLAVE_PORT, 2, this.pic, Width.B);
    this.io.register(ELCR_PORT, 2, this.pic, Width.B);
    this.pit = new Pit(this.sched, this.tscHz);
    this.io.register(PIT_PORT, 4, this.pit, Width.B);
    this.io.register(PORT_B, 1, this.pit, Width.B);
    this.rtc = new Rtc(this.sched, this.tscHz, { epoch: opts.rtcEpoch, memSize: this.mem.size });
    this.io.register(RTC_PORT, 2, this.rtc, Width.B);
    this.acpi = new AcpiPm(this.sched, this.tscHz);
    this.io.register(ACPI_PM_BASE, ACPI_PM_SIZE, this.acpi, Width.All);
    this.sysctl = new SystemControl();
    this.io.register(PORT_A, 1, this.sysctl, Width.B);
    this.io.register(PCI_CONFIG_PORT, 8, this.sysctl, Width.All);
    this.kbc = new I8042();
    this.io.register(I8042_DATA_PORT, 1, this.kbc, Width.B);
    this.io.register(I8042_CMD_PORT, 1, this.kbc, Width.B);
    this.debugExit = new DebugExit((status) => this.exit(status));
    this.io.register(DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, this.debugExit, Width.All);

    this.lapic = new LocalApic(this.sched, { cyclesPerTick: opts.apicCyclesPerTick });
    this.mem.addMmio(LAPIC_BASE, LAPIC_SIZE, this.lapic);
    const lapic = this.lapic;
    this.ioapic = new IoApic(lapic);
    this.mem.addMmio(IOAPIC_BASE, IOAPIC_SIZE, this.ioapic);
    const irq = new InterruptRouter(lapic, this.pic, this.ioapic);
    this.irq = irq;
    cpu.intc = irq;
    lapic.onSignal = () => {
      if (lapic.takeNmi()) cpu.raiseNmi();
      cpu.attention = true;
    };
    lapic.onSmi = () => cpu.raiseSmi();
    lapic.onLevelEoi = (v) => this.ioapic.eoi(v);
    this.pic.onIntr = (level) => {
      this.ioapic.setPin(0, level);
      if (level) cpu.attention = true;
    };
    this.ioapic.onExtInt = () => { cpu.attention = true; };
    this.pit.onIrq = (level) => irq.setIrq(PIT_IRQ, level);
    this.rtc.onIrq = (level) => irq.setIrq(RTC_IRQ, level);
    this.acpi.onSci = (level) => irq.setIrq(ACPI_SCI_IRQ, level);
    this.kbc.onIrq = (n, level) => irq.setIrq(n, level);
    this.acpi.onPowerOff = () => { this.stopCause = 'power-off (ACPI S5)'; this.exit(0); };
    this.sysctl.onReset = (source) => this.reset(source);
    this.kbc.onReset = (source) => this.reset(source);
    // APIC_BASE (APM Vol. 2 16.3.1): the MMIO window follows the base; with AE clear the APIC
    // is globally disabled: no window, no interrupts; setting AE again brings it back reset
    cpu.onApicBase = (old) => {
      if ((cpu.apicBase & 0x800) !== 0 && (old & 0x800) === 0) lapic.reset();
      this.placeApic();
    };
    // performance counters: an event at the earliest cycle a counter with INT can overflow
    // (pmu.ts), and the overflow interrupt through the LAPIC's LVTPC
    const pmuEvent = this.sched.register(() => perfSync(cpu));
    cpu.perf.arm = (at) => { if (at === Infinity) this.sched.disarm(pmuEvent); else this.sched.arm(pmuEvent, at); };
    cpu.perf.overflow = () => lapic.perfCounterOverflow();
    cpu.tprWrite = (v) => lapic.setCr8(v);
    cpu.tprRead = () => lapic.cr8();
    if (opts.architecturalDelivery ?? true) cpu.useArchitecturalDelivery();

    // more CPUs: each with its own APIC (ID k), on the same memory, ports and devices
    const n = opts.cpus ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > MAX_CPUS) throw new RangeError(`cpus: ${n} is not 1..${MAX_CPUS}`);
    this.cpus = [cpu];
    this.lapics = [lapic];
    for (let k = 1; k < n; k++) {
      const c = new Cpu(this.mem);
      const l = new LocalApic(this.sched, { id: k, cyclesPerTick: opts.apicCyclesPerTick });
      this.wireAp(c, l, k, opts.architecturalDelivery ?? true);
      this.cpus.push(c);
      this.lapics.push(l);
    }
    this.smp = new Smp(this.cpus, this.lapics);
    if (opts.quantum !== undefined) this.smp.quantum = opts.quantum;
    this.apicDev = lapic;
    if (n > 1) {
      for (let k = 0; k < n; k++) { this.cpus[k].apicId = k; this.cpus[k].cpuCount = n; this.cpus[k].codeBit = 1 << k; }
      const cpus = this.cpus;
      this.mem.onCodeWrite = (page) => { for (const c of cpus) c.invalidateCodePage(page); };
      const smp = this.smp;
      this.sched.clock = () => cpus[smp.current].cycles;
      this.sched.onArm = (at) => { const c = cpus[smp.current]; if (at < c.cycleDeadline) c.cycleDeadline = at; };
      this.ioapic.bus = smp;
      this.apicDev = new LapicWindow(smp);
      this.mem.moveMmio(lapic, LAPIC_BASE, LAPIC_SIZE);
      this.mem.moveMmio(lapic, null, LAPIC_SIZE);
      this.mem.addMmio(LAPIC_BASE, LAPIC_SIZE, this.apicDev);
    }
  }

  /** connect an application processor and its APIC; it waits for INIT/SIPI */
  private wireAp(c: Cpu, l: LocalApic, k: number, architectural: boolean): void {
    c.io = this.io;
    c.intc = l;
    c.apicBase = 0xfee00800; // enabled, not the BSP
    l.onSignal = () => {
      if (l.takeNmi()) c.raiseNmi();
      c.attention = true;
    };
    l.onLevelEoi = (v) => this.ioapic.eoi(v);
    c.onApicBase = (old) => {
      if ((c.apicBase & 0x800) !== 0 && (old & 0x800) === 0) l.reset();
      this.placeApicFor(k);
    };
    const pmuEvent = this.sched.register(() => perfSync(c));
    c.perf.arm = (at) => { if (at === Infinity) this.sched.disarm(pmuEvent); else this.sched.arm(pmuEvent, at); };
    c.perf.overflow = () => l.perfCounterOverflow();
    c.tprWrite = (v) => l.setCr8(v);
    c.tprRead = () => l.cr8();
    if (architectural) c.useArchitecturalDelivery();
    c.halted = true;
  }

  /** a cost profile (or null) on every CPU */
  setCostProfile(p: Parameters<Cpu['setCostProfile']>[0]): void {
    for (const c of this.cpus) c.setCostProfile(p);
  }

  /** the CPU running now (CPU 0 with one CPU) */
  currentCpu(): Cpu {
    return this.cpus[this.smp.current];
  }

  /** instructions retired on all CPUs */
  icount(): number {
    let n = 0;
    for (const c of this.cpus) n += c.icount;
    return n;
  }

  /** Map the APIC's registers where APIC_BASE says, or nowhere while APIC_BASE.AE is clear. */
  placeApic(): void {
    this.placeApicFor(this.smp.current);
  }

  /** the APIC window as CPU k sees it (with more than one CPU, set at each CPU's turn) */
  placeApicFor(k: number): void {
    const c = this.cpus[k];
    const v = c.apicBase;
    const on = (v & 0x800) !== 0;
    this.lapics[k].setHardwareEnabled(on);
    const base = on ? v - (v % 4096) : null;
    if (this.cpus.length > 1 && base === this.windowBase) return;
    this.windowBase = base;
    this.mem.moveMmio(this.apicDev, base, LAPIC_SIZE);
    c.flushCodeCache();
  }

  private windowBase: number | null = LAPIC_BASE;

  /** the debug-exit port was written: stop the CPU after this instruction */
  private exit(status: number): void {
    this.exitStatus = status;
    this.currentCpu().stopReason = Stop.Exit;
  }

  /** the guest reset the machine: stop the CPU after this instruction; the run ends */
  private reset(source: string): void {
    this.stopCause = `reset (${source})`;
    this.resetRequested = true;
    this.currentCpu().stopReason = Stop.Reset;
  }

  /** Load a kernel (multiboot or ELF64) and put the CPU in its initial state. */
  boot(file: Uint8Array, opts: LoadOptions = {}): LoadResult {
    const r = loadKernel(this.mem, file, { cpus: this.cpus.length, ...opts });
    applyInitialState(this.cpu, r.state);
    // the APs wait for INIT/SIPI, as firmware leaves them
    for (let k = 1; k < this.cpus.length; k++) this.smp.parkAp(k);
    return r;
  }

  /** Run until the guest exits, halts for good, stops on an exception, or runs `maxInsns`. */
  run(maxInsns: number): RunResult {
    if (this.cpus.length > 1) return this.runAll(maxInsns);
    const cpu = this.cpu;
    const sched = this.sched;
    // the budget counts retired instructions and exception-delivery storms (Cpu.stormCount)
    const end = cpu.icount + cpu.stormCount + maxInsns;
    let reason = Stop.None;
    // HLT with no progress since the last jump in time: is the wait over for good?
    let idleAccepts = -1;
    while (reason === Stop.None) {
      sched.runDue(cpu.cycles);
      if (this.exitStatus !== null) { reason = Stop.Exit; break; }
      if (this.resetRequested) { reason = Stop.Reset; break; }
      // an INIT or SMI message to itself (smp.ts)
      if (this.smp.pending[0] !== 0) this.smp.service(0, cpu.cycles);
      const left = end - cpu.icount - cpu.stormCount;
      if (left <= 0) { reason = Stop.Budget; break; }
      const next = sched.next();
      let slice = left;
      if (next !== Infinity) slice = Math.min(left, Math.max(1, Math.floor((next - cpu.cycles) / this.cpi)));
      // an INIT or SMI held by GIF = 0: one instruction at a time until it is taken
      if (this.smp.pending[0] !== 0 && this.smp.held(0)) slice = 1;
      const i0 = cpu.icount;
      const c0 = cpu.cycles;
      cpu.cycleDeadline = next;
      const stop = cpu.run(slice);
      cpu.cycleDeadline = Infinity;
      const done = cpu.icount - i0;
      if (done > 0) {
        this.cpi = Math.max(1, (cpu.cycles - c0) / done);
        idleAccepts = -1;
      }
      switch (stop) {
        case Stop.Budget:
          break;
        case Stop.Halt: {
          // waiting for an interrupt: jump to the next event, unless nothing new can come of it
          // (no event, or the last jump only repeated a request the CPU cannot take)
          const wake = sched.next();
          if (wake === Infinity || this.irq.requests() === idleAccepts) { reason = Stop.Halt; break; }
          idleAccepts = this.irq.requests();
          if (wake > cpu.cycles) {
            // core cycles not halted (PMC event 76h) leave this jump out
            cpu.perf.haltCycles += wake - cpu.cycles;
            cpu.cycles = wake;
          }
          break;
        }
        default:
          reason = stop;
      }
    }
    sched.runDue(cpu.cycles);
    return { reason, icount: cpu.icount, cycles: cpu.cycles, exitStatus: this.exitStatus, rip: cpu.rip };
  }

  /** more than one CPU: round robin (smp.ts) */
  private runAll(maxInsns: number): RunResult {
    const reason = runSmp(this, this.smp, maxInsns);
    let cycles = 0;
    for (const c of this.cpus) if (c.cycles > cycles) cycles = c.cycles;
    for (const c of this.cpus) this.sched.runDue(c.cycles);
    const perCpu = this.cpus.map((c) => ({ icount: c.icount, cycles: c.cycles }));
    return { reason, icount: this.icount(), cycles, exitStatus: this.exitStatus, rip: this.cpu.rip, perCpu };
  }

  /** interrupt requests so far: every APIC and the 8259 */
  requests(): number {
    return this.smp.requests() + this.pic.raises;
  }

  /** ports the guest used that have no device, and other things worth a line in a report */
  report(): { unknownPorts: { port: number; reads: number; writes: number }[]; picMasks: [number, number]; unmappedReads: number; apicIgnoredWrites: number; apicIgnoredMessages: number; pciConfigAccesses: number; stopCause: string } {
    return {
      pciConfigAccesses: this.sysctl.pciReads + this.sysctl.pciWrites,
      stopCause: this.stopCause,
      unknownPorts: this.io.unknownPorts(),
      picMasks: [this.pic.master.mask, this.pic.slave.mask],
      unmappedReads: this.mem.unmappedReads,
      apicIgnoredWrites: this.lapic.ignoredWrites,
      apicIgnoredMessages: this.lapics.reduce((n, l) => n + l.ignoredMessages, 0),
    };
  }
}
