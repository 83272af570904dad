/**
 * The one table of what is not compared: per instruction family, the status flags the AMD64
 * APM (Vol. 3, each instruction's "rFLAGS Affected" table, and Appendix "Instruction Effects on
 * RFLAGS") calls undefined, plus the few places where the Intel SDM leaves more undefined than
 * AMD, or where an Intel host gives a different result (the host may be either vendor).
 *
 * Flag and result masks apply only when the instruction completes: after a fault nothing may
 * have changed, so everything is compared then. Host quirks (HOST_QUIRKS) apply either way.
 */

import { AF, CF, OF, PF, SF, STATUS, ZF } from './layout.js';

export type Family =
  | 'none' | 'arith' | 'logic' | 'mul' | 'div' | 'shift' | 'shiftSar' | 'rotate' | 'rotateCarry'
  | 'shiftDouble' | 'bt' | 'bitScan' | 'countZeros' | 'popcnt';

export interface MaskArgs {
  /** operand size in bytes */
  size: number;
  /** shift/rotate count after the architectural 5- or 6-bit mask */
  count: number;
}

export interface MaskRow {
  forms: string;
  /** what the APM leaves undefined */
  apm: string;
  /** what the Intel SDM adds, masked too because the host may be Intel */
  intel?: string;
  mask: (a: MaskArgs) => number;
}

export const UNDEFINED_FLAGS: Record<Family, MaskRow> = {
  none: {
    forms: 'MOV, MOVZX/MOVSX/MOVSXD, LEA, XCHG, NOT, BSWAP, CMOVcc, SETcc, Jcc, CBW..CQO, string moves/loads/stores, stack ops, LAHF/SAHF, CLC/STC/CMC/CLD/STD, CMPXCHG8B/16B',
    apm: 'nothing (flags unchanged or all defined)',
    mask: () => 0,
  },
  arith: {
    forms: 'ADD ADC SUB SBB CMP NEG INC DEC XADD CMPXCHG CMPS SCAS',
    apm: 'nothing',
    mask: () => 0,
  },
  logic: {
    forms: 'AND OR XOR TEST',
    apm: 'AF',
    mask: () => AF,
  },
  mul: {
    forms: 'MUL, IMUL (1-, 2- and 3-operand)',
    apm: 'SF ZF AF PF (CF and OF are defined)',
    mask: () => SF | ZF | AF | PF,
  },
  div: {
    forms: 'DIV IDIV',
    apm: 'all six status flags',
    mask: () => STATUS,
  },
  shift: {
    forms: 'SHL/SAL SHR',
    apm: 'count 0: none (flags unchanged); else AF, and OF unless the count is 1',
    intel: 'CF when the count is at least the operand width (8- and 16-bit operands)',
    mask: (a) => (a.count === 0 ? 0 : AF | (a.count === 1 ? 0 : OF) | (a.count >= a.size * 8 ? CF : 0)),
  },
  shiftSar: {
    forms: 'SAR',
    apm: 'count 0: none; else AF, and OF unless the count is 1',
    mask: (a) => (a.count === 0 ? 0 : AF | (a.count === 1 ? 0 : OF)),
  },
  rotate: {
    forms: 'ROL ROR',
    apm: 'count 0: none; else OF unless the count is 1 (CF defined; the others unchanged)',
    mask: (a) => (a.count === 0 || a.count === 1 ? 0 : OF),
  },
  rotateCarry: {
    forms: 'RCL RCR',
    apm: 'count 0: none; else OF unless the count is 1',
    mask: (a) => (a.count === 0 || a.count === 1 ? 0 : OF),
  },
  shiftDouble: {
    forms: 'SHLD SHRD',
    apm: 'count 0: none; count above the operand width (16-bit operands): the result and all flags; else AF, and OF unless the count is 1',
    mask: (a) => (a.count === 0 ? 0 : a.count > a.size * 8 ? STATUS : AF | (a.count === 1 ? 0 : OF)),
  },
  bt: {
    forms: 'BT BTS BTR BTC',
    apm: 'OF SF AF PF (CF is the bit; ZF unchanged, and compared)',
    intel: 'older SDMs list ZF as undefined too; current ones and the Intel host leave it unchanged',
    mask: () => OF | SF | AF | PF,
  },
  bitScan: {
    forms: 'BSF BSR',
    apm: 'CF OF SF AF PF (ZF is defined)',
    mask: () => CF | OF | SF | AF | PF,
  },
  countZeros: {
    forms: 'TZCNT LZCNT',
    apm: 'OF SF AF PF (CF and ZF are defined)',
    mask: () => OF | SF | AF | PF,
  },
  popcnt: {
    forms: 'POPCNT',
    apm: 'nothing (ZF defined, CF OF SF AF PF cleared)',
    mask: () => 0,
  },
};

/**
 * Results (not flags) that are undefined, or that an Intel host computes differently from the
 * APM; each form that meets one masks the register or memory bytes concerned for that case.
 */
export const UNDEFINED_RESULTS: string[] = [
  'SHLD/SHRD r/m16 with a masked count above 16: the destination is undefined (APM and SDM).',
  'BSWAP r16: the result is undefined (APM); the low 16 bits of the register are not compared.',
  'BSF/BSR with a zero source: the APM leaves the destination unchanged, the SDM calls it undefined; compared (the Intel host leaves it unchanged too, upper half included).',
];

export interface HostQuirk {
  vendor: string;
  what: string;
  handling: string;
}

/**
 * Where the host (an Intel part, so far) does something the APM does not describe, or does
 * differently from an AMD part. The masks apply only on such a host (compare.ts `intelHost`).
 */
export const HOST_QUIRKS: HostQuirk[] = [
  {
    vendor: 'GenuineIntel',
    what: 'REP MOVS/STOS/LODS/CMPS/SCAS with 32-bit addressing (67) and ECX = 0 clears the upper halves of RCX and of the RSI/RDI it uses, although no iteration runs',
    handling: 'those upper halves are not compared for such cases',
  },
  {
    vendor: 'GenuineIntel',
    what: 'CALL r/m64 to a non-canonical target writes the return address below RSP before raising #GP(0) (RSP and RIP stay unchanged)',
    handling: 'the 8 bytes below RSP are not compared for those cases',
  },
  {
    vendor: 'GenuineIntel',
    what: 'ENTER touches the final stack top (RSP minus the frame size), so a frame that reaches an unmapped page faults',
    handling: 'not masked: ENTER frames are generated inside the mapped window',
  },
  {
    vendor: 'GenuineIntel',
    what: 'x87 FOP/FIP/FDP: Intel parts deprecate FCS/FDS, may update FDP only on unmasked exceptions (CPUID 7.0 EBX[6] FDP_EXCPTN_ONLY) and keep FOP only with an exception pending, where AMD parts with XSaveErPtr always save them',
    handling: 'FOP, FIP and FDP are not compared on an Intel host (compare.ts); on an AMD host they are',
  },
  {
    vendor: 'GenuineIntel',
    what: 'near branches ignore a 66 prefix in 64-bit mode, where AMD uses a 16-bit operand size (APM Vol. 3 1.2.7)',
    handling: 'not generated',
  },
];

export function undefFor(f: Family, size: number, count = 0): number {
  return UNDEFINED_FLAGS[f].mask({ size, count });
}

/** the shift count an instruction uses: 6 bits for 64-bit operands, 5 bits otherwise */
export function maskedCount(count: number, size: number): number {
  return count & (size === 8 ? 0x3f : 0x1f);
}
