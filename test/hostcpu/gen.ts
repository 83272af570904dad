/**
 * Case generation: a seeded random source, edge-biased operand values, and a case builder that
 * allocates registers, builds ModRM/SIB memory operands that land in the scratch window, and
 * assembles the instruction bytes.
 */

import type { FxIgnore } from './fx.js';
import { BUF_ADDR, CODE_RIP, DF, GS_BASE, MEMSZ, STACK_OFF, STATUS, type Case } from './layout.js';

export const M64 = (1n << 64n) - 1n;

export function maskOf(size: number): bigint {
  return (1n << BigInt(size * 8)) - 1n;
}

/** the operand value as a signed number */
export function sext(v: bigint, size: number): bigint {
  return BigInt.asIntN(size * 8, v);
}

/** mulberry32: small, seedable, good enough for test inputs */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }
  /** integer in [lo, hi] */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  bool(p = 0.5): boolean {
    return this.u32() / 4294967296 < p;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
}

/** The edge values for an operand of `size` bytes: zero, one, all ones, sign boundaries. */
export function edges(size: number): bigint[] {
  const m = maskOf(size);
  const raw = [
    0n, 1n, 2n, m, m - 1n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn,
    0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 63n, (1n << 63n) - 1n,
  ];
  const out: bigint[] = [];
  for (const v of raw) {
    const t = v & m;
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

/** a random value with structure: uniform, small signed, one bit, near a sign boundary */
export function randomish(rng: Rng, size: number): bigint {
  const m = maskOf(size);
  const bits = size * 8;
  switch (rng.int(6)) {
    case 0: return BigInt(rng.range(-300, 300)) & m;
    case 1: return (1n << BigInt(rng.int(bits))) & m;
    case 2: return ((1n << BigInt(bits - 1)) + BigInt(rng.range(-3, 3))) & m;
    case 3: return (rng.u64() & rng.u64()) & m;
    default: return rng.u64() & m;
  }
}

/**
 * Operand value `slot` of case `k`: the first cases walk each slot through the edge list in
 * turn (slot 0 in cases 0..E-1, slot 1 in E..2E-1, ...); otherwise edges sometimes, random
 * values mostly.
 */
export function operand(rng: Rng, size: number, k: number, slot: number): bigint {
  const e = edges(size);
  const j = k - slot * e.length;
  if (j >= 0 && j < e.length) return e[j];
  return rng.bool(0.3) ? rng.pick(e) : randomish(rng, size);
}

/** a memory operand as encoded */
export interface MemOp {
  mod: number;
  rm: number;
  sib: number;
  disp: number[];
  rexX: number;
  rexB: number;
  a32: boolean;
  /** offset of the operand in the scratch window (when it addresses it) */
  off: number;
  /** RIP-relative: the displacement is patched once the length is known */
  ripTarget: number;
  /** GS override: the address is relative to GS_BASE */
  gs: boolean;
}

/** allocation result for a ModRM instruction */
export interface MO {
  rex: boolean;
  /** ModRM.reg value (a register number, or the group extension) */
  g: number;
  /** register r/m, or -1 for memory */
  e: number;
  mem: MemOp | null;
}

export interface AllocOpts {
  /** operand size for REX.W (8 sets it) */
  w?: boolean;
  /** G and E registers are byte registers (AH..BH possible without REX) */
  gByte?: boolean;
  eByte?: boolean;
  mem: boolean;
  /** group extension instead of a G register */
  ext?: number;
  /** bytes the memory operand spans (for placing it inside the window) */
  span?: number;
  /** alignment of the operand's offset in the window */
  align?: number;
  /** registers the instruction uses implicitly: never address registers */
  reserve?: number[];
  /** the address is never accessed (LEA, NOP Ev): any register values */
  anyAddr?: boolean;
  /** window offset range for the operand */
  offLo?: number;
  offHi?: number;
}

const RSP = 4;

export interface EmitOpts {
  /** 2 adds 66, 8 adds REX.W */
  opsize?: number;
  /** with opsize 8, a 66 as well (REX.W takes precedence) */
  o16w?: boolean;
  /** mandatory prefixes (F2/F3), placed last before REX */
  pre?: number[];
  /** bytes placed first (extra prefixes) */
  lead?: number[];
  imm?: [number, bigint];
  lock?: boolean;
  /** false: no random ignored segment override */
  seg?: boolean;
}

export class CB {
  readonly rng: Rng;
  readonly k: number;
  regs: bigint[] = [];
  flags: number;
  mem: Uint8Array;
  undef = 0;
  /** shift/rotate count after masking, for the undefined-flag masks */
  count = 0;
  ignoreRegs: [number, bigint][] = [];
  ignoreMem: [number, number] | null = null;
  quirkRegs: [number, bigint][] = [];
  quirkMem: [number, number] | null = null;
  note = '';
  /** FP state image (fx.ts) for FP forms; null otherwise */
  fx: Uint8Array | null = null;
  fxIgnore: FxIgnore = {};
  /** physical registers holding operands or addresses */
  readonly used = new Set<number>();

  constructor(rng: Rng, k: number) {
    this.rng = rng;
    this.k = k;
    for (let r = 0; r < 16; r++) this.regs.push(rng.u64());
    this.regs[RSP] = BigInt(BUF_ADDR + STACK_OFF);
    // status flags at random, DF alternating so both directions appear in every form
    this.flags = (rng.u32() & STATUS) | ((k & 1) !== 0 ? DF : 0);
    this.mem = new Uint8Array(MEMSZ);
    for (let i = 0; i < MEMSZ; i++) this.mem[i] = rng.u32() & 0xff;
  }

  /** operand value `slot` for this case */
  val(size: number, slot: number): bigint {
    return operand(this.rng, size, this.k, slot);
  }

  // ---- registers ----

  /** physical register of an encoded register number (AH..BH are 4..7 without REX) */
  phys(r: number, byte: boolean, rex: boolean): number {
    return byte && !rex && r >= 4 && r < 8 ? r - 4 : r;
  }

  setReg(r: number, size: number, v: bigint, byte = false, rex = true): void {
    if (size === 1 && byte && !rex && r >= 4 && r < 8) {
      const p = r - 4;
      this.regs[p] = (this.regs[p] & ~0xff00n) | ((v & 0xffn) << 8n);
      return;
    }
    const m = maskOf(size);
    this.regs[r] = (this.regs[r] & ~m & M64) | (v & m);
  }

  getReg(r: number, size: number, byte = false, rex = true): bigint {
    if (size === 1 && byte && !rex && r >= 4 && r < 8) return (this.regs[r - 4] >> 8n) & 0xffn;
    return this.regs[r] & maskOf(size);
  }

  /**
   * A register for an operand: never RSP (nor SPL); it may repeat another operand's register,
   * which is a legitimate case. Byte registers without REX are 0..7, 4..7 meaning AH..BH.
   */
  pickReg(byte: boolean, rex: boolean, allowRsp = false): number {
    for (;;) {
      const r = rex ? this.rng.int(16) : this.rng.int(8);
      if (r === RSP && !(byte && !rex) && !allowRsp) continue;
      if (byte && rex && r === RSP) continue;
      return r;
    }
  }

  // ---- memory ----

  writeMem(off: number, size: number, v: bigint): void {
    for (let i = 0; i < size; i++) this.mem[off + i] = Number((v >> BigInt(8 * i)) & 0xffn);
  }

  readMem(off: number, size: number): bigint {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.mem[off + i]);
    return v;
  }

  /** a window offset for an operand of `span` bytes */
  pickOff(span: number, align = 1, lo = 0, hi = MEMSZ - span): number {
    const n = Math.floor((hi - lo) / align);
    return lo + align * this.rng.int(n + 1);
  }

  /**
   * A memory operand addressing window offset `off` (or any address with `anyAddr`), with base
   * and index registers chosen from those not in `avoid`; sets their values.
   */
  memOperand(off: number, rex: boolean, avoid: Set<number>, anyAddr = false): MemOp {
    const rng = this.rng;
    // one operand in ten goes through GS (base GS_BASE), the rest through DS/SS (base 0)
    const gs = rng.bool(0.1);
    const target = BigInt(BUF_ADDR + off - (gs ? GS_BASE : 0));
    const a32 = rng.bool(0.15);
    const free = (allowRsp: boolean): number => {
      for (let n = 0; ; n++) {
        if (n > 10000) throw new Error('no free address register');
        const r = rex ? rng.int(16) : rng.int(8);
        if (avoid.has(r) || this.used.has(r)) continue;
        if (r === RSP && !allowRsp) continue;
        return r;
      }
    };
    const am = a32 ? 0xffffffffn : M64;
    const mo: MemOp = { mod: 0, rm: 0, sib: -1, disp: [], rexX: 0, rexB: 0, a32, off, ripTarget: -1, gs };
    const d8 = (d: number) => [d & 0xff];
    const d32 = (d: number) => [d & 0xff, (d >>> 8) & 0xff, (d >>> 16) & 0xff, (d >>> 24) & 0xff];
    // set register `r` so that r + rest = target in the address size (upper half random for a32)
    const solve = (r: number, rest: bigint) => {
      const v = (target - rest) & am;
      this.regs[r] = a32 ? (rng.u64() & ~0xffffffffn) | v : v;
      this.used.add(r);
    };
    const mode = rng.int(7);
    if (mode === 6 || (mode === 5 && !anyAddr && rng.bool(0.5))) {
      // RIP-relative, or absolute disp32 through a SIB with neither base nor index
      if (mode === 6) {
        mo.mod = 0; mo.rm = 5; mo.disp = [0, 0, 0, 0]; mo.ripTarget = Number(target);
      } else {
        mo.mod = 0; mo.rm = 4; mo.sib = (4 << 3) | 5; mo.disp = d32(Number(target));
      }
      if (anyAddr) mo.disp = d32(rng.u32());
      return mo;
    }
    const useIndex = mode >= 3;
    let base = mode === 5 ? -1 : free(true);
    if (base >= 0 && base !== RSP) this.used.add(base);
    if (base === RSP && !anyAddr) {
      // RSP keeps its stack value; the displacement reaches the target from it
      const disp = Number(BigInt.asIntN(32, target - this.regs[RSP]));
      if (useIndex) { base = free(false); this.used.add(base); } else {
        mo.rm = 4; mo.sib = (4 << 3) | 4;
        if (disp === 0 && rng.bool(0.5)) mo.mod = 0;
        else if (disp >= -128 && disp < 128) { mo.mod = 1; mo.disp = d8(disp); } else { mo.mod = 2; mo.disp = d32(disp); }
        this.used.add(RSP);
        return mo;
      }
    }
    let disp = 0;
    const dk = rng.int(3);
    if (dk === 2) { disp = rng.u32() | 0; mo.mod = 2; mo.disp = d32(disp); } else if (dk === 1 || (base & 7) === 5) { disp = rng.range(-128, 127); mo.mod = 1; mo.disp = d8(disp); }
    if (base < 0) {
      // index*scale + disp32, no base
      mo.mod = 0;
      disp = rng.range(-0x10000, 0x10000);
      mo.disp = d32(disp);
    }
    if (!useIndex && base >= 0) {
      if ((base & 7) === 4) mo.sib = (4 << 3) | 4;
      mo.rm = base & 7;
      mo.rexB = base >> 3;
      if (anyAddr) { this.used.add(base); return mo; }
      solve(base, BigInt(disp));
      return mo;
    }
    const index = free(false);
    const scale = rng.int(4);
    mo.rm = 4;
    mo.rexX = index >> 3;
    mo.rexB = base >= 0 ? base >> 3 : 0;
    mo.sib = (scale << 6) | ((index & 7) << 3) | (base >= 0 ? base & 7 : 5);
    this.used.add(index);
    if (anyAddr) { if (base >= 0) this.used.add(base); return mo; }
    if (base < 0) {
      // the index alone reaches the target: target - disp must be a multiple of the scale
      const rest = target - BigInt(disp);
      const sc = BigInt(1 << scale);
      const adj = ((rest % sc) + sc) % sc;
      disp += Number(adj);
      mo.disp = d32(disp);
      const iv = ((target - BigInt(disp)) / sc) & am;
      this.regs[index] = a32 ? (rng.u64() & ~0xffffffffn) | iv : iv;
      return mo;
    }
    this.regs[index] = rng.bool(0.5) ? BigInt(rng.range(-64, 64)) & M64 : rng.u64();
    if (a32) this.regs[index] = (rng.u64() & ~0xffffffffn) | (this.regs[index] & 0xffffffffn);
    const iv = BigInt.asUintN(64, (this.regs[index] & am) << BigInt(scale));
    solve(base, BigInt(disp) + iv);
    return mo;
  }

  /** allocate the registers/memory operand of a ModRM instruction */
  alloc(o: AllocOpts): MO {
    const rng = this.rng;
    const byteForm = o.gByte === true || o.eByte === true;
    const rex = o.w === true || !byteForm ? (o.w === true || rng.bool(0.35)) : rng.bool(0.5);
    const avoid = new Set<number>(o.reserve ?? []);
    let g = o.ext ?? -1;
    if (g < 0) {
      g = this.pickReg(o.gByte === true, rex);
      this.used.add(this.phys(g, o.gByte === true, rex));
    }
    if (!o.mem) {
      const e = this.pickReg(o.eByte === true, rex);
      this.used.add(this.phys(e, o.eByte === true, rex));
      return { rex, g, e, mem: null };
    }
    const span = o.span ?? 8;
    const off = this.pickOff(span, o.align ?? 1, o.offLo ?? 0, o.offHi ?? MEMSZ - span);
    const mem = this.memOperand(off, rex, avoid, o.anyAddr === true);
    return { rex, g, e: -1, mem };
  }

  /** set the G operand of `mo` */
  setG(mo: MO, size: number, v: bigint, byte = size === 1): void {
    this.setReg(mo.g, size, v, byte, mo.rex);
  }

  getG(mo: MO, size: number, byte = size === 1): bigint {
    return this.getReg(mo.g, size, byte, mo.rex);
  }

  /** set the E operand of `mo` (register, or memory in the window) */
  setE(mo: MO, size: number, v: bigint, byte = size === 1): void {
    if (mo.mem === null) this.setReg(mo.e, size, v, byte, mo.rex);
    else this.writeMem(mo.mem.off, size, v);
  }

  getE(mo: MO, size: number, byte = size === 1): bigint {
    if (mo.mem === null) return this.getReg(mo.e, size, byte, mo.rex);
    return this.readMem(mo.mem.off, size);
  }

  // ---- assembly ----

  code: number[] = [];
  private ripPatch = -1;
  private ripTarget = 0;

  /**
   * Assemble prefixes, REX, opcode, ModRM/SIB/displacement and an immediate.
   * `opsize` adds 66 (2) or REX.W (8); `pre` are mandatory prefixes (F2/F3) placed last before
   * REX; `lock` adds F0.
   */
  emit(mo: MO | null, op: number[], opts: EmitOpts = {}): void {
    const b: number[] = [...(opts.lead ?? [])];
    const rng = this.rng;
    if (opts.lock) b.push(0xf0);
    // an ignored segment override on memory operands now and then (64-bit mode ignores them)
    if (mo?.mem?.gs) b.push(0x65);
    else if (mo?.mem && opts.seg !== false && rng.bool(0.1)) b.push(rng.pick([0x26, 0x2e, 0x36, 0x3e]));
    if (mo?.mem?.a32) b.push(0x67);
    if (opts.opsize === 2 || (opts.opsize === 8 && opts.o16w === true)) b.push(0x66);
    if (opts.pre) b.push(...opts.pre);
    let rex = mo?.rex ? 0x40 : 0;
    if (opts.opsize === 8) rex |= 0x48;
    if (mo) {
      if (mo.g >= 8) rex |= 0x44;
      if (mo.mem) rex |= (mo.mem.rexX ? 0x42 : 0) | (mo.mem.rexB ? 0x41 : 0);
      else if (mo.e >= 8) rex |= 0x41;
    }
    if (rex) b.push(rex);
    b.push(...op);
    if (mo) {
      if (mo.mem) {
        const m = mo.mem;
        b.push((m.mod << 6) | ((mo.g & 7) << 3) | m.rm);
        if (m.sib >= 0) b.push(m.sib);
        if (m.ripTarget >= 0) { this.ripPatch = b.length; this.ripTarget = m.ripTarget; }
        b.push(...m.disp);
      } else {
        b.push(0xc0 | ((mo.g & 7) << 3) | (mo.e & 7));
      }
    }
    if (opts.imm) {
      const [n, v] = opts.imm;
      for (let i = 0; i < n; i++) b.push(Number((v >> BigInt(8 * i)) & 0xffn));
    }
    if (this.ripPatch >= 0) {
      // RIP-relative: relative to the end of the instruction (32-bit wrap with 67)
      const d = (this.ripTarget - (CODE_RIP + b.length)) | 0;
      for (let i = 0; i < 4; i++) b[this.ripPatch + i] = (d >>> (8 * i)) & 0xff;
    }
    this.code = b;
  }

  /** raw bytes as the instruction */
  raw(bytes: number[]): void {
    this.code = bytes;
  }

  build(): Case {
    if (this.code.length === 0 || this.code.length > 15) throw new Error(`bad instruction length ${this.code.length}`);
    return {
      code: Uint8Array.from(this.code),
      regs: this.regs.slice(),
      flags: this.flags,
      mem: this.mem.slice(),
      undef: this.undef,
      ignoreRegs: this.ignoreRegs,
      ignoreMem: this.ignoreMem,
      quirkRegs: this.quirkRegs,
      quirkMem: this.quirkMem,
      note: this.note,
      fx: this.fx === null ? null : this.fx.slice(),
      fxIgnore: this.fxIgnore,
    };
  }
}

/** sizes in bits for names */
export const BITS: Record<number, number> = { 1: 8, 2: 16, 4: 32, 8: 64 };
