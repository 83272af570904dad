/**
 * The verifier's invariants, checked through the machine's own state (registers, MSRs, hidden
 * segment parts, memory), never through what the host or guest software believes:
 *
 *   entry-gs         an NMI or interrupt delivered to the host finds a GS it can work with: from
 *                    ring 3, KERNEL_GS_BASE is the kernel's per-cpu base (SWAPGS brings it in);
 *                    an interrupt from ring 0 finds it in GS base (the entry trusts it); an NMI
 *                    (paranoid entry) finds it in either, never a third value such as the guest's
 *   entry-tr         events are delivered through the host TSS (RSP0 and the NMI's IST come
 *                    from it)
 *   handler          a handler's C body (do_nmi, trap_dispatch: where the kernel first uses
 *                    per-cpu data) runs on the kernel's GS base, the host TSS and a host stack
 *   host-c           so does all other host C code: at every C function entry and wherever
 *                    assembly returns into C (the run loop after __svm_vcpu_run)
 *   user-state       back in ring 3, FS, GS (selectors and bases), KERNEL_GS_BASE, STAR, LSTAR,
 *                    CSTAR, SFMASK, SYSENTER_CS/ESP/EIP, TR, LDTR and TSC_AUX are the VMM's values
 *                    from before KVM_RUN
 *   guest-state      the guest's VMLOAD state survives from each #VMEXIT to the next VMRUN, and
 *                    its VMCB holds it when KVM_RUN returns (the VMSAVE of the guest)
 *   guest-unchanged  after KVM_RUN the guest's saved VMCB state and its memory are those of the
 *                    run without the event: a host event it did not cause leaves it alone
 *   percpu-access    every host memory access through GS in ring 0 (a `%gs:` operand, in C or
 *                    in assembly) happens with GS base = the kernel's per-cpu base, whether or
 *                    not it changes anything (a read of a stale base, or a write of the value
 *                    already there, counts)
 *   guest-regs       the guest's general registers at each VMRUN are those it left at the
 *                    previous #VMEXIT (RAX and RSP live in the VMCB; the registers an exit's
 *                    emulation writes, RBX/RCX/RDX for CPUID and RDX for RDMSR, are exempt)
 *   no-crash         the host returns to ring 3: no exception in the host, no panic, shutdown
 *                    or hang
 *   host-save        (more than one CPU) at every VMRUN, VM_HSAVE_PA is this CPU's own host save
 *                    area, never another CPU's: VMRUN writes the host state there, and two CPUs
 *                    sharing one page corrupt each other's as soon as both run a vcpu
 *
 * With more than one CPU (HostFacts.cpus), "the kernel's per-cpu base", "the host TSS" and "a
 * host stack" are those of the CPU the check is made on: percpu_offset[k], CPU k's TSS as its TR
 * held it at the snapshot, CPU k's kernel, NMI, #DF (and idle) stacks. The guest's state is the
 * vcpu's, wherever it runs.
 *
 * A Checker is attached to one machine; the unit runner (verify-inject.ts) resets it for every
 * replay. Violations are recorded only once `armed` (after the event is raised), so a replay
 * reports what its event changed and the uninjected reference run reports the rest.
 */

import type { Cpu } from '../cpu/cpu.js';
import type { PhysMem } from '../machine/memory.js';
import { S, Stop, TWO32 } from '../cpu/state.js';
import { Ev } from '../cpu/interrupts.js';
import { V, VMCB_FIELDS, type VmcbField } from '../svm/vmcb.js';

export type EventKind = 'nmi' | 'intr' | 'both';
export const EVENT_KINDS: readonly EventKind[] = ['nmi', 'intr', 'both'];

/** the maskable interrupt the verifier raises: the host's timer vector (its handler uses per-cpu data) */
export const INTR_VECTOR = 0x20;

export type Inv = 'entry-gs' | 'entry-tr' | 'handler' | 'host-c' | 'percpu-access' | 'user-state' | 'guest-state' | 'guest-regs' | 'guest-unchanged' | 'no-crash' | 'host-save';

export const INVARIANTS: Record<Inv, string> = {
  'entry-gs': 'an NMI or interrupt entry finds the kernel\'s per-cpu base in GS base or (for SWAPGS) KERNEL_GS_BASE',
  'entry-tr': 'events are delivered through the host TSS',
  handler: 'a handler\'s C body runs on the kernel\'s GS base, the host TSS and a host stack',
  'host-c': 'host C code runs on the kernel\'s GS base, the host TSS and a host stack',
  'percpu-access': 'every ring-0 host memory access through GS (C or assembly) uses the kernel\'s per-cpu base',
  'guest-regs': 'the guest\'s general registers at VMRUN are those it left at the previous #VMEXIT (minus what emulation writes)',
  'user-state': 'back in ring 3, the VMM\'s FS/GS/KERNEL_GS_BASE, SYSCALL/SYSENTER MSRs, TR, LDTR, TSC_AUX are as before KVM_RUN',
  'guest-state': 'the guest\'s VMLOAD state survives from #VMEXIT to VMRUN and is in its VMCB after KVM_RUN',
  'guest-unchanged': 'the guest\'s saved state and memory after KVM_RUN are those of the run without the event',
  'no-crash': 'the host returns to ring 3 without an exception, panic, shutdown or hang',
  'host-save': 'with more than one CPU: VM_HSAVE_PA at every VMRUN is this CPU\'s own host save area',
};

// ---- the VMLOAD set (and TSC_AUX) as 32-bit halves ----

const SEGS = [S.FS, S.GS, S.TR, S.LDTR] as const;
const SEG_NAMES = ['FS', 'GS', 'TR', 'LDTR'];
/** items of a state vector, two 32-bit words each (low, high) */
export const SET_ITEMS: readonly string[] = [
  ...SEG_NAMES.flatMap((n) => [`${n}.sel`, `${n}.attr`, `${n}.limit`, `${n}.base`]),
  'KERNEL_GS_BASE', 'STAR', 'LSTAR', 'CSTAR', 'SFMASK', 'SYSENTER_CS', 'SYSENTER_ESP', 'SYSENTER_EIP', 'TSC_AUX',
];
export const SET_WORDS = SET_ITEMS.length * 2;
/** items 0..VMLOAD_ITEMS-1 are what VMLOAD/VMSAVE move (TSC_AUX is not) */
const VMLOAD_ITEMS = SET_ITEMS.length - 1;
const ITEM = (name: string) => SET_ITEMS.indexOf(name);

function putNum(out: Uint32Array, k: number, v: number): void {
  const hi = Math.floor(v / TWO32);
  out[2 * k] = (v - hi * TWO32) >>> 0;
  out[2 * k + 1] = hi >>> 0;
}

/** the CPU's FS, GS, TR, LDTR, KernelGsBase, STAR.., SYSENTER_*, TSC_AUX */
export function readCpuSet(c: Cpu, out: Uint32Array): void {
  let k = 0;
  for (const s of SEGS) {
    putNum(out, k++, c.segSel[s]);
    putNum(out, k++, c.segAttr[s]);
    putNum(out, k++, c.segLimit[s]);
    putNum(out, k++, c.segBase[s]);
  }
  putNum(out, k++, c.kernelGsBase);
  out[2 * k] = c.starLo >>> 0; out[2 * k + 1] = c.starHi >>> 0; k++;
  putNum(out, k++, c.lstar);
  putNum(out, k++, c.cstar);
  putNum(out, k++, c.sfmask >>> 0);
  putNum(out, k++, c.sysenterCs >>> 0);
  putNum(out, k++, c.sysenterEsp >>> 0);
  putNum(out, k++, c.sysenterEip >>> 0);
  putNum(out, k++, c.tscAux >>> 0);
}

/** the same items from a VMCB (TSC_AUX, which no VMCB holds, as 0) */
export function readVmcbSet(mem: PhysMem, vmcb: number, out: Uint32Array): void {
  let k = 0;
  for (const off of [V.FS, V.GS, V.TR, V.LDTR]) {
    const w = mem.read32(vmcb + off);
    out[2 * k] = w & 0xffff; out[2 * k + 1] = 0; k++;
    out[2 * k] = (w >>> 16) & 0xfff; out[2 * k + 1] = 0; k++;
    out[2 * k] = mem.read32(vmcb + off + 4) >>> 0; out[2 * k + 1] = 0; k++;
    out[2 * k] = mem.read32(vmcb + off + 8) >>> 0; out[2 * k + 1] = mem.read32(vmcb + off + 12) >>> 0; k++;
  }
  for (const off of [V.KERNEL_GS_BASE, V.STAR, V.LSTAR, V.CSTAR, V.SFMASK, V.SYSENTER_CS, V.SYSENTER_ESP, V.SYSENTER_EIP]) {
    out[2 * k] = mem.read32(vmcb + off) >>> 0;
    out[2 * k + 1] = mem.read32(vmcb + off + 4) >>> 0;
    k++;
  }
  out[2 * k] = 0; out[2 * k + 1] = 0;
}

/** a 64-bit value as hex: a number (canonical addresses are negative) or 32-bit halves */
export function hex(v: number, hi?: number): string {
  if (hi !== undefined) return `0x${((BigInt(hi >>> 0) << 32n) | BigInt(v >>> 0)).toString(16)}`;
  return `0x${BigInt.asUintN(64, BigInt(Math.trunc(v))).toString(16)}`;
}

function itemHex(w: Uint32Array, k: number): string {
  return hex(w[2 * k], w[2 * k + 1]);
}

// ---- what the verifier knows about the host ----

export interface StackRange { name: string; lo: number; hi: number }

/** what one CPU's kernel state must be */
export interface CpuFacts {
  percpu: number;
  trSel: number;
  trBase: number;
  trLimit: number;
  stacks: StackRange[];
  /** its host save area (VM_HSAVE_PA as the kernel set it up on that CPU) */
  hsave?: number;
}

export interface HostFacts {
  /** the kernel's per-cpu base (percpu_offset[0]), what GS base must hold in the kernel */
  percpu: number;
  /** the host TSS as TR holds it in the kernel */
  trSel: number;
  trBase: number;
  trLimit: number;
  /** the host kernel's stacks */
  stacks: StackRange[];
  /**
   * with more than one CPU running host code: each CPU's own facts, by CPU number (APIC ID);
   * absent: every check uses the fields above (CPU 0's)
   */
  cpus?: CpuFacts[];
  /** the VMM's state at each recorded KVM_RUN's entry (after SYSCALL), in order */
  befores: Uint32Array[];
  /** KVM_RUNs in the window: the window ends at the return from the last */
  runs: number;
  /** the user instruction after the KVM_RUN system call (where the window ends) */
  userReturn: number;
  /** the guest VMCB (physical) */
  vmcb: number;
  /** guest RAM pages (physical page numbers) */
  guestPages: number[];
  /** do_nmi and trap_dispatch */
  handlers: Set<number>;
  /** the vector the `intr` kind raises (default INTR_VECTOR) */
  intrVector?: number;
  /**
   * check TR at C function entries too (default true). Linux's designs run C with the guest's
   * TR between #VMEXIT and reload_tss() by design (5.11 did); there TR is checked where it is
   * used: event delivery and the return to ring 3
   */
  cEntryTr?: boolean;
}

export interface Violation {
  inv: Inv;
  /** where the check was made: "NMI delivery", "do_nmi", "C function entry", ... */
  check: string;
  what: string;
  got: string;
  want: string;
  /** the instruction about to run (or the interrupted one) when it was seen */
  rip: number;
  bits: number;
  guest: boolean;
  /** the CPU it was seen on (with more than one) */
  cpu?: number;
  /** (trace replays) the last instructions before it, oldest first */
  trace?: TraceEntry[];
}

/** an instruction that ran (or a note: an event delivered, a #VMEXIT); `cpu` with more than one */
export interface TraceEntry { rip: number; bits: number; guest: boolean; note?: string; cpu?: number }

/** where a 64-bit IDT gate sends `vector` (trace notes only) */
function gateTarget(c: Cpu, vector: number): number {
  const a = c.idtrBase + vector * 16;
  if (a < 0 || a + 16 > c.mem.size) return 0;
  const lo = c.mem.read32(a);
  const hi = c.mem.read32(a + 4);
  return c.mem.read32(a + 8) * TWO32 + (((hi & 0xffff0000) | (lo & 0xffff)) >>> 0);
}

const GPR_NAMES = ['RAX', 'RCX', 'RDX', 'RBX', 'RSP', 'RBP', 'RSI', 'RDI', 'R8', 'R9', 'R10', 'R11', 'R12', 'R13', 'R14', 'R15'];

/** breakpoint roles */
export const enum Bp { CEntry = 1, CResume = 2, Handler = 4, Vmrun = 8, UserReturn = 16 }

/** the final guest state of the reference run, for guest-unchanged */
export interface GuestFinal {
  save: Uint8Array;
  /** guest page -> its contents, for pages written in the reference run */
  pages: Map<number, Uint8Array>;
}

const SAVE_FIELDS: readonly VmcbField[] = VMCB_FIELDS.filter((f) => f.area === 'save');
const SAVE_START = 0x400;
const SAVE_END = Math.max(...SAVE_FIELDS.map((f) => f.offset + f.size));

function fieldAt(off: number): string {
  const f = SAVE_FIELDS.find((x) => off >= x.offset && off < x.offset + x.size);
  return f === undefined ? `offset 0x${off.toString(16)}` : f.name;
}

export class Checker {
  armed = false;
  ended = false;
  readonly violations: Violation[] = [];
  /** which raised events were delivered to the host: 1 NMI, 2 the interrupt */
  delivered = 0;
  /** #VMEXITs since the snapshot; the run stops after exit number stopAtExit (-1: never) */
  exitCount = 0;
  stopAtExit = -1;
  /** the same per CPU */
  readonly cpuExits = new Int32Array(8);
  /** the guest's VMLOAD state at its last #VMEXIT */
  readonly lastExit = new Uint32Array(SET_WORDS);
  /** the same when the snapshot was taken (the VMCB's copy) */
  readonly baseline = new Uint32Array(SET_WORDS);
  private readonly scratch = new Uint32Array(SET_WORDS);
  /** breakpoint address -> Bp roles */
  readonly roles = new Map<number, number>();
  /** the reference run's final guest state (set by the runner; null while recording it) */
  reference: GuestFinal | null = null;
  /** the reference's final guest state, captured at its end */
  captured: GuestFinal | null = null;
  /** contents of guest pages at the snapshot (for pages the reference did not write) */
  snapshotPage: (p: number) => Uint8Array | undefined = () => undefined;
  /** trace replays: the instructions so far (the runner fills it), null otherwise */
  trace: TraceEntry[] | null = null;
  /** returns to the VMM so far in this run of the window */
  returns = 0;
  /** the guest's general registers at its last #VMEXIT (lo, hi per register) and the exit code */
  private readonly exitRegs = new Int32Array(32);
  private exitCode = -1;

  constructor(private readonly facts: HostFacts, private readonly mem: PhysMem) {}

  reset(): void {
    this.armed = false;
    this.ended = false;
    this.violations.length = 0;
    this.delivered = 0;
    this.exitCount = 0;
    this.stopAtExit = -1;
    this.cpuExits.fill(0);
    this.lastExit.set(this.baseline);
    this.trace = null;
    this.returns = 0;
    this.exitCode = -1;
  }

  /** record a violation the runner found (the run's end) */
  fail(c: Cpu, inv: Inv, check: string, what: string, got: string, want: string): void {
    this.flag(c, inv, check, what, got, want, c.ripLinear());
  }

  private flag(c: Cpu, inv: Inv, check: string, what: string, got: string, want: string, rip: number): void {
    if (!this.armed) return;
    const multi = this.facts.cpus !== undefined;
    const v: Violation = { inv, check: multi ? `${check} on CPU ${c.apicId}` : check, what, got, want, rip, bits: c.bits, guest: c.guestMode };
    if (multi) v.cpu = c.apicId;
    if (this.trace !== null) v.trace = (multi ? this.trace.filter((e) => e.cpu === undefined || e.cpu === c.apicId) : this.trace).slice(-16);
    this.violations.push(v);
  }

  // ---- host facts ----

  /** the facts of the CPU `c` (CPU 0's without HostFacts.cpus) */
  private cf(c: Cpu): CpuFacts {
    return this.facts.cpus?.[c.apicId] ?? this.facts;
  }

  /** "the kernel's per-cpu base", naming the CPU when there is more than one */
  private whose(c: Cpu): string {
    return this.facts.cpus === undefined ? 'the kernel\'s' : `CPU ${c.apicId}'s`;
  }

  private trOk(c: Cpu): boolean {
    const f = this.cf(c);
    return c.segSel[S.TR] === f.trSel && c.segBase[S.TR] === f.trBase && c.segLimit[S.TR] === f.trLimit;
  }

  private checkTr(c: Cpu, inv: Inv, check: string, rip: number): void {
    if (this.trOk(c)) return;
    const f = this.cf(c);
    this.flag(c, inv, check, 'TR', `sel 0x${c.segSel[S.TR].toString(16)} base ${hex(c.segBase[S.TR])} limit 0x${c.segLimit[S.TR].toString(16)}`,
      `sel 0x${f.trSel.toString(16)} base ${hex(f.trBase)} limit 0x${f.trLimit.toString(16)} (${this.facts.cpus === undefined ? 'the host TSS' : `CPU ${c.apicId}'s TSS`})`, rip);
  }

  /** GS base, TR and RSP where host C code runs */
  private checkHostC(c: Cpu, inv: Inv, check: string, rip: number): void {
    const f = this.cf(c);
    const gs = c.segBase[S.GS];
    if (gs !== f.percpu) this.flag(c, inv, check, 'GS base', hex(gs), `${hex(f.percpu)} (${this.whose(c)} per-cpu base)`, rip);
    if (this.facts.cEntryTr !== false) this.checkTr(c, inv, check, rip);
    const rsp = c.rh[4] * TWO32 + (c.rl[4] >>> 0);
    let onStack = false;
    for (const s of f.stacks) if (rsp > s.lo && rsp <= s.hi) onStack = true;
    if (!onStack) this.flag(c, inv, check, 'RSP', hex(rsp), `on a host stack (${f.stacks.map((s) => s.name).join(', ')})`, rip);
  }

  // ---- hooks ----

  /** Cpu.onBreakpoint: before the instruction at `lin` runs */
  onBreakpoint(c: Cpu, lin: number): void {
    const r = this.roles.get(lin) ?? 0;
    if (c.guestMode) return;
    if ((r & Bp.UserReturn) !== 0 && c.cpl === 3) {
      // the same instruction also runs between KVM_RUNs' returns only after one of them
      const last = ++this.returns >= this.facts.runs;
      this.atUserReturn(c, lin, this.returns - 1, last);
      if (last) {
        this.ended = true;
        c.stopReason = Stop.Exception;
      }
      return;
    }
    if (c.cpl !== 0) return;
    if ((r & Bp.Handler) !== 0) this.checkHostC(c, 'handler', 'handler body (C)', lin);
    else if ((r & Bp.CEntry) !== 0) this.checkHostC(c, 'host-c', 'C function entry', lin);
    else if ((r & Bp.CResume) !== 0) this.checkHostC(c, 'host-c', 'C code resumes after assembly', lin);
    if ((r & Bp.Vmrun) !== 0 && this.facts.vmcb !== 0) this.atVmrun(c, lin);
  }

  /** Cpu.onDeliver: an event is about to be delivered, with the state it interrupts */
  onDeliver(c: Cpu, vector: number, kind: number): void {
    if (c.guestMode) return;
    if (this.trace !== null) {
      const ext = kind === Ev.Nmi || kind === Ev.Ext;
      // taken at the boundary: the instruction the runner noted before this step did not run
      const last = this.trace[this.trace.length - 1];
      if (ext && last !== undefined && last.note === undefined) this.trace.pop();
      const cpu = this.facts.cpus === undefined ? undefined : c.apicId;
      this.trace.push({ rip: c.rip, bits: c.bits, guest: false, note: `${kind === Ev.Nmi ? 'NMI' : kind === Ev.Ext ? `interrupt 0x${vector.toString(16)}` : `exception ${vector}`} delivered`, cpu });
      this.trace.push({ rip: gateTarget(c, vector), bits: 64, guest: false, cpu });
    }
    const rip = c.rip;
    if (kind === Ev.Nmi) this.delivered |= 1;
    else if (kind === Ev.Ext && vector === (this.facts.intrVector ?? INTR_VECTOR)) this.delivered |= 2;
    if (kind !== Ev.Nmi && kind !== Ev.Ext) {
      this.flag(c, 'no-crash', 'exception in the host', 'exception', `vector ${vector}${vector === 14 ? ` (#PF, CR2 ${hex(c.cr2)})` : ''}`, 'none', rip);
      return;
    }
    const f = this.cf(c);
    const gs = c.segBase[S.GS];
    const kgs = c.kernelGsBase;
    const what = kind === Ev.Nmi ? 'NMI delivery' : `interrupt 0x${vector.toString(16)} delivery`;
    const seen = `GS base ${hex(gs)}, KERNEL_GS_BASE ${hex(kgs)} (ring ${c.cpl})`;
    if (c.cpl !== 0) {
      if (kgs !== f.percpu) this.flag(c, 'entry-gs', what, 'KERNEL_GS_BASE', seen, `${hex(f.percpu)} in KERNEL_GS_BASE (for SWAPGS)`, rip);
    } else if (kind === Ev.Nmi) {
      // the paranoid entry copes with the user's GS base in ring 0 (the SYSCALL entry before its
      // SWAPGS), never with a third one
      if (gs !== f.percpu && kgs !== f.percpu) this.flag(c, 'entry-gs', what, 'GS', seen, `${hex(f.percpu)} in GS base or KERNEL_GS_BASE`, rip);
    } else if (gs !== f.percpu) {
      this.flag(c, 'entry-gs', what, 'GS base', seen, `${hex(f.percpu)} in GS base (the entry trusts GS in ring 0)`, rip);
    }
    this.checkTr(c, 'entry-tr', what, rip);
  }

  /**
   * Route every CPU's #VMEXITs, event deliveries and %gs: accesses here. Installed before the
   * unit's snapshot, so a restore keeps them (a snapshot leaves functions alone).
   */
  attach(cpus: readonly Cpu[]): void {
    for (const x of cpus) {
      const svmExitAt = x.svmExitAt;
      x.svmExitAt = (code, i1lo, i1hi, i2, guestRip, nrip) => {
        svmExitAt(code, i1lo, i1hi, i2, guestRip, nrip);
        this.onExit(x, code);
      };
      x.onDeliver = (cpu, vector, kind) => this.onDeliver(cpu, vector, kind);
      x.setGsAccessHook((cpu) => this.onGsAccess(cpu));
    }
  }

  /** after #VMEXIT: the CPU still holds the guest's FS, GS, TR, LDTR, KernelGsBase and
   * SYSCALL/SYSENTER MSRs, which #VMEXIT does not touch (APM Vol. 2 15.6) */
  onExit(c: Cpu, code: number): void {
    this.exitCount++;
    this.cpuExits[c.apicId & 7]++;
    readCpuSet(c, this.lastExit);
    for (let r = 0; r < 16; r++) { this.exitRegs[2 * r] = c.rl[r]; this.exitRegs[2 * r + 1] = c.rh[r]; }
    this.exitCode = code;
    if (this.trace !== null) {
      const cpu = this.facts.cpus === undefined ? undefined : c.apicId;
      this.trace.push({ rip: c.rip, bits: c.bits, guest: false, note: `#VMEXIT 0x${(code >>> 0).toString(16)}`, cpu });
      this.trace.push({ rip: c.rip, bits: c.bits, guest: false, cpu });
    }
    if (this.exitCount === this.stopAtExit) c.stopReason = Stop.Exception;
  }

  /** Cpu.onGsAccess: an instruction is about to access memory through GS */
  onGsAccess(c: Cpu): void {
    if (c.guestMode || c.cpl !== 0) return;
    const gs = c.segBase[S.GS];
    const f = this.cf(c);
    if (gs !== f.percpu) {
      this.flag(c, 'percpu-access', 'GS-relative access in ring 0', 'GS base', hex(gs), `${hex(f.percpu)} (${this.whose(c)} per-cpu base)`, c.ripLinearAt(c.ripStart));
    }
  }

  private atVmrun(c: Cpu, lin: number): void {
    const hsave = this.facts.cpus?.[c.apicId]?.hsave;
    if (hsave !== undefined && c.vmHsavePa !== hsave) {
      const other = this.facts.cpus!.findIndex((x) => x.hsave === c.vmHsavePa);
      this.flag(c, 'host-save', 'VMRUN', 'VM_HSAVE_PA', `${hex(c.vmHsavePa)}${other >= 0 ? ` (CPU ${other}'s host save area)` : ''}`, `${hex(hsave)} (CPU ${c.apicId}'s host save area)`, lin);
    }
    if (this.exitCode >= 0) {
      const code = this.exitCode;
      for (let r = 0; r < 16; r++) {
        if (r === 0 || r === 4) continue; // RAX, RSP: in the VMCB
        if (code === 0x72 && r >= 1 && r <= 3) continue; // CPUID writes RBX, RCX, RDX
        if (code === 0x7c && r === 2) continue; // RDMSR writes RDX
        if (c.rl[r] === this.exitRegs[2 * r] && c.rh[r] === this.exitRegs[2 * r + 1]) continue;
        this.flag(c, 'guest-regs', 'VMRUN', GPR_NAMES[r], hex(c.rl[r], c.rh[r]),
          `${hex(this.exitRegs[2 * r], this.exitRegs[2 * r + 1])} (the guest's at #VMEXIT 0x${(code >>> 0).toString(16)})`, lin);
      }
    }
    readCpuSet(c, this.scratch);
    this.compareSet(c, this.scratch, this.lastExit, VMLOAD_ITEMS, 'guest-state', 'VMRUN', 'as loaded for the guest', 'the guest\'s at its last #VMEXIT', lin);
  }

  private compareSet(c: Cpu, got: Uint32Array, want: Uint32Array, items: number, inv: Inv, check: string, gotWhat: string, wantWhat: string, rip: number, prefix = ''): void {
    for (let k = 0; k < items; k++) {
      if (got[2 * k] === want[2 * k] && got[2 * k + 1] === want[2 * k + 1]) continue;
      this.flag(c, inv, check, `${prefix}${SET_ITEMS[k]}`, `${itemHex(got, k)} (${gotWhat})`, `${itemHex(want, k)} (${wantWhat})`, rip);
    }
  }

  private atUserReturn(c: Cpu, lin: number, run: number, last: boolean): void {
    const f = this.facts;
    // user-state: the VMM's own values, as it entered this KVM_RUN
    readCpuSet(c, this.scratch);
    const got = this.scratch;
    const before = f.befores[Math.min(run, f.befores.length - 1)];
    const check = f.runs > 1 ? `return to ring 3 (KVM_RUN ${run + 1} of ${f.runs})` : 'return to ring 3';
    for (let k = 0; k < SET_ITEMS.length; k++) {
      const name = SET_ITEMS[k];
      // segment limits and attributes do not matter for FS and GS in 64-bit mode; a null LDTR
      // is unusable whatever its hidden part holds
      if ((name.startsWith('FS.') || name.startsWith('GS.')) && (name.endsWith('.attr') || name.endsWith('.limit'))) continue;
      if (name.startsWith('LDTR.') && name !== 'LDTR.sel' && got[2 * ITEM('LDTR.sel')] === 0 && before[2 * ITEM('LDTR.sel')] === 0) continue;
      if (got[2 * k] === before[2 * k] && got[2 * k + 1] === before[2 * k + 1]) continue;
      this.flag(c, 'user-state', check, name, itemHex(got, k), `${itemHex(before, k)} (before KVM_RUN)`, lin);
    }
    if (f.vmcb === 0) return;
    // guest-state: the VMCB keeps what the guest had at its last #VMEXIT
    readVmcbSet(this.mem, f.vmcb, this.scratch);
    this.compareSet(c, this.scratch, this.lastExit, VMLOAD_ITEMS, 'guest-state', check, 'in the guest VMCB', 'the guest\'s at its last #VMEXIT', lin, 'VMCB ');
    if (!last) return;
    // guest-unchanged: against the reference run
    const save = this.mem.u8.slice(f.vmcb + SAVE_START, f.vmcb + SAVE_END);
    if (this.reference === null) {
      const pages = new Map<number, Uint8Array>();
      for (const p of f.guestPages) if (this.mem.dirty[p] !== 0) pages.set(p, this.mem.u8.slice(p * 4096, p * 4096 + 4096));
      this.captured = { save, pages };
      return;
    }
    const ref = this.reference;
    for (let i = 0; i < save.length; i++) {
      if (save[i] === ref.save[i]) continue;
      const off = SAVE_START + i;
      this.flag(c, 'guest-unchanged', 'return to ring 3', `guest VMCB ${fieldAt(off)}`, `byte 0x${off.toString(16)} = 0x${save[i].toString(16)}`, `0x${ref.save[i].toString(16)} (run without the event)`, lin);
      break;
    }
    for (const p of f.guestPages) {
      const now = this.mem.dirty[p] !== 0;
      const want = ref.pages.get(p);
      if (!now && want === undefined) continue;
      const wantBytes = want ?? this.snapshotPage(p);
      const base = p * 4096;
      for (let i = 0; i < 4096; i++) {
        const w = wantBytes === undefined ? 0 : wantBytes[i];
        if (this.mem.u8[base + i] === w) continue;
        this.flag(c, 'guest-unchanged', 'return to ring 3', `guest memory ${hex(base + i)}`, `0x${this.mem.u8[base + i].toString(16)}`, `0x${w.toString(16)} (run without the event)`, lin);
        break;
      }
    }
  }
}
