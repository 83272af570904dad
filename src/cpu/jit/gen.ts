/**
 * JavaScript source for one block (jit.ts): the instructions in order, each either inlined
 * (the common integer forms, emitted below to do exactly what their handler does) or a direct
 * call of its handler with the block's own copy of the decoded instruction.
 *
 * Inside a block the retired-instruction count and the cycle counter are kept in locals
 * (`ic0 + k`, `cy`) and written back to the CPU before anything that can read them or fault (a
 * handler call, a memory access) and at every exit, so what a fault, a device or the run loop
 * sees is what the interpreter would show. RIP and ripStart are written back the same way, and
 * so are the guest registers and flags the block keeps in locals (ctx.ts). With a fractional
 * cost the cycle counter advances one instruction at a time (`cy += cost`), in the
 * interpreter's order, so it is the same number to the last bit; with integer costs it is the
 * round's start plus a constant (exact: ctx.ts `fast`).
 *
 * Only numbers are ever placed in the source: register numbers, immediates, displacements,
 * RIPs, lengths and costs from the decoder and the cost table (`num` rejects anything else).
 */

import type { Insn } from '../../x86/insn.js';
import { BASE_RIP } from '../../x86/insn.js';
import { Kind, execName, kindOf } from './kinds.js';
import { PARITY } from '../flags.js';
import { imulOverflow64 } from '../exec/muldiv.js';
import { fastMiss } from './fastmem.js';
import { memInline64, stackInline64, byteReg, setByteReg, add64To } from './gen-mem.js';
import { GenCtx, num, reg, carry32, borrow32, carryIn32, borrowIn32, regsWritten, WB, RLD, INVALIDATE, ROUND, type Pend } from './ctx.js';
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

export const RUNTIME = { condL, fastMiss, imulOv: imulOverflow64 };
/** their names, as a block's source binds them (ctx.ts source: only those it calls) */
export const RUNTIME_NAMES: readonly string[] = Object.keys(RUNTIME);

const enum Alu { ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7 }

const LOAD_FLAGS = 'F = c.flags; LR = c.lazyRes; LRH = c.lazyResHi; LS = c.lazySize;';

/**
 * Where an inlined flag writer puts CF, AF and OF (`mask` of them; each part an expression of
 * the writer's local names `vars`, the flag at its RFLAGS position): into F at once (eager), or
 * left pending in the block's context (deferred: ctx.ts). Returns the source to put there.
 */
export type FlagSink = (mask: number, size: number, parts: { cf: string; af: string; of: string }, vars: string[]) => string;

/** the flags computed into F where the writer runs */
export function eagerSink(ctx: GenCtx): FlagSink {
  return (mask, size, parts) => {
    ctx.eager(mask, size);
    const xs: string[] = [];
    if (mask & 1) xs.push(parts.cf);
    if (mask & 0x10) xs.push(parts.af);
    if (mask & 0x800) xs.push(parts.of);
    return xs.every((v) => v === '0') ? `F &= ~${mask};` : `F = (F & ~${mask}) | ${xs.join(' | ')};`;
  };
}

/** the flags of instruction k left pending (it cannot fault: nothing can look before a later point) */
function deferSink(ctx: GenCtx, k: number): FlagSink {
  return (mask, size, parts, vars) => ctx.defer(k, mask, size, parts, vars);
}

/**
 * The ALU forms on (a, ah), (b, bh): the result `r` (and `rh2`), LR/LRH/LS, `dst` (if any)
 * written, and CF/AF/OF handed to `fl` (eager or deferred). Byte operands: `a` and `b` are
 * zero-extended bytes and `dst` must be null (the caller writes the byte).
 */
function aluBody(op: number, size: number, dst: string | null, a: string, ah: string, b: string, bh: string, fl: FlagSink): string | null {
  const L: string[] = [];
  const zero = { cf: '0', af: '0', of: '0' };
  const logic = op === Alu.AND || op === Alu.OR || op === Alu.XOR;
  const sym = op === Alu.AND ? '&' : op === Alu.OR ? '|' : '^';
  if (size === 1) {
    if (dst !== null) return null;
    L.push(`const a = ${a}, b = ${b};`);
    if (op === Alu.ADD) {
      L.push('const s = a + b, r = s & 0xff;');
      L.push(fl(0x811, 1, { cf: '(s >>> 8)', af: '((a ^ b ^ r) & 0x10)', of: '(((a ^ r) & (b ^ r) & 0x80) << 4)' }, ['a', 'b', 's', 'r']));
    } else if (op === Alu.SUB || op === Alu.CMP) {
      L.push('const d = a - b, r = d & 0xff;');
      L.push(fl(0x811, 1, { cf: '(d >>> 31)', af: '((a ^ b ^ r) & 0x10)', of: '(((a ^ b) & (a ^ r) & 0x80) << 4)' }, ['a', 'b', 'd', 'r']));
    } else if (logic) {
      L.push(`const r = a ${sym} b;`, fl(0x811, 1, zero, []));
    } else return null;
    L.push('LR = r; LRH = 0; LS = 1;');
    void ah; void bh;
    return L.join(' ');
  }
  if (size === 4) {
    L.push(`const a = ${a}, b = ${b};`);
    if (op === Alu.ADD) {
      L.push('const r = (a + b) | 0;');
      L.push(fl(0x811, 4, { cf: carry32('b', 'r'), af: '((a ^ b ^ r) & 0x10)', of: '((((a ^ r) & (b ^ r)) >>> 20) & 0x800)' }, ['a', 'b', 'r']));
    } else if (op === Alu.SUB || op === Alu.CMP) {
      L.push('const r = (a - b) | 0;');
      L.push(fl(0x811, 4, { cf: borrow32('a', 'b'), af: '((a ^ b ^ r) & 0x10)', of: '((((a ^ b) & (a ^ r)) >>> 20) & 0x800)' }, ['a', 'b', 'r']));
    } else if (logic) {
      L.push(`const r = a ${sym} b;`, fl(0x811, 4, zero, []));
    } else return null;
    L.push('LR = r; LRH = 0; LS = 4;');
    if (dst !== null && op !== Alu.CMP) L.push(`rl[${dst}] = r; rh[${dst}] = 0;`);
    return L.join(' ');
  }
  if (size === 8) {
    L.push(`const a = ${a}, ah = ${ah}, b = ${b}, bh = ${bh};`);
    if (op === Alu.ADD) {
      // int32 halves only, no branch (ctx.ts carry32); the high half's carry out has a carry in
      L.push(`const r = (a + b) | 0, c0 = ${carry32('b', 'r')}, rh2 = (((ah + bh) | 0) + c0) | 0;`);
      L.push(fl(0x811, 8, { cf: carryIn32('ah', 'bh', 'rh2'), af: '((a ^ b ^ r) & 0x10)', of: '((((ah ^ rh2) & (bh ^ rh2)) >>> 20) & 0x800)' }, ['a', 'b', 'r', 'bh', 'ah', 'rh2']));
    } else if (op === Alu.SUB || op === Alu.CMP) {
      L.push(`const r = (a - b) | 0, b0 = ${borrow32('a', 'b')}, rh2 = (((ah - bh) | 0) - b0) | 0;`);
      L.push(fl(0x811, 8, { cf: borrowIn32('ah', 'bh', 'rh2'), af: '((a ^ b ^ r) & 0x10)', of: '((((ah ^ bh) & (ah ^ rh2)) >>> 20) & 0x800)' }, ['a', 'b', 'r', 'ah', 'bh', 'rh2']));
    } else if (logic) {
      L.push(`const r = a ${sym} b, rh2 = ah ${sym} bh;`, fl(0x811, 8, zero, []));
    } else return null;
    L.push('LR = r; LRH = rh2; LS = 8;');
    if (dst !== null && op !== Alu.CMP) L.push(`rl[${dst}] = r; rh[${dst}] = rh2;`);
    return L.join(' ');
  }
  return null;
}

/** INC/DEC of a register (CF kept; APM Vol. 3 INC, DEC): AF and OF to `fl` */
function incDecBody(dec: boolean, size: number, r: string, fl: FlagSink): string | null {
  if (size === 4) {
    return dec
      ? `const a = rl[${r}], x = (a - 1) | 0; ${fl(0x810, 4, { cf: '0', af: '((a ^ 1 ^ x) & 0x10)', of: '((((a ^ 1) & (a ^ x)) >>> 20) & 0x800)' }, ['a', 'x'])} LR = x; LRH = 0; LS = 4; rl[${r}] = x; rh[${r}] = 0;`
      : `const a = rl[${r}], x = (a + 1) | 0; ${fl(0x810, 4, { cf: '0', af: '((a ^ 1 ^ x) & 0x10)', of: '((((a ^ x) & (1 ^ x)) >>> 20) & 0x800)' }, ['a', 'x'])} LR = x; LRH = 0; LS = 4; rl[${r}] = x; rh[${r}] = 0;`;
  }
  if (size === 8) {
    return dec
      ? `const a = rl[${r}], ah = rh[${r}], x = (a - 1) | 0, xh = (ah - ((~a & x) >>> 31)) | 0; ${fl(0x810, 8, { cf: '0', af: '((a ^ 1 ^ x) & 0x10)', of: '(((ah & (ah ^ xh)) >>> 20) & 0x800)' }, ['a', 'x', 'ah', 'xh'])} LR = x; LRH = xh; LS = 8; rl[${r}] = x; rh[${r}] = xh;`
      : `const a = rl[${r}], ah = rh[${r}], x = (a + 1) | 0, xh = (ah + ((a & ~x) >>> 31)) | 0; ${fl(0x810, 8, { cf: '0', af: '((a ^ 1 ^ x) & 0x10)', of: '((((ah ^ xh) & xh) >>> 20) & 0x800)' }, ['a', 'x', 'ah', 'xh'])} LR = x; LRH = xh; LS = 8; rl[${r}] = x; rh[${r}] = xh;`;
  }
  return null;
}

/**
 * A condition code as [statements first, expression], using what the block knows of the lazy
 * flags and taking CF and OF from a pending writer's operands (ctx.bit); anything else computes
 * every pending flag first and asks condL.
 */
function condExpr(ctx: GenCtx, cc: number): [string, string] {
  const known = ctx.lazyKnown;
  let zf: string | null = null;
  let sf: string | null = null;
  if (known === 1) { zf = '((LR & 0xff) === 0)'; sf = '((LR & 0x80) !== 0)'; }
  else if (known === 4) { zf = '(LR === 0)'; sf = '(LR < 0)'; }
  else if (known === 8) { zf = '((LR | LRH) === 0)'; sf = '(LRH < 0)'; }
  let r: string | null;
  switch (cc >> 1) {
    case 0: r = ctx.bit(0x800); break;
    case 1: r = ctx.bit(1); break;
    case 2: r = zf; break;
    case 3: r = zf === null ? null : `(${ctx.bit(1)} || ${zf})`; break;
    case 4: r = sf; break;
    case 6: r = sf === null ? null : `(${sf} !== ${ctx.bit(0x800)})`; break;
    case 7: r = zf === null ? null : `(${zf} || ${sf} !== ${ctx.bit(0x800)})`; break;
    default: r = null;
  }
  if (r === null) return [ctx.flush(), `condL(F, LR, LRH, LS, ${cc})`];
  return ['', (cc & 1) === 0 ? r : `!${r}`];
}

/** a near-branch target as the handler computes it; null when it would fault (left to the handler) */
export function nearTarget(size: number, t: number): number | null {
  if (size === 8) return t < -0x800000000000 || t >= 0x800000000000 ? null : t;
  return size === 4 ? t >>> 0 : t & 0xffff;
}

/** two pending-flag lists name the same writers and flags */
function samePend(a: Pend[], b: Pend[]): boolean {
  return a.length === b.length && a.every((p, j) => p.k === b[j].k && p.mask === b[j].mask);
}

/**
 * Source for instruction k at RIP `rs` (next RIP `nx`); `last`: the block's final instruction;
 * `follow`: for a branch inside the block (jit.ts traceOn), the RIP where the block goes on
 * (a Jcc's fall-through or its target, a JMP's target).
 */
export function emitInsn(ctx: GenCtx, k: number, i: Insn, rs: number, nx: number, kind: Kind, last: boolean, follow: number | null): string {
  const L: string[] = [`// ${k}`];
  const fast = ctx.fast;
  // not fast: the deadline before every instruction while it is near (ctx.ts)
  if (k > 0 && !fast) L.push(`if (chk && cy >= dl) ${ctx.brk(k - 1)}`);
  const addCost = fast ? '' : `cy += ${num(i.cost)};`;
  const name = execName(i);
  if (follow !== null) {
    // a JMP the trace follows: nothing but its cost (the next instruction is at its target); a
    // Jcc the trace follows through its fall-through (leave the block when it is taken) or
    // through its target (leave when it is not)
    const t = nearTarget(i.opsize, nx + i.imm);
    if (t === null || (name !== 'jmpRel' && name !== 'jcc')) throw new Error('jit: a followed branch without a target');
    if (name === 'jmpRel') {
      if (addCost !== '') L.push(addCost);
      return L.join('\n');
    }
    const [pre, cnd] = condExpr(ctx, i.arg);
    const taken = follow !== nx;
    L.push(`${pre} { const tk = ${cnd}; ${addCost}`);
    L.push(`if (${taken ? '!tk' : 'tk'}) { c.icount = ic0 + ${k + 1}; c.cycles = ${ctx.cyAt(k + 1)}; c.ripStart = ${num(rs)}; c.rip = ${num(taken ? nx : t)}; ${ctx.store()} ${WB} return; } }`);
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
    const [pre, tk] = name === 'jmpRel' ? ['', 'true'] : condExpr(ctx, i.arg);
    // the flags still pending go round with the block (ctx.ts `pk`) when the second pass
    // started with exactly these pending; otherwise they are computed here
    const same = ctx.loopPend !== null && samePend(ctx.pend, ctx.loopPend);
    const carry = ctx.pend.length === 0 ? '' : same ? ' pk = true;' : ` ${ctx.matText()} pk = false;`;
    ctx.bottom = ctx.pend.map((p) => ({ ...p }));
    const cont = fast
      ? `cy += ${num(ctx.pre[n])}; if (tk && ic0 <= endR && cy + ${num(ctx.costBefore)} < dl) { ic0 += ${n};${carry} ${ROUND} }`
      : `cy += ${num(i.cost)}; if (tk && ic0 <= endR && cy < dl) { ic0 += ${n}; chk = ${ctx.chkExpr()};${carry} ${ROUND} }`;
    L.push(`${pre} { const tk = ${tk}; ${cont}`);
    L.push(`c.icount = ic0 + ${n}; c.cycles = cy; c.ripStart = ${num(rs)}; c.rip = tk ? ${num(target)} : ${num(nx)}; ${ctx.store()} ${WB} return; }`);
    return L.join('\n');
  }
  const inl = ctx.bits === 64 ? inline64(ctx, k, i, nx) : null;
  if (inl !== null) {
    // a register the kept effective address read was written: forget it (an inlined form's
    // fallback runs the same instruction: it writes what the inlined source writes)
    const w = regsWritten(inl);
    if (ctx.ea.regs.some((r) => w.has(r))) ctx.ea.key = null;
    L.push(`{ ${inl} }`);
    if (addCost !== '') L.push(addCost);
  } else {
    L.push(`c.icount = ic0 + ${k}; c.cycles = ${ctx.cyAt(k)}; c.ripStart = ${num(rs)}; c.rip = ${num(nx)}; ${ctx.flush()} c.flags = F; c.lazyRes = LR; c.lazyResHi = LRH; c.lazySize = LS; ${WB}`);
    // PAUSE's non-throwing intercept (svm/icpt.ts icptInsn) takes back the count and cost the
    // run loop adds after a handler: the world has switched, so end the block as the loop would
    // go on (count and cost added, nothing of the block's state written over the host's)
    const undo = name === 'pause' ? ` if (c.icount !== ic0 + ${k}) { c.icount++; c.cycles += ${num(i.cost)}; return; }` : '';
    L.push(`h${k}(c, d${k});${undo} ${LOAD_FLAGS} ${INVALIDATE} ${RLD}`);
    ctx.handlers++;
    // the handler may have written any register or segment base
    ctx.ea.key = null;
    if (addCost !== '') L.push(addCost);
    ctx.lazyKnown = 0;
  }
  if (last) {
    // the block ends: counters and RIP as the loop expects them
    L.push(`c.icount = ic0 + ${k + 1}; c.cycles = ${ctx.cyAt(k + 1)}; c.ripStart = ${num(rs)}; ${ctx.store()} ${WB}`);
    if (inl !== null && kind !== Kind.Branch) L.push(`c.rip = ${num(nx)};`);
    if (target !== null && target === ctx.rip) ctx.selfLoop = true;
  } else if (kind === Kind.Mem) {
    // after a handler that may have touched memory: the loop's attention, a stop, a code
    // write, a deadline moved into this round (an inlined form's fast path can do none of
    // these; its fallback leaves the block)
    const dlTest = fast ? `dl = c.cycleDeadline; if (cy + ${num(ctx.costBefore)} >= dl) ${ctx.brk(k)}` : 'dl = c.cycleDeadline; chk = true;';
    const check = `if (c.attention || c.stopReason !== 0 || c.codeGen !== g) ${ctx.brk(k)} ${dlTest}`;
    if (inl === null) L.push(check);
  }
  return L.join('\n');
}

/**
 * Whether a MOV store to the same memory operand (the same segment, base, index, scale,
 * displacement and size) follows the load `i` (instruction k) within a few instructions, before
 * any branch: the load then tests the write page first (gen-mem.ts rdw; the CPU loop's
 * load, add, store of one quadword). Only a guess about the code: the store uses the load's
 * test only if the block still has that address then (EaMemo), and tests its page itself if not.
 */
function storesLater(ctx: GenCtx, k: number, i: Insn): boolean {
  if (execName(i) !== 'movGE' || i.rm >= 0 || i.base === BASE_RIP || (i.opsize !== 4 && i.opsize !== 8)) return false;
  for (let j = k + 1; j < ctx.insns.length && j <= k + 8; j++) {
    const s = ctx.insns[j];
    const name = execName(s);
    if ((name === 'movEG' || name === 'movEI') && s.rm < 0 && s.opsize === i.opsize && s.adsize === i.adsize && s.seg === i.seg
      && s.base === i.base && s.index === i.index && s.scale === i.scale && (s.disp | 0) === (i.disp | 0)) return true;
    if (kindOf(s) === Kind.Branch) return false;
  }
  return false;
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

/**
 * Inline forms for 64-bit mode. Returns null for anything not inlined (the handler is called).
 * Inlined forms here never fault and touch only registers and flags, except where they write
 * the counters back first (memory forms).
 */
function inline64(ctx: GenCtx, k: number, i: Insn, nx: number): string | null {
  const name = execName(i);
  const size = i.opsize;
  const regForm = i.rm >= 0;
  // the fallback of the memory forms: the block leaves before the instruction (pending flags
  // computed, the counters at its start) and the run loop runs it (fastmem.ts: a TLB miss, a
  // fault, MMIO, a code page, a page crossing). Nothing of the instruction has been done yet.
  const slow = ctx.before(k);
  const defer = deferSink(ctx, k);
  const memAlu = (op: number, sz: number, dst: string | null, a: string, ah: string, b: string, bh: string) =>
    aluBody(op, sz, dst, a, ah, b, bh, defer);
  const memo = { ...ctx.ea };
  const mem = memInline64(i, nx, slow, ctx.ea, memAlu, () => '', storesLater(ctx, k, i));
  if (mem === null) ctx.ea = memo;
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
      return body.flags ? `${ctx.eager(0x811, size)} ${body.src}` : body.src;
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
        const body = aluBody(op, 1, null, a, '0', b, '0', eagerSink(ctx));
        if (body === null) return null;
        const write = test || op === Alu.CMP ? '' : ` ${setByteReg(dst, 'r')}`;
        return `${body}${write}`;
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
      return aluBody(op, size, dst, a, ah, b, bh, deferSink(ctx, k));
    }
    case 'imul2': case 'imul3': {
      // IMUL Gv, Ev / IMUL Gv, Ev, imm with a register source (muldiv.ts imulTrunc): the
      // truncated product in int32 halves, CF = OF = the signed product does not fit (64-bit:
      // asked of muldiv.ts only when something looks), AF = 0, SF/ZF/PF lazy from the result
      if (!regForm || (size !== 4 && size !== 8)) return null;
      const g = reg(i.reg);
      const e = reg(i.rm);
      const [a, ah] = name === 'imul2' ? [`rl[${g}]`, `rh[${g}]`] : [`rl[${e}]`, `rh[${e}]`];
      const [b, bh] = name === 'imul2' ? [`rl[${e}]`, `rh[${e}]`] : [num(i.imm | 0), num(i.immHi | 0)];
      if (size === 4) {
        return `const a = ${a}, b = ${b}, r = Math.imul(a, b); ${deferSink(ctx, k)(0x811, 4, { cf: '(a * b !== r ? 1 : 0)', af: '0', of: '(a * b !== r ? 0x800 : 0)' }, ['a', 'b', 'r'])} LR = r; LRH = 0; LS = 4; rl[${g}] = r; rh[${g}] = 0;`;
      }
      // the low 64 bits: al*bl (its high word from 16-bit pieces, each product exact) + (al*bh + ah*bl) << 32
      return `const a = ${a}, ah = ${ah}, b = ${b}, bh = ${bh}; const r = Math.imul(a, b); ` +
        'const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16, t0 = a0 * b0, u = a1 * b0 + (t0 >>> 16), v = a0 * b1 + (u & 0xffff); ' +
        `const rh2 = (a1 * b1 + (u >>> 16) + (v >>> 16) + Math.imul(a, bh) + Math.imul(ah, b)) | 0; ${deferSink(ctx, k)(0x811, 8, { cf: '(imulOv(a, ah, b, bh) ? 1 : 0)', af: '0', of: '(imulOv(a, ah, b, bh) ? 0x800 : 0)' }, ['a', 'ah', 'b', 'bh'])} ` +
        `LR = r; LRH = rh2; LS = 8; rl[${g}] = r; rh[${g}] = rh2;`;
    }
    case 'incDecZ': case 'incDecE': {
      const r = name === 'incDecZ' ? i.reg : i.rm;
      if (name === 'incDecE' && !regForm) return null;
      return incDecBody(i.arg === 1, size, reg(r), deferSink(ctx, k));
    }
    case 'jcc': case 'jmpRel': {
      const t = nearTarget(i.opsize, nx + i.imm);
      if (t === null) return null;
      if (name === 'jmpRel') return `c.rip = ${num(t)};`;
      const [pre, cnd] = condExpr(ctx, i.arg);
      return `${pre} c.rip = ${cnd} ? ${num(t)} : ${num(nx)};`;
    }
    default:
      return null;
  }
}
