/**
 * A decoded instruction: plain numbers, filled once by the decoder and cached per physical
 * address, then read by one handler per execution. Every instance has the same shape (all fields
 * set in the constructor) so handler call sites stay monomorphic.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Exec = (cpu: any, i: Insn) => void;

/** Prefixes seen; of F2 and F3 only the last one is kept. */
export const enum Pfx {
  Lock = 1,
  Rep = 2, // F3 (REP / REPE)
  Repne = 4, // F2
  OpSize = 8, // 66
  AddrSize = 16, // 67
  Seg = 32, // an effective segment override
  Rex = 64,
}

/** Base-register value meaning "RIP-relative" (the next instruction's address). */
export const BASE_RIP = 16;

export class Insn {
  /** handler, chosen from the table row */
  exec: Exec;
  /*
   * The run loop's fields first (exec, len, bits, cost, hits, blk): declared in this order,
   * they share the object's first cache line (most of the boot's interpreted instructions are
   * cold code, whose decoded instructions are not in the cache).
   */
  len = 0;
  /** code size the instruction was decoded for: 16, 32 or 64 */
  bits = 32;
  /** cost in cycles, filled by the cost model */
  cost = 1;
  /**
   * block compiler (src/cpu/jit): fetches counted here, and the block compiled at this
   * instruction (`n` its instruction count; 0: nothing compilable here, the interpreter runs it)
   */
  hits = 0;
  blk: { readonly n: number } | null = null;
  /** index of the table row in INSNS, -1 when the encoding is not decodable */
  row = -1;
  /** effective operand size in bytes: 1, 2, 4 or 8 */
  opsize = 4;
  /** effective address size in bytes: 2, 4 or 8 */
  adsize = 4;
  /** ModRM.reg (with REX.R), or the register in the opcode (with REX.B) */
  reg = 0;
  /** register r/m (with REX.B), or -1 for a memory operand */
  rm = -1;
  /** the same registers with byte-register numbering: 16..19 are AH, CH, DH, BH */
  reg8 = 0;
  rm8 = -1;
  /** raw ModRM byte, -1 if none */
  modrm = -1;
  /** memory operand: base and index registers (-1 none, BASE_RIP for RIP-relative) */
  base = -1;
  index = -1;
  /** index scale as a shift count 0..3 */
  scale = 0;
  /** signed displacement */
  disp = 0;
  /** segment register of the memory operand (0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS) */
  seg = 3;
  /** first immediate, sign- or zero-extended to 64 bits as lo/hi halves */
  imm = 0;
  immHi = 0;
  /** second immediate (ENTER's nesting level, a far pointer's selector) */
  imm2 = 0;
  /** Pfx bits */
  pfx = 0;
  /** REX byte (0 if none) */
  rex = 0;
  /** the table row's argument (ALU operation, condition code, ...) */
  arg = 0;
  /** the table row's flags */
  flags = 0;
  /**
   * 0 if decodable; else the exception the instruction raises: 6 (#UD) or 13 (#GP, longer
   * than 15 bytes). `claimed` says whether the encoding is one the table describes.
   */
  fault = 0;
  claimed = true;
  /** the cost-ledger entry (src/cost/ledger.ts), filled when the CPU keeps a ledger */
  ledger = 0;
  /** the decoded handler when `exec` is a breakpoint wrapper (lab tools), else the same */
  orig: Exec;

  constructor(exec: Exec) {
    this.exec = exec;
    this.orig = exec;
  }
}
