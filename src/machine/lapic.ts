/**
 * The local APIC (AMD64 APM Vol. 2, ch. 16) of the machine's one processor, in xAPIC MMIO form
 * at 0xFEE00000.
 *
 * What it does: interrupt acceptance into IRR/TMR, priority (TPR, PPR, APR) and the ISR/EOI
 * cycle, the APIC timer (one-shot and periodic, all divide values), LINT0/LINT1 (fixed, edge or
 * level with remote IRR, and NMI), the error LVT and ESR, and IPIs through ICR whose destination
 * includes this processor (self shorthand, all-including-self, a physical destination equal to
 * its ID or broadcast, a logical destination that matches LDR/DFR) with fixed, lowest-priority
 * (one processor: same as fixed), NMI and SMI (to the CPU's SMI input, onSmi) message types.
 * INIT, startup, remote read and ExtINT messages have no target here and are counted in `ignoredMessages`; so are LVT entries
 * programmed with those modes when they fire.
 *
 * The CPU side (interrupt delivery, a later layer) uses the `InterruptController` methods; the
 * device never reads the CPU. Time comes from the scheduler's clock (the machine's cycle
 * counter): the timer counts one tick every `cyclesPerTick * divisor` cycles and arms a
 * scheduler event for its expiry, so the machine runs the CPU up to that point.
 *
 * Access rules (APM Vol. 2 ch. 16, APIC registers: registers are 32 bits wide at 16-byte-aligned
 * offsets and are accessed with aligned doubleword reads and writes; anything else is
 * undefined). worldswitch reads a narrower access out of the register's low doubleword (bytes
 * 4..15 of each 16-byte slot read 0) and ignores narrower or misaligned writes (counted in
 * `ignoredWrites`). A read or write of an offset with no register sets ESR.IRA (illegal
 * register address); reads of it return 0.
 *
 * Software disable (SVR bit 8 clear, the reset state): as the xAPIC definition has it (Intel SDM
 * Vol. 3 10.4.7.2, which the APM's APIC chapter follows), the registers stay readable and
 * writable, every LVT entry is masked and its mask bit cannot be cleared, fixed interrupts are
 * not accepted while NMI, SMI, INIT and startup messages are, and interrupts already in IRR or
 * ISR stay there. Global disable (APIC_BASE.AE clear, see machine.ts) removes the register
 * window altogether; setting AE again gives the power-up state (reset()).
 *
 * The Version register reports 0x80050010: version 10h (integrated APIC), six LVT entries
 * (MaxLvtEntry = 5: timer, thermal, performance counter, LINT0, LINT1, error) and EAS, the
 * extended register space, whose feature register (0x400) reports no optional features (no
 * IER, no specific EOI, no extended APIC ID, no extended LVT entries).
 */

import type { MmioDevice } from './memory.js';
import type { Scheduler } from './scheduler.js';

export const LAPIC_BASE = 0xfee00000;
export const LAPIC_SIZE = 0x1000;

/**
 * The APIC bus of a machine with its local APICs (smp.ts): an ICR write whose message may
 * reach other processors, or INIT, startup and SMI messages, goes there.
 */
export interface IpiBus {
  send(from: LocalApic, icrLo: number, icrHi: number): void;
}

/** what interrupt delivery in the CPU needs from the interrupt controller */
export interface InterruptController {
  /** an unmasked interrupt is pending whose priority class is above the processor priority */
  hasPendingInterrupt(): boolean;
  /** that interrupt's vector, or -1 */
  highestPendingVector(): number;
  /** the CPU takes the interrupt: IRR -> ISR; returns the vector (the spurious vector if none) */
  acknowledge(): number;
  hasPendingNmi(): boolean;
  /** the CPU takes a pending NMI; false if none */
  takeNmi(): boolean;
}

export const enum ApicReg {
  Id = 0x20, Version = 0x30, Tpr = 0x80, Apr = 0x90, Ppr = 0xa0, Eoi = 0xb0, Rrd = 0xc0,
  Ldr = 0xd0, Dfr = 0xe0, Svr = 0xf0, Isr = 0x100, Tmr = 0x180, Irr = 0x200, Esr = 0x280,
  IcrLo = 0x300, IcrHi = 0x310, LvtTimer = 0x320, LvtThermal = 0x330, LvtPerf = 0x340,
  LvtLint0 = 0x350, LvtLint1 = 0x360, LvtError = 0x370, TimerInitial = 0x380,
  TimerCurrent = 0x390, TimerDivide = 0x3e0, ExtFeature = 0x400, ExtControl = 0x410,
}

/** ESR bits (APM Vol. 2 ch. 16, APIC error interrupts) */
export const enum Esr {
  SendAccept = 0x04, ReceiveAccept = 0x08, SendIllegalVector = 0x20,
  ReceiveIllegalVector = 0x40, IllegalRegister = 0x80,
}

export const APIC_VERSION = 0x80050010;
const LVT_MASK = 0x10000;
/** writable bits per LVT register (delivery status and remote IRR are read-only) */
const LVT_TIMER_BITS = 0x300ff;
const LVT_MT_BITS = 0x107ff;
const LVT_LINT_BITS = 0x1a7ff;
const LVT_ERROR_BITS = 0x100ff;
const REMOTE_IRR = 0x4000;
/** pendingCache: not known */
const DIRTY = -2;

function highestBit(words: Int32Array): number {
  for (let w = 7; w >= 0; w--) {
    if (words[w] !== 0) return w * 32 + 31 - Math.clz32(words[w]);
  }
  return -1;
}

export class LocalApic implements MmioDevice, InterruptController {
  id = 0;
  private tprValue = 0;
  ldr = 0;
  dfr = 0xffffffff;
  /** spurious-interrupt vector register: vector, bit 8 APIC software enable, bit 9 FCC */
  svr = 0xff;
  readonly irr = new Int32Array(8);
  readonly isr = new Int32Array(8);
  readonly tmr = new Int32Array(8);
  /** ESR as last latched by a write; errors since then collect in `esrPending` */
  esr = 0;
  esrPending = 0;
  icrLo = 0;
  icrHi = 0;
  lvtTimer = LVT_MASK;
  lvtThermal = LVT_MASK;
  lvtPerf = LVT_MASK;
  lvtLint0 = LVT_MASK;
  lvtLint1 = LVT_MASK;
  lvtError = LVT_MASK;
  timerInitial = 0;
  timerDivide = 0;
  nmiPending = false;
  /** CPU cycles per tick of the timer's input clock (before the divide configuration) */
  cyclesPerTick = 1;
  /** called when an interrupt or NMI becomes pending (a hint for the CPU's delivery check) */
  onSignal: () => void = () => {};
  /** called for an SMI message (self-IPI or LVT); unwired, the message is counted as ignored */
  onSmi: () => void = () => { this.ignoredMessages++; };
  ignoredWrites = 0;
  ignoredMessages = 0;
  /** interrupts accepted into an IRR bit that was clear (a coalesced request does not count) */
  acceptCount = 0;
  /** the machine's APIC bus (smp.ts); null: only messages to this processor are delivered */
  bus: IpiBus | null = null;
  /** EOI of a level-triggered vector (TMR set): broadcast to the I/O APIC */
  onLevelEoi: (vector: number) => void = () => {};

  private pendingCache = DIRTY;
  /** asserted LINT0/LINT1 inputs (bit n = LINTn) */
  private lintLevels = 0;
  // timer: the count was `countStart` at cycle `countBase`; it counts down while `running`
  private running = false;
  private countBase = 0;
  private countStart = 0;
  private readonly timerEvent: number;
  private inErrorDelivery = false;

  constructor(private readonly sched: Scheduler, opts: { id?: number; cyclesPerTick?: number } = {}) {
    this.id = (opts.id ?? 0) & 0xff;
    this.cyclesPerTick = opts.cyclesPerTick ?? 1;
    this.timerEvent = sched.register((due, now) => this.timerExpired(due, now));
  }

  /** task priority (bits 7:4 class, 3:0 subclass) */
  get tpr(): number {
    return this.tprValue;
  }

  set tpr(v: number) {
    this.tprValue = v & 0xff;
    this.pendingCache = DIRTY;
  }

  get softwareEnabled(): boolean {
    return (this.svr & 0x100) !== 0;
  }

  /** APIC_BASE.AE: false while the APIC is globally disabled (the machine keeps it in step) */
  get hardwareEnabled(): boolean {
    return this.hwEnabled;
  }

  private hwEnabled = true;

  /**
   * APIC_BASE.AE changed (APM Vol. 2 16.3.1). Globally disabled, the processor behaves as one
   * without a local APIC: the machine unmaps the registers, nothing is accepted or delivered
   * (the timer stops). The xAPIC definition lets the APIC lose its state; worldswitch resets it
   * when AE is set again (the machine calls reset()).
   */
  setHardwareEnabled(on: boolean): void {
    if (on === this.hwEnabled) return;
    this.hwEnabled = on;
    if (!on) {
      this.running = false;
      this.sched.disarm(this.timerEvent);
      this.nmiPending = false;
    }
    this.pendingCache = DIRTY;
  }

  /** The power-up state (APM Vol. 2 16.3): every LVT masked, SVR FFh (disabled), all else 0. */
  reset(): void {
    this.tprValue = 0;
    this.ldr = 0;
    this.dfr = 0xffffffff;
    this.svr = 0xff;
    this.irr.fill(0);
    this.isr.fill(0);
    this.tmr.fill(0);
    this.esr = 0;
    this.esrPending = 0;
    this.icrLo = 0;
    this.icrHi = 0;
    this.lvtTimer = LVT_MASK;
    this.lvtThermal = LVT_MASK;
    this.lvtPerf = LVT_MASK;
    this.lvtLint0 = LVT_MASK;
    this.lvtLint1 = LVT_MASK;
    this.lvtError = LVT_MASK;
    this.timerInitial = 0;
    this.timerDivide = 0;
    this.nmiPending = false;
    this.running = false;
    this.sched.disarm(this.timerEvent);
    this.pendingCache = DIRTY;
  }

  /**
   * A performance counter with PerfEvtSel.INT overflowed: the interrupt of the performance-
   * counter LVT entry (340h), fixed or NMI. AMD leaves the entry's mask bit alone (Intel sets
   * it; see pmu.ts).
   */
  perfCounterOverflow(): void {
    if (this.hwEnabled) this.deliverLvt(this.lvtPerf, false);
  }

  // ---- priority (APM Vol. 2 ch. 16: TPR, PPR and APR; a class is vector bits 7:4) ----

  /** processor priority: TPR, or the class of the highest in-service vector if that is higher */
  ppr(): number {
    const isrv = Math.max(highestBit(this.isr), 0);
    return (this.tpr >>> 4) >= (isrv >>> 4) ? this.tpr : isrv & 0xf0;
  }

  /** arbitration priority: TPR, or the class of the highest requested or in-service vector */
  apr(): number {
    const v = Math.max(highestBit(this.irr), highestBit(this.isr), 0);
    return (this.tpr >>> 4) >= (v >>> 4) ? this.tpr : v & 0xf0;
  }

  highestPendingVector(): number {
    // the CPU asks between instructions while anything is pending; the answer is cached until
    // IRR, ISR or TPR change
    if (this.pendingCache !== DIRTY) return this.pendingCache;
    this.pendingCache = this.computePending();
    return this.pendingCache;
  }

  /** forget the cached answer; call after changing `irr` or `isr` directly */
  changed(): void {
    this.pendingCache = DIRTY;
  }

  private computePending(): number {
    const v = highestBit(this.irr);
    if (v < 0) return -1;
    // an interrupt is taken only when its priority class is above the processor's
    return (v >>> 4) > (this.ppr() >>> 4) ? v : -1;
  }

  hasPendingInterrupt(): boolean {
    return this.hwEnabled && this.highestPendingVector() >= 0;
  }

  /** the CPU's name for hasPendingInterrupt (its InterruptSource interface) */
  hasInterrupt(): boolean {
    return this.hwEnabled && this.highestPendingVector() >= 0;
  }

  /** CR8 is an alias of TPR[7:4]; writing it clears TPR[3:0] (APM Vol. 2, CR8 and the TPR) */
  cr8(): number {
    return this.tpr >>> 4;
  }

  setCr8(v: number): void {
    this.tpr = (v & 0xf) << 4;
    if (this.hasPendingInterrupt()) this.onSignal();
  }

  acknowledge(): number {
    const v = this.highestPendingVector();
    // the interrupt went away (masked by TPR) between signal and acknowledge: spurious vector
    if (v < 0) return this.svr & 0xff;
    this.irr[v >>> 5] &= ~(1 << (v & 31));
    this.isr[v >>> 5] |= 1 << (v & 31);
    this.pendingCache = DIRTY;
    return v;
  }

  hasPendingNmi(): boolean {
    return this.nmiPending;
  }

  takeNmi(): boolean {
    if (!this.nmiPending) return false;
    this.nmiPending = false;
    return true;
  }

  /** EOI: retire the highest in-service interrupt */
  eoi(): void {
    const v = highestBit(this.isr);
    if (v < 0) return;
    const bit = 1 << (v & 31);
    this.isr[v >>> 5] &= ~bit;
    this.pendingCache = DIRTY;
    if ((this.tmr[v >>> 5] & bit) !== 0) {
      this.tmr[v >>> 5] &= ~bit;
      // a level-triggered LINT interrupt: clear remote IRR and take the line again if still up
      this.lintEoi(0, v);
      this.lintEoi(1, v);
      this.onLevelEoi(v);
    }
    if (this.hasPendingInterrupt()) this.onSignal();
  }

  // ---- acceptance ----

  /** accept a fixed interrupt (vector, trigger mode) into IRR */
  accept(vector: number, level: boolean): void {
    if (vector < 16) { this.error(Esr.ReceiveIllegalVector); return; }
    // a software-disabled APIC accepts only NMI, SMI, INIT and startup messages (APM Vol. 2
    // ch. 16, local APIC enable)
    if (!this.softwareEnabled || !this.hwEnabled) return;
    const w = vector >>> 5;
    const bit = 1 << (vector & 31);
    if ((this.irr[w] & bit) === 0) this.acceptCount++;
    this.irr[w] |= bit;
    this.pendingCache = DIRTY;
    if (level) this.tmr[w] |= bit;
    else this.tmr[w] &= ~bit;
    this.onSignal();
  }

  /** raise an NMI (ICR NMI message, LINT in NMI mode) */
  nmi(): void {
    if (!this.hwEnabled) return;
    this.nmiPending = true;
    this.onSignal();
  }

  /** an SMI message: handed to the CPU's SMI input (onSmi) */
  smi(): void {
    if (!this.hwEnabled) return;
    this.onSmi();
  }

  /** record errors; each new one raises the error LVT interrupt when unmasked */
  error(bits: number): void {
    const fresh = bits & ~this.esrPending;
    this.esrPending |= bits;
    if (fresh === 0 || this.inErrorDelivery || (this.lvtError & LVT_MASK) !== 0) return;
    this.inErrorDelivery = true;
    this.accept(this.lvtError & 0xff, false);
    this.inErrorDelivery = false;
  }

  /** deliver through an LVT entry (delivery mode in bits 10:8; the timer's is always fixed) */
  private deliverLvt(lvt: number, level: boolean): void {
    if ((lvt & LVT_MASK) !== 0) return;
    switch ((lvt >>> 8) & 7) {
      case 0: this.accept(lvt & 0xff, level); return;
      case 4: this.nmi(); return;
      case 2: this.smi(); return;
      // ExtINT: the CPU takes the vector from the 8259 at INTA (extIntAccepted, intr.ts)
      case 7: return;
      default: this.ignoredMessages++;
    }
  }

  // ---- LINT0 / LINT1 ----

  /** LINT0 is unmasked in ExtINT mode: the 8259's INTR reaches the CPU (virtual-wire mode) */
  extIntAccepted(): boolean {
    return (this.lvtLint0 & (LVT_MASK | 0x700)) === 0x700;
  }

  /** drive LINT0 (n = 0) or LINT1 (n = 1); `asserted` is the active level after polarity */
  setLint(n: number, asserted: boolean): void {
    const was = ((this.lintLevels >>> n) & 1) === 1;
    if (asserted) this.lintLevels |= 1 << n;
    else this.lintLevels &= ~(1 << n);
    const lvt = n === 0 ? this.lvtLint0 : this.lvtLint1;
    const mode = (lvt >>> 8) & 7;
    // NMI, SMI and INIT are edge-triggered whatever TGM says; fixed may be level-triggered
    const levelTrig = mode === 0 && (lvt & 0x8000) !== 0;
    if (levelTrig) this.lintLevelDeliver(n);
    else if (asserted && !was) this.deliverLvt(lvt, false);
  }

  private lintLevelDeliver(n: number): void {
    const lvt = n === 0 ? this.lvtLint0 : this.lvtLint1;
    if (((this.lintLevels >>> n) & 1) === 0 || (lvt & (REMOTE_IRR | LVT_MASK)) !== 0) return;
    if (this.softwareEnabled && (lvt & 0xff) >= 16) this.setLvtLint(n, lvt | REMOTE_IRR);
    this.accept(lvt & 0xff, true);
  }

  private lintEoi(n: number, vector: number): void {
    const lvt = n === 0 ? this.lvtLint0 : this.lvtLint1;
    if ((lvt & REMOTE_IRR) === 0 || (lvt & 0xff) !== vector) return;
    this.setLvtLint(n, lvt & ~REMOTE_IRR);
    this.lintLevelDeliver(n);
  }

  private setLvtLint(n: number, v: number): void {
    if (n === 0) this.lvtLint0 = v;
    else this.lvtLint1 = v;
  }

  // ---- ICR ----

  destinationIsSelf(dest: number, logical: boolean): boolean {
    if (dest === 0xff) return true;
    if (!logical) return dest === this.id;
    const ldr = this.ldr >>> 24;
    // DFR model 1111b: flat (a bit per processor); 0000b: cluster (high nibble = cluster)
    if ((this.dfr >>> 28) === 0xf) return (ldr & dest) !== 0;
    return (dest >>> 4) === (ldr >>> 4) && (dest & ldr & 0xf) !== 0;
  }

  /** a write of ICR low sends the IPI (APM Vol. 2 ch. 16, interprocessor interrupts) */
  private sendIpi(): void {
    const lo = this.icrLo;
    const vector = lo & 0xff;
    const mt = (lo >>> 8) & 7;
    const shorthand = (lo >>> 18) & 3;
    const toSelf = shorthand === 1 || shorthand === 2
      || (shorthand === 0 && this.destinationIsSelf(this.icrHi >>> 24, (lo & 0x800) !== 0));
    if ((mt === 0 || mt === 1) && vector < 16) { this.error(Esr.SendIllegalVector); return; }
    if (this.bus !== null) { this.bus.send(this, lo, this.icrHi); return; }
    if (!toSelf) return;
    if (mt === 0 || mt === 1) this.accept(vector, (lo & 0x8000) !== 0);
    else if (mt === 4) this.nmi();
    else if (mt === 2) this.smi();
    else this.ignoredMessages++;
  }

  // ---- timer (APM Vol. 2 ch. 16, APIC timer interrupt) ----

  /** divide value from the divide configuration register (bits 3, 1, 0) */
  divisor(): number {
    const d = ((this.timerDivide >>> 1) & 4) | (this.timerDivide & 3);
    return d === 7 ? 1 : 2 << d;
  }

  private cyclesPerCount(): number {
    return this.cyclesPerTick * this.divisor();
  }

  get timerPeriodic(): boolean {
    return (this.lvtTimer & 0x20000) !== 0;
  }

  /** the current-count register at the scheduler's current time */
  currentCount(): number {
    if (!this.running) return 0;
    const elapsed = Math.floor((this.sched.now() - this.countBase) / this.cyclesPerCount());
    if (elapsed < this.countStart) return this.countStart - elapsed;
    // past expiry but not yet processed: a periodic timer has reloaded, a one-shot one is 0
    if (!this.timerPeriodic || this.timerInitial === 0) return 0;
    return this.timerInitial - ((elapsed - this.countStart) % this.timerInitial);
  }

  /** cycle at which the timer next reaches zero, or Infinity */
  timerDue(): number {
    return this.sched.dueAt(this.timerEvent);
  }

  private startCount(now: number, count: number): void {
    if (!this.hwEnabled) return;
    this.running = true;
    this.countBase = now;
    this.countStart = count;
    this.sched.arm(this.timerEvent, now + count * this.cyclesPerCount());
  }

  private timerExpired(due: number, now: number): void {
    this.deliverLvt(this.lvtTimer, false);
    if (!this.timerPeriodic || this.timerInitial === 0) {
      this.running = false;
      return;
    }
    // reload; periods missed entirely coalesce (IRR holds one request per vector)
    const period = this.timerInitial * this.cyclesPerCount();
    let next = due + period;
    if (next <= now) next += Math.floor((now - next) / period) * period;
    this.countBase = next - period;
    this.countStart = this.timerInitial;
    this.running = true;
    this.sched.arm(this.timerEvent, next);
  }

  // ---- registers ----

  readReg(reg: number): number {
    if (reg >= ApicReg.Isr && reg < ApicReg.Esr) {
      const arr = reg < ApicReg.Tmr ? this.isr : reg < ApicReg.Irr ? this.tmr : this.irr;
      return arr[(reg >>> 4) & 7] >>> 0;
    }
    switch (reg) {
      case ApicReg.Id: return (this.id << 24) >>> 0;
      case ApicReg.Version: return APIC_VERSION;
      case ApicReg.Tpr: return this.tpr;
      case ApicReg.Apr: return this.apr();
      case ApicReg.Ppr: return this.ppr();
      case ApicReg.Eoi: return 0;
      case ApicReg.Rrd: return 0;
      case ApicReg.Ldr: return this.ldr >>> 0;
      case ApicReg.Dfr: return this.dfr >>> 0;
      case ApicReg.Svr: return this.svr;
      case ApicReg.Esr: return this.esr;
      case ApicReg.IcrLo: return this.icrLo;
      case ApicReg.IcrHi: return this.icrHi >>> 0;
      case ApicReg.LvtTimer: return this.lvtTimer;
      case ApicReg.LvtThermal: return this.lvtThermal;
      case ApicReg.LvtPerf: return this.lvtPerf;
      case ApicReg.LvtLint0: return this.lvtLint0;
      case ApicReg.LvtLint1: return this.lvtLint1;
      case ApicReg.LvtError: return this.lvtError;
      case ApicReg.TimerInitial: return this.timerInitial;
      case ApicReg.TimerCurrent: return this.currentCount();
      case ApicReg.TimerDivide: return this.timerDivide;
      case ApicReg.ExtFeature: return 0;
      case ApicReg.ExtControl: return 0;
      default:
        this.error(Esr.IllegalRegister);
        return 0;
    }
  }

  writeReg(reg: number, value: number): void {
    const v = value >>> 0;
    // a software-disabled APIC keeps every LVT entry masked (local APIC enable)
    const force = this.softwareEnabled ? 0 : LVT_MASK;
    switch (reg) {
      case ApicReg.Id: this.id = v >>> 24; return;
      case ApicReg.Tpr:
        this.tpr = v;
        if (this.hasPendingInterrupt()) this.onSignal();
        return;
      case ApicReg.Eoi: this.eoi(); return;
      case ApicReg.Ldr: this.ldr = v & 0xff000000; return;
      case ApicReg.Dfr: this.dfr = (v | 0x0fffffff) >>> 0; return;
      case ApicReg.Svr:
        this.svr = v & 0x3ff;
        if (!this.softwareEnabled) this.maskAllLvt();
        return;
      case ApicReg.Esr:
        this.esr = this.esrPending;
        this.esrPending = 0;
        return;
      case ApicReg.IcrLo:
        this.icrLo = v & 0x000ccfff;
        this.sendIpi();
        return;
      case ApicReg.IcrHi: this.icrHi = v & 0xff000000; return;
      case ApicReg.LvtTimer: this.lvtTimer = (v & LVT_TIMER_BITS) | force; return;
      case ApicReg.LvtThermal: this.lvtThermal = (v & LVT_MT_BITS) | force; return;
      case ApicReg.LvtPerf: this.lvtPerf = (v & LVT_MT_BITS) | force; return;
      case ApicReg.LvtLint0:
        this.lvtLint0 = (v & LVT_LINT_BITS) | (this.lvtLint0 & REMOTE_IRR) | force;
        if (this.extIntAccepted()) this.onSignal();
        return;
      case ApicReg.LvtLint1: this.lvtLint1 = (v & LVT_LINT_BITS) | (this.lvtLint1 & REMOTE_IRR) | force; return;
      case ApicReg.LvtError: this.lvtError = (v & LVT_ERROR_BITS) | force; return;
      case ApicReg.TimerInitial:
        // writing the initial count (re)starts the count from it; 0 stops the timer
        this.timerInitial = v;
        if (v === 0) { this.running = false; this.sched.disarm(this.timerEvent); }
        else this.startCount(this.sched.now(), v);
        return;
      case ApicReg.TimerDivide: {
        const now = this.sched.now();
        const left = this.currentCount();
        this.timerDivide = v & 0xb;
        // the count carries on from where it is, at the new rate
        if (this.running && left > 0) this.startCount(now, left);
        return;
      }
      case ApicReg.Version: case ApicReg.Apr: case ApicReg.Ppr: case ApicReg.Rrd:
      case ApicReg.TimerCurrent: case ApicReg.ExtFeature: case ApicReg.ExtControl:
        return;
      default:
        if (reg >= ApicReg.Isr && reg < ApicReg.Esr) return;
        this.error(Esr.IllegalRegister);
    }
  }

  private maskAllLvt(): void {
    this.lvtTimer |= LVT_MASK;
    this.lvtThermal |= LVT_MASK;
    this.lvtPerf |= LVT_MASK;
    this.lvtLint0 |= LVT_MASK;
    this.lvtLint1 |= LVT_MASK;
    this.lvtError |= LVT_MASK;
  }

  // ---- MMIO ----

  mmioRead(offset: number, size: number): number {
    const sub = offset & 0xf;
    const v = sub < 4 ? this.readReg(offset & 0xff0) : 0;
    if (size === 4 && sub === 0) return v | 0;
    if (sub + size > 4) return 0;
    return (v >>> (8 * sub)) & (size === 1 ? 0xff : size === 2 ? 0xffff : -1);
  }

  mmioWrite(offset: number, size: number, value: number): void {
    if (size !== 4 || (offset & 0xf) !== 0) { this.ignoredWrites++; return; }
    this.writeReg(offset & 0xff0, value);
  }
}
