/**
 * Recording KVM_RUNs of the real host (Debian's Linux 6.1 with a design's kvm.ko and
 * kvm-amd.ko, linuxhost.ts) for the verifier. From the boot snapshot: type the design line, let
 * the VMM load the modules, type the run line (the VMM with `nochecks`: the machine checks, and
 * `fsflip`: the VMM moves its FS and GS bases to the next of three blocks before every
 * KVM_RUN, period 3), stop at the SYSCALL entry of the chosen KVM_RUN ioctl, snapshot there and
 * step through `runs` consecutive KVM_RUNs to the VMM's first instruction after the last one's
 * return. The boundaries are numbered as in verify-record.ts (instructions retired, #VMEXITs).
 *
 * What the invariants compare with is read from Linux's own state at the ioctl's SYSCALL entry:
 *   - the per-cpu base: __per_cpu_offset[0] in the kernel's memory, which must be what
 *     KERNEL_GS_BASE holds there (the entry's SWAPGS brings it into GS base);
 *   - the host TSS: TR as the kernel has it (selector, base, limit);
 *   - the kernel stacks: the task's (16 KiB below the per-cpu cpu_current_top_of_stack), the
 *     entry stack (the page below TSS.sp0: an event from ring 3 lands there), the IRQ
 *     stack (16 KiB below the per-cpu hardirq_stack_ptr) and the IST stacks (8 KiB below each
 *     TSS.IST entry);
 *   - C code: every function symbol of the kernel's text (System.map; the .entry.text
 *     assembly, which runs before SWAPGS, and the retpoline/return thunks, which the exit
 *     path's assembly calls before the host state is back, left out) and of the modules' text sections (their ELF
 *     symbols at the section addresses the kernel chose, MODSECT);
 *   - the handlers' C entry points: exc_nmi and the sysvec_ / common_interrupt functions;
 *   - the VMM's state at each KVM_RUN's entry, and where SYSCALL returns to (RCX).
 * The `intr` kind raises IRQ_WORK_VECTOR (0xf6): Linux has a handler for it
 * (sysvec_irq_work, found through the IDT) that does nothing when no work is queued, so the
 * event itself changes nothing an invariant looks at.
 *
 * More than one CPU (`cpus`; the VMM moving its thread to the next CPU every `migrate`
 * KVM_RUNs): the recording steps the whole machine and follows the KVM_RUN ioctls onto
 * whichever CPU runs them (lverify-smp.ts, as verify-record.ts does for the mini host); each
 * boundary belongs to the CPU that runs next, an event is raised on that CPU, and each CPU is
 * checked against its own facts: __per_cpu_offset[k], the TSS its TR holds (the per-cpu
 * cpu_tss_rw), its entry, IRQ and IST stacks, its host save area, and the task stacks the
 * recording saw in the per-cpu cpu_current_top_of_stack (the VMM's thread, which moves, the
 * idle tasks, the kernel threads that ran).
 */

import { Machine } from '../machine/machine.js';
import type { PhysMem } from '../machine/memory.js';
import { S, Stop, TWO32 } from '../cpu/state.js';
import { V } from '../svm/vmcb.js';
import { adoptSnapshot, restoreSnapshot, takeSnapshot, type Snapshot } from './snapshot.js';
import type { SymbolTable } from './symbols.js';
import { kernelSymbols, parseModuleSections, type KernelSymbols } from './kmod.js';
import { Bp, Checker, readCpuSet, readVmcbSet, SET_WORDS, type CpuFacts, type HostFacts, type StackRange } from './verify-invariants.js';
import { latin1 } from './verify-record.js';
import { Mode, modeOf, PathBuilder, type Path } from './verify-path.js';
import { LinuxDescriber, readLinear32, readLinear64, translateLinear } from './lverify-describe.js';
import { KVM_RUN, recordSmp, SYS_IOCTL } from './lverify-smp.js';
import type { ReplayUnit } from './verify-inject.js';

const MODULES_LOADED = 'kvmhost: modules loaded';
/** Linux's IRQ_WORK_VECTOR (arch/x86/include/asm/irq_vectors.h) */
export const LINUX_INTR_VECTOR = 0xf6;
const LOAD_BUDGET = 3_000_000_000;
const RUN_BUDGET = 200_000_000;
const MAX_PATH = 2_000_000;
/** the kernel's module area (arch/x86/include/asm/pgtable_64_types.h: MODULES_VADDR, MODULES_END) */
const MODULES_LO = -0x60000000;
const MODULES_HI = -0x1000000;
const THREAD_SIZE = 16384;
const IRQ_STACK_SIZE = 16384;
const EXCEPTION_STKSZ = 8192;
const ENTRY_STACK_SIZE = 4096;

/** console lines that say the kernel is in trouble */
const CRASH = /Oops|BUG:|Kernel panic|general protection fault|double fault|WARNING: CPU|RIP: 0010:|kernel stack overflow/;

export interface LinuxUnitSpec {
  /** the module set (a directory under /kvm in the initramfs: a design, a mutant, "debian") */
  design: string;
  workload: string;
  /** which KVM_RUN the window starts at, from 1 (default 3: the first ones build the MMU) */
  kvmRun?: number;
  /** consecutive KVM_RUNs in the window (default 3) */
  runs?: number;
  /** the CPU clears a segment's base on a null selector load (from the module load on) */
  nullClearsBase?: boolean;
  /** the VMM moves its thread to the next CPU every N KVM_RUNs (migrate=N; 0: never) */
  migrate?: number;
}

/** the VMM stopped before the KVM_RUN the window was to start at; `reached` KVM_RUNs had begun */
export class NotReached extends Error {
  constructor(message: string, readonly reached: number) { super(message); }
}

export interface ModulePair { kvm: Uint8Array; kvmAmd: Uint8Array }

function read64(mem: PhysMem, pa: number): number {
  return mem.read32(pa + 4) * TWO32 + (mem.read32(pa) >>> 0);
}

/** guest RAM: the pages the nested tables map without a reserved bit (KVM marks MMIO SPTEs with high reserved bits) */
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

/** A design (or mutant) of the real host ready for replays. */
export class LinuxUnit implements ReplayUnit {
  readonly m: Machine;
  readonly checker: Checker;
  readonly snap: Snapshot;
  readonly path: Path;
  readonly facts: HostFacts;
  readonly describe: LinuxDescriber;
  readonly out: number[] = [];
  readonly runs: number;
  /** the KVM_RUN the window starts at (from 1) */
  readonly startRun: number;
  readonly syms: KernelSymbols;
  readonly intrVector = LINUX_INTR_VECTOR;
  readonly replayBudget: number;
  /** more than one CPU: replay budgets count the machine's instructions (CPU 0 may idle) */
  readonly machineBudget: boolean;
  /** function entries checked (kernel + modules) */
  readonly functions: number;
  /** instructions and host milliseconds of the module load and the run to the snapshot */
  readonly setup: { instructions: number; ms: number };
  /** the SYSCALL entry (entry_SYSCALL_64) */
  private readonly entry: number;
  private text = '';

  constructor(bootSnap: Snapshot, memSize: number, kernelMap: SymbolTable, mods: ModulePair, readonly spec: LinuxUnitSpec, cpus = 1) {
    const t0 = performance.now();
    const out = this.out;
    const m = new Machine({ memSize, cpus });
    this.m = m;
    adoptSnapshot(m, bootSnap);
    const c = m.cpu;
    const multi = m.cpus.length > 1;
    this.machineBudget = multi;
    // instructions so far: CPU 0's with one CPU, the machine's with more
    const count = multi ? () => m.icount() : () => c.icount;
    for (const x of m.cpus) {
      if (spec.nullClearsBase === true) x.nullSelClearsBase = true;
      x.setCostProfile(null);
      x.flushCodeCache();
    }
    const i0 = count();
    m.uart.onTx = (b) => { out.push(b); };
    const nth = spec.kvmRun ?? 3;
    this.startRun = nth;
    this.runs = Math.max(1, spec.runs ?? 3);
    const what = `${spec.design}/${spec.workload}`;

    // 1. the modules
    m.uart.queueInput(`design=${spec.design}\n`);
    const loadEnd = count() + LOAD_BUDGET;
    while (!this.console().includes(MODULES_LOADED)) {
      const r = m.run(2_000_000);
      if (r.reason !== Stop.Budget || count() >= loadEnd || /RESULT fail/.test(this.text)) {
        throw new Error(`${what}: the modules did not load (${Stop[r.reason]}): ${this.tail()}`);
      }
    }
    const sections = parseModuleSections(this.text);
    const syms = kernelSymbols(kernelMap, [{ name: 'kvm', ko: mods.kvm }, { name: 'kvm_amd', ko: mods.kvmAmd }], sections);
    this.syms = syms;
    const table = syms.table;

    // 2. to the SYSCALL entry of the nth KVM_RUN
    const entry = table.require('entry_SYSCALL_64');
    this.entry = entry;
    let calls = 0;
    let atEntry = false;
    // the CPU the VMM's thread makes that KVM_RUN on
    let vmmCpu = 0;
    for (const x of m.cpus) {
      x.setBreakpoints(new Set([entry]), (cpu) => {
        if (cpu.rl[0] === SYS_IOCTL && cpu.rh[0] === 0 && cpu.rl[6] === KVM_RUN && cpu.rh[6] === 0 && ++calls === nth) { atEntry = true; vmmCpu = cpu.apicId; cpu.stopReason = Stop.Exception; }
      });
    }
    m.uart.queueInput(`workload=${spec.workload} iterations=${nth + this.runs + 2} nochecks fsflip${(spec.migrate ?? 0) > 0 ? ` migrate=${spec.migrate}` : ''}\n`);
    const runEnd = count() + RUN_BUDGET * m.cpus.length;
    while (!atEntry) {
      const r = m.run(1_000_000);
      if (atEntry) break;
      const crash = this.crashLine(this.console());
      if (r.reason !== Stop.Budget || count() >= runEnd || crash !== undefined) {
        throw new NotReached(`${what}: the VMM did not reach KVM_RUN #${nth} (${crash ?? Stop[r.reason]}): ${this.tail()}`, calls);
      }
    }
    for (const x of m.cpus) x.setBreakpoints(null);
    this.setup = { instructions: count() - i0, ms: Math.round(performance.now() - t0) };

    // 3. the facts, from the kernel's own state
    const vc = m.cpus[vmmCpu];
    const mem = m.mem;
    const cr3 = vc.cr3;
    const lin64 = (lin: number, name: string) => {
      const v = readLinear64(mem, cr3, lin);
      if (v === null) throw new Error(`${what}: ${name} (0x${BigInt.asUintN(64, BigInt(lin)).toString(16)}) is not mapped`);
      return v;
    };
    const offsets = table.require('__per_cpu_offset');
    const percpuOf = (k: number) => lin64(offsets + 8 * k, `__per_cpu_offset[${k}]`);
    const percpu = percpuOf(vmmCpu);
    if (percpu !== vc.kernelGsBase) {
      throw new Error(`${what}: KERNEL_GS_BASE at the SYSCALL entry (0x${BigInt.asUintN(64, BigInt(vc.kernelGsBase)).toString(16)}) is not __per_cpu_offset[${vmmCpu}] (0x${BigInt.asUintN(64, BigInt(percpu)).toString(16)})`);
    }
    const topVar = table.get('cpu_current_top_of_stack');
    /** CPU k's stacks, from its per-cpu area and the TSS its TR holds */
    const stacksOf = (k: number, pc: number, tss: number): StackRange[] => {
      const stacks: StackRange[] = [];
      // the task's stack: the per-cpu cpu_current_top_of_stack (what entry_SYSCALL_64 loads)
      const top = topVar !== undefined ? lin64(pc + topVar, 'cpu_current_top_of_stack') : lin64(tss + 12, 'TSS.sp1');
      stacks.push({ name: 'task stack', lo: top - THREAD_SIZE, hi: top });
      // the entry stack (TSS.sp0): where an event from ring 3 lands, before the entry code moves to the task stack
      const sp0 = lin64(tss + 4, 'TSS.sp0');
      stacks.push({ name: 'entry stack', lo: sp0 - ENTRY_STACK_SIZE, hi: sp0 });
      const irqPtr = table.get('hardirq_stack_ptr');
      if (irqPtr !== undefined) {
        const top = lin64(pc + irqPtr, 'hardirq_stack_ptr') + 8;
        stacks.push({ name: 'IRQ stack', lo: top - IRQ_STACK_SIZE, hi: top });
      }
      for (let j = 0; j < 7; j++) {
        const ist = lin64(tss + 0x24 + 8 * j, `TSS.IST${j + 1}`);
        if (ist !== 0) stacks.push({ name: `IST${j + 1} stack`, lo: ist - EXCEPTION_STKSZ, hi: ist });
      }
      if (multi) for (const s of stacks) s.name = `CPU ${k}'s ${s.name}`;
      return stacks;
    };
    const tss = vc.segBase[S.TR];
    const stacks = stacksOf(vmmCpu, percpu, tss);
    // the handler the interrupt vector leads to: asm_sysvec_X in the IDT, its C body sysvec_X
    const gate = vc.idtrBase + this.intrVector * 16;
    const g0 = readLinear32(mem, cr3, gate);
    const g1 = readLinear32(mem, cr3, gate + 4);
    const g2 = readLinear32(mem, cr3, gate + 8);
    const handlers = new Set<number>([table.require('exc_nmi')]);
    if (g0 === null || g1 === null || g2 === null) throw new Error(`${what}: the IDT is not mapped`);
    const target = (g2 | 0) * TWO32 + (((g1 & 0xffff0000) | (g0 & 0xffff)) >>> 0);
    const gateName = table.at(target)?.name ?? '';
    const body = gateName.startsWith('asm_') ? table.get(gateName.slice(4)) : undefined;
    if (body === undefined) throw new Error(`${what}: vector 0x${this.intrVector.toString(16)} leads to ${table.describe(target)}, not an asm_sysvec_ handler`);
    handlers.add(body);
    for (const s of table.all()) if (s.func && (s.name.startsWith('sysvec_') || s.name === 'common_interrupt')) handlers.add(s.addr);
    const before = new Uint32Array(SET_WORDS);
    readCpuSet(vc, before);
    this.facts = {
      percpu,
      trSel: vc.segSel[S.TR],
      trBase: tss,
      trLimit: vc.segLimit[S.TR],
      stacks,
      befores: [before],
      runs: this.runs,
      userReturn: vc.rh[1] * TWO32 + (vc.rl[1] >>> 0),
      vmcb: 0,
      guestPages: [],
      handlers,
      intrVector: this.intrVector,
      cEntryTr: false,
    };
    if (multi) {
      // each CPU's own facts: every CPU is in the kernel at the snapshot (the VMM's at the
      // SYSCALL entry, the others idle or in kernel threads), TR holding its TSS: its
      // cpu_entry_area's view of its per-cpu cpu_tss_rw (arch/x86/mm/cpu_entry_area.c maps
      // that page there), so both addresses lead to the same physical page
      const tssVar = table.require('cpu_tss_rw');
      this.facts.cpus = m.cpus.map((x, k) => {
        const pc = percpuOf(k);
        const t = x.segBase[S.TR];
        const tp = translateLinear(mem, cr3, t);
        const want = translateLinear(mem, cr3, pc + tssVar);
        if (tp === null || tp !== want) throw new Error(`${what}: CPU ${k}'s TR base (0x${BigInt.asUintN(64, BigInt(t)).toString(16)}) does not map its cpu_tss_rw (0x${BigInt.asUintN(64, BigInt(pc + tssVar)).toString(16)})`);
        const f: CpuFacts = { percpu: pc, trSel: x.segSel[S.TR], trBase: t, trLimit: x.segLimit[S.TR], stacks: stacksOf(k, pc, t) };
        if (x.vmHsavePa !== 0) f.hsave = x.vmHsavePa;
        return f;
      });
    }
    this.describe = new LinuxDescriber(mem, cr3, syms);
    const checker = new Checker(this.facts, mem);
    this.checker = checker;
    checker.attach(m.cpus);
    out.length = 0;
    this.snap = takeSnapshot(m);
    if (multi) {
      const tops = topVar === undefined ? [] : this.facts.cpus!.map((f) => translateLinear(mem, cr3, f.percpu + topVar) ?? -1);
      const r = recordSmp({ m, checker, facts: this.facts, out, entry, runs: this.runs, vmmCpu, topPa: tops, crashLine: (t) => this.crashLine(t), maxPath: MAX_PATH });
      this.path = r.path;
      // the task stacks seen on any CPU: a thread (the VMM's) moves between CPUs
      const seen = [...r.taskTops].sort((a, b) => a - b).map((t) => ({ name: `task stack 0x${BigInt.asUintN(64, BigInt(t)).toString(16)}`, lo: t - THREAD_SIZE, hi: t }));
      for (const f of this.facts.cpus!) for (const s of seen) if (!f.stacks.some((x) => x.lo === s.lo && x.hi === s.hi)) f.stacks.push(s);
      if ((spec.migrate ?? 0) > 0 && this.runs > 1 && this.path.complete && (this.path.migrations ?? 0) === 0) {
        throw new Error(`${what}: no vcpu migration in the ${this.runs} KVM_RUNs recorded (migrate=${spec.migrate}: raise --runs or lower --migrate)`);
      }
    } else {
      this.path = this.record();
    }
    const vmcb = m.cpus.find((x) => x.svm.vmcb !== 0)?.svm.vmcb ?? 0;
    restoreSnapshot(m, this.snap);
    this.facts.vmcb = vmcb;
    if (vmcb !== 0) {
      this.facts.guestPages = guestRamPages(mem, read64(mem, vmcb + V.N_CR3));
      readVmcbSet(mem, vmcb, checker.baseline);
    }
    this.replayBudget = (this.path.gIcount ?? this.path.icount)[this.path.n - 1] * 4 + 2_000_000;
    this.functions = this.placeBreakpoints();
  }

  private console(): string {
    if (this.out.length > 0) { this.text += latin1(this.out); this.out.length = 0; }
    return this.text;
  }

  private tail(): string {
    return this.console().trim().split('\n').slice(-4).join(' | ');
  }

  crashLine(text: string): string | undefined {
    return text.split('\n').find((l) => CRASH.test(l))?.trim();
  }

  /** kernel text (not .entry.text) and module functions */
  private cFunctions(): number[] {
    const t = this.syms.table;
    const text0 = t.require('_stext');
    const text1 = t.require('_etext');
    const entry0 = t.require('__entry_text_start');
    const entry1 = t.require('__entry_text_end');
    // the retpoline and return thunks (arch/x86/lib/retpoline.S) are assembly too, called from
    // the exit path's assembly before the host state is back (UNTRAIN_RET)
    const thunk0 = t.get('__indirect_thunk_start') ?? 0;
    const thunk1 = t.get('__indirect_thunk_end') ?? 0;
    const out: number[] = [];
    for (const s of t.all()) {
      if (!s.func) continue;
      const kernel = s.addr >= text0 && s.addr < text1 && !(s.addr >= entry0 && s.addr < entry1) && !(s.addr >= thunk0 && s.addr < thunk1);
      const module = s.addr >= MODULES_LO && s.addr < MODULES_HI && this.syms.moduleOf(s.name) !== undefined;
      if (kernel || module) out.push(s.addr);
    }
    return out;
  }

  /** step from the snapshot to the VMM's first instruction after the last KVM_RUN */
  private record(): Path {
    const { m, checker, facts } = this;
    const c = m.cpu;
    c.setBreakpoints(new Set());
    const base = c.icount;
    const path = new PathBuilder();
    let complete = false;
    let stop = '';
    let returns = 0;
    let running = true;
    const push = (lin: number, inside: boolean) => path.add(c.icount - base, checker.exitCount, lin, c.bits, modeOf(c), inside ? 1 : 0);
    for (;;) {
      const lin = c.ripLinear();
      if (!running && lin === this.entry && c.cpl === 0 && !c.guestMode && c.rl[0] === SYS_IOCTL && c.rl[6] === KVM_RUN && c.rh[6] === 0) {
        const b = new Uint32Array(SET_WORDS);
        readCpuSet(c, b);
        facts.befores.push(b);
        running = true;
      }
      if (c.cpl === 3 && !c.guestMode && lin === facts.userReturn && running) {
        running = false;
        if (++returns === this.runs) { push(lin, false); complete = true; break; }
      }
      push(lin, running);
      if (path.length > MAX_PATH) { stop = `no return to ring 3 within ${MAX_PATH} instructions`; break; }
      if ((path.length & 4095) === 0 && this.out.length > 0) {
        const crash = this.crashLine(latin1(this.out));
        if (crash !== undefined) { stop = crash; break; }
      }
      checker.stopAtExit = checker.exitCount + 1;
      const r = m.run(1);
      if (r.reason !== Stop.Budget && r.reason !== Stop.Exception) {
        stop = `${Stop[r.reason]} at 0x${r.rip.toString(16)}`;
        push(c.ripLinear(), running);
        break;
      }
    }
    checker.stopAtExit = -1;
    return path.build(complete, stop);
  }

  /** every function entry, the handlers, each VMRUN of the path, and the VMM's return point */
  private placeBreakpoints(): number {
    const { path, checker, facts } = this;
    const roles = checker.roles;
    const add = (a: number, r: number) => roles.set(a, (roles.get(a) ?? 0) | r);
    const funcs = this.cFunctions();
    for (const a of funcs) add(a, Bp.CEntry);
    for (const h of facts.handlers) add(h, Bp.Handler);
    // consecutive boundaries of the same CPU
    const prev = new Int32Array(this.m.cpus.length).fill(-1);
    for (let j = 0; j < path.n; j++) {
      const cpu = path.cpu?.[j] ?? 0;
      const k = prev[cpu];
      prev[cpu] = j;
      if (k < 0) continue;
      if ((path.mode[k] & Mode.Guest) === 0 && (path.mode[j] & Mode.Guest) !== 0) add(path.rip[k], Bp.Vmrun);
    }
    add(facts.userReturn, Bp.UserReturn);
    for (const x of this.m.cpus) x.setBreakpoints(new Set(roles.keys()), (cpu, lin) => checker.onBreakpoint(cpu, lin));
    return funcs.length;
  }
}

