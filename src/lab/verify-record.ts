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
 */

import { Machine } from '../machine/machine.js';
import type { PhysMem } from '../machine/memory.js';
import type { Cpu } from '../cpu/cpu.js';
import { Fl, S, Stop, TWO32 } from '../cpu/state.js';
import { Decoder } from '../x86/decoder.js';
import { disasm } from '../x86/disasm.js';
import { Insn, type Exec } from '../x86/insn.js';
import { INSNS } from '../x86/table.js';
import { V } from '../svm/vmcb.js';
import { restoreSnapshot, takeSnapshot, type Snapshot } from './snapshot.js';
import type { SymbolTable } from './symbols.js';
import { Bp, Checker, readCpuSet, readVmcbSet, SET_WORDS, type HostFacts, type StackRange } from './verify-invariants.js';

/** the host's KVM_RUN system call number (guest/host/include/uapi.h) */
const SYS_KVM_RUN = 501;
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
}

/** KVM_RUNs recorded and replayed per unit unless a spec says otherwise */
export const DEFAULT_RUNS = 3;

/** the recorded window, one entry per boundary */
export interface Path {
  n: number;
  /** instructions retired since the snapshot */
  icount: Float64Array;
  /** #VMEXITs since the snapshot */
  exits: Int32Array;
  /** linear RIP of the next instruction, and the code size */
  rip: Float64Array;
  bits: Uint8Array;
  /** Mode bits */
  mode: Uint8Array;
  /** 1 where the boundary is inside one of the KVM_RUN system calls (entry to SYSRET) */
  inRun: Uint8Array;
  /** did the window end at the user instruction after the last SYSRET (else the machine stopped) */
  complete: boolean;
  /** why it stopped, when not complete */
  stop: string;
}

export const enum Mode { Guest = 1, Gif = 2, If = 4, User = 8 }

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

function modeOf(c: Cpu): number {
  return (c.guestMode ? Mode.Guest : 0) | (c.svm.gif ? Mode.Gif : 0) | ((c.flags & Fl.IF) !== 0 ? Mode.If : 0) | (c.cpl === 3 ? Mode.User : 0);
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
    if (spec.nullClearsBase === true) c.nullSelClearsBase = true;
    const cmdline = `design=${spec.design} workload=${spec.workload} iterations=${nth + this.runs + 1} timer=0 fsflip nochecks${spec.fsgsbase ? '' : ' nofsgsbase'}`;
    m.boot(image, { name: 'host.elf', cmdline });

    // stop at the entry of the nth KVM_RUN system call
    const entry = syms.require('syscall_entry');
    let calls = 0;
    let atEntry = false;
    c.setBreakpoints(new Set([entry]), (cpu) => {
      if (cpu.rl[0] === SYS_KVM_RUN && ++calls === nth) { atEntry = true; cpu.stopReason = Stop.Exception; }
    });
    const r = m.run(BOOT_BUDGET);
    if (!atEntry) {
      throw new Error(`${spec.design}/${spec.workload}: the host did not reach KVM_RUN #${nth} (${Stop[r.reason]}): ${latin1(out).split('\n').slice(-4).join(' | ')}`);
    }

    // what the checks compare with
    const mem = m.mem;
    const vmmStart = syms.require('vmm_start');
    const stacks: StackRange[] = [];
    for (const name of ['kstack', 'nmi_stack', 'df_stack']) {
      const lo = syms.get(name);
      if (lo !== undefined) stacks.push({ name, lo, hi: lo + syms.sizeOf(name) });
    }
    const before = new Uint32Array(SET_WORDS);
    readCpuSet(c, before);
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
      userReturn: c.rh[1] * TWO32 + (c.rl[1] >>> 0),
      vmcb: 0,
      guestPages: [],
      handlers: new Set([syms.require('do_nmi'), syms.require('trap_dispatch')]),
    };
    this.cFuncs = syms.all().filter((s) => s.func && s.size > 0 && s.addr < vmmStart).map((s) => ({ start: s.addr, end: s.addr + s.size }));
    this.describe = new Describer(mem, syms);
    const checker = new Checker(this.facts, mem);
    this.checker = checker;

    // #VMEXIT and event delivery reach the checker; installed before the snapshot so that a
    // restore keeps them (a snapshot leaves functions alone)
    const svmExitAt = c.svmExitAt;
    c.svmExitAt = (code, i1lo, i1hi, i2, guestRip, nrip) => {
      svmExitAt(code, i1lo, i1hi, i2, guestRip, nrip);
      checker.onExit(c, code);
    };
    c.onDeliver = (cpu, vector, kind) => checker.onDeliver(cpu, vector, kind);
    c.setGsAccessHook((cpu) => checker.onGsAccess(cpu));
    this.snap = takeSnapshot(m);
    this.path = this.record();
    // the guest's VMCB is the one the recorded VMRUNs used; at the snapshot it holds the state
    // the guest will be entered with, and its nested page tables say what guest RAM is
    const vmcb = c.svm.vmcb;
    restoreSnapshot(m, this.snap);
    this.facts.vmcb = vmcb;
    if (vmcb !== 0) {
      this.facts.guestPages = guestRamPages(mem, read64(mem, vmcb + V.N_CR3));
      readVmcbSet(mem, vmcb, checker.baseline);
    }
    this.placeBreakpoints();
  }

  isC(rip: number): boolean {
    for (const f of this.cFuncs) if (rip >= f.start && rip < f.end) return true;
    return false;
  }

  /** step from the snapshot to the first user instruction after the KVM_RUN system call */
  private record(): Path {
    const { m, checker, facts } = this;
    const c = m.cpu;
    c.setBreakpoints(new Set());
    const base = c.icount;
    const icount: number[] = [];
    const exits: number[] = [];
    const rip: number[] = [];
    const bits: number[] = [];
    const mode: number[] = [];
    const inRun: number[] = [];
    let complete = false;
    let stop = '';
    let returns = 0;
    let running = true;
    for (;;) {
      const lin = c.ripLinear();
      if (!running && lin === this.entry && c.cpl === 0 && !c.guestMode && c.rl[0] === SYS_KVM_RUN) {
        // the next KVM_RUN: the VMM's state as it enters is what its return must give back
        const b = new Uint32Array(SET_WORDS);
        readCpuSet(c, b);
        facts.befores.push(b);
        running = true;
      }
      if (c.cpl === 3 && !c.guestMode && lin === facts.userReturn && running) {
        running = false;
        if (++returns === this.runs) {
          icount.push(c.icount - base);
          exits.push(checker.exitCount);
          rip.push(lin);
          bits.push(c.bits);
          mode.push(modeOf(c));
          inRun.push(0);
          complete = true;
          break;
        }
      }
      icount.push(c.icount - base);
      exits.push(checker.exitCount);
      rip.push(lin);
      bits.push(c.bits);
      mode.push(modeOf(c));
      inRun.push(running ? 1 : 0);
      if (icount.length > MAX_PATH) { stop = `no return to ring 3 within ${MAX_PATH} instructions`; break; }
      checker.stopAtExit = checker.exitCount + 1;
      const r = m.run(1);
      if (r.reason !== Stop.Budget && r.reason !== Stop.Exception) {
        stop = `${Stop[r.reason]}${r.exitStatus !== null ? ` (debug exit ${r.exitStatus})` : ''} at 0x${r.rip.toString(16)}`;
        icount.push(c.icount - base);
        exits.push(checker.exitCount);
        rip.push(c.ripLinear());
        bits.push(c.bits);
        mode.push(modeOf(c));
        inRun.push(running ? 1 : 0);
        break;
      }
    }
    checker.stopAtExit = -1;
    return {
      n: icount.length,
      icount: Float64Array.from(icount),
      exits: Int32Array.from(exits),
      rip: Float64Array.from(rip),
      bits: Uint8Array.from(bits),
      mode: Uint8Array.from(mode),
      inRun: Uint8Array.from(inRun),
      complete,
      stop,
    };
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
    for (let k = 0; k + 1 < path.n; k++) {
      const here = path.mode[k];
      const next = path.mode[k + 1];
      if ((here & Mode.Guest) === 0 && (next & Mode.Guest) !== 0) add(path.rip[k], Bp.Vmrun);
      const host0 = (m: number) => (m & (Mode.Guest | Mode.User)) === 0;
      if (host0(here) && host0(next) && !this.isC(path.rip[k]) && this.isC(path.rip[k + 1]) && !starts.has(path.rip[k + 1])) {
        add(path.rip[k + 1], Bp.CResume);
      }
    }
    add(facts.userReturn, Bp.UserReturn);
    const c = this.m.cpu;
    c.setBreakpoints(new Set(roles.keys()), (cpu, lin) => checker.onBreakpoint(cpu, lin));
  }
}
