/**
 * Shared layout of the host-CPU differential test: where code and data sit (the same addresses
 * natively and in the guest, so every address compares directly), and the case and outcome
 * records that the generator, the native harness (tools/hostcpu/harness.c) and the emulator
 * runner exchange.
 */

import type { FxIgnore } from './fx.js';

/** page holding the instruction; filled with INT3 so every exit path stops at an INT3 */
export const CODE_ADDR = 0x40000;
/** the instruction's offset in the code page (mid-page: short branches both ways stay inside) */
export const CODE_OFF = 0x800;
export const CODE_RIP = CODE_ADDR + CODE_OFF;
/**
 * The scratch window: MEMSZ bytes set per case and compared. It straddles the boundary
 * between the two pages at BUF_PAGE, so operands that cross pages are compared too; the rest
 * of both pages must stay zero.
 */
export const BUF_PAGE = 0x50000;
export const BUF_PAGES = 2;
export const BUF_ADDR = 0x50f80;
export const MEMSZ = 256;
/** GS base on both sides, for GS-relative operands (FS belongs to the host's TLS) */
export const GS_BASE = 0x20000;
/** default RSP: inside the compared window, so pushes and pops are compared too */
export const STACK_OFF = 0xc0;
export const PAGE = 4096;

/** RFLAGS bits compared: the six status flags and DF */
export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const DF = 0x400;
export const OF = 0x800;
export const STATUS = CF | PF | AF | ZF | SF | OF;
export const COMPARED_FLAGS = STATUS | DF;

export const FLAG_NAMES: [number, string][] = [
  [CF, 'CF'], [PF, 'PF'], [AF, 'AF'], [ZF, 'ZF'], [SF, 'SF'], [DF, 'DF'], [OF, 'OF'],
];

export const REG_NAMES = [
  'RAX', 'RCX', 'RDX', 'RBX', 'RSP', 'RBP', 'RSI', 'RDI',
  'R8', 'R9', 'R10', 'R11', 'R12', 'R13', 'R14', 'R15',
];

/** One test input: one instruction and the state it starts from. */
export interface Case {
  code: Uint8Array;
  /** 16 general registers as unsigned 64-bit values (RSP included) */
  regs: bigint[];
  /** status flags and DF */
  flags: number;
  /** the first MEMSZ bytes of the scratch page */
  mem: Uint8Array;
  /** status flags the manuals leave undefined for this case (not compared after completion) */
  undef: number;
  /** register bits whose value is undefined for this case (after completion): [reg, mask] */
  ignoreRegs: [number, bigint][];
  /** a byte range of the scratch window whose contents are undefined (after completion) */
  ignoreMem: [number, number] | null;
  /** register bits and memory an Intel host sets differently (masks.ts, HOST_QUIRKS) */
  quirkRegs: [number, bigint][];
  quirkMem: [number, number] | null;
  /** why something is masked, for messages */
  note: string;
  /**
   * FP state (fx.ts): a 512-byte FXSAVE image loaded before the instruction and compared after
   * it, or null for forms without FP state (those run in the harness's plain mode)
   */
  fx: Uint8Array | null;
  /** image fields not compared for this case (masks.ts says why) */
  fxIgnore: FxIgnore;
}

/** What happened: the instruction completed (and RIP says where it went) or it faulted. */
export interface Outcome {
  /** -1 completed; else the exception vector */
  vector: number;
  /** completed: RIP after the instruction; fault: RIP of the faulting instruction */
  rip: number;
  regs: bigint[];
  flags: number;
  mem: Uint8Array;
  /** bytes of the scratch pages outside the window that ended up nonzero */
  outside: number;
  /** a description when the run ended some other way (emulator budget, harness trouble) */
  other: string;
  /** FP state after the instruction or at the fault (FXSAVE image), for cases with `fx` */
  fx: Uint8Array | null;
}

export const VECTOR_NAMES: Record<number, string> = {
  0: '#DE', 1: '#DB', 3: '#BP', 4: '#OF', 5: '#BR', 6: '#UD', 7: '#NM', 10: '#TS', 11: '#NP',
  12: '#SS', 13: '#GP', 14: '#PF', 16: '#MF', 17: '#AC', 18: '#MC', 19: '#XM',
};
