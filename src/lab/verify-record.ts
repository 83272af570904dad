/**
 * Recording KVM_RUNs for the verifier: boot the host with a design and a workload, stop at the
 * KVM_RUN system call's entry, take a snapshot there, and step through `runs` consecutive
 * KVM_RUNs (default 3; the VMM's own work between them included) to list every instruction
 * boundary up to the first user instruction after the last one's SYSRET. State a design keeps
 * from one KVM_RUN to the next (a flag never cleared, a copy reused) is only wrong from the
 * second run on, so one run is not enough; the VMM moves its FS and GS bases with period 3
 * before every run (vmm.c, fsflip), so a copy stale by any number of runs shows. What the
 * invariants need is read from the machine at that point (the kernel's per-cpu base, the host
 * TSS, the VMM's state before KVM_RUN, the guest's VMCB and RAM) and from the image's symbols
 * (stacks, C functions, handlers), and the breakpoints the checks use are placed.
 *
 * A boundary is a place between two instructions where an event may be raised: after each
 * retired instruction, and also right after each #VMEXIT (an intercepted instruction does not
 * retire, so the host's first instruction after #VMEXIT would otherwise share its count with
 * the guest's last boundary). Boundary k is (instructions retired, #VMEXITs taken) since the
 * snapshot, so a replay can stop there again exactly.
 *
 * More than one CPU (`cpus`, with `migrate` = N: the VMM moves to the other CPU every N
 * KVM_RUNs, so the window holds vcpu_put on one CPU and vcpu_load on the other): the recording
 * steps the whole machine one instruction (or #VMEXIT) at a time, in the machine's own
 * deterministic interleaving (docs/smp.md), and each boundary belongs to the CPU that runs
 * next: its instructions and #VMEXITs since the snapshot say where on that CPU it is, and the
 * machine-wide counts say how to get there again. An event raised at a boundary of CPU k is
 * raised on CPU k (its NMI line, its local APIC) and checked against CPU k's own facts: its
 * per-cpu base, TSS and stacks.
 */

import { Machine } from '../machine/machine.js';
import type { PhysMem } from '../machine/memory.js';
import { Fl, S, Stop, TWO32 } from '../cpu/state.js';
import { Decoder } from '../x86/decoder.js';
import { disasm } from '../x86/disasm.js';
import { Insn, type Exec } from '../x86/insn.js';
import { INSNS } from '../x86/table.js';
import { V } from '../svm/vmcb.js';
import { restoreSnapshot, takeSnapshot, type Snapshot } from './snapshot.js';
import type { SymbolTable } from './symbols.js';
import { CpuBoundaries, Mode, PathBuilder, type Path } from './verify-path.js';
import { Bp, Checker, readCpuSet, readVmcbSet, SET_WORDS, type HostFacts, type StackRange } from './verify-invariants.js';

/** the host's KVM_RUN and MIGRATE system call numbers (guest/host/include/uapi.h) */
const SYS_KVM_RUN = 501;
const SYS_MIGRATE = 504;
/** RAM for a verifier machine: the host image, the VMM and 2 MiB of guest RAM fit in 16 MiB */
const MEM_SIZE = 32 << 20;
const BOOT_BUDGET = 20_000_000;
const MAX_PATH = 1_000_000;

export interface UnitSpec {
  /** a real design or a mutant (design=NAME on the host's command line) */
  design: string;
  workload: string;
  fsgsbase: boolean;
  /** which KVM_RUN to record from, from 1 (the VMM changes its FS and GS bases before each) */
  kvmRun?: number;
  /** consecutive KVM_RUNs in the window (default DEFAULT_RUNS) */
  runs?: number;
  /** the machine clears a segment's base when a null selector is loaded (the CPU option) */
  nullClearsBase?: boolean;
  /** CPUs in the machine (default 1; the host kernel runs on CPU 0) */
  cpus?: number;
  /** the VMM moves to the other CPU every N KVM_RUNs (boot option migrate=N; needs cpus >= 2) */
  migrate?: number;
}

/** KVM_RUNs recorded and replayed per unit unless a spec says otherwise */
export const DEFAULT_RUNS = 3;


const noop: Exec = () => {};

/** Disassembly and symbolic names of addresses, for reports (code is identity-mapped). */
export class Describer {
  private readonly dec = new Decoder(INSNS.map(() => noop), noop);
  private readonly insn = new Insn(noop);
  private readonly buf = new Uint8Array(15);
  private readonly cache = new Map<number, string>();

  constructor(private readonly mem: PhysMem, private readonly syms: SymbolTable) {}

  insnAt(rip: number, bits: number): string {
    const key = rip * 4 + (bits === 64 ? 0 : bits === 32 ? 1 : 2);
    const have = this.cache.get(key);
    if (have !== undefined) return have;
    let text = '?';
    if (rip >= 0 && rip + 15 <= this.mem.size) {
      for (let k = 0; k < 15; k++) this.buf[k] = this.mem.read8(rip + k);
      this.dec.decode(this.insn, this.buf, 0, 15, bits);
      text = disasm(this.insn, rip);
    }
    this.cache.set(key, text);
    return text;
  }

  where(rip: number, guest: boolean): string {
    return guest ? `guest 0x${rip.toString(16)}` : this.syms.describe(rip);
  }
}

/** bytes as text (the host's console output) */
export function latin1(bytes: number[]): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function read64(mem: PhysMem, pa: number): number {
  return mem.read32(pa + 4) * TWO32 + (mem.read32(pa) >>> 0);
}

/**
 * Guest RAM: the pages the nested page tables map without a reserved bit (the kvm code marks
 * its MMIO window with bit 51, as KVM's MMIO SPTEs are marked).
 */
function guestRamPages(mem: PhysMem, nCr3: number): number[] {
  const pages: number[] = [];
  const walk = (table: number, level: number): void => {
    for (let i = 0; i < 512; i++) {
      const lo = mem.read32(table + 8 * i);
      const hi = mem.read32(table + 8 * i + 4);
      if ((lo & 1) === 0 || (hi & (1 << 19)) !== 0) continue;
      const addr = (hi & 0x7ffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
      if (level > 1 && (level === 4 || (lo & 0x80) === 0)) {
        if (addr + 4096 <= mem.size) walk(addr, level - 1);
        continue;
      }
      const bytes = level === 1 ? 4096 : level === 2 ? 1 << 21 : 1 << 30;
      for (let a = addr; a < addr + bytes && a < mem.size; a += 4096) pages.push(a / 4096);
    }
  };
  walk(nCr3 - (nCr3 % 4096), 4);
  return pages;
}

/** A design x workload ready for replays: machine, snapshot, recorded path, checker. */
export class Unit {
  readonly m: Machine;
  readonly checker: Checker;
  readonly snap: Snapshot;
  readonly path: Path;
  readonly facts: HostFacts;
  readonly describe: Describer;
  /** the host's UART output since the last restore */
  readonly out: number[] = [];
  /** C functions of the kernel: [start, end) */
  readonly cFuncs: { start: number; end: number }[];
  /** KVM_RUNs in the window */
  readonly runs: number;
  /** the SYSCALL entry point (where each KVM_RUN begins) */
  private readonly entry: number;

  constructor(image: Uint8Array, readonly syms: SymbolTable, readonly spec: UnitSpec) {
    const out = this.out;
    const m = new Machine({ memSize: MEM_SIZE, cpus: spec.cpus, onUartByte: (b) => { out.push(b); } });
    this.m = m;
    const c = m.cpu;
    const nth = spec.kvmRun ?? 1;
    this.runs = Math.max(1, spec.runs ?? DEFAULT_RUNS);
    const migrate = spec.migrate ?? 0;
    if (migrate > 0 && m.cpus.length < 2) throw new Error(`${spec.design}/${spec.workload}: migrate=${migrate} needs a machine with two CPUs or more`);
    if (spec.nullClearsBase === true) for (const x of m.cpus) x.nullSelClearsBase = true;
    const cmdline = `design=${spec.design} workload=${spec.workload} iterations=${nth + this.runs + 1} timer=0 fsflip nochecks${spec.fsgsbase ? '' : ' nofsgsbase'}${migrate > 0 ? ` migrate=${migrate}` : ''}`;
    m.boot(image, { name: 'host.elf', cmdline });

    // stop at the entry of the nth KVM_RUN system call (on whichever CPU makes it)
    const entry = syms.require('syscall_entry');
    let calls = 0;
    let atEntry = false;
    let vmmCpu = 0;
    for (const x of m.cpus) {
      x.setBreakpoints(new Set([entry]), (cpu) => {
        if (cpu.rl[0] === SYS_KVM_RUN && ++calls === nth) { atEntry = true; vmmCpu = cpu.apicId; cpu.stopReason = Stop.Exception; }
      });
    }
    const r = m.run(BOOT_BUDGET);
    if (!atEntry) {
      throw new Error(`${spec.design}/${spec.workload}: the host did not reach KVM_RUN #${nth} (${Stop[r.reason]}): ${latin1(out).split('\n').slice(-4).join(' | ')}`);
    }

    // what the checks compare with
    const mem = m.mem;
    const vmmStart = syms.require('vmm_start');
    const stackSet = (names: string[]) => {
      const out: StackRange[] = [];
      for (const name of names) {
        const lo = syms.get(name);
        if (lo !== undefined) out.push({ name, lo, hi: lo + syms.sizeOf(name) });
      }
      return out;
    };
    const stacks = stackSet(['kstack', 'nmi_stack', 'df_stack']);
    const vc = m.cpus[vmmCpu];
    const before = new Uint32Array(SET_WORDS);
    readCpuSet(vc, before);
    this.entry = entry;
    this.facts = {
      percpu: read64(mem, syms.require('percpu_offset')),
      trSel: c.segSel[S.TR],
      trBase: c.segBase[S.TR],
      trLimit: c.segLimit[S.TR],
      stacks,
      befores: [before],
      runs: this.runs,
      // RCX: SYSCALL left the return address there
      userReturn: vc.rh[1] * TWO32 + (vc.rl[1] >>> 0),
      vmcb: 0,
      guestPages: [],
      handlers: new Set([syms.require('do_nmi'), syms.require('trap_dispatch')]),
    };
    if (migrate > 0) {
      // each CPU's own facts: its per-cpu base (percpu_offset[k]), its TSS as its TR holds it
      // (every CPU is in the kernel at the snapshot: the other one in its idle loop), its stacks
      const offsets = syms.require('percpu_offset');
      const names = [['kstack', 'nmi_stack', 'df_stack'], ['kstack_ap', 'nmi_stack_ap', 'df_stack_ap', 'idle_stack_ap']];
      // (the host uses CPUs 0 and 1, NR_CPUS = 2: more CPUs wait for a startup IPI throughout)
      this.facts.cpus = m.cpus.slice(0, 2).map((x, k) => ({
        percpu: read64(mem, offsets + 8 * k),
        trSel: x.segSel[S.TR], trBase: x.segBase[S.TR], trLimit: x.segLimit[S.TR],
        stacks: stackSet(names[Math.min(k, 1)]),
        hsave: x.vmHsavePa,
      }));
    }
    this.cFuncs = syms.all().filter((s) => s.func && s.size > 0 && s.addr < vmmStart).map((s) => ({ start: s.addr, end: s.addr + s.size }));
    this.describe = new Describer(mem, syms);
    const checker = new Checker(this.facts, mem);
    this.checker = checker;

    // #VMEXIT and event delivery reach the checker (before the snapshot: a restore keeps them)
    checker.attach(m.cpus);
    this.snap = takeSnapshot(m);
    this.path = this.record();
    if (migrate > 0 && this.path.complete && (this.path.migrations ?? 0) === 0) {
      throw new Error(`${spec.design}/${spec.workload}: no vcpu migration in the ${this.runs} KVM_RUNs recorded (migrate=${migrate}: raise --runs or lower --migrate)`);
    }
    // the guest's VMCB is the one the recorded VMRUNs used; at the snapshot it holds the state
    // the guest will be entered with, and its nested page tables say what guest RAM is
    const vmcb = m.cpus.find((x) => x.svm.vmcb !== 0)?.svm.vmcb ?? 0;
    restoreSnapshot(m, this.snap);
    this.facts.vmcb = vmcb;
    if (vmcb !== 0) {
      this.facts.guestPages = guestRamPages(mem, read64(mem, vmcb + V.N_CR3));
      readVmcbSet(mem, vmcb, checker.baseline);
    }
    this.placeBreakpoints();
  }

  /**
   * After a replay: CPU k ends the window in its idle loop with interrupts off (the old CPU of
   * a hand-over), where an interrupt raised after its CLI waits, as on hardware, past the window
   */
  heldAtEnd(k: number): boolean {
    const idling = this.syms.get('cpu_idling');
    const x = this.m.cpus[k];
    return idling !== undefined && this.m.mem.read32(idling + 4 * k) !== 0 && (x.flags & Fl.IF) === 0 && !x.guestMode;
  }

  isC(rip: number): boolean {
    for (const f of this.cFuncs) if (rip >= f.start && rip < f.end) return true;
    return false;
  }

  /**
   * Step from the snapshot to the first user instruction after the last KVM_RUN system call of
   * the window, one instruction or #VMEXIT of the machine at a time. Before each step every
   * CPU's boundary is noted; after it, the boundary of the CPU that moved is the path's next.
   */
  private record(): Path {
    const { m, checker, facts } = this;
    const cpus = m.cpus;
    const n = cpus.length;
    for (const x of cpus) x.setBreakpoints(new Set());
    const used = () => { let u = 0; for (const x of cpus) u += x.icount + x.stormCount; return u; };
    const gBase = used();
    const base = cpus.map((x) => x.icount);
    const path = new PathBuilder();
    // each CPU's boundary before the step
    const pre = new CpuBoundaries(cpus, base, checker.cpuExits);
    const push = (k: number, g: number, ge: number) => path.addCpu(pre, k, g, ge);
    const note = (k: number, running: boolean) => pre.note(k, running ? 1 : hand[k] !== 0 ? 2 : 0);
    // the vcpu hand-over (migrate=N): per CPU 0 none, 1 leaving (SYS_MIGRATE to the idle loop),
    // 2 arriving (out of the idle loop to ring 3); cpu_idling[k] says who is in the idle loop
    const idling = (this.spec.migrate ?? 0) > 0 ? this.syms.get('cpu_idling') : undefined;
    const hand = new Uint8Array(n);
    const wasIdle = new Uint8Array(n);
    const idleNow = (k: number) => idling !== undefined && m.mem.read32(idling + 4 * k) !== 0;
    for (let k = 0; k < n; k++) wasIdle[k] = idleNow(k) ? 1 : 0;
    let complete = false;
    let stop = '';
    let returns = 0;
    // the CPU inside a KVM_RUN of the window (the first one from the snapshot on), -1: none
    let runningOn = -1;
    let lastRunCpu = -1;
    let migrations = 0;
    for (let k = 0; k < n; k++) {
      if (cpus[k].ripLinear() === this.entry && cpus[k].cpl === 0 && !cpus[k].guestMode && cpus[k].rl[0] === SYS_KVM_RUN) { runningOn = k; lastRunCpu = k; }
    }
    if (runningOn < 0) runningOn = 0;
    for (;;) {
      let ended = false;
      for (let k = 0; k < n && !ended; k++) {
        const x = cpus[k];
        const lin = x.ripLinear();
        if (runningOn < 0 && lin === this.entry && x.cpl === 0 && !x.guestMode && x.rl[0] === SYS_KVM_RUN) {
          // the next KVM_RUN: the VMM's state as it enters is what its return must give back
          const b = new Uint32Array(SET_WORDS);
          readCpuSet(x, b);
          facts.befores.push(b);
          runningOn = k;
          if (k !== lastRunCpu) migrations++;
          lastRunCpu = k;
        }
        if (idling !== undefined) {
          const idle = idleNow(k);
          if (hand[k] === 0 && runningOn !== k && lin === this.entry && x.cpl === 0 && !x.guestMode && x.rl[0] === SYS_MIGRATE) hand[k] = 1;
          else if (hand[k] === 1 && idle) hand[k] = 0;
          else if (wasIdle[k] !== 0 && !idle) hand[k] = 2;
          else if (hand[k] === 2 && x.cpl === 3) hand[k] = 0;
          wasIdle[k] = idle ? 1 : 0;
        }
        if (x.cpl === 3 && !x.guestMode && lin === facts.userReturn && runningOn === k) {
          runningOn = -1;
          if (++returns === this.runs) {
            note(k, false);
            push(k, used() - gBase, checker.exitCount);
            complete = true;
            ended = true;
          }
        }
        if (!ended) note(k, runningOn === k);
      }
      if (ended) break;
      if (path.length > MAX_PATH) { stop = `no return to ring 3 within ${MAX_PATH} instructions`; break; }
      const g = used() - gBase;
      const ge = checker.exitCount;
      checker.stopAtExit = checker.exitCount + 1;
      const r = m.run(1);
      // the CPU that moved: retired an instruction (or a delivery storm), or took a #VMEXIT
      const k = pre.moved();
      if (k >= 0) push(k, g, ge);
      if (r.reason !== Stop.Budget && r.reason !== Stop.Exception) {
        stop = `${Stop[r.reason]}${r.exitStatus !== null ? ` (debug exit ${r.exitStatus})` : ''} at 0x${r.rip.toString(16)}`;
        const j = k >= 0 ? k : 0;
        note(j, runningOn === j);
        push(j, used() - gBase, checker.exitCount);
        break;
      }
      if (k < 0) { stop = 'no CPU ran'; break; }
    }
    checker.stopAtExit = -1;
    return path.build(complete, stop, n > 1 ? migrations : undefined);
  }

  /**
   * Breakpoints: every kernel C function's entry, the handlers' C bodies, every place on the
   * path where assembly returns into the middle of C (the run loop after __svm_vcpu_run), each
   * VMRUN, and the user instruction that ends the window.
   */
  private placeBreakpoints(): void {
    const { path, checker, facts } = this;
    const roles = checker.roles;
    const add = (a: number, r: number) => roles.set(a, (roles.get(a) ?? 0) | r);
    for (const f of this.cFuncs) add(f.start, Bp.CEntry);
    for (const h of facts.handlers) add(h, Bp.Handler);
    const starts = new Set(this.cFuncs.map((f) => f.start));
    const host0 = (m: number) => (m & (Mode.Guest | Mode.User)) === 0;
    // consecutive boundaries of the same CPU
    const prev = new Int32Array(this.m.cpus.length).fill(-1);
    for (let j = 0; j < path.n; j++) {
      const cpu = path.cpu?.[j] ?? 0;
      const k = prev[cpu];
      prev[cpu] = j;
      if (k < 0) continue;
      const here = path.mode[k];
      const next = path.mode[j];
      if ((here & Mode.Guest) === 0 && (next & Mode.Guest) !== 0) add(path.rip[k], Bp.Vmrun);
      if (host0(here) && host0(next) && !this.isC(path.rip[k]) && this.isC(path.rip[j]) && !starts.has(path.rip[j])) {
        add(path.rip[j], Bp.CResume);
      }
    }
    add(facts.userReturn, Bp.UserReturn);
    for (const c of this.m.cpus) c.setBreakpoints(new Set(roles.keys()), (cpu, lin) => checker.onBreakpoint(cpu, lin));
  }
}
