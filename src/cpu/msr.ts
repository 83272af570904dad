/**
 * Model-specific registers: one table of every MSR worldswitch implements, with its number,
 * name, cost class and read and write functions. RDMSR/WRMSR, the cost model (per-class costs)
 * and the SVM layer (MSR-permission-map intercepts, VMLOAD/VMSAVE) all work from it.
 *
 * A read returns bits 31:0 and leaves bits 63:32 in c.xh; a write gets both halves. A write
 * checks everything before it changes anything and raises #GP(0) for a bad value; an MSR that
 * is not in the table raises #GP(0) on both (AMD64 APM Vol. 3 RDMSR/WRMSR).
 *
 * The documented list of every MSR the machine implements, with references and reset values,
 * is in msr-amd.ts; the performance counters and debug-extension MSRs are defined in pmu.ts,
 * the AMD configuration MSRs and MTRRs in msr-amd.ts, the rest here.
 */

import { scaleTsc, TSC_HI } from '../svm/tsc.js';
import type { Cpu } from './cpu.js';
import { raise } from './fault.js';
import { updateMode } from './mode.js';
import { MAXPHYADDR } from './paging.js';
import { Cr0, Efer, S, TWO32, Vec } from './state.js';
import { LEDGER_RDMSR, LEDGER_WRMSR } from '../cost/ledger.js';

export const enum Msr {
  TSC = 0x10,
  APIC_BASE = 0x1b,
  MTRR_CAP = 0xfe,
  SYSENTER_CS = 0x174,
  SYSENTER_ESP = 0x175,
  SYSENTER_EIP = 0x176,
  PAT = 0x277,
  MTRR_DEF_TYPE = 0x2ff,
  EFER = 0xc0000080,
  STAR = 0xc0000081,
  LSTAR = 0xc0000082,
  CSTAR = 0xc0000083,
  SFMASK = 0xc0000084,
  FS_BASE = 0xc0000100,
  GS_BASE = 0xc0000101,
  KERNEL_GS_BASE = 0xc0000102,
  TSC_AUX = 0xc0000103,
  VM_CR = 0xc0010114,
  VM_HSAVE_PA = 0xc0010117,
}

/** What kind of state an MSR holds, for per-class costs. */
export const enum MsrClass {
  Efer = 0, SegBase = 1, Syscall = 2, Sysenter = 3, Tsc = 4, TscAux = 5, Apic = 6, Cache = 7, Svm = 8,
  /** performance counters, debug extensions and AMD configuration MSRs (pmu.ts, msr-amd.ts):
   * no cost-profile entry, so no extra cycles */
  Perf = 9, Debug = 10, Config = 11,
}

/** VM_CR bits (APM Vol. 2 15.30.1) */
export const enum VmCr { DPD = 1, R_INIT = 2, DIS_A20M = 4, LOCK = 8, SVMDIS = 16 }

/** EFER bits a write may set: SCE, LME, NXE, SVME, FFXSR (LMA is status, see writeEfer) */
const EFER_WRITABLE = Efer.SCE | Efer.LME | Efer.NXE | Efer.SVME | Efer.FFXSR;
/** EFER bits 7:1 are RAZ: writes to them are ignored (APM Vol. 2 3.1.7, Figure 3-8) */
const EFER_RAZ = 0xfe;

/** MTRRcap (APM 7.7.1): eight variable-range MTRRs, the fixed ranges, WC (msr-amd.ts has them) */
const MTRR_CAP_VALUE = 0x508;

export class MsrDef {
  constructor(
    readonly index: number,
    readonly name: string,
    readonly cls: number,
    /** returns bits 31:0, leaves bits 63:32 in c.xh */
    readonly read: (c: Cpu) => number,
    /** raises #GP(0) for a value the MSR does not take, before changing anything */
    readonly write: (c: Cpu, lo: number, hi: number) => void,
  ) {}
}

/** Every implemented MSR, in no particular order. */
export const MSRS: MsrDef[] = [];
const BY_INDEX = new Map<number, MsrDef>();

/** Add an MSR to the table (later layers add theirs: SVM, the LAPIC, ...). */
export function defineMsr(def: MsrDef): void {
  if (BY_INDEX.has(def.index)) throw new Error(`MSR ${def.index.toString(16)} defined twice`);
  MSRS.push(def);
  BY_INDEX.set(def.index, def);
}

export function findMsr(index: number): MsrDef | undefined {
  return BY_INDEX.get(index >>> 0);
}

/** Read MSR `index` (bits 31:0 returned, 63:32 in c.xh); #GP(0) if it does not exist. */
export function msrRead(c: Cpu, index: number): number {
  const d = BY_INDEX.get(index >>> 0);
  if (d === undefined) raise(Vec.GP, 0);
  const v = d.read(c);
  c.cycles += c.msrReadCost[d.cls];
  if (c.ledger !== null) c.ledger[LEDGER_RDMSR + d.cls]++;
  c.msrAccesses++;
  return v;
}

/** Write MSR `index`; #GP(0) if it does not exist or does not take the value. */
export function msrWrite(c: Cpu, index: number, lo: number, hi: number): void {
  const d = BY_INDEX.get(index >>> 0);
  if (d === undefined) raise(Vec.GP, 0);
  d.write(c, lo, hi);
  c.cycles += c.msrWriteCost[d.cls];
  if (c.ledger !== null) c.ledger[LEDGER_WRMSR + d.cls]++;
  c.msrAccesses++;
  // WRMSR serializes, except to the segment bases where the profile says it does not
  if (c.countSerializing && (d.cls !== MsrClass.SegBase || (c.costs !== null && c.costs.profile.wrmsrSegBaseSerializing))) c.serializingCount++;
}

// ---- helpers ----

function gp(): never {
  return raise(Vec.GP, 0);
}

/** bits 63:47 all equal (APM Vol. 2 5.3.1); `hi` holds bits 63:32 */
export function isCanonicalHi(hi: number): boolean {
  return ((hi << 16) >> 16) === hi;
}

/** EDX:EAX as a canonical address (a signed number), or #GP(0) */
export function canonicalOrGp(lo: number, hi: number): number {
  if (!isCanonicalHi(hi)) gp();
  return hi * TWO32 + (lo >>> 0);
}

/** return a signed 64-bit number (exact) as lo, with hi in c.xh */
function split(c: Cpu, v: number): number {
  c.xh = Math.floor(v / TWO32) | 0;
  return v | 0;
}

function lo32(c: Cpu, v: number): number {
  c.xh = 0;
  return v | 0;
}

// ---- TSC ----

/**
 * The TSC: c.cycles (a Number below 2^53) plus the offset, modulo 2^64, computed in 32-bit
 * halves so every bit is exact. Returns bits 31:0; bits 63:32 in c.xh.
 */
export function readTsc(c: Cpu): number {
  const cyc = c.cycles;
  const cl = cyc % TWO32;
  const ch = (cyc - cl) / TWO32;
  const s = cl + (c.tscOffLo >>> 0);
  let hi = (ch + c.tscOffHi + (s >= TWO32 ? 1 : 0)) | 0;
  let lo = s | 0;
  if (c.guestMode) {
    // a guest reads TSC * TSC_RATIO + VMCB.TSC_OFFSET (APM Vol. 2 15.30.3, 15.30.5)
    if (c.svm.tscRatioHi !== 1 || c.svm.tscRatioLo !== 0) {
      lo = scaleTsc(lo, hi, c.svm.tscRatioLo, c.svm.tscRatioHi);
      hi = TSC_HI[0];
    }
    const g = (lo >>> 0) + (c.svm.tscOffLo >>> 0);
    hi = (hi + c.svm.tscOffHi + (g >= TWO32 ? 1 : 0)) | 0;
    lo = g | 0;
  }
  c.xh = hi;
  return lo;
}

/** WRMSR TSC: make the TSC read lo/hi now (the offset absorbs the cycle count). */
export function writeTsc(c: Cpu, lo: number, hi: number): void {
  const cyc = c.cycles;
  const cl = cyc % TWO32;
  const ch = (cyc - cl) / TWO32;
  const d = (lo >>> 0) - cl;
  c.tscOffLo = d | 0;
  c.tscOffHi = (hi - ch - (d < 0 ? 1 : 0)) | 0;
}

// ---- EFER ----

/**
 * WRMSR EFER (APM Vol. 2 3.1.7, 14.6, 15.4): reserved bits raise #GP; LMA is status and keeps
 * its value; LME cannot change while paging is on; SVME cannot be set while VM_CR.SVMDIS = 1.
 */
export function writeEfer(c: Cpu, lo: number, hi: number): void {
  if (hi !== 0 || (lo & ~(EFER_WRITABLE | Efer.LMA | EFER_RAZ)) !== 0) gp();
  const old = c.efer;
  const v = (lo & EFER_WRITABLE) | (old & Efer.LMA);
  if ((c.cr0 & Cr0.PG) !== 0 && ((v ^ old) & Efer.LME) !== 0) gp();
  if ((v & Efer.SVME) !== 0 && (c.vmCr & VmCr.SVMDIS) !== 0) gp();
  c.efer = v;
  // the TLB caches NX decisions made with the old NXE
  if (((v ^ old) & Efer.NXE) !== 0) c.paging.flushAll();
  updateMode(c);
}

// ---- the table ----

function def(index: number, name: string, cls: number, read: (c: Cpu) => number,
  write: (c: Cpu, lo: number, hi: number) => void): void {
  defineMsr(new MsrDef(index, name, cls, read, write));
}

def(Msr.TSC, 'TSC', MsrClass.Tsc, readTsc, writeTsc);

// APIC_BASE: BSP (bit 8) is read-only; bits 7:0, 9 (reserved), 10 (x2APIC: not supported) and
// 63:MAXPHYADDR are reserved.
// The machine moves or removes the APIC's MMIO window after a write (c.onApicBase).
def(Msr.APIC_BASE, 'APIC_BASE', MsrClass.Apic, (c) => split(c, c.apicBase), (c, lo, hi) => {
  if ((lo & 0x6ff) !== 0 || (hi >>> (MAXPHYADDR - 32)) !== 0) gp();
  const old = c.apicBase;
  c.apicBase = (hi >>> 0) * TWO32 + (((lo & ~0x100) | (c.apicBase & 0x100)) >>> 0);
  if (c.onApicBase !== null) c.onApicBase(old);
});

def(Msr.MTRR_CAP, 'MTRRcap', MsrClass.Cache, (c) => lo32(c, MTRR_CAP_VALUE), () => gp());

def(Msr.SYSENTER_CS, 'SYSENTER_CS', MsrClass.Sysenter, (c) => lo32(c, c.sysenterCs),
  (c, lo) => { c.sysenterCs = lo >>> 0; });
def(Msr.SYSENTER_ESP, 'SYSENTER_ESP', MsrClass.Sysenter, (c) => lo32(c, c.sysenterEsp),
  (c, lo) => { c.sysenterEsp = lo >>> 0; });
def(Msr.SYSENTER_EIP, 'SYSENTER_EIP', MsrClass.Sysenter, (c) => lo32(c, c.sysenterEip),
  (c, lo) => { c.sysenterEip = lo >>> 0; });

/** a PAT entry: bits 7:3 reserved, types 2 and 3 reserved (APM Vol. 2 7.8.1) */
function badPatByte(b: number): boolean {
  return (b & 0xf8) !== 0 || b === 2 || b === 3;
}

def(Msr.PAT, 'PAT', MsrClass.Cache, (c) => { c.xh = c.patHi; return c.patLo; }, (c, lo, hi) => {
  for (let k = 0; k < 32; k += 8) {
    if (badPatByte((lo >>> k) & 0xff) || badPatByte((hi >>> k) & 0xff)) gp();
  }
  c.patLo = lo;
  c.patHi = hi;
});

// MTRRdefType: type in 7:0 (UC, WC, WT, WP, WB), FE bit 10, E bit 11; the rest reserved
def(Msr.MTRR_DEF_TYPE, 'MTRRdefType', MsrClass.Cache, (c) => lo32(c, c.mtrrDefType), (c, lo, hi) => {
  const t = lo & 0xff;
  if (hi !== 0 || (lo & ~0xcff) !== 0 || t === 2 || t === 3 || t > 6) gp();
  c.mtrrDefType = lo;
});

def(Msr.EFER, 'EFER', MsrClass.Efer, (c) => lo32(c, c.efer), writeEfer);

def(Msr.STAR, 'STAR', MsrClass.Syscall, (c) => { c.xh = c.starHi; return c.starLo; },
  (c, lo, hi) => { c.starLo = lo; c.starHi = hi; });
def(Msr.LSTAR, 'LSTAR', MsrClass.Syscall, (c) => split(c, c.lstar),
  (c, lo, hi) => { c.lstar = canonicalOrGp(lo, hi); });
def(Msr.CSTAR, 'CSTAR', MsrClass.Syscall, (c) => split(c, c.cstar),
  (c, lo, hi) => { c.cstar = canonicalOrGp(lo, hi); });
// SFMASK bits 63:32 are RAZ (APM Vol. 2 6.1.1)
def(Msr.SFMASK, 'SFMASK', MsrClass.Syscall, (c) => lo32(c, c.sfmask),
  (c, lo) => { c.sfmask = lo; });

def(Msr.FS_BASE, 'FS_BASE', MsrClass.SegBase, (c) => split(c, c.segBase[S.FS]),
  (c, lo, hi) => { c.segBase[S.FS] = canonicalOrGp(lo, hi); });
def(Msr.GS_BASE, 'GS_BASE', MsrClass.SegBase, (c) => split(c, c.segBase[S.GS]),
  (c, lo, hi) => { c.segBase[S.GS] = canonicalOrGp(lo, hi); });
def(Msr.KERNEL_GS_BASE, 'KERNEL_GS_BASE', MsrClass.SegBase, (c) => split(c, c.kernelGsBase),
  (c, lo, hi) => { c.kernelGsBase = canonicalOrGp(lo, hi); });

// TSC_AUX: 32 bits, 63:32 reserved
def(Msr.TSC_AUX, 'TSC_AUX', MsrClass.TscAux, (c) => lo32(c, c.tscAux), (c, lo, hi) => {
  if (hi !== 0) gp();
  c.tscAux = lo >>> 0;
});

/**
 * VM_CR (APM Vol. 2 15.30.1): bits 63:5 MBZ. With LOCK set, writes to LOCK and SVMDIS are
 * ignored. Setting SVMDIS while EFER.SVME = 1 raises #GP whatever LOCK says.
 */
def(Msr.VM_CR, 'VM_CR', MsrClass.Svm, (c) => lo32(c, c.vmCr), (c, lo, hi) => {
  if (hi !== 0 || (lo & ~0x1f) !== 0) gp();
  if ((lo & VmCr.SVMDIS) !== 0 && (c.efer & Efer.SVME) !== 0) gp();
  const fixed = VmCr.LOCK | VmCr.SVMDIS;
  c.vmCr = (c.vmCr & VmCr.LOCK) !== 0 ? (lo & ~fixed) | (c.vmCr & fixed) : lo;
});

/** VM_HSAVE_PA (APM Vol. 2 15.30.4): 4 KiB aligned, below 2^MAXPHYADDR */
def(Msr.VM_HSAVE_PA, 'VM_HSAVE_PA', MsrClass.Svm, (c) => split(c, c.vmHsavePa), (c, lo, hi) => {
  if ((lo & 0xfff) !== 0 || (hi >>> (MAXPHYADDR - 32)) !== 0) gp();
  c.vmHsavePa = (hi >>> 0) * TWO32 + (lo >>> 0);
});
