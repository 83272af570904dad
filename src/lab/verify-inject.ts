/**
 * Injection: for one design and workload, replay the recorded KVM_RUN from its snapshot once
 * per instruction boundary and event kind, raising an NMI, a maskable interrupt, or both at
 * that boundary. The event is only made pending (CPU NMI line, LAPIC IRR); the CPU delivers it
 * when the architecture lets it: GIF = 0 holds both (APM Vol. 2 15.17), RFLAGS.IF and the
 * interrupt shadow hold the interrupt, an NMI is blocked until the IRET of the previous one
 * (8.2.3), and in the guest they are #VMEXITs (NMI and INTR intercepts, 15.13). So an event
 * raised while GIF = 0 arrives at STGI, as on hardware.
 *
 * The uninjected reference run comes first: its violations are the design's own (a mutant
 * that is wrong with no event at all), and its final guest state is what the replays compare
 * with. A replay reports only violations the reference does not have. The first violating
 * boundary of each event kind is replayed once more instruction by instruction, for a trace.
 */

import { Stop } from '../cpu/state.js';
import type { Machine } from '../machine/machine.js';
import { restoreSnapshot, type Snapshot } from './snapshot.js';
import type { SymbolTable } from './symbols.js';
import { INTR_VECTOR, type Checker, type EventKind, type Inv, type TraceEntry, type Violation } from './verify-invariants.js';
import { latin1, Unit, type UnitSpec } from './verify-record.js';
import { Mode, type Path } from './verify-path.js';
import { findMutant } from './verify-mutants.js';

/**
 * What replays need from a recorded unit: the mini host's (verify-record.ts) or the real
 * Linux host's (lverify-record.ts).
 */
export interface ReplayUnit {
  readonly m: Machine;
  readonly snap: Snapshot;
  readonly path: Path;
  readonly checker: Checker;
  /** the host's console output since the last restore */
  readonly out: number[];
  readonly spec: { design: string; workload: string };
  readonly describe: { where(rip: number, guest: boolean): string; insnAt(rip: number, bits: number): string };
  readonly runs: number;
  /** the vector the `intr` kind raises (default INTR_VECTOR) */
  readonly intrVector?: number;
  /** instructions a replay may run (default: four times the window and 100,000) */
  readonly replayBudget?: number;
  /** the console line that says the host crashed, if any (default: a line starting PANIC:) */
  crashLine?(text: string): string | undefined;
  /** CPU k ends the window where an interrupt waits past it (an idle loop with IF = 0) */
  heldAtEnd?(k: number): boolean;
  /**
   * the replay budget counts the whole machine's instructions (default: CPU 0's); for a host
   * whose CPU 0 may idle in HLT while the window runs on another CPU (Linux with migrate=N)
   */
  readonly machineBudget?: boolean;
}

export interface ViolationOut {
  invariant: Inv;
  /** where the check was made */
  check: string;
  what: string;
  got: string;
  want: string;
  /** the instruction about to run (or interrupted) when it was seen */
  at: string;
  insn: string;
  /** the last instructions before it, oldest first (trace replays only) */
  trace?: string[];
  /** the CPU it was seen on (machines with more than one CPU running host code) */
  cpu?: number;
}

export interface FirstViolation {
  boundary: number;
  /** the CPU the boundary belongs to and the event was raised on (more than one CPU) */
  cpu?: number;
  /** the instruction at the boundary (the event was raised before it) */
  at: string;
  insn: string;
  /** host/guest, GIF, IF there */
  state: string;
  violations: ViolationOut[];
}

export interface KindResult {
  kind: EventKind;
  /** boundaries tried */
  tried: number;
  /** boundaries where the event led to at least one violation */
  violating: number;
  /** violations, summed over boundaries */
  violations: number;
  /** boundaries where a raised event never reached the host (a verifier problem) */
  undelivered: number;
  /**
   * boundaries (vcpu hand-over, old CPU) where the interrupt was raised after the CPU's CLI
   * before its idle loop: it waits there past the end of the window, as on hardware
   */
  heldIdle?: number;
  /** invariant -> boundaries where it failed */
  byInvariant: Record<string, number>;
  /** each distinct failed check (invariant, where, what): how many boundaries, the first one */
  distinct: { invariant: Inv; check: string; what: string; boundaries: number; first: number }[];
  first?: FirstViolation;
}

export interface UnitResult {
  design: string;
  mutant: boolean;
  workload: string;
  fsgsbase: boolean;
  /** instruction boundaries in the window, and instructions from KVM_RUN entry to the return */
  boundaries: number;
  instructions: number;
  /** KVM_RUNs in the window */
  runs: number;
  /**
   * boundaries of the window not tried: in the VMM between KVM_RUNs (ring 3 and its other
   * system calls, outside the world switch), and those a stride skipped
   */
  untried: { outsideRun: number; stride: number };
  /** the uninjected run returned to ring 3 */
  complete: boolean;
  /** violations without any event */
  reference: ViolationOut[];
  kinds: KindResult[];
  replays: number;
  ms: number;
  /** the unit could not be verified (it did not reach KVM_RUN, a replay diverged, ...) */
  error?: string;
  /**
   * with more than one CPU: per CPU, its boundaries in the window, those inside a KVM_RUN and
   * inside a vcpu hand-over (the ones tried, less a stride's), the replays raising events
   * there, its instructions and #VMEXITs in the window; and the vcpu migrations the window holds
   */
  perCpu?: CpuFigures[];
  migrations?: number;
}

export interface CpuFigures {
  cpu: number;
  /** boundaries in the window, inside KVM_RUNs, inside a vcpu hand-over (both tried) */
  boundaries: number; inRun: number; handover: number;
  /** replays raising events at its boundaries */
  tried: number;
  instructions: number; exits: number;
}

export interface RunOptions {
  /** try every stride-th boundary (1: all) */
  stride?: number;
  /** progress: replays done of total */
  onProgress?: (done: number, total: number) => void;
}

/** instructions per slice of a replay's run to its end when a crash can end it early */
const CRASH_SLICE = 100_000;

function keyOf(v: Violation): string {
  return `${v.inv}|${v.check}|${v.what}|${v.got}|${v.rip}`;
}

function describeMode(mode: number): string {
  const where = (mode & Mode.Guest) !== 0 ? 'guest' : (mode & Mode.User) !== 0 ? 'host ring 3' : 'host ring 0';
  return `${where}, GIF=${(mode & Mode.Gif) !== 0 ? 1 : 0}, IF=${(mode & Mode.If) !== 0 ? 1 : 0}`;
}

/** A unit's replays. */
export class Injector {
  readonly unit: ReplayUnit;
  /** replay budget: far more than the recorded window */
  private readonly budget: number;
  private readonly refKeys = new Set<string>();

  /** a recorded unit, or the mini host's image, symbols and spec (recorded here) */
  constructor(unit: ReplayUnit | Uint8Array, syms?: SymbolTable, spec?: UnitSpec) {
    if (unit instanceof Uint8Array) {
      if (syms === undefined || spec === undefined) throw new Error('Injector: an image needs its symbols and a spec');
      this.unit = new Unit(unit, syms, spec);
    } else {
      this.unit = unit;
    }
    const u = this.unit;
    u.checker.snapshotPage = (p) => u.snap.pages.get(p);
    const g = u.path.gIcount ?? u.path.icount;
    this.budget = u.replayBudget ?? g[u.path.n - 1] * 4 + 100_000;
    this.base = new Float64Array(u.m.cpus.length);
  }

  /** every CPU's instruction count at the snapshot */
  private readonly base: Float64Array;

  private restore(): void {
    const u = this.unit;
    restoreSnapshot(u.m, u.snap);
    u.out.length = 0;
    u.checker.reset();
    for (let k = 0; k < u.m.cpus.length; k++) this.base[k] = u.m.cpus[k].icount;
  }

  /**
   * Run to boundary b of the recorded path (from a fresh restore): the machine's instructions
   * and #VMEXITs up to it, then a check that the boundary's CPU is where it was recorded.
   */
  private reach(b: number): void {
    const { m, path, checker } = this.unit;
    const k = path.cpu?.[b] ?? 0;
    const c = m.cpus[k];
    const want = (path.gIcount ?? path.icount)[b];
    const wantExits = (path.gExits ?? path.exits)[b];
    if (want > 0) m.run(want);
    if (checker.exitCount < wantExits) {
      checker.stopAtExit = wantExits;
      m.run(1);
      checker.stopAtExit = -1;
    }
    if (c.icount - this.base[k] !== path.icount[b] || checker.cpuExits[k] !== path.exits[b] || c.ripLinear() !== path.rip[b]) {
      throw new Error(`replay diverged from the recording at boundary ${b}${path.cpu !== undefined ? ` (CPU ${k})` : ''} (${this.unit.spec.design}/${this.unit.spec.workload})`);
    }
  }

  /** the event, made pending on CPU k (its NMI line, its local APIC) */
  private raise(kind: EventKind, k: number): void {
    const m = this.unit.m;
    if (kind !== 'intr') m.cpus[k].raiseNmi();
    if (kind !== 'nmi') m.lapics[k].accept(this.unit.intrVector ?? INTR_VECTOR, false);
  }

  /** run to the end of the window; a run that does not get there is a violation */
  private finish(trace: boolean): void {
    const { m, checker } = this.unit;
    const c = m.cpu;
    let stop = Stop.Budget;
    const crashed = this.unit.crashLine;
    if (!trace && crashed === undefined) {
      stop = m.run(this.budget).reason;
    } else if (!trace && crashed !== undefined) {
      // in slices, so that a host that has crashed (a panic loops until the budget) ends early
      const count = this.unit.machineBudget === true ? () => m.icount() : () => c.icount;
      const end = count() + this.budget;
      let seen = 0;
      while (!checker.ended && count() < end) {
        stop = m.run(Math.min(CRASH_SLICE, end - count())).reason;
        if (stop !== Stop.Budget) break;
        const out = this.unit.out;
        if (out.length !== seen) {
          seen = out.length;
          if (crashed.call(this.unit, latin1(out)) !== undefined) break;
        }
      }
    } else {
      const t = checker.trace!;
      const multi = m.cpus.length > 1;
      for (let n = 0; n < this.budget && !checker.ended; n++) {
        // (the checker drops it again if an event is taken before it); with more CPUs, the one
        // whose turn it is runs next
        const x = multi ? m.cpus[m.smp.turn] : c;
        t.push({ rip: x.ripLinear(), bits: x.bits, guest: x.guestMode, cpu: multi ? x.apicId : undefined });
        stop = m.run(1).reason;
        if (stop !== Stop.Budget) break;
        if ((n & 8191) === 8191 && this.unit.crashLine?.(latin1(this.unit.out)) !== undefined) break;
      }
    }
    if (checker.ended) return;
    const text = latin1(this.unit.out);
    const panic = this.unit.crashLine !== undefined ? this.unit.crashLine(text) : text.split('\n').find((l) => l.startsWith('PANIC:'));
    const why = panic !== undefined ? panic.trim()
      : stop === Stop.Shutdown ? `shutdown (${c.shutdown.reason || 'triple fault'})`
        : stop === Stop.Budget ? `no return to ring 3 within ${this.budget} instructions`
          : `machine stopped: ${Stop[stop]}${m.exitStatus !== null ? ` (debug exit ${m.exitStatus})` : ''}`;
    checker.fail(c, 'no-crash', 'end of the run', 'return to ring 3', why, 'SYSRET to the VMM');
  }

  /** The uninjected run: the design's own violations and the final guest state. */
  reference(trace: boolean): Violation[] {
    const { checker } = this.unit;
    this.restore();
    if (!trace) {
      checker.reference = null;
      checker.captured = null;
    }
    checker.armed = true;
    if (trace) checker.trace = [];
    this.finish(trace);
    const v = checker.violations.slice();
    if (!trace) {
      checker.reference = checker.captured;
      for (const x of v) this.refKeys.add(keyOf(x));
    }
    return v;
  }

  /**
   * Replay with `kind` raised at boundary b; returns the violations the reference run does not
   * have, and whether the events reached the host.
   */
  replay(b: number, kind: EventKind, trace: boolean): { violations: Violation[]; delivered: boolean; held?: boolean } {
    const { checker, path } = this.unit;
    this.restore();
    this.reach(b);
    checker.armed = true;
    const cpu = path.cpu?.[b];
    if (trace) {
      // the boundary's CPU's last 16 instructions before it
      const t: TraceEntry[] = [];
      const before: number[] = [];
      for (let k = b - 1; k >= 0 && before.length < 16; k--) if ((path.cpu?.[k]) === cpu) before.push(k);
      for (const k of before.reverse()) t.push({ rip: path.rip[k], bits: path.bits[k], guest: (path.mode[k] & Mode.Guest) !== 0, cpu });
      t.push({ rip: path.rip[b], bits: path.bits[b], guest: (path.mode[b] & Mode.Guest) !== 0, cpu, note: `${kind === 'both' ? 'NMI and interrupt' : kind === 'nmi' ? 'NMI' : 'interrupt'} raised${cpu !== undefined ? ` on CPU ${cpu}` : ''}` });
      checker.trace = t;
    }
    this.raise(kind, cpu ?? 0);
    this.finish(trace);
    const want = kind === 'nmi' ? 1 : kind === 'intr' ? 2 : 3;
    const delivered = (checker.delivered & want) === want;
    const out: { violations: Violation[]; delivered: boolean; held?: boolean } = {
      violations: checker.violations.filter((v) => !this.refKeys.has(keyOf(v))),
      delivered,
    };
    // only the interrupt can wait: an NMI is never held by IF
    if (!delivered && (checker.delivered & 1) === (want & 1) && path.cpu !== undefined && this.unit.heldAtEnd?.(path.cpu[b]) === true) out.held = true;
    return out;
  }

  format(v: Violation): ViolationOut {
    const d = this.unit.describe;
    const out: ViolationOut = {
      invariant: v.inv, check: v.check, what: v.what, got: v.got, want: v.want,
      at: d.where(v.rip, v.guest), insn: d.insnAt(v.rip, v.bits),
    };
    if (v.cpu !== undefined) out.cpu = v.cpu;
    if (v.trace !== undefined) {
      out.trace = v.trace.map((e) => `${e.cpu !== undefined ? `[CPU ${e.cpu}] ` : ''}${e.note !== undefined ? `-- ${e.note}` : `${d.where(e.rip, e.guest)}: ${d.insnAt(e.rip, e.bits)}`}`);
    }
    return out;
  }
}

/** Verify one design (or mutant) on one workload with the given event kinds. */
export function runUnit(image: Uint8Array, syms: SymbolTable, spec: UnitSpec, kinds: readonly EventKind[], o: RunOptions = {}): UnitResult {
  const t0 = performance.now();
  const inj = new Injector(new Unit(image, syms, spec));
  return replayUnit(inj, { ...spec, mutant: findMutant(spec.design) !== undefined }, kinds, o, t0);
}

/** Replay a recorded unit at its boundaries (every stride-th) with each event kind. */
export function replayUnit(inj: Injector, spec: { design: string; workload: string; fsgsbase: boolean; mutant: boolean }, kinds: readonly EventKind[], o: RunOptions = {}, t0 = performance.now()): UnitResult {
  const u = inj.unit;
  const path = u.path;
  const stride = Math.max(1, o.stride ?? 1);
  // every boundary inside a KVM_RUN system call (entry to SYSRET, the guest included); with a
  // stride, every stride-th of those and the last
  const inside: number[] = [];
  for (let b = 0; b < path.n; b++) if (path.inRun[b] !== 0) inside.push(b);
  const boundaries: number[] = [];
  for (let k = 0; k < inside.length; k += stride) boundaries.push(inside[k]);
  if (inside.length > 0 && boundaries[boundaries.length - 1] !== inside[inside.length - 1]) boundaries.push(inside[inside.length - 1]);
  const total = boundaries.length * kinds.length;
  let done = 0;
  let perCpu: CpuFigures[] | undefined;
  if (path.cpu !== undefined) {
    perCpu = u.m.cpus.map((_, cpu) => ({ cpu, boundaries: 0, inRun: 0, handover: 0, tried: 0, instructions: 0, exits: 0 }));
    for (let b = 0; b < path.n; b++) {
      const f = perCpu[path.cpu[b]];
      f.boundaries++;
      if (path.inRun[b] === 1) f.inRun++;
      else if (path.inRun[b] === 2) f.handover++;
      f.instructions = path.icount[b];
      f.exits = path.exits[b];
    }
    for (const b of boundaries) perCpu[path.cpu[b]].tried += kinds.length;
  }

  const ref = inj.reference(false);
  // the reference's violations again, with traces
  const reference = ref.length === 0 ? [] : inj.reference(true).map((v) => inj.format(v));

  const results: KindResult[] = [];
  for (const kind of kinds) {
    const r: KindResult = { kind, tried: 0, violating: 0, violations: 0, undelivered: 0, byInvariant: {}, distinct: [] };
    const distinct = new Map<string, { invariant: Inv; check: string; what: string; boundaries: number; first: number }>();
    let first = -1;
    for (const b of boundaries) {
      const { violations, delivered, held } = inj.replay(b, kind, false);
      r.tried++;
      if (violations.length > 0) {
        r.violating++;
        r.violations += violations.length;
        if (first < 0) first = b;
        const invs = new Set<Inv>();
        const seen = new Set<string>();
        for (const v of violations) {
          invs.add(v.inv);
          const k = `${v.inv}|${v.check}|${v.what}`;
          if (seen.has(k)) continue;
          seen.add(k);
          const d = distinct.get(k);
          if (d === undefined) distinct.set(k, { invariant: v.inv, check: v.check, what: v.what, boundaries: 1, first: b });
          else d.boundaries++;
        }
        for (const i of invs) r.byInvariant[i] = (r.byInvariant[i] ?? 0) + 1;
      } else if (!delivered) {
        if (held === true) r.heldIdle = (r.heldIdle ?? 0) + 1;
        else r.undelivered++;
      }
      if (++done % 64 === 0) o.onProgress?.(done, total);
    }
    r.distinct = [...distinct.values()];
    if (first >= 0) {
      const { violations } = inj.replay(first, kind, true);
      r.first = {
        boundary: first,
        ...(path.cpu !== undefined ? { cpu: path.cpu[first] } : {}),
        at: u.describe.where(path.rip[first], (path.mode[first] & Mode.Guest) !== 0),
        insn: u.describe.insnAt(path.rip[first], path.bits[first]),
        state: `${path.cpu !== undefined ? `CPU ${path.cpu[first]}, ` : ''}${describeMode(path.mode[first])}`,
        violations: violations.map((v) => inj.format(v)),
      };
    }
    results.push(r);
  }
  o.onProgress?.(total, total);
  return {
    design: spec.design,
    mutant: spec.mutant,
    workload: spec.workload,
    fsgsbase: spec.fsgsbase,
    boundaries: path.n,
    instructions: (path.gIcount ?? path.icount)[path.n - 1],
    runs: u.runs,
    untried: { outsideRun: path.n - inside.length, stride: inside.length - boundaries.length },
    complete: path.complete,
    reference,
    kinds: results,
    replays: done + (ref.length === 0 ? 1 : 2),
    ms: Math.round(performance.now() - t0),
    ...(perCpu !== undefined ? { perCpu, migrations: path.migrations ?? 0 } : {}),
  };
}
