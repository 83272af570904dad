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
import { Stop, TWO32 } from '../cpu/state.js';
import { readCpuSet, SET_WORDS, type Checker, type HostFacts } from './verify-invariants.js';
import { latin1 } from './verify-record.js';
import { CpuBoundaries, PathBuilder, type Path } from './verify-path.js';

/** the ioctl system call and the KVM_RUN request (_IO(KVMIO, 0x80)) */
export const SYS_IOCTL = 16;
export const KVM_RUN = 0xae80;

/** consecutive steps in which no CPU ran before the recording gives up */
const MAX_IDLE_STEPS = 10_000;

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
  const path = new PathBuilder();
  const taskTops = new Set<number>();
  const lastTop = new Float64Array(n).fill(-1);
  const noteTop = (k: number) => {
    const pa = o.topPa[k] ?? -1;
    if (pa < 0) return;
    const t = (mem.read32(pa + 4) | 0) * TWO32 + (mem.read32(pa) >>> 0);
    if (t !== lastTop[k]) { lastTop[k] = t; taskTops.add(t); }
  };
  // each CPU's boundary before the step
  const pre = new CpuBoundaries(cpus, base, checker.cpuExits);
  const push = (k: number, g: number, ge: number) => path.addCpu(pre, k, g, ge);
  const note = (k: number, running: boolean) => pre.note(k, running ? 1 : 0);
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
    if (path.length > o.maxPath) { stop = `no return to ring 3 within ${o.maxPath} boundaries`; break; }
    if ((path.length & 4095) === 0 && o.out.length > 0) {
      const crash = o.crashLine(latin1(o.out));
      if (crash !== undefined) { stop = crash; break; }
    }
    const g = used() - gBase;
    const ge = checker.exitCount;
    checker.stopAtExit = checker.exitCount + 1;
    const r = m.run(1);
    // the CPU that moved: retired an instruction (or a delivery storm), or took a #VMEXIT
    const k = pre.moved();
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
  return { path: path.build(complete, stop, migrations), taskTops };
}
