/**
 * The disassembler checked against iced-x86's Intel formatter on random claimed encodings.
 *
 * iced is set to the same style (0x hex in lower case, `, ` separators, memory size always
 * shown, no branch size or leading zeros). What remains is normalised before comparing:
 *  - prefix markers iced prints and we do not: data16/data32/addr16/addr32, bnd, notrack,
 *    hint-taken/hint-not-taken, xacquire/xrelease;
 *  - spellings: iced `fwait` for WAIT, `shl` for the /6 alias we call `sal`, `xlat byte ptr
 *    [rbx]` for XLATB, `xchg ax, ax` (and eax/rax) for NOP 90 with 66 or REX.W, `prefetchwt1`
 *    `prefetch_reserved` and `prefetch_exclusive` for PREFETCH, `ret far` for RETF, `rep ret`
 *    for F3 C3, a segment prefix printed before MONITOR;
 *  - forms: iced writes far pointers as `offset, selector` (we write selector:offset), drops
 *    the repeated register of `imul r, r, imm`, and names the implicit rAX/ECX/EAX operands of
 *    VMRUN, VMLOAD, VMSAVE, INVLPGA and SKINIT.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import iced from 'iced-x86';
import { Decoder } from '../src/x86/decoder.js';
import { disasm } from '../src/x86/disasm.js';
import { Insn, type Exec } from '../src/x86/insn.js';
import { F, INSNS } from '../src/x86/table.js';

const { Decoder: IcedDecoder, DecoderOptions, Formatter, FormatterSyntax, MemorySizeOptions } = iced;

const SEED = Number(process.env.WS_DISASM_SEED ?? 0xd15a5);
const RUNS = Number(process.env.WS_DISASM_RUNS ?? 2000);

const noop: Exec = () => {};
const ours = new Decoder(INSNS.map(() => noop), noop);
const insn = new Insn(noop);

const fmt = new Formatter(FormatterSyntax.Intel);
fmt.hexPrefix = '0x';
fmt.hexSuffix = '';
fmt.uppercaseHex = false;
fmt.spaceAfterOperandSeparator = true;
fmt.memorySizeOptions = MemorySizeOptions.Always;
fmt.branchLeadingZeros = false;
fmt.showBranchSize = false;

const DROP = /\b(data16|data32|data64|addr16|addr32|bnd|notrack|hint-taken|hint-not-taken|xacquire|xrelease) /g;

function normIced(t: string): string {
  t = t.replace(DROP, '').replace(/\s+/g, ' ').trim();
  t = t.replace(/^fwait$/, 'wait');
  t = t.replace(/^xlat .*$/, 'xlatb');
  t = t.replace(/^(prefetchwt1|prefetch_reserved|prefetch_exclusive) /, 'prefetch ');
  t = t.replace(/^ret far\b/, 'retf');
  t = t.replace(/^rep ret\b/, 'ret');
  t = t.replace(/^(es|cs|ss|ds|fs|gs) (monitor|xlat)/, '$2');
  t = t.replace(/\bfar ([0-9a-fx]+), ([0-9a-fx]+)$/, 'far $2:$1');
  t = t.replace(/^(vmrun|vmload|vmsave|invlpga|skinit) .*$/, '$1');
  return t;
}

function normOurs(t: string): string {
  t = t.replace(/^(lock )?sal /, '$1shl ');
  t = t.replace(/^imul ([a-z0-9]+), \1, /, 'imul $1, ');
  return t;
}

const LEGACY = [0xf0, 0xf2, 0xf3, 0x66, 0x67, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

/** An encoding aimed at one table row, with random prefixes and operand bytes. */
const caseArb = fc.record({
  bits: fc.constantFrom(16, 32, 64),
  row: fc.nat(INSNS.length - 1),
  pfx: fc.array(fc.constantFrom(...LEGACY), { maxLength: 3 }),
  rex: fc.integer({ min: 0x3f, max: 0x4f }),
  modrm: fc.nat(255),
  tail: fc.uint8Array({ minLength: 14, maxLength: 14 }),
  ip: fc.constantFrom(0x1000, 0xfff0, 0x7ffff000, 0xfffff000, -0x7ffff000),
});

describe('disassembler vs iced-x86 Intel formatter', () => {
  it(`formats ${RUNS} random claimed encodings as iced does`, () => {
    const diffs: string[] = [];
    let compared = 0;
    let tries = 0;
    fc.assert(fc.property(caseArb, (c) => {
      if (compared >= RUNS) return;
      tries++;
      const s = INSNS[c.row];
      if (s.flags & F.Other) return;
      const b: number[] = [...c.pfx];
      if (s.prefix) b.push(s.prefix);
      if (c.bits === 64 && c.rex >= 0x40) b.push(c.rex);
      if (s.map) b.push(0x0f);
      if (s.map >= 2) b.push(s.map === 2 ? 0x38 : 0x3a);
      b.push(s.opcode);
      b.push(s.modrm >= 0 ? s.modrm : s.ext >= 0 ? (c.modrm & 0xc7) | (s.ext << 3) : c.modrm);
      const buf = new Uint8Array(b.length + c.tail.length);
      buf.set(b);
      buf.set(c.tail, b.length);
      ours.decode(insn, buf, 0, buf.length, c.bits);
      if (insn.fault !== 0) return;
      // instruction addresses as the decoding mode has them
      const ip = c.bits === 64 ? c.ip : c.bits === 32 ? c.ip >>> 0 : c.ip & 0xffff;
      const dec = new IcedDecoder(c.bits, buf, DecoderOptions.AMD);
      dec.ip = BigInt.asUintN(c.bits, BigInt(ip));
      const ins = dec.decode();
      const text = ins.isInvalid ? '(invalid)' : fmt.format(ins);
      ins.free();
      dec.free();
      compared++;
      const a = normIced(text);
      const o = normOurs(disasm(insn, ip));
      // NOP (90) with 66 or REX.W: iced shows the exchange it encodes
      const same = a === o || (o === 'nop' && /^xchg (r|e)?ax, \1ax$/.test(a));
      if (!same && diffs.length < 60) {
        const hex = Array.from(buf.subarray(0, insn.len), (x) => x.toString(16).padStart(2, '0')).join(' ');
        diffs.push(`${c.bits}-bit @${ip.toString(16)} ${hex}: iced "${text}" ours "${disasm(insn, ip)}"`);
      }
    }), { numRuns: RUNS * 20, seed: SEED });
    console.log(`disasm: ${compared} compared (${tries} generated), ${diffs.length} differences`);
    if (diffs.length) console.log(diffs.join('\n'));
    expect(compared).toBe(RUNS);
    expect(diffs).toEqual([]);
  });

  it('formats a few instructions as expected', () => {
    const cases: [number, number[], number, string][] = [
      [64, [0x48, 0x8b, 0x44, 0xce, 0xf8], 0, 'mov rax, qword ptr [rsi+rcx*8-8]'],
      [64, [0x75, 0x16], 0x1000, 'jne 0x1018'],
      [64, [0xf3, 0x48, 0xa5], 0, 'rep movsq qword ptr [rdi], qword ptr [rsi]'],
      [64, [0xf0, 0x0f, 0xc7, 0x08], 0, 'lock cmpxchg8b qword ptr [rax]'],
      [64, [0x65, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0], 0, 'mov rax, qword ptr gs:[0x28]'],
      [64, [0x8b, 0x05, 0x10, 0, 0, 0], 0x1000, 'mov eax, dword ptr [0x1016]'],
      [32, [0xea, 0x00, 0x10, 0, 0, 0x08, 0], 0, 'jmp far 8:0x1000'],
      [16, [0x8b, 0x46, 0xfe], 0, 'mov ax, word ptr [bp-2]'],
    ];
    for (const [bits, bytes, ip, want] of cases) {
      const buf = new Uint8Array(16);
      buf.set(bytes);
      ours.decode(insn, buf, 0, buf.length, bits);
      expect(disasm(insn, ip)).toBe(want);
    }
  });
});
