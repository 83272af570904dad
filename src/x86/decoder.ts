/**
 * The x86 decoder for 16-, 32- and 64-bit code, built from the instruction table.
 *
 * Prefix rules follow AMD64 APM Vol. 3, chapter 1: legacy prefixes in any order and number (the
 * last segment override wins; in 64-bit mode CS/DS/ES/SS overrides are ignored), REX only when
 * it immediately precedes the opcode, and an instruction longer than 15 bytes raises #GP(0).
 */

import { F, INSNS, type InsnSpec } from './table.js';
import { BASE_RIP, Insn, Pfx, type Exec } from './insn.js';

/** Decoder result when the bytes given ran out before the instruction ended. */
export const NEED_MORE = -1;

interface OpInfo {
  /** operand size is one byte */
  byteOp: boolean;
  /** ModRM present */
  modrm: boolean;
  /** immediate kinds in order */
  imms: string[];
  /** ModRM.reg names a control (1) or debug (2) register: r/m is a register whatever the mod */
  ctl: number;
  /** ModRM.reg names a segment register: 1 as source, 2 as destination */
  sreg: number;
  /** the plain NOP row of opcode 90, which REX.B turns into XCHG r8, rAX */
  nop90: boolean;
}

/** Operands that are fixed registers or constants (no ModRM, no immediate). */
export const FIXED_OPERANDS = new Set(['AL', 'CL', 'DX', 'rAX', 'eAX', '1', 'ES', 'CS', 'SS', 'DS', 'FS', 'GS']);

function analyse(s: InsnSpec): OpInfo {
  let byteOp = false;
  let modrm = s.ext >= 0 || s.modrm >= 0;
  const imms: string[] = [];
  let sized = false;
  let ctl = 0;
  let sreg = 0;
  s.ops.forEach((o, n) => {
    if (FIXED_OPERANDS.has(o)) {
      // the first sized operand decides the operand size: AL is a byte, rAX/eAX are not
      if (!sized && (o === 'AL' || o === 'rAX' || o === 'eAX')) { sized = true; byteOp = o === 'AL'; }
      return;
    }
    const k = o[0];
    if ('IJAO'.includes(k)) imms.push(o);
    if ('EGMRSCDVWUPQN'.includes(k)) modrm = true;
    if (k === 'C') ctl = 1;
    if (k === 'D') ctl = 2;
    if (k === 'S') sreg = n === 0 ? 2 : 1;
    if (!sized && 'EGZOXYRM'.includes(k)) { sized = true; byteOp = o[1] === 'b'; }
  });
  const nop90 = s.map === 0 && s.opcode === 0x90 && s.prefix === 0 && s.exec === 'nop';
  return { byteOp, modrm, imms, ctl, sreg, nop90 };
}

const INFO: OpInfo[] = INSNS.map(analyse);

/** Rows per (map, opcode), most specific first. */
const SLOTS: number[][] = [];
const SLOT_MODRM = new Uint8Array(1024);
for (let k = 0; k < 1024; k++) SLOTS.push([]);
INSNS.forEach((s, idx) => {
  const k = s.map * 256 + s.opcode;
  SLOTS[k].push(idx);
  if (INFO[idx].modrm) SLOT_MODRM[k] = 1;
});
for (const rows of SLOTS) {
  const rank = (i: number) => {
    const s = INSNS[i];
    return (s.prefix ? 0 : 4) + (s.modrm >= 0 ? 0 : s.ext >= 0 ? 1 : 2);
  };
  rows.sort((a, b) => rank(a) - rank(b));
}

// 16-bit addressing forms: base and index register per ModRM.rm (AMD64 APM Vol. 3 1.5)
const RM16_BASE = [3, 3, 5, 5, 6, 7, 5, 3];
const RM16_INDEX = [6, 7, 6, 7, -1, -1, -1, -1];

export class Decoder {
  private readonly handlers: Exec[];
  private readonly ud: Exec;

  /** `handlers[row]` executes table row `row`; `ud` raises #UD. */
  constructor(handlers: Exec[], ud: Exec) {
    this.handlers = handlers;
    this.ud = ud;
  }

  /**
   * Decode one instruction from `buf[off .. off+avail)`. Returns the length, NEED_MORE if more
   * bytes are needed, or the length consumed so far for an invalid encoding (then `i.fault` is
   * set and `i.exec` raises it).
   */
  decode(i: Insn, buf: Uint8Array, off: number, avail: number, bits: number): number {
    i.bits = bits;
    i.row = -1;
    i.fault = 0;
    i.claimed = true;
    i.pfx = 0;
    i.rex = 0;
    i.modrm = -1;
    i.rm = -1;
    i.rm8 = -1;
    i.reg = 0;
    i.reg8 = 0;
    i.base = -1;
    i.index = -1;
    i.scale = 0;
    i.disp = 0;
    i.imm = 0;
    i.immHi = 0;
    i.imm2 = 0;
    i.arg = 0;
    i.flags = 0;
    i.exec = this.ud;
    let p = 0;
    let seg = -1;
    let lastRep = 0;
    let rex = 0;
    const b64 = bits === 64;
    let b = 0;
    // prefixes
    for (;;) {
      if (p >= avail) return NEED_MORE;
      if (p >= 15) return this.fail(i, 15, 13);
      b = buf[off + p];
      if (b64 && (b & 0xf0) === 0x40) { rex = b; p++; continue; }
      let isPfx = true;
      switch (b) {
        case 0xf0: i.pfx |= Pfx.Lock; break;
        // of F2 and F3 the last one counts, as REP prefix and as mandatory prefix
        case 0xf2: i.pfx = (i.pfx & ~Pfx.Rep) | Pfx.Repne; lastRep = 0xf2; break;
        case 0xf3: i.pfx = (i.pfx & ~Pfx.Repne) | Pfx.Rep; lastRep = 0xf3; break;
        case 0x66: i.pfx |= Pfx.OpSize; break;
        case 0x67: i.pfx |= Pfx.AddrSize; break;
        // in 64-bit mode these four are ignored: they do not replace an earlier FS or GS
        case 0x26: if (!b64) seg = 0; break;
        case 0x2e: if (!b64) seg = 1; break;
        case 0x36: if (!b64) seg = 2; break;
        case 0x3e: if (!b64) seg = 3; break;
        case 0x64: seg = 4; break;
        case 0x65: seg = 5; break;
        default: isPfx = false;
      }
      if (!isPfx) break;
      rex = 0; // a legacy prefix after REX cancels it
      p++;
    }
    if (rex) i.pfx |= Pfx.Rex;
    i.rex = rex;
    let map = 0;
    if (b === 0x0f) {
      map = 1;
      p++;
      if (p >= avail) return NEED_MORE;
      if (p >= 15) return this.fail(i, 15, 13);
      b = buf[off + p];
      if (b === 0x38 || b === 0x3a) {
        // the three-byte maps 0F 38 and 0F 3A (SSSE3 and later)
        map = b === 0x38 ? 2 : 3;
        p++;
        if (p >= avail) return NEED_MORE;
        if (p >= 15) return this.fail(i, 15, 13);
        b = buf[off + p];
      } else if (b === 0x0f) return this.unclaimed(i, p + 1);
    } else if (b === 0xc4 || b === 0xc5 || b === 0x62 || b === 0x8f) {
      // VEX (C4/C5), EVEX (62) and XOP (8F) escapes take these opcodes in 64-bit mode, and
      // outside it when the next byte has mod = 3 (XOP: when its map field is 8 or more).
      if (p + 1 >= avail) return NEED_MORE;
      const nb = buf[off + p + 1];
      const esc = b === 0x8f ? (nb & 0x1f) >= 8 : b64 || (nb & 0xc0) === 0xc0;
      if (esc) return this.unclaimed(i, p + 1);
    }
    p++;
    const slot = map * 256 + b;
    const rows = SLOTS[slot];
    if (rows.length === 0) return this.unclaimed(i, p);

    const opsz66 = (i.pfx & Pfx.OpSize) !== 0;
    // the mandatory prefix: the last F2/F3, else 66
    const mand = lastRep !== 0 ? lastRep : opsz66 ? 0x66 : 0;
    const adsz = bits === 64 ? ((i.pfx & Pfx.AddrSize) ? 4 : 8)
      : bits === 32 ? ((i.pfx & Pfx.AddrSize) ? 2 : 4)
        : ((i.pfx & Pfx.AddrSize) ? 4 : 2);
    i.adsize = adsz;

    let modrm = -1;
    if (SLOT_MODRM[slot]) {
      if (p >= avail) return NEED_MORE;
      if (p >= 15) return this.fail(i, 15, 13);
      modrm = buf[off + p];
      p++;
    }
    i.modrm = modrm;
    const mod = modrm >> 6;
    const regf = (modrm >> 3) & 7;

    // choose the row
    let row = -1;
    let invalid = false;
    for (let k = 0; k < rows.length; k++) {
      const s = INSNS[rows[k]];
      if (s.prefix) {
        if (s.prefix !== mand) continue;
      } else if (s.flags & F.Np && mand !== 0) continue;
      if (s.modrm >= 0 && s.modrm !== modrm) continue;
      if (s.ext >= 0 && s.ext !== regf) continue;
      // 90 is NOP unless REX.B makes it XCHG r8, rAX (APM Vol. 3, XCHG); F3 90 stays PAUSE
      if (rex & 1 && INFO[rows[k]].nop90) continue;
      if (s.flags & F.I64 && b64) { invalid = true; continue; }
      if (s.flags & F.O64 && !b64) { invalid = true; continue; }
      if ((s.flags & F.Mem && mod === 3) || (s.flags & F.Reg && mod !== 3)) {
        if (!(s.flags & F.XMod)) invalid = true;
        continue;
      }
      row = rows[k];
      break;
    }
    if (row >= 0 && INSNS[row].flags & F.Other) { row = -1; invalid = false; }
    if (row < 0) {
      if (!invalid) i.claimed = false;
      return this.finishInvalid(i, buf, off, p, avail, modrm, adsz);
    }
    const s = INSNS[row];
    const info = INFO[row];
    i.row = row;
    i.arg = s.arg;
    i.flags = s.flags;

    // operand size
    let osz: number;
    if (info.byteOp) osz = 1;
    else if (b64) {
      // REX.W overrides 66; on the `nw` rows AMD gives it 32 bits (m16:32), not 64
      if (rex & 8) osz = s.flags & F.NoW ? 4 : 8;
      else if (s.flags & F.F64) osz = 8;
      else if (s.flags & F.D64) osz = opsz66 ? 2 : 8;
      else osz = opsz66 ? 2 : 4;
    } else if (s.flags & F.F64) osz = 4;
    else osz = (bits === 32) !== opsz66 ? 4 : 2;
    i.opsize = osz;

    // registers
    const rexR = (rex & 4) << 1;
    const rexB = (rex & 1) << 3;
    if (modrm >= 0) {
      i.reg = regf | rexR;
      i.reg8 = rex || regf < 4 ? i.reg : 16 + regf - 4;
    } else {
      i.reg = (b & 7) | rexB;
      i.reg8 = rex || (b & 7) < 4 ? i.reg : 16 + (b & 7) - 4;
    }

    // memory operand; MOV to/from CRn/DRn ignores ModRM.mod (APM Vol. 3, MOV CRn / MOV DRn:
    // always register to register)
    if (modrm >= 0) {
      if (mod === 3 || info.ctl) {
        i.rm = (modrm & 7) | rexB;
        i.rm8 = rex || (modrm & 7) < 4 ? i.rm : 16 + (modrm & 7) - 4;
      } else {
        const q = this.decodeMem(i, buf, off, p, avail, modrm, adsz, rex);
        if (q < 0) return q;
        p = q;
      }
    }
    i.seg = seg < 0 ? this.defaultSeg(i) : seg;
    if (seg >= 0) i.pfx |= Pfx.Seg;

    // immediates
    const imms = info.imms;
    for (let k = 0; k < imms.length; k++) {
      const o = imms[k];
      let n: number;
      let signed = true;
      switch (o) {
        case 'Ib': case 'Ibs': case 'Jb': n = 1; break;
        case 'Iw': n = 2; signed = false; break;
        case 'Iz': case 'Jz': n = osz === 2 ? 2 : 4; break;
        case 'Iv': n = osz; break;
        case 'Ob': case 'Ov': n = adsz; signed = false; break;
        case 'Ap': n = osz === 2 ? 4 : 6; signed = false; break;
        default: throw new Error(`decoder: immediate kind ${o}`);
      }
      if (p + n > avail) return p + n > 15 ? this.fail(i, 15, 13) : NEED_MORE;
      if (p + n > 15) return this.fail(i, 15, 13);
      let lo = 0;
      let hi = 0;
      if (o === 'Ap') {
        const offBytes = n - 2;
        for (let t = offBytes - 1; t >= 0; t--) lo = (lo * 256 + buf[off + p + t]);
        i.imm = lo | 0;
        i.imm2 = buf[off + p + offBytes] | (buf[off + p + offBytes + 1] << 8);
        p += n;
        continue;
      }
      if (n === 8) {
        lo = buf[off + p] | (buf[off + p + 1] << 8) | (buf[off + p + 2] << 16) | (buf[off + p + 3] << 24);
        hi = buf[off + p + 4] | (buf[off + p + 5] << 8) | (buf[off + p + 6] << 16) | (buf[off + p + 7] << 24);
      } else if (n === 4) {
        lo = buf[off + p] | (buf[off + p + 1] << 8) | (buf[off + p + 2] << 16) | (buf[off + p + 3] << 24);
        hi = signed ? lo >> 31 : 0;
      } else if (n === 2) {
        lo = buf[off + p] | (buf[off + p + 1] << 8);
        if (signed) lo = (lo << 16) >> 16;
        hi = lo >> 31;
      } else {
        lo = buf[off + p];
        if (signed) lo = (lo << 24) >> 24;
        hi = lo >> 31;
      }
      if (k === 0) { i.imm = lo; i.immHi = hi; } else { i.imm2 = lo; }
      p += n;
    }

    // LOCK is legal only on the listed read-modify-write forms with a memory destination
    // (APM Vol. 3 1.2.5); LOCK MOV CR0 means CR8 on AMD (CR8 legacy).
    // A LOCK that also meets REX.R is #UD (as iced decodes it; the APM does not define the mix).
    if (i.pfx & Pfx.Lock) {
      if (s.flags & F.LockCr8 && !(rex & 4)) {
        i.reg |= 8;
      } else if (!(s.flags & F.Lock) || i.rm >= 0 || modrm < 0) {
        return this.fail(i, p, 6);
      }
    }
    // Registers that do not exist: CR1, CR5-7, CR9-15, DR8-15 (APM Vol. 3, MOV CRn/DRn); segment
    // registers 6 and 7, and CS as a MOV destination (APM Vol. 3, MOV).
    if (info.ctl === 1 ? (i.reg > 8 || i.reg === 1 || (i.reg >= 5 && i.reg <= 7))
      : info.ctl === 2 ? i.reg > 7
        : info.sreg !== 0 && ((regf & 7) > 5 || (info.sreg === 2 && regf === 1))) {
      return this.fail(i, p, 6);
    }
    i.len = p;
    i.exec = this.handlers[row];
    return p;
  }

  private defaultSeg(i: Insn): number {
    // SS for rBP/rSP bases (not r12/r13), else DS (APM Vol. 1 2.5.5 / 4.5.4)
    return (i.base === 4 || i.base === 5) ? 2 : 3;
  }

  private decodeMem(i: Insn, buf: Uint8Array, off: number, p: number, avail: number,
    modrm: number, adsz: number, rex: number): number {
    const mod = modrm >> 6;
    const rm = modrm & 7;
    let dispN = 0;
    if (adsz === 2) {
      if (mod === 0 && rm === 6) { dispN = 2; }
      else { i.base = RM16_BASE[rm]; i.index = RM16_INDEX[rm]; }
      if (mod === 1) dispN = 1; else if (mod === 2) dispN = 2;
    } else {
      const rexB = (rex & 1) << 3;
      if (rm === 4) {
        if (p >= avail) return NEED_MORE;
        if (p >= 15) return this.fail(i, 15, 13);
        const sib = buf[off + p++];
        const ss = sib >> 6;
        const idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
        const bs = sib & 7;
        if (idx !== 4) { i.index = idx; i.scale = ss; }
        if (bs === 5 && mod === 0) dispN = 4;
        else i.base = bs | rexB;
      } else if (rm === 5 && mod === 0) {
        dispN = 4;
        if (adsz === 8 || i.bits === 64) i.base = BASE_RIP;
      } else {
        i.base = rm | rexB;
      }
      if (mod === 1) dispN = 1; else if (mod === 2) dispN = 4;
    }
    if (p + dispN > avail) return p + dispN > 15 ? this.fail(i, 15, 13) : NEED_MORE;
    if (p + dispN > 15) return this.fail(i, 15, 13);
    if (dispN === 1) i.disp = (buf[off + p] << 24) >> 24;
    else if (dispN === 2) i.disp = adsz === 2 ? buf[off + p] | (buf[off + p + 1] << 8) : 0;
    else if (dispN === 4) {
      i.disp = buf[off + p] | (buf[off + p + 1] << 8) | (buf[off + p + 2] << 16) | (buf[off + p + 3] << 24);
    }
    if (dispN === 2 && adsz === 2) i.disp = (i.disp << 16) >> 16;
    return p + dispN;
  }

  /** An encoding with no valid row: consume its ModRM operand bytes, then raise #UD. */
  private finishInvalid(i: Insn, buf: Uint8Array, off: number, p: number, avail: number,
    modrm: number, adsz: number): number {
    if (modrm >= 0 && (modrm >> 6) !== 3) {
      const q = this.decodeMem(i, buf, off, p, avail, modrm, adsz, i.rex);
      if (q < 0) return q;
      p = q;
    }
    return this.fail(i, p, 6);
  }

  private unclaimed(i: Insn, p: number): number {
    i.claimed = false;
    return this.fail(i, p, 6);
  }

  private fail(i: Insn, len: number, vector: number): number {
    i.len = len;
    i.fault = vector;
    i.exec = this.ud;
    return len;
  }
}

/** The mnemonic of a decoded instruction as the manual writes it (lower case). */
export function mnemonicOf(i: Insn): string {
  if (i.row < 0) return '(bad)';
  const s = INSNS[i.row];
  const alts = s.mnem.split('/');
  if (alts.length === 1) return alts[0];
  const size = s.flags & F.ByAddr ? i.adsize : i.opsize;
  const k = size === 2 ? 0 : size === 4 ? 1 : 2;
  return alts[Math.min(k, alts.length - 1)];
}
