/**
 * The real host's recording with more than one CPU (`verify --host linux --cpus N --migrate
 * M`): from the snapshot at the SYSCALL entry of the window's first KVM_RUN ioctl, step the
 * whole machine one instruction (or #VMEXIT) at a time, in its own deterministic interleaving
 * (docs/smp.md), until the VMM's thread is back in ring 3 after the window's last KVM_RUN.
 * The VMM moves its thread to the next CPU every M KVM_RUNs (sched_setaffinity), so the ioctls
 * are followed onto whichever CPU makes them: a KVM_RUN begins where a CPU is at
 * entry_SYSCALL_64 with RAX = ioctl and RSI = KVM_RUN, and ends where that CPU reaches the
 * VMM's return point in ring 3.
 *
 * As in verify-record.ts, each boundary belongs to the CPU that runs next: its own
 * instructions and #VMEXITs since the snapshot say where on that CPU it is (what a replay
 * checks), the machine's say how to get there again (what a replay runs). Boundaries inside a
 * KVM_RUN ioctl (entry to the return to ring 3, the guest included) are the ones tried; the
 * other CPU's work meanwhile (idle, timer interrupts, the kernel threads that move the VMM's
 * thread) and the VMM between the ioctls are recorded but not tried.
 *
 * The task stacks: at every step, each CPU's per-cpu cpu_current_top_of_stack (read at its
 * physical address, found once) is noted; the set of tops is the kernel's own list of the
 * tasks that ran in the window.
 */

import type { Machine } from '../machine/machine.js';
import type { Cpu } from '../cpu/cpu.js';
import { Fl, Stop, TWO32 } from '../cpu/state.js';
import { readCpuSet, SET_WORDS, type Checker, type HostFacts } from './verify-invariants.js';
import { latin1, Mode, type Path } from './verify-record.js';

/** the ioctl system call and the KVM_RUN request (_IO(KVMIO, 0x80)) */
const SYS_IOCTL = 16;
const KVM_RUN = 0xae80;

/** consecutive steps in which no CPU ran before the recording gives up */
const MAX_IDLE_STEPS = 10_000;

function modeOf(c: Cpu): number {
  return (c.guestMode ? Mode.Guest : 0) | (c.svm.gif ? Mode.Gif : 0) | ((c.flags & Fl.IF) !== 0 ? Mode.If : 0) | (c.cpl === 3 ? Mode.User : 0);
}

export interface SmpRecordInput {
  m: Machine;
  checker: Checker;
  facts: HostFacts;
  /** the console bytes since the snapshot */
  out: number[];
  /** entry_SYSCALL_64 */
  entry: number;
  runs: number;
  /** the CPU at the first KVM_RUN's SYSCALL entry */
  vmmCpu: number;
  /** per CPU: the physical address of its cpu_current_top_of_stack (-1: unknown) */
  topPa: number[];
  crashLine(text: string): string | undefined;
  maxPath: number;
}

/** is CPU x at the SYSCALL entry of a KVM_RUN ioctl */
function atKvmRun(x: Cpu, lin: number, entry: number): boolean {
  return lin === entry && x.cpl === 0 && !x.guestMode && x.rl[0] === SYS_IOCTL && x.rh[0] === 0 && x.rl[6] === KVM_RUN && x.rh[6] === 0;
}

export function recordSmp(o: SmpRecordInput): { path: Path; taskTops: Set<number> } {
  const { m, checker, facts } = o;
  const cpus = m.cpus;
  const n = cpus.length;
  const mem = m.mem;
  for (const x of cpus) x.setBreakpoints(new Set());
  const used = () => { let u = 0; for (const x of cpus) u += x.icount + x.stormCount; return u; };
  const gBase = used();
  const base = cpus.map((x) => x.icount);
  const icount: number[] = [];
  const exits: number[] = [];
  const rip: number[] = [];
  const bits: number[] = [];
  const mode: number[] = [];
  const inRun: number[] = [];
  const cpuOf: number[] = [];
  const gIcount: number[] = [];
  const gExits: number[] = [];
  const taskTops = new Set<number>();
  const lastTop = new Float64Array(n).fill(-1);
  const noteTop = (k: number) => {
    const pa = o.topPa[k] ?? -1;
    if (pa < 0) return;
    const t = (mem.read32(pa + 4) | 0) * TWO32 + (mem.read32(pa) >>> 0);
    if (t !== lastTop[k]) { lastTop[k] = t; taskTops.add(t); }
  };
  // each CPU's boundary before the step
  const pre = { icount: new Float64Array(n), exits: new Int32Array(n), rip: new Float64Array(n), bits: new Uint8Array(n), mode: new Uint8Array(n), inRun: new Uint8Array(n), moved: new Float64Array(n) };
  const push = (k: number, g: number, ge: number) => {
    icount.push(pre.icount[k]); exits.push(pre.exits[k]); rip.push(pre.rip[k]); bits.push(pre.bits[k]);
    mode.push(pre.mode[k]); inRun.push(pre.inRun[k]); cpuOf.push(k); gIcount.push(g); gExits.push(ge);
  };
  const note = (k: number, running: boolean) => {
    const x = cpus[k];
    pre.icount[k] = x.icount - base[k];
    pre.exits[k] = checker.cpuExits[k];
    pre.rip[k] = x.ripLinear();
    pre.bits[k] = x.bits;
    pre.mode[k] = modeOf(x);
    pre.inRun[k] = running ? 1 : 0;
    pre.moved[k] = x.icount + x.stormCount;
  };
  let complete = false;
  let stop = '';
  let returns = 0;
  // the CPU inside a KVM_RUN ioctl of the window (the first one from the snapshot on), -1: none
  let runningOn = o.vmmCpu;
  let lastRunCpu = o.vmmCpu;
  let migrations = 0;
  let first = true;
  let idleSteps = 0;
  for (;;) {
    let ended = false;
    for (let k = 0; k < n && !ended; k++) {
      const x = cpus[k];
      const lin = x.ripLinear();
      noteTop(k);
      if (runningOn < 0 && atKvmRun(x, lin, o.entry)) {
        // the next KVM_RUN: the VMM's state as it enters is what its return must give back
        const b = new Uint32Array(SET_WORDS);
        readCpuSet(x, b);
        facts.befores.push(b);
        runningOn = k;
        if (k !== lastRunCpu) migrations++;
        lastRunCpu = k;
      }
      if (!first && x.cpl === 3 && !x.guestMode && lin === facts.userReturn && runningOn === k) {
        runningOn = -1;
        if (++returns === o.runs) {
          note(k, false);
          push(k, used() - gBase, checker.exitCount);
          complete = true;
          ended = true;
        }
      }
      if (!ended) note(k, runningOn === k);
    }
    first = false;
    if (ended) break;
    if (icount.length > o.maxPath) { stop = `no return to ring 3 within ${o.maxPath} boundaries`; break; }
    if ((icount.length & 4095) === 0 && o.out.length > 0) {
      const crash = o.crashLine(latin1(o.out));
      if (crash !== undefined) { stop = crash; break; }
    }
    const g = used() - gBase;
    const ge = checker.exitCount;
    checker.stopAtExit = checker.exitCount + 1;
    const r = m.run(1);
    // the CPU that moved: retired an instruction (or a delivery storm), or took a #VMEXIT
    let k = -1;
    for (let j = 0; j < n && k < 0; j++) if (cpus[j].icount + cpus[j].stormCount !== pre.moved[j] || checker.cpuExits[j] !== pre.exits[j]) k = j;
    if (k >= 0) { push(k, g, ge); idleSteps = 0; }
    if (r.reason !== Stop.Budget && r.reason !== Stop.Exception) {
      stop = `${Stop[r.reason]} at 0x${r.rip.toString(16)}`;
      const j = k >= 0 ? k : 0;
      note(j, runningOn === j);
      push(j, used() - gBase, checker.exitCount);
      break;
    }
    // every CPU halted: the machine's time moved on to the next event; a few such steps are
    // normal between the VMM's leaving one CPU and its arriving on the next
    if (k < 0 && ++idleSteps > MAX_IDLE_STEPS) { stop = 'no CPU ran'; break; }
  }
  checker.stopAtExit = -1;
  const path: Path = {
    n: icount.length,
    icount: Float64Array.from(icount),
    exits: Int32Array.from(exits),
    rip: Float64Array.from(rip),
    bits: Uint8Array.from(bits),
    mode: Uint8Array.from(mode),
    inRun: Uint8Array.from(inRun),
    complete,
    stop,
    cpu: Uint8Array.from(cpuOf),
    gIcount: Float64Array.from(gIcount),
    gExits: Int32Array.from(gExits),
    migrations,
  };
  return { path, taskTops };
}
