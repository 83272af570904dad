/**
 * CPUID for an AMD profile (AMD64 APM Vol. 3 Appendix E, "Obtaining Processor Information Via
 * the CPUID Instruction"). Feature bits report exactly what worldswitch implements: FXSR,
 * MMX (with AMD's MMX extensions), SSE, SSE2, SSE3, SSSE3, XSAVE (x87 and SSE components,
 * XSAVEOPT) and OSXSAVE as CR4 has it; no 3DNow!, SSE4, AVX, XSAVEC/XSAVES, no x2APIC, no BMI1 (TZCNT decodes on every CPU, but BMI1 would also promise
 * ANDN, BEXTR, BLSI, ...), and the hypervisor bit clear. The x87 FPU bit is the x87 family's.
 *
 * `cpuidLeaf` is a pure function of the CPU state and the leaf so that the SVM layer's CPUID
 * intercept and tools can ask without executing anything. Leaves the profile does not have
 * return zeros, as AMD processors do.
 */

import type { Cpu } from './cpu.js';
import { MAXPHYADDR } from './paging.js';

/** highest standard and extended leaves */
export const MAX_STD_LEAF = 0xd;
export const MAX_EXT_LEAF = 0x8000000a;

/** family 17h model 31h stepping 0 (a Zen 2 EPYC, like the CPU the KVM thread measured on) */
const SIGNATURE = (8 << 20) | (3 << 16) | (0xf << 8) | (1 << 4) | 0;

// "AuthenticAMD" as EBX, EDX, ECX
const VENDOR_EBX = 0x68747541;
const VENDOR_EDX = 0x69746e65;
const VENDOR_ECX = 0x444d4163;

/** CPUID 1 / 8000_0001 EDX bits shared by both leaves (AMD mirrors them) */
/** DE: debugging extensions (CR4.DE: I/O breakpoints, DR4/DR5 #UD; APM Vol. 2 13.1) */
const EDX_DE = 1 << 2;
/** FPU 0: the x87 (src/cpu/exec/x87*.ts); AMD mirrors it in 8000_0001 EDX bit 0 */
const EDX_FPU = 1 << 0;
const EDX_PSE = 1 << 3;
const EDX_TSC = 1 << 4;
const EDX_MSR = 1 << 5;
const EDX_PAE = 1 << 6;
const EDX_CX8 = 1 << 8;
const EDX_APIC = 1 << 9;
const EDX_CMOV = 1 << 15;
const EDX_PAT = 1 << 16;
const EDX_PSE36 = 1 << 17;
/** MTRR (12): the MTRRs exist as registers (msr-amd.ts); no caches, so no effect */
const EDX_MTRR = 1 << 12;
const COMMON_EDX = EDX_FPU | EDX_DE | EDX_PSE | EDX_TSC | EDX_MSR | EDX_PAE | EDX_CX8 | EDX_MTRR | EDX_CMOV | EDX_PAT | EDX_PSE36;

/** MMX 23, FXSR 24 (FXSAVE/FXRSTOR, CR4.OSFXSR): mirrored in 8000_0001 EDX */
const EDX_FXSR = (1 << 23) | (1 << 24);
/** CPUID 1 EDX: SEP 11, PGE 13, CLFSH 19 (CLFLUSH executes, as a no-op), MMX 23, FXSR 24, SSE 25, SSE2 26 */
const STD1_EDX = COMMON_EDX | EDX_FXSR | (1 << 11) | (1 << 13) | (1 << 19) | (1 << 25) | (1 << 26);
/**
 * CPUID 1 ECX: SSE3 0, MONITOR 3, SSSE3 9, CX16 13, POPCNT 23, XSAVE 26 (OSXSAVE 27 follows
 * CR4.OSXSAVE); hypervisor (31) clear
 */
const STD1_ECX = (1 << 0) | (1 << 3) | (1 << 9) | (1 << 13) | (1 << 23) | (1 << 26);
const ECX_OSXSAVE = 1 << 27;
/** CR4.OSXSAVE */
const CR4_OSXSAVE = 1 << 18;

/**
 * CPUID 0Dh (APM Vol. 3 E.3.8): sub-leaf 0 EAX = XCR0 bits supported (x87, SSE), EBX = size of
 * the area for the XCR0 enabled now, ECX = size for all supported (both 576: the 512-byte
 * legacy region and the 64-byte header), sub-leaf 1 EAX = XSAVEOPT (0); components 0 and 1 live
 * in the legacy region, so no other sub-leaf has content.
 */
const XSAVE_AREA = 576;
/** CPUID 1 EBX: CLFLUSH line size 8 x 8 = 64 bytes; initial APIC ID 0 */
const STD1_EBX = 8 << 8;

/** CPUID 7.0 EBX: FSGSBASE 0, SMEP 7, SMAP 20; ECX: RDPID 22 */
const STD7_EBX = (1 << 0) | (1 << 7) | (1 << 20);
const STD7_ECX = 1 << 22;

/** CPUID 1 EDX[28] HTT: EBX[23:16] counts the logical processors (set with more than one CPU) */
const EDX_HTT = 1 << 28;
/** CPUID 8000_0001 ECX[1] CmpLegacy: the logical processors of CPUID 1 are cores (more than one CPU) */
const EXT1_CMP_LEGACY = 1 << 1;

/** CPUID 8000_0001 ECX[9] OSVW: OSVW_ID_LENGTH / OSVW_STATUS (msr-amd.ts) */
const EXT1_OSVW = 1 << 9;
/** CPUID 8000_0001 ECX[23] PerfCtrExtCore: six core counters at C001_0200 (pmu.ts) */
const EXT1_PERFCTR_CORE = 1 << 23;

/**
 * CPUID 8000_0001 ECX: LahfSahf 0, SVM 2, AltMovCr8 4 (LOCK MOV CR0 is CR8), ABM 5 (LZCNT and
 * POPCNT), MisAlignSse 7 (MXCSR.MM), 3DNowPrefetch 8 (PREFETCH/PREFETCHW execute, as no-ops)
 */
const EXT1_ECX = (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | EXT1_OSVW | EXT1_PERFCTR_CORE;
/**
 * CPUID 8000_0001 EDX: SysCallSysRet 11, PGE 13, NX 20, MmxExt 22 (PSHUFW, PAVGB, PMINUB, ...
 * on MMX registers), MMX 23, FXSR 24, FFXSR 25 (EFER.FFXSR fast FXSAVE/FXRSTOR), Page1GB 26,
 * RDTSCP 27, LM 29
 */
const EXT1_EDX = COMMON_EDX | (1 << 11) | (1 << 13) | (1 << 20) | (1 << 22) | EDX_FXSR | (1 << 25) | (1 << 26) | (1 << 27) | (1 << 29);


/** CPUID 8000_0007 EDX: TscInvariant 8 (the TSC counts model cycles at one constant rate) */
const EXT7_EDX = 1 << 8;

/** the brand string of leaves 8000_0002..4, 48 bytes with NULs after the text */
const BRAND = new Int32Array(12);
{
  const text = 'worldswitch AMD-V virtual CPU';
  for (let k = 0; k < text.length && k < 47; k++) BRAND[k >> 2] |= text.charCodeAt(k) << (8 * (k & 3));
}

/**
 * CPUID 8000_000A (SVM): EAX = SVM revision, EBX = number of ASIDs, ECX reserved, EDX = SVM
 * feature bits (APM Vol. 3 E.4.9). The SVM layer fills this in for the features it implements;
 * until then it reports revision 1 and no ASIDs or features.
 */

/** number of ASIDs (CPUID 8000_000A EBX): ASID 0 is the host's */
export const SVM_ASIDS = 64;
/**
 * SVM features implemented (CPUID 8000_000A EDX, APM Vol. 3 E.4.9): NP (0), LbrVirt (1), NRIPS
 * (3), TscRateMsr (4), VmcbClean (5), FlushByAsid (6), DecodeAssists (7), PauseFilter (10),
 * PauseFilterThreshold (12), V_VMSAVE_VMLOAD (15), VGIF (16), GMET (17), vNMI (25). Not
 * implemented: SVML (2), AVIC (13), SEV and the rest.
 */
export const SVM_FEATURES = (1 << 0) | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) |
  (1 << 10) | (1 << 12) | (1 << 15) | (1 << 16) | (1 << 17) | (1 << 25);

export const SVM_LEAF = Int32Array.of(1, SVM_ASIDS, 0, SVM_FEATURES);

/** Compute CPUID leaf `eax` (sub-leaf `ecx`) into out[0..3] = EAX, EBX, ECX, EDX. */
export function cpuidLeaf(c: Cpu, eax: number, ecx: number, out: Int32Array): void {
  const leaf = eax >>> 0;
  // CPUID APIC bit follows APIC_BASE.AE (APM Vol. 3 E.3.2)
  const apic = (c.apicBase & 0x800) !== 0 ? EDX_APIC : 0;
  let a = 0;
  let b = 0;
  let cx = 0;
  let d = 0;
  switch (leaf) {
    case 0:
      a = MAX_STD_LEAF; b = VENDOR_EBX; cx = VENDOR_ECX; d = VENDOR_EDX;
      break;
    case 1:
      a = SIGNATURE; b = STD1_EBX; cx = STD1_ECX | ((c.cr4 & CR4_OSXSAVE) !== 0 ? ECX_OSXSAVE : 0); d = STD1_EDX | apic;
      // more than one CPU (smp.ts): EBX[31:24] initial APIC ID, EBX[23:16] logical processor
      // count with EDX[28] HTT (APM Vol. 3 E.3.2; AMD counts cores here, 8000_0008 ECX says how)
      if (c.cpuCount > 1) { b |= ((c.apicId & 0xff) << 24) | ((c.cpuCount & 0xff) << 16); d |= EDX_HTT; }
      break;
    case 0xd:
      if ((ecx | 0) === 0) { a = 3; b = XSAVE_AREA; cx = XSAVE_AREA; } else if ((ecx | 0) === 1) a = 1;
      break;
    case 7:
      if ((ecx | 0) === 0) { b = STD7_EBX; cx = STD7_ECX; }
      break;
    case 0x80000000:
      a = MAX_EXT_LEAF; b = VENDOR_EBX; cx = VENDOR_ECX; d = VENDOR_EDX;
      break;
    case 0x80000001:
      a = SIGNATURE; cx = EXT1_ECX | (c.cpuCount > 1 ? EXT1_CMP_LEGACY : 0); d = EXT1_EDX | apic;
      break;
    case 0x80000002: case 0x80000003: case 0x80000004: {
      const k = (leaf - 0x80000002) * 4;
      a = BRAND[k]; b = BRAND[k + 1]; cx = BRAND[k + 2]; d = BRAND[k + 3];
      break;
    }
    case 0x80000007:
      d = EXT7_EDX;
      break;
    case 0x80000008:
      // physical and linear address widths; guest-physical 0 means "same as physical"; one core
      a = MAXPHYADDR | (48 << 8);
      // ECX[7:0] NC = cores - 1, ECX[15:12] ApicIdCoreIdSize (APM Vol. 3 E.4.7): N cores in one
      // package, APIC IDs 0..N-1
      if (c.cpuCount > 1) cx = ((c.cpuCount - 1) & 0xff) | ((32 - Math.clz32(c.cpuCount - 1)) << 12);
      break;
    case 0x8000000a:
      a = SVM_LEAF[0]; b = SVM_LEAF[1]; cx = SVM_LEAF[2]; d = SVM_LEAF[3];
      break;
    default:
      break;
  }
  out[0] = a;
  out[1] = b;
  out[2] = cx;
  out[3] = d;
}
