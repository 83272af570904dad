/**
 * The state of one block's code generation (gen.ts): where the block's values live, which
 * flags it has not computed yet, and how its counters are kept.
 *
 * - **Registers in locals.** The instruction sources name guest registers `rl[N]` / `rh[N]`
 *   (the int32 halves); `source()` turns every such name into a local of the block function
 *   (`rl$N`, `rh$N`), loaded once at entry. The written ones are stored back to the CPU (`WB`)
 *   before every handler call and at every exit; all of them are loaded again (`RLD`) after a
 *   handler ran.
 * - **Deferred flags.** A register-form ADD/SUB/CMP or INC/DEC (they never fault) does not
 *   compute CF, AF and OF: it keeps its operands in block locals (`f<k>_<name>`) and the block
 *   computes those flags only where something can look at them: before a handler call, on a
 *   memory form's fallback, at every exit, and for a condition that reads them (CF and OF are
 *   then tested straight from the operands). A later writer of the same flags drops them
 *   (INC/DEC keep CF: an earlier writer's CF stays pending). SF, ZF and PF stay lazy as before
 *   (LR, LRH, LS). A block that loops on itself carries what is pending at its back edge into
 *   the next round (`pk`: false on entry, true once the block went round).
 * - **Counters.** With every cost an integer (`fast`), `cy` is the cycle count at the start of
 *   the current round and the count before instruction k is `cy + pre[k]`: the same number as
 *   the interpreter's running sum (integers below 2^53 add exactly). Such a block is entered
 *   only when the cycle count is an integer and the deadline lies beyond the round's last
 *   instruction (jit.ts), so it tests the deadline once per round and after whatever may have
 *   moved it (a handler that touched memory). Otherwise (`fast` false) the block adds each cost
 *   in turn and tests the deadline before every instruction while it is near (`chk`).
 */

import type { Insn } from '../../x86/insn.js';
import type { EaMemo } from './gen-mem.js';

/** a flag writer's CF, AF and OF not computed yet */
export interface Pend {
  /** the writer's index in the block */
  k: number;
  /** the RFLAGS bits still pending (of 0x811) */
  mask: number;
  /** pending only if the block went round (`pk`): carried over its back edge */
  cond: boolean;
  /** each flag at its RFLAGS position, from the writer's saved operands */
  cf: string;
  af: string;
  of: string;
}

/** the source that stores back the written registers / loads all used registers again */
export const WB = '/*WB*/';
export const RLD = '/*RLD*/';
/** a self-loop's back edge: go round again (`source` makes it the right jump for each copy) */
export const ROUND = '/*ROUND*/';
/** around a kept page's miss (gen-mem.ts keptTest): the call of fastMiss and the keeping */
export const MISS = '/*MISS*/';
export const MISS_END = '/*SSIM*/';
const MISS_RE = /\/\*MISS\*\/[\s\S]*?\/\*SSIM\*\//g;
/** source with its misses' markers taken out (the misses kept) */
const unmark = (t: string) => t.split(MISS).join('').split(MISS_END).join('');

/** a number as JavaScript source; anything that is not a finite number is refused */
export function num(x: number): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`jit: not a finite number: ${String(x)}`);
  return x < 0 || Object.is(x, -0) ? `(${x})` : `${x}`;
}

/** an integer register number 0..15 as source */
export function reg(r: number): string {
  if (!Number.isInteger(r) || r < 0 || r > 15) throw new Error(`jit: bad register ${String(r)}`);
  return `${r}`;
}

/**
 * The carry out of bit 31 of the int32 sum `s` = a + `b`, as 0 or 1: the unsigned compare of
 * the sum with the operand `b`, made a number by unary plus (V8 compiles that to a flag set, no
 * branch; `cmp ? 1 : 0` compiles to a branch, which the host mispredicts half the time on
 * data-dependent carries: the CPU loop's ADD and LEA ran at half speed with it).
 */
export function carry32(b: string, s: string): string {
  return `(+((${s} >>> 0) < (${b} >>> 0)))`;
}

/** the borrow out of bit 31 of the int32 difference `a` - `b`, 0 or 1 (as carry32) */
export function borrow32(a: string, b: string): string {
  return `(+((${a} >>> 0) < (${b} >>> 0)))`;
}

/** the carry out of bit 31 of `s` = `a` + `b` + a carry in: a full adder's, (a & b) | ((a | b) & ~s) at bit 31 */
export function carryIn32(a: string, b: string, s: string): string {
  return `((((${a}) & (${b})) | (((${a}) | (${b})) & ~(${s}))) >>> 31)`;
}

/** the borrow out of bit 31 of `d` = `a` - `b` - a borrow in: (~a & b) | (~(a ^ b) & d) at bit 31 */
export function borrowIn32(a: string, b: string, d: string): string {
  return `(((~(${a}) & (${b})) | (~((${a}) ^ (${b})) & (${d}))) >>> 31)`;
}

/** the guest registers an instruction source assigns (`rl[N] = `, `rh[N] |= `, ...) */
export function regsWritten(text: string): Set<number> {
  const w = new Set<number>();
  for (const m of text.matchAll(/\br[lh]\[(\d+)\]\s*(?:\+|-|\||&|\^|<<|>>>|>>)?=(?!=)/g)) w.add(Number(m[1]));
  return w;
}

export class GenCtx {
  /** lazy-flag size set by the last inlined flag writer of this block (0: unknown) */
  lazyKnown = 0;
  /** the block loops on itself (its last instruction branches back to its start) */
  selfLoop = false;
  /** the self-loop goes round inside its last instruction's code (no tail test needed) */
  inlineLoop = false;
  /** flags computed later (see the file comment) */
  pend: Pend[] = [];
  /** what was pending at the back edge of a self-loop (null: no back edge emitted) */
  bottom: Pend[] | null = null;
  /** handler calls in the block's source */
  handlers = 0;
  /** the last effective address the block's straight-line path computed (gen-mem.ts) */
  ea: EaMemo = { key: null, regs: [], pw: 0 };
  /** declarations of the saved operands */
  private saved: string[] = [];
  /** cycles before each instruction of a round, from its start (pre[n]: the whole round) */
  readonly pre: number[];

  /**
   * `fast`: integer costs, counters as offsets from the round's start (see the file comment);
   * `loopPend`: what is pending at a self-loop's back edge (the second pass of jit.ts).
   */
  constructor(readonly rip: number, readonly bits: number, readonly insns: Insn[], readonly fast: boolean, readonly loopPend: Pend[] | null) {
    this.pre = [0];
    for (const i of insns) this.pre.push(this.pre[this.pre.length - 1] + i.cost);
    if (loopPend !== null) this.pend = loopPend.map((p) => ({ ...p, cond: true }));
  }

  /** the cycle count before instruction j (fast), or `cy` as the running sum stands */
  cyAt(j: number): string {
    if (!this.fast || this.pre[j] === 0) return 'cy';
    return `(cy + ${num(this.pre[j])})`;
  }

  /** the cost before the last instruction of the block */
  get costBefore(): number {
    return this.pre[this.insns.length - 1];
  }

  /** source computing every pending flag into F (the generator's state unchanged: an exit) */
  matText(): string {
    const L: string[] = [];
    for (const p of this.pend) {
      const parts: string[] = [];
      if (p.mask & 1) parts.push(p.cf);
      if (p.mask & 0x10) parts.push(p.af);
      if (p.mask & 0x800) parts.push(p.of);
      const s = `F = (F & ~${p.mask}) | ${parts.join(' | ')};`;
      L.push(p.cond ? `if (pk) { ${s} }` : s);
    }
    return L.join(' ');
  }

  /** source computing every pending flag into F here, on the block's main path */
  flush(): string {
    const s = this.matText();
    this.pend = [];
    return s;
  }

  /** a writer of the RFLAGS bits `mask` runs: earlier writers' pending bits there are dead */
  private drop(mask: number): void {
    for (const p of this.pend) p.mask &= ~mask;
    this.pend = this.pend.filter((p) => p.mask !== 0);
  }

  /** an inlined writer of `mask` computing them in F itself, leaving lazy size `size` */
  eager(mask: number, size: number): string {
    this.drop(mask);
    this.lazyKnown = size;
    return '';
  }

  /**
   * An inlined writer (instruction k) of `mask` that leaves its flags pending: `parts` are the
   * flags as expressions of its local names `vars`; returns the source that saves them.
   */
  defer(k: number, mask: number, size: number, parts: { cf: string; af: string; of: string }, vars: string[]): string {
    this.drop(mask);
    this.lazyKnown = size;
    const re = vars.length === 0 ? null : new RegExp(`\\b(${vars.join('|')})\\b`, 'g');
    const ren = (s: string) => (re === null ? s : s.replace(re, (v) => `f${k}_${v}`));
    for (const v of vars) {
      const d = `f${k}_${v} = 0`;
      if (!this.saved.includes(d)) this.saved.push(d);
    }
    this.pend.push({ k, mask, cond: false, cf: ren(parts.cf), af: ren(parts.af), of: ren(parts.of) });
    return vars.map((v) => `f${k}_${v} = ${v};`).join(' ');
  }

  /** CF (bit 0x1) or OF (0x800) as a boolean expression, from a pending writer if there is one */
  bit(b: 1 | 0x800): string {
    const fromF = `((F & ${b}) !== 0)`;
    for (const p of this.pend) {
      if ((p.mask & b) === 0) continue;
      const e = `((${b === 1 ? p.cf : p.of}) !== 0)`;
      return p.cond ? `(pk ? ${e} : ${fromF})` : e;
    }
    return fromF;
  }

  /** the flags written back to the CPU (an exit or a handler call: every pending flag first) */
  store(): string {
    return `${this.matText()} c.flags = F; c.lazyRes = LR; c.lazyResHi = LRH; c.lazySize = LS;`;
  }

  /**
   * Leave the block after instruction e (its state as it stands after it): pending flags
   * computed, the cycle count brought up to date, then the common exit (`break ex`).
   */
  brk(e: number): string {
    const cy = this.fast && this.pre[e + 1] !== 0 ? ` cy += ${num(this.pre[e + 1])};` : '';
    return `{ ${this.matText()}${cy} e = ${e}; break ex; }`;
  }

  /**
   * Leave the block before instruction k (an inlined memory form's fallback: nothing of it
   * done): pending flags computed, the cycle count as it stands before k; the common exit
   * with `e` = n + k (the count up to k, RIP and ripStart at k: RS and NX have 2n entries).
   */
  before(k: number): string {
    const cy = this.fast && this.pre[k] !== 0 ? ` cy += ${num(this.pre[k])};` : '';
    return `{ ${this.matText()}${cy} e = ${this.insns.length + k}; break ex; }`;
  }

  /** the whole factory body: constants, then the block function (`runtime`: the helpers' names, gen.ts RUNTIME) */
  source(body: string[], runtime: readonly string[]): string {
    const n = this.insns.length;
    const chk = this.chkExpr();
    // guest registers: every `rl[N]` / `rh[N]` of the instructions becomes a block local
    const split = this.inlineLoop && this.handlers === 0 && body.some((t) => t.includes(MISS));
    const text = split ? twoCopies(body) : unmark(body.join('\n')).split(ROUND).join('continue;');
    const used = new Set<number>();
    const written = regsWritten(text);
    for (const m of text.matchAll(/\br[lh]\[(\d+)\]/g)) used.add(Number(m[1]));
    const us = [...used].sort((a, b) => a - b);
    const ws = [...written].sort((a, b) => a - b);
    const wb = ws.map((r) => `RL[${r}] = rl$${r}; RH[${r}] = rh$${r};`).join(' ');
    const rld = us.map((r) => `rl$${r} = RL[${r}]; rh$${r} = RH[${r}];`).join(' ');
    let out = text
      .replace(/\br([lh])\[(\d+)\]/g, (_m, h: string, r: string) => `r${h}$${r}`)
      .split(WB).join(wb)
      .split(RLD).join(rld);
    // what the source does not need is not declared (less for the host to compile): a flag
    // writer's saved operands that no flag computation reads (a later writer dropped them),
    // the kept pages never used, constants never named
    const saved = this.saved.filter((d) => {
      const v = d.slice(0, d.indexOf(' '));
      const store = new RegExp(`\\b${v} = [\\w$]+; ?`, 'g');
      if (new RegExp(`\\b${v}\\b`).test(out.replace(store, ''))) return true;
      out = out.replace(store, '');
      return false;
    });
    // (a self-loop whose last instruction is a handler tests its round at the bottom)
    const bottom = this.selfLoop && !this.inlineLoop
      ? `if (c.rip !== ${num(this.rip)} || c.icount + ${n} > end || ${this.fast ? `c.cycles + ${num(this.costBefore)}` : 'cy'} >= c.cycleDeadline || c.attention || c.stopReason !== 0 || c.codeGen !== g) return;\n`
        + `ic0 += ${n}; dl = c.cycleDeadline;${this.fast ? ' cy = c.cycles;' : ` chk = ${chk};`}`
      : '';
    const uses = (name: string) => new RegExp(`\\b${name.replace('$', '\\$')}\\b`).test(`${out}\n${bottom}`);
    const pages = PAGES.filter((k) => uses(`${k}l`));
    out = out.split(INVALIDATE).join(pages.length === 0 ? '' : `if (PG.gen !== pg) { pg = PG.gen; ${pages.map((k) => `${k}l = 1;`).join(' ')} }`);

    const pre: string[] = ['"use strict";'];
    for (let k = 0; k < n; k++) {
      const ds = [uses(`d${k}`) ? `d${k} = I[${k}]` : '', uses(`h${k}`) ? `h${k} = H[${k}]` : ''].filter((x) => x !== '');
      if (ds.length > 0) pre.push(`const ${ds.join(', ')};`);
    }
    const rts = runtime.filter(uses);
    if (rts.length > 0) pre.push(`const ${rts.map((r) => `${r} = rt.${r}`).join(', ')};`);
    const fn: string[] = [];
    fn.push('return function block(c, end) {');
    const cs = ['RL = c.rl', 'RH = c.rh', 'g = c.codeGen', 'm32 = c.mem.i32', 'm8 = c.mem.u8'].filter((d) => d.startsWith('R') || uses(d.slice(0, d.indexOf(' '))));
    fn.push(`const ${cs.join(', ')};`);
    if (us.length > 0) fn.push(`let ${us.map((r) => `rl$${r} = RL[${r}], rh$${r} = RH[${r}]`).join(', ')};`);
    fn.push(`let ic0 = c.icount, cy = c.cycles, dl = c.cycleDeadline${this.fast ? '' : `, chk = ${chk}`};`);
    // a self-loop goes round again while another round fits the budget: ic0 + 2n <= end, the
    // budget turned into a number once here (the argument is a tagged value: tested in the
    // loop, it was unboxed every round)
    if (uses('endR')) fn.push(`const endR = end - ${2 * n};`);
    fn.push('let F = c.flags, LR = c.lazyRes, LRH = c.lazyResHi, LS = c.lazySize, pk = false;');
    if (saved.length > 0) fn.push(`let ${saved.join(', ')};`);
    // the kept pages (gen-mem.ts), as a block starts with them: none. A page address has its
    // low 12 bits clear, so `rpl = 1` matches no address (whatever its high half: a
    // non-canonical one too)
    if (uses('pg')) fn.push('const PG = c.paging; let pg = PG.gen;');
    if (pages.length > 0) fn.push(`let ${pages.map((k) => `${k}l = 1, ${k}h = 0, ${k}b = 0`).join(', ')};`);
    if (out.includes('ea$l')) fn.push('let ea$l = 0, ea$h = 0;');
    if (uses('pw')) fn.push('let pw = -1;');
    fn.push('let e = 0;');
    fn.push('ex: {');
    if (split) fn.push('let at$ = 0;');
    if (this.selfLoop) fn.push(split ? 'round: for (;;) {' : 'for (;;) {');
    fn.push(out);
    // (the last instruction was a handler: nothing pending, the registers as the CPU has them)
    if (bottom !== '') fn.push(bottom);
    if (this.selfLoop) fn.push('}');
    // the body's own end returns; a test that stops the block breaks out here, `e` naming the
    // last instruction retired (its break brought the cycle count up to date), or n + k for a
    // fallback that leaves before instruction k (`before`); true: it left before the first
    // (nothing ran, unless a self-loop went round before)
    fn.push('return;');
    fn.push('}');
    fn.push(`${wb} c.icount = ic0 + (e < ${n} ? e + 1 : e - ${n}); c.cycles = cy; c.ripStart = RS[e]; c.rip = NX[e]; c.flags = F; c.lazyRes = LR; c.lazyResHi = LRH; c.lazySize = LS; return e === ${n};`);
    fn.push('};');
    return pre.join('\n') + '\n' + fn.join('\n');
  }

  /** the test that the cycle deadline must be checked before each instruction (not `fast`) */
  chkExpr(): string {
    const ints = this.insns.every((i) => Number.isInteger(i.cost) && i.cost >= 0);
    return ints ? `!(Math.floor(cy) === cy && cy + ${num(this.costBefore)} < dl)` : 'true';
  }
}

/**
 * A self-loop's round twice, when its only calls are kept-page misses (gen-mem.ts keptTest):
 * a call anywhere in a loop makes the host's compiler forget what it knew at the loop's head
 * (every typed array's length and data pointer, loaded again at each access) and keeps more
 * values live across it. So the first copy of the round, entered at its start or, through a
 * switch on `at$`, at any instruction with a miss, calls fastMiss as usual; its back edge goes
 * on into the second copy, the same code without a call, which loops on itself and, when an
 * access misses its kept page, goes back to the first copy at that instruction (nothing of
 * the instruction done yet but what doing it again recomputes the same: its address, a flag
 * computation). The CPU loop ran in 0.25 s instead of 0.39 s (docs/jit.md).
 */
function twoCopies(body: string[]): string {
  const first = body.map((t, k) => (k > 0 && t.includes(MISS) ? `case ${k}:\n` : '') + unmark(t));
  const second = body.map((t, k) => t.replace(MISS_RE, `{ at$ = ${k}; continue round; }`));
  return `switch (at$) {\ncase 0:\n${first.join('\n').split(ROUND).join('break;')}\n}\nfor (;;) {\n${second.join('\n').split(ROUND).join('continue;')}\n}`;
}

/** the pages gen-mem.ts keeps: a memory operand's for reads and for writes, the stack's for both */
const PAGES = ['rp', 'wp', 'sp', 'sw'];
/**
 * After a handler call: the kept pages are forgotten if the TLB may have changed (Paging.gen:
 * a walk, a flush, INVLPG; `source` puts the test there for the pages the block keeps). Nothing else a block's handlers do can make a kept page wrong: they
 * change no mode, privilege, CR0/CR4, RFLAGS.AC, ASID, debug register or memory map (kinds.ts),
 * mark no page as holding code (only decoding does) and clear no dirty mark (only snapshots
 * do); a handler that switches worlds (PAUSE's intercept) ends the block before this, and one
 * that faults leaves it. (Forgetting them after every handler call made 29 M of the boot's
 * 63 M misses.)
 */
export const INVALIDATE = '/*INV*/';
