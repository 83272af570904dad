/**
 * Cost profiles. Every number carries its source (a row or note of
 * ../shared/reference/cost-data.md, or a derivation) and a confidence; "estimate" marks our
 * own numbers where no published figure exists (cost-data.md, "Gaps"). Units are TSC ticks,
 * as in the thread's measurements.
 *
 * The named parameters that calibration fits (base, vmrun, vmexit) start from estimates here;
 * `src/cost/calibrate.ts` fits them to the merged design's per-phase cycles and records the
 * result with confidence "fitted".
 */

import { COST_CLASSES, MSR_CLASSES, type Cost, type CostClass, type CostProfile, type MsrClassName } from './profile.js';

const est = (cycles: number, why: string): Cost => ({ cycles, source: `estimate: ${why}`, confidence: 'estimate' });
const src = (cycles: number, source: string, confidence: Cost['confidence']): Cost => ({ cycles, source, confidence });

/** Zen 2 / Zen 3 numbers: the thread's EPYC is one of these (cost-data.md open question 1). */
function epycClasses(): Record<CostClass, Cost> {
  return {
    vmrun: est(560, 'half of the ~1350-tick middle phase of row 3, which bounds VMRUN + guest HLT + #VMEXIT + host VMLOAD (N1); fitted by calibration'),
    vmexit: est(560, 'the other half of the row 3 middle phase (N1); fitted by calibration'),
    vmload: src(160, 'row 6: VMLOAD costs about WRGSBASE + 16..32 in the post-exit slot; row 13 bounds it at 306 including the RDTSC pair (N6)', 'L'),
    vmsave: src(150, 'row 5: "the vmsave only seems to be 100-200" (M. Roth, 15 Dec 2020)', 'L'),
    clgi: src(20, 'row 14: CLGI 53 (min 40) including the RDTSC pair, so well under 50 beyond it (N6)', 'L'),
    stgi: src(20, 'row 14: STGI 54 (min 40) including the RDTSC pair (N6)', 'L'),
    invlpga: est(80, 'taken as INVLPG (row 26, K8)'),
    wrfsgsbase: est(10, 'no published cycles for WRGSBASE on any Zen (N5); a non-serializing register write'),
    rdfsgsbase: est(5, 'no published cycles (N5)'),
    swapgs: est(12, 'N5: "SWAPGS is only marginally slower than WRGSBASE" (tglx, 2020)'),
    syscall: src(27, 'row 23: SYSCALL latency on K8 (AMD 25112, App. C)', 'L'),
    sysret: src(35, 'row 23: SYSRET latency on K8 (AMD 25112, App. C)', 'L'),
    iret: est(60, 'no published IRETQ cycles on Zen (Gaps)'),
    movCr3: est(100, 'no published MOV CR3 cycles on Zen (Gaps)'),
    movCr: est(20, 'no published figure'),
    invlpg: src(80, 'row 26: INVLPG 80 in 64-bit mode on K8', 'L'),
    descTable: src(40, 'row 24: LGDT 37, LLDT 34/35 on K8 (LIDT 148 is an outlier)', 'L'),
    segLoad: src(10, 'row 25: MOV sreg, m16 10 on K8', 'L'),
    cpuid: est(100, 'no published native CPUID cycles on Zen'),
    rdtsc: src(38, 'row 29: rdtscp;lfence back to back is 76 ticks on Zen 4, readings in 38-tick steps (N6)', 'L'),
    lfence: est(10, 'N5: LFENCE is dispatch-serializing on Zen 2+; no cycle figure'),
    mfence: est(30, 'no published figure'),
    hlt: est(1, 'HLT in a guest always exits here; its own cost is part of the world switch'),
    portIo: est(50, 'no published native IN/OUT cycles (Gaps)'),
  };
}

function msrCosts(cycles: number, why: string): Record<MsrClassName, Cost> {
  const out = {} as Record<MsrClassName, Cost>;
  for (const k of MSR_CLASSES) out[k] = src(cycles, why, 'L');
  return out;
}

function readCosts(): Record<MsrClassName, Cost> {
  return msrCosts(60, 'row 7: the 4600 -> 2800 saving spread over ~21 MSR operations is order 100 per operation, RDMSR taken as the cheaper part');
}

function writeCosts(): Record<MsrClassName, Cost> {
  return msrCosts(70, 'row 7: order 100 per MSR operation; the serializing penalty is added separately');
}

const serializingPenalty = est(40, 'no published figure for the pipeline drain on Zen; with a WRMSR of 70 it gives the ~100 of row 7');

function epyc(name: string, description: string, segBaseSerializing: boolean): CostProfile {
  return {
    name,
    description,
    base: est(1, 'one tick per ordinary instruction at the TSC (base) clock; fitted by calibration'),
    classes: epycClasses(),
    rdmsr: readCosts(),
    wrmsr: writeCosts(),
    serializing: serializingPenalty,
    wrmsrSegBaseSerializing: segBaseSerializing,
  };
}

function unit(): CostProfile {
  const one = (): Cost => ({ cycles: 1, source: 'unit profile: one cycle per instruction', confidence: 'unit' });
  const zero = (): Cost => ({ cycles: 0, source: 'unit profile', confidence: 'unit' });
  const classes = {} as Record<CostClass, Cost>;
  for (const k of COST_CLASSES) classes[k] = k === 'vmexit' ? zero() : one();
  const rd = {} as Record<MsrClassName, Cost>;
  const wr = {} as Record<MsrClassName, Cost>;
  for (const k of MSR_CLASSES) { rd[k] = zero(); wr[k] = zero(); }
  return {
    name: 'unit',
    description: 'one cycle per instruction: the TSC counts instructions',
    base: one(),
    classes,
    rdmsr: rd,
    wrmsr: wr,
    serializing: zero(),
    wrmsrSegBaseSerializing: false,
  };
}

export const PROFILES: Record<string, () => CostProfile> = {
  unit,
  zen2: () => epyc('zen2', 'AMD Zen 2 (EPYC 7002): WRMSR to FS/GS/KERNEL_GS_BASE serializes (cost-data.md N3)', true),
  zen3: () => epyc('zen3', 'AMD Zen 3 (EPYC 7003): WRMSR to FS/GS/KERNEL_GS_BASE serializes (N3); the thread asked for Zen 3 numbers', true),
  zen4: () => ({
    ...epyc('zen4', 'AMD Zen 4 (EPYC 9004): CPUID 8000_0021 EAX[1] FsGsKernelGsBaseNonSerializing, so WRMSR to the segment bases does not serialize (N3)', false),
  }),
};

export function profileNames(): string[] {
  return Object.keys(PROFILES);
}

export function getProfile(name: string): CostProfile {
  const f = PROFILES[name];
  if (f === undefined) throw new Error(`unknown CPU profile '${name}' (known: ${profileNames().join(', ')})`);
  return f();
}
