/**
 * Inline memory forms for 64-bit mode (gen.ts): MOV to and from memory, the ALU forms with a
 * memory operand, PUSH/POP of a register, CALL rel32 and RET. Each computes the effective
 * address inline (as operands.ts ea64 does), tries the RAM fast path (fastmem.ts), and otherwise
 * leaves the block before the instruction (ctx.ts `before`): the run loop then runs it, doing
 * everything the interpreter does (the address computation has no side effect, so doing it
 * twice is the same). Nothing of the instruction happens before that test.
 */

import type { Insn } from '../../x86/insn.js';
import { BASE_RIP } from '../../x86/insn.js';
import { execName } from './kinds.js';
import { num, reg, carry32, MISS, MISS_END } from './ctx.js';

const TWO32 = 4294967296;

/**
 * Source that declares `p`: the physical address for a fast read of `n` bytes at the 64-bit
 * address in (lo, hi) (int32 halves), or -1. The block keeps the last page that passed the full
 * test (only a page wholly in RAM) with its physical base, keyed by the int32 halves of the
 * page address (no double arithmetic on a hit); nothing but a handler can change the TLB, the
 * permissions or the memory map, and the block forgets the page after one that may have
 * changed the TLB (ctx.ts INVALIDATE). Memory operands (`v` = 'lin', from eaSrc) and stack accesses (`v` = 'stk',
 * from RSP_LIN) keep a page each.
 */
function rd(v: 'lin' | 'stk', n: number): string {
  return v === 'lin' ? kept('rp', n, false, true) : kept('sp', n, false, false);
}

/** as `rd`, for a write (a page already dirty and holding no decoded code) */
function wr(v: 'lin' | 'stk', n: number): string {
  return v === 'lin' ? kept('wp', n, true, true) : kept('sw', n, true, false);
}

/**
 * A load (of `n` bytes at a memory operand) whose block stores to the same operand soon after
 * (gen.ts storesLater): the write page is tried first (a write permission implies the read
 * permission, and the kept write page is RAM without code, already dirty), and `pw` keeps the
 * physical address it gave (-1: none), so that the store needs no test of its own; otherwise
 * the read page, as `rd`. Nothing is marked dirty here: only a store does that.
 */
function rdw(n: number): string {
  return `const o = lo & 0xfff, pl = lo & -4096; let p = -1; if (pl === wpl && hi === wph && o <= ${4096 - n}) { p = (wpb + o) | 0; pw = p; } else { pw = -1; ${keptTest('rp', n, false, true)} }`;
}

/**
 * A store to the operand an `rdw` load just read (the same address, `memo.pw`): its address if
 * that load found it writable; otherwise the address `ea` computed again (from the same
 * registers: not from the kept `ea$l`, `ea$h`, which would then stay live through the code in
 * between, as in the CPU loop's round: 15-25 % of its speed alone) and the write page, as `wr`.
 */
function wrAfter(ea: string, n: number): string {
  return `let p = pw; if (p < 0) { ${ea} const o = lo & 0xfff, pl = lo & -4096; ${keptTest('wp', n, true, true)} }`;
}

/**
 * The kept page `k` (its variables `<k>l`, `<k>h`, `<k>b`: page address halves and physical
 * base) for an access of `n` bytes: any address whose `n` bytes lie in the page (`anyAlign`:
 * memory operands, loaded and stored with LD / ST), or only a multiple of `n` (the stack forms,
 * which use the int32 view directly).
 */
function kept(k: string, n: number, write: boolean, anyAlign: boolean): string {
  return `const o = lo & 0xfff, pl = lo & -4096; let p = -1; ${keptTest(k, n, write, anyAlign)}`;
}

/**
 * the test of `kept`, assigning `p` (declared, with `o` and `pl`, by the caller); the miss (the
 * call and the keeping) between the markers MISS and MISS_END (a self-loop's second copy of its
 * round has none: ctx.ts `source`)
 */
function keptTest(k: string, n: number, write: boolean, anyAlign: boolean): string {
  const [l, h, b] = [`${k}l`, `${k}h`, `${k}b`];
  const fits = anyAlign ? (n === 1 ? '' : ` && o <= ${4096 - n}`) : ` && (o & ${n - 1}) === 0`;
  const realign = anyAlign || n === 1 ? '' : ` if ((o & ${n - 1}) !== 0) p = -1;`;
  return `if (pl === ${l} && hi === ${h}${fits}) p = (${b} + o) | 0; else { ${MISS}p = fastMiss(c, lo, hi, ${n}, ${write}); if (p >= 0) { ${l} = pl; ${h} = hi; ${b} = (p - o) | 0;${realign} }${MISS_END} }`;
}

/**
 * Source for the int32 at physical address `p` (an expression naming locals only; any
 * alignment, the 4 bytes in one page: the int32 view when aligned, else bytes, as memory.ts
 * read32 does).
 */
function LD(p: string): string {
  return `((${p} & 3) === 0 ? m32[(${p}) >>> 2] : ${bytesLd(p)})`;
}

/** Source that stores the int32 expression `v` at physical address `p` (as LD; memory.ts write32) */
function ST(p: string, v: string): string {
  return `if ((${p} & 3) === 0) m32[(${p}) >>> 2] = ${v}; else { const v_ = ${v}; ${bytesSt(p, 'v_')} }`;
}

/** the int32 at `p` from its four bytes */
function bytesLd(p: string): string {
  return `(m8[${p}] | (m8[${p} + 1] << 8) | (m8[${p} + 2] << 16) | (m8[${p} + 3] << 24))`;
}

/** the int32 local `v` stored as four bytes at `p` */
function bytesSt(p: string, v: string): string {
  return `m8[${p}] = ${v}; m8[${p} + 1] = ${v} >>> 8; m8[${p} + 2] = ${v} >>> 16; m8[${p} + 3] = ${v} >>> 24;`;
}

/**
 * Source that declares `lo` and `hi`: the two int32 halves of the 8 bytes at `p` (any alignment,
 * in one page), with one alignment test for both halves (the aligned case is two int32 loads)
 */
function LD8(p: string, lo: string, hi: string): string {
  return `let ${lo} = 0, ${hi} = 0; if ((${p} & 3) === 0) { const q_ = ${p} >>> 2; ${lo} = m32[q_]; ${hi} = m32[q_ + 1]; } else { ${lo} = ${bytesLd(p)}; ${hi} = ${bytesLd(`${p} + 4`)}; }`;
}

/** Source that stores the int32 expressions `lo` and `hi` as the 8 bytes at `p` (as LD8) */
function ST8(p: string, lo: string, hi: string): string {
  return `{ const l_ = ${lo}, h_ = ${hi}; if ((${p} & 3) === 0) { const q_ = ${p} >>> 2; m32[q_] = l_; m32[q_ + 1] = h_; } else { ${bytesSt(p, 'l_')} ${bytesSt(`${p} + 4`, 'h_')} } }`;
}

/**
 * Source that adds the 64-bit value (bl, bh) (int32 halves; each expression read once) to the
 * variables (lo, hi) with int32 arithmetic only: the carry out of the low half by `carry32` (no
 * double-precision sum, no branch).
 */
export function add64To(lo: string, hi: string, bl: string, bh: string): string {
  return `{ const b_ = ${bl}, s_ = (${lo} + b_) | 0; ${hi} = (((${hi} + ${bh}) | 0) + ${carry32('b_', 's_')}) | 0; ${lo} = s_; }`;
}

/**
 * The last effective address a block computed (its source kept it in `ea$l`, `ea$h`), by the
 * operand's segment, base, index, scale and displacement; `regs` are the registers it read. The
 * generator (gen.ts emitInsn) forgets it when an instruction writes one of them or a handler
 * runs (registers and segment bases may then change); a fallback leaves the block. A later
 * operand with the same key on the block's straight-line path reuses it.
 */
export interface EaMemo {
  key: string | null;
  regs: number[];
  /** the size of an `rdw` load of this address whose page test `pw` holds (0: none) */
  pw: number;
}

/**
 * Source that declares (lo, hi): the linear address of a 64-bit-address-size memory operand
 * (operands.ts ea64) as int32 halves, or null if not inlined. A non-canonical address misses
 * the kept pages and fastMiss refuses it: the fallback (`slow`) leaves the block and the run
 * loop raises the fault. A RIP-relative address is folded here (RIPs and displacements are exact
 * integers below 2^53); one the block computed last (`memo`) is reused.
 */
function eaSrc(i: Insn, nx: number, memo: EaMemo): string | null {
  if (i.adsize !== 8) return null;
  const seg = i.seg;
  if (seg > 5) return null;
  if (i.index >= 0 && (i.scale < 0 || i.scale > 3)) return null;
  if (i.base === BASE_RIP) {
    const a = nx + (i.disp | 0);
    const L = [`let lo = ${num(a | 0)}, hi = ${num(Math.floor(a / TWO32) | 0)};`];
    if (seg >= 4) L.push(segAdd(seg));
    return L.join(' ');
  }
  const key = `${seg}:${i.base}:${i.index}:${i.scale}:${i.disp | 0}`;
  if (memo.key === key) return MEMO_HIT;
  const L: string[] = [`let lo = ${num(i.disp | 0)}, hi = ${num((i.disp | 0) >> 31)};`];
  if (i.base >= 0) {
    const b = reg(i.base);
    L.push(add64To('lo', 'hi', `rl[${b}]`, `rh[${b}]`));
  }
  if (i.index >= 0) {
    const x = reg(i.index);
    const sc = i.scale;
    L.push(sc === 0
      ? add64To('lo', 'hi', `rl[${x}]`, `rh[${x}]`)
      : `{ const xl0 = rl[${x}], xh = (rh[${x}] << ${sc}) | (xl0 >>> ${32 - sc}), xl = xl0 << ${sc}; ${add64To('lo', 'hi', 'xl', 'xh')} }`);
  }
  if (seg >= 4) L.push(segAdd(seg));
  L.push('ea$l = lo; ea$h = hi;');
  memo.key = key;
  memo.pw = 0;
  memo.regs = [i.base, i.index].filter((r) => r >= 0);
  return L.join(' ');
}

/** the source of an operand whose address the block computed last (EaMemo) */
const MEMO_HIT = 'let lo = ea$l, hi = ea$h;';

/** add the FS or GS base (a double) to (lo, hi) */
function segAdd(seg: number): string {
  return `{ const sb = c.segBase[${seg}], bl = sb | 0, bh = Math.floor(sb / 4294967296) | 0; const s = (lo >>> 0) + (bl >>> 0); lo = s | 0; hi = (hi + bh + (s >= 4294967296 ? 1 : 0)) | 0; }`;
}

const enum Alu { ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7 }

/** the ALU flag and result computation (gen.ts aluBody) */
export type AluBody = (op: number, size: number, dst: string | null, a: string, ah: string, b: string, bh: string) => string | null;

/**
 * An inlined memory form, or null. `slow` is the source that leaves the block before the
 * instruction; `flagOp` is told the lazy-flag size an ALU form leaves and returns
 * what must come first (the flags into the block's locals).
 */
/** a byte register (decoder numbering: 16..19 are AH, CH, DH, BH) as a zero-extended value */
export function byteReg(r: number): string {
  if (!Number.isInteger(r) || r < 0 || r > 19) throw new Error(`jit: bad byte register ${String(r)}`);
  return r < 16 ? `(rl[${r}] & 0xff)` : `((rl[${r - 16}] >> 8) & 0xff)`;
}

/** assign a byte to a byte register (regs.ts setReg, size 1) */
export function setByteReg(r: number, v: string): string {
  if (!Number.isInteger(r) || r < 0 || r > 19) throw new Error(`jit: bad byte register ${String(r)}`);
  return r < 16 ? `rl[${r}] = (rl[${r}] & ~0xff) | (${v} & 0xff);` : `rl[${r - 16}] = (rl[${r - 16}] & ~0xff00) | ((${v} & 0xff) << 8);`;
}

/** byte forms: MOV to and from memory, and CMP/TEST/ALU with a memory destination */
function memByte64(i: Insn, nx: number, slow: string, memo: EaMemo, aluBody: AluBody, flagOp: (size: number) => string): string | null {
  const name = execName(i);
  if (i.rm >= 0) return null;
  const ea = eaSrc(i, nx, memo);
  if (ea === null) return null;
  switch (name) {
    case 'movGE':
      return `${ea} ${rd('lin', 1)} if (p >= 0) { ${setByteReg(i.reg8, 'm8[p]')} } else { ${slow} }`;
    case 'movEG': case 'movEI': {
      const v = name === 'movEG' ? byteReg(i.reg8) : num(i.imm & 0xff);
      return `${ea} ${wr('lin', 1)} if (p >= 0) { m8[p] = ${v}; } else { ${slow} }`;
    }
    case 'aluEG': case 'aluEI': case 'testEG': case 'testEI': {
      const test = name.startsWith('test');
      const op = test ? Alu.AND : i.arg;
      const b = name === 'aluEG' || name === 'testEG' ? byteReg(i.reg8) : num(i.imm & 0xff);
      const body = aluBody(op, 1, null, 'm', '0', b, '0');
      if (body === null) return null;
      const pre = flagOp(1);
      if (test || op === Alu.CMP) return `${pre} ${ea} ${rd('lin', 1)} if (p >= 0) { const m = m8[p]; ${body} } else { ${slow} }`;
      return `${pre} ${ea} ${wr('lin', 1)} if (p >= 0) { const m = m8[p]; ${body} m8[p] = r; } else { ${slow} }`;
    }
    default:
      return null;
  }
}

export function memInline64(i: Insn, nx: number, slow: string, memo: EaMemo, aluBody: AluBody, flagOp: (size: number) => string, fuse = false): string | null {
  const name = execName(i);
  const size = i.opsize;
  if (size === 1) return memByte64(i, nx, slow, memo, aluBody, flagOp);
  if (size !== 4 && size !== 8) return null;
  const w = size === 8;
  switch (name) {
    case 'movzx': case 'movsx': case 'movsxd': {
      // MOVZX/MOVSX Gv, Eb/Ew and MOVSXD Gv, Ed from memory (move.ts); an aligned word or
      // dword only (the fast path's rule), anything else through the handler
      if (i.rm >= 0) return null;
      const ss = name === 'movsxd' ? 4 : i.arg;
      if (ss !== 1 && ss !== 2 && ss !== 4) return null;
      const ea = eaSrc(i, nx, memo);
      if (ea === null) return null;
      const g = reg(i.reg);
      const load = ss === 1 ? 'm8[p]' : ss === 2 ? '(m8[p] | (m8[p + 1] << 8))' : LD('p');
      const v = name === 'movzx' ? load : ss === 1 ? `((${load} << 24) >> 24)` : ss === 2 ? `((${load} << 16) >> 16)` : load;
      const hi = name === 'movzx' || !w ? '0' : 'v >> 31';
      return `${ea} ${rd('lin', ss)} if (p >= 0) { const v = ${v}; rl[${g}] = v; rh[${g}] = ${hi}; } else { ${slow} }`;
    }
    case 'movGE': case 'movEG': case 'movEI': {
      if (i.rm >= 0) return null;
      const ea = eaSrc(i, nx, memo);
      if (ea === null) return null;
      if (name === 'movGE') {
        const g = reg(i.reg);
        // (a RIP-relative operand is not the memo's)
        const fused = fuse && i.base !== BASE_RIP;
        const check = fused ? rdw(size) : rd('lin', size);
        if (fused) memo.pw = size;
        return `${ea} ${check} if (p >= 0) { ${w ? `${LD8('p', 'v', 'vh')} rl[${g}] = v; rh[${g}] = vh;` : `rl[${g}] = ${LD('p')}; rh[${g}] = 0;`} } else { ${slow} }`;
      }
      const lo = name === 'movEG' ? `rl[${reg(i.reg)}]` : num(i.imm | 0);
      const hi = name === 'movEG' ? `rh[${reg(i.reg)}]` : num(i.immHi | 0);
      const store = w ? ST8('p', lo, hi) : ST('p', lo);
      if (ea === MEMO_HIT && memo.pw === size) {
        const again = eaSrc(i, nx, { key: null, regs: [], pw: 0 })!.replace(' ea$l = lo; ea$h = hi;', '');
        return `${wrAfter(again, size)} if (p >= 0) { ${store} } else { ${slow} }`;
      }
      return `${ea} ${wr('lin', size)} if (p >= 0) { ${store} } else { ${slow} }`;
    }
    case 'aluGE': case 'aluEG': case 'aluEI': case 'testEG': case 'testEI': {
      if (i.rm >= 0) return null;
      const ea = eaSrc(i, nx, memo);
      if (ea === null) return null;
      const test = name.startsWith('test');
      const op = test ? Alu.AND : i.arg;
      if (op === Alu.ADC || op === Alu.SBB) return null;
      const immLo = num(i.imm | 0);
      const immHi = w ? num(i.immHi | 0) : '0';
      const g = reg(i.reg);
      const load = w ? LD8('p', 'm', 'mh') : `const m = ${LD('p')}, mh = 0;`;
      let body: string | null;
      if (name === 'aluGE') {
        body = aluBody(op, size, op === Alu.CMP ? null : g, `rl[${g}]`, `rh[${g}]`, 'm', 'mh');
        if (body === null) return null;
        return `${flagOp(size)} ${ea} ${rd('lin', size)} if (p >= 0) { ${load} ${body} } else { ${slow} }`;
      }
      const b = name === 'aluEG' || name === 'testEG' ? `rl[${g}]` : immLo;
      const bh = name === 'aluEG' || name === 'testEG' ? `rh[${g}]` : immHi;
      body = aluBody(op, size, null, 'm', 'mh', b, bh);
      if (body === null) return null;
      const pre = flagOp(size);
      if (test || op === Alu.CMP) {
        return `${pre} ${ea} ${rd('lin', size)} if (p >= 0) { ${load} ${body} } else { ${slow} }`;
      }
      // read-modify-write: the write permission is checked first, as readRmw does
      return `${pre} ${ea} ${wr('lin', size)} if (p >= 0) { ${load} ${body} ${w ? ST8('p', 'r', 'rh2') : ST('p', 'r')} } else { ${slow} }`;
    }
    default:
      return null;
  }
}

/** RSP + delta (delta 0 or -8) as int32 halves (lo, hi): the stack address (stack.ts stackLinear, 64-bit stack; the canonical test in fastMiss) */
const RSP_LIN = (delta: number) => delta === 0
  ? 'const lo = rl[4], hi = rh[4];'
  : `const lo = (rl[4] + ${num(delta)}) | 0, hi = (lo >>> 0) > (rl[4] >>> 0) ? (rh[4] - 1) | 0 : rh[4];`;

/** add `delta` (positive, below 2^17) to RSP (stack.ts adjustRsp, 64-bit stack) */
function addRsp(delta: number): string {
  return `{ const s = (rl[4] + ${num(delta)}) | 0; rh[4] = (s >>> 0) < (rl[4] >>> 0) ? (rh[4] + 1) | 0 : rh[4]; rl[4] = s; }`;
}

/** PUSH r64, POP r64, CALL rel32, RET (64-bit stack only: the caller checks the code size) */
export function stackInline64(i: Insn, nx: number, slow: string, target: number | null): string | null {
  const name = execName(i);
  if (i.opsize !== 8) return null;
  switch (name) {
    case 'pushZ': {
      const r = reg(i.reg);
      return `${RSP_LIN(-8)} ${wr('stk', 8)} if (p >= 0) { const q = p >>> 2; m32[q] = rl[${r}]; m32[q + 1] = rh[${r}]; rl[4] = lo; rh[4] = hi; } else { ${slow} }`;
    }
    case 'popZ': {
      const r = reg(i.reg);
      return `${RSP_LIN(0)} ${rd('stk', 8)} if (p >= 0) { const q = p >>> 2, v = m32[q], vh = m32[q + 1]; ${addRsp(8)} rl[${r}] = v; rh[${r}] = vh; } else { ${slow} }`;
    }
    case 'callRel': {
      if (target === null) return null;
      return `${RSP_LIN(-8)} ${wr('stk', 8)} if (p >= 0) { const q = p >>> 2; m32[q] = ${num(nx | 0)}; m32[q + 1] = ${num(Math.floor(nx / TWO32) | 0)}; rl[4] = lo; rh[4] = hi; c.rip = ${num(target)}; } else { ${slow} }`;
    }
    case 'retNear': {
      const extra = i.imm & 0xffff;
      return `${RSP_LIN(0)} ${rd('stk', 8)} let t = 0; if (p >= 0) { const q = p >>> 2; t = m32[q + 1] * 4294967296 + (m32[q] >>> 0); } if (p >= 0 && t >= -0x800000000000 && t < 0x800000000000) { ${addRsp(8 + extra)} c.rip = t; } else { ${slow} }`;
    }
    default:
      return null;
  }
}
