/**
 * SSE state and control on a bare core, for what the host-CPU differential test cannot reach
 * from user mode: CR0/CR4 checks (#UD, #NM), unmasked exceptions with CR4.OSXMMEXCPT = 0 (#UD),
 * MXCSR.MM (misaligned SSE mode), the FXSAVE layouts (32-bit form, XMM8-15 outside 64-bit mode,
 * EFER.FFXSR), XSAVE/XRSTOR header checks, XGETBV/XSETBV, CPUID, and the SVM XSETBV intercept.
 * Encodings were produced with GNU as.
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { cpuidLeaf } from '../src/cpu/cpuid.js';
import { CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_OSXSAVE } from '../src/cpu/fpu/checks.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { Cr0, Efer, Stop, Vec } from '../src/cpu/state.js';
import { PhysMem } from '../src/machine/memory.js';
import { V } from '../src/svm/vmcb.js';

const CODE = 0x1000;
const DATA = 0x2000;

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));
}

function mk(code: string, bits: 32 | 64 = 64): Cpu {
  const c = new Cpu(new PhysMem(1 << 20));
  setFlatMode(c, bits);
  c.cr0 |= Cr0.MP | Cr0.NE;
  c.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE;
  c.fpu.xcr0 = 3;
  c.mem.load(CODE, hex(code));
  c.rip = CODE;
  c.rl[4] = 0x8000;
  return c;
}

/** run `n` instructions: -1 if all retired, else the vector */
function step(c: Cpu, n = 1): number {
  const s = c.run(n);
  if (s === Stop.Budget) return -1;
  expect(s).toBe(Stop.Exception);
  return c.lastFault.vector;
}

// addps xmm1, xmm2
const ADDPS = '0f 58 ca';
// divss xmm1, xmm2
const DIVSS = 'f3 0f 5e ca';

describe('SSE checks and exceptions', () => {
  it('raises #UD with CR4.OSFXSR = 0 or CR0.EM = 1 and #NM with CR0.TS = 1', () => {
    let c = mk(ADDPS);
    c.cr4 &= ~CR4_OSFXSR;
    expect(step(c)).toBe(Vec.UD);
    c = mk(ADDPS);
    c.cr0 |= Cr0.EM;
    expect(step(c)).toBe(Vec.UD);
    c = mk(ADDPS);
    c.cr0 |= Cr0.TS;
    expect(step(c)).toBe(Vec.NM);
    c = mk(ADDPS);
    expect(step(c)).toBe(-1);
    // MOVNTI [rax], ecx works on general registers: no SSE state checks
    c = mk('0f c3 08');
    c.cr4 &= ~CR4_OSFXSR;
    c.cr0 |= Cr0.TS | Cr0.EM;
    c.rl[0] = DATA; c.rl[1] = 0x1234;
    expect(step(c)).toBe(-1);
    expect(c.mem.read32(DATA)).toBe(0x1234);
  });

  it('an unmasked exception raises #XM, or #UD with CR4.OSXMMEXCPT = 0; the destination is unchanged and the flag set', () => {
    for (const osx of [true, false]) {
      const c = mk(DIVSS);
      if (!osx) c.cr4 &= ~CR4_OSXMMEXCPT;
      c.fpu.mxcsr = 0x1f80 & ~0x200; // ZM clear
      c.fpu.xmm[4] = 0x3f800000; // xmm1 = 1.0
      c.fpu.xmm[8] = 0; // xmm2 = +0
      expect(step(c)).toBe(osx ? Vec.XM : Vec.UD);
      expect(c.fpu.xmm[4]).toBe(0x3f800000);
      expect(c.fpu.mxcsr & 0x3f).toBe(0x4); // ZE
      // masked: +inf and ZE
      const m = mk(DIVSS);
      m.fpu.xmm[4] = 0x3f800000;
      expect(step(m)).toBe(-1);
      expect(m.fpu.xmm[4]).toBe(0x7f800000);
      expect(m.fpu.mxcsr).toBe(0x1f84);
    }
  });

  it('MXCSR.MM lets legacy SSE operands be misaligned, but not MOVAPS', () => {
    // ldmxcsr [rax] ; addps xmm1, [rbx] ; movaps xmm1, [rbx]
    const c = mk('0f ae 10 0f 58 0b 0f 28 0b');
    c.mem.write32(DATA, 0x21f80);
    c.rl[0] = DATA;
    c.rl[3] = DATA + 0x104;
    expect(step(c)).toBe(-1);
    expect(c.fpu.mxcsr).toBe(0x21f80);
    expect(step(c)).toBe(-1);
    expect(step(c)).toBe(Vec.GP);
    // without MM the ADDPS faults
    const d = mk('0f 58 0b');
    d.rl[3] = DATA + 0x104;
    expect(step(d)).toBe(Vec.GP);
    // LDMXCSR with a reserved bit: #GP
    const e = mk('0f ae 10');
    e.mem.write32(DATA, 0x41f80);
    e.rl[0] = DATA;
    expect(step(e)).toBe(Vec.GP);
  });
});

describe('MMX', () => {
  // paddb mm1, mm2 ; emms
  it('raises #UD with CR0.EM, #NM with CR0.TS, #MF with a pending x87 exception; makes the MMX transition', () => {
    let c = mk('0f fc ca');
    c.cr0 |= Cr0.EM;
    expect(step(c)).toBe(Vec.UD);
    c = mk('0f fc ca');
    c.cr0 |= Cr0.TS;
    expect(step(c)).toBe(Vec.NM);
    c = mk('0f fc ca');
    c.fpu.fsw = 0x8081;
    expect(step(c)).toBe(Vec.MF);
    c = mk('0f fc ca 0f 77');
    c.fpu.fsw = 0x3800; c.fpu.ftw = 0xffff;
    c.fpu.sigLo[1] = 0x01020304; c.fpu.sigLo[2] = 0x10101010;
    expect(step(c)).toBe(-1);
    expect(c.fpu.sigLo[1]).toBe(0x11121314);
    expect(c.fpu.signExp[1]).toBe(0xffff);
    expect(c.fpu.fsw & 0x3800).toBe(0);
    expect(c.fpu.ftw).toBe(0);
    expect(step(c)).toBe(-1); // EMMS
    expect(c.fpu.ftw).toBe(0xffff);
  });
});

describe('FXSAVE/FXRSTOR', () => {
  function prime(c: Cpu): void {
    for (let k = 0; k < 64; k++) c.fpu.xmm[k] = 0x1000 + k;
    // R7 valid, TOP 7, an unmasked exception pending (ES: the pointers are saved)
    c.fpu.fcw = 0x27e; c.fpu.fsw = 0xb881; c.fpu.ftw = 0x3fff;
    c.fpu.sigHi[7] = 0x80000000; c.fpu.sigLo[7] = 1; c.fpu.signExp[7] = 0x3fff;
    c.fpu.fop = 0x123; c.fpu.fip = 0x12345678; c.fpu.fcs = 0x33; c.fpu.fdp = 0x9abcdef0; c.fpu.fds = 0x2b;
    c.fpu.mxcsr = 0x1fa0;
  }

  it('stores the 64-bit and the 32-bit layouts', () => {
    // fxsave64 [rax] ; fxsave [rbx]
    const c = mk('48 0f ae 00 0f ae 03');
    prime(c);
    c.rl[0] = DATA; c.rl[3] = DATA + 0x400;
    expect(step(c, 2)).toBe(-1);
    const m = c.mem;
    expect(m.read16(DATA) & 0xffff).toBe(0x27e);
    expect(m.read16(DATA + 2) & 0xffff).toBe(0xb881);
    expect(m.read8(DATA + 4)).toBe(0x80); // abridged: R7 only
    expect(m.read16(DATA + 6) & 0xffff).toBe(0x123);
    expect(m.read32(DATA + 8) >>> 0).toBe(0x12345678);
    expect(m.read32(DATA + 12)).toBe(0);
    expect(m.read32(DATA + 24) >>> 0).toBe(0x1fa0);
    expect(m.read32(DATA + 28) >>> 0).toBe(0x2ffff);
    expect(m.read32(DATA + 32)).toBe(1); // ST0 = R7
    expect(m.read32(DATA + 160 + 16 * 15 + 12)).toBe(0x1000 + 63);
    // 32-bit form: FCS and FDS next to the offsets
    expect(m.read32(DATA + 0x400 + 8) >>> 0).toBe(0x12345678);
    expect(m.read16(DATA + 0x400 + 12)).toBe(0x33);
    expect(m.read32(DATA + 0x400 + 16) >>> 0).toBe(0x9abcdef0);
    expect(m.read16(DATA + 0x400 + 20)).toBe(0x2b);
  });

  it('stores zero pointers without a pending exception', () => {
    const c = mk('48 0f ae 00');
    prime(c);
    c.fpu.fsw = 0x3800;
    c.rl[0] = DATA;
    c.mem.write32(DATA + 8, -1);
    expect(step(c)).toBe(-1);
    expect(c.mem.read16(DATA + 6)).toBe(0);
    expect(c.mem.read32(DATA + 8)).toBe(0);
    expect(c.mem.read32(DATA + 16)).toBe(0);
  });

  it('round-trips through FXRSTOR and rejects reserved MXCSR bits and misalignment', () => {
    const c = mk('48 0f ae 00 48 0f ae 08');
    prime(c);
    c.rl[0] = DATA;
    expect(step(c)).toBe(-1);
    const saved = Int32Array.from(c.fpu.xmm);
    c.fpu.xmm.fill(0); c.fpu.ftw = 0xffff; c.fpu.mxcsr = 0x1f80;
    expect(step(c)).toBe(-1);
    expect(Array.from(c.fpu.xmm)).toEqual(Array.from(saved));
    expect(c.fpu.ftw).toBe(0x3fff);
    expect(c.fpu.mxcsr).toBe(0x1fa0);
    const d = mk('48 0f ae 08');
    d.rl[0] = DATA;
    d.mem.write32(DATA + 24, 0x80000);
    expect(step(d)).toBe(Vec.GP);
    const e = mk('48 0f ae 00');
    e.rl[0] = DATA + 8;
    expect(step(e)).toBe(Vec.GP);
  });

  it('skips XMM with EFER.FFXSR in 64-bit mode at CPL 0, and saves XMM0-7 only outside 64-bit mode', () => {
    const c = mk('48 0f ae 00');
    prime(c);
    c.efer |= Efer.FFXSR;
    c.rl[0] = DATA;
    expect(step(c)).toBe(-1);
    expect(c.mem.read32(DATA + 160)).toBe(0);
    expect(c.mem.read32(DATA + 24) >>> 0).toBe(0x1fa0);
    const d = mk('0f ae 00', 32);
    prime(d);
    d.rl[0] = DATA;
    expect(step(d)).toBe(-1);
    expect(d.mem.read32(DATA + 160 + 16 * 7)).toBe(0x1000 + 28);
    expect(d.mem.read32(DATA + 160 + 16 * 8)).toBe(0);
  });
});

describe('XSAVE, XGETBV, XSETBV, CPUID', () => {
  it('XGETBV and XSETBV need CR4.OSXSAVE; XSETBV checks CPL, ECX and the XCR0 value', () => {
    const c = mk('0f 01 d0');
    c.cr4 &= ~CR4_OSXSAVE;
    expect(step(c)).toBe(Vec.UD);
    const g = mk('0f 01 d0');
    g.rl[1] = 0;
    expect(step(g)).toBe(-1);
    expect(g.rl[0]).toBe(3);
    expect(g.rl[2]).toBe(0);
    for (const [eax, edx, ecx, want] of [[3, 0, 0, -1], [1, 0, 0, -1], [0, 0, 0, Vec.GP], [2, 0, 0, Vec.GP], [7, 0, 0, Vec.GP], [3, 1, 0, Vec.GP], [3, 0, 1, Vec.GP]]) {
      const s = mk('0f 01 d1');
      s.rl[0] = eax; s.rl[2] = edx; s.rl[1] = ecx;
      expect(step(s), `xsetbv ${eax} ${edx} ${ecx}`).toBe(want);
      if (want === -1) expect(s.fpu.xcr0).toBe(eax);
    }
    const u = mk('0f 01 d1');
    u.cpl = 3;
    u.rl[0] = 3;
    expect(step(u)).toBe(Vec.GP);
  });

  it('XSAVE writes XSTATE_BV, XRSTOR checks the header and initialises absent components', () => {
    // xsave [rbx] ; xrstor [rbx]
    const c = mk('0f ae 23 0f ae 2b');
    c.rl[3] = DATA; c.rl[0] = 3; c.rl[2] = 0;
    c.fpu.xmm[5] = 77;
    c.fpu.fcw = 0x27f;
    expect(step(c)).toBe(-1);
    expect(c.mem.read8(DATA + 512)).toBe(3);
    expect(c.mem.read32(DATA + 160 + 16 + 4)).toBe(77); // XMM1 lane 1
    // XSTATE_BV = 1: SSE absent -> XMM zeroed on restore, MXCSR still loaded
    c.mem.write8(DATA + 512, 1);
    c.fpu.xmm[5] = 5;
    expect(step(c)).toBe(-1);
    expect(c.fpu.xmm[5]).toBe(0);
    expect(c.fpu.fcw).toBe(0x27f);
    // bad headers
    for (const [off, v] of [[512, 4], [520, 1], [540, 1]]) {
      const d = mk('0f ae 2b');
      d.rl[3] = DATA; d.rl[0] = 3;
      d.mem.write32(DATA + 24, 0x1f80);
      d.mem.write32(DATA + off, v);
      expect(step(d), `header byte ${off}`).toBe(Vec.GP);
    }
    const e = mk('0f ae 23');
    e.rl[3] = DATA + 16; e.rl[0] = 3;
    expect(step(e)).toBe(Vec.GP);
  });

  it('CPUID reports SSE, SSE2, SSE3, SSSE3, FXSR, XSAVE, OSXSAVE from CR4, leaf 0Dh and FFXSR', () => {
    const c = mk('');
    const out = new Int32Array(4);
    cpuidLeaf(c, 1, 0, out);
    expect((out[3] >>> 24) & 7).toBe(7); // FXSR SSE SSE2
    expect((out[3] >>> 23) & 1).toBe(1); // MMX
    expect(out[2] & 1).toBe(1);
    expect((out[2] >>> 9) & 1).toBe(1);
    expect((out[2] >>> 26) & 3).toBe(3);
    c.cr4 &= ~CR4_OSXSAVE;
    cpuidLeaf(c, 1, 0, out);
    expect((out[2] >>> 27) & 1).toBe(0);
    cpuidLeaf(c, 0xd, 0, out);
    expect(Array.from(out)).toEqual([3, 576, 576, 0]);
    cpuidLeaf(c, 0xd, 1, out);
    expect(out[0]).toBe(1);
    cpuidLeaf(c, 0x80000001, 0, out);
    expect((out[3] >>> 22) & 0xf).toBe(0xf); // MmxExt MMX FXSR FFXSR
  });

  it('a guest intercepting XSETBV exits with code 8Dh before the CPL and value checks', () => {
    const HOST = 0x1000, HSAVE = 0x3000, VMCB = 0x4000, GUEST = 0x5000;
    const mem = new PhysMem(1 << 20);
    const c = new Cpu(mem);
    setFlatMode(c, 64);
    c.efer |= Efer.SVME;
    c.vmHsavePa = HSAVE;
    mem.load(HOST, Uint8Array.from([0x48, 0xc7, 0xc0, VMCB & 0xff, VMCB >> 8, 0, 0, 0x0f, 0x01, 0xd8, 0xf4]));
    // guest: xor eax, eax ; xsetbv (XCR0 = 0: invalid, but intercepted first)
    mem.load(GUEST, Uint8Array.from([0x31, 0xc0, 0x0f, 0x01, 0xd1]));
    const w32 = (o: number, v: number) => mem.write32(VMCB + o, v);
    w32(V.INTERCEPT_MISC2, 0x3 | (1 << 13));
    w32(V.ASID, 1);
    const seg = (o: number, sel: number, attr: number) => { w32(o, sel | (attr << 16)); w32(o + 4, 0xffffffff); w32(o + 8, 0); w32(o + 12, 0); };
    seg(V.CS, 0x08, 0xc9b);
    for (const o of [V.SS, V.DS, V.ES]) seg(o, 0x10, 0xc93);
    w32(V.CR0, 0x11);
    w32(V.CR4, CR4_OSFXSR | CR4_OSXSAVE);
    w32(V.EFER, Efer.SVME);
    w32(V.RFLAGS, 0x2);
    w32(V.RIP, GUEST);
    w32(V.RSP, 0x7000);
    w32(V.GDTR + 4, 0x17);
    w32(V.IDTR + 4, 0x3ff);
    c.rip = HOST;
    expect(c.run(100)).toBe(Stop.Halt);
    expect(mem.read32(VMCB + V.EXITCODE) >>> 0).toBe(0x8d);
    expect(mem.read32(VMCB + V.RIP) >>> 0).toBe(GUEST + 2);
  });
});
