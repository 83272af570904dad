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
import { dataAccess, dataBpOnPage } from './debug.js';
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

/** a copy of the TLB (Paging.saveTlb) */
export interface TlbState { tag: Float64Array; frame: Float64Array; perm: Uint8Array; tasid: Uint32Array; haveLarge: boolean }

export class Paging {
  private readonly c: Cpu;
  private readonly tag = new Float64Array(TLB_SIZE).fill(NaN);
  private readonly frame = new Float64Array(TLB_SIZE);
  private readonly perm = new Uint8Array(TLB_SIZE);
  /** ASID each entry belongs to (0: host) */
  private readonly tasid = new Uint32Array(TLB_SIZE);
  /** ASID of the code running now: the guest's while in guest mode, else 0 */
  asid = 0;
  /** a large page has been cached: INVLPG then flushes everything (allowed: APM Vol. 2 5.5.3) */
  private haveLarge = false;
  /** walks done (for statistics) */
  walks = 0;
  /**
   * Bumped whenever an entry may be filled or dropped (a walk, a flush, INVLPG): compiled
   * blocks keep the memory pages they use across a handler call only while this stays the
   * same (jit/ctx.ts INVALIDATE)
   */
  gen = 0;

  constructor(c: Cpu) {
    this.c = c;
  }

  flushAll(): void {
    this.gen++;
    this.tag.fill(NaN);
    this.haveLarge = false;
  }

  /** the TLB's entries, for a snapshot (lab/snapshot.ts) */
  saveTlb(): TlbState {
    return { tag: this.tag.slice(), frame: this.frame.slice(), perm: this.perm.slice(), tasid: this.tasid.slice(), haveLarge: this.haveLarge };
  }

  /**
   * Put back the entries `saveTlb` gave: a run from a restored snapshot then translates with
   * the TLB the original run had at that point (a flush instead would be allowed too, APM Vol. 2
   * 5.5, but a guest that relies on a stale entry would then run otherwise than it did).
   */
  loadTlb(t: TlbState): void {
    this.tag.set(t.tag);
    this.frame.set(t.frame);
    this.perm.set(t.perm);
    this.tasid.set(t.tasid);
    this.haveLarge = t.haveLarge;
    this.gen++;
  }

  /** CR3 write or task switch: drop non-global entries (all when CR4.PGE = 0) */
  flushNonGlobal(): void {
    this.flushAsid(this.asid, (this.c.cr4 & 0x80) !== 0);
  }

  /** drop the entries of one ASID (only its non-global ones if `keepGlobal`) */
  flushAsid(asid: number, keepGlobal: boolean): void {
    this.gen++;
    for (let k = 0; k < TLB_SIZE; k++) {
      if (this.tasid[k] === asid && (!keepGlobal || (this.perm[k] & P.G) === 0)) this.tag[k] = NaN;
    }
  }

  invlpg(lin: number): void {
    this.invlpgAsid(lin, this.asid);
  }

  /** INVLPG of one page in one ASID (INVLPGA names the ASID: APM Vol. 3 INVLPGA) */
  invlpgAsid(lin: number, asid: number): void {
    this.gen++;
    if (this.haveLarge) { this.flushAsid(asid, false); return; }
    const page = Math.floor(lin / 4096);
    const k = page & TLB_MASK;
    if (this.tag[k] === page && this.tasid[k] === asid) this.tag[k] = NaN;
  }

  /** the TLB's physical address for `lin` in the current ASID, or -1 (never walks, never faults) */
  cached(lin: number): number {
    const page = Math.floor(lin / 4096);
    const k = page & TLB_MASK;
    if (this.tag[k] === page && this.tasid[k] === this.asid) return this.frame[k] * 4096 + (lin & 0xfff);
    return -1;
  }

  /**
   * `n`: bytes accessed, for data breakpoints (debug.ts). While one is enabled the pages of
   * breakpoint ranges are never cached, so a TLB hit needs no check.
   */
  translate(lin: number, acc: number, user: boolean, n?: number): number {
    const page = Math.floor(lin / 4096);
    const k = page & TLB_MASK;
    if (this.tag[k] === page && this.tasid[k] === this.asid) {
      const p = this.perm[k];
      if (this.allowed(p, acc, user) && (acc !== Acc.Write || (p & P.D) !== 0)) {
        return this.frame[k] * 4096 + (lin & 0xfff);
      }
    }
    if (this.c.dbgData !== 0) dataAccess(this.c, lin, n ?? 1, acc);
    return this.walk(lin, acc, user);
  }

  /**
   * The TLB's answer for this access if it has one that allows it, with no side effect: the
   * physical address, or -1 (then `translate` decides). The block compiler's fast path; the
   * same hit `translate` would take (a hit needs no data-breakpoint check, see there).
   */
  probe(lin: number, acc: number, user: boolean): number {
    const page = Math.floor(lin / 4096);
    const k = page & TLB_MASK;
    if (this.tag[k] === page && this.tasid[k] === this.asid) {
      const p = this.perm[k];
      if (this.allowed(p, acc, user) && (acc !== Acc.Write || (p & P.D) !== 0)) return this.frame[k] * 4096 + (lin & 0xfff);
    }
    return -1;
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
    this.gen++;
    this.nestedWalk = c.guestMode && c.svm.np;
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
    // a guest without paging under nested paging: the linear address is the guest-physical one
    const unpaged = (c.cr0 & Cr0.PG) === 0;
    if (unpaged) {
      frame = Math.floor(lin / 4096) % 0x100000;
      leafLo = 0x60;
    } else if (!pae) {
      // legacy 32-bit paging: 10 + 10 + 12
      const pdeAddr = (c.cr3 % TWO32 & 0xfffff000) >>> 0;
      const pdeA = pdeAddr + ((lo >>> 22) << 2);
      const pde = this.rd(pdeA);
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
        const pte = this.rd(pteA);
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
        const e = this.rd(pdpeA);
        const eh = this.rd(pdpeA + 4);
        if ((e & 1) === 0) raisePf(lin, errBase);
        // PDPE reserved bits in legacy PAE: 2:1, 8:5, 63:MAXPHYADDR
        if ((e & 0x1e6) !== 0 || (eh >>> (MAXPHYADDR - 32)) !== 0) raisePf(lin, errBase | PfErr.P | PfErr.RSV);
        tableAddr = (eh & 0xfffff) * TWO32 + ((e & 0xfffff000) >>> 0);
        level = 2;
      }
      for (;;) {
        const shift = 12 + 9 * (level - 1);
        const idx = level === 4 ? Math.floor(lin / 2 ** 39) & 511 : level === 3 ? Math.floor(lin / 2 ** 30) & 511 : (lo >>> shift) & 511;
        const ea = tableAddr + idx * 8;
        const e = this.rd(ea);
        const eh = this.rd(ea + 4);
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
    if (!unpaged) {
      if (acc === Acc.Write && !dirty) { this.wr(leafAddr, leafLo | 0x60); dirty = true; }
      else if ((leafLo & 0x20) === 0) this.wr(leafAddr, leafLo | 0x20);
    }
    if (dirty) p |= P.D;
    if (this.nestedWalk) {
      // the guest-physical result goes through the nested tables too
      const gpa = frame * 4096 + (lin & 0xfff);
      const hpa = this.nested(gpa, acc, false);
      frame = Math.floor(hpa / 4096);
      // the nested check was for this access only: a later write (D clear) or fetch (NX set)
      // through this entry walks again so the nested tables are consulted for it
      if (acc !== Acc.Write) p &= ~P.D;
      if (acc !== Acc.Exec) p |= P.NX;
    }
    const page = Math.floor(lin / 4096);
    if (c.dbgData !== 0 && dataBpOnPage(c, page)) return frame * 4096 + (lin & 0xfff);
    const k = page & TLB_MASK;
    this.tag[k] = page;
    this.tasid[k] = this.asid;
    this.frame[k] = frame;
    this.perm[k] = p;
    if (large) this.haveLarge = true;
    return frame * 4096 + (lin & 0xfff);
  }

  private setAccessed(addr: number, e: number): void {
    if ((e & 0x20) === 0) this.wr(addr, e | 0x20);
  }

  // ---- guest tables under nested paging (APM Vol. 2 15.25) ----

  /** the walk in progress is a guest's under nested paging: table addresses are GPAs */
  private nestedWalk = false;

  /** read a 32-bit table word at a (guest-)physical address */
  // the guest's table accesses are checked against the nested tables as writes, since the walk
  // may set A/D bits in them (APM Vol. 2 15.25.5; #NPF EXITINFO1 then has RW and bit 33)
  private rd(pa: number): number {
    return this.c.mem.read32(this.nestedWalk ? this.nested(pa, Acc.Write, true) : pa);
  }

  private wr(pa: number, v: number): void {
    this.c.mem.write32(this.nestedWalk ? this.nested(pa, Acc.Write, true) : pa, v);
  }

  /**
   * Translate a guest-physical address through the nested tables at N_CR3 (4-level, host
   * format). Every guest access counts as a user access (APM 15.25.5). Bits 8:7 of a PML4E are
   * reserved (MBZ; APM Vol. 2 5.3.3, Figure 5-18). On a fault the SVM layer
   * takes #VMEXIT(NPF) with EXITINFO1 = error code (bit 32: the final translation; bit 33: a
   * guest table walk) and EXITINFO2 = the GPA.
   */
  nested(gpa: number, acc: number, guestWalk: boolean): number {
    const c = this.c;
    const mem = c.mem;
    const nxe = (c.svm.hostEfer & Efer.NXE) !== 0;
    // I/D only for fetches with the host's EFER.NXE or CR4.SMEP set (APM Vol. 2 8.4.2)
    const id = acc === Acc.Exec && (nxe || (c.svm.hostCr4 & 0x100000) !== 0);
    const err = PfErr.U | (acc === Acc.Write ? PfErr.W : 0) | (id ? PfErr.ID : 0);
    const errHi = guestWalk ? 2 : 1;
    let table = c.svm.nCr3 - (c.svm.nCr3 % 4096);
    let w = true;
    let u = true;
    let nx = false;
    for (let level = 4; ; level--) {
      const idx = Math.floor(gpa / 2 ** (12 + 9 * (level - 1))) & 511;
      const ea = table + idx * 8;
      const e = mem.read32(ea);
      const eh = mem.read32(ea + 4);
      if ((e & 1) === 0) return c.npfHook(gpa, err, errHi);
      const ps = (e & 0x80) !== 0 && level > 1;
      let rsv = (eh & RSV_HI_PHYS) !== 0 || (!nxe && eh < 0) || (level === 4 && (e & 0x180) !== 0);
      if (ps && level === 3 && (e & 0x3fffe000) !== 0) rsv = true;
      if (ps && level === 2 && (e & 0x1fe000) !== 0) rsv = true;
      if (rsv) return c.npfHook(gpa, err | PfErr.P | PfErr.RSV, errHi);
      w = w && (e & 2) !== 0;
      u = u && (e & 4) !== 0;
      if (nxe && eh < 0) nx = true;
      const next = (eh & 0xfffff) * TWO32 + ((e & 0xfffff000) >>> 0);
      if (level === 1 || ps) {
        // Every guest access is a user access (APM 15.25.5), so U=0 faults them all, except with
        // GMET ("Guest Mode Execute Trap", APM Vol. 2 15.25): then U/S only marks what guest
        // supervisor code may not execute: a fetch at CPL < 3 from a page with U=1 faults, and
        // U=0 pages take every access (KVM sets GMET with all-U=0 nested tables "with effectively
        // no impact", commit fe080f58dec2; its NPT walker ignores U on data accesses under GMET).
        const gmet = c.svm.gmet;
        if ((!u && !gmet) || (acc === Acc.Write && !w) || (acc === Acc.Exec && nx)) return c.npfHook(gpa, err | PfErr.P, errHi);
        if (gmet && u && acc === Acc.Exec && !guestWalk && c.cpl < 3) return c.npfHook(gpa, err | PfErr.P, errHi);
        const dirty = (e & 0x40) !== 0;
        if (acc === Acc.Write && !dirty) mem.write32(ea, e | 0x60);
        else if ((e & 0x20) === 0) mem.write32(ea, e | 0x20);
        const size = 2 ** (12 + 9 * (level - 1));
        return next - (next % size) + (gpa % size);
      }
      if ((e & 0x20) === 0) mem.write32(ea, e | 0x20);
      table = next;
    }
  }
}
