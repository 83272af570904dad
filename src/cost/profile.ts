/**
 * The cycle model: what each retired instruction adds to the cycle counter, which is the TSC
 * the guest reads (design.md §4). A profile gives a base cost for ordinary instructions and
 * explicit costs for the expensive ones, each with its source and confidence; a number that is
 * our own estimate says so.
 *
 * Costs are applied in two places: a per-instruction cost fixed at decode time (Insn.cost,
 * from the instruction's cost class), and dynamic extras the instruction adds while executing
 * (RDMSR/WRMSR by MSR class, the #VMEXIT half of a world switch).
 */

import type { Insn } from '../x86/insn.js';
import { INSNS } from '../x86/table.js';

export type Confidence = 'H' | 'M' | 'L' | 'estimate' | 'fitted' | 'unit';

export interface Cost {
  /** the value used when nothing is drawn */
  cycles: number;
  /** the range the value is drawn from under --uncertainty (low <= cycles <= high) */
  low: number;
  high: number;
  /** where the number comes from: a cost-data.md row, a derivation, or "estimate: why" */
  source: string;
  /** where the range comes from */
  range: string;
  confidence: Confidence;
}

/** Instruction cost classes with explicit costs (everything else costs `base`). */
export const COST_CLASSES = [
  'vmrun', 'vmexit', 'vmload', 'vmsave', 'clgi', 'stgi', 'invlpga',
  'wrfsgsbase', 'rdfsgsbase', 'swapgs', 'syscall', 'sysret', 'iret', 'movCr3', 'movCr',
  'invlpg', 'descTable', 'segLoad', 'cpuid', 'rdtsc', 'lfence', 'mfence', 'hlt', 'portIo',
] as const;
export type CostClass = typeof COST_CLASSES[number];

/** MSR classes for RDMSR/WRMSR costs (the msr.ts table's classes) */
export const MSR_CLASSES = ['efer', 'segBase', 'syscall', 'sysenter', 'tsc', 'tscAux', 'apic', 'cache', 'svm'] as const;
export type MsrClassName = typeof MSR_CLASSES[number];

export interface CostProfile {
  name: string;
  description: string;
  /** an ordinary instruction */
  base: Cost;
  classes: Record<CostClass, Cost>;
  rdmsr: Record<MsrClassName, Cost>;
  wrmsr: Record<MsrClassName, Cost>;
  /** added to every serializing instruction (APM Vol. 2 7.6.4) */
  serializing: Cost;
  /**
   * WRMSR to FS_BASE, GS_BASE or KERNEL_GS_BASE pays the serializing penalty. The sources
   * disagree for parts without CPUID 8000_0021 EAX[1] FsGsKernelGsBaseNonSerializing
   * (cost-data.md N3), so this is a default, and `segBaseSerializingP` is the probability a
   * draw under --uncertainty takes it to be serializing.
   */
  wrmsrSegBaseSerializing: boolean;
  segBaseSerializingP: number;
  segBaseSerializingSource: string;
}

/**
 * The cost class of a decoded instruction, or null for an ordinary one. Serializing
 * instructions per APM Vol. 2 7.6.4 (MOV CRn except CR8, MOV DRn, LGDT/LIDT/LLDT/LTR, INVD,
 * WBINVD, INVLPG, CPUID, IRET, WRMSR) also pay the profile's serializing penalty.
 */
export function costClassOf(i: Insn): CostClass | null {
  if (i.row < 0) return null;
  const s = INSNS[i.row];
  switch (s.exec) {
    case 'vmrun': return 'vmrun';
    case 'vmload': return 'vmload';
    case 'vmsave': return 'vmsave';
    case 'clgi': return 'clgi';
    case 'stgi': return 'stgi';
    case 'invlpga': return 'invlpga';
    case 'fsgsbase': return i.arg >= 2 ? 'wrfsgsbase' : 'rdfsgsbase';
    case 'swapgs': return 'swapgs';
    case 'syscall': return 'syscall';
    case 'sysret': return 'sysret';
    case 'iret': return 'iret';
    case 'movCR': return (i.reg & 15) === 3 ? 'movCr3' : 'movCr';
    case 'invlpg': return 'invlpg';
    case 'lgdt': case 'lidt': case 'lldt': case 'ltr': return 'descTable';
    case 'movSE': case 'popSeg': case 'loadFarPtr': return 'segLoad';
    case 'cpuid': return 'cpuid';
    case 'rdtsc': case 'rdtscp': return 'rdtsc';
    case 'hlt': return 'hlt';
    case 'inI': case 'inDX': case 'outI': case 'outDX': return 'portIo';
    default:
      if (s.mnem === 'lfence') return 'lfence';
      if (s.mnem === 'mfence') return 'mfence';
      return null;
  }
}

/** true for the instructions APM Vol. 2 7.6.4 lists as serializing (WRMSR handled by class) */
export function serializing(i: Insn): boolean {
  if (i.row < 0) return false;
  switch (INSNS[i.row].exec) {
    case 'movCR': return (i.reg & 15) !== 8;
    case 'movDR': case 'lgdt': case 'lidt': case 'lldt': case 'ltr': case 'invd': case 'wbinvd':
    case 'invlpg': case 'cpuid': case 'iret':
      return true;
    default:
      return false;
  }
}

/** The compiled form the CPU uses: plain numbers, looked up by decode and by WRMSR/RDMSR. */
export class CostTable {
  readonly profile: CostProfile;
  readonly base: number;
  readonly byClass = new Map<CostClass, number>();
  readonly rdmsr = new Float64Array(MSR_CLASSES.length);
  readonly wrmsr = new Float64Array(MSR_CLASSES.length);
  readonly serializing: number;
  readonly vmexit: number;

  constructor(p: CostProfile) {
    this.profile = p;
    this.base = p.base.cycles;
    for (const k of COST_CLASSES) this.byClass.set(k, p.classes[k].cycles);
    MSR_CLASSES.forEach((k, n) => {
      this.rdmsr[n] = p.rdmsr[k].cycles;
      // WRMSR is serializing, except to the segment bases where the profile says it is not
      const ser = k !== 'segBase' || p.wrmsrSegBaseSerializing;
      this.wrmsr[n] = p.wrmsr[k].cycles + (ser ? p.serializing.cycles : 0);
    });
    this.serializing = p.serializing.cycles;
    this.vmexit = p.classes.vmexit.cycles;
  }

  /** the decode-time cost of an instruction */
  costOf(i: Insn): number {
    const k = costClassOf(i);
    let c = k === null ? this.base : this.byClass.get(k)!;
    if (serializing(i)) c += this.serializing;
    return c;
  }
}
