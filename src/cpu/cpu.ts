/**
 * The x86-64 CPU: architectural state, the decoded-instruction cache and the run loop.
 *
 * General registers are kept as 32-bit halves (`rl` low, `rh` high) in typed arrays; 64-bit
 * values travel as a low half returned and a high half left in `xh`. RFLAGS keeps CF, AF and OF
 * exact at all times; ZF, SF and PF are derived lazily from the last result (`lazySize` != 0)
 * until something reads RFLAGS as a whole (see flags.ts).
 */

import { Decoder, NEED_MORE } from '../x86/decoder.js';
import { Insn, Pfx, type Exec } from '../x86/insn.js';
import { INSNS } from '../x86/table.js';
import type { PhysMem } from '../machine/memory.js';
import { FAULT, raise, VMEXIT_ABORT, type CpuFault } from './fault.js';
import { Acc, translate } from './mmu.js';
import { Stop, TWO32, Vec } from './state.js';
import { HANDLERS } from './exec/registry.js';
import { Paging } from './paging.js';
import { deliverCatching, deliverException, deliverSoftware, Ev, ShutdownInfo } from './interrupts.js';
import { Fl } from './state.js';
import { SvmState } from '../svm/state.js';
import { CostTable, serializing, type CostProfile } from '../cost/profile.js';
import { ledgerIndex, ledgerIsTsc, ledgerIsVmrun } from '../cost/ledger.js';
import { installSvm } from '../svm/svm.js';
import { FpuState } from './fpu/state.js';
import { branchExec, DbgCtl, isBranchRow, Perf } from './pmu.js';
import { AmdMsrState } from './msr-amd.js';
import { deliverDb, Dr6, insnMatch } from './debug.js';
import { Jit, JIT_DEFAULTS } from './jit/jit.js';
import { FetchCache } from './fetch-cache.js';

/** The interrupt controller as the CPU sees it (the LAPIC). */
export interface InterruptSource {
  /** a maskable interrupt is ready to be taken */
  hasInterrupt(): boolean;
  /** take it: returns the vector (IRR to ISR) */
  acknowledge(): number;
}

/** Port I/O as the CPU sees it; implemented by the machine's bus. */
export interface PortIo {
  portIn(port: number, size: number): number;
  portOut(port: number, size: number, value: number): void;
}


const NO_IO: PortIo = { portIn: () => -1, portOut: () => {} };

function breakpointExec(c: Cpu, i: Insn): void {
  c.onBreakpoint(c, c.ripLinearAt(c.ripStart));
  if (c.onGsAccess !== null && c.stopReason === Stop.None && gsMemory(i)) c.onGsAccess(c);
  if (c.stopReason !== Stop.None) {
    // the hook stopped the run: the instruction does not execute (nor count: the loop adds
    // its count and cost after this returns)
    c.rip = c.ripStart;
    c.icount--;
    c.cycles -= i.cost;
    return;
  }
  if (c.perf.watchBranches && isBranchRow(i.row)) branchExec(c, i);
  else i.orig(c, i);
  if (c.ledger !== null) c.ledger[i.ledger]++;
}

/** a memory operand through a GS segment override (ModRM memory forms and moffs) */
function gsMemory(i: Insn): boolean {
  return (i.pfx & Pfx.Seg) !== 0 && i.seg === 5 && !(i.modrm >= 0 && i.rm >= 0);
}

function gsAccessExec(c: Cpu, i: Insn): void {
  c.onGsAccess!(c);
  i.orig(c, i);
  if (c.ledger !== null) c.ledger[i.ledger]++;
}

function countSerializingExec(c: Cpu, i: Insn): void {
  i.orig(c, i);
  c.serializingCount++;
}

/** with the cost ledger on: count what the instruction was charged (only if it retired) */
function ledgerExec(c: Cpu, i: Insn): void {
  i.orig(c, i);
  c.ledger![i.ledger]++;
  if (c.countSerializing && (i.ledger & 1) !== 0) c.serializingCount++;
}

/** RDTSC, VMRUN with the ledger on: the lab's snapshot first (the ledger then matches the TSC read) */
function ledgerMarkExec(c: Cpu, i: Insn): void {
  if (!c.guestMode && c.onLedgerMark !== null) c.onLedgerMark(c, i.ledger);
  ledgerExec(c, i);
}

function udExec(_c: Cpu, i: Insn): void {
  raise(i.fault === 0 ? Vec.UD : i.fault, 0);
}

function buildHandlers(): Exec[] {
  return INSNS.map((s) => {
    const h = HANDLERS[s.exec];
    return h === undefined ? udExec : h;
  });
}

/** Names of table handlers that no execution family implements yet (they raise #UD). */
export function missingHandlers(): string[] {
  const set = new Set<string>();
  for (const s of INSNS) if (HANDLERS[s.exec] === undefined) set.add(s.exec);
  return [...set].sort();
}

let sharedDecoder: Decoder | null = null;

/** the fetch page when none is current: every lookup misses */
const EMPTY_PAGE: (Insn | undefined)[] = new Array<Insn | undefined>(4096).fill(undefined);

export class Cpu {
  // ---- architectural state ----
  readonly rl = new Int32Array(16);
  readonly rh = new Int32Array(16);
  /** RIP: in 64-bit mode a signed canonical number, else the 32-bit (or 16-bit) offset */
  rip = 0;
  /** RFLAGS; ZF/SF/PF are stale while lazySize != 0 */
  flags = 0x2;
  lazyRes = 0;
  lazyResHi = 0;
  /** 0: ZF/SF/PF are in `flags`; 1, 2, 4, 8: derive them from lazyRes/lazyResHi at this size */
  lazySize = 0;
  /** segment registers ES CS SS DS FS GS LDTR TR: selector and hidden part */
  readonly segSel = new Uint16Array(8);
  readonly segBase = new Float64Array(8);
  readonly segLimit = new Uint32Array(8);
  /** descriptor attributes in VMCB form: bits 7:0 = descriptor 47:40, 11:8 = 55:52 */
  readonly segAttr = new Uint16Array(8);
  cpl = 0;
  gdtrBase = 0;
  gdtrLimit = 0xffff;
  idtrBase = 0;
  idtrLimit = 0x3ff;
  cr0 = 0x60000010;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  /** DR0-DR7 (DR4/DR5 unused: they alias DR6/DR7); DR7 is written through debug.ts setDr7 */
  readonly dr = Float64Array.of(0, 0, 0, 0, 0, 0, 0xffff0ff0, 0x400);
  /**
   * Loading a null selector into DS, ES, FS or GS clears the segment's base and limit (a
   * machine option: family 17h keeps them, which is the default; Intel parts and AMD parts with
   * NullSelectClearsBase clear them)
   */
  nullSelClearsBase = false;
  /** enabled instruction, data and I/O breakpoints (bit k: DRk), from DR7 (debug.ts) */
  dbgInsn = 0;
  dbgData = 0;
  dbgIo = 0;
  /** DR6 bits of #DB traps waiting for the next instruction boundary (single-step, data, I/O) */
  dbgPending = 0;
  /** icount of an instruction that decides its own single-step trap (SYSCALL, SYSRET, INT n) */
  stepAt = -1;
  /** the interrupt shadow comes from MOV SS / POP SS: it holds #DB traps too */
  movSsShadow = false;
  /** x87, SSE and XSAVE state (fpu/state.ts) */
  readonly fpu = new FpuState();
  /** CR8 <-> LAPIC TPR, connected by the machine */
  tprWrite: ((v: number) => void) | null = null;
  tprRead: (() => number) | null = null;
  /** INVLPG hook for the SVM layer's intercept; returns true if it took the instruction */
  invlpgHook: ((c: Cpu, lin: number) => boolean) | null = null;

  // ---- MSRs ----
  // (msr.ts has the table that reads and writes these; FS/GS base live in segBase[4]/[5].)
  // Addresses are canonical signed numbers; other 64-bit MSRs are lo/hi int32 pairs.
  /** STAR: lo = legacy SYSCALL EIP; hi bits 15:0 = SYSCALL CS, bits 31:16 = SYSRET CS */
  starLo = 0;
  starHi = 0;
  lstar = 0;
  cstar = 0;
  /** SFMASK bits 31:0 (63:32 read as zero) */
  sfmask = 0;
  kernelGsBase = 0;
  /** SYSENTER_CS/ESP/EIP: AMD keeps bits 31:0 only */
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  /** TSC = cycles + this offset (mod 2^64), set by WRMSR TSC */
  tscOffLo = 0;
  tscOffHi = 0;
  tscAux = 0;
  /** APIC_BASE: base 0xFEE00000, BSP (bit 8) and enable (bit 11) set */
  apicBase = 0xfee00900;
  /** initial APIC ID (CPUID 1 EBX[31:24]) and the number of CPUs in the machine (machine.ts, smp.ts) */
  apicId = 0;
  cpuCount = 1;
  /** this CPU's bit in PhysMem.codePage (CPU k: 1 << k), so that CPUs share the page marks */
  codeBit = 1;
  /** the machine's reaction to an APIC_BASE write (move or remove the APIC), given the old value */
  onApicBase: ((old: number) => void) | null = null;
  /** performance counters, DebugCtl and the last-branch records (pmu.ts) */
  readonly perf = new Perf();
  /** AMD configuration MSRs and MTRRs (msr-amd.ts) */
  readonly amd = new AmdMsrState();
  /** PAT, reset value 0007_0406_0007_0406 */
  patLo = 0x00070406;
  patHi = 0x00070406;
  mtrrDefType = 0;
  /** VM_CR (C001_0114): DPD, R_INIT, DIS_A20M, LOCK, SVMDIS */
  vmCr = 0;
  /** VM_HSAVE_PA (C001_0117): physical address of the host save area */
  vmHsavePa = 0;
  /** the SVM layer's MSR intercept: returns true if it took the RDMSR/WRMSR */
  msrHook: ((c: Cpu, msr: number, write: boolean) => boolean) | null = null;
  /**
   * the SVM layer's IOIO intercept: called with EXITINFO1 as APM Vol. 2 15.10.2 lays it out
   * (after the IOPL / I/O-bitmap checks); returns true if it took the instruction
   */
  ioHook: ((c: Cpu, exitInfo1: number) => boolean) | null = null;

  // ---- SVM ----
  readonly svm = new SvmState();
  /** running a guest: intercepts apply (mirror of svm.guest for the hot paths) */
  guestMode = false;
  /** running a guest with nested paging: every access is translated, paging on or not */
  npActive = false;
  /**
   * A nested page fault: the SVM layer takes #VMEXIT(NPF) and aborts the instruction (it does
   * not return). Installed by the SVM layer.
   */
  npfHook: (gpa: number, info1Lo: number, info1Hi: number) => never = () => {
    throw new Error('nested paging without the SVM layer');
  };

  /**
   * #VMEXIT from inside an instruction and end it (installed by the SVM layer; never returns).
   * The guest RIP saved is the instruction's own (ripStart); `nrip` goes to the VMCB's NRIP.
   */
  svmExit: (code: number, info1Lo: number, info1Hi: number, info2: number, nrip: number) => never = () => {
    throw new Error('#VMEXIT without the SVM layer');
  };
  /** #VMEXIT between instructions or from event delivery (returns; guest RIP given) */
  svmExitAt: (code: number, info1Lo: number, info1Hi: number, info2: number, guestRip: number, nrip: number) => void = () => {};
  /** events in guest mode (installed by the SVM layer) */
  guestEvents: (c: Cpu) => void = () => {};

  /**
   * An instruction-intercept site (APM Vol. 2 15.9): if the running guest intercepts exit
   * `code`, #VMEXIT with NRIP = the next instruction. Called after the instruction's simple
   * exception checks (#UD, CPL) and before its memory accesses, as the manual orders them.
   */
  icpt(code: number): void {
    if (!this.guestMode) return;
    if (this.intercepted(code)) this.svmExit(code, 0, 0, 0, this.rip);
  }

  /** the running guest's intercept bit for exit `code` (0x00-0x8F; APM Vol. 2 App. B) */
  intercepted(code: number): boolean {
    // words of 32 bits: CR (00-1F), DR (20-3F), exceptions (40-5F), misc1 (60-7F), misc2 (80-9F)
    return ((this.svm.intercepts[code >>> 5] >>> (code & 31)) & 1) !== 0;
  }

  // ---- events ----
  /** an NMI is waiting for delivery */
  nmiPending = false;
  /** NMIs are blocked from an NMI's delivery until the next IRET (APM Vol. 2 8.2.3) */
  nmiBlocked = false;
  /** interrupt shadow after STI or MOV SS/POP SS: holds off interrupts for one instruction */
  intShadow = false;
  /**
   * The shadow has held off events at one boundary already: it ends after the instruction
   * that follows (so a #VMEXIT during that instruction still saves INTERRUPT_SHADOW = 1).
   */
  shadowArmed = false;
  /** waiting in HLT */
  halted = false;
  /** MONITOR armed the (unmodelled) monitor hardware; MWAIT disarms it */
  monitorArmed = false;
  /** physical address of the 64-byte line MONITOR armed, and of the line an MWAIT now waits on
   * (-1: none); with more CPUs a write to it by another CPU ends the wait (smp.ts) */
  monitorLine = -1;
  mwaitLine = -1;
  /**
   * Something may need doing between instructions (pending NMI or interrupt, interrupt
   * shadow, HLT): the run loop checks this one flag per instruction and does the rest only
   * when it is set. Anything that makes an event pending sets it.
   */
  attention = false;
  /** the maskable-interrupt source (LAPIC); null for a bare core */
  intc: InterruptSource | null = null;
  /** what ended the run in a shutdown */
  readonly shutdown = new ShutdownInfo();
  /**
   * Called before an exception is delivered through the IDT; returns true if it took the
   * exception instead (the SVM layer's exception intercepts).
   */
  exceptionHook: ((c: Cpu, vector: number, errorCode: number, hasErr: boolean) => boolean) | null = null;
  /** scratch: the last descriptor read (low and high words; high64 for 16-byte system descriptors) */
  descLo = 0;
  descHi = 0;
  descHi64 = 0;

  // ---- derived mode ----
  /** code size: 16, 32 or 64 */
  bits = 32;
  /** stack operand size in bytes: 2, 4 or 8 */
  stackSize = 4;
  pagingOn = false;
  readonly paging: Paging;
  /** set while the CPU makes implicit supervisor accesses (descriptor tables, TSS) */
  implicitSupervisor = false;

  // ---- machine connections ----
  mem: PhysMem;
  io: PortIo = NO_IO;

  // ---- execution ----
  /** high half of the last 64-bit value returned by a helper */
  xh = 0;
  /** RIP of the instruction executing now */
  ripStart = 0;
  /** retired instructions */
  icount = 0;
  /** cycle counter (the TSC source); one per instruction until a cost model is attached */
  cycles = 0;
  /** the cycle model; null: one cycle per instruction */
  costs: CostTable | null = null;
  /** extra cycles of RDMSR/WRMSR by MSR class (msr.ts), from the cost model */
  readonly msrReadCost = new Float64Array(16);
  readonly msrWriteCost = new Float64Array(16);
  /** extra cycles of the #VMEXIT half of a world switch */
  vmexitCost = 0;
  /** run() returns (Stop.Budget) once `cycles` reaches this: the machine's next device event */
  cycleDeadline = Infinity;
  stopReason: Stop = Stop.None;
  /** last exception that stopped the run (Stop.Exception) */
  lastFault = { vector: 0, errorCode: 0, rip: 0 };
  /**
   * Deliver an exception raised by an instruction (RIP already points at it). The default, for
   * a bare core with no interrupt machinery, stops the run with Stop.Exception.
   */
  deliverException: (c: Cpu, f: CpuFault) => void = (c, f) => {
    if (c.exceptionHook !== null && c.exceptionHook(c, f.vector, f.errorCode, f.hasErrorCode)) return;
    c.lastFault.vector = f.vector;
    c.lastFault.errorCode = f.errorCode;
    c.lastFault.rip = c.rip;
    c.stopReason = Stop.Exception;
  };

  /**
   * Deliver a software interrupt or trap raised by INT n, INT3, INTO or INT1 (`kind` 4, 6, 6, 5
   * as in EVENTINJ TYPE / APM Vol. 2 15.20); RIP already points past the instruction. The default
   * stops the run with Stop.Exception.
   */
  deliverSoftware: (c: Cpu, vector: number, kind: number) => void = (c, vector) => {
    c.lastFault.vector = vector;
    c.lastFault.errorCode = 0;
    c.lastFault.rip = c.rip;
    c.stopReason = Stop.Exception;
  };

  /**
   * Switch from the bare core's stop-on-exception to architectural delivery through the
   * IVT/IDT (machines that boot kernels do this).
   */
  useArchitecturalDelivery(): void {
    this.deliverException = deliverException;
    this.deliverSoftware = deliverSoftware;
  }

  /**
   * Use a cost profile for the cycle counter (and so the TSC); null returns to one cycle per
   * instruction. Decoded instructions are dropped so each gets its new cost.
   */
  setCostProfile(p: CostProfile | null): void {
    this.costs = p === null ? null : new CostTable(p);
    this.msrReadCost.fill(0);
    this.msrWriteCost.fill(0);
    this.vmexitCost = 0;
    if (this.costs !== null) {
      this.msrReadCost.set(this.costs.rdmsr);
      this.msrWriteCost.set(this.costs.wrmsr);
      this.vmexitCost = this.costs.vmexit;
    }
    this.flushCodeCache();
  }

  /**
   * Hold off interrupts and NMIs for the next instruction (after STI, MOV SS, POP SS). After
   * MOV SS and POP SS (`movSs`) #DB traps are held too, until after the next instruction
   * (interrupts: APM Vol. 3 MOV, POP; debug traps: Intel SDM Vol. 3 6.8.3).
   */
  startShadow(movSs = false): void {
    this.intShadow = true;
    this.shadowArmed = false;
    this.movSsShadow = movSs;
    this.attention = true;
  }

  /**
   * The instruction executing now set RFLAGS.RF (IRET, VMRUN, an unfinished REP string): the
   * next boundary's event check must run, to skip that instruction breakpoint check and clear RF.
   */
  keepRf(): void {
    this.attention = true;
  }

  /** The instruction executing now decides its own single-step trap (SYSCALL, SYSRET, INT n). */
  ownStep(trap: boolean): void {
    this.stepAt = this.icount;
    if (trap) { this.dbgPending |= Dr6.BS; this.attention = true; }
  }

  /**
   * An SMI is waiting (APM Vol. 2 10.3). SMM is not implemented: a guest whose VMCB intercepts
   * SMI takes #VMEXIT(SMI) and the SMI stays pending; anywhere else with GIF = 1 it is
   * discarded and counted in `smisDropped`.
   */
  smiPending = false;
  smisDropped = 0;

  raiseSmi(): void {
    this.smiPending = true;
    this.attention = true;
  }

  /** Raise an NMI (from the LAPIC, a verifier, ...). */
  raiseNmi(): void {
    this.nmiPending = true;
    this.attention = true;
  }

  /**
   * Between instructions: take a pending NMI or interrupt if nothing holds it off (APM Vol. 2
   * 8.5: NMI before INTR; the shadow after STI/MOV SS holds both for one instruction).
   * Returns false when the CPU is halted with nothing to wake it.
   */
  private events(): boolean {
    // #DB traps of the previous instruction come before NMI and INTR (APM Vol. 2 8.5); MOV SS
    // and POP SS hold them for one more instruction
    if (this.dbgPending !== 0 && !(this.intShadow && this.movSsShadow && !this.shadowArmed)) {
      const bits = this.dbgPending;
      this.dbgPending = 0;
      this.intShadow = false;
      this.shadowArmed = false;
      deliverDb(this, bits);
      if (this.stopReason !== Stop.None) return true;
    }
    let held = false;
    if (this.intShadow) {
      if (!this.shadowArmed) {
        this.shadowArmed = true;
        held = true;
      } else {
        this.intShadow = false;
        this.shadowArmed = false;
      }
    }
    let took = false;
    if (held) {
      // the shadow holds NMI and INTR at this boundary (and keeps the event check on)
    } else if (this.guestMode) {
      this.guestEvents(this);
    } else if (!this.svm.gif) {
      // GIF = 0 holds SMI, NMI and INTR pending (APM Vol. 2 15.17)
    } else if (this.smiPending) {
      this.smiPending = false;
      this.smisDropped++;
    } else if (this.nmiPending && !this.nmiBlocked) {
      this.nmiPending = false;
      this.nmiBlocked = true;
      this.deliverExternal(2, Ev.Nmi);
      took = true;
    } else if ((this.flags & Fl.IF) !== 0 && this.intc !== null && this.intc.hasInterrupt()) {
      const v = this.intc.acknowledge();
      this.deliverExternal(v, Ev.Ext);
      took = true;
    }
    if (took) this.halted = false;
    // instruction breakpoints: a fault before the instruction executes, unless RF = 1 (APM
    // Vol. 2 13.1, instruction breakpoints)
    if (this.dbgInsn !== 0 && (this.flags & Fl.RF) === 0 && !this.halted) {
      const hit = insnMatch(this);
      if (hit !== 0) {
        deliverDb(this, hit);
        if (this.stopReason !== Stop.None) return true;
      }
    }
    // RF is cleared as the next instruction starts, after its instruction-breakpoint check
    // (APM Vol. 2 3.1.6: cleared after each instruction completes, except by an instruction
    // that sets it; Intel SDM Vol. 3 17.3.1.1 gives this timing): an event taken here, before
    // the clear, pushes RF = 1 so that returning to the instruction skips its breakpoint again
    this.flags &= ~Fl.RF;
    this.attention = held || this.halted || this.nmiPending || this.smiPending || (this.intc !== null && this.intc.hasInterrupt()) || this.extraAttention() ||
      this.dbgInsn !== 0 || this.dbgPending !== 0;
    return !this.halted;
  }

  /** extra reasons to keep checking between instructions (the SVM layer's pending V_IRQ) */
  extraAttention: () => boolean = () => false;

  private deliverExternal(vector: number, kind: number): void {
    this.ripStart = this.rip;
    deliverCatching(this, vector, kind);
  }

  private readonly decoder: Decoder;
  private readonly codeCache = new Map<number, (Insn | undefined)[]>();
  /** linear address of the page whose decoded instructions are in fetchArr (read by the jit) */
  fetchBase = 0;
  fetchArr: (Insn | undefined)[] = EMPTY_PAGE;
  /** physical address of that page */
  private fetchPhys = 0;
  /** recently fetched code pages (fetch-cache.ts) */
  private readonly fetchCache = new FetchCache(EMPTY_PAGE);
  /** bumped whenever decoded instructions are dropped (a code write): compiled blocks stop */
  codeGen = 0;
  /** the block compiler (jit/jit.ts); null: the interpreter runs everything */
  jit: Jit | null = null;

  /** Turn the block compiler on or off (nothing observable changes either way). */
  setJit(on: boolean, threshold = JIT_DEFAULTS.threshold): void {
    this.jit = on ? new Jit(threshold) : null;
  }
  private readonly fetchBuf = new Uint8Array(16);
  private readonly scratchInsn: Insn;

  constructor(mem: PhysMem) {
    this.mem = mem;
    sharedDecoder ??= new Decoder(buildHandlers(), udExec);
    this.decoder = sharedDecoder;
    this.scratchInsn = new Insn(udExec);
    this.paging = new Paging(this);
    installSvm(this);
    mem.onCodeWrite = (page) => this.invalidateCodePage(page);
    if (JIT_DEFAULTS.on) this.setJit(true);
  }

  // ---- decoded-instruction cache ----

  /** Drop decoded instructions of one physical page (a write hit it). */
  invalidateCodePage(page: number): void {
    this.codeGen++;
    this.codeCache.delete(page);
    this.mem.codePage[page] &= ~this.codeBit;
    this.fetchArr = EMPTY_PAGE;
    this.fetchCache.clear();
  }

  /** Forget the fetch translation (after CR3/paging/CS changes). */
  flushFetch(): void {
    this.fetchArr = EMPTY_PAGE;
    this.fetchCache.clear();
  }

  flushCodeCache(): void {
    this.codeGen++;
    for (const page of this.codeCache.keys()) this.mem.codePage[page] &= ~this.codeBit;
    this.codeCache.clear();
    this.flushFetch();
  }

  /** linear address of the next instruction */
  ripLinear(): number {
    return this.ripLinearAt(this.rip);
  }

  ripLinearAt(rip: number): number {
    return this.bits === 64 ? rip : (this.segBase[1] + rip) % TWO32;
  }

  /**
   * The physical address the current instruction fetch page gives `lin`, or -1 when `lin` is
   * not on it (decode assists read the bytes the CPU fetched from there: the TLB entry the fetch
   * used may since have been evicted by the instruction's own data accesses).
   */
  fetchedPhys(lin: number): number {
    const off = lin - this.fetchBase;
    return this.fetchArr !== EMPTY_PAGE && off >= 0 && off < 4096 ? this.fetchPhys + off : -1;
  }

  private fetch(): Insn {
    const lin = this.bits === 64 ? this.rip : (this.segBase[1] + this.rip) % TWO32;
    const off = lin - this.fetchBase;
    if (off >= 0 && off < 4096) {
      const insn = this.fetchArr[off];
      if (insn !== undefined && insn.bits === this.bits) return insn;
    }
    return this.fetchSlow(lin);
  }

  private fetchSlow(lin: number): Insn {
    // APM Vol. 2 3.4.3: a non-canonical RIP faults with #GP(0) on fetch
    if (this.bits === 64 && (lin < -0x800000000000 || lin >= 0x800000000000)) raise(Vec.GP, 0);
    // a recent page whose translation the TLB still holds as it was (fetch-cache.ts)
    if (this.fetchCached(lin)) {
      const have = this.fetchArr[lin - this.fetchBase];
      if (have !== undefined && have.bits === this.bits) return have;
    }
    const base = Math.floor(lin / 4096) * 4096;
    const phys = translate(this, base, Acc.Exec);
    const ppage = Math.floor(phys / 4096);
    const cacheable = phys < this.mem.size && this.mem.isRam(phys);
    let arr = cacheable ? this.codeCache.get(ppage) : undefined;
    if (cacheable && arr === undefined) {
      arr = new Array<Insn | undefined>(4096).fill(undefined);
      this.codeCache.set(ppage, arr);
      this.mem.codePage[ppage] |= this.codeBit;
    }
    const off = lin - base;
    if (arr !== undefined) {
      this.fetchArr = arr;
      this.fetchBase = base;
      this.fetchPhys = ppage * 4096;
      this.fetchCache.add(base, this.fetchPhys, arr);
      const have = arr[off];
      if (have !== undefined && have.bits === this.bits) return have;
    }
    // decode: bytes from this page, and from the next one only if the instruction needs them
    const n0 = Math.min(4096 - off, 15);
    const buf = this.fetchBuf;
    for (let k = 0; k < n0; k++) buf[k] = this.mem.read8(phys + off + k);
    const insn = arr !== undefined && arr[off] !== undefined ? arr[off]! : new Insn(udExec);
    let r = this.decoder.decode(insn, buf, 0, n0, this.bits);
    if (r === NEED_MORE) {
      const phys2 = translate(this, base + 4096, Acc.Exec);
      for (let k = n0; k < 15; k++) buf[k] = this.mem.read8(phys2 + k - n0);
      r = this.decoder.decode(insn, buf, 0, 15, this.bits);
      this.finishDecode(insn, lin);
      // an instruction that crosses a page is not cached (its second page is not tracked)
      return r === NEED_MORE ? this.scratchInsn : insn;
    }
    this.finishDecode(insn, lin);
    if (arr !== undefined) arr[off] = insn;
    return insn;
  }

  /**
   * Make the page of linear address `lin` the current fetch page from the cache of recent
   * pages (fetch-cache.ts), as a fetch there would: true if it had the page with the TLB still
   * holding its translation (a TLB hit for an execute access: no side effect), else false and
   * nothing changed. Used by fetchSlow and by the block compiler's chaining across pages.
   */
  fetchCached(lin: number): boolean {
    const base = Math.floor(lin / 4096) * 4096;
    const fc = this.fetchCache;
    const k = fc.find(base);
    if (k < 0) return false;
    const p = this.pagingOn || this.npActive ? this.paging.probe(base, Acc.Exec, this.cpl === 3 && !this.implicitSupervisor) : base;
    if (p !== fc.phys[k] || p + 4096 > this.mem.mmioLow) return false;
    this.fetchArr = fc.arr[k];
    this.fetchBase = base;
    this.fetchPhys = p;
    return true;
  }

  /**
   * For the block compiler: the decoded instruction at offset `off` of the current fetch page,
   * decoding it into the page's cache now if it is not there yet (as fetching it later would;
   * a write to the page drops it with the rest). undefined if it does not lie wholly in the
   * page or the offset holds an instruction decoded for another code size.
   */
  decodeAhead(off: number): Insn | undefined {
    const arr = this.fetchArr;
    if (arr === EMPTY_PAGE || off < 0 || off >= 4096) return undefined;
    const have = arr[off];
    if (have !== undefined) return have.bits === this.bits ? have : undefined;
    const n = Math.min(4096 - off, 15);
    const buf = this.fetchBuf;
    for (let k = 0; k < n; k++) buf[k] = this.mem.read8(this.fetchPhys + off + k);
    const insn = new Insn(udExec);
    if (this.decoder.decode(insn, buf, 0, n, this.bits) === NEED_MORE) return undefined;
    this.finishDecode(insn, this.fetchBase + off);
    arr[off] = insn;
    return insn;
  }

  /** after decoding: the instruction's cost, and a breakpoint wrapper where one is set */
  private finishDecode(insn: Insn, lin: number): void {
    insn.cost = this.costs === null ? 1 : this.costs.costOf(insn);
    insn.orig = insn.exec;
    if (this.ledger !== null) insn.ledger = ledgerIndex(insn);
    // a breakpointed instruction is counted in the ledger too (but takes no lab snapshot)
    if (this.breakpoints !== null && this.breakpoints.has(lin)) insn.exec = breakpointExec;
    else if (this.onGsAccess !== null && gsMemory(insn)) insn.exec = gsAccessExec;
    else if (this.perf.watchBranches && isBranchRow(insn.row)) insn.exec = branchExec;
    else if (this.ledger !== null) {
      insn.exec = ledgerIsTsc(insn.ledger) || ledgerIsVmrun(insn.ledger) ? ledgerMarkExec : ledgerExec;
    } else if (this.countSerializing && serializing(insn)) insn.exec = countSerializingExec;
  }

  /**
   * The cost ledger (src/cost/ledger.ts): counts of every cost charged, for the lab's fast
   * evaluation of other constants. null (the default) costs nothing; set it with setLedger.
   */
  ledger: Float64Array | null = null;
  /** called in host mode before a RDTSC/RDTSCP or VMRUN executes, and at every #VMEXIT (code) */
  onLedgerMark: ((c: Cpu, entry: number) => void) | null = null;
  onLedgerExit: ((c: Cpu, code: number) => void) | null = null;

  setLedger(ledger: Float64Array | null): void {
    this.ledger = ledger;
    this.flushCodeCache();
  }

  /** statistics for the bench: serializing instructions and RDMSR/WRMSR executed */
  countSerializing = false;
  serializingCount = 0;
  msrAccesses = 0;

  /**
   * Lab breakpoints: before an instruction at one of these linear addresses executes,
   * `onBreakpoint` is called (it may stop the run or record state). Costs nothing elsewhere:
   * the instructions are wrapped when decoded. null removes them.
   */
  breakpoints: Set<number> | null = null;
  /**
   * Lab hook: called before every instruction whose memory operand goes through a GS segment
   * override (the verifier's per-cpu access check). Wrapped at decode time like breakpoints,
   * so it costs nothing when null; set it with `setGsAccessHook`.
   */
  onGsAccess: ((c: Cpu) => void) | null = null;

  setGsAccessHook(hook: ((c: Cpu) => void) | null): void {
    this.onGsAccess = hook;
    this.flushCodeCache();
  }
  onBreakpoint: (c: Cpu, lin: number) => void = () => {};

  setBreakpoints(addrs: Set<number> | null, hook?: (c: Cpu, lin: number) => void): void {
    this.breakpoints = addrs;
    if (hook !== undefined) this.onBreakpoint = hook;
    this.flushCodeCache();
  }

  /**
   * Called when an event is about to be delivered through the IDT/IVT (kind as in
   * interrupts.ts Ev; external interrupts and NMIs, exceptions, software interrupts), with the
   * state it interrupts. For lab tools; null when unused.
   */
  onDeliver: ((c: Cpu, vector: number, kind: number) => void) | null = null;

  // ---- run loop ----

  /** Execute up to `budget` instructions; returns why it stopped. */
  run(budget: number): Stop {
    this.stopReason = Stop.None;
    const end = this.icount + this.stormCount + budget;
    while (this.stopReason === Stop.None) {
      if (this.icount + this.stormCount >= end || this.cycles >= this.cycleDeadline) { this.stopReason = Stop.Budget; break; }
      try {
        this.loop(end - this.stormCount);
      } catch (e) {
        if (e === VMEXIT_ABORT) continue; // a #VMEXIT ended the instruction; the host runs on
        if (e !== FAULT) throw e;
        this.faulted();
      }
    }
    return this.stopReason;
  }

  /**
   * Exceptions delivered with no instruction retired since the previous one (a handler whose
   * first fetch faults again, on an IST stack so nothing ever runs out): each counts against
   * the run's budget like an instruction, so such a storm ends at the budget. `icount` stays
   * the count of retired instructions.
   */
  stormCount = 0;
  /** icount at the last exception taken by the run loop */
  private faultIcount = -1;

  /** the run loop caught an exception raised by an instruction (or its fetch): deliver it */
  private faulted(): void {
    if (this.icount === this.faultIcount) this.stormCount++;
    else this.faultIcount = this.icount;
    this.rip = this.ripStart;
    // an instruction that faults does not complete: its #DB traps are not taken
    this.dbgPending = 0;
    try {
      this.deliverException(this, FAULT);
    } catch (e) {
      // delivering to a guest can end in a #VMEXIT (a nested page fault on the guest's IDT or
      // stack, an intercepted #DF): the world switch is complete and the host runs on
      if (e !== VMEXIT_ABORT) throw e;
    }
  }

  private loop(end: number): void {
    while (this.icount < end && this.cycles < this.cycleDeadline && this.stopReason === Stop.None) {
      if (this.attention) {
        if (!this.events()) {
          this.stopReason = Stop.Halt;
          return;
        }
        // an event delivered here may have stopped the run (a bare core's exception, a hook)
        if (this.stopReason !== Stop.None) return;
      }
      const rip = this.rip;
      this.ripStart = rip;
      const insn = this.fetch();
      // the block compiler runs a whole block from here, or leaves this instruction to us (it
      // counts the fetches, but not of the instructions of a block it declined: jit.ts quiet;
      // nor is it asked about an instruction where nothing can be compiled: verify's SVM and
      // MSR instructions, 18.7 M calls)
      const jit = this.jit;
      const blk = insn.blk;
      if (jit !== null && (blk !== null ? blk.n !== 0 : (jit.quiet === 0 ? ++insn.hits >= jit.trigger && (insn.hits === jit.trigger || insn.hits >= jit.threshold) : jit.quiet-- < 0)) && (this.flags & Fl.TF) === 0 && jit.enter(this, insn, end)) continue;
      let next = rip + insn.len;
      // outside 64-bit mode EIP is a 32-bit register and sequential execution does not wrap it
      // at 64 KiB in 16-bit code (only branches truncate to the operand size): 16-bit code
      // entered above 64 KiB, in a segment whose limit allows it, runs on (as in Bochs and QEMU)
      if (this.bits !== 64) next = next % TWO32;
      this.rip = next;
      const tf = this.flags & Fl.TF;
      insn.exec(this, insn);
      // an instruction retires (and is counted) only if it did not fault
      this.icount++;
      this.cycles += insn.cost;
      // with DebugCtl.BTF, only after a control transfer (APM Vol. 2 13.1.6.2; pmu.ts)
      if (tf !== 0 && ((this.perf.debugCtl & DbgCtl.BTF) === 0 || this.perf.takenAt === this.icount)) this.singleStep();
    }
  }

  /**
   * RFLAGS.TF was set when the instruction began: a single-step #DB trap after it, with
   * DR6.BS set (APM Vol. 2 13.1, single-step), taken at the next boundary (where MOV SS may hold it).
   * Instructions that decide for themselves (ownStep) are skipped.
   */
  private singleStep(): void {
    if (this.stepAt === this.icount - 1) return;
    this.dbgPending |= Dr6.BS;
    this.attention = true;
  }

  /** Decode the instruction at the current RIP without executing it (tools, traces). */
  peek(): Insn {
    return this.fetch();
  }
}
