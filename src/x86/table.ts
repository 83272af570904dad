/**
 * The instruction table: every encoding worldswitch decodes, as data.
 *
 * The decoder's lookup arrays, the dispatch (handler by name), the disassembler and the decode
 * oracle test are all built from this one list; nothing else lists opcodes.
 *
 * Each row is `I(encoding, 'mnemonic operands', handler, flags, arg)`:
 *  - encoding: bytes in hex. A leading `F3`, `F2` or `66` is a mandatory prefix.
 *    `/n` selects ModRM.reg = n (a group). In the 0F 01 group a third byte is an exact ModRM
 *    (mod = 3). `+r` adds the register number to the opcode (8 rows).
 *  - mnemonic: `a/b/c` picks by operand size 16/32/64 (`a/b` for 16/32 only; with flag `byAddr`
 *    by address size instead).
 *  - operands (AMD64 APM Vol. 3 notation): E ModRM r/m, G ModRM reg, M memory-only r/m, R
 *    register-only r/m, I immediate, J relative offset, O moffs, Z register in the opcode, S
 *    segment register in ModRM.reg, C/D control/debug register in ModRM.reg, X/Y string source/
 *    destination, A far pointer, fixed registers and constants (AL, CL, DX, rAX, eAX = AX/EAX,
 *    1, ES..GS). Size suffixes: b byte, w word, d dword, q qword (CMPXCHG16B: 16 bytes with a
 *    64-bit operand size), v 16/32/64 by operand size, z 16/32 (32 for a 64-bit operand size),
 *    y 32/64 (32 for a 16-bit operand size), p far pointer (offset of the operand size plus a
 *    selector), a a pair of operand-size values (BOUND), s pseudo-descriptor (SGDT/LGDT...),
 *    bs a byte sign-extended to the operand size, vw a register of the operand size or a word
 *    in memory (MOV from Sreg, SLDT, STR, SMSW, LAR, LSL).
 *  - flags: `lock` LOCK legal with a memory destination; `i64` invalid in 64-bit mode; `o64`
 *    valid only in 64-bit mode; `d64` operand size defaults to 64 in 64-bit mode (a 66 prefix
 *    selects 16; AMD64 APM Vol. 3 1.2.7, which also holds for near branches on AMD); `f64`
 *    operand size is 64 in 64-bit mode whatever the prefixes; `mem`/`reg` only with ModRM.mod
 *    != 3 / == 3; `byAddr` mnemonic by address size; `lockcr8` LOCK selects CR8 (AMD
 *    CR8-legacy); `rep` REP/REPE/REPNE prefixes are meaningful; `np` the row applies only
 *    without a 66/F2/F3 prefix (with one the encoding is another instruction's, or invalid);
 *    `xmod` the other ModRM.mod form (register for a `mem` row, memory for a `reg` row)
 *    belongs to instructions outside the table, so it is unclaimed rather than an invalid form
 *    of this row; `nw` REX.W does not select a 64-bit operand (AMD has no m16:64 far-pointer
 *    forms, so the operand stays m16:32); `other` the encoding is an instruction worldswitch
 *    does not implement, listed only to mark it as such: it decodes as unclaimed, #UD.
 *  - mandatory prefixes: the last of F2/F3 if any, else 66 (the decoding used by AMD and
 *    Intel for the 0F map); a 66 that is not mandatory still sets the operand size.
 *  - arg: a small number the handler reads (ALU operation, condition code, shift kind, ...).
 */

import { addX87Rows } from './table-x87.js';
import { addSseRows } from './table-sse.js';

export interface InsnSpec {
  /** 0: one-byte map, 1: 0F map, 2: 0F 38 map, 3: 0F 3A map */
  map: number;
  opcode: number;
  /** ModRM.reg for group rows, else -1 */
  ext: number;
  /** exact ModRM byte (mod = 3) for rows like 0F 01 D8, else -1 */
  modrm: number;
  /** mandatory prefix: 0 none, 0x66, 0xF3, 0xF2 */
  prefix: number;
  mnem: string;
  ops: string[];
  exec: string;
  flags: number;
  arg: number;
}

export const enum F {
  Lock = 1,
  I64 = 2,
  O64 = 4,
  D64 = 8,
  F64 = 16,
  Mem = 32,
  Reg = 64,
  ByAddr = 128,
  LockCr8 = 256,
  Rep = 512,
  Np = 1024,
  XMod = 2048,
  NoW = 4096,
  Other = 8192,
}

const FLAG_NAMES: Record<string, number> = {
  lock: F.Lock, i64: F.I64, o64: F.O64, d64: F.D64, f64: F.F64, mem: F.Mem, reg: F.Reg,
  byAddr: F.ByAddr, lockcr8: F.LockCr8, rep: F.Rep,
  np: F.Np, xmod: F.XMod, nw: F.NoW, other: F.Other,
};

export const INSNS: InsnSpec[] = [];

export type RowFn = (enc: string, text: string, exec: string, flags?: string, arg?: number) => void;

function I(enc: string, text: string, exec: string, flags = '', arg = 0): void {
  const sp = text.indexOf(' ');
  const mnem = sp < 0 ? text : text.slice(0, sp);
  const ops = sp < 0 ? [] : text.slice(sp + 1).split(',');
  let fl = 0;
  for (const f of flags.split(' ')) {
    if (f === '') continue;
    const v = FLAG_NAMES[f];
    if (v === undefined) throw new Error(`table: unknown flag ${f} in ${enc}`);
    fl |= v;
  }
  const toks = enc.split(' ');
  let prefix = 0;
  if (toks.length > 1 && (toks[0] === 'F3' || toks[0] === 'F2' || toks[0] === '66')) {
    prefix = parseInt(toks.shift()!, 16);
  }
  let map = 0;
  if (toks[0] === '0F') { map = 1; toks.shift(); }
  if (map === 1 && toks.length > 1 && (toks[0] === '38' || toks[0] === '3A')) { map = toks[0] === '38' ? 2 : 3; toks.shift(); }
  let opTok = toks[0];
  let ext = -1;
  let plusR = false;
  const slash = opTok.indexOf('/');
  if (slash >= 0) { ext = parseInt(opTok.slice(slash + 1), 10); opTok = opTok.slice(0, slash); }
  if (opTok.endsWith('+r')) { plusR = true; opTok = opTok.slice(0, -2); }
  const opcode = parseInt(opTok, 16);
  const modrm = toks.length > 1 ? parseInt(toks[1], 16) : -1;
  const n = plusR ? 8 : 1;
  for (let k = 0; k < n; k++) {
    INSNS.push({ map, opcode: opcode + k, ext, modrm, prefix, mnem, ops, exec, flags: fl, arg });
  }
}

// Condition codes in encoding order (AMD64 APM Vol. 3, Appendix: condition codes).
export const CC_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
export const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
export const SHIFT_NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];

// ---- one-byte map ---------------------------------------------------------------------------

for (let op = 0; op < 8; op++) {
  const b = op * 8;
  const m = ALU_NAMES[op];
  const lk = op === 7 ? '' : 'lock';
  const h = (x: number) => x.toString(16).padStart(2, '0').toUpperCase();
  I(h(b), `${m} Eb,Gb`, 'aluEG', lk, op);
  I(h(b + 1), `${m} Ev,Gv`, 'aluEG', lk, op);
  I(h(b + 2), `${m} Gb,Eb`, 'aluGE', '', op);
  I(h(b + 3), `${m} Gv,Ev`, 'aluGE', '', op);
  I(h(b + 4), `${m} AL,Ib`, 'aluAI', '', op);
  I(h(b + 5), `${m} rAX,Iz`, 'aluAI', '', op);
  I(`80/${op}`, `${m} Eb,Ib`, 'aluEI', lk, op);
  I(`81/${op}`, `${m} Ev,Iz`, 'aluEI', lk, op);
  I(`82/${op}`, `${m} Eb,Ib`, 'aluEI', lk + ' i64', op);
  I(`83/${op}`, `${m} Ev,Ibs`, 'aluEI', lk, op);
}

I('06', 'push ES', 'pushSeg', 'i64', 0);
I('07', 'pop ES', 'popSeg', 'i64', 0);
I('0E', 'push CS', 'pushSeg', 'i64', 1);
I('16', 'push SS', 'pushSeg', 'i64', 2);
I('17', 'pop SS', 'popSeg', 'i64', 2);
I('1E', 'push DS', 'pushSeg', 'i64', 3);
I('1F', 'pop DS', 'popSeg', 'i64', 3);
I('27', 'daa', 'daa', 'i64');
I('2F', 'das', 'das', 'i64');
I('37', 'aaa', 'aaa', 'i64');
I('3F', 'aas', 'aas', 'i64');
I('40+r', 'inc Zv', 'incDecZ', 'i64', 0);
I('48+r', 'dec Zv', 'incDecZ', 'i64', 1);
I('50+r', 'push Zv', 'pushZ', 'd64');
I('58+r', 'pop Zv', 'popZ', 'd64');
I('60', 'pusha/pushad', 'pusha', 'i64');
I('61', 'popa/popad', 'popa', 'i64');
I('62', 'bound Gv,Ma', 'bound', 'i64 mem');
I('63', 'arpl Ew,Gw', 'arpl', 'i64');
I('63', 'movsxd Gv,Ez', 'movsxd', 'o64');
I('68', 'push Iz', 'pushI', 'd64');
I('69', 'imul Gv,Ev,Iz', 'imul3', '');
I('6A', 'push Ibs', 'pushI', 'd64');
I('6B', 'imul Gv,Ev,Ibs', 'imul3', '');
I('6C', 'insb Yb,DX', 'ins', 'rep');
I('6D', 'insw/insd/insd Yz,DX', 'ins', 'rep');
I('6E', 'outsb DX,Xb', 'outs', 'rep');
I('6F', 'outsw/outsd/outsd DX,Xz', 'outs', 'rep');
for (let cc = 0; cc < 16; cc++) {
  I((0x70 + cc).toString(16).toUpperCase(), `j${CC_NAMES[cc]} Jb`, 'jcc', 'd64', cc);
}
I('84', 'test Eb,Gb', 'testEG');
I('85', 'test Ev,Gv', 'testEG');
I('86', 'xchg Eb,Gb', 'xchgEG', 'lock');
I('87', 'xchg Ev,Gv', 'xchgEG', 'lock');
I('88', 'mov Eb,Gb', 'movEG');
I('89', 'mov Ev,Gv', 'movEG');
I('8A', 'mov Gb,Eb', 'movGE');
I('8B', 'mov Gv,Ev', 'movGE');
I('8C', 'mov Evw,Sw', 'movES');
I('8D', 'lea Gv,M', 'lea', 'mem');
I('8E', 'mov Sw,Ew', 'movSE');
I('8F/0', 'pop Ev', 'popE', 'd64');
// 90 is NOP, F3 90 is PAUSE, and with REX.B it is XCHG r8,rAX (the decoder picks by ModRM-less
// context: the xchg row is chosen when REX.B is set).
I('90', 'nop', 'nop');
I('F3 90', 'pause', 'pause');
I('90+r', 'xchg Zv,rAX', 'xchgZA');
I('98', 'cbw/cwde/cdqe', 'cbw');
I('99', 'cwd/cdq/cqo', 'cwd');
I('9A', 'call Ap', 'callFar', 'i64');
I('9B', 'wait', 'wait');
I('9C', 'pushf/pushfd/pushfq', 'pushf', 'd64');
I('9D', 'popf/popfd/popfq', 'popf', 'd64');
I('9E', 'sahf', 'sahf');
I('9F', 'lahf', 'lahf');
I('A0', 'mov AL,Ob', 'movAO');
I('A1', 'mov rAX,Ov', 'movAO');
I('A2', 'mov Ob,AL', 'movOA');
I('A3', 'mov Ov,rAX', 'movOA');
I('A4', 'movsb Yb,Xb', 'movs', 'rep');
I('A5', 'movsw/movsd/movsq Yv,Xv', 'movs', 'rep');
I('A6', 'cmpsb Xb,Yb', 'cmps', 'rep');
I('A7', 'cmpsw/cmpsd/cmpsq Xv,Yv', 'cmps', 'rep');
I('A8', 'test AL,Ib', 'testAI');
I('A9', 'test rAX,Iz', 'testAI');
I('AA', 'stosb Yb,AL', 'stos', 'rep');
I('AB', 'stosw/stosd/stosq Yv,rAX', 'stos', 'rep');
I('AC', 'lodsb AL,Xb', 'lods', 'rep');
I('AD', 'lodsw/lodsd/lodsq rAX,Xv', 'lods', 'rep');
I('AE', 'scasb AL,Yb', 'scas', 'rep');
I('AF', 'scasw/scasd/scasq rAX,Yv', 'scas', 'rep');
I('B0+r', 'mov Zb,Ib', 'movZI');
I('B8+r', 'mov Zv,Iv', 'movZI');
// /6 executes as SHL/SAL (/4); its row is spelled sal (handler arg 6)
for (let k = 0; k < 8; k++) {
  I(`C0/${k}`, `${SHIFT_NAMES[k]} Eb,Ib`, 'shift', '', k);
  I(`C1/${k}`, `${SHIFT_NAMES[k]} Ev,Ib`, 'shift', '', k);
  I(`D0/${k}`, `${SHIFT_NAMES[k]} Eb,1`, 'shift', '', k);
  I(`D1/${k}`, `${SHIFT_NAMES[k]} Ev,1`, 'shift', '', k);
  I(`D2/${k}`, `${SHIFT_NAMES[k]} Eb,CL`, 'shift', '', k);
  I(`D3/${k}`, `${SHIFT_NAMES[k]} Ev,CL`, 'shift', '', k);
}
I('C2', 'ret Iw', 'retNear', 'd64');
I('C3', 'ret', 'retNear', 'd64');
I('C4', 'les Gz,Mp', 'loadFarPtr', 'i64 mem', 0);
I('C5', 'lds Gz,Mp', 'loadFarPtr', 'i64 mem', 3);
I('C6/0', 'mov Eb,Ib', 'movEI');
I('C7/0', 'mov Ev,Iz', 'movEI');
I('C8', 'enter Iw,Ib', 'enter', 'd64');
I('C9', 'leave', 'leave', 'd64');
I('CA', 'retf Iw', 'retFar');
I('CB', 'retf', 'retFar');
I('CC', 'int3', 'int3');
I('CD', 'int Ib', 'intN');
I('CE', 'into', 'into', 'i64');
I('CF', 'iret/iretd/iretq', 'iret');
I('D4', 'aam Ib', 'aam', 'i64');
I('D5', 'aad Ib', 'aad', 'i64');
I('D6', 'salc', 'salc', 'i64');
I('D7', 'xlatb', 'xlat');
I('E0', 'loopne Jb', 'loop', 'd64', 0);
I('E1', 'loope Jb', 'loop', 'd64', 1);
I('E2', 'loop Jb', 'loop', 'd64', 2);
I('E3', 'jcxz/jecxz/jrcxz Jb', 'jcxz', 'd64 byAddr');
I('E4', 'in AL,Ib', 'inI');
I('E5', 'in eAX,Ib', 'inI');
I('E6', 'out Ib,AL', 'outI');
I('E7', 'out Ib,eAX', 'outI');
I('E8', 'call Jz', 'callRel', 'd64');
I('E9', 'jmp Jz', 'jmpRel', 'd64');
I('EA', 'jmp Ap', 'jmpFar', 'i64');
I('EB', 'jmp Jb', 'jmpRel', 'd64');
I('EC', 'in AL,DX', 'inDX');
I('ED', 'in eAX,DX', 'inDX');
I('EE', 'out DX,AL', 'outDX');
I('EF', 'out DX,eAX', 'outDX');
I('F1', 'int1', 'int1');
I('F4', 'hlt', 'hlt');
I('F5', 'cmc', 'cmc');
I('F6/0', 'test Eb,Ib', 'testEI');
I('F6/1', 'test Eb,Ib', 'testEI');
I('F6/2', 'not Eb', 'not', 'lock');
I('F6/3', 'neg Eb', 'neg', 'lock');
I('F6/4', 'mul Eb', 'mulDiv', '', 4);
I('F6/5', 'imul Eb', 'mulDiv', '', 5);
I('F6/6', 'div Eb', 'mulDiv', '', 6);
I('F6/7', 'idiv Eb', 'mulDiv', '', 7);
I('F7/0', 'test Ev,Iz', 'testEI');
I('F7/1', 'test Ev,Iz', 'testEI');
I('F7/2', 'not Ev', 'not', 'lock');
I('F7/3', 'neg Ev', 'neg', 'lock');
I('F7/4', 'mul Ev', 'mulDiv', '', 4);
I('F7/5', 'imul Ev', 'mulDiv', '', 5);
I('F7/6', 'div Ev', 'mulDiv', '', 6);
I('F7/7', 'idiv Ev', 'mulDiv', '', 7);
I('F8', 'clc', 'flagOp', '', 0);
I('F9', 'stc', 'flagOp', '', 1);
I('FA', 'cli', 'cli');
I('FB', 'sti', 'sti');
I('FC', 'cld', 'flagOp', '', 2);
I('FD', 'std', 'flagOp', '', 3);
I('FE/0', 'inc Eb', 'incDecE', 'lock', 0);
I('FE/1', 'dec Eb', 'incDecE', 'lock', 1);
I('FF/0', 'inc Ev', 'incDecE', 'lock', 0);
I('FF/1', 'dec Ev', 'incDecE', 'lock', 1);
I('FF/2', 'call Ev', 'callInd', 'd64');
I('FF/3', 'call Mp', 'callFarInd', 'mem nw');
I('FF/4', 'jmp Ev', 'jmpInd', 'd64');
I('FF/5', 'jmp Mp', 'jmpFarInd', 'mem nw');
I('FF/6', 'push Ev', 'pushE', 'd64');

// ---- 0F map ---------------------------------------------------------------------------------

I('0F 00/0', 'sldt Evw', 'sldt');
I('0F 00/1', 'str Evw', 'str');
I('0F 00/2', 'lldt Ew', 'lldt');
I('0F 00/3', 'ltr Ew', 'ltr');
I('0F 00/4', 'verr Ew', 'verrw', '', 0);
I('0F 00/5', 'verw Ew', 'verrw', '', 1);
// 0F 01 with ModRM.mod = 3 is a space of single instructions (ModRM as opcode), most of them
// outside the table (VMX, SMAP, MONITORX, ...): hence `xmod` on the memory-only rows.
I('0F 01/0', 'sgdt Ms', 'sgdt', 'mem xmod');
I('0F 01/1', 'sidt Ms', 'sidt', 'mem xmod');
I('0F 01/2', 'lgdt Ms', 'lgdt', 'mem xmod');
I('0F 01/3', 'lidt Ms', 'lidt', 'mem xmod');
I('0F 01/4', 'smsw Evw', 'smsw');
I('0F 01/6', 'lmsw Ew', 'lmsw');
I('0F 01/7', 'invlpg M', 'invlpg', 'mem xmod');
I('0F 01 C8', 'monitor', 'monitor', 'np');
I('0F 01 C9', 'mwait', 'mwait', 'np');
I('0F 01 CA', 'clac', 'clac', 'np');
I('0F 01 CB', 'stac', 'stac', 'np');
I('0F 01 D0', 'xgetbv', 'xgetbv', 'np');
I('0F 01 D1', 'xsetbv', 'xsetbv', 'np');
// SVM (AMD64 APM Vol. 3, 0F 01 D8-DF)
I('0F 01 D8', 'vmrun', 'vmrun');
I('0F 01 D9', 'vmmcall', 'vmmcall');
// F3/F2 0F 01 D9 is VMGEXIT (SEV-ES guests), which the table does not implement
I('F3 0F 01 D9', 'vmgexit', 'ud', 'other');
I('F2 0F 01 D9', 'vmgexit', 'ud', 'other');
I('0F 01 DA', 'vmload', 'vmload');
I('0F 01 DB', 'vmsave', 'vmsave');
I('0F 01 DC', 'stgi', 'stgi');
I('0F 01 DD', 'clgi', 'clgi');
I('0F 01 DE', 'skinit', 'skinit');
I('0F 01 DF', 'invlpga', 'invlpga');
I('0F 01 F8', 'swapgs', 'swapgs', 'o64');
I('0F 01 F9', 'rdtscp', 'rdtscp');
I('0F 02', 'lar Gv,Evw', 'larLsl', '', 0);
I('0F 03', 'lsl Gv,Evw', 'larLsl', '', 1);
I('0F 05', 'syscall', 'syscall');
I('0F 06', 'clts', 'clts');
I('0F 07', 'sysret/sysret/sysretq', 'sysret');
I('0F 08', 'invd', 'invd');
I('0F 09', 'wbinvd', 'wbinvd');
I('F3 0F 09', 'wbnoinvd', 'wbinvd', '', 1);
I('0F 0B', 'ud2', 'ud');
// PREFETCH/PREFETCHW: 0F 0D /2-/7 are reserved aliases (/3 of PREFETCHW, the others of
// PREFETCH). The register forms of 0F 0D and 0F 18, and 0F 18 /4-/7, are hint-NOP space the
// table leaves out.
I('0F 0D/0', 'prefetch Mb', 'nop', 'mem xmod');
I('0F 0D/1', 'prefetchw Mb', 'nop', 'mem xmod');
for (let k = 2; k < 8; k++) I(`0F 0D/${k}`, k === 3 ? 'prefetchw Mb' : 'prefetch Mb', 'nop', 'mem xmod');
I('0F 18/0', 'prefetchnta Mb', 'nop', 'mem xmod');
I('0F 18/1', 'prefetcht0 Mb', 'nop', 'mem xmod');
I('0F 18/2', 'prefetcht1 Mb', 'nop', 'mem xmod');
I('0F 18/3', 'prefetcht2 Mb', 'nop', 'mem xmod');
I('F3 0F 1E FA', 'endbr64', 'nop');
I('F3 0F 1E FB', 'endbr32', 'nop');
I('0F 1F/0', 'nop Ev', 'nop');
I('0F 20', 'mov Ry,Cy', 'movRC', 'f64 lockcr8');
I('0F 21', 'mov Ry,Dy', 'movRD', 'f64');
I('0F 22', 'mov Cy,Ry', 'movCR', 'f64 lockcr8');
I('0F 23', 'mov Dy,Ry', 'movDR', 'f64');
I('0F 30', 'wrmsr', 'wrmsr');
I('0F 31', 'rdtsc', 'rdtsc');
I('0F 32', 'rdmsr', 'rdmsr');
I('0F 33', 'rdpmc', 'rdpmc');
I('0F 34', 'sysenter', 'sysenter');
I('0F 35', 'sysexit/sysexit/sysexitq', 'sysexit');
for (let cc = 0; cc < 16; cc++) {
  const h = (0x40 + cc).toString(16).toUpperCase();
  I(`0F ${h}`, `cmov${CC_NAMES[cc]} Gv,Ev`, 'cmov', '', cc);
  I(`0F ${(0x80 + cc).toString(16).toUpperCase()}`, `j${CC_NAMES[cc]} Jz`, 'jcc', 'd64', cc);
  // SETcc ignores ModRM.reg
  I(`0F ${(0x90 + cc).toString(16).toUpperCase()}`, `set${CC_NAMES[cc]} Eb`, 'setcc', '', cc);
}
I('0F A0', 'push FS', 'pushSeg', 'd64', 4);
I('0F A1', 'pop FS', 'popSeg', 'd64', 4);
I('0F A2', 'cpuid', 'cpuid');
I('0F A3', 'bt Ev,Gv', 'btG', '', 0);
I('0F A4', 'shld Ev,Gv,Ib', 'shld', '', 0);
I('0F A5', 'shld Ev,Gv,CL', 'shld', '', 0);
I('0F A8', 'push GS', 'pushSeg', 'd64', 5);
I('0F A9', 'pop GS', 'popSeg', 'd64', 5);
// RSM outside SMM raises #UD (APM Vol. 3, RSM); worldswitch has no SMM
I('0F AA', 'rsm', 'rsm');
I('0F AB', 'bts Ev,Gv', 'btG', 'lock', 1);
I('0F AC', 'shrd Ev,Gv,Ib', 'shld', '', 1);
I('0F AD', 'shrd Ev,Gv,CL', 'shld', '', 1);
// 0F AE: the memory forms are FXSAVE/XSAVE/... (outside the table), the register forms are
// fences and, with F3/F2/66, other instructions. The fences ignore ModRM.rm.
I('F3 0F AE/0', 'rdfsbase Ry', 'fsgsbase', 'o64 reg xmod', 0);
I('F3 0F AE/1', 'rdgsbase Ry', 'fsgsbase', 'o64 reg xmod', 1);
I('F3 0F AE/2', 'wrfsbase Ry', 'fsgsbase', 'o64 reg xmod', 2);
I('F3 0F AE/3', 'wrgsbase Ry', 'fsgsbase', 'o64 reg xmod', 3);
for (let k = 0; k < 8; k++) {
  I(`0F AE ${(0xe8 + k).toString(16).toUpperCase()}`, 'lfence', 'nop', 'np');
  I(`0F AE ${(0xf0 + k).toString(16).toUpperCase()}`, 'mfence', 'nop', 'np');
  I(`0F AE ${(0xf8 + k).toString(16).toUpperCase()}`, 'sfence', 'nop', 'np');
}
I('0F AE/7', 'clflush Mb', 'nop', 'mem np xmod');
I('66 0F AE/7', 'clflushopt Mb', 'nop', 'mem xmod');
I('0F AF', 'imul Gv,Ev', 'imul2');
I('0F B0', 'cmpxchg Eb,Gb', 'cmpxchg', 'lock');
I('0F B1', 'cmpxchg Ev,Gv', 'cmpxchg', 'lock');
I('0F B2', 'lss Gv,Mp', 'loadFarPtr', 'mem nw', 2);
I('0F B3', 'btr Ev,Gv', 'btG', 'lock', 2);
I('0F B4', 'lfs Gv,Mp', 'loadFarPtr', 'mem nw', 4);
I('0F B5', 'lgs Gv,Mp', 'loadFarPtr', 'mem nw', 5);
I('0F B6', 'movzx Gv,Eb', 'movzx', '', 1);
I('0F B7', 'movzx Gv,Ew', 'movzx', '', 2);
I('F3 0F B8', 'popcnt Gv,Ev', 'popcnt');
I('0F B9', 'ud1 Gv,Ev', 'ud');
I('0F BA/4', 'bt Ev,Ib', 'btI', '', 0);
I('0F BA/5', 'bts Ev,Ib', 'btI', 'lock', 1);
I('0F BA/6', 'btr Ev,Ib', 'btI', 'lock', 2);
I('0F BA/7', 'btc Ev,Ib', 'btI', 'lock', 3);
I('0F BB', 'btc Ev,Gv', 'btG', 'lock', 3);
I('0F BC', 'bsf Gv,Ev', 'bitScan', '', 0);
I('0F BD', 'bsr Gv,Ev', 'bitScan', '', 1);
I('F3 0F BC', 'tzcnt Gv,Ev', 'bitScan', '', 2);
I('F3 0F BD', 'lzcnt Gv,Ev', 'bitScan', '', 3);
I('0F BE', 'movsx Gv,Eb', 'movsx', '', 1);
I('0F BF', 'movsx Gv,Ew', 'movsx', '', 2);
I('0F C0', 'xadd Eb,Gb', 'xadd', 'lock');
I('0F C1', 'xadd Ev,Gv', 'xadd', 'lock');
I('0F C7/1', 'cmpxchg8b/cmpxchg8b/cmpxchg16b Mq', 'cmpxchg8b', 'lock mem');
// RDPID writes a 64-bit register in 64-bit mode whatever REX.W says
I('F3 0F C7/7', 'rdpid Ry', 'rdpid', 'reg f64');
I('0F C8+r', 'bswap Zv', 'bswap');
// UD0 has no ModRM byte on AMD processors
I('0F FF', 'ud0', 'ud');

// ---- the x87 (D8-DF) and SSE/SSE2 (0F map with mandatory prefixes) families, in their own files
addX87Rows(I);
addSseRows(I);
