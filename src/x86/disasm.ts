/**
 * Intel-syntax text for a decoded instruction, built from the table row's operand specs (see
 * table.ts for the notation), for traces and violation reports; not used on the hot path.
 *
 * Style: lower case, `, ` between operands, hexadecimal as 0x.. with 0-9 in decimal, memory
 * operands with a size keyword (`qword ptr [rsi+rcx*8-8]`), a segment only when an override
 * changes it, RIP-relative operands and branch targets as absolute addresses, immediates as
 * unsigned values of their operand size, far pointers as selector:offset.
 */

import { F, INSNS } from './table.js';
import { BASE_RIP, Pfx, type Insn } from './insn.js';
import { FIXED_OPERANDS, mnemonicOf } from './decoder.js';

const R64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi'];
const R32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const R16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const R8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'];
const R8H = ['ah', 'ch', 'dh', 'bh'];
const SEG = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];
const SIZE_NAME: Record<number, string> = {
  1: 'byte', 2: 'word', 4: 'dword', 6: 'fword', 8: 'qword', 10: 'tbyte', 16: 'xmmword',
  14: 'fpuenv14', 28: 'fpuenv28', 94: 'fpustate94', 108: 'fpustate108',
};

const TWO32 = 4294967296;

/** SSE compare predicates 0-7 (APM Vol. 4 CMPPS) */
const CMP_PRED = ['eq', 'lt', 'le', 'unord', 'neq', 'nlt', 'nle', 'ord'];

/** A register by number (0..15; for bytes 16..19 are AH..BH) and size in bytes. */
export function regName(n: number, size: number): string {
  if (size === 1) return n >= 16 ? R8H[n - 16] : n < 8 ? R8[n] : `r${n}b`;
  if (n < 8) return size === 2 ? R16[n] : size === 4 ? R32[n] : R64[n];
  return size === 2 ? `r${n}w` : size === 4 ? `r${n}d` : `r${n}`;
}

/** An unsigned number given as 32-bit halves: 0-9 in decimal, else 0x hex. */
function num(lo: number, hi = 0): string {
  lo >>>= 0;
  hi >>>= 0;
  if (hi === 0) return lo <= 9 ? String(lo) : `0x${lo.toString(16)}`;
  return `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
}

/** `v` (an integer, possibly negative, |v| < 2^53) wrapped to `bytes` bytes, as text. */
function wrapped(v: number, bytes: number): string {
  const hi = Math.floor(v / TWO32);
  const lo = v - hi * TWO32;
  if (bytes === 2) return num(lo & 0xffff);
  if (bytes === 4) return num(lo);
  return num(lo, hi | 0);
}

/** An immediate (lo/hi halves, sign-extended by the decoder) as an unsigned `bytes`-byte value. */
function imm(lo: number, hi: number, bytes: number): string {
  if (bytes === 1) return num(lo & 0xff);
  if (bytes === 2) return num(lo & 0xffff);
  if (bytes === 4) return num(lo);
  return num(lo, hi);
}

/** Size in bytes of a size suffix letter at the instruction's operand size (0: none). */
function sizeOf(c: string, i: Insn): number {
  const o = i.opsize;
  switch (c) {
    case 'b': return 1;
    case 'w': return 2;
    case 'd': return 4;
    case 'q': return 8;
    case 'v': return o;
    case 'z': return o === 2 ? 2 : 4;
    case 'y': return o === 8 ? 8 : 4;
    case 'p': return o + 2;
    case 'a': return o * 2;
    case 's': return 6;
    case 't': return 10; // x87 m80 (tbyte)
    // x87 environment and FNSAVE images: named (as iced does) only at the non-default size
    case 'e': return (i.bits === 16) === (o === 2) ? 0 : o === 2 ? 14 : 28;
    case 'f': return (i.bits === 16) === (o === 2) ? 0 : o === 2 ? 94 : 108;
    case 'x': return 16;
    default: return 0;
  }
}

/** The memory operand of ModRM. */
function memory(i: Insn, size: number, addr: number, showSeg: boolean): string {
  const a = i.adsize;
  let inner: string;
  if (i.base === BASE_RIP) {
    inner = wrapped(addr + i.len + i.disp, a);
  } else if (i.base < 0 && i.index < 0) {
    inner = a === 8 ? num(i.disp, i.disp >> 31) : wrapped(i.disp, a);
  } else {
    inner = '';
    if (i.base >= 0) inner = regName(i.base, a);
    // an index without a base keeps its scale, even *1, to read as an index
    if (i.index >= 0) {
      inner += `${inner ? '+' : ''}${regName(i.index, a)}${i.scale || i.base < 0 ? `*${1 << i.scale}` : ''}`;
    }
    if (i.disp > 0) inner += `+${num(i.disp)}`;
    else if (i.disp < 0) inner += `-${num(-i.disp)}`;
  }
  return sized(size, `${showSeg ? `${SEG[i.seg]}:` : ''}[${inner}]`);
}

function sized(size: number, m: string): string {
  return size ? `${SIZE_NAME[size]} ptr ${m}` : m;
}

/** A string operand: X is (segment):rSI, Y is ES:rDI. */
function stringMem(i: Insn, dst: boolean, size: number, showSeg: boolean): string {
  const reg = regName(dst ? 7 : 6, i.adsize);
  const seg = dst ? 'es' : SEG[i.seg];
  return sized(size, `${showSeg ? `${seg}:` : ''}[${reg}]`);
}

/**
 * The instruction as text. `addr` is the instruction's own address (RIP; in 64-bit mode a
 * signed canonical number), used for branch targets and RIP-relative operands.
 */
export function disasm(i: Insn, addr = 0): string {
  if (i.row < 0 || i.fault !== 0) return '(bad)';
  const s = INSNS[i.row];
  let mn = mnemonicOf(i);
  // CMPPS/CMPSS/CMPPD/CMPSD with predicates 0-7: the pseudo-op names (cmpltps, ...)
  const cmpPseudo = s.exec === 'sseCmp' && (i.imm & 0xff) < 8;
  if (cmpPseudo) mn = `cmp${CMP_PRED[i.imm & 7]}${mn.slice(3)}`;
  const isString = (s.flags & F.Rep) !== 0;
  if (i.pfx & Pfx.Lock && !(s.flags & F.LockCr8)) mn = `lock ${mn}`;
  if (isString && i.pfx & (Pfx.Rep | Pfx.Repne)) {
    const cmp = s.exec === 'cmps' || s.exec === 'scas';
    mn = `${i.pfx & Pfx.Repne ? 'repne' : cmp ? 'repe' : 'rep'} ${mn}`;
  }
  // a segment is shown when an override names another segment than the operand's default
  const override = (i.pfx & Pfx.Seg) !== 0;
  const modrmSeg = override && i.seg !== ((i.base === 4 || i.base === 5) ? 2 : 3);
  const stringSeg = override && i.seg !== 3;
  const out: string[] = [];
  let firstImm = true;
  for (const o of s.ops) {
    if (FIXED_OPERANDS.has(o)) {
      // string instructions name only their memory operands (and DX)
      if (isString && o !== 'DX') continue;
      if (o === 'rAX') out.push(regName(0, i.opsize));
      else if (o === 'eAX') out.push(i.opsize === 2 ? 'ax' : 'eax');
      else out.push(o.toLowerCase());
      continue;
    }
    const k = o[0];
    const sz = sizeOf(o[1] ?? '', i);
    switch (k) {
      case 'E':
        if (i.rm >= 0) out.push(sz === 1 ? regName(i.rm8, 1) : regName(i.rm, sz));
        else out.push(memory(i, o.length > 2 ? sizeOf(o[2], i) : sz, addr, modrmSeg));
        break;
      case 'M': {
        // CMPXCHG16B is the 64-bit operand size form of CMPXCHG8B
        const m = s.exec === 'cmpxchg8b' && i.opsize === 8 ? 16 : sz;
        // LEA computes an offset only: no segment
        const segShown = modrmSeg && s.exec !== 'lea';
        out.push(`${s.exec.endsWith('FarInd') ? 'far ' : ''}${memory(i, m, addr, segShown)}`);
        break;
      }
      case 'R': out.push(regName(i.rm, sz)); break;
      case 'V': out.push(`xmm${i.reg}`); break;
      case 'U': out.push(`xmm${i.rm}`); break;
      case 'P': out.push(`mm${i.reg & 7}`); break;
      case 'N': out.push(`mm${i.rm & 7}`); break;
      case 'Q':
        if (i.rm >= 0) out.push(`mm${i.rm & 7}`);
        else out.push(memory(i, sz, addr, modrmSeg));
        break;
      case 'W':
        if (i.rm >= 0) out.push(`xmm${i.rm}`);
        else out.push(memory(i, sz, addr, modrmSeg));
        break;
      case 'G': case 'Z': out.push(sz === 1 ? regName(i.reg8, 1) : regName(i.reg, sz)); break;
      case 'S': out.push(SEG[i.reg & 7]); break;
      case 'C': out.push(`cr${i.reg}`); break;
      case 'D': out.push(`dr${i.reg}`); break;
      case 'X': out.push(stringMem(i, false, sz, stringSeg)); break;
      case 'Y': out.push(stringMem(i, true, sz, stringSeg)); break;
      case 'O': out.push(sized(sz, `${modrmSeg ? `${SEG[i.seg]}:` : ''}[${i.adsize === 8 ? num(i.imm, i.immHi) : num(i.imm)}]`)); break;
      case 'A': out.push(`far ${num(i.imm2 & 0xffff)}:${num(i.opsize === 2 ? i.imm & 0xffff : i.imm)}`); break;
      case 'J': {
        // the target wraps at the operand size (a 16-bit branch clears RIP[63:16])
        const t = addr + i.len + i.imm;
        out.push(wrapped(t, i.opsize === 2 ? 2 : i.bits === 64 ? 8 : 4));
        break;
      }
      case 'I': {
        if (cmpPseudo) break;
        const v = firstImm ? i.imm : i.imm2;
        const vh = firstImm ? i.immHi : i.imm2 >> 31;
        firstImm = false;
        if (o === 'Ibs') out.push(imm(v, vh, i.opsize));
        else out.push(imm(v, vh, o === 'Iz' ? sizeOf('z', i) === 2 ? 2 : i.opsize : sz));
        break;
      }
      default:
        out.push(o);
    }
  }
  // MASKMOVDQU/MASKMOVQ store to seg:rDI: a segment other than DS is shown as an operand
  if ((s.exec === 'maskmovdqu' || s.exec === 'mMaskmovq') && stringSeg) out.push(SEG[i.seg]);
  return out.length ? `${mn} ${out.join(', ')}` : mn;
}
