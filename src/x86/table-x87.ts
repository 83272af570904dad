/**
 * x87 rows of the instruction table (one-byte map D8-DF; AMD64 APM Vol. 5).
 *
 * Memory forms are ModRM.reg groups (`mem`); register forms are exact ModRM bytes, one row per
 * ST(i) with the register written into the operand text. The undocumented register aliases
 * that the hardware (and iced) decode are listed too: DC D0-DF (FCOM/FCOMP), DE D0-D7 (FCOMP),
 * DD C8-CF and DF C8-CF (FXCH), DF D0-DF (FSTP) and D9 D8-DF (FSTPNCE, an FSTP).
 *
 * `arg` bits 10:8 carry the low three bits of the opcode byte (for FOP); the low bits are per
 * handler (see src/cpu/exec/x87.ts and x87-ctl.ts).
 */
import type { RowFn } from './table.js';

const hex = (n: number): string => n.toString(16).toUpperCase();

export function addX87Rows(I: RowFn): void {
  // arithmetic with a memory operand: D8 m32 real, DA m32 int, DC m64 real, DE m16 int
  const arith = ['add', 'mul', 'com', 'comp', 'sub', 'subr', 'div', 'divr'];
  const memKinds: [number, string, string][] = [[0xd8, 'f', 'Md'], [0xda, 'fi', 'Md'], [0xdc, 'f', 'Mq'], [0xde, 'fi', 'Mw']];
  memKinds.forEach(([op, pre, m], kind) => {
    const o = (op & 7) << 8;
    for (let r = 0; r < 8; r++) {
      const name = `${pre}${arith[r]}`;
      if (r === 2 || r === 3) I(`${hex(op)}/${r}`, `${name} st,${m}`, 'x87ComM', 'mem', o | (kind << 4) | (r & 1));
      else I(`${hex(op)}/${r}`, `${name} st,${m}`, 'x87ArithM', 'mem', o | (kind << 4) | r);
    }
  });

  for (let i = 0; i < 8; i++) {
    const st = `st(${i})`;
    const m = (b: number): string => hex(b + i);
    // with ST(1), these forms are written without operands (as iced-x86 prints them)
    const s1 = (name: string, ops: string): string => (i === 1 ? name : `${name} ${ops}`);
    // D8: ST(0) = ST(0) op ST(i)
    I(`D8 ${m(0xc0)}`, `fadd st,${st}`, 'x87ArithR', '', 0x000 | 0);
    I(`D8 ${m(0xc8)}`, `fmul st,${st}`, 'x87ArithR', '', 0x000 | 1);
    I(`D8 ${m(0xd0)}`, s1('fcom', `st,${st}`), 'x87ComR', '', 0x000 | 0);
    I(`D8 ${m(0xd8)}`, s1('fcomp', `st,${st}`), 'x87ComR', '', 0x000 | 1);
    I(`D8 ${m(0xe0)}`, `fsub st,${st}`, 'x87ArithR', '', 0x000 | 4);
    I(`D8 ${m(0xe8)}`, `fsubr st,${st}`, 'x87ArithR', '', 0x000 | 5);
    I(`D8 ${m(0xf0)}`, `fdiv st,${st}`, 'x87ArithR', '', 0x000 | 6);
    I(`D8 ${m(0xf8)}`, `fdivr st,${st}`, 'x87ArithR', '', 0x000 | 7);
    // DC: ST(i) = ST(i) op ST(0) (the sub/div reverse encodings swap: DC E0 is FSUBR)
    I(`DC ${m(0xc0)}`, `fadd ${st},st`, 'x87ArithR', '', 0x400 | 16 | 0);
    I(`DC ${m(0xc8)}`, `fmul ${st},st`, 'x87ArithR', '', 0x400 | 16 | 1);
    I(`DC ${m(0xd0)}`, s1('fcom', `st,${st}`), 'x87ComR', '', 0x400 | 0);
    I(`DC ${m(0xd8)}`, s1('fcomp', `st,${st}`), 'x87ComR', '', 0x400 | 1);
    I(`DC ${m(0xe0)}`, `fsubr ${st},st`, 'x87ArithR', '', 0x400 | 16 | 5);
    I(`DC ${m(0xe8)}`, `fsub ${st},st`, 'x87ArithR', '', 0x400 | 16 | 4);
    I(`DC ${m(0xf0)}`, `fdivr ${st},st`, 'x87ArithR', '', 0x400 | 16 | 7);
    I(`DC ${m(0xf8)}`, `fdiv ${st},st`, 'x87ArithR', '', 0x400 | 16 | 6);
    // DE: the same, then pop
    I(`DE ${m(0xc0)}`, s1('faddp', `${st},st`), 'x87ArithR', '', 0x600 | 48 | 0);
    I(`DE ${m(0xc8)}`, s1('fmulp', `${st},st`), 'x87ArithR', '', 0x600 | 48 | 1);
    I(`DE ${m(0xd0)}`, s1('fcomp', `st,${st}`), 'x87ComR', '', 0x600 | 1);
    I(`DE ${m(0xe0)}`, s1('fsubrp', `${st},st`), 'x87ArithR', '', 0x600 | 48 | 5);
    I(`DE ${m(0xe8)}`, s1('fsubp', `${st},st`), 'x87ArithR', '', 0x600 | 48 | 4);
    I(`DE ${m(0xf0)}`, s1('fdivrp', `${st},st`), 'x87ArithR', '', 0x600 | 48 | 7);
    I(`DE ${m(0xf8)}`, s1('fdivp', `${st},st`), 'x87ArithR', '', 0x600 | 48 | 6);
    // loads, stores, exchanges
    I(`D9 ${m(0xc0)}`, `fld st,${st}`, 'x87LdR', '', 0x100);
    I(`D9 ${m(0xc8)}`, s1('fxch', `st,${st}`), 'fxch', '', 0x100);
    I(`DD ${m(0xc8)}`, s1('fxch', `st,${st}`), 'fxch', '', 0x500);
    I(`DF ${m(0xc8)}`, s1('fxch', `st,${st}`), 'fxch', '', 0x700);
    I(`D9 ${m(0xd8)}`, `fstpnce ${st},st`, 'x87StR', '', 0x100 | 64 | 16);
    I(`DD ${m(0xd0)}`, `fst ${st},st`, 'x87StR', '', 0x500);
    I(`DD ${m(0xd8)}`, `fstp ${st},st`, 'x87StR', '', 0x500 | 16);
    I(`DF ${m(0xd0)}`, `fstp ${st},st`, 'x87StR', '', 0x700 | 16);
    I(`DF ${m(0xd8)}`, `fstp ${st},st`, 'x87StR', '', 0x700 | 16);
    I(`DD ${m(0xc0)}`, `ffree ${st}`, 'ffree', '', 0x500);
    I(`DF ${m(0xc0)}`, `ffreep ${st}`, 'ffree', '', 0x700 | 16);
    // unordered compares and compares into RFLAGS
    I(`DD ${m(0xe0)}`, s1('fucom', `st,${st}`), 'x87ComR', '', 0x500 | 4);
    I(`DD ${m(0xe8)}`, s1('fucomp', `st,${st}`), 'x87ComR', '', 0x500 | 4 | 1);
    I(`DB ${m(0xe8)}`, `fucomi st,${st}`, 'x87ComI', '', 0x300 | 4);
    I(`DB ${m(0xf0)}`, `fcomi st,${st}`, 'x87ComI', '', 0x300);
    I(`DF ${m(0xe8)}`, `fucomip st,${st}`, 'x87ComI', '', 0x700 | 4 | 1);
    I(`DF ${m(0xf0)}`, `fcomip st,${st}`, 'x87ComI', '', 0x700 | 1);
    // FCMOVcc: condition codes b=2, e=4, be=6, u(p)=10 and their negations
    const cmov: [number, string, number][] = [[0xc0, 'b', 2], [0xc8, 'e', 4], [0xd0, 'be', 6], [0xd8, 'u', 10]];
    for (const [b, n, cc] of cmov) {
      I(`DA ${m(b)}`, `fcmov${n} st,${st}`, 'x87Cmov', '', 0x200 | cc);
      I(`DB ${m(b)}`, `fcmovn${n} st,${st}`, 'x87Cmov', '', 0x300 | (cc ^ 1));
    }
  }
  I('DE D9', 'fcompp', 'x87ComR', '', 0x600 | 2);
  I('DA E9', 'fucompp', 'x87ComR', '', 0x200 | 4 | 2);

  // loads and stores with memory operands (kinds: 0 m32, 1 m32 int, 2 m64, 3 m16 int, 4 m80,
  // 5 m64 int, 6 packed BCD)
  I('D9/0', 'fld st,Md', 'x87LdM', 'mem', 0x100 | 0);
  I('DD/0', 'fld st,Mq', 'x87LdM', 'mem', 0x500 | 2);
  I('DB/5', 'fld st,Mt', 'x87LdM', 'mem', 0x300 | 4);
  I('DF/0', 'fild st,Mw', 'x87LdM', 'mem', 0x700 | 3);
  I('DB/0', 'fild st,Md', 'x87LdM', 'mem', 0x300 | 1);
  I('DF/5', 'fild st,Mq', 'x87LdM', 'mem', 0x700 | 5);
  I('DF/4', 'fbld st,Mt', 'x87LdM', 'mem', 0x700 | 6);
  I('D9/2', 'fst Md,st', 'x87StM', 'mem', 0x100 | 0);
  I('D9/3', 'fstp Md,st', 'x87StM', 'mem', 0x100 | 16 | 0);
  I('DD/2', 'fst Mq,st', 'x87StM', 'mem', 0x500 | 2);
  I('DD/3', 'fstp Mq,st', 'x87StM', 'mem', 0x500 | 16 | 2);
  I('DB/7', 'fstp Mt,st', 'x87StM', 'mem', 0x300 | 16 | 4);
  I('DF/2', 'fist Mw,st', 'x87StM', 'mem', 0x700 | 3);
  I('DF/3', 'fistp Mw,st', 'x87StM', 'mem', 0x700 | 16 | 3);
  I('DB/2', 'fist Md,st', 'x87StM', 'mem', 0x300 | 1);
  I('DB/3', 'fistp Md,st', 'x87StM', 'mem', 0x300 | 16 | 1);
  I('DF/7', 'fistp Mq,st', 'x87StM', 'mem', 0x700 | 16 | 5);
  I('DF/1', 'fisttp Mw,st', 'x87StM', 'mem', 0x700 | 48 | 3);
  I('DB/1', 'fisttp Md,st', 'x87StM', 'mem', 0x300 | 48 | 1);
  I('DD/1', 'fisttp Mq,st', 'x87StM', 'mem', 0x500 | 48 | 5);
  I('DF/6', 'fbstp Mt,st', 'x87StM', 'mem', 0x700 | 16 | 6);

  // control
  I('D9/4', 'fldenv Me', 'fldenv', 'mem');
  I('D9/5', 'fldcw Mw', 'fldcw', 'mem');
  I('D9/6', 'fnstenv Me', 'fnstenv', 'mem');
  I('D9/7', 'fnstcw Mw', 'fnstcw', 'mem');
  I('DD/4', 'frstor Mf', 'frstor', 'mem');
  I('DD/6', 'fnsave Mf', 'fnsave', 'mem');
  I('DD/7', 'fnstsw Mw', 'fnstsw', 'mem');
  I('DF E0', 'fnstsw ax', 'fnstswAx');
  I('DB E2', 'fnclex', 'fnclex');
  I('DB E3', 'fninit', 'fninit');
  I('DB E0', 'fneni', 'fnop287');
  I('DB E1', 'fndisi', 'fnop287');
  I('DB E4', 'fnsetpm', 'fnop287');

  // D9 D0 and D9 E0-FF
  const d9: [number, string][] = [
    [0xd0, 'fnop'], [0xe0, 'fchs'], [0xe1, 'fabs'], [0xe4, 'ftst'], [0xe5, 'fxam'], [0xe8, 'fld1'],
    [0xe9, 'fldl2t'], [0xea, 'fldl2e'], [0xeb, 'fldpi'], [0xec, 'fldlg2'], [0xed, 'fldln2'], [0xee, 'fldz'],
    [0xf0, 'f2xm1'], [0xf1, 'fyl2x'], [0xf2, 'fptan'], [0xf3, 'fpatan'], [0xf4, 'fxtract'], [0xf5, 'fprem1'],
    [0xf6, 'fdecstp'], [0xf7, 'fincstp'], [0xf8, 'fprem'], [0xf9, 'fyl2xp1'], [0xfa, 'fsqrt'], [0xfb, 'fsincos'],
    [0xfc, 'frndint'], [0xfd, 'fscale'], [0xfe, 'fsin'], [0xff, 'fcos'],
  ];
  for (const [b, n] of d9) I(`D9 ${hex(b)}`, n, 'x87Un', '', 0x100);
}
