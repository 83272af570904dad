/**
 * The comparator: native outcome against emulator outcome for one case, as a list of
 * mismatches that name what differs (outcome, RIP, a register, a flag, memory bytes).
 */

import iced from 'iced-x86';
import { compareFx } from './fx.js';
import { COMPARED_FLAGS, CODE_RIP, FLAG_NAMES, MEMSZ, REG_NAMES, VECTOR_NAMES, type Case, type Outcome } from './layout.js';

const { Decoder: IcedDecoder, DecoderOptions, Formatter, FormatterSyntax } = iced;

const hex64 = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;
const hexb = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

export function vectorName(v: number): string {
  return v < 0 ? 'completed' : VECTOR_NAMES[v] ?? `vector ${v}`;
}

/**
 * Compare one case. `intelHost` applies the case's Intel-host quirk masks (masks.ts,
 * HOST_QUIRKS).
 */
export function compare(cs: Case, n: Outcome, e: Outcome, intelHost = false): string[] {
  const out: string[] = [];
  if (n.other !== '') out.push(`native: ${n.other}`);
  if (e.other !== '') out.push(`emulator: ${e.other}`);
  if (n.vector !== e.vector) out.push(`outcome: native ${vectorName(n.vector)}, emulator ${vectorName(e.vector)}`);
  if (n.rip !== e.rip) out.push(`RIP: native 0x${n.rip.toString(16)}, emulator 0x${e.rip.toString(16)}`);
  // undefined results and flags are only undefined when the instruction completes
  const done = n.vector < 0 && e.vector < 0;
  for (let r = 0; r < 16; r++) {
    let d = n.regs[r] ^ e.regs[r];
    if (done) for (const [ir, m] of cs.ignoreRegs) if (ir === r) d &= ~m;
    if (intelHost) for (const [ir, m] of cs.quirkRegs) if (ir === r) d &= ~m;
    if (d !== 0n) out.push(`${REG_NAMES[r]}: native ${hex64(n.regs[r])}, emulator ${hex64(e.regs[r])} (input ${hex64(cs.regs[r])})`);
  }
  const fm = COMPARED_FLAGS & ~(done ? cs.undef : 0);
  const fd = (n.flags ^ e.flags) & fm;
  for (const [bit, name] of FLAG_NAMES) {
    if ((fd & bit) !== 0) {
      out.push(`${name}: native ${n.flags & bit ? 1 : 0}, emulator ${e.flags & bit ? 1 : 0} (input ${cs.flags & bit ? 1 : 0})`);
    }
  }
  let i = 0;
  while (i < MEMSZ) {
    const skip = (done && inRange(cs.ignoreMem, i)) || (intelHost && inRange(cs.quirkMem, i));
    if (skip || n.mem[i] === e.mem[i]) { i++; continue; }
    let j = i;
    while (j < MEMSZ && n.mem[j] !== e.mem[j]) j++;
    out.push(`mem[+0x${i.toString(16)}..+0x${(j - 1).toString(16)}]: native ${hexb(n.mem.subarray(i, j))}, emulator ${hexb(e.mem.subarray(i, j))} (input ${hexb(cs.mem.subarray(i, j))})`);
    i = j;
  }
  if (cs.fx !== null) {
    if (n.fx === null || e.fx === null) out.push('FP state missing from an outcome');
    // an Intel host keeps its own FOP/FIP/FDP rules (masks.ts, HOST_QUIRKS)
    else out.push(...compareFx(n.fx, e.fx, cs.fx, intelHost ? { ...cs.fxIgnore, pointers: true } : cs.fxIgnore));
  }
  if (n.outside !== e.outside) out.push(`bytes written beyond the compared window: native ${n.outside}, emulator ${e.outside}`);
  return out;
}

function inRange(r: [number, number] | null, i: number): boolean {
  return r !== null && i >= r[0] && i < r[0] + r[1];
}

export function disasm(code: Uint8Array): string {
  const d = new IcedDecoder(64, code, DecoderOptions.None);
  d.ip = BigInt(CODE_RIP);
  const ins = d.decode();
  const f = new Formatter(FormatterSyntax.Nasm);
  const s = f.format(ins);
  ins.free();
  d.free();
  f.free();
  return s;
}

/** a case and its mismatches, for a failure message */
export function describe(cs: Case, mism: string[]): string {
  const regs: string[] = [];
  for (let r = 0; r < 16; r++) regs.push(`${REG_NAMES[r]}=${cs.regs[r].toString(16)}`);
  const lines = [
    `  ${hexb(cs.code)}  ${disasm(cs.code)}`,
    `    in: ${regs.join(' ')} flags=${cs.flags.toString(16)}${cs.note ? ` (${cs.note})` : ''}`,
  ];
  if (cs.fx !== null) {
    const v = new DataView(cs.fx.buffer, cs.fx.byteOffset, cs.fx.byteLength);
    lines.push(`    FP in: MXCSR=${v.getUint32(24, true).toString(16)} FCW=${v.getUint16(0, true).toString(16)} FSW=${v.getUint16(2, true).toString(16)} FTW=${v.getUint8(4).toString(16)}`);
  }
  for (const m of mism) lines.push(`    ${m}`);
  return lines.join('\n');
}
