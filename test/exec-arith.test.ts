/**
 * Shifts, multiply/divide, bit instructions, decimal adjustment, exchanges and the small
 * accumulator/flag instructions, run as code through the CPU.
 *
 * Hand-worked cases pin the manual's defined results and the edge cases (counts 0, 1, width-1,
 * width, above the width; 0, 1, -1, sign boundaries; #DE), and the undefined-flag choices the
 * families document. Sweeps compare shifts, double shifts and MUL/IMUL/DIV/IDIV against small
 * BigInt models of the manual's definitions at every operand size.
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { getFlags, setFlags } from '../src/cpu/flags.js';
import { _test as md } from '../src/cpu/exec/muldiv.js';

const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const ARITH = CF | PF | AF | ZF | SF | OF;
const CODE = 0x1000;
const DATA = 0x8000;
const UD2 = [0x0f, 0x0b];

const REG = { rax: 0, rcx: 1, rdx: 2, rbx: 3, rsp: 4, rbp: 5, rsi: 6, rdi: 7, r8: 8, r9: 9 } as const;
type RegName = keyof typeof REG;
type Regs = Partial<Record<RegName, bigint>>;

const mem = new PhysMem(1 << 20);
const cpu = new Cpu(mem);

function setR(c: Cpu, r: number, v: bigint): void {
  const u = BigInt.asUintN(64, v);
  c.rl[r] = Number(u & 0xffffffffn) | 0;
  c.rh[r] = Number(u >> 32n) | 0;
}

function getR(c: Cpu, r: number): bigint {
  return (BigInt(c.rh[r] >>> 0) << 32n) | BigInt(c.rl[r] >>> 0);
}

interface Result {
  c: Cpu;
  /** vector that stopped the run: 6 when it reached the closing UD2 */
  vec: number;
  /** RIP where it stopped, relative to the code start */
  at: number;
  flags: number;
  r(name: RegName): bigint;
}

let loaded = '';

/** Run `code` then UD2 with the given registers (others 0) and arithmetic flags. */
function run(code: number[], regs: Regs = {}, flags = 0, bits: 16 | 32 | 64 = 64): Result {
  const c = cpu;
  const bytes = [...code, ...UD2];
  const key = `${bits}:${bytes.join(',')}`;
  if (key !== loaded) {
    mem.load(CODE, Uint8Array.from(bytes));
    loaded = key;
  }
  setFlatMode(c, bits);
  for (let r = 0; r < 16; r++) { c.rl[r] = 0; c.rh[r] = 0; }
  for (const [k, v] of Object.entries(regs)) setR(c, REG[k as RegName], v);
  setFlags(c, flags);
  c.rip = CODE;
  c.run(64);
  return {
    c,
    vec: c.lastFault.vector,
    at: c.rip - CODE,
    flags: getFlags(c) & ARITH,
    r: (name) => getR(c, REG[name]),
  };
}

/** run that must reach the closing UD2 */
function ok(code: number[], regs: Regs = {}, flags = 0, bits: 16 | 32 | 64 = 64): Result {
  const res = run(code, regs, flags, bits);
  expect(res.vec, 'stopped by an exception').toBe(6);
  expect(res.at).toBe(code.length);
  return res;
}

function setMem(addr: number, bytes: number[]): void {
  for (let k = 0; k < bytes.length; k++) mem.u8[addr + k] = bytes[k];
}

function setMem64(addr: number, v: bigint): void {
  const u = BigInt.asUintN(64, v);
  for (let k = 0; k < 8; k++) mem.u8[addr + k] = Number((u >> BigInt(8 * k)) & 0xffn);
}

function getMem64(addr: number): bigint {
  let v = 0n;
  for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(mem.u8[addr + k]);
  return v;
}

function getMem32(addr: number): number {
  return (mem.u8[addr] | (mem.u8[addr + 1] << 8) | (mem.u8[addr + 2] << 16) | (mem.u8[addr + 3] << 24)) >>> 0;
}

function parity(v: bigint): number {
  let b = Number(v & 0xffn);
  let n = 0;
  for (; b; b >>= 1) n += b & 1;
  return (n & 1) === 0 ? PF : 0;
}

/** ZF, SF, PF of a w-bit result */
function szp(r: bigint, w: number): number {
  return (r === 0n ? ZF : 0) | (((r >> BigInt(w - 1)) & 1n) === 1n ? SF : 0) | parity(r);
}

const UPPER = 0xdeadbeef_00000000n;

// ---------------------------------------------------------------------------------------------

describe('shifts and rotates', () => {
  it('a masked count of 0 changes no flags, but a 32-bit register is still written', () => {
    const code = [0xd3, 0xe0]; // shl eax, cl
    const r = ok(code, { rax: 0xffffffff_80000000n, rcx: 0x20n }, CF | ZF | OF);
    expect(r.r('rax')).toBe(0x80000000n);
    expect(r.flags).toBe(CF | ZF | OF);
    const r64 = ok([0x48, 0xd3, 0xe0], { rax: 5n, rcx: 64n }, CF | SF); // shl rax, cl (64 -> 0)
    expect(r64.r('rax')).toBe(5n);
    expect(r64.flags).toBe(CF | SF);
  });

  it('count 1 forms set OF as the manual defines', () => {
    let r = ok([0xd0, 0xe0], { rax: 0x80n }); // shl al, 1
    expect(r.r('rax')).toBe(0n);
    expect(r.flags).toBe(CF | OF | ZF | PF);
    r = ok([0xd1, 0xe8], { rax: 0x80000001n }); // shr eax, 1: OF = old MSB
    expect(r.r('rax')).toBe(0x40000000n);
    expect(r.flags).toBe(CF | OF | PF);
    r = ok([0x48, 0xd1, 0xd8], { rax: 1n }, CF); // rcr rax, 1
    expect(r.r('rax')).toBe(0x80000000_00000000n);
    expect(r.flags).toBe(CF | OF);
  });

  it('SAR fills with the sign; width-1 counts', () => {
    const r = ok([0xc1, 0xf8, 0x1f], { rax: UPPER | 0x80000000n }); // sar eax, 31
    expect(r.r('rax')).toBe(0xffffffffn);
    expect(r.flags).toBe(SF | PF);
    const q = ok([0x48, 0xd3, 0xf8], { rax: 0x80000000_00000000n, rcx: 63n }); // sar rax, cl
    expect(q.r('rax')).toBe(0xffffffff_ffffffffn);
    expect(q.flags).toBe(SF | PF);
    const s = ok([0x48, 0xd3, 0xe0], { rax: 1n, rcx: 63n }); // shl rax, cl
    expect(s.r('rax')).toBe(0x80000000_00000000n);
    expect(s.flags).toBe(OF | SF | PF);
  });

  it('8-bit shifts by the width and beyond (counts up to 31 reach 8/16-bit operands)', () => {
    const code = [0xd2, 0xe3]; // shl bl, cl
    let r = ok(code, { rbx: UPPER | 1n, rcx: 8n });
    expect(r.r('rbx')).toBe(UPPER);
    expect(r.flags).toBe(CF | OF | ZF | PF);
    r = ok(code, { rbx: 1n, rcx: 9n });
    expect(r.r('rbx')).toBe(0n);
    expect(r.flags).toBe(ZF | PF);
    r = ok(code, { rbx: 1n, rcx: 32n }, SF);
    expect(r.r('rbx')).toBe(1n);
    expect(r.flags).toBe(SF);
  });

  it('ROL/ROR by multiples of the width keep the value but set CF', () => {
    let r = ok([0xd2, 0xc3], { rbx: 0x81n, rcx: 8n }, ZF); // rol bl, cl
    expect(r.r('rbx')).toBe(0x81n);
    expect(r.flags).toBe(ZF | CF);
    r = ok([0xd2, 0xc3], { rbx: 0x81n, rcx: 1n }, ZF);
    expect(r.r('rbx')).toBe(0x03n);
    expect(r.flags).toBe(ZF | CF | OF);
    r = ok([0xd2, 0xcb], { rbx: 1n, rcx: 1n }); // ror bl, cl
    expect(r.r('rbx')).toBe(0x80n);
    expect(r.flags).toBe(CF | OF);
    r = ok([0x48, 0xd3, 0xc0], { rax: 0x01234567_89abcdefn, rcx: 32n }); // rol rax, cl
    expect(r.r('rax')).toBe(0x89abcdef_01234567n);
    expect(r.flags).toBe(CF);
    r = ok([0x48, 0xd3, 0xc8], { rax: 1n, rcx: 1n }); // ror rax, cl
    expect(r.r('rax')).toBe(0x80000000_00000000n);
    expect(r.flags).toBe(CF | OF);
  });

  it('RCL/RCR on 8/16-bit operands take the count mod 9/17', () => {
    let r = ok([0xd2, 0xd3], { rbx: 0x80n, rcx: 9n }, SF); // rcl bl, cl
    expect(r.r('rbx')).toBe(0x80n);
    expect(r.flags & CF).toBe(0);
    r = ok([0xd2, 0xd3], { rbx: 0x80n, rcx: 1n });
    expect(r.r('rbx')).toBe(0n);
    expect(r.flags).toBe(CF | OF);
    r = ok([0x66, 0xd3, 0xdb], { rbx: 1n, rcx: 17n }, CF); // rcr bx, cl
    expect(r.r('rbx')).toBe(1n);
    expect(r.flags).toBe(CF);
    r = ok([0x66, 0xd3, 0xdb], { rbx: 1n, rcx: 1n }, CF);
    expect(r.r('rbx')).toBe(0x8000n);
    expect(r.flags).toBe(CF | OF);
    r = ok([0x66, 0xd3, 0xd0], { rax: 0x8000n, rcx: 16n }, CF); // rcl ax, cl
    expect(r.r('rax')).toBe(0xc000n);
    expect(r.flags).toBe(OF);
  });

  it('64-bit RCL/RCR rotate through 65 bits', () => {
    let r = ok([0x48, 0xd3, 0xd0], { rax: 0x80000000_00000000n, rcx: 1n }, CF); // rcl rax, cl
    expect(r.r('rax')).toBe(1n);
    expect(r.flags).toBe(CF | OF);
    r = ok([0x48, 0xd3, 0xd0], { rax: 1n, rcx: 63n });
    expect(r.r('rax')).toBe(0x80000000_00000000n);
    expect(r.flags & CF).toBe(0);
    r = ok([0x48, 0xd3, 0xd8], { rax: 0n, rcx: 33n }, CF); // rcr rax, cl: CF lands in bit 31
    expect(r.r('rax')).toBe(0x80000000n);
  });

  it('memory operands', () => {
    setMem(DATA, [0x78, 0x56, 0x34, 0x12]);
    let r = ok([0xc1, 0x27, 0x04], { rdi: BigInt(DATA) }); // shl dword [rdi], 4
    expect(getMem32(DATA)).toBe(0x23456780);
    expect(r.flags & (CF | AF)).toBe(CF);
    setMem64(DATA, 0x11223344_55667788n);
    r = ok([0x48, 0xc1, 0x0f, 0x08], { rdi: BigInt(DATA) }); // ror qword [rdi], 8
    expect(getMem64(DATA)).toBe(0x88112233_44556677n);
    expect(r.flags & CF).toBe(CF);
  });
});

describe('SHLD / SHRD', () => {
  it('immediate and CL counts, count 0', () => {
    let r = ok([0x0f, 0xa4, 0xd8, 0x04], { rax: 0x12345678n, rbx: 0x9abcdef0n }); // shld eax, ebx, 4
    expect(r.r('rax')).toBe(0x23456789n);
    expect(r.flags & CF).toBe(CF);
    r = ok([0x0f, 0xa5, 0xd8], { rax: UPPER | 1n, rbx: 5n, rcx: 0n }, ZF); // shld eax, ebx, cl
    expect(r.r('rax')).toBe(1n);
    expect(r.flags).toBe(ZF);
    r = ok([0x0f, 0xa5, 0xd8], { rax: 0x40000000n, rbx: 0x80000000n, rcx: 1n });
    expect(r.r('rax')).toBe(0x80000001n);
    expect(r.flags).toBe(OF | SF);
    r = ok([0x48, 0x0f, 0xac, 0xd8, 0x3c], { rax: 0x12345678_9abcdef0n, rbx: 0x0fedcba9_87654321n }); // shrd rax, rbx, 60
    expect(r.r('rax')).toBe(0xfedcba98_76543211n);
    expect(r.flags & CF).toBe(0);
    setMem(DATA, [0x78, 0x56, 0x34, 0x12]);
    ok([0x0f, 0xac, 0x1f, 0x08], { rdi: BigInt(DATA), rbx: 0xabcdef01n }); // shrd dword [rdi], ebx, 8
    expect(getMem32(DATA)).toBe(0x01123456);
  });

  it('16-bit counts above 16 shift dest:src:dest (undefined result, worldswitch choice)', () => {
    let r = ok([0x66, 0x0f, 0xa5, 0xd8], { rax: 0x1234n, rbx: 0x5678n, rcx: 20n }); // shld ax, bx, cl
    expect(r.r('rax')).toBe(0x6781n);
    expect(r.flags & CF).toBe(CF);
    r = ok([0x66, 0x0f, 0xad, 0xd8], { rax: 0x1234n, rbx: 0x5678n, rcx: 20n }); // shrd ax, bx, cl
    expect(r.r('rax')).toBe(0x4567n);
    expect(r.flags & CF).toBe(CF);
  });
});

// ---- BigInt models for the sweeps ----

function refShift(op: number, w: number, a: bigint, count: number, fin: number): { r: bigint; flags: number } {
  const n = count & (w === 64 ? 63 : 31);
  if (n === 0) return { r: a, flags: fin };
  const W = BigInt(w);
  const M = (1n << W) - 1n;
  const bit = (x: bigint, k: number) => Number((x >> BigInt(k)) & 1n);
  const cin = fin & CF;
  let r = 0n;
  let cf = 0;
  let of = 0;
  let rot = true;
  switch (op) {
    case 0: { const k = BigInt(n % w); r = ((a << k) | (a >> (W - k))) & M; cf = bit(r, 0); of = bit(r, w - 1) ^ cf; break; }
    case 1: { const k = BigInt(n % w); r = ((a >> k) | (a << (W - k))) & M; cf = bit(r, w - 1); of = cf ^ bit(r, w - 2); break; }
    case 2: case 3: {
      const k = BigInt(n % (w + 1));
      const v = (BigInt(cin) << W) | a;
      const M1 = (M << 1n) | 1n;
      const rv = op === 2 ? ((v << k) | (v >> (W + 1n - k))) & M1 : ((v >> k) | (v << (W + 1n - k))) & M1;
      r = rv & M;
      cf = bit(rv, w);
      of = op === 2 ? bit(r, w - 1) ^ cf : bit(r, w - 1) ^ bit(r, w - 2);
      break;
    }
    case 4: rot = false; r = (a << BigInt(n)) & M; cf = n <= w ? bit(a, w - n) : 0; of = bit(r, w - 1) ^ cf; break;
    case 5: rot = false; r = a >> BigInt(n); cf = n <= w ? bit(a, n - 1) : 0; of = bit(r, w - 1) ^ bit(r, w - 2); break;
    default: {
      rot = false;
      const s = BigInt.asIntN(w, a);
      r = BigInt.asUintN(w, s >> BigInt(n));
      cf = Number((s >> BigInt(n - 1)) & 1n);
      break;
    }
  }
  const flags = rot ? (fin & ~(CF | OF)) | cf | (of ? OF : 0) : cf | (of ? OF : 0) | szp(r, w);
  return { r, flags };
}

function refDshift(left: boolean, w: number, a: bigint, b: bigint, count: number, fin: number): { r: bigint; flags: number } {
  const n = count & (w === 64 ? 63 : 31);
  if (n === 0) return { r: a, flags: fin };
  const W = BigInt(w);
  const M = (1n << W) - 1n;
  const N = BigInt(n);
  const bit = (x: bigint, k: number) => Number((x >> BigInt(k)) & 1n);
  let r: bigint;
  let cf: number;
  if (w === 16) {
    const v = (a << 32n) | (b << 16n) | a;
    r = left ? (v >> (32n - N)) & M : (v >> N) & M;
    cf = left ? bit(v, 48 - n) : bit(v, n - 1);
  } else {
    r = left ? ((a << N) | (b >> (W - N))) & M : ((a >> N) | (b << (W - N))) & M;
    cf = left ? bit(a, w - n) : bit(a, n - 1);
  }
  const of = left ? bit(r, w - 1) ^ cf : bit(r, w - 1) ^ bit(r, w - 2);
  return { r, flags: cf | (of ? OF : 0) | szp(r, w) };
}

function rng(seed: number): () => bigint {
  let s = BigInt(seed);
  return () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffff_ffffffffn;
    return s ^ (s >> 29n);
  };
}

function edgeValues(w: number, rnd: () => bigint, extra: number): bigint[] {
  const W = BigInt(w);
  const M = (1n << W) - 1n;
  const msb = 1n << (W - 1n);
  const vs = [0n, 1n, 2n, 3n, M, M - 1n, msb, msb - 1n, msb + 1n, 0x5a5a5a5a_5a5a5a5an & M];
  for (let k = 0; k < extra; k++) vs.push(rnd() & M);
  return vs;
}

const PFX = [0, [], [0x66], 0, [], 0, 0, 0, [0x48]] as unknown as number[][];

/** the full 64-bit register after writing a w-bit result over `old` */
function merged(old: bigint, r: bigint, w: number): bigint {
  if (w === 8) return (old & ~0xffn) | r;
  if (w === 16) return (old & ~0xffffn) | r;
  return r;
}

describe('sweeps against BigInt models', () => {
  const rnd = rng(12345);
  const counts = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255];

  it('shifts and rotates: every size, op and count form', () => {
    let cases = 0;
    for (const size of [1, 2, 4, 8]) {
      const w = size * 8;
      const vals = edgeValues(w, rnd, 4);
      for (const op of [0, 1, 2, 3, 4, 5, 7]) {
        const modrm = 0xc0 | (op << 3) | 3; // rbx
        const forms: [number[], number][] = [[[...PFX[size], size === 1 ? 0xd0 : 0xd1, modrm], 1]];
        for (const n of counts) {
          forms.push([[...PFX[size], size === 1 ? 0xd2 : 0xd3, modrm], n]);
          forms.push([[...PFX[size], size === 1 ? 0xc0 : 0xc1, modrm, n & 0xff], n]);
        }
        for (const [code, n] of forms) {
          for (const a of vals) {
            for (const fin of [0, CF | ZF | AF, CF | OF | SF | PF]) {
              const old = UPPER | 0x77777777n;
              const start = (old & ~((1n << BigInt(w)) - 1n)) | a;
              const res = ok(code, { rbx: start, rcx: BigInt(n) }, fin);
              const exp = refShift(op, w, a, n, fin);
              const ctx = `op ${op} size ${size} a ${a.toString(16)} n ${n} fin ${fin.toString(16)}`;
              const full = w === 32 ? exp.r : merged(start, exp.r, w);
              expect(res.r('rbx'), ctx).toBe(full);
              expect(res.flags, ctx).toBe(exp.flags);
              cases++;
            }
          }
        }
      }
    }
    expect(cases).toBeGreaterThan(10000);
  });

  it('SHLD/SHRD: 16/32/64-bit, CL and immediate counts', () => {
    for (const size of [2, 4, 8]) {
      const w = size * 8;
      const vals = edgeValues(w, rnd, 3);
      for (const left of [true, false]) {
        for (const n of counts) {
          const codes = [
            [...PFX[size], 0x0f, left ? 0xa5 : 0xad, 0xd8], // rax, rbx, cl
            [...PFX[size], 0x0f, left ? 0xa4 : 0xac, 0xd8, n & 0xff], // rax, rbx, imm8
          ];
          for (const code of codes) {
            for (const a of vals) {
              for (const b of [0n, (1n << BigInt(w)) - 1n, vals[vals.length - 1]]) {
                const start = (UPPER & ~((1n << BigInt(w)) - 1n)) | a;
                const res = ok(code, { rax: start, rbx: b, rcx: BigInt(n) }, CF | ZF);
                const exp = refDshift(left, w, a, b, n, CF | ZF);
                const ctx = `${left ? 'shld' : 'shrd'} size ${size} a ${a.toString(16)} b ${b.toString(16)} n ${n}`;
                expect(res.r('rax'), ctx).toBe(w === 32 ? exp.r : merged(start, exp.r, w));
                expect(res.flags, ctx).toBe(exp.flags);
              }
            }
          }
        }
      }
    }
  });

  it('MUL/IMUL/DIV/IDIV: every size against BigInt, including #DE', () => {
    let des = 0;
    for (const size of [1, 2, 4, 8]) {
      const w = size * 8;
      const W = BigInt(w);
      const M = (1n << W) - 1n;
      const vals = edgeValues(w, rnd, 6);
      for (const op of [4, 5, 6, 7]) {
        const code = [...PFX[size], size === 1 ? 0xf6 : 0xf7, 0xc0 | (op << 3) | 3]; // op rbx
        for (const a of vals) {
          for (const d of [0n, 1n, a >> 1n, M, vals[vals.length - 1], vals[vals.length - 2]]) {
            for (const s of vals) {
              // 8-bit forms take AH as the dividend's high half
              const rax0 = size === 1 ? UPPER | ((d & 0xffn) << 8n) | a : (UPPER & ~M) | a;
              const rdx = (UPPER & ~M) | (d & M);
              const res = run(code, { rax: rax0, rdx, rbx: s }, SF | AF);
              const ctx = `op ${op} size ${size} a ${a.toString(16)} d ${d.toString(16)} s ${s.toString(16)}`;
              // the model: the dividend/multiplicand and where the results go
              let lo: bigint, hi: bigint, de = false, ov = false;
              if (op === 4 || op === 5) {
                const x = op === 4 ? a : BigInt.asIntN(w, a);
                const y = op === 4 ? s : BigInt.asIntN(w, s);
                const p = x * y;
                lo = BigInt.asUintN(w, p);
                hi = BigInt.asUintN(w, p >> W);
                ov = op === 4 ? hi !== 0n : p !== BigInt.asIntN(w, lo);
              } else {
                const nU = size === 1 ? a | ((d & 0xffn) << 8n) : ((d & M) << W) | a;
                const n = op === 6 ? nU : BigInt.asIntN(2 * w, nU);
                const dv = op === 6 ? s : BigInt.asIntN(w, s);
                lo = hi = 0n;
                if (dv === 0n) de = true;
                else {
                  const q = n / dv;
                  const r = n - q * dv;
                  if (op === 6 ? q > M : q !== BigInt.asIntN(w, q)) de = true;
                  lo = BigInt.asUintN(w, q);
                  hi = BigInt.asUintN(w, r);
                }
              }
              if (de) {
                des++;
                expect(res.vec, ctx).toBe(0);
                expect(res.at, ctx).toBe(0);
                expect(res.r('rax'), ctx).toBe(rax0);
                expect(res.r('rdx'), ctx).toBe(rdx);
                expect(res.flags, ctx).toBe(SF | AF);
                continue;
              }
              expect(res.vec, ctx).toBe(6);
              if (size === 1) {
                expect(res.r('rax'), ctx).toBe((rax0 & ~0xffffn) | (hi << 8n) | lo);
                expect(res.r('rdx'), ctx).toBe(rdx);
              } else {
                expect(res.r('rax'), ctx).toBe(merged(rax0, lo, w));
                expect(res.r('rdx'), ctx).toBe(merged(rdx, hi, w));
              }
              if (op <= 5) expect(res.flags, ctx).toBe((ov ? CF | OF : 0) | szp(lo, w));
              else expect(res.flags, ctx).toBe(SF | AF);
            }
          }
        }
      }
    }
    expect(des).toBeGreaterThan(100);
  });

  it('IMUL r, r/m (0F AF) and IMUL r, r/m, imm against BigInt', () => {
    for (const size of [2, 4, 8]) {
      const w = size * 8;
      const vals = edgeValues(w, rnd, 6);
      const code = [...PFX[size], 0x0f, 0xaf, 0xc3]; // imul rax, rbx
      for (const a of vals) {
        for (const s of vals) {
          const start = (UPPER & ~((1n << BigInt(w)) - 1n)) | a;
          const res = ok(code, { rax: start, rbx: s });
          const p = BigInt.asIntN(w, a) * BigInt.asIntN(w, s);
          const lo = BigInt.asUintN(w, p);
          const ctx = `size ${size} a ${a.toString(16)} s ${s.toString(16)}`;
          expect(res.r('rax'), ctx).toBe(merged(start, lo, w));
          expect(res.flags, ctx).toBe((p !== BigInt.asIntN(w, lo) ? CF | OF : 0) | szp(lo, w));
        }
      }
      for (const imm of [0, 1, -1, 127, -128]) {
        const c8 = [...PFX[size], 0x6b, 0xc3, imm & 0xff]; // imul eax, ebx, imm8
        for (const s of vals) {
          const res = ok(c8, { rax: UPPER, rbx: s });
          const p = BigInt.asIntN(w, s) * BigInt(imm);
          const lo = BigInt.asUintN(w, p);
          expect(res.r('rax')).toBe(merged(UPPER, lo, w));
          expect(res.flags & (CF | OF)).toBe(p !== BigInt.asIntN(w, lo) ? CF | OF : 0);
        }
      }
    }
  });

  it('exact 64x64 multiply and 128/64 divide helpers on random operands', () => {
    const r = rng(777);
    for (let k = 0; k < 3000; k++) {
      // mix magnitudes so the float, 32-bit-divisor and BigInt paths all run
      const sh = Number(r() & 63n);
      const a = r() >> BigInt(Number(r() & 63n));
      const b = (r() >> BigInt(sh)) | 1n;
      const al = Number(a & 0xffffffffn) | 0, ah = Number(a >> 32n) | 0;
      const bl = Number(b & 0xffffffffn) | 0, bh = Number(b >> 32n) | 0;
      const w = md.mul64(al, ah, bl, bh, false);
      const p = BigInt.asUintN(128, a * b);
      const got = w.reduce((acc, x, idx) => acc | (BigInt(x >>> 0) << BigInt(32 * idx)), 0n);
      expect(got).toBe(p);
      const ws = md.mul64(al, ah, bl, bh, true);
      const ps = BigInt.asUintN(128, BigInt.asIntN(64, a) * BigInt.asIntN(64, b));
      expect(ws.reduce((acc, x, idx) => acc | (BigInt(x >>> 0) << BigInt(32 * idx)), 0n)).toBe(ps);
      const nHi = r() % b; // keeps the quotient within 64 bits
      const n = (nHi << 64n) | r();
      const q = md.div128(Number(nHi >> 32n), Number(nHi & 0xffffffffn), Number((n >> 32n) & 0xffffffffn), Number(n & 0xffffffffn),
        Number(b >> 32n), Number(b & 0xffffffffn));
      expect(q).not.toBeNull();
      const [ql, qh, rl, rh] = q!;
      expect((BigInt(qh) << 32n) | BigInt(ql)).toBe(n / b);
      expect((BigInt(rh) << 32n) | BigInt(rl)).toBe(n % b);
    }
  });
});

describe('multiply and divide: hand cases', () => {
  it('MUL writes AX / rDX:rAX and sets CF = OF when the high half is used', () => {
    let r = ok([0xf6, 0xe3], { rax: 0x11111111_111100ffn, rbx: 0xffn }); // mul bl
    expect(r.r('rax')).toBe(0x11111111_1111fe01n);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = ok([0xf7, 0xe1], { rax: UPPER | 0xffffffffn, rcx: 0xffffffffn }); // mul ecx
    expect(r.r('rax')).toBe(1n);
    expect(r.r('rdx')).toBe(0xfffffffen);
    r = ok([0xf7, 0xe1], { rax: 2n, rcx: 3n, rdx: UPPER });
    expect(r.r('rax')).toBe(6n);
    expect(r.r('rdx')).toBe(0n);
    expect(r.flags & (CF | OF)).toBe(0);
    r = ok([0x48, 0xf7, 0xe1], { rax: -1n, rcx: -1n }); // mul rcx
    expect(r.r('rax')).toBe(1n);
    expect(r.r('rdx')).toBe(0xffffffff_fffffffen);
  });

  it('one-operand IMUL', () => {
    let r = ok([0x48, 0xf7, 0xe9], { rax: -1n, rcx: 1n }); // imul rcx
    expect(r.r('rax')).toBe(0xffffffff_ffffffffn);
    expect(r.r('rdx')).toBe(0xffffffff_ffffffffn);
    expect(r.flags & (CF | OF)).toBe(0);
    r = ok([0x48, 0xf7, 0xe9], { rax: 1n << 62n, rcx: 2n });
    expect(r.r('rax')).toBe(1n << 63n);
    expect(r.r('rdx')).toBe(0n);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = ok([0xf7, 0xe9], { rax: 0x10000n, rcx: 0x10000n }); // imul ecx
    expect(r.r('rax')).toBe(0n);
    expect(r.r('rdx')).toBe(1n);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = ok([0xf7, 0xe9], { rax: BigInt.asUintN(32, -2n), rcx: 3n });
    expect(r.r('rax')).toBe(0xfffffffan);
    expect(r.r('rdx')).toBe(0xffffffffn);
    expect(r.flags & (CF | OF)).toBe(0);
  });

  it('two- and three-operand IMUL truncate', () => {
    let r = ok([0x48, 0x0f, 0xaf, 0xc1], { rax: 1n << 32n, rcx: 1n << 32n }); // imul rax, rcx
    expect(r.r('rax')).toBe(0n);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = ok([0x48, 0x0f, 0xaf, 0xc1], { rax: -3n, rcx: 5n });
    expect(r.r('rax')).toBe(BigInt.asUintN(64, -15n));
    expect(r.flags & (CF | OF | SF)).toBe(SF);
    r = ok([0x66, 0x0f, 0xaf, 0xca], { rcx: UPPER | 0x100n, rdx: 0x100n }); // imul cx, dx
    expect(r.r('rcx')).toBe(UPPER);
    expect(r.flags & (CF | OF | ZF)).toBe(CF | OF | ZF);
    r = ok([0x6b, 0xc1, 0xff], { rcx: 0x80000000n }); // imul eax, ecx, -1
    expect(r.r('rax')).toBe(0x80000000n);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = ok([0x48, 0x69, 0xc1, 0x78, 0x56, 0x34, 0x12], { rcx: 0x100n }); // imul rax, rcx, 0x12345678
    expect(r.r('rax')).toBe(0x12_34567800n);
    setMem(DATA, [7, 0, 0, 0]);
    r = ok([0x6b, 0x07, 0x03], { rdi: BigInt(DATA), rax: UPPER }); // imul eax, [rdi], 3
    expect(r.r('rax')).toBe(21n);
  });

  it('DIV and its #DE cases leave the registers unchanged', () => {
    let r = run([0xf6, 0xf1], { rax: 1234n, rcx: 0n }); // div cl by 0
    expect(r.vec).toBe(0);
    expect(r.at).toBe(0);
    expect(r.r('rax')).toBe(1234n);
    r = run([0xf6, 0xf1], { rax: 0x1000n, rcx: 16n }); // quotient 256
    expect(r.vec).toBe(0);
    expect(r.r('rax')).toBe(0x1000n);
    r = ok([0xf6, 0xf1], { rax: 100n, rcx: 7n });
    expect(r.r('rax')).toBe(0x020en);
    r = run([0xf7, 0xf1], { rdx: 1n, rax: 0n, rcx: 1n }); // div ecx: EDX >= ECX
    expect(r.vec).toBe(0);
    r = ok([0xf7, 0xf1], { rdx: 1n, rax: 0n, rcx: 2n });
    expect(r.r('rax')).toBe(0x80000000n);
    expect(r.r('rdx')).toBe(0n);
    r = ok([0x48, 0xf7, 0xf1], { rdx: 1n, rax: 0n, rcx: 3n }); // div rcx: 2^64 / 3
    expect(r.r('rax')).toBe(0x55555555_55555555n);
    expect(r.r('rdx')).toBe(1n);
    r = ok([0x48, 0xf7, 0xf1], { rdx: 1n, rax: 0n, rcx: 0x1_00000001n }); // divisor above 2^32
    expect(r.r('rax')).toBe(0xffffffffn);
    expect(r.r('rdx')).toBe(1n);
    r = ok([0x48, 0xf7, 0xf1], { rax: 100n, rcx: 1n << 40n });
    expect(r.r('rax')).toBe(0n);
    expect(r.r('rdx')).toBe(100n);
    setMem(DATA, [0, 0]);
    r = run([0x66, 0xf7, 0x37], { rdi: BigInt(DATA), rax: 5n }); // div word [rdi] by 0
    expect(r.vec).toBe(0);
    expect(r.r('rax')).toBe(5n);
  });

  it('IDIV truncates toward zero and raises #DE on the one signed overflow per size', () => {
    let r = ok([0xf6, 0xf9], { rax: 0xfff9n, rcx: 2n }); // idiv cl: -7 / 2
    expect(r.r('rax')).toBe(0xfffdn); // AL = -3, AH = -1
    r = run([0xf6, 0xf9], { rax: 0xff80n, rcx: 0xffn }); // -128 / -1
    expect(r.vec).toBe(0);
    r = ok([0xf6, 0xf9], { rax: 0xff00n, rcx: 2n }); // -256 / 2 = -128 fits
    expect(r.r('rax')).toBe(0x0080n);
    r = ok([0xf7, 0xf9], { rdx: 0xffffffffn, rax: 0xfffffff9n, rcx: 2n }); // idiv ecx: -7 / 2
    expect(r.r('rax')).toBe(0xfffffffdn);
    expect(r.r('rdx')).toBe(0xffffffffn);
    r = run([0xf7, 0xf9], { rdx: 0xffffffffn, rax: 0x80000000n, rcx: 0xffffffffn }); // -2^31 / -1
    expect(r.vec).toBe(0);
    r = ok([0xf7, 0xf9], { rdx: 0xffffffffn, rax: 0n, rcx: 2n }); // -2^32 / 2 = -2^31 fits
    expect(r.r('rax')).toBe(0x80000000n);
    expect(r.r('rdx')).toBe(0n);
    r = run([0x48, 0xf7, 0xf9], { rdx: -1n, rax: 1n << 63n, rcx: -1n }); // idiv rcx: -2^63 / -1
    expect(r.vec).toBe(0);
    expect(r.r('rax')).toBe(1n << 63n);
    r = ok([0x48, 0xf7, 0xf9], { rdx: -1n, rax: -7n, rcx: 2n });
    expect(r.r('rax')).toBe(BigInt.asUintN(64, -3n));
    expect(r.r('rdx')).toBe(BigInt.asUintN(64, -1n));
    r = ok([0x48, 0xf7, 0xf9], { rdx: -1n, rax: 0n, rcx: 2n }); // -2^64 / 2 = -2^63 fits
    expect(r.r('rax')).toBe(1n << 63n);
    r = run([0x48, 0xf7, 0xf9], { rdx: 0n, rax: 1n << 63n, rcx: 1n }); // 2^63 / 1 does not
    expect(r.vec).toBe(0);
    r = ok([0x48, 0xf7, 0xf9], { rdx: 0n, rax: 1n << 63n, rcx: -1n }); // 2^63 / -1 = -2^63
    expect(r.r('rax')).toBe(1n << 63n);
    expect(r.r('rdx')).toBe(0n);
  });
});

describe('bit test, scan and count', () => {
  it('BT*/register: offset modulo the width, only CF changes', () => {
    const keep = ZF | SF | OF | AF | PF;
    let r = ok([0x0f, 0xa3, 0xc8], { rax: UPPER | 2n, rcx: 33n }, keep); // bt eax, ecx
    expect(r.flags).toBe(keep | CF);
    expect(r.r('rax')).toBe(UPPER | 2n); // BT does not write
    r = ok([0x0f, 0xab, 0xc8], { rax: UPPER, rcx: 33n }); // bts eax, ecx
    expect(r.r('rax')).toBe(2n);
    expect(r.flags & CF).toBe(0);
    r = ok([0x48, 0x0f, 0xb3, 0xc8], { rax: -1n, rcx: 127n }); // btr rax, rcx
    expect(r.r('rax')).toBe(0x7fffffff_ffffffffn);
    expect(r.flags & CF).toBe(CF);
    r = ok([0x48, 0x0f, 0xbb, 0xc8], { rax: 0n, rcx: 32n }); // btc rax, rcx
    expect(r.r('rax')).toBe(1n << 32n);
    r = ok([0x0f, 0xba, 0xe8, 0x21], { rax: 0n }); // bts eax, 33
    expect(r.r('rax')).toBe(2n);
    r = ok([0x48, 0x0f, 0xba, 0xf0, 0x3f], { rax: -1n }); // btr rax, 63
    expect(r.r('rax')).toBe(0x7fffffff_ffffffffn);
    expect(r.flags & CF).toBe(CF);
  });

  it('BT*/memory with a register offset addresses beyond the operand, signed', () => {
    mem.u8.fill(0, DATA - 32, DATA + 32);
    setMem(DATA - 4, [0, 0, 0, 0x80]);
    let r = ok([0x0f, 0xa3, 0x37], { rdi: BigInt(DATA), rsi: 0xffffffffn }); // bt [rdi], esi = -1
    expect(r.flags & CF).toBe(CF);
    setMem(DATA + 4, [0x08]);
    r = ok([0x0f, 0xa3, 0x37], { rdi: BigInt(DATA), rsi: 35n });
    expect(r.flags & CF).toBe(CF);
    ok([0x0f, 0xab, 0x37], { rdi: BigInt(DATA), rsi: 71n }); // bts [rdi], esi: dword at +8, bit 7
    expect(mem.u8[DATA + 8]).toBe(0x80);
    setMem(DATA - 16, [0, 0, 0, 0, 0, 0, 0, 0x80]);
    r = ok([0x48, 0x0f, 0xa3, 0x37], { rdi: BigInt(DATA), rsi: -65n }); // bt qword [rdi], rsi
    expect(r.flags & CF).toBe(CF);
    mem.u8[DATA - 1] = 0x01;
    r = ok([0x66, 0x0f, 0xbb, 0x37], { rdi: BigInt(DATA), rsi: 0xffffn }); // btc word [rdi], si = -1
    expect(mem.u8[DATA - 1]).toBe(0x81);
    expect(r.flags & CF).toBe(0);
    // with an immediate the offset is taken modulo the width, even for memory
    mem.u8.fill(0, DATA, DATA + 8);
    setMem(DATA, [0x02]);
    r = ok([0x0f, 0xba, 0x27, 0x21], { rdi: BigInt(DATA) }); // bt dword [rdi], 33
    expect(r.flags & CF).toBe(CF);
  });

  it('BSF/BSR: a zero source sets ZF and leaves the destination unchanged', () => {
    let r = ok([0x0f, 0xbc, 0xc1], { rax: UPPER | 0x1234n, rcx: 0n }); // bsf eax, ecx
    expect(r.r('rax')).toBe(UPPER | 0x1234n);
    expect(r.flags & ZF).toBe(ZF);
    r = ok([0x0f, 0xbc, 0xc1], { rax: UPPER, rcx: 0x80n });
    expect(r.r('rax')).toBe(7n);
    expect(r.flags & ZF).toBe(0);
    r = ok([0x0f, 0xbd, 0xc1], { rcx: 0x80000001n }); // bsr eax, ecx
    expect(r.r('rax')).toBe(31n);
    r = ok([0x48, 0x0f, 0xbc, 0xc1], { rcx: 1n << 32n }); // bsf rax, rcx
    expect(r.r('rax')).toBe(32n);
    r = ok([0x48, 0x0f, 0xbd, 0xc1], { rcx: 1n << 63n }); // bsr rax, rcx
    expect(r.r('rax')).toBe(63n);
    r = ok([0x48, 0x0f, 0xbd, 0xc1], { rcx: 1n });
    expect(r.r('rax')).toBe(0n);
    expect(r.flags & (ZF | CF | OF | AF)).toBe(0);
  });

  it('TZCNT/LZCNT count to the width on zero and set CF', () => {
    let r = ok([0xf3, 0x0f, 0xbc, 0xc1], { rcx: 0n }); // tzcnt eax, ecx
    expect(r.r('rax')).toBe(32n);
    expect(r.flags & (CF | ZF)).toBe(CF);
    r = ok([0xf3, 0x0f, 0xbc, 0xc1], { rcx: 1n });
    expect(r.r('rax')).toBe(0n);
    expect(r.flags & (CF | ZF)).toBe(ZF);
    r = ok([0xf3, 0x0f, 0xbd, 0xc1], { rcx: 0x10000n }); // lzcnt eax, ecx
    expect(r.r('rax')).toBe(15n);
    r = ok([0x66, 0xf3, 0x0f, 0xbd, 0xc1], { rax: UPPER, rcx: 1n }); // lzcnt ax, cx
    expect(r.r('rax')).toBe(UPPER | 15n);
    r = ok([0x66, 0xf3, 0x0f, 0xbd, 0xc1], { rcx: 0n });
    expect(r.r('rax')).toBe(16n);
    expect(r.flags & CF).toBe(CF);
    r = ok([0xf3, 0x48, 0x0f, 0xbc, 0xc1], { rcx: 1n << 32n }); // tzcnt rax, rcx
    expect(r.r('rax')).toBe(32n);
    r = ok([0xf3, 0x48, 0x0f, 0xbd, 0xc1], { rcx: 1n }); // lzcnt rax, rcx
    expect(r.r('rax')).toBe(63n);
    r = ok([0xf3, 0x48, 0x0f, 0xbd, 0xc1], { rcx: 0n });
    expect(r.r('rax')).toBe(64n);
    expect(r.flags & CF).toBe(CF);
  });

  it('POPCNT', () => {
    let r = ok([0xf3, 0x0f, 0xb8, 0xc1], { rcx: 0xffffffffn }, ARITH); // popcnt eax, ecx
    expect(r.r('rax')).toBe(32n);
    expect(r.flags).toBe(0);
    r = ok([0xf3, 0x0f, 0xb8, 0xc1], { rax: 9n, rcx: 0n }, ARITH);
    expect(r.r('rax')).toBe(0n);
    expect(r.flags).toBe(ZF);
    r = ok([0xf3, 0x48, 0x0f, 0xb8, 0xc1], { rcx: -1n }); // popcnt rax, rcx
    expect(r.r('rax')).toBe(64n);
  });

  it('BSWAP (16-bit: low word cleared)', () => {
    let r = ok([0x0f, 0xc8], { rax: UPPER | 0x12345678n }); // bswap eax
    expect(r.r('rax')).toBe(0x78563412n);
    r = ok([0x48, 0x0f, 0xc8], { rax: 0x01234567_89abcdefn }); // bswap rax
    expect(r.r('rax')).toBe(0xefcdab89_67452301n);
    r = ok([0x49, 0x0f, 0xc9], { r9: 0x11223344_55667788n }); // bswap r9
    expect(r.r('r9')).toBe(0x88776655_44332211n);
    r = ok([0x66, 0x0f, 0xc8], { rax: UPPER | 0x12345678n }); // bswap ax
    expect(r.r('rax')).toBe(UPPER | 0x12340000n);
  });
});

describe('decimal adjustment (32-bit mode)', () => {
  it('DAA / DAS after ADD / SUB', () => {
    let r = ok([0xb0, 0x79, 0x04, 0x35, 0x27], {}, 0, 32); // mov al,79h; add al,35h; daa
    expect(r.r('rax') & 0xffn).toBe(0x14n);
    expect(r.flags & (CF | AF | ZF)).toBe(CF | AF);
    r = ok([0xb0, 0x35, 0x2c, 0x47, 0x2f], {}, 0, 32); // mov al,35h; sub al,47h; das
    expect(r.r('rax') & 0xffn).toBe(0x88n);
    expect(r.flags & (CF | AF | SF)).toBe(CF | AF | SF);
    r = ok([0x27], { rax: 0x09n }, 0, 32); // daa with nothing to adjust
    expect(r.r('rax')).toBe(0x09n);
    expect(r.flags & (CF | AF)).toBe(0);
    r = ok([0x27], { rax: 0x9an }, 0, 32); // 0x9a: both digits adjusted, carry out
    expect(r.r('rax')).toBe(0x00n);
    expect(r.flags & (CF | AF | ZF)).toBe(CF | AF | ZF);
    r = ok([0x2f], { rax: 0x03n }, AF, 32); // das: low-digit borrow sets CF
    expect(r.r('rax')).toBe(0xfdn);
    expect(r.flags & (CF | AF)).toBe(CF | AF);
  });

  it('AAA / AAS', () => {
    let r = ok([0x66, 0xb8, 0x09, 0x00, 0x04, 0x08, 0x37], {}, 0, 32); // mov ax,9; add al,8; aaa
    expect(r.r('rax')).toBe(0x0107n);
    expect(r.flags & (CF | AF)).toBe(CF | AF);
    r = ok([0x37], { rax: 0x0105n }, 0, 32);
    expect(r.r('rax')).toBe(0x0105n);
    expect(r.flags & (CF | AF)).toBe(0);
    r = ok([0x66, 0xb8, 0x02, 0x01, 0x2c, 0x05, 0x3f], {}, 0, 32); // mov ax,0102h; sub al,5; aas
    expect(r.r('rax')).toBe(0x0007n);
    expect(r.flags & (CF | AF)).toBe(CF | AF);
  });

  it('AAM / AAD with any base; AAM 0 raises #DE', () => {
    let r = ok([0xd4, 0x0a], { rax: 0x4fn }, 0, 32); // aam
    expect(r.r('rax')).toBe(0x0709n);
    r = ok([0xd4, 0x10], { rax: 0x4fn }, 0, 32); // aam 16
    expect(r.r('rax')).toBe(0x040fn);
    r = run([0xd4, 0x00], { rax: 0x4fn }, 0, 32); // aam 0
    expect(r.vec).toBe(0);
    expect(r.at).toBe(0);
    expect(r.r('rax')).toBe(0x4fn);
    r = ok([0xd5, 0x0a], { rax: 0x0709n }, 0, 32); // aad
    expect(r.r('rax')).toBe(0x4fn);
    r = ok([0xd5, 0x10], { rax: 0x0409n }, 0, 32); // aad 16
    expect(r.r('rax')).toBe(0x49n);
    expect(r.flags & (ZF | SF)).toBe(0);
  });

  it('SALC, and #UD for these in 64-bit mode', () => {
    expect(ok([0xd6], { rax: 0x1200n }, CF, 32).r('rax')).toBe(0x12ffn);
    expect(ok([0xd6], { rax: 0x12ffn }, 0, 32).r('rax')).toBe(0x1200n);
    for (const op of [0x27, 0x2f, 0x37, 0x3f, 0xd6]) {
      const r = run([op], {}, 0, 64);
      expect(r.vec).toBe(6);
      expect(r.at).toBe(0);
    }
  });
});

describe('accumulator extension, flags, SETcc, CMOVcc', () => {
  it('CBW/CWDE/CDQE and CWD/CDQ/CQO', () => {
    expect(ok([0x66, 0x98], { rax: 0x11111111_11111180n }).r('rax')).toBe(0x11111111_1111ff80n);
    expect(ok([0x98], { rax: UPPER | 0x8000n }).r('rax')).toBe(0xffff8000n);
    expect(ok([0x48, 0x98], { rax: UPPER | 0x80000000n }).r('rax')).toBe(0xffffffff_80000000n);
    expect(ok([0x48, 0x98], { rax: UPPER | 0x7fffffffn }).r('rax')).toBe(0x7fffffffn);
    expect(ok([0x66, 0x99], { rax: 0x8000n, rdx: UPPER }).r('rdx')).toBe(UPPER | 0xffffn);
    expect(ok([0x99], { rax: 0xffffffffn, rdx: UPPER }).r('rdx')).toBe(0xffffffffn);
    expect(ok([0x99], { rax: 0x7fffffffn, rdx: UPPER }).r('rdx')).toBe(0n);
    expect(ok([0x48, 0x99], { rax: 1n << 63n }).r('rdx')).toBe(0xffffffff_ffffffffn);
    expect(ok([0x48, 0x99], { rax: 1n, rdx: 5n }).r('rdx')).toBe(0n);
  });

  it('CLC STC CMC CLD STD', () => {
    expect(ok([0xf8], {}, ARITH).flags).toBe(ARITH & ~CF);
    expect(ok([0xf9], {}, 0).flags).toBe(CF);
    expect(ok([0xf5], {}, ZF).flags).toBe(ZF | CF);
    expect(ok([0xf5], {}, CF).flags).toBe(0);
    let r = ok([0xfd]);
    expect(getFlags(r.c) & 0x400).toBe(0x400);
    r = ok([0xfd, 0xfc]);
    expect(getFlags(r.c) & 0x400).toBe(0);
  });

  it('SAHF / LAHF, including lazily held flags', () => {
    let r = ok([0x9e], { rax: 0xd700n }, OF); // sahf: AH = SF ZF AF PF CF (+ bits 1, 3, 5 ignored)
    expect(r.flags).toBe(SF | ZF | AF | PF | CF | OF);
    r = ok([0x9e], { rax: 0n }, ARITH);
    expect(r.flags).toBe(OF);
    r = ok([0x39, 0xc0, 0x9f], { rax: 0n }); // cmp eax, eax; lahf
    expect(r.r('rax')).toBe(BigInt((ZF | PF | 2) << 8));
  });

  it('SETcc to a register and to memory', () => {
    let r = ok([0x39, 0xc0, 0x0f, 0x94, 0xc0], { rax: UPPER | 0x1200n }); // cmp eax,eax; sete al
    expect(r.r('rax')).toBe(UPPER | 0x1201n);
    setMem(DATA, [0xff]);
    ok([0x0f, 0x95, 0x07], { rdi: BigInt(DATA) }, ZF); // setne byte [rdi]
    expect(mem.u8[DATA]).toBe(0);
    r = ok([0x0f, 0x9c, 0xc4], { rax: 0n }, SF); // setl ah: SF != OF
    expect(r.r('rax')).toBe(0x100n);
  });

  it('CMOVcc: a false 32-bit CMOV still clears the upper half; a memory source is always read', () => {
    let r = ok([0x0f, 0x44, 0xc1], { rax: UPPER | 5n, rcx: 9n }, 0); // cmove eax, ecx, ZF = 0
    expect(r.r('rax')).toBe(5n);
    r = ok([0x0f, 0x44, 0xc1], { rax: UPPER | 5n, rcx: UPPER | 9n }, ZF);
    expect(r.r('rax')).toBe(9n);
    r = ok([0x48, 0x0f, 0x44, 0xc1], { rax: UPPER | 5n, rcx: 9n }, 0); // cmove rax, rcx
    expect(r.r('rax')).toBe(UPPER | 5n);
    r = ok([0x48, 0x0f, 0x44, 0xc1], { rax: UPPER | 5n, rcx: 9n }, ZF);
    expect(r.r('rax')).toBe(9n);
    r = ok([0x66, 0x0f, 0x44, 0xc1], { rax: UPPER | 5n, rcx: 9n }, 0); // cmove ax, cx
    expect(r.r('rax')).toBe(UPPER | 5n);
    // cmove eax, [rax] with a non-canonical address and a false condition: #GP(0)
    r = run([0x0f, 0x44, 0x00], { rax: 0x80000000_00000000n }, 0);
    expect(r.vec).toBe(13);
    expect(r.r('rax')).toBe(0x80000000_00000000n);
  });
});

describe('exchanges', () => {
  it('XCHG forms', () => {
    let r = ok([0x91], { rax: UPPER | 1n, rcx: UPPER | 2n }); // xchg eax, ecx
    expect(r.r('rax')).toBe(2n);
    expect(r.r('rcx')).toBe(1n);
    r = ok([0x49, 0x90], { rax: UPPER | 1n, r8: 2n }); // xchg r8, rax
    expect(r.r('rax')).toBe(2n);
    expect(r.r('r8')).toBe(UPPER | 1n);
    r = ok([0x86, 0xdc], { rax: 0x1100n, rbx: 0x22n }); // xchg ah, bl
    expect(r.r('rax')).toBe(0x2200n);
    expect(r.r('rbx')).toBe(0x11n);
    setMem(DATA, [1, 0, 0, 0]);
    r = ok([0x87, 0x0f], { rdi: BigInt(DATA), rcx: UPPER | 7n }); // xchg [rdi], ecx
    expect(getMem32(DATA)).toBe(7);
    expect(r.r('rcx')).toBe(1n);
  });

  it('XADD', () => {
    let r = ok([0x0f, 0xc1, 0xc8], { rax: 1n, rcx: 2n }); // xadd eax, ecx
    expect(r.r('rax')).toBe(3n);
    expect(r.r('rcx')).toBe(1n);
    r = ok([0x0f, 0xc1, 0xc0], { rax: 5n }); // xadd eax, eax
    expect(r.r('rax')).toBe(10n);
    setMem64(DATA, -1n);
    r = ok([0x48, 0x0f, 0xc1, 0x0f], { rdi: BigInt(DATA), rcx: 1n }); // xadd [rdi], rcx
    expect(getMem64(DATA)).toBe(0n);
    expect(r.r('rcx')).toBe(0xffffffff_ffffffffn);
    expect(r.flags & (CF | ZF | AF)).toBe(CF | ZF | AF);
  });

  it('CMPXCHG: flags as CMP; register destination written only when equal', () => {
    let r = ok([0x0f, 0xb1, 0xd1], { rax: UPPER | 5n, rcx: 5n, rdx: 9n }); // cmpxchg ecx, edx
    expect(r.r('rcx')).toBe(9n);
    expect(r.r('rax')).toBe(UPPER | 5n);
    expect(r.flags & ZF).toBe(ZF);
    r = ok([0x0f, 0xb1, 0xd1], { rax: UPPER | 5n, rcx: UPPER | 7n, rdx: 9n });
    expect(r.r('rax')).toBe(7n);
    expect(r.r('rcx')).toBe(UPPER | 7n);
    expect(r.flags & (ZF | CF | SF)).toBe(CF | SF);
    setMem(DATA, [0x42]);
    r = ok([0x0f, 0xb0, 0x1f], { rdi: BigInt(DATA), rax: 0x42n, rbx: 0x17n }); // cmpxchg [rdi], bl
    expect(mem.u8[DATA]).toBe(0x17);
    expect(r.flags & ZF).toBe(ZF);
    r = ok([0x0f, 0xb0, 0x1f], { rdi: BigInt(DATA), rax: 0x1100n, rbx: 0x99n });
    expect(mem.u8[DATA]).toBe(0x17);
    expect(r.r('rax')).toBe(0x1117n);
    expect(r.flags & ZF).toBe(0);
  });

  it('CMPXCHG8B / CMPXCHG16B', () => {
    setMem64(DATA, 0x11111111_22222222n);
    let r = ok([0x0f, 0xc7, 0x0f], { rdi: BigInt(DATA), rdx: 0x11111111n, rax: 0x22222222n, rcx: 0xaaaan, rbx: 0xbbbbn });
    expect(getMem64(DATA)).toBe(0xaaaa_0000bbbbn);
    expect(r.flags & ZF).toBe(ZF);
    expect(r.r('rax')).toBe(0x22222222n);
    r = ok([0x0f, 0xc7, 0x0f], { rdi: BigInt(DATA), rdx: UPPER, rax: UPPER, rcx: 1n, rbx: 2n }, ZF | CF);
    expect(getMem64(DATA)).toBe(0xaaaa_0000bbbbn);
    expect(r.r('rdx')).toBe(0xaaaan);
    expect(r.r('rax')).toBe(0xbbbbn);
    expect(r.flags).toBe(CF);
    setMem64(DATA, 1n);
    setMem64(DATA + 8, 2n);
    const code16 = [0x48, 0x0f, 0xc7, 0x0f];
    r = ok(code16, { rdi: BigInt(DATA), rax: 1n, rdx: 2n, rbx: 0x33n, rcx: 0x44n });
    expect(getMem64(DATA)).toBe(0x33n);
    expect(getMem64(DATA + 8)).toBe(0x44n);
    expect(r.flags & ZF).toBe(ZF);
    r = ok(code16, { rdi: BigInt(DATA), rax: 1n, rdx: 2n });
    expect(r.r('rax')).toBe(0x33n);
    expect(r.r('rdx')).toBe(0x44n);
    expect(r.flags & ZF).toBe(0);
    r = run(code16, { rdi: BigInt(DATA + 8), rax: 1n });
    expect(r.vec).toBe(13);
    expect(r.r('rax')).toBe(1n);
  });
});
