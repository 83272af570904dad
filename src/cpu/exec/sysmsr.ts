/**
 * MSR and system-call instructions (AMD64 APM Vol. 3 and Vol. 2 chapter 6): RDMSR, WRMSR, CPUID,
 * SYSCALL, SYSRET, SYSENTER, SYSEXIT, SWAPGS, RD/WR FS/GS BASE, RDTSC, RDTSCP, RDPID, RDPMC,
 * and the #UD forms of XGETBV/XSETBV and MONITOR/MWAIT (not implemented, not advertised).
 *
 * SYSCALL, SYSRET, SYSENTER and SYSEXIT load CS and SS with fixed hidden parts, never from the
 * descriptor tables; the selectors they load are expected to match what the GDT holds.
 */

import { Exit } from '../../svm/vmcb.js';
import type { Cpu } from '../cpu.js';
import { Pfx, type Insn } from '../../x86/insn.js';
import { Acc, translate } from '../mmu.js';
import { cpuidLeaf } from '../cpuid.js';
import { raise } from '../fault.js';
import { getFlags, setFlags } from '../flags.js';
import { updateMode } from '../mode.js';
import { isCanonicalHi, msrRead, msrWrite, readTsc } from '../msr.js';
import { PMC_COUNT, readPmc } from '../pmu.js';
import { Cr0, Efer, Fl, R, S, TWO32, Vec } from '../state.js';

/** hidden attributes (VMCB form) of the flat segments these instructions load */
const enum Flat {
  /** 64-bit code (L=1), DPL 0 / 3, execute/read accessed, G */
  CODE64_DPL0 = 0xa9b, CODE64_DPL3 = 0xafb,
  /** 32-bit code (D=1), DPL 0 / 3 */
  CODE32_DPL0 = 0xc9b, CODE32_DPL3 = 0xcfb,
  /** read/write data accessed, B=1, G, DPL 0 / 3 */
  DATA_DPL0 = 0xc93, DATA_DPL3 = 0xcf3,
}

/** RFLAGS bits that exist (CF PF AF ZF SF TF IF DF OF IOPL NT AC VIF VIP ID); RF, VM excluded */
const RFLAGS_SYSRET = 0x3c7fd5;

/** CR4 bits used here */
const CR4_TSD = 0x4;
const CR4_PCE = 0x100;
const CR4_FSGSBASE = 0x10000;


const CPUID_OUT = new Int32Array(4);

function setRegPair(c: Cpu, r: number, lo: number, hi: number): void {
  c.rl[r] = lo;
  c.rh[r] = hi;
}

function loadFlat(c: Cpu, seg: number, sel: number, attr: number): void {
  c.segSel[seg] = sel;
  c.segBase[seg] = 0;
  c.segLimit[seg] = 0xffffffff;
  c.segAttr[seg] = attr;
}

// ---- RDMSR / WRMSR / CPUID ----

function rdmsr(c: Cpu, _i: Insn): void {
  if (c.cpl !== 0) raise(Vec.GP, 0);
  const index = c.rl[R.RCX] >>> 0;
  if (c.msrHook !== null && c.msrHook(c, index, false)) return;
  const lo = msrRead(c, index);
  setRegPair(c, R.RAX, lo, 0);
  setRegPair(c, R.RDX, c.xh, 0);
}

function wrmsr(c: Cpu, _i: Insn): void {
  if (c.cpl !== 0) raise(Vec.GP, 0);
  const index = c.rl[R.RCX] >>> 0;
  if (c.msrHook !== null && c.msrHook(c, index, true)) return;
  msrWrite(c, index, c.rl[R.RAX], c.rl[R.RDX]);
}

function cpuid(c: Cpu, _i: Insn): void {
  c.icpt(Exit.CPUID);
  const o = CPUID_OUT;
  cpuidLeaf(c, c.rl[R.RAX], c.rl[R.RCX], o);
  setRegPair(c, R.RAX, o[0], 0);
  setRegPair(c, R.RBX, o[1], 0);
  setRegPair(c, R.RCX, o[2], 0);
  setRegPair(c, R.RDX, o[3], 0);
}

// ---- SYSCALL / SYSRET (APM Vol. 3 SYSCALL, SYSRET; Vol. 2 6.1.1) ----

function syscall(c: Cpu, _i: Insn): void {
  if ((c.efer & Efer.SCE) === 0) raise(Vec.UD, 0);
  // CS = STAR[47:32] with RPL cleared; SS = STAR[47:32] + 8 as it stands
  const sel = c.starHi & 0xfffc;
  const ssSel = ((c.starHi & 0xffff) + 8) & 0xffff;
  const fl = getFlags(c);
  if ((c.efer & Efer.LMA) !== 0) {
    // long mode: RCX = next RIP, R11 = RFLAGS (RF clear); always enters 64-bit mode
    const next = c.rip;
    const target = c.bits === 64 ? c.lstar : c.cstar;
    setRegPair(c, R.RCX, next | 0, c.bits === 64 ? Math.floor(next / TWO32) | 0 : 0);
    setRegPair(c, R.R11, fl & ~Fl.RF, 0);
    loadFlat(c, S.CS, sel, Flat.CODE64_DPL0);
    loadFlat(c, S.SS, ssSel, Flat.DATA_DPL0);
    setFlags(c, fl & ~c.sfmask & ~Fl.RF);
    c.cpl = 0;
    c.rip = target;
  } else {
    // legacy mode: ECX = next EIP, target STAR[31:0], 32-bit flat segments
    setRegPair(c, R.RCX, c.rip | 0, 0);
    loadFlat(c, S.CS, sel, Flat.CODE32_DPL0);
    loadFlat(c, S.SS, ssSel, Flat.DATA_DPL0);
    setFlags(c, fl & ~(Fl.VM | Fl.IF | Fl.RF));
    c.cpl = 0;
    c.rip = c.starLo >>> 0;
  }
  // SYSCALL and SYSRET check TF after they complete: a TF that SFMASK clears gives no trap
  // in the kernel, and one they set traps at once (QEMU does the same; Linux relies on it:
  // its opportunistic SYSRET comment, "restoring TF results in a trap from userspace
  // immediately after SYSRET", and tools/testing/selftests/x86/single_step_syscall.c)
  c.ownStep((c.flags & Fl.TF) !== 0);
  updateMode(c);
}

/**
 * SYSRET. AMD does not check RCX for a canonical address: SYSRET completes at CPL 3 and the
 * fetch at the new RIP raises #GP(0) in user mode (unlike Intel, which faults at CPL 0). SS
 * gets its selector (STAR[63:48] + 8, RPL 3) but keeps its hidden attributes, as on AMD
 * processors (Linux calls this X86_BUG_SYSRET_SS_ATTRS).
 */
function sysret(c: Cpu, i: Insn): void {
  if ((c.efer & Efer.SCE) === 0) raise(Vec.UD, 0);
  if ((c.cr0 & Cr0.PE) === 0 || c.cpl !== 0) raise(Vec.GP, 0);
  const base = c.starHi >>> 16;
  let target: number;
  if (c.bits === 64) {
    const r11 = c.rl[R.R11];
    if (i.opsize === 8) {
      loadFlat(c, S.CS, ((base + 16) | 3) & 0xffff, Flat.CODE64_DPL3);
      target = c.rh[R.RCX] * TWO32 + (c.rl[R.RCX] >>> 0);
    } else {
      loadFlat(c, S.CS, (base | 3) & 0xffff, Flat.CODE32_DPL3);
      target = c.rl[R.RCX] >>> 0;
    }
    setFlags(c, r11 & RFLAGS_SYSRET);
  } else {
    // legacy and compatibility mode: return to 32-bit code, only IF changes in RFLAGS
    loadFlat(c, S.CS, (base | 3) & 0xffff, Flat.CODE32_DPL3);
    target = c.rl[R.RCX] >>> 0;
    setFlags(c, getFlags(c) | Fl.IF);
  }
  c.segSel[S.SS] = ((base + 8) | 3) & 0xffff;
  c.cpl = 3;
  c.rip = target;
  c.ownStep((c.flags & Fl.TF) !== 0);
  updateMode(c);
}

// ---- SYSENTER / SYSEXIT (legacy mode only on AMD: #UD in long mode) ----

function sysenter(c: Cpu, _i: Insn): void {
  if ((c.efer & Efer.LMA) !== 0) raise(Vec.UD, 0);
  if ((c.cr0 & Cr0.PE) === 0 || (c.sysenterCs & 0xfffc) === 0) raise(Vec.GP, 0);
  const sel = c.sysenterCs & 0xfffc;
  loadFlat(c, S.CS, sel, Flat.CODE32_DPL0);
  loadFlat(c, S.SS, (sel + 8) & 0xffff, Flat.DATA_DPL0);
  setFlags(c, getFlags(c) & ~(Fl.VM | Fl.IF | Fl.RF));
  setRegPair(c, R.RSP, c.sysenterEsp | 0, 0);
  c.cpl = 0;
  c.rip = c.sysenterEip >>> 0;
  updateMode(c);
}

function sysexit(c: Cpu, _i: Insn): void {
  if ((c.efer & Efer.LMA) !== 0) raise(Vec.UD, 0);
  if ((c.cr0 & Cr0.PE) === 0 || c.cpl !== 0 || (c.sysenterCs & 0xfffc) === 0) raise(Vec.GP, 0);
  const sel = c.sysenterCs & 0xfffc;
  loadFlat(c, S.CS, ((sel + 16) | 3) & 0xffff, Flat.CODE32_DPL3);
  loadFlat(c, S.SS, ((sel + 24) | 3) & 0xffff, Flat.DATA_DPL3);
  setRegPair(c, R.RSP, c.rl[R.RCX], 0);
  c.cpl = 3;
  c.rip = c.rl[R.RDX] >>> 0;
  updateMode(c);
}

// ---- SWAPGS, RD/WR FS/GS BASE ----

/** SWAPGS: 64-bit mode only (the decoder's o64), CPL 0 */
function swapgs(c: Cpu, _i: Insn): void {
  if (c.cpl !== 0) raise(Vec.GP, 0);
  const t = c.segBase[S.GS];
  c.segBase[S.GS] = c.kernelGsBase;
  c.kernelGsBase = t;
}

/**
 * RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE (arg 0..3): 64-bit mode only (o64), #UD unless
 * CR4.FSGSBASE, any CPL. A 32-bit operand reads the low half zero-extended and writes the
 * zero-extended value; a 64-bit write must be canonical.
 */
function fsgsbase(c: Cpu, i: Insn): void {
  if ((c.cr4 & CR4_FSGSBASE) === 0) raise(Vec.UD, 0);
  const seg = (i.arg & 1) === 0 ? S.FS : S.GS;
  const r = i.rm;
  const wide = i.opsize === 8;
  if (i.arg < 2) {
    const v = c.segBase[seg];
    setRegPair(c, r, v | 0, wide ? Math.floor(v / TWO32) | 0 : 0);
  } else if (wide) {
    const hi = c.rh[r];
    if (!isCanonicalHi(hi)) raise(Vec.GP, 0);
    c.segBase[seg] = hi * TWO32 + (c.rl[r] >>> 0);
  } else {
    c.segBase[seg] = c.rl[r] >>> 0;
  }
}

// ---- time stamp counter, TSC_AUX, performance counters ----

function rdtscCheck(c: Cpu): void {
  if ((c.cr4 & CR4_TSD) !== 0 && c.cpl !== 0) raise(Vec.GP, 0);
}

function rdtsc(c: Cpu, _i: Insn): void {
  rdtscCheck(c);
  c.icpt(Exit.RDTSC);
  const lo = readTsc(c);
  setRegPair(c, R.RAX, lo, 0);
  setRegPair(c, R.RDX, c.xh, 0);
}

function rdtscp(c: Cpu, _i: Insn): void {
  rdtscCheck(c);
  c.icpt(Exit.RDTSCP);
  const lo = readTsc(c);
  setRegPair(c, R.RAX, lo, 0);
  setRegPair(c, R.RDX, c.xh, 0);
  setRegPair(c, R.RCX, c.tscAux | 0, 0);
}

/** RDPID: TSC_AUX into the register (zero-extended to 64 bits in 64-bit mode), any CPL */
function rdpid(c: Cpu, i: Insn): void {
  setRegPair(c, i.rm, c.tscAux | 0, 0);
}

/**
 * RDPMC (APM Vol. 3 RDPMC, Vol. 2 13.2.1): #GP(0) at CPL > 0 unless CR4.PCE, and for a counter
 * number other than the six core counters (ECX 0-5; with no NB or L2I counters advertised,
 * ECX 6-15 and the rest are #GP). EDX:EAX = the 48-bit counter (pmu.ts).
 */
function rdpmc(c: Cpu, _i: Insn): void {
  if ((c.cr4 & CR4_PCE) === 0 && c.cpl !== 0) raise(Vec.GP, 0);
  c.icpt(Exit.RDPMC);
  const n = c.rl[R.RCX] >>> 0;
  if (n >= PMC_COUNT) raise(Vec.GP, 0);
  const lo = readPmc(c, n);
  setRegPair(c, R.RAX, lo, 0);
  setRegPair(c, R.RDX, c.xh, 0);
}

/**
 * MONITOR: arms address monitoring at DS:rAX (APM Vol. 3 MONITOR). CPL 0 only (MONITOR/MWAIT
 * at CPL > 0 needs an enable bit worldswitch does not implement: #UD). The address is checked
 * like a read, but no monitoring hardware is modelled: a later MWAIT does not wait.
 */
function monitor(c: Cpu, i: Insn): void {
  if (c.cpl !== 0) raise(Vec.UD, 0);
  c.icpt(Exit.MONITOR);
  const seg = (i.pfx & Pfx.Seg) !== 0 ? i.seg : S.DS;
  const off = i.adsize === 8 ? c.rh[R.RAX] * TWO32 + (c.rl[R.RAX] >>> 0) : i.adsize === 4 ? c.rl[R.RAX] >>> 0 : c.rl[R.RAX] & 0xffff;
  const lin = c.bits === 64 ? (seg >= S.FS ? off + c.segBase[seg] : off) : (c.segBase[seg] + off) % TWO32;
  if (c.bits === 64 && (lin < -0x800000000000 || lin >= 0x800000000000)) raise(Vec.GP, 0);
  const phys = translate(c, lin, Acc.Read);
  c.monitorArmed = true;
  c.monitorLine = phys - (phys % 64);
}

/**
 * MWAIT: may end for any reason (APM Vol. 3 MWAIT). After MONITOR with interrupts enabled it
 * waits like HLT for an interrupt or NMI (on one CPU with no DMA nothing else can write the
 * monitored line meanwhile), so an OS idle loop (Linux's mwait_idle: `sti; mwait`) lets time
 * jump to the next event instead of spinning (with more CPUs, a change of the monitored line
 * by another CPU ends the wait too: machine/smp.ts); otherwise (no monitor armed, or IF = 0, where
 * only ECX[0] = 1 would let a masked interrupt end the wait) it ends at once. The MWAIT
 * intercept, and MWAIT_COND when the monitor is armed.
 */
function mwait(c: Cpu, _i: Insn): void {
  if (c.cpl !== 0) raise(Vec.UD, 0);
  if ((c.rl[R.RCX] & ~1) !== 0) raise(Vec.GP, 0);
  c.icpt(Exit.MWAIT);
  if (c.monitorArmed) c.icpt(Exit.MWAIT_COND);
  if (c.monitorArmed && (c.flags & Fl.IF) !== 0) {
    c.halted = true;
    c.attention = true;
    // with more CPUs, another CPU's write to the line ends the wait (smp.ts)
    c.mwaitLine = c.monitorLine;
  }
  c.monitorArmed = false;
}

export const handlers = {
  rdmsr, wrmsr, cpuid, syscall, sysret, sysenter, sysexit, swapgs, fsgsbase,
  rdtsc, rdtscp, rdpid, rdpmc,
  monitor, mwait,
};
