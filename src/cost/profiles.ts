/**
 * Cost profiles. Every number carries a value, a low..high range, its source (a row or note of
 * ../shared/reference/cost-data.md, or a derivation) and a confidence; "estimate" marks our own
 * numbers where no published figure exists (cost-data.md, "Gaps"), and "fitted" numbers that
 * were set from the thread's own measurements (those measurements are then not predictions:
 * docs/calibration.md lists which published number set which constant). Units are TSC ticks.
 *
 * Zen 2 and Zen 3 are one profile (`zen3`, alias `zen2`): no source used here distinguishes
 * them, and the thread's "recent EPYC" is one of the two (cost-data.md open question 1).
 * `zen4` differs in one thing only: WRMSR to the segment bases does not serialize (CPUID
 * 8000_0021 EAX[1] is set), which moves the same axis a sweep of wrmsr-gsbase moves.
 */

import { COST_CLASSES, MSR_CLASSES, type Cost, type CostClass, type CostProfile, type MsrClassName } from './profile.js';

/** our own number: no published figure */
const est = (cycles: number, low: number, high: number, why: string, range = 'estimate'): Cost =>
  ({ cycles, low, high, source: `estimate: ${why}`, range, confidence: 'estimate' });
/** a published figure (possibly for another generation: the confidence says how well it fits) */
const src = (cycles: number, low: number, high: number, source: string, range: string, confidence: Cost['confidence']): Cost =>
  ({ cycles, low, high, source, range, confidence });
/** set from the thread's measurements (by hand or by the calibration's least squares) */
const fit = (cycles: number, low: number, high: number, source: string, range: string): Cost =>
  ({ cycles, low, high, source: `fitted: ${source}`, range, confidence: 'fitted' });

/** Zen 2 / Zen 3 */
function epycClasses(): Record<CostClass, Cost> {
  return {
    vmrun: fit(560, 150, 600, 'half of the world switch, least squares on the v2 phases (row 3) by `calibrate`; refitted in every draw',
      'the middle phase of row 3 (~1368) bounds VMRUN + guest HLT + #VMEXIT + host restore (N1)'),
    vmexit: fit(560, 150, 600, 'the other half of the world switch (row 3, N1); refitted in every draw', 'as vmrun'),
    vmload: src(160, 40, 280,
      'row 9: Xen f64b7618 saved ~650 per round trip by dropping 2 VMSAVE + 2 VMLOAD on K8, ~160 each (Conf M for K8, L for Zen). Row 6 (VMLOAD ~ WRGSBASE + 16..32 on the exit path, +48..80 at vcpu_put) is not used: it is derived from rows 3-4, which would make row 4 a fit target',
      'low: estimate (VMLOAD writes ~10 MSRs and 4 segment registers); high: row 13, 306 avg including the RDTSC pair, in L1 with V_VMSAVE_VMLOAD on an unnamed CPU (N6)', 'L'),
    vmsave: src(150, 100, 200, 'row 5: "the vmsave only seems to be 100-200" (M. Roth, 15 Dec 2020, no data shown)', 'row 5: "100-200"', 'L'),
    clgi: est(20, 1, 50, 'no figure for Zen; row 14 (53, min 40, including the RDTSC pair, in L1 with vGIF, CPU unknown) bounds it', 'low: estimate; high: row 14 (N6)'),
    stgi: est(20, 1, 50, 'no figure for Zen; row 14 (54, min 40, including the RDTSC pair, CPU unknown) bounds it', 'low: estimate; high: row 14 (N6)'),
    invlpga: est(80, 40, 300, 'taken as INVLPG (row 26, K8)'),
    wrfsgsbase: est(10, 1, 40, 'no published cycles for WRGSBASE on any Zen (N5); a non-serializing register write'),
    rdfsgsbase: est(5, 1, 20, 'no published cycles (N5)'),
    swapgs: est(12, 1, 40, 'N5: "SWAPGS is only marginally slower than WRGSBASE" (tglx, 2020)'),
    syscall: src(27, 15, 80, 'row 23: SYSCALL latency on K8 (AMD 25112, App. C)', 'estimate around the K8 figure', 'L'),
    sysret: src(35, 15, 80, 'row 23: SYSRET latency on K8 (AMD 25112, App. C)', 'estimate around the K8 figure', 'L'),
    iret: est(60, 20, 150, 'no published IRETQ cycles on Zen (Gaps)'),
    movCr3: est(100, 30, 300, 'no published MOV CR3 cycles on Zen (Gaps)'),
    movCr: est(20, 5, 100, 'no published figure'),
    invlpg: src(80, 40, 200, 'row 26: INVLPG 80 in 64-bit mode on K8', 'estimate around the K8 figure', 'L'),
    descTable: est(40, 10, 150, 'no figure for Zen; on K8 (row 24) LGDT 37, LLDT 34/35, LIDT 148, LTR not given', 'low: estimate; high: LIDT on K8 (row 24)'),
    segLoad: src(10, 4, 30, 'row 25: MOV sreg, m16 10 on K8', 'estimate around the K8 figure', 'L'),
    cpuid: est(100, 50, 300, 'no published native CPUID cycles on Zen'),
    rdtsc: est(38, 10, 76, 'no figure for Zen 2/3; row 29 has RDTSCP;LFENCE back to back at 76 ticks on a Zen 4 laptop (7840H), readings in 38-tick steps', 'low: estimate; high: row 29 (the whole pair)'),
    lfence: est(10, 1, 40, 'N5: LFENCE is dispatch-serializing on Zen 2+; no cycle figure'),
    mfence: est(30, 5, 80, 'no published figure'),
    hlt: est(1, 1, 1, 'HLT in a guest always exits here; its own cost is part of the world switch', 'not varied'),
    portIo: est(50, 20, 200, 'no published native IN/OUT cycles (Gaps)'),
  };
}

function msrCosts(c: () => Cost): Record<MsrClassName, Cost> {
  const out = {} as Record<MsrClassName, Cost>;
  for (const k of MSR_CLASSES) out[k] = c();
  return out;
}

// RDMSR 60, WRMSR 70 and the serializing penalty 40 were set by hand so that the ~21 MSR
// operations the first patch removed cost about the 1800 the thread saved (rows 1-2, row 7):
// rows 1 and 2 and their 39% are fit targets, not predictions.
const ROW7 = 'rows 1-2 via row 7: chosen so that the ~21 MSR operations the first patch removed cost about the ~1800 it saved';
const readCost = () => fit(60, 30, 120, `${ROW7}; RDMSR taken as the cheaper part`, 'row 7: "order 100 per MSR op", all in, for RDMSR and WRMSR alike');
const writeCost = () => fit(70, 30, 120, `${ROW7}; the serializing penalty is added separately`, 'row 7, as RDMSR');
const serializingPenalty = (): Cost => fit(40, 0, 80, `${ROW7} (no published figure for the pipeline drain on Zen)`, 'estimate: 0 (free) to twice the value');

const N3 = 'cost-data.md N3: Jim Mattson reads PPR 56713 as "serializing on parts without CPUID 8000_0021 EAX[1]"; Babu Moger (AMD, 2025) says these writes "have always been non-serializing"';

function epyc(name: string, description: string, segBaseSerializing: boolean, p: number, why: string): CostProfile {
  return {
    name,
    description,
    base: fit(1, 1, 4, 'one ordinary instruction, least squares on the v2 phases (row 3) by `calibrate`; refitted in every draw', 'estimate: what the fit can reach'),
    classes: epycClasses(),
    rdmsr: msrCosts(readCost),
    wrmsr: msrCosts(writeCost),
    serializing: serializingPenalty(),
    wrmsrSegBaseSerializing: segBaseSerializing,
    segBaseSerializingP: p,
    segBaseSerializingSource: why,
  };
}

function unit(): CostProfile {
  const c = (cycles: number): Cost => ({ cycles, low: cycles, high: cycles, source: 'unit profile: one cycle per instruction', range: 'not varied', confidence: 'unit' });
  const classes = {} as Record<CostClass, Cost>;
  for (const k of COST_CLASSES) classes[k] = c(k === 'vmexit' ? 0 : 1);
  return {
    name: 'unit',
    description: 'one cycle per instruction: the TSC counts instructions',
    base: c(1),
    classes,
    rdmsr: msrCosts(() => c(0)),
    wrmsr: msrCosts(() => c(0)),
    serializing: c(0),
    wrmsrSegBaseSerializing: false,
    segBaseSerializingP: 0,
    segBaseSerializingSource: 'unit profile',
  };
}

export const PROFILES: Record<string, () => CostProfile> = {
  unit,
  zen3: () => epyc('zen3',
    'AMD Zen 2 and Zen 3 (EPYC 7002/7003), one profile: no source used here tells them apart. WRMSR to FS/GS/KERNEL_GS_BASE taken as serializing by default; the sources disagree (N3)',
    true, 0.5, `${N3}: unsettled, so a draw takes either with probability 1/2`),
  zen4: () => epyc('zen4',
    'AMD Zen 4 (EPYC 9004): as zen3, except that WRMSR to the segment bases does not serialize (CPUID 8000_0021 EAX[1] FsGsKernelGsBaseNonSerializing, N3); the only difference from zen3',
    false, 0, `${N3}: both readings agree that parts with the bit do not serialize`),
};

/** other names for a profile */
export const ALIASES: Record<string, string> = { zen2: 'zen3' };

export function profileNames(): string[] {
  return Object.keys(PROFILES);
}

export function getProfile(name: string): CostProfile {
  const f = PROFILES[ALIASES[name] ?? name];
  if (f === undefined) throw new Error(`unknown CPU profile '${name}' (known: ${[...profileNames(), ...Object.keys(ALIASES)].join(', ')})`);
  return f();
}

/** Every constant of a profile, by a stable name (for draws, sensitivity and tables). */
export function costEntries(p: CostProfile): [name: string, cost: Cost][] {
  const out: [string, Cost][] = [['base', p.base]];
  for (const k of COST_CLASSES) out.push([k, p.classes[k]]);
  for (const k of MSR_CLASSES) out.push([`rdmsr.${k}`, p.rdmsr[k]]);
  for (const k of MSR_CLASSES) out.push([`wrmsr.${k}`, p.wrmsr[k]]);
  out.push(['serializing', p.serializing]);
  return out;
}
