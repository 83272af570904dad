/**
 * More than one CPU: the APIC bus between the local APICs, the MP start-up protocol (INIT,
 * then a startup IPI), and the machine's deterministic interleaving of the CPUs.
 *
 * The bus (ApicBus) carries ICR messages (APM Vol. 2 16.5, interprocessor interrupts): the
 * destination is a shorthand (self, all including self, all excluding self) or a physical APIC
 * ID (FFh: broadcast) or a logical destination matched against each APIC's LDR/DFR (flat or
 * cluster model). Fixed messages go to every processor addressed; lowest priority goes to one
 * of them, the one with the lowest arbitration priority (APR), ties to the lowest APIC ID (a
 * deterministic choice; the APM leaves the choice to the implementation); NMI, INIT, startup
 * and SMI go to every processor addressed. The I/O APIC's redirection entries go through the
 * same destination logic. INIT level de-assert (mode 101b with level 0, trigger level) is the
 * old arbitration-ID synchronisation and does nothing.
 *
 * INIT, SMI and startup messages are taken by the receiving CPU between instructions: the
 * machine services them before that CPU's next slice (a message to the CPU running now ends
 * its slice after the current instruction). On the receiving CPU (APM Vol. 2 15.17, 15.28):
 *  - GIF = 0 holds INIT and SMI pending;
 *  - in a guest that intercepts INIT (misc1 bit 3): #VMEXIT(INIT, 63h); SMI likewise (62h);
 *  - VM_CR.R_INIT = 1: INIT becomes a #SX exception with error code 1 (which a guest's
 *    exception intercept for vector 30 can take);
 *  - otherwise the CPU is initialised (APM Vol. 2 14.1.3, Table 14-1: real mode at
 *    F000:FFF0, x87/SSE state and MSRs kept, the local APIC reset except its ID) and, unless it
 *    is the BSP (APIC_BASE.BSP), waits for a startup IPI; the BSP runs from the reset vector.
 *  - SMI outside a guest that intercepts it is counted and dropped: worldswitch has no SMM.
 * A startup IPI to a CPU waiting for one starts it in real mode at CS = vector << 8, IP = 0
 * (physical address vector << 12); a startup IPI to any other CPU is ignored.
 *
 * Interleaving: round robin, CPU 0 first, each CPU a fixed quantum of instructions per turn (a
 * slice also ends at the next device event, as in the one-CPU loop); a CPU in HLT that nothing
 * wakes returns at once and does not use its turn, and its cycle counter follows the others
 * (time passes while it waits). CPUs waiting for a startup IPI do not run. When no CPU can run,
 * time jumps to the next device event; with none, the run ends halted. The devices' clock is
 * the cycle counter of the CPU running now. Everything depends only on the image and the
 * options, so a run gives the same output and counts every time.
 */

import type { Cpu } from '../cpu/cpu.js';
import { cpuidLeaf } from '../cpu/cpuid.js';
import { FAULT, VMEXIT_ABORT } from '../cpu/fault.js';
import { setDr7 } from '../cpu/debug.js';
import { updateMode } from '../cpu/mode.js';
import { S, Stop } from '../cpu/state.js';
import type { IpiBus, LocalApic } from './lapic.js';
import type { MmioDevice } from './memory.js';

/** #VMEXIT codes and intercept bits (APM Vol. 2 Appendix C; misc1 word: SMI bit 2, INIT bit 3) */
const EXIT_SMI = 0x62;
const EXIT_INIT = 0x63;
/** #SX (vector 30); error code 1: an INIT was redirected (APM Vol. 2 8.2.20, 15.28) */
const VEC_SX = 30;
/** VM_CR.R_INIT (APM Vol. 2 15.30.1) */
const VM_CR_R_INIT = 2;
/** APIC_BASE.BSP */
const APIC_BASE_BSP = 0x100;

/** pending messages per CPU */
const enum Msg { Init = 1, Smi = 2, Sipi = 4 }

/** the default quantum: instructions per CPU per turn */
export const DEFAULT_QUANTUM = 1000;

/** The local APIC register window as the running CPU sees it: its own APIC. */
export class LapicWindow implements MmioDevice {
  constructor(private readonly smp: Smp) {}
  mmioRead(offset: number, size: number): number {
    return this.smp.lapics[this.smp.current].mmioRead(offset, size);
  }
  mmioWrite(offset: number, size: number, value: number): void {
    this.smp.lapics[this.smp.current].mmioWrite(offset, size, value);
  }
}

export class Smp implements IpiBus {
  /** the CPU running now (its APIC answers at the APIC window; its clock is the devices') */
  current = 0;
  /** instructions per CPU per turn */
  quantum = DEFAULT_QUANTUM;
  /** whose turn it is, the instructions left in it (0: a new turn starts), and whether the
   * turn retired any */
  turn = 0;
  turnLeft = 0;
  turnRan = false;
  /** pending INIT/SMI/startup messages per CPU (Msg bits) */
  readonly pending: Uint8Array;
  /** the startup vector of a pending startup IPI */
  readonly sipiVector: Uint8Array;
  /** CPUs waiting for a startup IPI (1) */
  readonly waitSipi: Uint8Array;
  /** SMIs dropped (no SMM), INITs taken, startups taken, #SX from R_INIT, INIT/SMI #VMEXITs */
  smisDropped = 0;
  inits = 0;
  startups = 0;
  initRedirects = 0;
  initExits = 0;
  smiExits = 0;
  /** lowest-priority messages delivered to each CPU */
  readonly lowestPriorityHits: Uint32Array;
  /** the line each CPU waits on in MWAIT (-1: none) and its contents when the wait began */
  readonly watchLine: Float64Array;
  readonly watchData: Int32Array;
  /** MWAITs ended by another CPU's write to the monitored line */
  monitorWakes = 0;

  constructor(readonly cpus: Cpu[], readonly lapics: LocalApic[]) {
    const n = cpus.length;
    this.pending = new Uint8Array(n);
    this.sipiVector = new Uint8Array(n);
    this.waitSipi = new Uint8Array(n);
    this.lowestPriorityHits = new Uint32Array(n);
    this.watchLine = new Float64Array(n).fill(-1);
    this.watchData = new Int32Array(n * 16);
    for (const l of lapics) l.bus = this;
    // the APs start as firmware leaves them: initialised, waiting for a startup IPI
    for (let k = 1; k < n; k++) this.parkAp(k);
  }

  /** CPU k (not the BSP) in the INIT state, waiting for a startup IPI */
  parkAp(k: number): void {
    resetToInit(this.cpus[k]);
    this.waitSipi[k] = 1;
    this.cpus[k].halted = true;
  }

  // ---- destinations (APM Vol. 2 16.5, 16.6) ----

  /** the CPUs an ICR message addresses, as a bit mask */
  private targets(from: number, shorthand: number, dest: number, logical: boolean): number {
    const n = this.lapics.length;
    const all = n >= 31 ? -1 : (1 << n) - 1;
    switch (shorthand) {
      case 1: return 1 << from;
      case 2: return all;
      case 3: return all & ~(1 << from);
      default: {
        let mask = 0;
        for (let k = 0; k < n; k++) {
          const l = this.lapics[k];
          if (l.hardwareEnabled && l.destinationIsSelf(dest, logical)) mask |= 1 << k;
        }
        return mask;
      }
    }
  }

  /** lowest priority: the addressed APIC with the lowest APR; ties to the lowest APIC ID */
  private lowest(mask: number): number {
    let best = -1;
    for (let k = 0; k < this.lapics.length; k++) {
      if (((mask >>> k) & 1) === 0 || !this.lapics[k].softwareEnabled) continue;
      if (best < 0) { best = k; continue; }
      const a = this.lapics[k].apr();
      const b = this.lapics[best].apr();
      if (a < b || (a === b && this.lapics[k].id < this.lapics[best].id)) best = k;
    }
    if (best < 0) for (let k = 0; k < this.lapics.length; k++) if (((mask >>> k) & 1) !== 0) return k;
    return best;
  }

  /** an ICR write (lapic.ts sendIpi, after the vector check) */
  send(from: LocalApic, lo: number, hi: number): void {
    const src = this.lapics.indexOf(from);
    const mask = this.targets(src, (lo >>> 18) & 3, hi >>> 24, (lo & 0x800) !== 0);
    const mt = (lo >>> 8) & 7;
    this.deliver(from, mask, mt, lo & 0xff, (lo & 0x8000) !== 0, (lo & 0x4000) !== 0);
  }

  /** an I/O APIC redirection entry fires (ioapic.ts); returns false if no APIC was addressed */
  fromIoApic(dest: number, logical: boolean, mode: number, vector: number, level: boolean): boolean {
    const mask = this.targets(-1, 0, dest, logical);
    if (mask === 0) return false;
    this.deliver(null, mask, mode, vector, level, true);
    return true;
  }

  private deliver(from: LocalApic | null, mask: number, mt: number, vector: number, level: boolean, assert: boolean): void {
    if (mask === 0) return;
    switch (mt) {
      case 0:
        for (let k = 0; k < this.lapics.length; k++) if (((mask >>> k) & 1) !== 0) this.lapics[k].accept(vector, level);
        return;
      case 1: {
        const k = this.lowest(mask);
        this.lowestPriorityHits[k]++;
        this.lapics[k].accept(vector, level);
        return;
      }
      case 4:
        for (let k = 0; k < this.lapics.length; k++) if (((mask >>> k) & 1) !== 0) this.lapics[k].nmi();
        return;
      case 2: case 5: case 6: {
        // INIT level de-assert: no effect (APM Vol. 2 16.5: for compatibility)
        if (mt === 5 && !assert && level) return;
        const bit = mt === 2 ? Msg.Smi : mt === 5 ? Msg.Init : Msg.Sipi;
        for (let k = 0; k < this.lapics.length; k++) {
          if (((mask >>> k) & 1) === 0 || !this.lapics[k].hardwareEnabled) continue;
          this.pending[k] |= bit;
          if (bit === Msg.Sipi) this.sipiVector[k] = vector;
          // taken between instructions: a message to the CPU running now ends its slice
          if (k === this.current) this.cpus[k].cycleDeadline = -Infinity;
        }
        return;
      }
      default:
        if (from !== null) from.ignoredMessages++;
    }
  }

  // ---- the receiving CPU ----

  /**
   * CPU k has an INIT or SMI that GIF = 0 holds: it runs one instruction at a time, so that the
   * message is taken at the first boundary where GIF is 1 (after STGI, or in the guest VMRUN
   * enters)
   */
  held(k: number): boolean {
    return (this.pending[k] & (Msg.Init | Msg.Smi)) !== 0 && this.waitSipi[k] === 0;
  }

  /** Take CPU k's pending messages at an instruction boundary (before its slice). */
  service(k: number, now: number): void {
    const c = this.cpus[k];
    const p = this.pending[k];
    if ((p & Msg.Smi) !== 0 && c.svm.gif) {
      this.pending[k] &= ~Msg.Smi;
      if (c.guestMode && c.intercepted(EXIT_SMI)) { this.smiExits++; c.svmExitAt(EXIT_SMI, 0, 0, 0, c.rip, 0); } else this.smisDropped++;
    }
    if ((p & Msg.Init) !== 0) {
      if (this.waitSipi[k] !== 0) {
        this.pending[k] &= ~Msg.Init;
        this.lapics[k].reset();
      } else if (c.svm.gif) {
        this.pending[k] &= ~Msg.Init;
        if (c.guestMode && c.intercepted(EXIT_INIT)) {
          this.initExits++;
          c.svmExitAt(EXIT_INIT, 0, 0, 0, c.rip, 0);
        } else if ((c.vmCr & VM_CR_R_INIT) !== 0) {
          this.initRedirects++;
          raiseSx(c);
        } else {
          this.init(k);
        }
      }
    }
    if ((this.pending[k] & Msg.Sipi) !== 0) {
      this.pending[k] &= ~Msg.Sipi;
      if (this.waitSipi[k] !== 0) this.startup(k, this.sipiVector[k], now);
    }
  }

  /** INIT (APM Vol. 2 14.1.3): the initial state; an AP then waits for a startup IPI */
  init(k: number): void {
    const c = this.cpus[k];
    this.inits++;
    resetToInit(c);
    this.lapics[k].reset();
    c.nmiPending = false;
    if ((c.apicBase & APIC_BASE_BSP) === 0) {
      this.waitSipi[k] = 1;
      c.halted = true;
    }
  }

  /** a startup IPI reached CPU k waiting for it: real mode at vector << 12 */
  startup(k: number, vector: number, now: number): void {
    const c = this.cpus[k];
    this.startups++;
    this.waitSipi[k] = 0;
    c.segSel[S.CS] = vector << 8;
    c.segBase[S.CS] = vector << 12;
    c.segLimit[S.CS] = 0xffff;
    c.segAttr[S.CS] = 0x9b;
    c.rip = 0;
    updateMode(c);
    c.halted = false;
    c.nmiPending = false;
    c.attention = true;
    c.flushFetch();
    // time passed while it waited
    if (c.cycles < now) c.cycles = now;
  }

  /**
   * MONITOR/MWAIT across CPUs (APM Vol. 3 MWAIT: a store to the monitored line ends the wait):
   * after CPU k's slice, a new MWAIT wait starts watching its line; before CPU k's turn, a line
   * whose contents changed (another CPU stored to it) ends the wait. A store of the value
   * already there is not seen.
   */
  watchMwait(k: number): void {
    const c = this.cpus[k];
    if (c.mwaitLine < 0) return;
    const line = c.mwaitLine;
    c.mwaitLine = -1;
    const mem = c.mem;
    if (!c.halted || line + 64 > mem.size) return;
    this.watchLine[k] = line;
    for (let w = 0; w < 16; w++) this.watchData[k * 16 + w] = mem.i32[line / 4 + w];
  }

  checkMwait(k: number): void {
    const line = this.watchLine[k];
    if (line < 0) return;
    const c = this.cpus[k];
    if (!c.halted) { this.watchLine[k] = -1; return; }
    const mem = c.mem;
    for (let w = 0; w < 16; w++) {
      if (this.watchData[k * 16 + w] !== mem.i32[line / 4 + w]) {
        this.watchLine[k] = -1;
        this.monitorWakes++;
        c.halted = false;
        c.attention = true;
        return;
      }
    }
  }

  /** interrupt requests so far on every APIC (the idle check compares it across a jump) */
  requests(): number {
    let n = 0;
    for (const l of this.lapics) n += l.acceptCount;
    return n;
  }
}

/** #SX with error code 1 (INIT redirected), delivered at the boundary */
function raiseSx(c: Cpu): void {
  c.ripStart = c.rip;
  FAULT.vector = VEC_SX;
  FAULT.errorCode = 1;
  FAULT.hasErrorCode = true;
  FAULT.address = 0;
  try {
    c.deliverException(c, FAULT);
  } catch (e) {
    if (e !== VMEXIT_ABORT) throw e;
  }
}

const OUT = new Int32Array(4);

/**
 * The state INIT gives (APM Vol. 2 14.1.3, Table 14-1): as RESET, except that the x87/SSE
 * state, the MSRs other than EFER, the TSC and the caches are kept. An INIT in a guest that
 * does not intercept it leaves the guest: the processor restarts.
 */
export function resetToInit(c: Cpu): void {
  c.rl.fill(0);
  c.rh.fill(0);
  cpuidLeaf(c, 1, 0, OUT);
  c.rl[2] = OUT[0]; // EDX: family, model, stepping
  c.flags = 0x2;
  c.lazySize = 0;
  c.cr0 = 0x60000010;
  c.cr2 = 0;
  c.cr3 = 0;
  c.cr4 = 0;
  c.efer = 0;
  c.cpl = 0;
  for (let s = 0; s < 8; s++) {
    c.segSel[s] = 0;
    c.segBase[s] = 0;
    c.segLimit[s] = 0xffff;
    c.segAttr[s] = 0x93;
  }
  c.segSel[S.CS] = 0xf000;
  c.segBase[S.CS] = 0xffff0000;
  c.segAttr[S.CS] = 0x9b;
  c.segAttr[S.LDTR] = 0x82;
  c.segAttr[S.TR] = 0x8b;
  c.gdtrBase = 0;
  c.gdtrLimit = 0xffff;
  c.idtrBase = 0;
  c.idtrLimit = 0xffff;
  c.rip = 0xfff0;
  for (let d = 0; d < 4; d++) c.dr[d] = 0;
  c.dr[6] = 0xffff0ff0;
  setDr7(c, 0x400);
  c.dbgPending = 0;
  c.intShadow = false;
  c.shadowArmed = false;
  c.movSsShadow = false;
  c.nmiBlocked = false;
  c.halted = false;
  // SVM: out of any guest, GIF = 1 (as at reset, APM Vol. 2 15.17)
  c.svm.gif = true;
  c.svm.guest = false;
  c.guestMode = false;
  c.npActive = false;
  c.paging.asid = 0;
  updateMode(c);
  c.paging.flushAll();
  c.flushCodeCache();
  c.attention = true;
}

/** the machine side of a run with more than one CPU: what machine.ts needs from it */
export interface SmpMachine {
  readonly sched: { runDue(now: number): void; next(): number };
  exitStatus: number | null;
  resetRequested: boolean;
  /** map the APIC window where CPU k's APIC_BASE says */
  placeApicFor(k: number): void;
  /** interrupt requests so far (APICs and the 8259) */
  requests(): number;
}

/** instructions retired (and exception storms counted) on every CPU */
function used(cpus: Cpu[]): number {
  let n = 0;
  for (const c of cpus) n += c.icount + c.stormCount;
  return n;
}

/**
 * Run the CPUs round robin until the guest exits, every CPU halts for good, one stops (shutdown,
 * a bare core's exception, a lab hook), or `maxInsns` instructions have retired on all CPUs
 * together. The turn in progress (whose CPU, how much of its quantum is left) carries over to
 * the next call, so the interleaving does not depend on how a caller slices the run.
 */
export function runSmp(m: SmpMachine, smp: Smp, maxInsns: number): Stop {
  const cpus = smp.cpus;
  const n = cpus.length;
  const sched = m.sched;
  const end = used(cpus) + maxInsns;
  let now = 0;
  for (const c of cpus) if (c.cycles > now) now = c.cycles;
  let idleAccepts = -1;
  // turns in a row in which no instruction retired
  let idle = 0;
  for (;;) {
    const k = smp.turn;
    const c = cpus[k];
    if (smp.current !== k) { smp.current = k; m.placeApicFor(k); }
    if (smp.turnLeft === 0) {
      // a new turn; a CPU that waits (HLT, or for a startup IPI) keeps up with time
      if ((c.halted || smp.waitSipi[k] !== 0) && c.cycles < now) {
        if (smp.waitSipi[k] === 0) c.perf.haltCycles += now - c.cycles;
        c.cycles = now;
      }
      smp.turnLeft = smp.quantum;
      smp.turnRan = false;
    }
    sched.runDue(c.cycles);
    if (m.exitStatus !== null) return Stop.Exit;
    if (m.resetRequested) return Stop.Reset;
    if (smp.pending[k] !== 0) smp.service(k, now);
    if (smp.watchLine[k] >= 0) smp.checkMwait(k);
    if (smp.waitSipi[k] === 0) {
      const left = end - used(cpus);
      if (left <= 0) return Stop.Budget;
      const i0 = c.icount + c.stormCount;
      c.cycleDeadline = sched.next();
      const stop = c.run(smp.held(k) ? 1 : Math.min(smp.turnLeft, left));
      c.cycleDeadline = Infinity;
      if (c.mwaitLine >= 0) smp.watchMwait(k);
      const done = c.icount + c.stormCount - i0;
      smp.turnLeft = Math.max(0, smp.turnLeft - done);
      if (done > 0) smp.turnRan = true;
      if (c.cycles > now) now = c.cycles;
      if (m.exitStatus !== null) return Stop.Exit;
      if (m.resetRequested) return Stop.Reset;
      if (stop !== Stop.Budget && stop !== Stop.Halt) return stop;
      // the slice ended at a device event, a message or the caller's budget: the turn goes on
      if (stop === Stop.Budget && smp.turnLeft > 0) continue;
    }
    // the turn is over: its quantum is used, or the CPU waits
    if (smp.turnRan) { idle = 0; idleAccepts = -1; } else idle++;
    smp.turnLeft = 0;
    smp.turn = (k + 1) % n;
    if (idle >= n) {
      // a whole round without an instruction: jump to the next device event, unless nothing
      // new can come of it (no event, or the last jump only repeated a request no CPU takes)
      idle = 0;
      const wake = sched.next();
      const req = m.requests();
      if (wake === Infinity || req === idleAccepts) return Stop.Halt;
      idleAccepts = req;
      if (wake > now) now = wake;
    }
  }
}
