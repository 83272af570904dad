/**
 * Reading and writing VMCB fields in guest physical memory, and moving segment registers and
 * the VMLOAD/VMSAVE set between the CPU and a VMCB. Offsets come only from vmcb.ts.
 */

import type { Cpu } from '../cpu/cpu.js';
import { TWO32 } from '../cpu/state.js';
import { V } from './vmcb.js';

export function rd32(c: Cpu, pa: number): number {
  return c.mem.read32(pa);
}

export function wr32(c: Cpu, pa: number, v: number): void {
  c.mem.write32(pa, v);
}

/** a 64-bit field as an unsigned number (exact below 2^53) */
export function rd64u(c: Cpu, pa: number): number {
  return (c.mem.read32(pa + 4) >>> 0) * TWO32 + (c.mem.read32(pa) >>> 0);
}

/** a 64-bit address field, canonicalized (sign-extended from bit 47: APM Vol. 2 15.5.1) */
export function rd64canon(c: Cpu, pa: number): number {
  const hi = (c.mem.read32(pa + 4) << 16) >> 16;
  return hi * TWO32 + (c.mem.read32(pa) >>> 0);
}

export function wr64(c: Cpu, pa: number, lo: number, hi: number): void {
  c.mem.write32(pa, lo);
  c.mem.write32(pa + 4, hi);
}

/** write a number (signed canonical or unsigned below 2^53) as a 64-bit field */
export function wr64n(c: Cpu, pa: number, v: number): void {
  c.mem.write32(pa, v | 0);
  c.mem.write32(pa + 4, Math.floor(v / TWO32) | 0);
}

/**
 * The 4 KiB page at `pa` (4 KiB-aligned) as words of plain RAM: RAM's Int32Array, with the page
 * marked dirty, when the page is RAM below any MMIO and holds no decoded code; else null (then
 * the callers go through PhysMem's checked accessors, one field at a time). The world switch
 * moves some 60 fields per VMRUN and #VMEXIT; this keeps them to one check per page.
 */
export function ramWords(c: Cpu, pa: number): Int32Array | null {
  const m = c.mem;
  if (pa + 4096 > m.size || pa + 4096 > m.mmioLow || m.codePage[pa >>> 12] !== 0) return null;
  m.dirty[pa >>> 12] = 1;
  return m.i32;
}

/** a number (signed canonical or unsigned below 2^53) to words k, k+1 */
export function putN(w: Int32Array, k: number, v: number): void {
  w[k] = v | 0;
  w[k + 1] = (v >= 0 && v < TWO32) ? 0 : Math.floor(v / TWO32) | 0;
}

/** words k, k+1 as an address sign-extended from bit 47 */
export function getCanon(w: Int32Array, k: number): number {
  const hi = (w[k + 1] << 16) >> 16;
  return hi === 0 ? w[k] >>> 0 : hi * TWO32 + (w[k] >>> 0);
}

/** words k, k+1 as an unsigned number (exact below 2^53) */
export function getU(w: Int32Array, k: number): number {
  const hi = w[k + 1];
  return hi === 0 ? w[k] >>> 0 : (hi >>> 0) * TWO32 + (w[k] >>> 0);
}

/** copies of VMCB pages that are not plain RAM (slot 0: the VMCB, 1: the host save area) */
const SCRATCH = [new Int32Array(1024), new Int32Array(1024)];

/**
 * The 4 KiB page at `pa` as words: RAM's own array (index from pageBase), or a copy in scratch
 * `slot` read through PhysMem's accessors (then pageOut writes it back).
 */
export function pageIn(c: Cpu, pa: number, slot: number): Int32Array {
  const w = ramWords(c, pa);
  if (w !== null) return w;
  const s = SCRATCH[slot];
  for (let j = 0; j < 1024; j++) s[j] = c.mem.read32(pa + 4 * j);
  return s;
}

/** the word index of the page's first word in `w` */
export function pageBase(w: Int32Array, pa: number): number {
  return w === SCRATCH[0] || w === SCRATCH[1] ? 0 : pa >>> 2;
}

/** write a copied page back (the RAM case wrote in place) */
export function pageOut(c: Cpu, pa: number, w: Int32Array): void {
  if (w !== SCRATCH[0] && w !== SCRATCH[1]) return;
  for (let j = 0; j < 1024; j++) {
    if (c.mem.read32(pa + 4 * j) !== w[j]) c.mem.write32(pa + 4 * j, w[j]);
  }
}

/** ES, CS, SS, DS from the VMCB image at word index k */
export function loadSegsW(c: Cpu, w: Int32Array, k: number): void {
  loadSegW(c, 0, w, k + (V.ES >> 2));
  loadSegW(c, 1, w, k + (V.CS >> 2));
  loadSegW(c, 2, w, k + (V.SS >> 2));
  loadSegW(c, 3, w, k + (V.DS >> 2));
}

/** the clean-bit cache (world.ts): the control area up to 0C0h and the state-save area to 6A0h */
export function cacheVmcb(cache: Int32Array, w: Int32Array, k: number): void {
  for (let j = 0; j < (0x0c0 >> 2); j++) cache[j] = w[k + j];
  for (let j = 0x400 >> 2; j < (0x6a0 >> 2); j++) cache[j] = w[k + j];
}

/** segment `seg` to the entry at word index `k` of `w` */
function saveSegW(c: Cpu, seg: number, w: Int32Array, k: number): void {
  const b = c.segBase[seg];
  w[k] = c.segSel[seg] | (c.segAttr[seg] << 16);
  w[k + 1] = c.segLimit[seg];
  w[k + 2] = b | 0;
  w[k + 3] = (b >= 0 && b < TWO32) ? 0 : Math.floor(b / TWO32) | 0;
}

/** the entry at word index `k` of `w` to segment `seg` (base canonicalized) */
function loadSegW(c: Cpu, seg: number, w: Int32Array, k: number): void {
  const x = w[k];
  c.segSel[seg] = x & 0xffff;
  c.segAttr[seg] = (x >>> 16) & 0xfff;
  c.segLimit[seg] = w[k + 1] >>> 0;
  const hi = (w[k + 3] << 16) >> 16;
  c.segBase[seg] = hi === 0 ? w[k + 2] >>> 0 : hi * TWO32 + (w[k + 2] >>> 0);
}

/** segment register `seg` to the 16-byte VMCB entry at `pa` */
export function saveSeg(c: Cpu, seg: number, pa: number): void {
  c.mem.write32(pa, c.segSel[seg] | (c.segAttr[seg] << 16));
  c.mem.write32(pa + 4, c.segLimit[seg]);
  wr64n(c, pa + 8, c.segBase[seg]);
}

/** the 16-byte VMCB entry at `pa` to segment register `seg` (base canonicalized) */
export function loadSeg(c: Cpu, seg: number, pa: number): void {
  const w = c.mem.read32(pa);
  c.segSel[seg] = w & 0xffff;
  c.segAttr[seg] = (w >>> 16) & 0xfff;
  c.segLimit[seg] = c.mem.read32(pa + 4) >>> 0;
  c.segBase[seg] = rd64canon(c, pa + 8);
}

/** VMSAVE: FS, GS, TR, LDTR, KernelGsBase, STAR, LSTAR, CSTAR, SFMASK, SYSENTER_* (APM 15.5.2) */
export function saveVmloadSet(c: Cpu, vmcb: number): void {
  const w = ramWords(c, vmcb);
  if (w !== null) {
    const k = vmcb >>> 2;
    saveSegW(c, 4, w, k + (V.FS >> 2));
    saveSegW(c, 5, w, k + (V.GS >> 2));
    saveSegW(c, 7, w, k + (V.TR >> 2));
    saveSegW(c, 6, w, k + (V.LDTR >> 2));
    putN(w, k + (V.KERNEL_GS_BASE >> 2), c.kernelGsBase);
    w[k + (V.STAR >> 2)] = c.starLo; w[k + (V.STAR >> 2) + 1] = c.starHi;
    putN(w, k + (V.LSTAR >> 2), c.lstar);
    putN(w, k + (V.CSTAR >> 2), c.cstar);
    w[k + (V.SFMASK >> 2)] = c.sfmask; w[k + (V.SFMASK >> 2) + 1] = 0;
    w[k + (V.SYSENTER_CS >> 2)] = c.sysenterCs; w[k + (V.SYSENTER_CS >> 2) + 1] = 0;
    w[k + (V.SYSENTER_ESP >> 2)] = c.sysenterEsp; w[k + (V.SYSENTER_ESP >> 2) + 1] = 0;
    w[k + (V.SYSENTER_EIP >> 2)] = c.sysenterEip; w[k + (V.SYSENTER_EIP >> 2) + 1] = 0;
    return;
  }
  saveSeg(c, 4, vmcb + V.FS);
  saveSeg(c, 5, vmcb + V.GS);
  saveSeg(c, 7, vmcb + V.TR);
  saveSeg(c, 6, vmcb + V.LDTR);
  wr64n(c, vmcb + V.KERNEL_GS_BASE, c.kernelGsBase);
  wr64(c, vmcb + V.STAR, c.starLo, c.starHi);
  wr64n(c, vmcb + V.LSTAR, c.lstar);
  wr64n(c, vmcb + V.CSTAR, c.cstar);
  wr64(c, vmcb + V.SFMASK, c.sfmask, 0);
  wr64(c, vmcb + V.SYSENTER_CS, c.sysenterCs, 0);
  wr64(c, vmcb + V.SYSENTER_ESP, c.sysenterEsp, 0);
  wr64(c, vmcb + V.SYSENTER_EIP, c.sysenterEip, 0);
}

/** VMLOAD: the same set, from the VMCB */
export function loadVmloadSet(c: Cpu, vmcb: number): void {
  const w = ramWords(c, vmcb);
  if (w !== null) {
    const k = vmcb >>> 2;
    loadSegW(c, 4, w, k + (V.FS >> 2));
    loadSegW(c, 5, w, k + (V.GS >> 2));
    loadSegW(c, 7, w, k + (V.TR >> 2));
    loadSegW(c, 6, w, k + (V.LDTR >> 2));
    c.kernelGsBase = getCanon(w, k + (V.KERNEL_GS_BASE >> 2));
    c.starLo = w[k + (V.STAR >> 2)];
    c.starHi = w[k + (V.STAR >> 2) + 1];
    c.lstar = getCanon(w, k + (V.LSTAR >> 2));
    c.cstar = getCanon(w, k + (V.CSTAR >> 2));
    c.sfmask = w[k + (V.SFMASK >> 2)];
    // AMD keeps SYSENTER_CS/ESP/EIP as 32-bit values (see msr.ts)
    c.sysenterCs = w[k + (V.SYSENTER_CS >> 2)] >>> 0;
    c.sysenterEsp = w[k + (V.SYSENTER_ESP >> 2)] >>> 0;
    c.sysenterEip = w[k + (V.SYSENTER_EIP >> 2)] >>> 0;
    return;
  }
  loadSeg(c, 4, vmcb + V.FS);
  loadSeg(c, 5, vmcb + V.GS);
  loadSeg(c, 7, vmcb + V.TR);
  loadSeg(c, 6, vmcb + V.LDTR);
  c.kernelGsBase = rd64canon(c, vmcb + V.KERNEL_GS_BASE);
  c.starLo = rd32(c, vmcb + V.STAR);
  c.starHi = rd32(c, vmcb + V.STAR + 4);
  c.lstar = rd64canon(c, vmcb + V.LSTAR);
  c.cstar = rd64canon(c, vmcb + V.CSTAR);
  c.sfmask = rd32(c, vmcb + V.SFMASK);
  // AMD keeps SYSENTER_CS/ESP/EIP as 32-bit values (see msr.ts)
  c.sysenterCs = rd32(c, vmcb + V.SYSENTER_CS) >>> 0;
  c.sysenterEsp = rd32(c, vmcb + V.SYSENTER_ESP) >>> 0;
  c.sysenterEip = rd32(c, vmcb + V.SYSENTER_EIP) >>> 0;
}

/**
 * The state both VMRUN's host save and #VMEXIT's guest save write: ES, CS, SS, DS, GDTR, IDTR,
 * CR0, CR3, CR4, EFER, RFLAGS, RIP, RSP, RAX.
 */
export function saveRunState(c: Cpu, base: number, rip: number, rflags: number): void {
  const w = ramWords(c, base);
  if (w !== null) {
    const k = base >>> 2;
    saveSegW(c, 0, w, k + (V.ES >> 2));
    saveSegW(c, 1, w, k + (V.CS >> 2));
    saveSegW(c, 2, w, k + (V.SS >> 2));
    saveSegW(c, 3, w, k + (V.DS >> 2));
    w[k + ((V.GDTR + 4) >> 2)] = c.gdtrLimit;
    putN(w, k + ((V.GDTR + 8) >> 2), c.gdtrBase);
    w[k + ((V.IDTR + 4) >> 2)] = c.idtrLimit;
    putN(w, k + ((V.IDTR + 8) >> 2), c.idtrBase);
    w[k + (V.CR0 >> 2)] = c.cr0 | 0; w[k + (V.CR0 >> 2) + 1] = 0;
    putN(w, k + (V.CR3 >> 2), c.cr3);
    w[k + (V.CR4 >> 2)] = c.cr4 | 0; w[k + (V.CR4 >> 2) + 1] = 0;
    w[k + (V.EFER >> 2)] = c.efer; w[k + (V.EFER >> 2) + 1] = 0;
    w[k + (V.RFLAGS >> 2)] = rflags; w[k + (V.RFLAGS >> 2) + 1] = 0;
    putN(w, k + (V.RIP >> 2), rip);
    w[k + (V.RSP >> 2)] = c.rl[4]; w[k + (V.RSP >> 2) + 1] = c.rh[4];
    w[k + (V.RAX >> 2)] = c.rl[0]; w[k + (V.RAX >> 2) + 1] = c.rh[0];
    return;
  }
  saveSeg(c, 0, base + V.ES);
  saveSeg(c, 1, base + V.CS);
  saveSeg(c, 2, base + V.SS);
  saveSeg(c, 3, base + V.DS);
  wr32(c, base + V.GDTR + 4, c.gdtrLimit);
  wr64n(c, base + V.GDTR + 8, c.gdtrBase);
  wr32(c, base + V.IDTR + 4, c.idtrLimit);
  wr64n(c, base + V.IDTR + 8, c.idtrBase);
  wr64(c, base + V.CR0, c.cr0 | 0, 0);
  wr64n(c, base + V.CR3, c.cr3);
  wr64(c, base + V.CR4, c.cr4 | 0, 0);
  wr64(c, base + V.EFER, c.efer, 0);
  wr64(c, base + V.RFLAGS, rflags, 0);
  wr64n(c, base + V.RIP, rip);
  wr64(c, base + V.RSP, c.rl[4], c.rh[4]);
  wr64(c, base + V.RAX, c.rl[0], c.rh[0]);
}

/** ES, CS, SS, DS, GDTR, IDTR from a VMCB (VMRUN's guest load, #VMEXIT's host load) */
export function loadSegsAndTables(c: Cpu, base: number): void {
  const w = ramWords(c, base);
  if (w !== null) {
    const k = base >>> 2;
    loadSegW(c, 0, w, k + (V.ES >> 2));
    loadSegW(c, 1, w, k + (V.CS >> 2));
    loadSegW(c, 2, w, k + (V.SS >> 2));
    loadSegW(c, 3, w, k + (V.DS >> 2));
    c.gdtrLimit = w[k + ((V.GDTR + 4) >> 2)] & 0xffff;
    c.gdtrBase = getCanon(w, k + ((V.GDTR + 8) >> 2));
    c.idtrLimit = w[k + ((V.IDTR + 4) >> 2)] & 0xffff;
    c.idtrBase = getCanon(w, k + ((V.IDTR + 8) >> 2));
    return;
  }
  loadSeg(c, 0, base + V.ES);
  loadSeg(c, 1, base + V.CS);
  loadSeg(c, 2, base + V.SS);
  loadSeg(c, 3, base + V.DS);
  c.gdtrLimit = rd32(c, base + V.GDTR + 4) & 0xffff;
  c.gdtrBase = rd64canon(c, base + V.GDTR + 8);
  c.idtrLimit = rd32(c, base + V.IDTR + 4) & 0xffff;
  c.idtrBase = rd64canon(c, base + V.IDTR + 8);
}
