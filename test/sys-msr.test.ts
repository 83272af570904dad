/**
 * MSRs, CPUID, SYSCALL/SYSRET, SYSENTER/SYSEXIT, SWAPGS, FSGSBASE, RDTSC/RDTSCP/RDPID/RDPMC,
 * run as instructions on a bare core. Encodings were produced with GNU as.
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { getFlags, setFlags } from '../src/cpu/flags.js';
import { updateMode } from '../src/cpu/mode.js';
import { loadCsFromDesc, loadSegProt, readDescriptor } from '../src/cpu/segments.js';
import { Cr0, Efer, Fl, S, Stop, Vec } from '../src/cpu/state.js';
import { MSRS, Msr, VmCr, findMsr, readTsc } from '../src/cpu/msr.js';
import { MAX_EXT_LEAF, SVM_LEAF, cpuidLeaf } from '../src/cpu/cpuid.js';

const CODE = 0x1000;
const TWO32 = 4294967296;

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));
}

function mk(bits: 16 | 32 | 64, code = '', at = CODE): Cpu {
  const c = new Cpu(new PhysMem(1 << 20));
  setFlatMode(c, bits);
  if (code !== '') c.mem.load(at, hex(code));
  c.rip = at;
  c.rl[4] = 0x8000;
  return c;
}

/** run up to `n` instructions: -1 if they all retired, else the exception vector */
function step(c: Cpu, n = 1): number {
  const s = c.run(n);
  if (s === Stop.Budget) return -1;
  expect(s).toBe(Stop.Exception);
  return c.lastFault.vector;
}

function set64(c: Cpu, r: number, lo: number, hi: number): void {
  c.rl[r] = lo;
  c.rh[r] = hi;
}

// ---- RDMSR / WRMSR ----

/** a 64-bit core with WRMSR at CODE and RDMSR at CODE + 2 */
function msrCpu(): Cpu {
  return mk(64, '0f 30 0f 32');
}

function wrmsr(c: Cpu, msr: number, lo: number, hi: number): number {
  set64(c, 1, msr | 0, 0x55);
  set64(c, 0, lo | 0, 0x66);
  set64(c, 2, hi | 0, 0x77);
  c.rip = CODE;
  return step(c);
}

/** [EAX, EDX] as unsigned numbers, or the fault vector */
function rdmsr(c: Cpu, msr: number): number[] | number {
  set64(c, 1, msr | 0, 0x55);
  set64(c, 0, 0x1234, 0x99);
  set64(c, 2, 0x5678, 0x99);
  c.rip = CODE + 2;
  const v = step(c);
  if (v >= 0) return v;
  expect(c.rh[0]).toBe(0);
  expect(c.rh[2]).toBe(0);
  return [c.rl[0] >>> 0, c.rl[2] >>> 0];
}

describe('RDMSR / WRMSR', () => {
  it('round-trips every writable MSR', () => {
    const c = msrCpu();
    const cases: [number, number, number][] = [
      [Msr.STAR, 0x89abcdef, 0x00230010],
      [Msr.LSTAR, 0xffff8000, 0xffffffff],
      [Msr.CSTAR, 0x12345678, 0x00007fff],
      [Msr.SFMASK, 0x00047700, 0],
      [Msr.FS_BASE, 0xdeadb000, 0xffff8123],
      [Msr.GS_BASE, 0x00001000, 0x00000001],
      [Msr.KERNEL_GS_BASE, 0xfffff000, 0xffffffff],
      [Msr.SYSENTER_CS, 0x10, 0],
      [Msr.SYSENTER_ESP, 0xc0001000, 0],
      [Msr.SYSENTER_EIP, 0xc0100000, 0],
      [Msr.TSC_AUX, 0xfedcba98, 0],
      [Msr.PAT, 0x07050401, 0x00060100],
      [Msr.MTRR_DEF_TYPE, 0xc06, 0],
      [Msr.APIC_BASE, 0xfec00900, 0],
      [Msr.VM_HSAVE_PA, 0x12345000, 0x0000abcd],
      [Msr.VM_CR, VmCr.DPD | VmCr.R_INIT | VmCr.DIS_A20M, 0],
      [Msr.EFER, Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE | Efer.SVME | Efer.FFXSR, 0],
    ];
    for (const [msr, lo, hi] of cases) {
      expect(wrmsr(c, msr, lo, hi), findMsr(msr)!.name).toBe(-1);
      expect(rdmsr(c, msr), findMsr(msr)!.name).toEqual([lo >>> 0, hi >>> 0]);
    }
    expect(c.segBase[S.FS]).toBe((0xffff8123 | 0) * TWO32 + 0xdeadb000);
    expect(c.segBase[S.GS]).toBe(TWO32 + 0x1000);
    expect(c.lstar).toBe(-0x8000);
  });

  it('reads the reset values and FS/GS bases set by segment loads', () => {
    const c = msrCpu();
    expect(rdmsr(c, Msr.PAT)).toEqual([0x00070406, 0x00070406]);
    expect(rdmsr(c, Msr.APIC_BASE)).toEqual([0xfee00900, 0]);
    expect(rdmsr(c, Msr.MTRR_CAP)).toEqual([0x508, 0]);
    expect(rdmsr(c, Msr.EFER)).toEqual([Efer.LME | Efer.LMA, 0]);
    c.segBase[S.GS] = 0x12345;
    expect(rdmsr(c, Msr.GS_BASE)).toEqual([0x12345, 0]);
  });

  it('raises #GP(0) for bad values, reserved bits and unknown MSRs, changing nothing', () => {
    const bad: [number, number, number][] = [
      [Msr.EFER, 0x200, 0], [Msr.EFER, 0x2000, 0], [Msr.EFER, 0x10000, 0], [Msr.EFER, 0, 1],
      [Msr.LSTAR, 0, 0x8000], [Msr.CSTAR, 0, 0xffff7fff], [Msr.FS_BASE, 0, 0x10000],
      [Msr.GS_BASE, 0, 0x8000], [Msr.KERNEL_GS_BASE, 0, 0x7fff0000],
      [Msr.TSC_AUX, 0, 1],
      [Msr.PAT, 0x02, 0], [Msr.PAT, 0, 0x03000000], [Msr.PAT, 0x0800, 0],
      [Msr.MTRR_CAP, 0x508, 0],
      [Msr.MTRR_DEF_TYPE, 0x2, 0], [Msr.MTRR_DEF_TYPE, 0x7, 0], [Msr.MTRR_DEF_TYPE, 0x200, 0],
      [Msr.MTRR_DEF_TYPE, 0, 1],
      [Msr.APIC_BASE, 0xfee00d00, 0], [Msr.APIC_BASE, 0xfee00901, 0], [Msr.APIC_BASE, 0xfee00900, 0x10000],
      [Msr.VM_CR, 0x20, 0], [Msr.VM_CR, 0, 1],
      [Msr.VM_HSAVE_PA, 0x1000 | 0x800, 0], [Msr.VM_HSAVE_PA, 0x1000, 0x10000],
      [0x12345678, 0, 0], [0xc0000085, 0, 0], [0x0, 0, 0],
    ];
    for (const [msr, lo, hi] of bad) {
      const c = msrCpu();
      const before = rdmsr(c, msr);
      const tag = `${msr.toString(16)} <- ${hi.toString(16)}:${lo.toString(16)}`;
      expect(wrmsr(c, msr, lo, hi), tag).toBe(Vec.GP);
      expect(c.lastFault.errorCode).toBe(0);
      expect(c.lastFault.rip).toBe(CODE);
      expect(rdmsr(c, msr), tag).toEqual(before);
    }
    expect(rdmsr(msrCpu(), 0x12345678)).toBe(Vec.GP);
    expect(rdmsr(msrCpu(), 0xc0010118)).toBe(Vec.GP);
  });

  it('raises #GP(0) at CPL > 0', () => {
    const c = msrCpu();
    c.cpl = 3;
    expect(wrmsr(c, Msr.STAR, 1, 2)).toBe(Vec.GP);
    expect(c.starLo).toBe(0);
    expect(rdmsr(c, Msr.STAR)).toBe(Vec.GP);
  });

  it('EFER: LMA is status, bits 7:1 are ignored, LME is fixed while paging is on', () => {
    const c = msrCpu();
    expect(wrmsr(c, Msr.EFER, Efer.LME | 0xfe, 0)).toBe(-1);
    expect(rdmsr(c, Msr.EFER)).toEqual([Efer.LME | Efer.LMA, 0]);
    c.cr0 |= Cr0.PG; // (the fetch stays unpaged: pagingOn is only recomputed by updateMode)
    expect(wrmsr(c, Msr.EFER, 0, 0)).toBe(Vec.GP);
    expect(wrmsr(c, Msr.EFER, Efer.LME | Efer.NXE | Efer.SCE, 0)).toBe(-1);
    expect(c.efer).toBe(Efer.LME | Efer.LMA | Efer.NXE | Efer.SCE);
    const d = mk(32, '0f 30');
    d.cr0 |= Cr0.PG;
    set64(d, 1, Msr.EFER | 0, 0); set64(d, 0, Efer.LME, 0); set64(d, 2, 0, 0);
    expect(step(d)).toBe(Vec.GP);
    expect(d.efer).toBe(0);
  });

  it('SVME and VM_CR.SVMDIS exclude each other; LOCK freezes SVMDIS', () => {
    const c = msrCpu();
    expect(wrmsr(c, Msr.VM_CR, VmCr.SVMDIS, 0)).toBe(-1);
    expect(wrmsr(c, Msr.EFER, Efer.LME | Efer.SVME, 0)).toBe(Vec.GP);
    expect(wrmsr(c, Msr.VM_CR, 0, 0)).toBe(-1);
    expect(wrmsr(c, Msr.EFER, Efer.LME | Efer.SVME, 0)).toBe(-1);
    expect(wrmsr(c, Msr.VM_CR, VmCr.SVMDIS, 0)).toBe(Vec.GP);
    expect(wrmsr(c, Msr.VM_CR, VmCr.SVMDIS | VmCr.LOCK, 0)).toBe(Vec.GP);
    expect(c.vmCr).toBe(0);
    expect(wrmsr(c, Msr.VM_CR, VmCr.LOCK, 0)).toBe(-1);
    // locked: LOCK and SVMDIS ignore writes, the other bits still take them
    expect(wrmsr(c, Msr.VM_CR, VmCr.DPD, 0)).toBe(-1);
    expect(c.vmCr).toBe(VmCr.LOCK | VmCr.DPD);
    expect(wrmsr(c, Msr.EFER, Efer.LME, 0)).toBe(-1);
    expect(wrmsr(c, Msr.VM_CR, VmCr.SVMDIS, 0)).toBe(-1);
    expect(c.vmCr).toBe(VmCr.LOCK);
  });

  it('APIC_BASE keeps BSP read-only and CPUID APIC follows the enable bit', () => {
    const c = msrCpu();
    expect(wrmsr(c, Msr.APIC_BASE, 0xfee00000, 0)).toBe(-1);
    expect(rdmsr(c, Msr.APIC_BASE)).toEqual([0xfee00100, 0]);
    const o = new Int32Array(4);
    cpuidLeaf(c, 1, 0, o);
    expect(o[3] & (1 << 9)).toBe(0);
    expect(wrmsr(c, Msr.APIC_BASE, 0xfee00800, 0)).toBe(-1);
    cpuidLeaf(c, 1, 0, o);
    expect(o[3] & (1 << 9)).toBe(1 << 9);
  });

  it('keeps only bits 31:0 of SYSENTER_ESP/EIP and SFMASK', () => {
    const c = msrCpu();
    expect(wrmsr(c, Msr.SYSENTER_EIP, 0x1000, 0xffffffff)).toBe(-1);
    expect(rdmsr(c, Msr.SYSENTER_EIP)).toEqual([0x1000, 0]);
    expect(wrmsr(c, Msr.SFMASK, 0x700, 5)).toBe(-1);
    expect(rdmsr(c, Msr.SFMASK)).toEqual([0x700, 0]);
  });

  it('lets the SVM hook take an access', () => {
    const c = msrCpu();
    const seen: [number, boolean][] = [];
    c.msrHook = (_c, msr, write) => { seen.push([msr, write]); return msr === Msr.STAR; };
    expect(wrmsr(c, Msr.STAR, 5, 6)).toBe(-1);
    expect(c.starLo).toBe(0);
    expect(wrmsr(c, Msr.LSTAR, 0x5000, 0)).toBe(-1);
    expect(c.lstar).toBe(0x5000);
    expect(rdmsr(c, 0x99999)).toBe(Vec.GP);
    expect(seen).toEqual([[Msr.STAR, true], [Msr.LSTAR, true], [0x99999, false]]);
  });

  it('has one table entry per MSR with a name and class', () => {
    const names = new Set(MSRS.map((d) => d.name));
    expect(names.size).toBe(MSRS.length);
    for (const n of ['EFER', 'STAR', 'LSTAR', 'CSTAR', 'SFMASK', 'FS_BASE', 'GS_BASE', 'KERNEL_GS_BASE',
      'SYSENTER_CS', 'SYSENTER_ESP', 'SYSENTER_EIP', 'TSC', 'TSC_AUX', 'VM_CR', 'VM_HSAVE_PA']) {
      expect(names.has(n), n).toBe(true);
    }
    expect(findMsr(0xc0000080)!.name).toBe('EFER');
  });
});

// ---- TSC ----

describe('time stamp counter', () => {
  it('reads cycles exactly above 2^32 and honours WRMSR TSC with wrap-around', () => {
    const c = msrCpu();
    c.cycles = 2 ** 40 + 7;
    expect(rdmsr(c, Msr.TSC)).toEqual([7, 256]);
    expect(wrmsr(c, Msr.TSC, 0xfffffff0, 0xffffffff)).toBe(-1);
    // the WRMSR retired and counted one cycle after the value was set
    expect(readTsc(c) >>> 0).toBe(0xfffffff1);
    expect(c.xh >>> 0).toBe(0xffffffff);
    c.cycles += 20;
    expect(readTsc(c)).toBe(0x5);
    expect(c.xh).toBe(0);
  });

  it('RDTSC is monotonic and counts retired instructions', () => {
    // rdtsc; mov %eax,%esi; mov %edx,%edi; nop x3; rdtsc; ud2
    const c = mk(64, '0f 31 89 c6 89 d7 90 90 90 0f 31 0f 0b');
    c.cycles = TWO32 - 3;
    set64(c, 0, 0, 0x1234);
    expect(step(c, 100)).toBe(Vec.UD);
    const t0 = (c.rl[7] >>> 0) * TWO32 + (c.rl[6] >>> 0);
    const t1 = (c.rl[2] >>> 0) * TWO32 + (c.rl[0] >>> 0);
    expect(t0).toBe(TWO32 - 3);
    expect(t1 - t0).toBe(6);
    expect(c.rh[0]).toBe(0);
  });

  it('RDTSC faults at CPL > 0 with CR4.TSD; RDTSCP and RDPID read TSC_AUX', () => {
    const c = mk(64, '0f 31');
    c.cr4 |= 0x4;
    c.cpl = 3;
    expect(step(c)).toBe(Vec.GP);
    c.cpl = 0;
    c.rip = CODE;
    expect(step(c)).toBe(-1);
    const d = mk(64, '0f 01 f9 f3 0f c7 f8');
    d.tscAux = 0x89abcdef;
    set64(d, 1, 0, 0x77);
    d.cpl = 3;
    expect(step(d)).toBe(-1);
    expect([d.rl[1] >>> 0, d.rh[1]]).toEqual([0x89abcdef, 0]);
    set64(d, 0, 0, 0x77);
    expect(step(d)).toBe(-1);
    expect([d.rl[0] >>> 0, d.rh[0]]).toEqual([0x89abcdef, 0]);
  });

  it('RDPMC: #GP at CPL 3 without CR4.PCE and for counters beyond 5; idle counters read 0', () => {
    const c = mk(64, '0f 33');
    set64(c, 1, 3, 0);
    set64(c, 0, 5, 5);
    c.cpl = 3;
    expect(step(c)).toBe(Vec.GP);
    c.cr4 |= 0x100;
    c.rip = CODE;
    expect(step(c)).toBe(-1);
    expect([c.rl[0], c.rh[0], c.rl[2]]).toEqual([0, 0, 0]);
    set64(c, 1, 5, 0);
    c.rip = CODE;
    expect(step(c)).toBe(-1);
    set64(c, 1, 6, 0);
    c.rip = CODE;
    expect(step(c)).toBe(Vec.GP);
  });
});

// ---- CPUID ----

function leaf(c: Cpu, eax: number, ecx = 0): number[] {
  const o = new Int32Array(4);
  cpuidLeaf(c, eax, ecx, o);
  return Array.from(o, (v) => v >>> 0);
}

function ascii(words: number[]): string {
  let s = '';
  for (const w of words) for (let k = 0; k < 4; k++) s += String.fromCharCode((w >>> (8 * k)) & 0xff);
  return s;
}

describe('CPUID', () => {
  const c = mk(64);
  it('reports AuthenticAMD and the leaf ranges', () => {
    const l0 = leaf(c, 0);
    expect(l0[0]).toBe(0xd);
    expect(ascii([l0[1], l0[3], l0[2]])).toBe('AuthenticAMD');
    const e0 = leaf(c, 0x80000000);
    expect(e0[0]).toBe(MAX_EXT_LEAF);
    expect(ascii([e0[1], e0[3], e0[2]])).toBe('AuthenticAMD');
  });

  it('leaf 1: family 17h signature and exactly the implemented features', () => {
    const [a, b, cx, d] = leaf(c, 1);
    const family = ((a >>> 8) & 0xf) + ((a >>> 20) & 0xff);
    const model = ((a >>> 4) & 0xf) | (((a >>> 16) & 0xf) << 4);
    expect([family, model]).toEqual([0x17, 0x31]);
    expect((b >>> 8) & 0xff).toBe(8);
    // FPU DE PSE TSC MSR PAE CX8 APIC SEP MTRR PGE CMOV PAT PSE36 CLFSH MMX FXSR SSE SSE2
    const want = [0, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 15, 16, 17, 19, 23, 24, 25, 26].reduce((m, k) => m + 2 ** k, 0);
    expect(d).toBe(want);
    // SSE3, MONITOR, SSSE3, CX16, POPCNT, XSAVE; OSXSAVE (CR4) clear; no hypervisor, x2APIC
    expect(cx).toBe(1 + 2 ** 3 + 2 ** 9 + 2 ** 13 + 2 ** 23 + 2 ** 26);
  });

  it('leaf 7: FSGSBASE, SMEP, SMAP, RDPID; no BMI1; sub-leaf 1 is empty', () => {
    const [a, b, cx, d] = leaf(c, 7, 0);
    expect([a, b, cx, d]).toEqual([0, 1 + 2 ** 7 + 2 ** 20, 2 ** 22, 0]);
    expect(b & 8).toBe(0);
    expect(leaf(c, 7, 1)).toEqual([0, 0, 0, 0]);
  });

  it('extended leaves: SVM, LM, NX, 1 GiB pages, RDTSCP, brand string, address sizes', () => {
    const [a, , cx, d] = leaf(c, 0x80000001);
    expect(a).toBe(leaf(c, 1)[0]);
    expect(cx).toBe(1 + 4 + 16 + 32 + 128 + 256 + 512 + 2 ** 23); // ... OSVW, PerfCtrExtCore
    for (const k of [0, 2, 11, 20, 22, 23, 24, 25, 26, 27, 29]) expect((d >>> k) & 1, `edx bit ${k}`).toBe(1);
    for (const k of [30, 31]) expect((d >>> k) & 1, `edx bit ${k}`).toBe(0);
    const brand = ascii([...leaf(c, 0x80000002), ...leaf(c, 0x80000003), ...leaf(c, 0x80000004)]);
    expect(brand.replace(/\0+$/, '')).toBe('worldswitch AMD-V virtual CPU');
    expect(brand.length).toBe(48);
    expect(leaf(c, 0x80000008)).toEqual([0x3030, 0, 0, 0]);
  });

  it('leaf 8000_000A reports the SVM revision, ASIDs and features; unknown leaves are zero', () => {
    // revision 1, 64 ASIDs, EDX: NP (0), LbrVirt (1), NRIPS (3), TscRateMsr (4), VmcbClean (5),
    // FlushByAsid (6), DecodeAssists (7), PauseFilter (10), PauseFilterThreshold (12),
    // V_VMSAVE_VMLOAD (15), VGIF (16), GMET (17), vNMI (25)
    expect(leaf(c, 0x8000000a)).toEqual([1, 64, 0, 0x20394fb]);
    const saved = SVM_LEAF.slice();
    SVM_LEAF[1] = 64;
    SVM_LEAF[3] = 0x8;
    expect(leaf(c, 0x8000000a)).toEqual([1, 64, 0, 8]);
    SVM_LEAF.set(saved);
    for (const l of [2, 4, 5, 6, 8, 0xe, 0x40000000, 0x80000009, 0x8000000b, 0x8000001f, 0xffffffff]) {
      expect(leaf(c, l), l.toString(16)).toEqual([0, 0, 0, 0]);
    }
  });

  it('the instruction writes EAX..EDX zero-extended', () => {
    const d = mk(64, '0f a2');
    set64(d, 0, 0, 0x11); set64(d, 1, 0, 0x22); set64(d, 2, 0, 0x33); set64(d, 3, 0, 0x44);
    d.cpl = 3;
    expect(step(d)).toBe(-1);
    expect([d.rl[0], d.rh[0], d.rh[1], d.rh[2], d.rh[3]]).toEqual([0xd, 0, 0, 0, 0]);
    expect(ascii([d.rl[3], d.rl[2], d.rl[1]])).toBe('AuthenticAMD');
  });

  it('XGETBV and XSETBV raise #UD without CR4.OSXSAVE (test/sse.test.ts has the rest); MONITOR and MWAIT run at CPL 0 and raise #UD at CPL 3', () => {
    for (const code of ['0f 01 d0', '0f 01 d1']) expect(step(mk(64, code)), code).toBe(Vec.UD);
    for (const code of ['0f 01 c8', '0f 01 c9']) {
      expect(step(mk(64, code)), code).toBe(-1);
      const u = mk(64, code);
      u.cpl = 3;
      expect(step(u), code).toBe(Vec.UD);
    }
  });
});

// ---- SYSCALL / SYSRET ----

/**
 * GDT at 0x500 in the Linux layout: 10 kernel code64, 18 kernel data, 20 user code32, 28 user
 * data, 30 user code64; STAR = 0023_0010_xxxx_xxxx. CS/SS loaded through the descriptor code.
 */
function withGdt(c: Cpu): void {
  const put = (sel: number, hi: number) => { c.mem.write32(0x500 + sel, 0xffff); c.mem.write32(0x504 + sel, hi); };
  put(0x10, 0x00af9b00);
  put(0x18, 0x00cf9300);
  put(0x20, 0x00cffb00);
  put(0x28, 0x00cff300);
  put(0x30, 0x00affb00);
  c.gdtrBase = 0x500;
  c.gdtrLimit = 0x37;
  loadCsFromDesc(c, 0x10, readDescriptor(c, 0x10, Vec.GP, false), 0);
  loadSegProt(c, S.SS, 0x18);
}

// kernel at 0x1000: WRMSR STAR, LSTAR = 0x3000, SFMASK = TF|IF|DF, EFER.SCE, then SYSRETQ to
// 0x2000 with R11 = IF|DF
const KERNEL = 'b9 81 00 00 c0 31 c0 ba 10 00 23 00 0f 30 b9 82 00 00 c0 b8 00 30 00 00 31 d2 0f 30 ' +
  'b9 84 00 00 c0 b8 00 07 00 00 0f 30 b9 80 00 00 c0 0f 32 83 c8 01 0f 30 b9 00 20 00 00 ' +
  '41 bb 02 06 00 00 48 0f 07';
// user at 0x2000: mov $42,%eax; syscall; ud2
const USER = 'b8 2a 00 00 00 0f 05 0f 0b';

describe('SYSCALL / SYSRET', () => {
  it('round-trips kernel -> ring 3 -> kernel in 64-bit mode', () => {
    const c = mk(64, KERNEL);
    c.mem.load(0x2000, hex(USER));
    c.mem.load(0x3000, hex('0f 0b'));
    withGdt(c);
    const ssAttr = c.segAttr[S.SS];
    expect(step(c, 18)).toBe(-1);
    expect(c.rip).toBe(0x2000);
    expect(c.cpl).toBe(3);
    expect(c.bits).toBe(64);
    expect([c.segSel[S.CS], c.segSel[S.SS]]).toEqual([0x33, 0x2b]);
    expect(c.segAttr[S.CS]).toBe(0xafb);
    expect(c.segAttr[S.SS]).toBe(ssAttr); // AMD: SYSRET leaves the SS hidden attributes alone
    expect(getFlags(c)).toBe(0x602);
    expect(step(c, 10)).toBe(Vec.UD);
    expect(c.lastFault.rip).toBe(0x3000);
    expect(c.cpl).toBe(0);
    expect([c.segSel[S.CS], c.segSel[S.SS]]).toEqual([0x10, 0x18]);
    expect([c.segAttr[S.CS], c.segAttr[S.SS]]).toEqual([0xa9b, 0xc93]);
    expect([c.rl[1], c.rh[1]]).toEqual([0x2007, 0]);
    expect([c.rl[11], c.rh[11]]).toEqual([0x602, 0]);
    expect(getFlags(c) & (Fl.IF | Fl.DF | Fl.TF)).toBe(0);
    expect(c.rl[0]).toBe(42);
  });

  it('SYSRET to a non-canonical RCX faults with #GP(0) at CPL 3 (AMD)', () => {
    // movabs $0x800000000000,%rcx; mov $0x202,%r11d; sysretq
    const c = mk(64, '48 b9 00 00 00 00 00 80 00 00 41 bb 02 02 00 00 48 0f 07');
    withGdt(c);
    c.starHi = 0x00230010;
    c.efer |= Efer.SCE;
    expect(step(c, 10)).toBe(Vec.GP);
    expect(c.lastFault.errorCode).toBe(0);
    expect(c.lastFault.rip).toBe(0x800000000000);
    expect(c.cpl).toBe(3);
    expect(c.segSel[S.CS]).toBe(0x33);
  });

  it('#UD without EFER.SCE; SYSRET #GP at CPL 3 and in real mode', () => {
    const c = mk(64, '0f 05');
    expect(step(c)).toBe(Vec.UD);
    const d = mk(64, '48 0f 07');
    d.efer |= Efer.SCE;
    d.cpl = 3;
    expect(step(d)).toBe(Vec.GP);
    const r = mk(16, '0f 07');
    r.efer = Efer.SCE;
    expect(step(r)).toBe(Vec.GP);
  });

  it('compatibility mode: SYSCALL goes to CSTAR in 64-bit mode, SYSRETL returns to 32-bit code', () => {
    const c = mk(64, '0f 05 0f 0b', 0x2000);
    c.mem.load(0x4000, hex('0f 07'));
    withGdt(c);
    c.starHi = 0x00230010;
    c.cstar = 0x4000;
    c.lstar = 0x9000;
    c.efer |= Efer.SCE;
    loadCsFromDesc(c, 0x23, readDescriptor(c, 0x23, Vec.GP, false), 3);
    loadSegProt(c, S.SS, 0x2b);
    expect(c.bits).toBe(32);
    set64(c, 1, 0, 0x1234);
    expect(step(c)).toBe(-1);
    expect([c.rip, c.bits, c.cpl, c.segSel[S.CS]]).toEqual([0x4000, 64, 0, 0x10]);
    expect([c.rl[1], c.rh[1]]).toEqual([0x2002, 0]);
    expect(step(c)).toBe(-1);
    expect([c.rip, c.bits, c.cpl, c.segSel[S.CS], c.segSel[S.SS]]).toEqual([0x2002, 32, 3, 0x23, 0x2b]);
    expect(step(c)).toBe(Vec.UD);
  });

  it('legacy mode: SYSCALL to STAR.EIP clearing IF and VM, SYSRET setting IF', () => {
    const c = mk(32, '0f 05 0f 0b');
    c.mem.load(0x3000, hex('0f 07'));
    c.efer = Efer.SCE;
    c.starLo = 0x3000;
    c.starHi = 0x00230010;
    c.cpl = 3;
    setFlags(c, Fl.IF | Fl.DF);
    expect(step(c)).toBe(-1);
    expect([c.rip, c.cpl, c.bits, c.segSel[S.CS], c.segSel[S.SS], c.rl[1]]).toEqual([0x3000, 0, 32, 0x10, 0x18, 0x1002]);
    expect(c.segAttr[S.CS]).toBe(0xc9b);
    expect(getFlags(c) & (Fl.IF | Fl.DF)).toBe(Fl.DF);
    expect(step(c)).toBe(-1);
    expect([c.rip, c.cpl, c.segSel[S.CS], c.segSel[S.SS]]).toEqual([0x1002, 3, 0x23, 0x2b]);
    expect(getFlags(c) & (Fl.IF | Fl.DF)).toBe(Fl.IF | Fl.DF);
  });
});

describe('SYSENTER / SYSEXIT', () => {
  it('enter ring 0 and exit to ring 3 in legacy protected mode', () => {
    const c = mk(32, '0f 34 0f 0b');
    // mov $0x6000,%ecx; mov $0x1002,%edx; sysexit
    c.mem.load(0x3000, hex('b9 00 60 00 00 ba 02 10 00 00 0f 35'));
    c.sysenterCs = 0x10;
    c.sysenterEsp = 0x7000;
    c.sysenterEip = 0x3000;
    c.cpl = 3;
    setFlags(c, Fl.IF);
    expect(step(c)).toBe(-1);
    expect([c.rip, c.cpl, c.rl[4], c.segSel[S.CS], c.segSel[S.SS]]).toEqual([0x3000, 0, 0x7000, 0x10, 0x18]);
    expect(getFlags(c) & Fl.IF).toBe(0);
    expect(step(c, 3)).toBe(-1);
    expect([c.rip, c.cpl, c.rl[4], c.segSel[S.CS], c.segSel[S.SS]]).toEqual([0x1002, 3, 0x6000, 0x23, 0x2b]);
    expect([c.segAttr[S.CS], c.segAttr[S.SS]]).toEqual([0xcfb, 0xcf3]);
  });

  it('#UD in long mode; #GP with SYSENTER_CS = 0, in real mode, or SYSEXIT at CPL 3', () => {
    const l = mk(64, '0f 34');
    l.sysenterCs = 0x10;
    expect(step(l)).toBe(Vec.UD);
    expect(step(mk(64, '0f 35'))).toBe(Vec.UD);
    expect(step(mk(32, '0f 34'))).toBe(Vec.GP);
    const r = mk(16, '0f 34');
    r.sysenterCs = 0x10;
    expect(step(r)).toBe(Vec.GP);
    const u = mk(32, '0f 35');
    u.sysenterCs = 0x10;
    u.cpl = 3;
    expect(step(u)).toBe(Vec.GP);
  });
});

describe('SWAPGS and FSGSBASE', () => {
  it('SWAPGS exchanges GS base and KERNEL_GS_BASE at CPL 0 only, in 64-bit mode only', () => {
    const c = mk(64, '0f 01 f8');
    c.segBase[S.GS] = 0x1111;
    c.kernelGsBase = -0x100000;
    expect(step(c)).toBe(-1);
    expect([c.segBase[S.GS], c.kernelGsBase]).toEqual([-0x100000, 0x1111]);
    c.rip = CODE;
    c.cpl = 3;
    expect(step(c)).toBe(Vec.GP);
    expect(c.segBase[S.GS]).toBe(-0x100000);
    expect(step(mk(32, '0f 01 f8'))).toBe(Vec.UD);
  });

  it('needs CR4.FSGSBASE and 64-bit mode', () => {
    expect(step(mk(64, 'f3 48 0f ae c0'))).toBe(Vec.UD);
    const d = mk(32, 'f3 0f ae c0');
    d.cr4 |= 0x10000;
    expect(step(d)).toBe(Vec.UD);
  });

  it('reads and writes the bases at any CPL, 32-bit forms zero-extended', () => {
    // rdfsbase %rax; rdfsbase %eax; wrgsbase %ecx; wrgsbase %rcx
    const c = mk(64, 'f3 48 0f ae c0 f3 0f ae c0 f3 0f ae d9 f3 48 0f ae d9');
    c.cr4 |= 0x10000;
    c.cpl = 3;
    c.segBase[S.FS] = -0x12345678;
    expect(step(c)).toBe(-1);
    expect([c.rl[0], c.rh[0]]).toEqual([-0x12345678, -1]);
    expect(step(c)).toBe(-1);
    expect([c.rl[0], c.rh[0]]).toEqual([-0x12345678, 0]);
    set64(c, 1, 0x87654321 | 0, -1);
    expect(step(c)).toBe(-1);
    expect(c.segBase[S.GS]).toBe(0x87654321);
    set64(c, 1, 0, 0x8000);
    expect(step(c)).toBe(Vec.GP);
    expect(c.segBase[S.GS]).toBe(0x87654321);
    set64(c, 1, 0x1000, -1);
    c.rip = CODE + 13;
    expect(step(c)).toBe(-1);
    expect(c.segBase[S.GS]).toBe(-TWO32 + 0x1000);
  });
});

describe('virtual-8086 sanity', () => {
  it('SYSENTER from virtual-8086 mode clears VM', () => {
    const c = mk(32, '0f 34');
    c.sysenterCs = 0x10;
    c.sysenterEip = 0x3000;
    c.cpl = 3;
    setFlags(c, Fl.VM);
    updateMode(c);
    expect(c.bits).toBe(16);
    expect(step(c)).toBe(-1);
    expect(getFlags(c) & Fl.VM).toBe(0);
    expect([c.bits, c.rip, c.cpl]).toEqual([32, 0x3000, 0]);
  });
});
