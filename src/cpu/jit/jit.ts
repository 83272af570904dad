/**
 * The block compiler: hot straight-line code becomes one JavaScript function per block.
 *
 * A block starts at an instruction the interpreter has fetched often enough (`THRESHOLD`
 * times) and runs on through the following instructions of the same 4 KiB page (decoded into
 * the page's cache as the interpreter would decode them: Cpu.decodeAhead) as a trace: through
 * a forward Jcc's fall-through (the block leaves by a side exit when it is taken) and to the
 * target of a JMP rel inside the page (traceOn), up to and including any other near branch, an
 * instruction that may not be in a block (kinds.ts), one that would cross into the next page,
 * the end of the page, or `MAX_INSNS`. Blocks hang off the interpreter's decoded-instruction
 * cache (the start instruction's `blk`), which is kept per physical page and dropped when the
 * page is written: a block lives exactly as long as the bytes it was built from. Its entry is
 * checked against RIP and the code size, so code mapped at two addresses or run in two modes
 * gets the right block (or none).
 *
 * What the interpreter's run loop does between two instructions, the block does too, or it
 * returns to the loop before the next instruction: the retired-instruction count and the
 * cycle counter advance by each instruction's own cost, in order; the budget is checked at
 * entry for the whole block and the cycle deadline as the loop tests it before every
 * instruction (with integer costs: once per round, the block running only while the deadline
 * is beyond the round; ctx.ts);
 * after every instruction that may access memory the block returns if something needs the
 * loop's attention (an event made pending by a device, a stop) or if a write hit decoded code
 * (`Cpu.codeGen`: self-modifying code, including the block's own page). A block is not
 * entered while the loop's attention flag is up (a held interrupt, an armed instruction
 * breakpoint, a pending #DB trap): that instruction runs alone in the interpreter. A fault inside an
 * instruction is precise: RIP, ripStart and the counters are those of the faulting
 * instruction, as in the interpreter. The loop enters blocks only with RFLAGS.TF clear, and no
 * instruction in a block can set it. Lab hooks (breakpoints, the GS-access hook, the cost
 * ledger, branch recording) wrap the decoded instructions' handlers; a wrapped instruction is
 * never put in a block, so the hooks see every instruction they saw before.
 *
 * Code generation embeds only numbers (RIPs, lengths, costs, decoded fields) in the source;
 * never text from the guest. (gen.ts says how each instruction is emitted.)
 */

import type { Cpu } from '../cpu.js';
import { Insn } from '../../x86/insn.js';
import { TWO32 } from '../state.js';
import { Kind, kindOf, execName } from './kinds.js';
import { emitInsn, RUNTIME, RUNTIME_NAMES, nearTarget } from './gen.js';
import { GenCtx, type Pend } from './ctx.js';

/**
 * Fetches of an instruction before a block is compiled at it, tuned on the Linux boot (745 M
 * instructions, CPU seconds of the whole process, 2 loaded cores; docs/jit.md): 8192: 19.9,
 * 32768: 17.3, 65536: 16.8, 131072: 15.3-15.8, 262144: 16.0; interpreted: 19.7. Each block is
 * a generated function the host parses, runs unoptimized for a while and then optimizes on a
 * background thread (1-20 ms of CPU each, counted in the process's CPU time), and a block that
 * runs a few thousand times does not earn that back; the kernel's hot paths (90 % of the
 * instructions run in blocks are in about 200 of them) reach this count early. Tight loops
 * (bench/cpu-loop.mjs, the sieve) reach it within a fraction of a second.
 */
export const THRESHOLD = 131072;
/** rounds per entry (roughly) for a self-loop to be compiled at the early trigger (compile) */
const EARLY_ROUNDS = 32;
/**
 * Where a self-loop compiled early goes when it ends (its fall-through, its last branch's
 * target, the side exits of its trace: promoteExits) is brought to this many fetches short of the threshold, and so on along the blocks
 * compiled there, PROMOTE_DEPTH blocks deep: the code around a hot inner loop (an outer loop's
 * few instructions between its entries) is compiled once it has run that many more times, and
 * the blocks chain into each other instead of the interpreter running the gaps (the CPU loop's
 * outer loop: 100,000 rounds, under the threshold).
 */
const PROMOTE_FETCHES = 256;
const PROMOTE_DEPTH = 3;
/** instructions promoted so (their depth along the chain; a cache: not machine state) */
const PROMOTED = new WeakMap<Insn, number>();
/** most instructions in one block */
export const MAX_INSNS = 48;
/**
 * A block whose entries leave at its first instruction's memory fallback (ctx.ts `before`: an
 * access the fast path never takes, as a write to a page that holds code) STALL_MIN times in a
 * row is dropped: the interpreter runs its first instruction, and the rest is compiled where
 * it starts if it runs often enough (one of the mini host's blocks left at once on all its
 * 87,906 entries). A TLB miss makes a block leave now and then (the interpreter walks, and the
 * next entry runs): in a row, not a share of the entries (the sieve's marking loop left on 16
 * of its first entries, each pass starting on a page out of the TLB, and was dropped when a
 * share counted: 1.4 M of its instructions went back to the interpreter).
 */
const STALL_MIN = 16;
/** most characters of instruction source in one block (the block ends at the instruction that passes it) */
const MAX_SOURCE = 8192;

/** true: it left before its first instruction (ctx.ts `before`): nothing ran if the count did not move */
export type BlockFn = (c: Cpu, end: number) => boolean | undefined;

export class Block {
  /** the variant that tests the deadline before every instruction (a `fast` block's, compiled when first needed) */
  checked: BlockFn | null = null;
  /** entries in a row (chained ones too) that left before the first instruction */
  stalls = 0;
  constructor(
    /** RIP and code size the block was compiled for */
    readonly rip: number,
    readonly bits: number,
    /** instructions in the block (0: nothing compilable here) */
    readonly n: number,
    readonly fn: BlockFn,
    /**
     * every cost an integer: `fn` keeps the cycle count as offsets from a round's start and
     * may run only when the count is an integer and the deadline lies beyond `costBefore`
     * from it (ctx.ts); otherwise `checked` runs
     */
    readonly fast = false,
    readonly costBefore = 0,
    /** compiles the checked variant */
    readonly mkChecked: (() => BlockFn) | null = null,
  ) {}

  /** the function to run now, or null if none can (the checked variant failed to compile) */
  pick(c: Cpu): BlockFn | null {
    if (!this.fast) return this.fn;
    const cy = c.cycles;
    if (Math.floor(cy) === cy && cy + this.costBefore < c.cycleDeadline) return this.fn;
    if (this.checked === null) {
      try {
        this.checked = this.mkChecked!();
      } catch {
        return null;
      }
    }
    return this.checked;
  }
}

/**
 * Whether a new CPU starts with the block compiler on, and its threshold (the CLI's --jit /
 * --no-jit and the equality test set these; Machine's `jit` option overrides per machine).
 * On by default: every suite agrees in both modes (test/jit-equal.test.ts, test/jit-diff.test.ts),
 * the Linux boot runs faster compiled and `verify --design all` about as fast (docs/jit.md).
 */
export const JIT_DEFAULTS = { on: true, threshold: THRESHOLD };

/** the block compiled where nothing can be compiled (the interpreter runs the instruction) */
const NONE = new Block(0, 0, 0, () => undefined);
/** not a loop on itself at the early count: wait for the threshold (Jit.trigger; never stored) */
const WAIT = new Block(-1, 0, 0, () => undefined);

type Factory = (I: Insn[], H: unknown[], rt: typeof RUNTIME, RS: Float64Array, NX: Float64Array) => BlockFn;
/** compiled block factories by their source (shared by every CPU; a cache, not machine state) */
const FACTORIES = new Map<string, Factory>();
/** the cache is emptied when its sources reach this many characters (random code in eager mode: ~20 KB a block) */
const MAX_FACTORY_CHARS = 16 << 20;
let factoryChars = 0;

/** false once the host refused to compile generated code (a CSP without 'unsafe-eval') */
let evalAllowed = true;

/** statistics (not machine state) */
export class JitStats {
  compiled = 0;
  entered = 0;
  declined = 0;
  /** instructions retired inside blocks */
  insns = 0;
  /** blocks whose generation or compilation failed (the interpreter runs them) */
  failed = 0;
  /** characters of generated source handed to the host's compiler (a reused factory: none) */
  sourceChars = 0;
  /** branches that compiled traces go on through (jit.ts traceOn) */
  followed = 0;
  /** entries (and chained entries) of an integer-cost block's checked variant (Block.pick) */
  checked = 0;
  /** entries that left at once, by the first instruction's memory fallback (ctx.ts `before`) */
  stalled = 0;
}

export class Jit {
  readonly stats = new JitStats();
  /**
   * The run loop does not count this many of its next fetches (of instructions without a
   * block): the interpreter is running the instructions of a block `enter` declined (a budget
   * that ends inside it, an event due), which would otherwise reach the threshold in the
   * middle of that block and be compiled again from there. verify's replays run to every
   * boundary, and so the mini host's blocks were compiled again from most of their
   * instructions, each entered a few dozen times (docs/jit.md).
   */
  quiet = 0;

  /**
   * The fetch count at which the run loop first offers an instruction to `enter` (and then at
   * the threshold and on): a sixteenth of the threshold (a block that loops on itself many
   * times per entry is compiled then: worth its compile time; anything else waits for the
   * threshold), or the threshold itself when it is small.
   */
  readonly trigger: number;

  /** `threshold`: fetches of an instruction before a block is compiled there (1: at once) */
  constructor(readonly threshold = THRESHOLD) {
    this.trigger = threshold >= 1024 ? threshold >> 4 : threshold;
  }

  /**
   * Compiling needs `new Function` (a page whose Content-Security-Policy forbids 'unsafe-eval'
   * refuses it): if it is refused, or anything else goes wrong, the instruction is marked as
   * having no block and the interpreter runs it, as it would with the compiler off.
   */
  private tryCompile(c: Cpu, insn: Insn, early: boolean): Block {
    if (!evalAllowed) return NONE;
    try {
      const b = compile(c, insn, this.stats, early, this.threshold);
      if (b !== WAIT && b !== NONE) this.stats.compiled++;
      return b;
    } catch (e) {
      this.stats.failed++;
      if (e instanceof EvalError) evalAllowed = false;
      return NONE;
    }
  }

  /**
   * The run loop fetched `insn` at RIP (events already handled, TF clear): run the block that
   * starts there if there is one and it fits the budget (`end`) and the cycle deadline. Returns
   * false if the interpreter should execute the instruction itself.
   */
  enter(c: Cpu, insn: Insn, end: number): boolean {
    // the loop calls this when the instruction has a block with instructions, or has just been
    // fetched for the threshold's time (it counts the fetches)
    let b = insn.blk as Block | null;
    if (b === null) {
      b = this.tryCompile(c, insn, insn.hits < this.threshold);
      // not a loop worth compiling early: the loop counts on and offers it again at the threshold
      if (b === WAIT) return false;
      insn.blk = b;
      if (b.n === 0) return false;
    } else if (b.rip !== c.rip || b.bits !== c.bits) {
      // the same bytes at another RIP or in another mode (the loop offers only blocks with
      // instructions, never NONE): start counting again
      insn.blk = null;
      insn.hits = 0;
      return false;
    }
    // something wants the loop at the next boundary (a held event, an armed instruction
    // breakpoint, a pending #DB): that instruction runs alone, in the interpreter
    let fn = c.attention || c.icount + b.n > end ? null : b.pick(c);
    if (fn === null) {
      this.stats.declined++;
      this.quiet = b.n;
      return false;
    }
    const st = this.stats;
    const i0 = c.icount;
    let chained = false;
    let head = insn;
    for (;;) {
      st.entered++;
      if (fn === b.checked) st.checked++;
      const ic = c.icount;
      if (fn(c, end) === true && c.icount === ic) {
        // a fallback at the block's first instruction (ctx.ts `before`) in its first round:
        // nothing ran; the loop runs that instruction (the first block's: say so; a chained
        // one's: the loop fetches it). (In a later round of a self-loop it is an exit like any)
        st.stalled++;
        if (++b.stalls >= STALL_MIN) head.blk = NONE;
        st.insns += c.icount - i0;
        return chained;
      }
      b.stalls = 0;
      // chain to the block at the new RIP when the loop would go straight there: the same
      // tests as the loop's top (run state, budget, deadline, attention) and its fetch's
      // fast paths (the same page or a recent one, an instruction decoded for this code size)
      if (c.stopReason !== 0 || c.attention || c.icount >= end || c.cycles >= c.cycleDeadline) break;
      const lin = c.bits === 64 ? c.rip : (c.segBase[1] + c.rip) % TWO32;
      let off = lin - c.fetchBase;
      if (off < 0 || off >= 4096) {
        // another page: the fetch's cache of recent pages (as fetchSlow would find it there;
        // 7 M of the boot's chains went back to the loop here)
        if (!c.fetchCached(lin)) break;
        off = lin - c.fetchBase;
      }
      const next = c.fetchArr[off];
      if (next === undefined || next.bits !== c.bits) break;
      const nb = next.blk as Block | null;
      if (nb === null || nb.n === 0 || nb.rip !== c.rip || nb.bits !== c.bits || c.icount + nb.n > end) break;
      const nf = nb.pick(c);
      if (nf === null) break;
      c.ripStart = c.rip;
      b = nb;
      fn = nf;
      head = next;
      chained = true;
    }
    // (instructions of a chain that ends in a fault are not counted: statistics only)
    st.insns += c.icount - i0;
    return true;
  }
}

/** a copy of a decoded instruction, owned by a block (the cache's may be decoded again in place) */
function cloneInsn(i: Insn): Insn {
  const n = new Insn(i.exec);
  Object.assign(n, i);
  n.hits = 0;
  n.blk = null;
  return n;
}

/**
 * Where a trace may go on after the near branch `i` at RIP `rip` (the next instruction at
 * `next`, page offset `off`), best first; empty if the block ends with it. A trace follows a
 * forward Jcc's fall-through (a taken branch leaves the block: a side exit) or, if that path
 * is not the one run (compile decides), its target inside the page (then the fall-through
 * leaves), and a JMP rel within the same page; never a branch back to the block's start (that
 * one ends the block, which then loops on itself), a backward Jcc (a loop's back edge: it ends
 * the block) or a target that the operand size truncates.
 */
function traceOn(i: Insn, rip: number, off: number, start: number): { rip: number; off: number }[] {
  const name = execName(i);
  if (name !== 'jcc' && name !== 'jmpRel') return [];
  const next = rip + i.len;
  const t = nearTarget(i.opsize, next + i.imm);
  if (t === null || t !== next + i.imm || t === start) return [];
  const o = off + i.len + i.imm;
  const target = o >= 0 && o < 4096 ? [{ rip: t, off: o }] : [];
  if (name === 'jcc') return i.imm > 0 ? [{ rip: next, off: off + i.len }, ...target] : [];
  return target;
}

/**
 * Bring the decoded instructions where a block may leave its page-cache page `arr` (RIP `rip0`
 * at offset 0) to PROMOTE_FETCHES short of the threshold: the fall-through at offset `off`, the
 * last near branch's target and the side exits of the Jcc its trace followed (the direction
 * not followed). Instructions not decoded yet, or already compiled or that close, are left.
 */
function promoteExits(arr: (Insn | undefined)[], first: Insn, rip0: number, insns: Insn[], rips: number[], conts: number[], off: number, depth: number, threshold: number): void {
  const exits = [off];
  for (let k = 0; k < insns.length; k++) {
    const name = execName(insns[k]);
    if (name !== 'jcc' && (name !== 'jmpRel' || k < insns.length - 1)) continue;
    const nx = rips[k] + insns[k].len;
    const t = nearTarget(insns[k].opsize, nx + insns[k].imm);
    if (t === null) continue;
    const other = conts[k] === nx ? t : nx;
    if (other !== conts[k]) exits.push(other - rip0);
  }
  for (const o of exits) {
    const x = o >= 0 && o < 4096 ? arr[o] : undefined;
    if (x === undefined || x === first || x.blk !== null || x.hits >= threshold - PROMOTE_FETCHES) continue;
    x.hits = threshold - PROMOTE_FETCHES;
    PROMOTED.set(x, depth);
  }
}

/** Compile the block starting at `first` (the instruction at RIP, fetched from the page cache). */
function compile(c: Cpu, first: Insn, stats: JitStats, early: boolean, threshold: number): Block {
  const arr = c.fetchArr;
  const lin = c.ripLinear();
  let off = lin - c.fetchBase;
  // only instructions from the page cache (not a page-crossing or uncacheable one)
  if (off < 0 || off >= 4096 || arr[off] !== first) return NONE;
  const bits = c.bits;
  const insns: Insn[] = [];
  const kinds: Kind[] = [];
  /** RIP of each instruction, and where the block goes on after it (a followed branch's target) */
  const rips: number[] = [];
  const conts: number[] = [];
  const start = c.rip;
  let rip = start;
  let followed = 0;
  for (;;) {
    const i = c.decodeAhead(off);
    if (i === undefined || i.bits !== bits || i.exec !== i.orig) break;
    if (off + i.len > 4096) break;
    const k = kindOf(i);
    if (k === Kind.No) break;
    const next = rip + i.len;
    // sequential execution past 2^32 outside 64-bit mode: left to the interpreter
    if (bits !== 64 && next >= TWO32) break;
    insns.push(cloneInsn(i));
    kinds.push(k);
    rips.push(rip);
    const full = insns.length >= MAX_INSNS;
    // only into code that has run about as often as the start (half its count: the path taken,
    // not one that never ran; with a threshold of 1 or 2, code that has run at all): a trace
    // through code never run would cost compile time for nothing (random code: long blocks at
    // every instruction)
    let on: { rip: number; off: number } | null = null;
    for (const to of k === Kind.Branch && !full ? traceOn(i, rip, off, start) : []) {
      const nx = c.decodeAhead(to.off);
      if (nx !== undefined && nx.hits >= (first.hits + 1) >> 1) { on = to; break; }
    }
    if (on !== null) {
      followed++;
      conts.push(on.rip);
      rip = on.rip;
      off = on.off;
      continue;
    }
    conts.push(next);
    rip = next;
    off += i.len;
    if (k === Kind.Branch || full || off >= 4096) break;
  }
  if (insns.length === 0) return NONE;
  if (early) {
    // before the threshold only a block that loops on itself (gen.ts emits it as a loop) and
    // goes round many times per entry: its start fetched EARLY_ROUNDS times as often as the
    // instruction after its last (where the loop is left), a guess at rounds per entry (a
    // short loop entered often would cost a compile for little: verify's replays have many)
    const l = insns[insns.length - 1];
    const name = execName(l);
    const loops = bits === 64 && (name === 'jcc' || name === 'jmpRel') && nearTarget(l.opsize, rips[rips.length - 1] + l.len + l.imm) === start;
    if (!loops) return WAIT;
    const exitOff = off;
    const after = exitOff < 4096 ? c.decodeAhead(exitOff) : undefined;
    if (after !== undefined && first.hits < EARLY_ROUNDS * after.hits) return WAIT;
  }
  stats.followed += followed;
  // the exits of an early self-loop, and of a block compiled where one was promoted, promoted
  const depth = early ? 1 : (PROMOTED.get(first) ?? PROMOTE_DEPTH) + 1;
  if (depth <= PROMOTE_DEPTH) promoteExits(arr, first, start - (lin - c.fetchBase), insns, rips, conts, off, depth, threshold);
  // the source of the first n instructions; the block is cut after the instruction that takes
  // it past MAX_SOURCE (a compile budget per block: random code in eager mode otherwise makes
  // a 20 KB function at nearly every instruction)
  // `fast`: counters as offsets from a round's start (ctx.ts); `loopPend`: the flags pending at
  // a self-loop's back edge (second pass); `budget`: cut the block at MAX_SOURCE
  const emit = (n: number, fast: boolean, loopPend: Pend[] | null, budget: boolean): { src: string; cut: number; bottom: Pend[] | null } => {
    const ctx = new GenCtx(start, bits, insns.slice(0, n), fast, loopPend);
    const body: string[] = [];
    let chars = 0;
    for (let k = 0; k < n; k++) {
      const i = insns[k];
      const last = k === n - 1;
      // a branch inside the block is one the trace follows (traceOn)
      const followed = !last && kinds[k] === Kind.Branch ? conts[k] : null;
      const text = emitInsn(ctx, k, i, rips[k], rips[k] + i.len, kinds[k], last, followed);
      chars += text.length;
      if (budget && chars > MAX_SOURCE && !last) return { src: '', cut: k + 1, bottom: null };
      body.push(text);
    }
    return { src: ctx.source(body, RUNTIME_NAMES), cut: -1, bottom: ctx.bottom };
  };
  // a self-loop is generated twice: the second time knowing what is pending at its back edge
  const gen = (fast: boolean, budget: boolean): string => {
    let r = emit(insns.length, fast, null, budget);
    if (r.cut > 0) {
      insns.length = r.cut;
      r = emit(r.cut, fast, null, false);
    }
    if (r.bottom !== null && r.bottom.length > 0) r = emit(insns.length, fast, r.bottom, false);
    return r.src;
  };
  const intCosts = insns.every((i) => Number.isInteger(i.cost) && i.cost >= 0);
  const make = (src: string): BlockFn => {
    // the same source again (the page was written and decoded anew, a snapshot was restored,
    // another CPU): reuse the compiled factory, so the host parses and compiles it only once
    let factory = FACTORIES.get(src);
    if (factory === undefined) {
      stats.sourceChars += src.length;
      factory = new Function('I', 'H', 'rt', 'RS', 'NX', src) as Factory;
      if (factoryChars + src.length > MAX_FACTORY_CHARS) { FACTORIES.clear(); factoryChars = 0; }
      FACTORIES.set(src, factory);
      factoryChars += src.length;
    }
    // RIP of each instruction and where the block goes on after it, for the exits (gen.ts)
    // (then again for the fallbacks that leave before an instruction: ctx.ts `before`)
    const rs = rips.slice(0, insns.length);
    return factory(insns, insns.map((i) => i.exec), RUNTIME, Float64Array.from([...rs, ...rs]), Float64Array.from([...conts.slice(0, insns.length), ...rs]));
  };
  const fn = make(gen(intCosts, true));
  if (!intCosts) return new Block(start, bits, insns.length, fn);
  const costBefore = insns.slice(0, insns.length - 1).reduce((s, i) => s + i.cost, 0);
  return new Block(start, bits, insns.length, fn, true, costBefore, () => make(gen(false, false)));
}
