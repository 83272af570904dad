/**
 * The world-switch stepper (the browser lab's third view): one KVM_RUN of a design as a
 * timeline, from the KVM_RUN system call's entry to the VMM's first instruction after SYSRET,
 * with, at every instruction boundary, the instruction about to run (disassembly and symbol),
 * its cycle cost under a cost profile, and the host state a world switch moves: GIF, IF, GS
 * base, KERNEL_GS_BASE, FS base, TR, LDTR and the SYSCALL MSRs, each labelled with whose value
 * it holds (the kernel's per-cpu base, the VMM's value from before KVM_RUN, the guest's).
 *
 * It is the verifier's unit (verify-record.ts) with one KVM_RUN: the same snapshot and
 * recorded path, so an event placed on a boundary is the verifier's replay (verify-inject.ts)
 * with the same invariants, and the outcome says where the event was delivered.
 */

import type { CostProfile } from '../cost/profile.js';
import { Ev } from '../cpu/interrupts.js';
import { Fl, Stop, TWO32 } from '../cpu/state.js';
import { restoreSnapshot } from './snapshot.js';
import type { SymbolTable } from './symbols.js';
import { Injector, type ViolationOut } from './verify-inject.js';
import { hex, readCpuSet, SET_ITEMS, SET_WORDS, type EventKind } from './verify-invariants.js';
import type { Unit } from './verify-record.js';
import { Mode } from './verify-path.js';

/** the columns of the timeline */
export const STEP_COLUMNS = ['GIF', 'IF', 'GS base', 'KERNEL_GS_BASE', 'FS base', 'TR', 'LDTR', 'STAR', 'LSTAR', 'CSTAR', 'SFMASK'] as const;

const IDX = (name: string) => SET_ITEMS.indexOf(name);
/** the state-vector item behind each column from 'GS base' on */
const ITEMS = [IDX('GS.base'), IDX('KERNEL_GS_BASE'), IDX('FS.base'), IDX('TR.sel'), IDX('LDTR.sel'), IDX('STAR'), IDX('LSTAR'), IDX('CSTAR'), IDX('SFMASK')];
const TR_BASE = IDX('TR.base');
const TR_SEL = IDX('TR.sel');
const GS_BASE = IDX('GS.base');
const KGS = IDX('KERNEL_GS_BASE');
const LDTR_SEL = IDX('LDTR.sel');

export interface StepRow {
  /** boundary number in the recorded path (what an event is placed on) */
  b: number;
  /** guest / host ring 0 / host ring 3 */
  mode: string;
  where: string;
  insn: string;
  /** cycles from this boundary to the next (the instruction, or the #VMEXIT) */
  cycles: number;
  /** one value per STEP_COLUMNS entry */
  values: string[];
  /** whose value it is: host, user, guest (joined with '=' when several hold it), or '' */
  owners: string[];
}

export interface Timeline {
  design: string;
  workload: string;
  profile: string;
  rows: StepRow[];
  /** cycles over the whole window */
  cycles: number;
  /** instructions from the KVM_RUN entry to the return */
  instructions: number;
  complete: boolean;
}

export interface Delivery {
  /** 'NMI' or 'interrupt 0x20' */
  what: string;
  /** the boundary where it was taken (index into the recorded path), -1 when off the path */
  b: number;
  where: string;
  insn: string;
  guest: boolean;
}

export interface InjectOutcome {
  b: number;
  kind: EventKind;
  /** where the event was raised: state there, and why it may wait */
  raisedAt: string;
  held: string;
  deliveries: Delivery[];
  /** the events reached the host */
  delivered: boolean;
  violations: ViolationOut[];
}

function modeName(mode: number): string {
  return (mode & Mode.Guest) !== 0 ? 'guest' : (mode & Mode.User) !== 0 ? 'host ring 3' : 'host ring 0';
}

function eq(w: Uint32Array, k: number, lo: number, hi: number): boolean {
  return w[2 * k] === lo && w[2 * k + 1] === hi;
}

/** A design's KVM_RUN, ready to be shown and to have events placed on it. */
export class Stepper {
  readonly inj: Injector;
  private readonly base: number;

  constructor(image: Uint8Array, syms: SymbolTable, readonly design: string, readonly workload: string, readonly fsgsbase = true) {
    this.inj = new Injector(image, syms, { design, workload, fsgsbase, runs: 1 });
    // the uninjected run first: replays report only what their event changed
    this.inj.reference(false);
    const u = this.inj.unit;
    restoreSnapshot(u.m, u.snap);
    this.base = u.m.cpu.icount;
  }

  /** Step the window once, noting the state at each boundary and each step's cycles under `profile`. */
  timeline(profile: CostProfile | null): Timeline {
    // the stepper records the mini host (verify-record's Unit: its facts and symbols)
    const u = this.inj.unit as Unit;
    const { m, checker, path, facts, describe } = u;
    const c = m.cpu;
    restoreSnapshot(m, u.snap);
    u.out.length = 0;
    checker.reset();
    c.setCostProfile(profile);
    const before = facts.befores[0];
    const cur = new Uint32Array(SET_WORDS);
    // the kernel's per-cpu base, as two words (above 2^53 a number loses its low bits)
    const pcAddr = u.syms.require('percpu_offset');
    const pcLo = m.mem.read32(pcAddr) >>> 0;
    const pcHi = m.mem.read32(pcAddr + 4) >>> 0;
    const rows: StepRow[] = [];
    let cycles = 0;
    try {
      for (let b = 0; b < path.n; b++) {
        if (c.ripLinear() !== path.rip[b] || c.icount - this.base !== path.icount[b]) break;
        readCpuSet(c, cur);
        const values: string[] = [c.svm.gif ? '1' : '0', (c.flags & Fl.IF) !== 0 ? '1' : '0'];
        const owners: string[] = ['', ''];
        for (let k = 0; k < ITEMS.length; k++) {
          const it = ITEMS[k];
          const lo = cur[2 * it];
          const hi = cur[2 * it + 1];
          values.push(hex(lo, hi));
          const who: string[] = [];
          if (it === TR_SEL) {
            // TR: the selector and the base together
            const bl = cur[2 * TR_BASE];
            const bh = cur[2 * TR_BASE + 1];
            if (lo === facts.trSel && bl === facts.trBase % TWO32 && bh === Math.floor(facts.trBase / TWO32)) who.push('host');
            for (const g of [checker.baseline, checker.lastExit]) if (eq(g, it, lo, hi) && eq(g, TR_BASE, bl, bh)) who.push('guest');
          } else {
            // the per-cpu base is the kernel's even where the VMM's KERNEL_GS_BASE parks it
            if (k <= 1 && lo === pcLo && hi === pcHi) who.push('host');
            // GS, KERNEL_GS_BASE, FS and LDTR before KVM_RUN are the VMM's; the MSRs the kernel's
            // SWAPGS moves values between GS base and KERNEL_GS_BASE: compare both with the VMM's GS base
            const mine = k <= 1 ? GS_BASE : it;
            if (eq(before, mine, lo, hi) && who.length === 0) who.push(k <= 2 || it === LDTR_SEL ? 'user' : 'host');
            for (const g of [checker.baseline, checker.lastExit]) {
              if (eq(g, it, lo, hi) || (k <= 1 && (eq(g, GS_BASE, lo, hi) || eq(g, KGS, lo, hi)))) who.push('guest');
            }
          }
          owners.push([...new Set(who)].join('='));
        }
        const c0 = c.cycles;
        const mode = path.mode[b];
        const row: StepRow = {
          b, mode: modeName(mode), where: describe.where(path.rip[b], (mode & Mode.Guest) !== 0), insn: describe.insnAt(path.rip[b], path.bits[b]),
          cycles: 0, values, owners,
        };
        rows.push(row);
        if (b + 1 >= path.n || checker.ended) break;
        checker.stopAtExit = checker.exitCount + 1;
        const r = m.run(1);
        checker.stopAtExit = -1;
        row.cycles = c.cycles - c0;
        cycles += row.cycles;
        if (r.reason !== Stop.Budget && r.reason !== Stop.Exception) break;
      }
    } finally {
      c.setCostProfile(null);
      checker.stopAtExit = -1;
    }
    // the window runs from the ioctl's entry to the VMM's next instruction: keep the run only
    const inRun = rows.filter((r) => path.inRun[r.b] !== 0 || r.b === path.n - 1);
    return {
      design: this.design, workload: this.workload, profile: profile?.name ?? 'one cycle per instruction', rows: inRun,
      cycles, instructions: path.icount[path.n - 1], complete: path.complete && rows.length === path.n,
    };
  }

  /** Raise an NMI, the interrupt or both at boundary b and replay to the end of the window. */
  inject(b: number, kind: EventKind): InjectOutcome {
    const u = this.inj.unit;
    const { m, path, describe } = u;
    const c = m.cpu;
    if (!Number.isInteger(b) || b < 0 || b >= path.n) throw new Error(`boundary ${b} is outside the window (0..${path.n - 1})`);
    const deliveries: Delivery[] = [];
    const prev = c.onDeliver;
    c.onDeliver = (cpu, vector, k) => {
      prev?.(cpu, vector, k);
      if (k !== Ev.Nmi && k !== Ev.Ext) return;
      const rel = cpu.icount - this.base;
      let at = -1;
      for (let j = 0; j < path.n; j++) if (path.icount[j] === rel && path.rip[j] === cpu.ripLinear()) { at = j; break; }
      deliveries.push({
        what: k === Ev.Nmi ? 'NMI' : `interrupt 0x${vector.toString(16)}`, b: at, guest: cpu.guestMode,
        where: describe.where(cpu.ripLinear(), cpu.guestMode), insn: describe.insnAt(cpu.ripLinear(), cpu.bits),
      });
    };
    let r: ReturnType<Injector['replay']>;
    try {
      r = this.inj.replay(b, kind, true);
    } finally {
      c.onDeliver = prev;
    }
    const mode = path.mode[b];
    const held: string[] = [];
    if ((mode & Mode.Guest) !== 0) held.push('the CPU is in the guest: the event is a #VMEXIT (NMI/INTR intercept) and reaches the host once GIF is set again (APM Vol. 2 15.13, 15.17)');
    else if ((mode & Mode.Gif) === 0) held.push('GIF = 0: NMIs and interrupts are held until STGI (APM Vol. 2 15.17)');
    if ((mode & Mode.Guest) === 0 && (mode & Mode.If) === 0 && kind !== 'nmi') held.push('RFLAGS.IF = 0: the interrupt waits for IF = 1');
    return {
      b, kind, raisedAt: `${modeName(mode)} before ${describe.where(path.rip[b], (mode & Mode.Guest) !== 0)} \`${describe.insnAt(path.rip[b], path.bits[b])}\``,
      held: held.join('; '), deliveries, delivered: r.delivered, violations: r.violations.map((v) => this.inj.format(v)),
    };
  }
}
