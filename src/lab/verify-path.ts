/**
 * The recorded window of a verify unit: the boundaries, in the order the machine reaches them,
 * that replays run to and inject an event at. Every recorder (the mini host's, verify-record.ts;
 * the real host's on one CPU, lverify-record.ts, and on several, lverify-smp.ts) builds its
 * path with `PathBuilder`; recorders that step a machine of several CPUs note each CPU's
 * boundary before a step with `CpuBoundaries` and append the one of the CPU that moved.
 */

import type { Cpu } from '../cpu/cpu.js';
import { Fl } from '../cpu/state.js';

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
  /**
   * 1 where the boundary is inside one of the KVM_RUN system calls (entry to SYSRET); 2 (mini
   * host with migrate=N) inside a vcpu hand-over: on the old CPU from the SYS_MIGRATE entry to
   * its idle loop, on the new one from leaving the idle loop to the return to ring 3
   */
  inRun: Uint8Array;
  /** did the window end at the user instruction after the last SYSRET (else the machine stopped) */
  complete: boolean;
  /**
   * with more than one CPU: the CPU each boundary belongs to (the one that runs next; icount
   * and exits above are that CPU's), and instructions and #VMEXITs of the whole machine since
   * the snapshot, which a replay runs to get there (absent: CPU 0, the same counts)
   */
  cpu?: Uint8Array;
  gIcount?: Float64Array;
  gExits?: Int32Array;
  /** KVM_RUNs of the window that began on another CPU than the one before (vcpu migrations) */
  migrations?: number;
  /** why it stopped, when not complete */
  stop: string;
}

export const enum Mode { Guest = 1, Gif = 2, If = 4, User = 8 }

/** the Mode bits of a CPU at a boundary */
export function modeOf(c: Cpu): number {
  return (c.guestMode ? Mode.Guest : 0) | (c.svm.gif ? Mode.Gif : 0) | ((c.flags & Fl.IF) !== 0 ? Mode.If : 0) | (c.cpl === 3 ? Mode.User : 0);
}

/** A path as it is recorded: one `add` per boundary, then `build`. */
export class PathBuilder {
  private readonly icount: number[] = [];
  private readonly exits: number[] = [];
  private readonly rip: number[] = [];
  private readonly bits: number[] = [];
  private readonly mode: number[] = [];
  private readonly inRun: number[] = [];
  private readonly cpu: number[] = [];
  private readonly gIcount: number[] = [];
  private readonly gExits: number[] = [];

  get length(): number {
    return this.icount.length;
  }

  add(icount: number, exits: number, rip: number, bits: number, mode: number, inRun: number): void {
    this.icount.push(icount);
    this.exits.push(exits);
    this.rip.push(rip);
    this.bits.push(bits);
    this.mode.push(mode);
    this.inRun.push(inRun);
  }

  /** the boundary of CPU `k` noted in `pre`, reached after `g` instructions and `ge` #VMEXITs of the machine */
  addCpu(pre: CpuBoundaries, k: number, g: number, ge: number): void {
    this.add(pre.icount[k], pre.exits[k], pre.rip[k], pre.bits[k], pre.mode[k], pre.inRun[k]);
    this.cpu.push(k);
    this.gIcount.push(g);
    this.gExits.push(ge);
  }

  /** the path; with `migrations` given (a machine of several CPUs), the per-CPU arrays too */
  build(complete: boolean, stop: string, migrations?: number): Path {
    const path: Path = {
      n: this.icount.length,
      icount: Float64Array.from(this.icount),
      exits: Int32Array.from(this.exits),
      rip: Float64Array.from(this.rip),
      bits: Uint8Array.from(this.bits),
      mode: Uint8Array.from(this.mode),
      inRun: Uint8Array.from(this.inRun),
      complete,
      stop,
    };
    if (migrations !== undefined) {
      path.cpu = Uint8Array.from(this.cpu);
      path.gIcount = Float64Array.from(this.gIcount);
      path.gExits = Int32Array.from(this.gExits);
      path.migrations = migrations;
    }
    return path;
  }
}

/**
 * Each CPU's boundary as it stood before the machine's next step (`note`), and which CPU that
 * step moved (`moved`): the one that retired an instruction (or a delivery storm) or took a
 * #VMEXIT.
 */
export class CpuBoundaries {
  readonly icount: Float64Array;
  readonly exits: Int32Array;
  readonly rip: Float64Array;
  readonly bits: Uint8Array;
  readonly mode: Uint8Array;
  readonly inRun: Uint8Array;
  /** instructions + storm count at the note, to tell which CPU moved */
  private readonly progress: Float64Array;

  /** `base`: each CPU's instruction count at the snapshot; `cpuExits`: the checker's #VMEXIT count per CPU */
  constructor(private readonly cpus: readonly Cpu[], private readonly base: readonly number[], private readonly cpuExits: ArrayLike<number>) {
    const n = cpus.length;
    this.icount = new Float64Array(n);
    this.exits = new Int32Array(n);
    this.rip = new Float64Array(n);
    this.bits = new Uint8Array(n);
    this.mode = new Uint8Array(n);
    this.inRun = new Uint8Array(n);
    this.progress = new Float64Array(n);
  }

  note(k: number, inRun: number): void {
    const x = this.cpus[k];
    this.icount[k] = x.icount - this.base[k];
    this.exits[k] = this.cpuExits[k];
    this.rip[k] = x.ripLinear();
    this.bits[k] = x.bits;
    this.mode[k] = modeOf(x);
    this.inRun[k] = inRun;
    this.progress[k] = x.icount + x.stormCount;
  }

  /** the CPU that moved since its note, -1 if none did */
  moved(): number {
    for (let j = 0; j < this.cpus.length; j++) {
      const x = this.cpus[j];
      if (x.icount + x.stormCount !== this.progress[j] || this.cpuExits[j] !== this.exits[j]) return j;
    }
    return -1;
  }
}
