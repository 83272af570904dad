/**
 * JavaScript source for one block (jit.ts): the instructions in order, each either inlined
 * (the common integer forms, emitted below to do exactly what their handler does) or a direct
 * call of its handler with the block's own copy of the decoded instruction.
 *
 * Inside a block the retired-instruction count and the cycle counter are kept in locals
 * (`ic0 + k`, `cy`) and written back to the CPU before anything that can read them or fault (a
 * handler call, a memory access) and at every exit, so what a fault, a device or the run loop
 * sees is what the interpreter would show. RIP and ripStart are written back the same way. The
 * cycle counter advances one instruction at a time (`cy += cost`), in the interpreter's order,
 * so it is the same number to the last bit whatever the costs are.
 *
 * Only numbers are ever placed in the source: register numbers, immediates, displacements,
 * RIPs, lengths and costs from the decoder and the cost table (`num` rejects anything else).
 */

import type { Insn } from '../../x86/insn.js';
import { BASE_RIP } from '../../x86/insn.js';
import { Kind, execName } from './kinds.js';
import { ea } from '../operands.js';
import { read32, read64, write32, write64, readN, writeN } from '../mmu.js';
import { push, pop } from '../stack.js';
import { cond, PARITY } from '../flags.js';
import { raise } from '../fault.js';
import { fastRead, fastWrite } from './fastmem.js';
import { memInline64, stackInline64, byteReg, setByteReg, add64To, PAGE_VARS, INVALIDATE } from './gen-mem.js';
import { INSNS } from '../../x86/table.js';

/** helpers the generated code calls (passed in, never looked up by name from guest data) */
/** flags.ts cond on a block's local copy of RFLAGS and the lazy-flag state */
function condL(f: number, lr: number, lrh: number, ls: number, cc: number): boolean {
  let zf: boolean;
  let sf: boolean;
  switch (ls) {
    case 0: zf = (f & 0x40) !== 0; sf = (f & 0x80) !== 0; break;
    case 1: zf = (lr & 0xff) === 0; sf = (lr & 0x80) !== 0; break;
    case 2: zf = (lr & 0xffff) === 0; sf = (lr & 0x8000) !== 0; break;
    case 4: zf = lr === 0; sf = lr < 0; break;
    default: zf = (lr | lrh) === 0; sf = lrh < 0; break;
  }
  const of = (f & 0x800) !== 0;
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = (f & 1) !== 0; break;
    case 2: r = zf; break;
    case 3: r = (f & 1) !== 0 || zf; break;
    case 4: r = sf; break;
    case 5: r = ls === 0 ? (f & 0x4) !== 0 : PARITY[lr & 0xff] === 1; break;
    case 6: r = sf !== of; break;
    default: r = zf || sf !== of; break;
  }
  return (cc & 1) === 0 ? r : !r;
}

/** a fallback from an inlined form: the block's state written back, then the handler */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function slowCall(c: any, h: (c: any, d: Insn) => void, d: Insn, ic: number, cy: number, rs: number, nx: number, f: number, lr: number, lrh: number, ls: number): void {
  c.icount = ic; c.cycles = cy; c.ripStart = rs; c.rip = nx;
  c.flags = f; c.lazyRes = lr; c.lazyResHi = lrh; c.lazySize = ls;
  h(c, d);
}

export const RUNTIME = { slowCall, condL, ea, read32, read64, write32, write64, readN, writeN, push, pop, cond, raise, fastRead, fastWrite };

/** a number as JavaScript source; anything that is not a finite number is refused */
export function num(x: number): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`jit: not a finite number: ${String(x)}`);
  return x < 0 || Object.is(x, -0) ? `(${x})` : `${x}`;
}

/** an integer register number 0..15 as source */
function reg(r: number): string {
  if (!Number.isInteger(r) || r < 0 || r > 15) throw new Error(`jit: bad register ${String(r)}`);
  return `${r}`;
}

const enum Alu { ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7 }

export class GenCtx {
  /** lazy-flag size set by the last inlined flag writer of this block (0: unknown) */
  lazyKnown = 0;
  /**
   * RFLAGS and the lazy-flag state are in the block's locals (F, LR, LRH, LS) rather than in the
   * CPU: they are written back before anything that can look (a handler, an exit) and read
   * again after a handler ran.
   */
  fl = true;
  /** the block loops on itself (its last instruction branches back to its start) */
  selfLoop = false;
  /**
   * Every cost is an integer: then, with an integer cycle counter, the sums are exact and one
   * test at entry (`cy + costBefore < dl`) stands for the test before every instruction.
   */
  intCosts = true;
  /** the cost of every instruction but the last */
  costBefore = 0;
  /** the self-loop goes round inside its last instruction's code (no tail test needed) */
  inlineLoop = false;

  /** write the flags back to the CPU if the locals hold them */
  store(): string {
    return this.fl ? 'c.flags = F; c.lazyRes = LR; c.lazyResHi = LRH; c.lazySize = LS;' : '';
  }

  /** the counters, RIP and flags written back as they stand before instruction k (at RIP `rs`) */
  sync(k: number, rs: number, nx: number): string {
    return `${sync(k, rs, nx)} ${this.store()}`;
  }

  /** before an inlined instruction that writes the flags: the locals must hold RFLAGS */
  flagOp(size: number): string {
    this.lazyKnown = size;
    if (this.fl) return '';
    this.fl = true;
    return 'F = c.flags;';
  }

  /** the test that the cycle deadline must be checked before each instruction (see intCosts) */
  chkExpr(): string {
    return this.intCosts ? `!(Math.floor(cy) === cy && cy + ${num(this.costBefore)} < dl)` : 'true';
  }

  constructor(readonly rip: number, readonly bits: number, readonly insns: Insn[]) {}

  /** the whole factory body: constants, then the block function */
  source(body: string[]): string {
    const n = this.insns.length;
    const pre: string[] = ['"use strict";'];
    for (let k = 0; k < n; k++) pre.push(`const d${k} = I[${k}], h${k} = H[${k}];`);
    pre.push('const slowCall = rt.slowCall, condL = rt.condL, ea = rt.ea, read32 = rt.read32, read64 = rt.read64, write32 = rt.write32, write64 = rt.write64, readN = rt.readN, writeN = rt.writeN, push = rt.push, pop = rt.pop, cond = rt.cond, raise = rt.raise, fastRead = rt.fastRead, fastWrite = rt.fastWrite;');
    const fn: string[] = [];
    // chk: the cycle deadline must be tested before each instruction (see intCosts)
    const chk = this.chkExpr();
    fn.push('return function block(c, end) {');
    fn.push('const rl = c.rl, rh = c.rh, g = c.codeGen, m32 = c.mem.i32, m8 = c.mem.u8;');
    fn.push(`let ic0 = c.icount, cy = c.cycles, dl = c.cycleDeadline, x = false, chk = ${chk};`);
    fn.push('let F = c.flags, LR = c.lazyRes, LRH = c.lazyResHi, LS = c.lazySize;');
    // the memory fast path's last read and write pages (gen-mem.ts rd, wr)
    fn.push(`const M = c.mem; ${PAGE_VARS}`);
    fn.push('let e = 0;');
    fn.push('ex: {');
    if (this.selfLoop) fn.push('for (;;) {');
    fn.push(...body);
    if (this.selfLoop && !this.inlineLoop) {
      fn.push(`if (c.rip !== ${num(this.rip)} || c.icount + ${n} > end || cy >= c.cycleDeadline || c.attention || c.stopReason !== 0 || c.codeGen !== g) return;`);
      fn.push(`ic0 += ${n}; dl = c.cycleDeadline; x = false; chk = ${chk};`);
    }
    if (this.selfLoop) fn.push('}');
    // the body's own end returns; a test that stops the block breaks out here, `e` naming the
    // last instruction retired
    fn.push('return;');
    fn.push('}');
    fn.push('c.icount = ic0 + e + 1; c.cycles = cy; c.ripStart = RS[e]; c.rip = NX[e]; c.flags = F; c.lazyRes = LR; c.lazyResHi = LRH; c.lazySize = LS;');
    fn.push('};');
    return pre.join('\n') + '\n' + fn.join('\n');
  }
}

const LOAD_FLAGS = 'F = c.flags; LR = c.lazyRes; LRH = c.lazyResHi; LS = c.lazySize;';

/** write the counters and RIP back as they stand before instruction k (at RIP `rs`) */
function sync(k: number, rs: number, nx: number): string {
  return `c.icount = ic0 + ${k}; c.cycles = cy; c.ripStart = ${num(rs)}; c.rip = ${num(nx)};`;
}

/** 64-bit mode register-to-register forms: the result of `op` on (a, ah), (b, bh) */
function aluBody(op: number, size: number, dst: string | null, a: string, ah: string, b: string, bh: string): string | null {
  const L: string[] = [];
  if (size === 1) {
    // byte operands: `a` and `b` are zero-extended bytes; `dst` (if any) takes the byte result
    // through its own assignment (the caller's), so only memory forms use this
    if (dst !== null) return null;
    L.push(`const a = ${a}, b = ${b};`);
    switch (op) {
      case Alu.ADD:
        L.push('const s = a + b, r = s & 0xff;');
        L.push('F = (F & ~0x811) | (s > 0xff ? 1 : 0) | ((a ^ b ^ r) & 0x10) | (((a ^ r) & (b ^ r) & 0x80) !== 0 ? 0x800 : 0);');
        break;
      case Alu.SUB: case Alu.CMP:
        L.push('const d = a - b, r = d & 0xff;');
        L.push('F = (F & ~0x811) | (d < 0 ? 1 : 0) | ((a ^ b ^ r) & 0x10) | (((a ^ b) & (a ^ r) & 0x80) !== 0 ? 0x800 : 0);');
        break;
      case Alu.AND: L.push('const r = a & b; F &= ~0x811;'); break;
      case Alu.OR: L.push('const r = a | b; F &= ~0x811;'); break;
      case Alu.XOR: L.push('const r = a ^ b; F &= ~0x811;'); break;
      default: return null;
    }
    L.push('LR = r; LRH = 0; LS = 1;');
    void ah; void bh;
    return L.join(' ');
  }
  if (size === 4) {
    L.push(`const a = ${a}, b = ${b};`);
    switch (op) {
      case Alu.ADD:
        L.push('const r = (a + b) | 0;');
        L.push('F = (F & ~0x811) | ((r >>> 0) < (b >>> 0) ? 1 : 0) | ((a ^ b ^ r) & 0x10) | (((a ^ r) & (b ^ r)) < 0 ? 0x800 : 0);');
        break;
      case Alu.SUB: case Alu.CMP:
        L.push('const r = (a - b) | 0;');
        L.push('F = (F & ~0x811) | ((a >>> 0) < (b >>> 0) ? 1 : 0) | ((a ^ b ^ r) & 0x10) | (((a ^ b) & (a ^ r)) < 0 ? 0x800 : 0);');
        break;
      case Alu.AND: L.push('const r = a & b; F &= ~0x811;'); break;
      case Alu.OR: L.push('const r = a | b; F &= ~0x811;'); break;
      case Alu.XOR: L.push('const r = a ^ b; F &= ~0x811;'); break;
      default: return null;
    }
    L.push('LR = r; LRH = 0; LS = 4;');
    if (dst !== null && op !== Alu.CMP) L.push(`rl[${dst}] = r; rh[${dst}] = 0;`);
    return L.join(' ');
  }
  if (size === 8) {
    L.push(`const a = ${a}, ah = ${ah}, b = ${b}, bh = ${bh};`);
    switch (op) {
      case Alu.ADD:
        // int32 halves only: the carry out of a half is an unsigned compare (a carry into the
        // high half makes it wrap exactly when that half's sum was all ones)
        L.push('const r = (a + b) | 0, c0 = (r >>> 0) < (b >>> 0) ? 1 : 0, t = (ah + bh) | 0, rh2 = (t + c0) | 0;');
        L.push('F = (F & ~0x811) | ((t >>> 0) < (bh >>> 0) || (c0 === 1 && rh2 === 0) ? 1 : 0) | ((a ^ b ^ r) & 0x10) | (((ah ^ rh2) & (bh ^ rh2)) < 0 ? 0x800 : 0);');
        break;
      case Alu.SUB: case Alu.CMP:
        L.push('const r = (a - b) | 0, b0 = (a >>> 0) < (b >>> 0) ? 1 : 0, t = (ah - bh) | 0, rh2 = (t - b0) | 0;');
        L.push('F = (F & ~0x811) | ((ah >>> 0) < (bh >>> 0) || (b0 === 1 && t === 0) ? 1 : 0) | ((a ^ b ^ r) & 0x10) | (((ah ^ bh) & (ah ^ rh2)) < 0 ? 0x800 : 0);');
        break;
      case Alu.AND: L.push('const r = a & b, rh2 = ah & bh; F &= ~0x811;'); break;
      case Alu.OR: L.push('const r = a | b, rh2 = ah | bh; F &= ~0x811;'); break;
      case Alu.XOR: L.push('const r = a ^ b, rh2 = ah ^ bh; F &= ~0x811;'); break;
      default: return null;
    }
    L.push('LR = r; LRH = rh2; LS = 8;');
    if (dst !== null && op !== Alu.CMP) L.push(`rl[${dst}] = r; rh[${dst}] = rh2;`);
    return L.join(' ');
  }
  return null;
}

/** INC/DEC of a register (CF kept; APM Vol. 3 INC, DEC) */
function incDecBody(dec: boolean, size: number, r: string): string | null {
  if (size === 4) {
    return dec
      ? `const a = rl[${r}], d = (a >>> 0) - 1, x = d | 0; F = (F & ~0x810) | ((a ^ 1 ^ x) & 0x10) | (((a ^ 1) & (a ^ x)) < 0 ? 0x800 : 0); LR = x; LRH = 0; LS = 4; rl[${r}] = x; rh[${r}] = 0;`
      : `const a = rl[${r}], s = (a >>> 0) + 1, x = s | 0; F = (F & ~0x810) | ((a ^ 1 ^ x) & 0x10) | (((a ^ x) & (1 ^ x)) < 0 ? 0x800 : 0); LR = x; LRH = 0; LS = 4; rl[${r}] = x; rh[${r}] = 0;`;
  }
  if (size === 8) {
    return dec
      ? `const a = rl[${r}], ah = rh[${r}], d = (a >>> 0) - 1, x = d | 0, dh = (ah >>> 0) - (d < 0 ? 1 : 0), xh = dh | 0; F = (F & ~0x810) | ((a ^ 1 ^ x) & 0x10) | ((ah & (ah ^ xh)) < 0 ? 0x800 : 0); LR = x; LRH = xh; LS = 8; rl[${r}] = x; rh[${r}] = xh;`
      : `const a = rl[${r}], ah = rh[${r}], s = (a >>> 0) + 1, x = s | 0, sh = (ah >>> 0) + (s > 0xffffffff ? 1 : 0), xh = sh | 0; F = (F & ~0x810) | ((a ^ 1 ^ x) & 0x10) | (((ah ^ xh) & xh) < 0 ? 0x800 : 0); LR = x; LRH = xh; LS = 8; rl[${r}] = x; rh[${r}] = xh;`;
  }
  return null;
}

/** a condition code as an expression, using what the block knows of the lazy flags */
function condExpr(ctx: GenCtx, cc: number): string {
  const known = ctx.lazyKnown;
  const [f, lr, lrh] = ctx.fl ? ['F', 'LR', 'LRH'] : ['c.flags', 'c.lazyRes', 'c.lazyResHi'];
  let zf: string | null = null;
  let sf: string | null = null;
  if (known === 1) { zf = `((${lr} & 0xff) === 0)`; sf = `((${lr} & 0x80) !== 0)`; }
  else if (known === 4) { zf = `(${lr} === 0)`; sf = `(${lr} < 0)`; }
  else if (known === 8) { zf = `((${lr} | ${lrh}) === 0)`; sf = `(${lrh} < 0)`; }
  let r: string | null;
  switch (cc >> 1) {
    case 0: r = `((${f} & 0x800) !== 0)`; break;
    case 1: r = `((${f} & 1) !== 0)`; break;
    case 2: r = zf; break;
    case 3: r = zf === null ? null : `((${f} & 1) !== 0 || ${zf})`; break;
    case 4: r = sf; break;
    case 6: r = sf === null ? null : `(${sf} !== ((${f} & 0x800) !== 0))`; break;
    case 7: r = zf === null ? null : `(${zf} || ${sf} !== ((${f} & 0x800) !== 0))`; break;
    default: r = null;
  }
  if (r === null) return ctx.fl ? `condL(F, LR, LRH, LS, ${cc})` : `cond(c, ${cc})`;
  return (cc & 1) === 0 ? r : `!${r}`;
}

/** a near-branch target as the handler computes it; null when it would fault (left to the handler) */
export function nearTarget(size: number, t: number): number | null {
  if (size === 8) return t < -0x800000000000 || t >= 0x800000000000 ? null : t;
  return size === 4 ? t >>> 0 : t & 0xffff;
}

/**
 * Source for instruction k at RIP `rs` (next RIP `nx`); `last`: the block's final instruction;
 * `follow`: for a branch inside the block (jit.ts traceOn), the RIP where the block goes on.
 */
export function emitInsn(ctx: GenCtx, k: number, i: Insn, rs: number, nx: number, kind: Kind, last: boolean, follow: number | null): string {
  const L: string[] = [`// ${k}`];
  if (k > 0) L.push(`if (chk && cy >= dl) { e = ${k - 1}; break ex; }`);
  const name = execName(i);
  if (follow !== null) {
    // a JMP the trace follows: nothing but its cost (the next instruction is at its target); a
    // Jcc the trace follows through its fall-through: leave the block when it is taken
    const t = nearTarget(i.opsize, nx + i.imm);
    if (t === null || (name !== 'jmpRel' && name !== 'jcc')) throw new Error('jit: a followed branch without a target');
    if (name === 'jmpRel') {
      L.push(`cy += ${num(i.cost)};`);
      return L.join('\n');
    }
    L.push(`{ const tk = ${condExpr(ctx, i.arg)}; cy += ${num(i.cost)};`);
    L.push(`if (tk) { c.icount = ic0 + ${k + 1}; c.cycles = cy; c.ripStart = ${num(rs)}; c.rip = ${num(t)}; ${ctx.store()} return; } }`);
    return L.join('\n');
  }
  const target = last && (name === 'jcc' || name === 'jmpRel') ? nearTarget(i.opsize, nx + i.imm) : null;
  if (target !== null && target === ctx.rip && ctx.bits === 64) {
    // a block that branches back to its own start: go round again without returning while
    // the loop would do nothing else in between (nothing can have changed the run state, the
    // deadline or the code since the last check: only the fallbacks can, and they check)
    const n = ctx.insns.length;
    ctx.selfLoop = true;
    ctx.inlineLoop = true;
    const tk = name === 'jmpRel' ? 'true' : condExpr(ctx, i.arg);
    L.push(`{ const tk = ${tk}; cy += ${num(i.cost)};`);
    L.push(`if (tk && ic0 + ${2 * n} <= end && cy < dl) { ic0 += ${n}; chk = ${ctx.chkExpr()};${ctx.fl ? '' : ` ${LOAD_FLAGS}`} continue; }`);
    L.push(`c.icount = ic0 + ${n}; c.cycles = cy; c.ripStart = ${num(rs)}; c.rip = tk ? ${num(target)} : ${num(nx)}; ${ctx.store()} return; }`);
    return L.join('\n');
  }
  const inl = ctx.bits === 64 ? inline64(ctx, k, i, rs, nx) : null;
  if (inl !== null) {
    L.push(`{ ${inl} }`);
    L.push(`cy += ${num(i.cost)};`);
  } else {
    L.push(ctx.sync(k, rs, nx));
    // PAUSE's non-throwing intercept (svm/icpt.ts icptInsn) takes back the count and cost the
    // run loop adds after a handler: the world has switched, so end the block as the loop would
    // go on (count and cost added, nothing of the block's state written over the host's)
    const undo = name === 'pause' ? ` if (c.icount !== ic0 + ${k}) { c.icount++; c.cycles += ${num(i.cost)}; return; }` : '';
    L.push(`h${k}(c, d${k});${undo} ${LOAD_FLAGS} ${INVALIDATE}`);
    L.push(`cy += ${num(i.cost)};`);
    ctx.lazyKnown = 0;
  }
  if (last) {
    // the block ends: counters and RIP as the loop expects them
    L.push(`c.icount = ic0 + ${k + 1}; c.cycles = cy; c.ripStart = ${num(rs)}; ${ctx.store()}`);
    if (inl !== null && kind !== Kind.Branch) L.push(`c.rip = ${num(nx)};`);
    if (target !== null && target === ctx.rip) ctx.selfLoop = true;
  } else if (kind === Kind.Mem) {
    // after a handler that may have touched memory (inlined forms: only if they fell back to it)
    const check = `if (c.attention || c.stopReason !== 0 || c.codeGen !== g) { e = ${k}; break ex; } dl = c.cycleDeadline; chk = true;`;
    L.push(inl !== null ? `if (x) { x = false; ${check} }` : check);
  }
  return L.join('\n');
}

/**
 * SHL/SAL, SHR, SAR of a 32- or 64-bit register by a constant count (C1 /op ib, D1 /op), as
 * shift.ts does it: the masked count known here, a zero count changing nothing but a 32-bit
 * register's upper half; CF the last bit shifted out, OF as shift.ts defines it for every
 * count, AF = 0, SF/ZF/PF lazy from the result. null for anything else (rotates, CL counts).
 */
function shiftBody(i: Insn, size: number): { src: string; flags: boolean } | null {
  if (i.rm < 0 || (size !== 4 && size !== 8)) return null;
  const op = i.arg;
  if (op !== 4 && op !== 5 && op !== 6 && op !== 7) return null;
  const ops = INSNS[i.row].ops;
  const src = ops.length > 0 ? ops[ops.length - 1] : '';
  if (src === 'CL') return null;
  const n = (src === '1' ? 1 : i.imm) & (size === 8 ? 63 : 31);
  if (!Number.isInteger(n)) return null;
  const r = reg(i.rm);
  if (n === 0) return { src: size === 4 ? `rh[${r}] = 0;` : '', flags: false };
  const fl = (cf: string, of: string) => `F = (F & ~0x811) | (${cf}) | ((${of}) << 11);`;
  if (size === 4) {
    switch (op) {
      case 5: return { flags: true, src: `const a = rl[${r}], x = (a >>> ${n}) | 0; ${fl(`(a >>> ${n - 1}) & 1`, '((x >>> 31) ^ (x >>> 30)) & 1')} LR = x; LRH = 0; LS = 4; rl[${r}] = x; rh[${r}] = 0;` };
      case 7: return { flags: true, src: `const a = rl[${r}], x = a >> ${n}; ${fl(`(a >> ${n - 1}) & 1`, '0')} LR = x; LRH = 0; LS = 4; rl[${r}] = x; rh[${r}] = 0;` };
      default: return { flags: true, src: `const a = rl[${r}], x = a << ${n}, cf = (a >>> ${32 - n}) & 1; ${fl('cf', '((x >>> 31) & 1) ^ cf')} LR = x; LRH = 0; LS = 4; rl[${r}] = x; rh[${r}] = 0;` };
    }
  }
  // 64-bit: (hi:lo) shifted by n in 1..63, the halves computed for this n
  const L = [`const lo = rl[${r}], hi = rh[${r}];`];
  if (op === 5 || op === 7) {
    const cf = n - 1 < 32 ? `(lo >>> ${n - 1}) & 1` : `(hi >>> ${n - 33}) & 1`;
    if (n < 32) L.push(`const x = (lo >>> ${n}) | (hi << ${32 - n}), xh = ${op === 5 ? `(hi >>> ${n}) | 0` : `hi >> ${n}`};`);
    else L.push(`const x = ${op === 5 ? `(hi >>> ${n - 32}) | 0` : `hi >> ${n - 32}`}, xh = ${op === 5 ? '0' : 'hi >> 31'};`);
    L.push(fl(cf, op === 5 ? '((xh >>> 31) ^ (xh >>> 30)) & 1' : '0'));
  } else {
    const k = 64 - n;
    const cf = k < 32 ? `(lo >>> ${k}) & 1` : `(hi >>> ${k - 32}) & 1`;
    if (n < 32) L.push(`const x = lo << ${n}, xh = (hi << ${n}) | (lo >>> ${32 - n});`);
    else L.push(`const x = 0, xh = lo << ${n - 32};`);
    L.push(`const cf = ${cf};`, fl('cf', '(xh >>> 31) ^ cf'));
  }
  L.push(`LR = x; LRH = xh; LS = 8; rl[${r}] = x; rh[${r}] = xh;`);
  return { src: L.join(' '), flags: true };
}

/** the lazy-flag size an inlined ALU op leaves (for condExpr) */
function aluLazy(op: number, size: number): number {
  return op === Alu.ADC || op === Alu.SBB ? 0 : size;
}

/**
 * Inline forms for 64-bit mode. Returns null for anything not inlined (the handler is called).
 * Inlined forms here never fault and touch only registers and flags, except where they write
 * the counters back first (memory forms).
 */
function inline64(ctx: GenCtx, k: number, i: Insn, rs: number, nx: number): string | null {
  const name = execName(i);
  const size = i.opsize;
  const regForm = i.rm >= 0;
  // the fallback of the memory forms: state written back, the handler called
  const slow = `x = true; slowCall(c, h${k}, d${k}, ic0 + ${k}, cy, ${num(rs)}, ${num(nx)}, F, LR, LRH, LS); ${LOAD_FLAGS} ${INVALIDATE}`;
  const mem = memInline64(i, k, nx, slow, aluBody, (sz) => ctx.flagOp(sz));
  if (mem !== null) return mem;
  if (name === 'pushZ' || name === 'popZ' || name === 'callRel' || name === 'retNear') {
    const st = stackInline64(i, nx, slow, name === 'callRel' ? nearTarget(8, nx + i.imm) : null);
    if (st !== null) return st;
  }
  switch (name) {
    case 'nop':
      return '';
    case 'movZI':
      if (size === 4) return `rl[${reg(i.reg)}] = ${num(i.imm | 0)}; rh[${reg(i.reg)}] = 0;`;
      if (size === 8) return `rl[${reg(i.reg)}] = ${num(i.imm | 0)}; rh[${reg(i.reg)}] = ${num(i.immHi | 0)};`;
      return null;
    case 'movEI':
      if (!regForm) return null;
      if (size === 4) return `rl[${reg(i.rm)}] = ${num(i.imm | 0)}; rh[${reg(i.rm)}] = 0;`;
      if (size === 8) return `rl[${reg(i.rm)}] = ${num(i.imm | 0)}; rh[${reg(i.rm)}] = ${num(i.immHi | 0)};`;
      return null;
    case 'movEG': case 'movGE': {
      const g = reg(i.reg);
      if (regForm) {
        const [d, s] = name === 'movEG' ? [reg(i.rm), g] : [g, reg(i.rm)];
        if (size === 4) return `rl[${d}] = rl[${s}]; rh[${d}] = 0;`;
        if (size === 8) return `rl[${d}] = rl[${s}]; rh[${d}] = rh[${s}];`;
        return null;
      }
      return null;
    }
    case 'lea': {
      if (size !== 4 && size !== 8) return null;
      const d = reg(i.reg);
      if (i.adsize === 8) {
        const L: string[] = [`let l = ${num(i.disp | 0)}, h = ${num((i.disp | 0) >> 31)};`];
        if (i.base >= 0) {
          if (i.base === BASE_RIP) {
            // the next instruction's RIP, a constant of the block
            L.push(add64To('l', 'h', num(nx | 0), num(Math.floor(nx / 4294967296) | 0)));
          } else {
            L.push(add64To('l', 'h', `rl[${reg(i.base)}]`, `rh[${reg(i.base)}]`));
          }
        }
        if (i.index >= 0) {
          const x = reg(i.index);
          const sc = i.scale;
          if (sc < 0 || sc > 3) return null;
          L.push(sc === 0
            ? add64To('l', 'h', `rl[${x}]`, `rh[${x}]`)
            : `{ const xl0 = rl[${x}], xh = (rh[${x}] << ${sc}) | (xl0 >>> ${32 - sc}), xl = xl0 << ${sc}; ${add64To('l', 'h', 'xl', 'xh')} }`);
        }
        L.push(size === 8 ? `rl[${d}] = l; rh[${d}] = h;` : `rl[${d}] = l; rh[${d}] = 0;`);
        return L.join(' ');
      }
      if (i.adsize === 4) {
        let e = `${num(i.disp | 0)}`;
        if (i.base >= 0) e += i.base === BASE_RIP ? ` + ${num(nx | 0)}` : ` + rl[${reg(i.base)}]`;
        if (i.index >= 0) e += ` + (rl[${reg(i.index)}] << ${i.scale & 3})`;
        return `rl[${d}] = (${e}) | 0; rh[${d}] = 0;`;
      }
      return null;
    }
    case 'movzx': case 'movsx': {
      // register source (a byte register by its byte number, or a word); move.ts
      if (!regForm || (size !== 4 && size !== 8)) return null;
      const ss = i.arg;
      const g = reg(i.reg);
      let v: string;
      if (ss === 1) v = byteReg(i.rm8);
      else if (ss === 2) v = `(rl[${reg(i.rm)}] & 0xffff)`;
      else return null;
      if (name === 'movsx') v = ss === 1 ? `((${v} << 24) >> 24)` : `((${v} << 16) >> 16)`;
      return `{ const v = ${v}; rl[${g}] = v; rh[${g}] = ${name === 'movsx' && size === 8 ? 'v >> 31' : '0'}; }`;
    }
    case 'movsxd': {
      if (!regForm || (size !== 4 && size !== 8)) return null;
      const g = reg(i.reg);
      return `{ const v = rl[${reg(i.rm)}]; rl[${g}] = v; rh[${g}] = ${size === 8 ? 'v >> 31' : '0'}; }`;
    }
    case 'shift': {
      const body = shiftBody(i, size);
      if (body === null) return null;
      // a zero count changes no flag (shiftBody leaves them alone)
      return body.flags ? `${ctx.flagOp(size)} ${body.src}` : body.src;
    }
    case 'aluEG': case 'aluGE': case 'aluAI': case 'aluEI': case 'testEG': case 'testEI': case 'testAI': {
      if (size === 1) {
        // byte register forms: the operands zero-extended bytes, a result written back by byte
        const test = name.startsWith('test');
        const op = test ? Alu.AND : i.arg;
        let a: string; let b: string; let dst: number;
        if (name === 'aluAI' || name === 'testAI') { dst = 0; a = byteReg(0); b = num(i.imm & 0xff); }
        else {
          if (!regForm) return null;
          const e = i.rm8;
          const gg = i.reg8;
          if (name === 'aluEG' || name === 'testEG') { dst = e; a = byteReg(e); b = byteReg(gg); }
          else if (name === 'aluGE') { dst = gg; a = byteReg(gg); b = byteReg(e); }
          else { dst = e; a = byteReg(e); b = num(i.imm & 0xff); }
        }
        const body = aluBody(op, 1, null, a, '0', b, '0');
        if (body === null) return null;
        const write = test || op === Alu.CMP ? '' : ` ${setByteReg(dst, 'r')}`;
        return `${ctx.flagOp(1)} ${body}${write}`;
      }
      if (size !== 4 && size !== 8) return null;
      const test = name.startsWith('test');
      const op = test ? Alu.AND : i.arg;
      let dst: string | null;
      let a: string; let ah: string; let b: string; let bh: string;
      const immLo = num(i.imm | 0);
      const immHi = size === 8 ? num(i.immHi | 0) : '0';
      if (name === 'aluAI' || name === 'testAI') {
        dst = '0'; a = 'rl[0]'; ah = 'rh[0]'; b = immLo; bh = immHi;
      } else {
        if (!regForm) return null;
        const e = reg(i.rm);
        const gg = reg(i.reg);
        if (name === 'aluEG' || name === 'testEG') { dst = e; a = `rl[${e}]`; ah = `rh[${e}]`; b = `rl[${gg}]`; bh = `rh[${gg}]`; }
        else if (name === 'aluGE') { dst = gg; a = `rl[${gg}]`; ah = `rh[${gg}]`; b = `rl[${e}]`; bh = `rh[${e}]`; }
        else { dst = e; a = `rl[${e}]`; ah = `rh[${e}]`; b = immLo; bh = immHi; }
      }
      if (test) dst = null;
      const body = aluBody(op, size, dst, a, ah, b, bh);
      if (body === null) return null;
      return `${ctx.flagOp(aluLazy(op, size))} ${body}`;
    }
    case 'incDecZ': case 'incDecE': {
      const r = name === 'incDecZ' ? i.reg : i.rm;
      if (name === 'incDecE' && !regForm) return null;
      const body = incDecBody(i.arg === 1, size, reg(r));
      if (body === null) return null;
      return `${ctx.flagOp(size)} ${body}`;
    }
    case 'jcc': case 'jmpRel': {
      const t = nearTarget(i.opsize, nx + i.imm);
      if (t === null) return null;
      if (name === 'jmpRel') return `c.rip = ${num(t)};`;
      return `c.rip = ${condExpr(ctx, i.arg)} ? ${num(t)} : ${num(nx)};`;
    }
    default:
      return null;
  }
}
