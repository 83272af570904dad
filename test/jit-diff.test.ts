// Differential test of the block compiler on random integer code: the same program on two bare
// cores, one interpreting and one compiling every block at its first or second fetch (threshold
// 1 or 2), run
// in the same uneven slices; after every slice the registers, the whole RFLAGS, RIP, the counters
// (with a fractional cost per instruction, so the cycle sums must match to the last bit), the
// stop and the data memory must be equal. The programs mix the inlined forms (ALU, MOV, LEA,
// INC/DEC, PUSH/POP, Jcc, IMUL) at 8/16/32/64 bits with handler-called ones (SETcc, CMOVcc, shifts,
// XCHG, PAUSE, RDTSC/RDTSCP; MOVZX/MOVSX/MOVSXD, byte ALU and shifts inlined or not), LAHF/PUSHF to expose flags, stores into the code page
// (self-modifying code, also into the part of a block reached through a followed branch), Jcc
// and JMP forward and JMP backward inside the page (a block's trace follows them), and a
// counted loop back to the start (a block that loops on itself).

import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { getFlags } from '../src/cpu/flags.js';
import { getProfile } from '../src/cost/profiles.js';

const CODE = 0x1000;
const DATA = 0x10000;
const STACK = 0x30000;
/** the test device: a write arms the cycle deadline 1-16 cycles ahead (as a timer would) */
const MMIO = 0xe0000;

function rng(seed: number): () => number {
  let s = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

/** destination registers: never RSP, RSI, RDI (the data pointers) or R15 (the loop counter) */
const DST = [0, 1, 2, 3, 5, 8, 9, 10, 11, 12, 13, 14];

function program(r: () => number, bits: 32 | 64): number[] {
  const pick = <T>(xs: readonly T[]): T => xs[r() % xs.length];
  const out: number[][] = [];
  const rex = (w: boolean, reg: number, rm: number, idx = 0) => {
    if (bits !== 64) return [];
    const b = 0x40 | (w ? 8 : 0) | ((reg >> 3) << 2) | ((idx >> 3) << 1) | (rm >> 3);
    return b === 0x40 && r() % 2 === 0 ? [] : [b];
  };
  const regs = bits === 64 ? DST : [0, 1, 2, 3, 5];
  const imm32 = () => { const v = r(); return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]; };
  const small = () => pick([0, 1, 0x7f, 0x80, 0xff, 0xffffffff, 0x80000000, 0x7fffffff, r()]);
  const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  // a memory operand [rsi + disp8] (mod 01, rm 110) or [rdi + rcx*?] is avoided: rsi only
  const memRm = (reg: number) => [0x40 | ((reg & 7) << 3) | 6, r() & 0x78];
  const n = 4 + (r() % 24);
  for (let k = 0; k < n; k++) {
    const d = pick(regs);
    const s = pick(regs);
    const w = bits === 64 && r() % 2 === 0;
    const p66 = r() % 6 === 0 ? [0x66] : [];
    const kind = r() % 29;
    switch (kind) {
      case 0: case 1: { // ALU Ev,Gv / Gv,Ev (register or memory)
        const op = r() % 8;
        const mem = r() % 3 === 0;
        const opc = op * 8 + (r() % 2 === 0 ? 1 : 3) - (r() % 5 === 0 ? 1 : 0);
        out.push([...p66, ...rex(w, s, mem ? 6 : d), opc, ...(mem ? memRm(s) : [0xc0 | ((s & 7) << 3) | (d & 7)])]);
        break;
      }
      case 2: { // ALU Ev, imm (81 / 83)
        const op = r() % 8;
        if (r() % 2 === 0) out.push([...rex(w, 0, d), 0x83, 0xc0 | (op << 3) | (d & 7), r() & 0xff]);
        else out.push([...rex(w, 0, d), 0x81, 0xc0 | (op << 3) | (d & 7), ...imm32()]);
        break;
      }
      case 3: out.push([...rex(w, 0, 0), 0x05 + 8 * (r() % 8), ...imm32()]); break; // op eAX, imm32
      case 4: out.push([...p66, ...rex(w, 0, d), 0xff, 0xc0 | ((r() % 2) << 3) | (d & 7)]); break; // INC/DEC
      case 5: out.push([...rex(w, 0, d), 0xb8 + (d & 7), ...(w ? [...le32(small()), ...le32(small())] : le32(small()))]); break; // MOV r, imm
      case 6: { // MOV Ev,Gv / Gv,Ev, register or memory
        if (r() % 5 === 0) {
          // a load through a register holding a random value: in 64-bit mode almost always a
          // non-canonical address (#GP) or, paged, an unmapped one (#PF), after flags and
          // registers the block has not written back yet (r12 needs a SIB byte, rbp/r13 a
          // disp8 of 0)
          const tail = (s & 7) === 4 ? [0x24] : (s & 7) === 5 ? [0] : [];
          out.push([...rex(w, d, s), 0x8b, ((d & 7) << 3) | (s & 7) | ((s & 7) === 5 ? 0x40 : 0), ...tail]);
          break;
        }
        if (bits === 64 && r() % 5 === 0) {
          // a load that faults only in a later round of the loop, when the code runs in a
          // block: RAX = (R15D - K < 0 ? 0xffffffff : 0) << 16 (non-canonical or 0), then an
          // ADD/SUB/CMP of two other registers (its CF/AF/OF pending), then MOV r, [RSI+RAX+d8]
          const x = pick(regs.filter((q) => q !== 0));
          const y = pick(regs.filter((q) => q !== 0));
          out.push([0x44, 0x89, 0xf8], [0x83, 0xe8, 2 + (r() % 3)], [0xc1, 0xf8, 0x1f], [0x48, 0xc1, 0xe0, 0x10]);
          out.push([0x48 | ((y >> 3) << 2) | (x >> 3), pick([0x01, 0x29, 0x39]), 0xc0 | ((y & 7) << 3) | (x & 7)]);
          out.push([0x48 | ((d >> 3) << 2), 0x8b, 0x44 | ((d & 7) << 3), 0x06, r() & 0x78]);
          break;
        }
        const mem = r() % 2 === 0;
        out.push([...rex(w, s, mem ? 6 : d), r() % 2 === 0 ? 0x89 : 0x8b, ...(mem ? memRm(s) : [0xc0 | ((s & 7) << 3) | (d & 7)])]);
        break;
      }
      case 7: { // LEA r, [base + index*scale + disp8]
        const b = pick(regs);
        const x = pick(regs.filter((q) => (q & 7) !== 4));
        out.push([...rex(w, d, b, x), 0x8d, 0x44 | ((d & 7) << 3), ((r() % 4) << 6) | ((x & 7) << 3) | (b & 7), r() & 0xff]);
        break;
      }
      case 8: { // TEST / CMP reg, reg
        out.push([...rex(w, s, d), r() % 2 === 0 ? 0x85 : 0x39, 0xc0 | ((s & 7) << 3) | (d & 7)]);
        break;
      }
      case 9: { // Jcc over the next instruction (a MOV r, imm32)
        const skip = [...rex(false, 0, d), 0xb8 + (d & 7), ...imm32()];
        out.push([0x70 + (r() % 16), skip.length]);
        out.push(skip);
        break;
      }
      case 10: out.push([0x0f, 0x90 + (r() % 16), 0xc0 | (d & 7)].map((x, i) => (i === 2 && bits === 64 ? x : x))); break; // SETcc (low regs)
      case 11: out.push([...rex(w, d, s), 0x0f, 0x40 + (r() % 16), 0xc0 | ((d & 7) << 3) | (s & 7)]); break; // CMOVcc
      case 12: out.push([...rex(w, 0, d), 0xc1, 0xc0 | ((r() % 8) << 3) | (d & 7), r() & 0x3f]); break; // shifts
      case 13: { // IMUL Gv, Ev / IMUL Gv, Ev, imm8 / imm32 (register sources)
        const m = 0xc0 | ((d & 7) << 3) | (s & 7);
        const f = r() % 3;
        if (f === 0) out.push([...rex(w, d, s), 0x0f, 0xaf, m]);
        else if (f === 1) out.push([...rex(w, d, s), 0x6b, m, r() & 0xff]);
        else out.push([...rex(w, d, s), 0x69, m, ...imm32()]);
        break;
      }
      case 14: out.push([0x9f]); break; // LAHF
      case 15: out.push(bits === 64 ? [0x9c, 0x8f, 0x46, r() & 0x78] : [0x9c, 0x8f, 0x46, r() & 0x78]); break; // PUSHF; POP [rsi+d]
      case 16: { // PUSH / POP
        if (r() % 2 === 0) out.push([...(d >= 8 ? [0x41] : []), 0x50 + (d & 7)]);
        else out.push([...(d >= 8 ? [0x41] : []), 0x58 + (d & 7)]);
        break;
      }
      case 17: out.push([...rex(w, d, s), 0x0f, 0xb6 + (r() % 2) * 8, 0xc0 | ((d & 7) << 3) | (s & 7)]); break; // MOVZX/MOVSX r, r8
      case 18: { // store into the code page: a byte of the immediate of the MOV EAX, imm32 that
        // ends the loop body (later in the same block: the store must take effect at once)
        // patched below: MOV byte [rip+disp], imm8 or MOV dword [rip+disp], imm32 (the whole
        // immediate, aligned: the compiled fast path's store)
        // or, one time in three, MOV [rip+disp], EAX to the test device (MMIO: the block's
        // fallback), which moves the cycle deadline close: into the block's round
        if (r() % 3 === 0) out.push([0x89, 0x05, ...le32(0)]);
        else out.push(r() % 2 === 0 ? [0xc6, 0x05, ...le32(0), r() & 0xff] : [0xc7, 0x05, ...le32(0), ...imm32()]);
        break;
      }
      case 19: // 64-bit: CALL to the next instruction (then POP RCX), or LEA RAX,[RIP+2]; PUSH RAX; RET
        if (bits === 64 && r() % 2 === 0) out.push([0xe8, 0, 0, 0, 0], [0x59]);
        else if (bits === 64) out.push([0x48, 0x8d, 0x05, 2, 0, 0, 0], [0x50], [0xc3]);
        else out.push([...rex(w, s, d), 0x87, 0xc0 | ((s & 7) << 3) | (d & 7)]);
        break;
      case 20: { // byte memory forms: MOV r8 to/from memory, MOV m8 imm8, ALU m8 imm8, TEST m8 imm8
        const m = memRm(s);
        const f = r() % 5;
        if (f === 0) out.push([...rex(false, s, 6), 0x88, ...m]);
        else if (f === 1) out.push([...rex(false, s, 6), 0x8a, ...m]);
        else if (f === 2) out.push([0xc6, m[0] & ~0x38, m[1], r() & 0xff]);
        else if (f === 3) out.push([0x80, (m[0] & ~0x38) | ((r() % 8) << 3), m[1], r() & 0xff]);
        else out.push([0xf6, m[0] & ~0x38, m[1], r() & 0xff]);
        break;
      }
      case 21: { // JMP rel8 over the next instruction (a block follows it to its target)
        const skip = [...rex(false, 0, d), 0xb8 + (d & 7), ...imm32()];
        out.push([0xeb, skip.length]);
        out.push(skip);
        break;
      }
      case 22: { // JMP forward, a backward JMP, JMP forward again: jmp L2; L1: mov; jmp L3; L2: mov; jmp L1; L3:
        const m1 = [...rex(false, 0, d), 0xb8 + (d & 7), ...imm32()];
        const m2 = [...rex(false, 0, s), 0x81, 0xc0 | (s & 7), ...imm32()];
        // lengths: m1 + 2 (jmp L3) before L2; m2 + 2 (jmp L1) after it
        out.push([0xeb, m1.length + 2]);
        out.push(m1);
        out.push([0xeb, m2.length + 2]);
        out.push(m2);
        out.push([0xeb, (-(m2.length + 2 + m1.length + 2)) & 0xff]);
        break;
      }
      case 23: out.push([0xf3, 0x90]); break; // PAUSE
      case 24: out.push(r() % 2 === 0 ? [0x0f, 0x31] : [0x0f, 0x01, 0xf9]); break; // RDTSC / RDTSCP
      case 25: { // MOVZX/MOVSX Gv, byte/word [rsi+disp] (aligned or not), MOVZX Gv, r16
        const opc = pick([0xb6, 0xb7, 0xbe, 0xbf]);
        if (r() % 3 === 0) out.push([...rex(w, d, s), 0x0f, opc | 1, 0xc0 | ((d & 7) << 3) | (s & 7)]);
        else out.push([...rex(w, d, 6), 0x0f, opc, 0x40 | ((d & 7) << 3) | 6, r() % 2 === 0 ? r() & 0x78 : r() & 0x7f]);
        break;
      }
      case 26: // MOVSXD Gv, Ed from a register or [rsi+disp] (64-bit; 32-bit: MOVSX Gv, r16)
        if (bits === 64) out.push(r() % 2 === 0 ? [...rex(w, d, s), 0x63, 0xc0 | ((d & 7) << 3) | (s & 7)] : [...rex(w, d, 6), 0x63, ...memRm(d)]);
        else out.push([0x0f, 0xbf, 0xc0 | ((d & 7) << 3) | (s & 7)]);
        break;
      case 27: { // byte register ALU forms: op r8, r8 / TEST r8, r8 / op r8, imm8 / op AL, imm8
        const op = r() % 8;
        const f = r() % 4;
        const rx = rex(false, s, d);
        if (f === 0) out.push([...rx, op * 8 + (r() % 2 === 0 ? 0 : 2), 0xc0 | ((s & 7) << 3) | (d & 7)]);
        else if (f === 1) out.push([...rx, 0x84, 0xc0 | ((s & 7) << 3) | (d & 7)]);
        else if (f === 2) out.push([...rex(false, 0, d), 0x80, 0xc0 | (op << 3) | (d & 7), r() & 0xff]);
        else out.push([0x04 + op * 8, r() & 0xff]);
        break;
      }
      case 28: { // the same memory operand twice, its index written in between or not (the
        // block reuses an effective address it computed only while its registers are unchanged):
        // MOV x, imm; MOV d, [rsi + x*sc + d8]; (ADD x, 8 | LEA x, [x + 8] | INC x | BTC x, 3 | nothing); MOV [rsi + x*sc + d8], s or MOV s, [...]
        const x = pick(regs.filter((q) => q !== d && q !== s));
        const sc = r() % 4;
        const d8 = r() & 0x78;
        const m = (g: number) => [...rex(w, g, 4, x), 0x44 | ((g & 7) << 3), (sc << 6) | ((x & 7) << 3) | 6, d8];
        out.push([...rex(false, 0, x), 0xb8 + (x & 7), ...le32(r() & 0x38)]);
        const ld = m(d);
        out.push([...ld.slice(0, ld.length - 3), 0x8b, ...ld.slice(ld.length - 3)]);
        const f = r() % 5;
        if (f === 0) out.push([...rex(false, 0, x), 0x83, 0xc0 | (x & 7), 8]);
        else if (f === 3) out.push([...rex(false, 0, x), 0x0f, 0xba, 0xf8 | (x & 7), 3]); // BTC x, 3 (a handler)
        else if (f === 1) out.push([...rex(bits === 64, x, x), 0x8d, 0x40 | ((x & 7) << 3) | (x & 7), ...((x & 7) === 4 ? [0x24] : []), 8]);
        else if (f === 2) out.push([...rex(false, 0, x), 0xff, 0xc0 | (x & 7)]);
        const st = m(s);
        out.push([...st.slice(0, st.length - 3), r() % 2 === 0 ? 0x89 : 0x8b, ...st.slice(st.length - 3)]);
        break;
      }
      default: out.push([...rex(w, s, d), 0x87, 0xc0 | ((s & 7) << 3) | (d & 7)]); // XCHG
    }
  }
  // the loop: dec r15d / dec ebp-less counter; jnz to the start; then hlt
  // the ADD EAX, imm32 the code stores patch (its sum keeps any stale value), its immediate aligned
  while ((CODE + out.flat().length + 1) % 4 !== 0) out.push([0x90]);
  out.push([0x05, ...imm32()]);
  const body = out.flat();
  const tail = bits === 64 ? [0x41, 0xff, 0xcf] : [0xff, 0xcf]; // dec r15d / dec edi
  const len = body.length + tail.length + 2;
  const code = [...body, ...tail, 0x75, (-len) & 0xff, 0xf4];
  if (len > 127) return program(r, bits);
  // patch the code stores: RIP-relative in 64-bit mode, absolute in 32-bit mode, aimed at one
  // byte of that MOV's immediate
  const movImm = body.length - 4;
  for (let k = 0, off = 0; k < out.length; off += out[k].length, k++) {
    const ins = out[k];
    if ((ins[0] === 0xc6 || ins[0] === 0xc7 || ins[0] === 0x89) && ins[1] === 0x05 && k < out.length - 1) {
      const target = ins[0] === 0x89 ? MMIO + (r() & 0xff0) : CODE + movImm + (ins[0] === 0xc6 ? r() % 4 : 0);
      const disp = bits === 64 ? target - (CODE + off + ins.length) : target;
      code.splice(off + 2, 4, ...le32(disp));
    }
  }
  return code;
}

function core(code: number[], bits: 32 | 64, seed: number, jit: boolean, paged: boolean): Cpu {
  const mem = new PhysMem(1 << 20);
  mem.load(CODE, Uint8Array.from(code));
  const c = new Cpu(mem);
  mem.addMmio(MMIO, 0x1000, {
    mmioRead: () => 0x5a,
    mmioWrite: (_o, _n, v) => { c.cycleDeadline = Math.min(c.cycleDeadline, c.cycles + 1 + (v & 15)); },
  });
  setFlatMode(c, bits);
  if (paged) {
    // long mode with 4-level paging: PML4 0x80000 -> PDPT 0x81000 -> PD 0x82000, one 2 MiB page
    mem.write32(0x80000, 0x81003); mem.write32(0x81000, 0x82003); mem.write32(0x82000, 0x83);
    c.cr3 = 0x80000;
    c.cr4 |= 0x20;
    c.cr0 = (c.cr0 | 0x80000000) >>> 0;
    c.pagingOn = true;
    c.paging.flushAll();
  }
  // a fractional cost (the cycle sums must match to the last bit: blocks add each cost in
  // turn) or an integer one (blocks count a round at once: ctx.ts `fast`)
  const p = getProfile('zen3');
  p.base.cycles = [0.7, 1, 3][seed % 3];
  c.setCostProfile(p);
  // threshold 1 (a block at every first fetch: its trace follows no branch, the code after
  // it has not run yet) or 2 (compiled on the second pass: traces through the paths taken)
  c.setJit(jit, 1 + (seed % 2));
  const r = rng(seed * 7 + 1);
  for (let k = 0; k < 16; k++) { c.rl[k] = r() | 0; c.rh[k] = bits === 64 ? r() | 0 : 0; }
  c.rl[4] = STACK; c.rh[4] = 0;
  c.rl[6] = DATA; c.rh[6] = 0;
  c.rl[7] = DATA + 0x800; c.rh[7] = 0;
  c.rl[15] = 5; c.rh[15] = 0;
  if (bits === 32) c.rl[7] = 5;
  c.flags = 0x2 | (r() & 0x8d5);
  c.rip = CODE;
  for (let a = DATA; a < DATA + 0x1000; a += 4) mem.write32(a, r() | 0);
  return c;
}

function state(c: Cpu): unknown {
  let h = 0;
  for (let a = DATA; a < STACK + 0x100; a += 4) h = Math.imul(h ^ c.mem.read32(a), 0x01000193);
  for (let a = CODE; a < CODE + 0x200; a += 4) h = Math.imul(h ^ c.mem.read32(a), 0x01000193);
  return { rl: [...c.rl], rh: [...c.rh], flags: getFlags(c), rip: c.rip, ripStart: c.ripStart, icount: c.icount, cycles: c.cycles, stop: c.stopReason, fault: { ...c.lastFault }, mem: h };
}

/**
 * A hand-written 64-bit paged program (its loop count in R15) run interpreted and compiled at
 * thresholds 1 and 2 in the same slices (`slice(step)` instructions; with `deadline`, also to
 * a cycle deadline), compared after every slice: state() and `extra` (memory the state's hash
 * does not cover); returns the two cores of each threshold for the caller's own checks.
 */
function lockstep(code: number[], setup: (c: Cpu) => void, steps: number, slice: (step: number) => number, extra: (c: Cpu) => unknown, deadline?: (step: number) => number): [Cpu, Cpu][] {
  const out: [Cpu, Cpu][] = [];
  for (const threshold of [1, 2]) {
    const [a, b] = [false, true].map((jit) => { const c = core(code, 64, threshold, jit, true); setup(c); c.paging.flushAll(); return c; });
    for (let step = 0; step < steps && a.stopReason !== 2; step++) {
      // (a cycle deadline `deadline(step)` cycles on, for both: it may fall inside a round)
      if (deadline !== undefined) { a.cycleDeadline = a.cycles + deadline(step); b.cycleDeadline = a.cycleDeadline; }
      a.run(slice(step));
      b.run(slice(step));
      expect(state(b), `threshold ${threshold}, slice ${step}`).toEqual(state(a));
      expect(extra(b), `threshold ${threshold}, slice ${step}: memory`).toEqual(extra(a));
    }
    out.push([a, b]);
  }
  return out;
}

/** `body`, then DEC ECX and JNZ back to its start, then HLT */
function countedLoop(body: number[]): number[] {
  return [...body, 0xff, 0xc9, 0x75, (-(body.length + 4)) & 0xff, 0xf4];
}

/**
 * 4 KiB pages for the first 2 MiB of core()'s paging (a page table at 0x8a000), the PTE flags
 * of page k `flags(k)`; the int32s of [lo, hi) filled with a pattern; the 64-bit registers
 * `regs` ([number, value]) set
 */
function smallPages(c: Cpu, flags: (k: number) => number, lo: number, hi: number, regs: [number, number][]): void {
  const PT = 0x8a000;
  const m = c.mem;
  m.write32(0x82000, PT | 3);
  for (let k = 0; k < 512; k++) m.write32(PT + 8 * k, (k * 4096) | flags(k));
  for (let a = lo; a < hi; a += 4) m.write32(a, Math.imul(a, 0x9e3779b1));
  for (const [r, v] of regs) { c.rl[r] = v; c.rh[r] = 0; }
}

/** a hash of the int32s of [lo, hi) */
function memHash(c: Cpu, lo: number, hi: number): number {
  let h = 0;
  for (let a = lo; a < hi; a += 4) h = Math.imul(h ^ c.mem.read32(a), 0x01000193);
  return h;
}

describe('block compiler: random integer programs, interpreter vs. compiled', () => {
  for (const [bits, paged] of [[64, false], [64, true], [32, false]] as const) {
    it(`${bits}-bit${paged ? ' paged' : ''}: 1000 programs, compared after every slice`, () => {
      let inBlocks = 0;
      let total = 0;
      let followed = 0;
      let checked = 0;
      let stalled = 0;
      let faults = 0;
      for (let seed = 1; seed <= 1000; seed++) {
        const r = rng(seed);
        const code = program(r, bits);
        const a = core(code, bits, seed, false, paged);
        const b = core(code, bits, seed, true, paged);
        const slices = rng(seed + 99);
        // every other program also runs to cycle deadlines that fall anywhere: inside a
        // block's round, at its entry, before its last instruction
        const deadlines = seed % 4 >= 2;
        for (let step = 0; step < 12 && a.stopReason !== 2 && a.stopReason !== 5; step++) {
          const n = 1 + (slices() % 40);
          if (deadlines) {
            const dl = a.cycles + 1 + (slices() % 90);
            a.cycleDeadline = dl;
            b.cycleDeadline = dl;
          }
          a.run(n);
          b.run(n);
          expect(state(b), `seed ${seed}, slice ${step}`).toEqual(state(a));
        }
        total += a.icount;
        inBlocks += b.jit!.stats.insns;
        followed += b.jit!.stats.followed;
        checked += b.jit!.stats.checked;
        stalled += b.jit!.stats.stalled;
        if (a.stopReason === 5) faults++;
        expect(b.jit!.stats.failed, `seed ${seed}: a block failed to compile`).toBe(0);
      }
      console.log(`jit-diff ${bits}${paged ? ' paged' : ''}: ${total} instructions, ${inBlocks} in blocks, ${followed} branches followed by traces, ${checked} entries of checked variants, ${stalled} entries left at their first instruction's memory fallback, ${faults} programs ended by a fault`);
      expect(inBlocks).toBeGreaterThan(total / 3);
      expect(followed).toBeGreaterThan(1000);
      expect(checked).toBeGreaterThan(200);
      // (the fallback that leaves a block before a memory form: MMIO, faults, code writes)
      if (bits === 64) expect(stalled).toBeGreaterThan(100);
      if (bits === 64) expect(faults).toBeGreaterThan(50);
    }, 300_000);
  }
});

describe('block compiler: memory fast path edge cases', () => {
  it('a non-canonical address is never taken for the page a block keeps (its empty value included)', () => {
    // loop: MOV RAX, imm64 (a non-canonical address: high half 0x40000000 or 0xffff7fff, low
    // page 0 or 1); MOV EBX, [RAX]: #GP(0) in both modes, at the same instruction
    for (const addr of [[0x10, 0x40000000], [0x1010, 0x40000000], [0x10, 0x7fff], [0x8, 0x8000]]) {
      const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
      const code = [0x48, 0xb8, ...le(addr[0]), ...le(addr[1]), 0x8b, 0x18, 0xeb, 0xf4];
      for (const threshold of [1, 2]) {
        const a = core(code, 64, threshold, false, false);
        const b = core(code, 64, threshold, true, false);
        a.run(50);
        b.run(50);
        expect(a.stopReason).toBe(5);
        expect(state(b)).toEqual(state(a));
      }
    }
  });
});

describe('block compiler: the stack across a 4 GiB boundary', () => {
  it('PUSH/POP/CALL/RET with RSP crossing 0x1_00000000 (the int32 halves borrow and carry)', () => {
    // paged: VA 0xffff_f000 -> 0x40000, VA 0x1_0000_0000 -> 0x41000 (4 KiB pages); the code at
    // 0x1000 (the 2 MiB identity page). Loop: MOV RSP, 0x1_0000_0010; PUSH RAX x4 (down across
    // the boundary); CALL +0 (to the next instruction); POP RCX; POP RBX x3; POP RDX x2 (up
    // across it); RET 8 (to where the pushes left... a target read from the stack);
    // then DEC R15D; JNZ
    const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    const body = [
      // a store to VA 0x1_ffff_fff8 first (so a push that lost its borrow would find it in the TLB)
      0x48, 0xb8, ...le(0xfffffff8), ...le(1), 0x48, 0x89, 0x18, // mov rax, 0x1_ffff_fff8; mov [rax], rbx
      0x48, 0xbc, ...le(0x10), ...le(1), // mov rsp, 0x1_0000_0010
      0x50, 0x50, 0x50, 0x50, // push rax x4
      0xe8, 0, 0, 0, 0, // call next
      0x59, 0x5b, 0x5b, 0x5b, 0x5a, 0x5a, // pop rcx, rbx x3, rdx x2
      0x48, 0x8d, 0x05, 5, 0, 0, 0, // lea rax, [rip+5] (the DEC below)
      0x50, 0x50, // push rax x2
      0xc2, 8, 0, // ret 8 (to the DEC, RSP up by 16)
    ];
    const tail = [0x41, 0xff, 0xcf, 0x75, 0]; // dec r15d; jnz start
    const code = [...body, ...tail, 0xf4];
    code[body.length + 4] = (-(body.length + tail.length)) & 0xff;
    const setup = (c: Cpu): void => {
      const m = c.mem;
      // PDPT[3] -> PD 0x84000 [511] -> PT 0x85000 [511] -> 0x40000; PDPT[4] -> PD 0x86000 [0] -> PT 0x87000 [0] -> 0x41000
      m.write32(0x81000 + 3 * 8, 0x84003); m.write32(0x84000 + 511 * 8, 0x85003); m.write32(0x85000 + 511 * 8, 0x40003);
      m.write32(0x81000 + 4 * 8, 0x86003); m.write32(0x86000, 0x87003); m.write32(0x87000, 0x41003);
      // and VA 0x1_ffff_f000 -> 0x42000: where a push that lost its borrow would go
      m.write32(0x81000 + 7 * 8, 0x88003); m.write32(0x88000 + 511 * 8, 0x89003); m.write32(0x89000 + 511 * 8, 0x42003);
      c.rl[15] = 30;
    };
    // the stack pages
    const pages = (c: Cpu) => { const w: number[] = []; for (let x = 0x40000; x < 0x43000; x += 4) w.push(c.mem.read32(x)); return w; };
    for (const [a, b] of lockstep(code, setup, 40, (step) => 7 + step, pages)) {
      expect(a.stopReason).toBe(2);
      expect(b.jit!.stats.insns).toBeGreaterThan(300);
      expect([a.mem.read32(0x40ff8), a.mem.read32(0x41000)]).not.toEqual([0, 0]);
    }
  });
});

describe('block compiler: unaligned memory operands', () => {
  it('loads, stores and ALU forms of 1, 2, 4 and 8 bytes at any offset, inside a page or across it', () => {
    // a loop of MOV/ALU/TEST/MOVZX/MOVSX/MOVSXD with [RSI + disp32] operands whose offsets fall
    // anywhere in the data page, at its last bytes (crossing into the next page: the handler's
    // path) or in the next page; compiled blocks take the in-page ones on the fast path
    const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    let inBlocks = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed * 31 + 7);
      const pick = <T>(xs: readonly T[]): T => xs[r() % xs.length];
      const body: number[] = [];
      const n = 4 + (r() % 10);
      for (let k = 0; k < n; k++) {
        const d = pick(DST);
        const disp = le(r() % 4 === 0 ? 0xff0 + (r() % 16) : r() % 0x1010);
        const rx = (w: boolean) => [0x40 | (w ? 8 : 0) | ((d >> 3) << 2)];
        const w = r() % 2 === 0;
        const p66 = r() % 8 === 0 ? [0x66] : [];
        const modrm = 0x80 | ((d & 7) << 3) | 6;
        const op = r() % 8;
        switch (r() % 9) {
          case 0: body.push(...p66, ...rx(w), 0x8b, modrm, ...disp); break; // MOV r, [m]
          case 1: body.push(...p66, ...rx(w), 0x89, modrm, ...disp); break; // MOV [m], r
          case 2: body.push(...rx(w), 0xc7, 0x86, ...disp, ...le(r())); break; // MOV [m], imm32
          case 3: body.push(...p66, ...rx(w), op * 8 + pick([1, 3]), modrm, ...disp); break; // ALU [m], r / r, [m]
          case 4: body.push(...rx(w), 0x81, 0x86 | (op << 3), ...disp, ...le(r())); break; // ALU [m], imm32
          case 5: body.push(...rx(w), 0x85, modrm, ...disp); break; // TEST [m], r
          case 6: body.push(...rx(w), 0x0f, pick([0xb6, 0xb7, 0xbe, 0xbf]), modrm, ...disp); break; // MOVZX/MOVSX
          case 7: body.push(...rx(true), 0x63, modrm, ...disp); break; // MOVSXD
          default: body.push(...rx(false), pick([0x88, 0x8a, 0x00, 0x38]), modrm, ...disp); break; // byte forms
        }
      }
      const tail = [0x41, 0xff, 0xcf, 0x0f, 0x85]; // dec r15d; jnz rel32 start
      const code = [...body, ...tail, ...le(-(body.length + tail.length + 4)), 0xf4];
      for (const paged of [false, true]) {
        // paged: 4 KiB pages for the first 2 MiB (identity), but the page after the data page
        // is physical 0x40000 (a block that read or wrote past its page's end would miss it)
        const mk = (jit: boolean): Cpu => {
          const c = core(code, 64, seed, jit, paged);
          if (paged) {
            c.mem.write32(0x82000, 0x8a003);
            for (let k = 0; k < 512; k++) c.mem.write32(0x8a000 + 8 * k, (k === 0x11 ? 0x40000 : k * 4096) | 3);
            c.paging.flushAll();
          }
          return c;
        };
        const a = mk(false);
        const b = mk(true);
        const next = (c: Cpu) => { const w: number[] = []; for (let x = 0x40000; x < 0x40020; x += 4) w.push(c.mem.read32(x)); return w; };
        const slices = rng(seed + 5);
        for (let step = 0; step < 10 && a.stopReason !== 2 && a.stopReason !== 5; step++) {
          const k = 1 + (slices() % 40);
          a.run(k);
          b.run(k);
          expect(state(b), `seed ${seed}${paged ? ' paged' : ''}, slice ${step}`).toEqual(state(a));
          expect(next(b), `seed ${seed}${paged ? ' paged' : ''}, slice ${step}: the next page`).toEqual(next(a));
        }
        inBlocks += b.jit!.stats.insns;
      }
    }
    expect(inBlocks).toBeGreaterThan(5000);
  });
});

describe('block compiler: kept pages and the TLB', () => {
  it('a page kept across a handler call is dropped when the handler walked (its TLB entry evicted)', () => {
    // 4 KiB pages for the first 2 MiB; linear 0x820000 (a 2 MiB page at PD[4]) shares the
    // direct-mapped TLB slot of page 0x20000. Loop: MOV [0x20000], EAX (the block keeps the
    // page); AND word [PTE of 0x20000], ~0x40 (a handler: the PTE's dirty bit cleared, no walk);
    // MOV word [0x820000], imm16 (a handler that walks: 0x20000's TLB entry evicted); MOV
    // [0x20000], EBX (the interpreter walks again and sets the dirty bit: so must the block);
    // DEC R15D; JNZ
    const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    const PT = 0x8a000;
    const pte = PT + 0x20 * 8;
    const body = [
      0x89, 0x04, 0x25, ...le(0x20000), // mov [0x20000], eax
      0x66, 0x81, 0x24, 0x25, ...le(pte), 0xbf, 0xff, // and word [pte], 0xffbf
      0x66, 0xc7, 0x04, 0x25, ...le(0x820000), 0x34, 0x12, // mov word [0x820000], 0x1234
      0x89, 0x1c, 0x25, ...le(0x20000), // mov [0x20000], ebx
    ];
    const tail = [0x41, 0xff, 0xcf, 0x75, 0]; // dec r15d; jnz start
    const code = [...body, ...tail, 0xf4];
    code[body.length + 4] = (-(body.length + tail.length)) & 0xff;
    const setup = (c: Cpu): void => {
      const m = c.mem;
      m.write32(0x82000, PT | 3);
      for (let k = 0; k < 512; k++) m.write32(PT + 8 * k, (k * 4096) | 3);
      m.write32(0x82000 + 4 * 8, 0x200000 | 0x83);
      c.rl[15] = 20;
    };
    const pt = (c: Cpu) => [c.mem.read32(pte), c.mem.read32(0x200000)];
    for (const [a, b] of lockstep(code, setup, 30, (step) => 3 + (step % 7), pt)) {
      expect(a.stopReason).toBe(2);
      expect(b.jit!.stats.insns).toBeGreaterThan(50);
      expect(a.mem.read32(pte) & 0x40).toBe(0x40);
    }
  });
});

describe('block compiler: a load and a store of the same operand', () => {
  it('the store takes the load\'s page test (qword and dword), not after the index was written, and not onto a read-only page', () => {
    // 4 KiB pages for the first 2 MiB, page 0x20000 read-only (CR0.WP set). Loop, RCX from 0x100
    // down: MOV R11, [RSI+RCX*8-16] (the block keeps that page for reads); MOV RAX,
    // [RSI+RCX*8-8]; ADD RAX, RBX; MOV [RSI+RCX*8-8], RAX (the load tests the
    // write page, the store uses it: gen-mem.ts rdw); MOV EAX, [RDI+RCX*4]; XOR EAX, EDX; MOV
    // [RDI+RCX*4], EAX (the same in dwords); MOV R10, [R8+RCX*8]; ADD RCX, 0; MOV [R8+RCX*8],
    // R10 (the index written in between: the store tests its own page);
    // DEC ECX; JNZ. RSI's quadwords start on page 0x21000 and go down into the read-only page
    // 0x20000: the first store there faults (#PF) after its load read it
    // (through the kept read page: that must not make the store's page writable).
    const body = [
      0x4c, 0x8b, 0x5c, 0xce, 0xf0, // mov r11, [rsi+rcx*8-16]
      0x48, 0x8b, 0x44, 0xce, 0xf8, // mov rax, [rsi+rcx*8-8]
      0x48, 0x01, 0xd8, // add rax, rbx
      0x48, 0x89, 0x44, 0xce, 0xf8, // mov [rsi+rcx*8-8], rax
      0x8b, 0x04, 0x8f, // mov eax, [rdi+rcx*4]
      0x31, 0xd0, // xor eax, edx
      0x89, 0x04, 0x8f, // mov [rdi+rcx*4], eax
      0x4d, 0x8b, 0x14, 0xc8, // mov r10, [r8+rcx*8]
      0x48, 0x83, 0xc1, 0x00, // add rcx, 0
      0x4d, 0x89, 0x14, 0xc8, // mov [r8+rcx*8], r10
    ];
    const code = countedLoop(body);
    const setup = (c: Cpu): void => {
      smallPages(c, (k) => (k === 0x20 ? 1 : 3), 0x20000, 0x24000, [[6, 0x20c00], [7, 0x22000], [8, 0x23000], [1, 0x100]]);
      c.cr0 = (c.cr0 | 0x10000) >>> 0;
    };
    const data = (c: Cpu) => memHash(c, 0x20000, 0x24000);
    for (const [a, b] of lockstep(code, setup, 80, (step) => 5 + (step % 11) * 7, data)) {
      expect(a.stopReason).toBe(5);
      expect(a.lastFault.vector).toBe(14);
      expect(b.jit!.stats.insns).toBeGreaterThan(500);
    }
  });
});

describe('block compiler: a self-loop\'s two copies of its round', () => {
  it('an access that leaves its kept page in a later round goes back to the first copy at that instruction', () => {
    // 4 KiB pages for the first 2 MiB, page 0x40000 not present. Loop, RCX from 0x300 down:
    // ADD RDX, RCX (CF, AF, OF pending); MOV RAX, [RSI+RCX*8]; ADD [RDI+RCX*4], EAX; PUSH RAX;
    // POP R9; MOV [R8+RCX*8+4], R9D; XOR R9, RDX; DEC ECX; JNZ. Each operand crosses a page
    // in a different round (RDI's in the second, R8's near round 0x106, RSI's at round 0x120),
    // so the second copy, which has no call, misses at three different instructions and goes
    // back into the first there (ctx.ts twoCopies); RSI's next page is not present: the first
    // copy's fastMiss refuses it and the loop's fault is taken in the interpreter.
    const body = [
      0x48, 0x01, 0xca, // add rdx, rcx
      0x48, 0x8b, 0x04, 0xce, // mov rax, [rsi+rcx*8]
      0x01, 0x04, 0x8f, // add [rdi+rcx*4], eax
      0x50, // push rax
      0x41, 0x59, // pop r9
      0x45, 0x89, 0x4c, 0xc8, 0x04, // mov [r8+rcx*8+4], r9d
      0x49, 0x31, 0xd1, // xor r9, rdx
    ];
    const code = countedLoop(body);
    const data = (c: Cpu) => memHash(c, 0x41000, 0x48000);
    // the block's source has the two copies (the factory cache is keyed by source: a wrapper
    // sees every source compiled here that was not compiled before)
    const srcs: string[] = [];
    const F = globalThis.Function;
    globalThis.Function = function (...a: string[]) { srcs.push(a[a.length - 1]); return F(...a); } as FunctionConstructor;
    try {
      // integer costs (rounds counted at once: ctx.ts `fast`), then with cycle deadlines that
      // fall inside rounds (the checked variant, which tests the deadline before each
      // instruction), then a fractional cost (only that variant)
      for (const [cost, deadlines] of [[0, false], [1, true], [0.7, true]] as const) {
        const setup = (c: Cpu) => {
          smallPages(c, (k) => (k === 0x40 ? 0 : 3), 0x40000, 0x48000, [[6, 0x40100], [7, 0x44400], [8, 0x46010], [1, 0x300]]);
          if (cost === 0) return;
          const p = getProfile('zen3');
          p.base.cycles = cost;
          c.setCostProfile(p);
        };
        for (const [a, b] of lockstep(code, setup, 90, (step) => 3 + (step % 13) * 9, data, deadlines ? (step) => 1 + ((step * 37) % 90) : undefined)) {
          expect(a.stopReason).toBe(5);
          expect(a.lastFault.vector).toBe(14);
          expect(a.rl[1]).toBe(0x1df);
          expect(b.jit!.stats.insns).toBeGreaterThan(1000);
          if (cost === 1) expect(b.jit!.stats.checked).toBeGreaterThan(10);
        }
      }
    } finally {
      globalThis.Function = F;
    }
    // the integer-cost block and both its variants' sources have the two copies
    expect(srcs.filter((s) => s.includes('continue round;') && s.includes('case 2:') && s.includes('case 5:')).length).toBeGreaterThanOrEqual(3);
  });
});
