/**
 * The debug architecture (AMD64 APM Vol. 2, 13.1 "Software-Debug Resources"): DR0-DR3
 * breakpoints (instruction, data write, data read/write, I/O), DR6 status, DR7 control with
 * general detect, and the #DB exceptions they raise.
 *
 * Costs nothing while DR7 enables no breakpoint:
 *  - instruction breakpoints are checked at instruction boundaries by the run loop's event
 *    check, which runs every instruction only while one is enabled (Cpu.attention);
 *  - data breakpoints are checked on the slow path of linear-to-physical translation: while one
 *    is enabled, the pages holding breakpoint ranges never enter the TLB (paging.ts), the
 *    unpaged path tests one field, and the block fast paths of string instructions step aside;
 *  - I/O breakpoints are tested by the I/O instructions while one is enabled.
 * A hit during an instruction is recorded in Cpu.dbgPending and delivered as a #DB trap at the
 * next boundary (after the access completes: APM 13.1, data breakpoints), unless a MOV SS / POP SS holds it
 * for one more instruction.
 */

import type { Cpu } from './cpu.js';
import { FAULT } from './fault.js';
import { Acc } from './mmu.js';
import { TWO32, Vec } from './state.js';

/** DR6 bits (APM Vol. 2 13.1, DR6, Figure 13-4) */
export const enum Dr6 {
  B0 = 0x1, BD = 0x2000, BS = 0x4000, BT = 0x8000,
  /** bits that read as 1: 11:4 and 31:16; bit 12 reads as 0 */
  ONES = 0xffff0ff0,
  /** bits software can write: B0-B3, BD, BS, BT */
  WRITABLE = 0xe00f,
}

/** DR7 bits (APM Vol. 2 13.1, DR7, Figure 13-5) */
export const enum Dr7 {
  GD = 0x2000,
  /** bit 10 reads as 1; bits 11, 12, 14 and 15 read as 0 */
  ONE = 0x400, ZERO = 0xd800,
}

/** R/W field values */
const enum Rw { Exec = 0, Write = 1, Io = 2, ReadWrite = 3 }

const CR4_DE = 0x8;

/** LEN field to bytes: 00 = 1, 01 = 2, 10 = 8, 11 = 4 (APM Vol. 2 13.1, DR7) */
const LEN_BYTES = [1, 2, 8, 4];

/** Value a MOV to DR6 leaves (APM 13.1, DR6: reserved bits keep their fixed values). */
export function dr6Value(lo: number): number {
  return ((lo & Dr6.WRITABLE) | Dr6.ONES) >>> 0;
}

/** Value a MOV to DR7 leaves. */
export function dr7Value(lo: number): number {
  return ((lo | Dr7.ONE) & ~Dr7.ZERO) >>> 0;
}

/** Load DR7 (MOV DR7, VMRUN, #VMEXIT) and recompute which breakpoints are active. */
export function setDr7(c: Cpu, v: number): void {
  c.dr[7] = v >>> 0;
  debugUpdate(c);
}

/**
 * Recompute the enabled-breakpoint masks after DR0-DR3, DR7 or CR4.DE change. A breakpoint
 * is enabled by its L or G bit (APM 13.1, DR7; worldswitch has no task switches, so L and G
 * act alike). I/O breakpoints (R/W = 10b) exist only with CR4.DE = 1 (APM 13.1, DR7: otherwise
 * the encoding is undefined; worldswitch then ignores the breakpoint).
 */
export function debugUpdate(c: Cpu): void {
  const dr7 = c.dr[7];
  let insn = 0;
  let data = 0;
  let io = 0;
  for (let k = 0; k < 4; k++) {
    if (((dr7 >>> (2 * k)) & 3) === 0) continue;
    const rw = (dr7 >>> (16 + 4 * k)) & 3;
    if (rw === Rw.Exec) insn |= 1 << k;
    else if (rw === Rw.Io) { if ((c.cr4 & CR4_DE) !== 0) io |= 1 << k; }
    else data |= 1 << k;
  }
  const hadData = c.dbgData !== 0;
  c.dbgInsn = insn;
  c.dbgData = data;
  c.dbgIo = io;
  // pages with breakpoints must miss in the TLB from now on (and pages that had one may hit)
  if (hadData || data !== 0) c.paging.flushAll();
  c.attention = true;
}

/** first byte of breakpoint k's range: DRk with the low LEN bits ignored (APM 13.1, data breakpoints) */
function bpBase(c: Cpu, k: number, len: number): number {
  const a = c.bits === 64 ? c.dr[k] : c.dr[k] % TWO32;
  return a - (((a % len) + len) % len);
}

function bpLen(c: Cpu, k: number): number {
  return LEN_BYTES[(c.dr[7] >>> (18 + 4 * k)) & 3];
}

/** a data breakpoint's range touches linear page `page` (the TLB must not cache it) */
export function dataBpOnPage(c: Cpu, page: number): boolean {
  const m = c.dbgData;
  for (let k = 0; k < 4; k++) {
    if (((m >>> k) & 1) === 0) continue;
    if (Math.floor(bpBase(c, k, bpLen(c, k)) / 4096) === page) return true;
  }
  return false;
}

/**
 * A data access of `n` bytes at linear `lin` (acc: Acc.Read or Acc.Write): record the enabled
 * data breakpoints whose range it overlaps. R/W = 01b matches writes only, 11b reads and
 * writes (never fetches). The #DB is a trap, taken after the instruction (APM 13.1, data breakpoints).
 */
export function dataAccess(c: Cpu, lin: number, n: number, acc: number): void {
  // fetches never match; n = 0 is a permission probe, not an access
  if (acc === Acc.Exec || n <= 0) return;
  const m = c.dbgData;
  const dr7 = c.dr[7];
  for (let k = 0; k < 4; k++) {
    if (((m >>> k) & 1) === 0) continue;
    if (((dr7 >>> (16 + 4 * k)) & 3) === Rw.Write && acc !== Acc.Write) continue;
    const len = bpLen(c, k);
    const base = bpBase(c, k, len);
    if (lin < base + len && lin + n > base) {
      c.dbgPending |= 1 << k;
      c.attention = true;
    }
  }
}

/** An I/O access of `size` bytes at `port` (IN, OUT, INS, OUTS): I/O breakpoints, as traps. */
export function ioAccess(c: Cpu, port: number, size: number): void {
  const m = c.dbgIo;
  for (let k = 0; k < 4; k++) {
    if (((m >>> k) & 1) === 0) continue;
    const len = bpLen(c, k);
    const base = (c.dr[k] % 0x10000) - ((c.dr[k] % 0x10000) % len);
    if (port < base + len && port + size > base) {
      c.dbgPending |= 1 << k;
      c.attention = true;
    }
  }
}

/**
 * Instruction breakpoints at the current RIP (called at a boundary while some are enabled and
 * RFLAGS.RF = 0): the DRk equal to the linear address of the instruction's first byte. Returns
 * the DR6 B bits that match.
 */
export function insnMatch(c: Cpu): number {
  const lin = c.ripLinear();
  const m = c.dbgInsn;
  let hit = 0;
  for (let k = 0; k < 4; k++) {
    if (((m >>> k) & 1) === 0) continue;
    const a = c.bits === 64 ? c.dr[k] : c.dr[k] % TWO32;
    if (a === lin) hit |= 1 << k;
  }
  return hit;
}

/**
 * Deliver #DB with `bits` added to DR6 (the processor sets DR6 bits and never clears them:
 * APM 13.1, DR6). Entering the handler clears DR7.GD (APM 13.1, DR7) so that it may use the
 * debug registers. RIP is where the handler returns: the instruction for faults (instruction
 * breakpoint, general detect), the next one for traps.
 */
export function deliverDb(c: Cpu, bits: number): void {
  c.dr[6] = (c.dr[6] | bits) >>> 0;
  c.dr[7] = (c.dr[7] & ~Dr7.GD) >>> 0;
  FAULT.vector = Vec.DB;
  FAULT.errorCode = 0;
  FAULT.hasErrorCode = false;
  FAULT.address = 0;
  c.ripStart = c.rip;
  c.deliverException(c, FAULT);
}
