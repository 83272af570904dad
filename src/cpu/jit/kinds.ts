/**
 * Which decoded instructions a compiled block may hold, by the table row's handler name.
 *
 * A block holds only instructions whose handler changes nothing but general registers, XMM
 * registers, RFLAGS' arithmetic flags, RIP and memory: no mode, CS, paging, RFLAGS.TF/IF,
 * interrupt shadow, cycle or run-state change, and no SVM intercept. Everything else (string
 * instructions, system instructions, x87, SSE floating point, POPF, ...) ends the block and
 * runs in the interpreter.
 */

import { INSNS } from '../../x86/table.js';
import type { Insn } from '../../x86/insn.js';

export const enum Kind {
  /** not allowed in a block */
  No = 0,
  /** registers and flags only: cannot touch memory (it may still fault, e.g. #DE) */
  Reg = 1,
  /** may read or write memory: the block checks for events and code writes after it */
  Mem = 2,
  /** a near control transfer: ends the block (after it, RIP is wherever it went) */
  Branch = 3,
}

/** PUSHF reads RFLAGS (the block writes its flags back before any handler) and writes the stack */
const ALWAYS_MEM = new Set(['pushZ', 'popZ', 'pushE', 'popE', 'pushI', 'pushSeg', 'pusha', 'popa', 'leave', 'movAO', 'movOA', 'pushf']);
const MODRM_FORMS = new Set([
  'aluEG', 'aluGE', 'aluEI', 'testEG', 'testEI', 'incDecE', 'neg', 'not',
  'movEG', 'movGE', 'movEI', 'movzx', 'movsx', 'movsxd',
  'shift', 'shld', 'mulDiv', 'imul2', 'imul3', 'btG', 'btI', 'bitScan', 'popcnt',
  'xchgEG', 'xadd', 'cmpxchg', 'cmpxchg8b', 'setcc', 'cmov',
  // SSE integer and move forms: their handlers change only XMM registers, a general register
  // (MOVD/MOVQ to one) or memory, and raise #UD/#NM/#GP like any handler (the Linux boot ran
  // 6 M of them interpreted, in blocks cut around them: blake2s, the crc and xor helpers)
  'pInt', 'pShiftI', 'pShuf', 'sseLoad', 'sseStore', 'sseMovdLoad', 'sseMovdStore', 'sseMovq',
]);
/**
 * RDTSC/RDTSCP read the cycle counter (the block writes it back before any handler) and may
 * fault or take a throwing intercept; PAUSE may take the guest's non-throwing PAUSE intercept
 * (svm/icpt.ts icptInsn), which gen.ts detects after the call (the instruction did not retire).
 */
const REG_ONLY = new Set(['aluAI', 'testAI', 'incDecZ', 'movZI', 'lea', 'nop', 'bswap', 'xchgZA', 'cbw', 'cwd', 'flagOp', 'cmc', 'sahf', 'lahf', 'rdtsc', 'rdtscp', 'pause']);
const BRANCH = new Set(['jcc', 'jmpRel', 'callRel', 'callInd', 'jmpInd', 'retNear', 'loop', 'jcxz']);

/** the class of each table row */
const ROW_KIND = new Uint8Array(INSNS.length);
INSNS.forEach((s, k) => {
  if (BRANCH.has(s.exec)) ROW_KIND[k] = Kind.Branch;
  else if (ALWAYS_MEM.has(s.exec)) ROW_KIND[k] = Kind.Mem;
  else if (MODRM_FORMS.has(s.exec)) ROW_KIND[k] = Kind.Mem; // refined per instruction below
  else if (REG_ONLY.has(s.exec)) ROW_KIND[k] = Kind.Reg;
});
const ROW_MODRM = new Uint8Array(INSNS.length);
INSNS.forEach((s, k) => { if (MODRM_FORMS.has(s.exec)) ROW_MODRM[k] = 1; });

/** the handler name of a decoded instruction's row ('' when not decodable) */
export function execName(i: Insn): string {
  return i.row < 0 ? '' : INSNS[i.row].exec;
}

/** the block class of one decoded instruction */
export function kindOf(i: Insn): Kind {
  if (i.row < 0 || i.fault !== 0) return Kind.No;
  const k = ROW_KIND[i.row] as Kind;
  // a ModRM form with a register operand touches no memory
  if (k === Kind.Mem && ROW_MODRM[i.row] === 1 && i.rm >= 0) return Kind.Reg;
  return k;
}
