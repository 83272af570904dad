/**
 * Core performance counters and the debug extensions (DebugCtl, last-branch recording), as an
 * AMD family 17h part has them (AMD64 APM Vol. 2 13.1.1.6-13.1.1.7, 13.1.6 and 13.2; PPR for
 * family 17h model 31h, MSRC001_020[0-B] and MSRC001_000[0-7]).
 *
 * Counters. Six core counters, PERF_CTL0-5 / PERF_CTR0-5 at C001_0200-020B (interleaved), the
 * first four also at their legacy numbers C001_0000-0003 (PerfEvtSel0-3) and C001_0004-0007
 * (PerfCtr0-3): "extended core PerfCtr / PerfEvtSel registers 0-3 alias the legacy set" (APM
 * 13.2.1). CPUID 8000_0001 ECX[23] PerfCtrExtCore says so. Counters are 48 bits wide.
 *
 * Events counted (EVENT_SELECT, bits 35:32 and 7:0; the unit mask is not used by them):
 *   C0h retired instructions, 76h core cycles not halted (the cycle model's `cycles`, less the
 *   time the machine skipped while the CPU waited in HLT), C2h retired branch instructions and
 *   C4h retired taken branch instructions. As the family 17h PPR defines C2h and C4h, they
 *   include every architectural control transfer: the branch instructions of APM 13.1.6 (JMP,
 *   CALL, RET, Jcc, JrCXZ, LOOPcc, far JMP/CALL/RET, INT n, INT3, INTO, INT1, IRET, SYSCALL,
 *   SYSRET, SYSENTER, SYSEXIT; a Jcc, JrCXZ, LOOPcc or INTO that does not transfer counts in C2h
 *   only) and each exception, NMI and interrupt delivered.
 *   Any other event select counts nothing (the counter keeps its value).
 * Bits honoured: EN, USR and OS (APM Table 13-6: neither set counts nothing), INT (overflow
 * interrupt) and HG_ONLY (Table 13-4: with EFER.SVME = 0 a counter with HostOnly or GuestOnly
 * set counts nothing). EDGE, INV and CNT_MASK are stored and read back but do not change the
 * counts: every modelled event happens at most once per instruction, and the model has no
 * per-cycle event occurrence to compare with CNT_MASK. Reserved bits (APM Figure 13-11: 63:42,
 * 39:36, 21, 19, "RAZ") read as zero and are ignored on write; so are bits 63:48 of a counter.
 *
 * An instruction is counted by the privilege level and world (host or guest) it leaves the
 * processor in: SYSCALL counts at CPL 0, SYSRET at CPL 3. An event is counted when its
 * instruction retires; a read (RDMSR, RDPMC) sees the instructions retired before it, and an
 * instruction that enables a counter is itself counted by it.
 *
 * Cost when no counter is enabled: nothing. Counts are computed from the CPU's `icount` and
 * `cycles` at the moments they are needed (a counter access, a change of CPL, world or SVME,
 * through updateMode) and the branch events from two counters that only the branch wrappers
 * and the event-delivery hook increment; those wrappers are put on branch instructions when
 * they are decoded, and only while something needs them (a branch event, LBR or BTF).
 *
 * Overflow: a counter that wraps from FFFF_FFFF_FFFFh to 0 with INT set signals the LAPIC's
 * performance-counter LVT (APIC 340h). The machine arms a scheduler event at the earliest cycle
 * by which a counter could overflow (each instruction costs at least one cycle), checks there
 * and re-arms, so the interrupt comes at the instruction that overflows the counter. AMD does not
 * set the LVT mask bit when it delivers this interrupt (Intel does; Linux KVM emulates the
 * difference, "KVM: x86: Do not mask LVTPC for AMD and Hygon").
 *
 * Debug extensions (APM 13.1.6): with DebugCtl.LBR set, LastBranchFromIP/ToIP take the segment
 * offsets (RIP) of each taken control-transfer instruction and its target; an exception or
 * interrupt first copies them to LastIntFromIP/ToIP (not for #DB and #MC, nor ICEBP) and then
 * records the interrupted instruction and the handler. A #DB clears DebugCtl.LBR and BTF and
 * records nothing. With DebugCtl.BTF and RFLAGS.TF, the single-step trap comes only after an
 * instruction that transferred control (a taken branch instruction, INT n, ...).
 */

import type { Cpu } from './cpu.js';
import type { Insn } from '../x86/insn.js';
import { INSNS } from '../x86/table.js';
import { cond } from './flags.js';
import { raise } from './fault.js';
import { defineMsr, MsrDef, MsrClass } from './msr.js';
import { Efer, Fl, R, TWO32, Vec } from './state.js';
import { serializing } from '../cost/profile.js';

export const PMC_COUNT = 6;
const TWO48 = 2 ** 48;

/** DebugCtl bits (APM Vol. 2 13.1.1.6) */
export const enum DbgCtl { LBR = 1, BTF = 2 }

/** PerfEvtSel bits in the low word */
const enum Sel { USR = 1 << 16, OS = 1 << 17, EDGE = 1 << 18, INT = 1 << 20, EN = 1 << 22 }
/** writable bits of PerfEvtSel: low word all but 21 and 19; high word 41:40 and 35:32 */
const SEL_LO_MASK = ~((1 << 21) | (1 << 19));
const SEL_HI_MASK = 0x30f;

/** event sources: retired instructions, cycles not halted, branches, taken branches */
const enum Src { Insns = 0, Cycles = 1, Branches = 2, Taken = 3 }

/** branch classes of the instruction table's rows */
const enum Br { None = 0, Always = 1, Jcc = 2, Loop = 3, Jcxz = 4, Into = 5, SoftInt = 6 }

const BRANCH_EXECS: Record<string, number> = {
  jmpRel: Br.Always, jmpInd: Br.Always, callRel: Br.Always, callInd: Br.Always, retNear: Br.Always,
  jmpFar: Br.Always, jmpFarInd: Br.Always, callFar: Br.Always, callFarInd: Br.Always, retFar: Br.Always,
  iret: Br.Always, syscall: Br.Always, sysret: Br.Always, sysenter: Br.Always, sysexit: Br.Always,
  jcc: Br.Jcc, loop: Br.Loop, jcxz: Br.Jcxz, into: Br.Into,
  intN: Br.SoftInt, int3: Br.SoftInt, int1: Br.SoftInt,
};

/** INSNS row -> branch class */
const BRANCH_ROW = Uint8Array.from(INSNS.map((s) => BRANCH_EXECS[s.exec] ?? Br.None));

/** The instruction at table row `row` is a control-transfer instruction. */
export function isBranchRow(row: number): boolean {
  return row >= 0 && BRANCH_ROW[row] !== Br.None;
}

/** Performance-counter and debug-extension state of one CPU. */
export class Perf {
  /** PERF_CTLn, low and high words */
  readonly selLo = new Int32Array(PMC_COUNT);
  readonly selHi = new Int32Array(PMC_COUNT);
  /** PERF_CTRn (below 2^48), as of the last sync */
  readonly ctr = new Float64Array(PMC_COUNT);
  /** event source of each counter, -1 for an event not modelled */
  readonly src = new Int8Array(PMC_COUNT).fill(-1);
  /** source values at the last sync */
  readonly snap = new Float64Array(4);
  /** the mode at the last sync: bit 0 CPL > 0, bit 1 guest, bit 2 EFER.SVME */
  mode = 0;
  /** some counter is enabled with a modelled event */
  on = false;
  /** some enabled counter counts branches */
  countBranches = false;
  /** branch instructions retired and events delivered, and the taken ones (while watched) */
  branches = 0;
  taken = 0;
  /** cycles the machine skipped while the CPU waited in HLT */
  haltCycles = 0;
  /** DebugCtl */
  debugCtl = 0;
  brFrom = 0;
  brTo = 0;
  intFrom = 0;
  intTo = 0;
  /** icount after the last taken control transfer (for BTF) */
  takenAt = -1;
  /** the branch wrappers are on (decode time) */
  watchBranches = false;
  /** the event-delivery hook has something to do */
  watchEvents = false;
  /** arm the overflow check at a cycle (Infinity: none); set by the machine */
  arm: ((at: number) => void) | null = null;
  /** a counter with INT set overflowed; set by the machine (the LAPIC's LVTPC) */
  overflow: (() => void) | null = null;
  /** overflow interrupts signalled (statistics) */
  overflows = 0;
}

function modeOf(c: Cpu): number {
  return (c.cpl !== 0 ? 1 : 0) | (c.guestMode ? 2 : 0) | ((c.efer & Efer.SVME) !== 0 ? 4 : 0);
}

/** counter k counts in mode m */
function countsIn(p: Perf, k: number, m: number): boolean {
  const lo = p.selLo[k];
  if ((lo & Sel.EN) === 0 || p.src[k] < 0) return false;
  if ((lo & ((m & 1) !== 0 ? Sel.USR : Sel.OS)) === 0) return false;
  const hg = (p.selHi[k] >>> 8) & 3;
  if (hg === 0) return true;
  if ((m & 4) === 0) return false;
  // 1: GuestOnly, 2: HostOnly, 3: both
  return hg === 3 || (hg === 1) === ((m & 2) !== 0);
}

function source(c: Cpu, s: number): number {
  const p = c.perf;
  switch (s) {
    case Src.Insns: return c.icount;
    case Src.Cycles: return c.cycles - p.haltCycles;
    case Src.Branches: return p.branches;
    default: return p.taken;
  }
}

/**
 * Bring the counters up to date: events since the last sync count in the mode recorded then;
 * then record the current mode, signal overflows and re-arm the overflow check. Called on any
 * counter access and (while a counter is on) by updateMode.
 */
export function perfSync(c: Cpu): void {
  const p = c.perf;
  let ov = false;
  if (p.on) {
    for (let k = 0; k < PMC_COUNT; k++) {
      if (!countsIn(p, k, p.mode)) continue;
      const s = p.src[k];
      let v = p.ctr[k] + (source(c, s) - p.snap[s]);
      if (v >= TWO48) {
        v %= TWO48;
        if ((p.selLo[k] & Sel.INT) !== 0) ov = true;
      }
      p.ctr[k] = v;
    }
  }
  for (let s = 0; s < 4; s++) p.snap[s] = source(c, s);
  p.mode = modeOf(c);
  if (ov) {
    p.overflows++;
    if (p.overflow !== null) p.overflow();
  }
  rearm(c);
}

/** arm the machine's overflow check at the earliest cycle a counter with INT could wrap */
function rearm(c: Cpu): void {
  const p = c.perf;
  if (p.arm === null) return;
  let at = Infinity;
  if (p.on) {
    // an instruction costs at least `minCost` cycles (one without a cost model)
    const minCost = c.costs === null ? 1 : Math.max(Math.min(1, c.costs.base), 1e-3);
    for (let k = 0; k < PMC_COUNT; k++) {
      if ((p.selLo[k] & Sel.INT) === 0 || !countsIn(p, k, p.mode)) continue;
      const left = TWO48 - p.ctr[k];
      const d = p.src[k] === Src.Cycles ? left : left * minCost;
      if (c.cycles + d < at) at = c.cycles + d;
    }
  }
  p.arm(at);
}

/** DebugCtl from the SVM layer (LBR virtualization swaps the host's and the guest's) */
export function setDebugCtl(c: Cpu, v: number): void {
  c.perf.debugCtl = v & 3;
  reconfigure(c);
}

/** recompute what is on after a PERF_CTL or DebugCtl change; flush decoded code if wrappers change */
function reconfigure(c: Cpu): void {
  const p = c.perf;
  let on = false;
  let br = false;
  for (let k = 0; k < PMC_COUNT; k++) {
    const ev = (p.selLo[k] & 0xff) | ((p.selHi[k] & 0xf) << 8);
    const s = ev === 0xc0 ? Src.Insns : ev === 0x76 ? Src.Cycles : ev === 0xc2 ? Src.Branches : ev === 0xc4 ? Src.Taken : -1;
    p.src[k] = s;
    if ((p.selLo[k] & Sel.EN) !== 0 && s >= 0) {
      on = true;
      if (s >= Src.Branches) br = true;
    }
  }
  p.on = on;
  p.countBranches = br;
  const dbg = (p.debugCtl & (DbgCtl.LBR | DbgCtl.BTF)) !== 0;
  p.watchEvents = br || dbg;
  const watch = br || dbg;
  if (watch !== p.watchBranches) {
    p.watchBranches = watch;
    c.flushCodeCache();
  }
}

// ---- the branch wrapper and the delivery hook ----

/**
 * Runs a control-transfer instruction while branches are watched: counts it, records it in
 * LastBranchFromIP/ToIP, notes it for BTF. Nothing happens if it faults (it did not retire).
 */
export function branchExec(c: Cpu, i: Insn): void {
  const kind = BRANCH_ROW[i.row];
  let taken = true;
  switch (kind) {
    case Br.Jcc: taken = cond(c, i.arg); break;
    case Br.Into: taken = (c.flags & Fl.OF) !== 0; break;
    case Br.Jcxz: {
      const lo = c.rl[R.RCX];
      taken = i.adsize === 2 ? (lo & 0xffff) === 0 : i.adsize === 4 ? lo === 0 : (lo | c.rh[R.RCX]) === 0;
      break;
    }
    case Br.Loop: {
      const lo = c.rl[R.RCX];
      taken = i.adsize === 2 ? ((lo - 1) & 0xffff) !== 0 : i.adsize === 4 ? lo !== 1 : lo !== 1 || c.rh[R.RCX] !== 0;
      if (taken && i.arg !== 2) taken = cond(c, 4) === (i.arg === 1);
      break;
    }
    default: break;
  }
  i.orig(c, i);
  if (c.countSerializing && serializing(i)) c.serializingCount++;
  const p = c.perf;
  p.branches++;
  if (!taken) return;
  p.taken++;
  p.takenAt = c.icount + 1;
  // INT n, INT3, INTO, INT1 are recorded by the delivery hook, as interrupts
  if ((p.debugCtl & DbgCtl.LBR) !== 0 && kind !== Br.SoftInt && kind !== Br.Into) {
    p.brFrom = c.ripStart;
    p.brTo = c.rip;
  }
}

/**
 * An event was delivered through the IDT/IVT (kind as interrupts.ts Ev: 0 external, 2 NMI,
 * 3 exception, 4 INT n, 5 INT1, 6 INT3/INTO); RIP is the handler, ripStart the interrupted or
 * interrupting instruction.
 */
export function perfDelivered(c: Cpu, vector: number, kind: number): void {
  const p = c.perf;
  if (vector === Vec.DB && (kind === 3 || kind === 5)) {
    // #DB (and ICEBP's #DB): recording stops, BTF ends, nothing is recorded (APM 13.1.6)
    if ((p.debugCtl & (DbgCtl.LBR | DbgCtl.BTF)) !== 0) {
      p.debugCtl &= ~(DbgCtl.LBR | DbgCtl.BTF);
      reconfigure(c);
    }
  } else if ((p.debugCtl & DbgCtl.LBR) !== 0) {
    if (vector !== Vec.MC) {
      p.intFrom = p.brFrom;
      p.intTo = p.brTo;
    }
    p.brFrom = c.ripStart;
    p.brTo = c.rip;
  }
  // software interrupts were counted as instructions by the wrapper
  if (p.countBranches && kind <= 3) {
    p.branches++;
    p.taken++;
  }
}

// ---- RDPMC ----

/** RDPMC's read of counter `n` (0-5; the caller checks the range): bits 31:0, 47:32 in c.xh */
export function readPmc(c: Cpu, n: number): number {
  perfSync(c);
  const v = c.perf.ctr[n];
  c.xh = Math.floor(v / TWO32);
  return v % TWO32 | 0;
}

// ---- the MSRs ----

function gp(): never {
  return raise(Vec.GP, 0);
}

function readCtl(c: Cpu, k: number): number {
  c.xh = c.perf.selHi[k];
  return c.perf.selLo[k];
}

function writeCtl(c: Cpu, k: number, lo: number, hi: number): void {
  perfSync(c);
  c.perf.selLo[k] = lo & SEL_LO_MASK;
  c.perf.selHi[k] = hi & SEL_HI_MASK;
  reconfigure(c);
  perfSync(c);
}

function readCtr(c: Cpu, k: number): number {
  perfSync(c);
  const v = c.perf.ctr[k];
  c.xh = Math.floor(v / TWO32);
  return v % TWO32 | 0;
}

function writeCtr(c: Cpu, k: number, lo: number, hi: number): void {
  perfSync(c);
  c.perf.ctr[k] = (hi & 0xffff) * TWO32 + (lo >>> 0);
  perfSync(c);
}

function def(index: number, name: string, cls: number, read: (c: Cpu) => number,
  write: (c: Cpu, lo: number, hi: number) => void): void {
  defineMsr(new MsrDef(index, name, cls, read, write));
}

for (let k = 0; k < PMC_COUNT; k++) {
  def(0xc0010200 + 2 * k, `PERF_CTL${k}`, MsrClass.Perf, (c) => readCtl(c, k), (c, lo, hi) => writeCtl(c, k, lo, hi));
  def(0xc0010201 + 2 * k, `PERF_CTR${k}`, MsrClass.Perf, (c) => readCtr(c, k), (c, lo, hi) => writeCtr(c, k, lo, hi));
}
for (let k = 0; k < 4; k++) {
  def(0xc0010000 + k, `PerfEvtSel${k}`, MsrClass.Perf, (c) => readCtl(c, k), (c, lo, hi) => writeCtl(c, k, lo, hi));
  def(0xc0010004 + k, `PerfCtr${k}`, MsrClass.Perf, (c) => readCtr(c, k), (c, lo, hi) => writeCtr(c, k, lo, hi));
}

/** return a signed 64-bit number (exact) as lo, with hi in c.xh */
function split(c: Cpu, v: number): number {
  c.xh = Math.floor(v / TWO32) | 0;
  return v | 0;
}

// DebugCtl: LBR (0) and BTF (1). Bits 5:2 (the PB pin controls of older parts, MBZ in the
// current APM) and 63:6 raise #GP, as KVM does for its AMD guests.
def(0x1d9, 'DebugCtl', MsrClass.Debug, (c) => { c.xh = 0; return c.perf.debugCtl; }, (c, lo, hi) => {
  if (hi !== 0 || (lo & ~3) !== 0) gp();
  c.perf.debugCtl = lo & 3;
  reconfigure(c);
});
// the recording MSRs are read-only (APM 13.1.1.7)
def(0x1db, 'LastBranchFromIP', MsrClass.Debug, (c) => split(c, c.perf.brFrom), () => gp());
def(0x1dc, 'LastBranchToIP', MsrClass.Debug, (c) => split(c, c.perf.brTo), () => gp());
def(0x1dd, 'LastIntFromIP', MsrClass.Debug, (c) => split(c, c.perf.intFrom), () => gp());
def(0x1de, 'LastIntToIP', MsrClass.Debug, (c) => split(c, c.perf.intTo), () => gp());
