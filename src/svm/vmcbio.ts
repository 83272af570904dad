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
  loadSeg(c, 0, base + V.ES);
  loadSeg(c, 1, base + V.CS);
  loadSeg(c, 2, base + V.SS);
  loadSeg(c, 3, base + V.DS);
  c.gdtrLimit = rd32(c, base + V.GDTR + 4) & 0xffff;
  c.gdtrBase = rd64canon(c, base + V.GDTR + 8);
  c.idtrLimit = rd32(c, base + V.IDTR + 4) & 0xffff;
  c.idtrBase = rd64canon(c, base + V.IDTR + 8);
}
