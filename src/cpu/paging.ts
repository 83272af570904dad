/**
 * Paging (AMD64 APM Vol. 2, chapter 5): legacy 32-bit paging (4 KiB and, with CR4.PSE, 4 MiB
 * pages), PAE paging, and 4-level long-mode paging (4 KiB, 2 MiB and 1 GiB pages), with A and D
 * bits, U/S, R/W with CR0.WP, NX (EFER.NXE), SMEP and SMAP, global pages, and #PF error codes.
 *
 * A direct-mapped software TLB caches 4 KiB translations (a large page fills one entry per
 * 4 KiB page it is used at). Entries remember the combined permissions of the walk and whether
 * the page is already dirty, so a hit needs no memory access.
 */

import type { Cpu } from './cpu.js';
import { raisePf } from './fault.js';
import { Acc } from './mmu.js';
import { Cr0, Efer, Fl, TWO32 } from './state.js';

const TLB_BITS = 11;
const TLB_SIZE = 1 << TLB_BITS;
const TLB_MASK = TLB_SIZE - 1;

/** TLB permission bits */
const enum P {
  W = 1, // writable at the privilege that made the walk's checks (see user/supervisor below)
  U = 2, // user-accessible at every level
  NX = 4, // no-execute at some level
  D = 8, // dirty already set
  G = 16, // global
  WS = 32, // writable for supervisor (W at every level, or CR0.WP = 0)
  WU = 64, // writable for user (W at every level)
}

/** #PF error code bits (APM Vol. 2 8.4.2) */
export const enum PfErr { P = 1, W = 2, U = 4, RSV = 8, ID = 16, PK = 32, SS = 64 }

/** physical-address width reported by CPUID 8000_0008 */
export const MAXPHYADDR = 48;
/** bits 51:MAXPHYADDR of a table entry are reserved (as a mask on the high half) */
const RSV_HI_PHYS = ((1 << (52 - 32)) - 1) & ~((1 << (MAXPHYADDR - 32)) - 1);

export class Paging {
  private readonly c: Cpu;
  private readonly tag = new Float64Array(TLB_SIZE).fill(NaN);
  private readonly frame = new Float64Array(TLB_SIZE);
  private readonly perm = new Uint8Array(TLB_SIZE);
  /** a large page has been cached: INVLPG then flushes everything (allowed: APM Vol. 2 5.5.3) */
  private haveLarge = false;
  /** walks done (for statistics) */
  walks = 0;

  constructor(c: Cpu) {
    this.c = c;
  }

  flushAll(): void {
    this.tag.fill(NaN);
    this.haveLarge = false;
  }

  /** CR3 write or task switch: drop non-global entries (all when CR4.PGE = 0) */
  flushNonGlobal(): void {
    const pge = (this.c.cr4 & 0x80) !== 0;
    if (!pge) { this.flushAll(); return; }
    for (let k = 0; k < TLB_SIZE; k++) if ((this.perm[k] & P.G) === 0) this.tag[k] = NaN;
  }

  invlpg(lin: number): void {
    if (this.haveLarge) { this.flushAll(); return; }
    const page = Math.floor(lin / 4096);
    const k = page & TLB_MASK;
    if (this.tag[k] === page) this.tag[k] = NaN;
  }

  translate(lin: number, acc: number, user: boolean): number {
    const page = Math.floor(lin / 4096);
    const k = page & TLB_MASK;
    if (this.tag[k] === page) {
      const p = this.perm[k];
      if (this.allowed(p, acc, user) && (acc !== Acc.Write || (p & P.D) !== 0)) {
        return this.frame[k] * 4096 + (lin & 0xfff);
      }
    }
    return this.walk(lin, acc, user);
  }

  private allowed(p: number, acc: number, user: boolean): boolean {
    const c = this.c;
    if (user) {
      if ((p & P.U) === 0) return false;
      if (acc === Acc.Write) return (p & P.WU) !== 0;
    } else {
      if (acc === Acc.Write && (p & P.WS) === 0) return false;
      if (p & P.U) {
        // SMEP: no supervisor fetch from user pages; SMAP: no supervisor data access to user
        // pages unless RFLAGS.AC = 1 on an explicit access (APM Vol. 2 5.6.5, 5.6.6)
        if (acc === Acc.Exec) { if (c.cr4 & 0x100000) return false; }
        else if (c.cr4 & 0x200000) {
          if (c.implicitSupervisor || (c.flags & Fl.AC) === 0) return false;
        }
      }
    }
    if (acc === Acc.Exec && (p & P.NX) !== 0) return false;
    return true;
  }

  /** Walk the tables; sets A/D bits, fills the TLB, or raises #PF. */
  private walk(lin: number, acc: number, user: boolean): number {
    const c = this.c;
    this.walks++;
    const mem = c.mem;
    const nxe = (c.efer & Efer.NXE) !== 0;
    const longMode = (c.efer & Efer.LMA) !== 0;
    const pae = (c.cr4 & 0x20) !== 0;
    let errBase = (acc === Acc.Write ? PfErr.W : 0) | (user ? PfErr.U : 0);
    // I/D is reported for fetches when NX or SMEP is enabled (APM Vol. 2 8.4.2)
    if (acc === Acc.Exec && (nxe || (c.cr4 & 0x100000) !== 0)) errBase |= PfErr.ID;
    let wAll = true;
    let uAll = true;
    let nx = false;
    let frame = 0; // physical page number of the final translation
    let large = false;
    let global = false;
    let dirty = false;
    let leafAddr = 0;
    let leafLo = 0;
    const lo = lin >>> 0;
    if (!pae) {
      // legacy 32-bit paging: 10 + 10 + 12
      const pdeAddr = (c.cr3 & 0xfffff000) >>> 0;
      const pdeA = pdeAddr + ((lo >>> 22) << 2);
      const pde = mem.read32(pdeA);
      if ((pde & 1) === 0) raisePf(lin, errBase);
      wAll = (pde & 2) !== 0; uAll = (pde & 4) !== 0;
      if ((pde & 0x80) !== 0 && (c.cr4 & 0x10) !== 0) {
        // 4 MiB page: bits 21:13 hold physical bits 39:32 (PSE-36/40), 21 reserved
        if (pde & 0x200000) raisePf(lin, errBase | PfErr.P | PfErr.RSV);
        const hiBits = (pde >>> 13) & 0xff;
        frame = hiBits * 0x100000 + ((pde >>> 12) & 0xffc00) + ((lo >>> 12) & 0x3ff);
        large = true;
        global = (pde & 0x100) !== 0;
        leafAddr = pdeA; leafLo = pde;
      } else {
        this.setAccessed(pdeA, pde);
        const pteA = ((pde & 0xfffff000) >>> 0) + (((lo >>> 12) & 0x3ff) << 2);
        const pte = mem.read32(pteA);
        if ((pte & 1) === 0) raisePf(lin, errBase);
        wAll = wAll && (pte & 2) !== 0; uAll = uAll && (pte & 4) !== 0;
        frame = pte >>> 12;
        global = (pte & 0x100) !== 0;
        leafAddr = pteA; leafLo = pte;
      }
    } else {
      let tableAddr: number;
      let level: number;
      if (longMode) {
        tableAddr = (c.cr3 - (c.cr3 % 4096)) % (2 ** MAXPHYADDR);
        level = 4;
      } else {
        // legacy PAE: 4 PDPEs at CR3[31:5]; AMD reads them during the walk
        const pdpeA = ((c.cr3 & 0xffffffe0) >>> 0) + ((lo >>> 30) << 3);
        const e = mem.read32(pdpeA);
        const eh = mem.read32(pdpeA + 4);
        if ((e & 1) === 0) raisePf(lin, errBase);
        // PDPE reserved bits in legacy PAE: 2:1, 8:5, 63:MAXPHYADDR
        if ((e & 0x1e6) !== 0 || (eh & RSV_HI_PHYS) !== 0 || (eh & 0x80000000) !== 0) raisePf(lin, errBase | PfErr.P | PfErr.RSV);
        tableAddr = (eh & 0xfffff) * TWO32 + ((e & 0xfffff000) >>> 0);
        level = 2;
      }
      for (;;) {
        const shift = 12 + 9 * (level - 1);
        const idx = level === 4 ? Math.floor(lin / 2 ** 39) & 511 : level === 3 ? Math.floor(lin / 2 ** 30) & 511 : (lo >>> shift) & 511;
        const ea = tableAddr + idx * 8;
        const e = mem.read32(ea);
        const eh = mem.read32(ea + 4);
        if ((e & 1) === 0) raisePf(lin, errBase);
        let rsv = (eh & RSV_HI_PHYS) !== 0 || (!nxe && eh < 0);
        const ps = (e & 0x80) !== 0;
        if (level === 4 && ps) rsv = true; // PML4E.PS is MBZ
        if (ps && level === 3 && (e & 0x3fffe000) !== 0) rsv = true; // 1 GiB page: bits 29:13 MBZ
        if (ps && level === 2 && (e & 0x1fe000) !== 0) rsv = true; // 2 MiB page: bits 20:13 MBZ
        if (rsv) raisePf(lin, errBase | PfErr.P | PfErr.RSV);
        wAll = wAll && (e & 2) !== 0;
        uAll = uAll && (e & 4) !== 0;
        if (nxe && eh < 0) nx = true;
        const next = (eh & 0xfffff) * TWO32 + ((e & 0xfffff000) >>> 0);
        if (level === 1 || ps) {
          if (level === 1) frame = next / 4096;
          else {
            const sizePages = level === 3 ? 0x40000 : 0x200;
            const baseFrame = level === 3 ? (next - (next % 2 ** 30)) / 4096 : (next - (next % 2 ** 21)) / 4096;
            frame = baseFrame + (Math.floor(lin / 4096) & (sizePages - 1));
            large = true;
          }
          global = (e & 0x100) !== 0;
          leafAddr = ea; leafLo = e;
          break;
        }
        this.setAccessed(ea, e);
        tableAddr = next;
        level--;
      }
    }
    // permission check on the combined bits (APM Vol. 2 5.6)
    const wp = (c.cr0 & Cr0.WP) !== 0;
    let p = (uAll ? P.U : 0) | (nx ? P.NX : 0) | (global && (c.cr4 & 0x80) !== 0 ? P.G : 0);
    if (wAll) p |= P.WU;
    if (wAll || !wp) p |= P.WS;
    if (!this.allowed(p, acc, user)) raisePf(lin, errBase | PfErr.P);
    // A and D bits on the final entry
    dirty = (leafLo & 0x40) !== 0;
    if (acc === Acc.Write && !dirty) { mem.write32(leafAddr, leafLo | 0x60); dirty = true; }
    else if ((leafLo & 0x20) === 0) mem.write32(leafAddr, leafLo | 0x20);
    if (dirty) p |= P.D;
    const page = Math.floor(lin / 4096);
    const k = page & TLB_MASK;
    this.tag[k] = page;
    this.frame[k] = frame;
    this.perm[k] = p;
    if (large) this.haveLarge = true;
    return frame * 4096 + (lin & 0xfff);
  }

  private setAccessed(addr: number, e: number): void {
    if ((e & 0x20) === 0) this.c.mem.write32(addr, e | 0x20);
  }
}
