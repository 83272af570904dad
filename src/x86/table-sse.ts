/**
 * SSE, SSE2, SSE3 and SSSE3 rows of the instruction table (0F map with mandatory prefixes, and
 * the 0F 38 / 0F 3A maps; AMD64 APM Vol. 4 "128-Bit Media Instruction Reference"), and the
 * state instructions of 0F AE / 0F 01 (FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, XSAVE, XRSTOR,
 * XSAVEOPT, XGETBV, XSETBV).
 *
 * Operand notation added to table.ts's: V an XMM register in ModRM.reg, W an XMM register or
 * memory in ModRM.r/m, U an XMM register in ModRM.r/m (register form only); size letter x is
 * 128 bits. The MMX-register forms (0F without a prefix on the integer opcodes, CVTPI2PS and
 * the other MMX conversions, MOVQ2DQ/MOVDQ2Q) are not implemented and stay unclaimed (#UD), as
 * is everything AVX.
 *
 * Handler args: sseFp `op | type << 4` (op: sseFpOps in exec/sse-fp.ts; type 0 PS, 1 SS, 2 PD,
 * 3 SD); pInt the integer operation (exec/sse-int.ts PI); alignment in the move rows: 0 none,
 * 1 legacy 16-byte alignment (relaxed by MXCSR.MM), 2 strict (MOVA*, MOVNT*).
 */
import type { RowFn } from './table.js';

/** packed-integer operations (arg of pInt), in a fixed order the executor switches on */
export const enum PI {
  ADDB, ADDW, ADDD, ADDQ, SUBB, SUBW, SUBD, SUBQ,
  ADDSB, ADDSW, ADDUSB, ADDUSW, SUBSB, SUBSW, SUBUSB, SUBUSW,
  MULLW, MULHW, MULHUW, MULUDQ, MADDWD, AVGB, AVGW, SADBW,
  MINUB, MAXUB, MINSW, MAXSW, CMPEQB, CMPEQW, CMPEQD, CMPGTB,
  CMPGTW, CMPGTD, PACKSSWB, PACKSSDW, PACKUSWB, UNPCKLBW, UNPCKLWD, UNPCKLDQ,
  UNPCKLQDQ, UNPCKHBW, UNPCKHWD, UNPCKHDQ, UNPCKHQDQ, AND, ANDN, OR,
  XOR, SLLW, SLLD, SLLQ, SRLW, SRLD, SRLQ, SRAW,
  SRAD,
  // SSSE3
  PSHUFB, PHADDW, PHADDD, PHADDSW, PHSUBW, PHSUBD, PHSUBSW, PMADDUBSW,
  PMULHRSW, PSIGNB, PSIGNW, PSIGND, PABSB, PABSW, PABSD,
}

export const FP_OPS = ['add', 'mul', 'sub', 'min', 'div', 'max', 'sqrt'] as const;
const FP_OPC: Record<string, number> = { add: 0x58, mul: 0x59, sub: 0x5c, min: 0x5d, div: 0x5e, max: 0x5f, sqrt: 0x51 };
const FP_TYPES: [string, string, string][] = [['', 'ps', 'Wx'], ['F3 ', 'ss', 'Wd'], ['66 ', 'pd', 'Wx'], ['F2 ', 'sd', 'Wq']];

export function addSseRows(I: RowFn): void {
  // ---- moves ----
  I('0F 10', 'movups Vx,Wx', 'sseLoad', 'np', 0);
  I('66 0F 10', 'movupd Vx,Wx', 'sseLoad', '', 0);
  I('F3 0F 10', 'movss Vx,Wd', 'sseMovS', '', 4);
  I('F2 0F 10', 'movsd Vx,Wq', 'sseMovS', '', 8);
  I('0F 11', 'movups Wx,Vx', 'sseStore', 'np', 0);
  I('66 0F 11', 'movupd Wx,Vx', 'sseStore', '', 0);
  I('F3 0F 11', 'movss Wd,Vx', 'sseMovSStore', '', 4);
  I('F2 0F 11', 'movsd Wq,Vx', 'sseMovSStore', '', 8);
  I('0F 12', 'movlps Vx,Mq', 'sseHalfLoad', 'mem np', 0);
  I('0F 12', 'movhlps Vx,Ux', 'sseMovHL', 'reg np', 0);
  I('66 0F 12', 'movlpd Vx,Mq', 'sseHalfLoad', 'mem', 0);
  I('F3 0F 12', 'movsldup Vx,Wx', 'sseDup', '', 0);
  I('F2 0F 12', 'movddup Vx,Wq', 'sseDup', '', 2);
  I('0F 13', 'movlps Mq,Vx', 'sseHalfStore', 'mem np', 0);
  I('66 0F 13', 'movlpd Mq,Vx', 'sseHalfStore', 'mem', 0);
  I('0F 14', 'unpcklps Vx,Wx', 'pInt', 'np', PI.UNPCKLDQ);
  I('66 0F 14', 'unpcklpd Vx,Wx', 'pInt', '', PI.UNPCKLQDQ);
  I('0F 15', 'unpckhps Vx,Wx', 'pInt', 'np', PI.UNPCKHDQ);
  I('66 0F 15', 'unpckhpd Vx,Wx', 'pInt', '', PI.UNPCKHQDQ);
  I('0F 16', 'movhps Vx,Mq', 'sseHalfLoad', 'mem np', 1);
  I('0F 16', 'movlhps Vx,Ux', 'sseMovHL', 'reg np', 1);
  I('66 0F 16', 'movhpd Vx,Mq', 'sseHalfLoad', 'mem', 1);
  I('F3 0F 16', 'movshdup Vx,Wx', 'sseDup', '', 1);
  I('0F 17', 'movhps Mq,Vx', 'sseHalfStore', 'mem np', 1);
  I('66 0F 17', 'movhpd Mq,Vx', 'sseHalfStore', 'mem', 1);
  I('0F 28', 'movaps Vx,Wx', 'sseLoad', 'np', 2);
  I('66 0F 28', 'movapd Vx,Wx', 'sseLoad', '', 2);
  I('0F 29', 'movaps Wx,Vx', 'sseStore', 'np', 2);
  I('66 0F 29', 'movapd Wx,Vx', 'sseStore', '', 2);
  I('0F 2B', 'movntps Mx,Vx', 'sseStore', 'mem np', 2);
  I('66 0F 2B', 'movntpd Mx,Vx', 'sseStore', 'mem', 2);
  I('0F 50', 'movmskps Gd,Ux', 'sseMovmsk', 'reg np', 0);
  I('66 0F 50', 'movmskpd Gd,Ux', 'sseMovmsk', 'reg', 1);
  I('66 0F D7', 'pmovmskb Gd,Ux', 'sseMovmsk', 'reg', 2);
  I('66 0F 6E', 'movd/movd/movq Vx,Ey', 'sseMovdLoad');
  I('66 0F 7E', 'movd/movd/movq Ey,Vx', 'sseMovdStore');
  I('F3 0F 7E', 'movq Vx,Wq', 'sseMovq', '', 0);
  I('66 0F D6', 'movq Wq,Vx', 'sseMovq', '', 1);
  I('66 0F 6F', 'movdqa Vx,Wx', 'sseLoad', '', 2);
  I('F3 0F 6F', 'movdqu Vx,Wx', 'sseLoad', '', 0);
  I('66 0F 7F', 'movdqa Wx,Vx', 'sseStore', '', 2);
  I('F3 0F 7F', 'movdqu Wx,Vx', 'sseStore', '', 0);
  I('66 0F E7', 'movntdq Mx,Vx', 'sseStore', 'mem', 2);
  I('0F C3', 'movnti My,Gy', 'movnti', 'mem np');
  I('66 0F F7', 'maskmovdqu Vx,Ux', 'maskmovdqu', 'reg');
  I('F2 0F F0', 'lddqu Vx,Mx', 'sseLoad', 'mem', 0);

  // ---- arithmetic ----
  for (const op of FP_OPS) {
    for (let t = 0; t < 4; t++) {
      const [pre, sfx, w] = FP_TYPES[t];
      const opc = FP_OPC[op].toString(16).toUpperCase();
      I(`${pre}0F ${opc}`, `${op}${sfx} Vx,${w}`, 'sseFp', t === 0 ? 'np' : '', FP_OPS.indexOf(op) | (t << 4));
    }
  }
  I('0F 52', 'rsqrtps Vx,Wx', 'sseRcp', 'np', 1);
  I('F3 0F 52', 'rsqrtss Vx,Wd', 'sseRcp', '', 1 | 2);
  I('0F 53', 'rcpps Vx,Wx', 'sseRcp', 'np', 0);
  I('F3 0F 53', 'rcpss Vx,Wd', 'sseRcp', '', 2);
  I('0F C2', 'cmpps Vx,Wx,Ib', 'sseCmp', 'np', 0);
  I('F3 0F C2', 'cmpss Vx,Wd,Ib', 'sseCmp', '', 1);
  I('66 0F C2', 'cmppd Vx,Wx,Ib', 'sseCmp', '', 2);
  I('F2 0F C2', 'cmpsd Vx,Wq,Ib', 'sseCmp', '', 3);
  I('0F 2E', 'ucomiss Vx,Wd', 'sseComi', 'np', 0);
  I('66 0F 2E', 'ucomisd Vx,Wq', 'sseComi', '', 2);
  I('0F 2F', 'comiss Vx,Wd', 'sseComi', 'np', 1);
  I('66 0F 2F', 'comisd Vx,Wq', 'sseComi', '', 3);
  I('66 0F D0', 'addsubpd Vx,Wx', 'sseHorz', '', 2);
  I('F2 0F D0', 'addsubps Vx,Wx', 'sseHorz', '', 0);
  I('66 0F 7C', 'haddpd Vx,Wx', 'sseHorz', '', 2 | 4);
  I('F2 0F 7C', 'haddps Vx,Wx', 'sseHorz', '', 0 | 4);
  I('66 0F 7D', 'hsubpd Vx,Wx', 'sseHorz', '', 2 | 8);
  I('F2 0F 7D', 'hsubps Vx,Wx', 'sseHorz', '', 0 | 8);

  // ---- conversions (arg: exec/sse-cvt.ts CV) ----
  I('F3 0F 2A', 'cvtsi2ss Vx,Ey', 'sseCvtI2F', '', 0);
  I('F2 0F 2A', 'cvtsi2sd Vx,Ey', 'sseCvtI2F', '', 1);
  I('F3 0F 2C', 'cvttss2si Gy,Wd', 'sseCvtF2I', '', 0 | 2);
  I('F2 0F 2C', 'cvttsd2si Gy,Wq', 'sseCvtF2I', '', 1 | 2);
  I('F3 0F 2D', 'cvtss2si Gy,Wd', 'sseCvtF2I', '', 0);
  I('F2 0F 2D', 'cvtsd2si Gy,Wq', 'sseCvtF2I', '', 1);
  I('0F 5A', 'cvtps2pd Vx,Wq', 'sseCvt', 'np', 0);
  I('66 0F 5A', 'cvtpd2ps Vx,Wx', 'sseCvt', '', 1);
  I('F3 0F 5A', 'cvtss2sd Vx,Wd', 'sseCvt', '', 2);
  I('F2 0F 5A', 'cvtsd2ss Vx,Wq', 'sseCvt', '', 3);
  I('0F 5B', 'cvtdq2ps Vx,Wx', 'sseCvt', 'np', 4);
  I('66 0F 5B', 'cvtps2dq Vx,Wx', 'sseCvt', '', 5);
  I('F3 0F 5B', 'cvttps2dq Vx,Wx', 'sseCvt', '', 6);
  I('F3 0F E6', 'cvtdq2pd Vx,Wq', 'sseCvt', '', 7);
  I('F2 0F E6', 'cvtpd2dq Vx,Wx', 'sseCvt', '', 8);
  I('66 0F E6', 'cvttpd2dq Vx,Wx', 'sseCvt', '', 9);

  // ---- logic (bitwise on all 128 bits) ----
  I('0F 54', 'andps Vx,Wx', 'pInt', 'np', PI.AND);
  I('66 0F 54', 'andpd Vx,Wx', 'pInt', '', PI.AND);
  I('0F 55', 'andnps Vx,Wx', 'pInt', 'np', PI.ANDN);
  I('66 0F 55', 'andnpd Vx,Wx', 'pInt', '', PI.ANDN);
  I('0F 56', 'orps Vx,Wx', 'pInt', 'np', PI.OR);
  I('66 0F 56', 'orpd Vx,Wx', 'pInt', '', PI.OR);
  I('0F 57', 'xorps Vx,Wx', 'pInt', 'np', PI.XOR);
  I('66 0F 57', 'xorpd Vx,Wx', 'pInt', '', PI.XOR);

  // ---- packed integer (66 0F; the MMX forms without 66 are not implemented) ----
  const P: [number, string, number][] = [
    [0x60, 'punpcklbw', PI.UNPCKLBW], [0x61, 'punpcklwd', PI.UNPCKLWD], [0x62, 'punpckldq', PI.UNPCKLDQ],
    [0x63, 'packsswb', PI.PACKSSWB], [0x64, 'pcmpgtb', PI.CMPGTB], [0x65, 'pcmpgtw', PI.CMPGTW],
    [0x66, 'pcmpgtd', PI.CMPGTD], [0x67, 'packuswb', PI.PACKUSWB], [0x68, 'punpckhbw', PI.UNPCKHBW],
    [0x69, 'punpckhwd', PI.UNPCKHWD], [0x6a, 'punpckhdq', PI.UNPCKHDQ], [0x6b, 'packssdw', PI.PACKSSDW],
    [0x6c, 'punpcklqdq', PI.UNPCKLQDQ], [0x6d, 'punpckhqdq', PI.UNPCKHQDQ],
    [0x74, 'pcmpeqb', PI.CMPEQB], [0x75, 'pcmpeqw', PI.CMPEQW], [0x76, 'pcmpeqd', PI.CMPEQD],
    [0xd1, 'psrlw', PI.SRLW], [0xd2, 'psrld', PI.SRLD], [0xd3, 'psrlq', PI.SRLQ], [0xd4, 'paddq', PI.ADDQ],
    [0xd5, 'pmullw', PI.MULLW], [0xd8, 'psubusb', PI.SUBUSB], [0xd9, 'psubusw', PI.SUBUSW],
    [0xda, 'pminub', PI.MINUB], [0xdb, 'pand', PI.AND], [0xdc, 'paddusb', PI.ADDUSB], [0xdd, 'paddusw', PI.ADDUSW],
    [0xde, 'pmaxub', PI.MAXUB], [0xdf, 'pandn', PI.ANDN], [0xe0, 'pavgb', PI.AVGB], [0xe1, 'psraw', PI.SRAW],
    [0xe2, 'psrad', PI.SRAD], [0xe3, 'pavgw', PI.AVGW], [0xe4, 'pmulhuw', PI.MULHUW], [0xe5, 'pmulhw', PI.MULHW],
    [0xe8, 'psubsb', PI.SUBSB], [0xe9, 'psubsw', PI.SUBSW], [0xea, 'pminsw', PI.MINSW], [0xeb, 'por', PI.OR],
    [0xec, 'paddsb', PI.ADDSB], [0xed, 'paddsw', PI.ADDSW], [0xee, 'pmaxsw', PI.MAXSW], [0xef, 'pxor', PI.XOR],
    [0xf1, 'psllw', PI.SLLW], [0xf2, 'pslld', PI.SLLD], [0xf3, 'psllq', PI.SLLQ], [0xf4, 'pmuludq', PI.MULUDQ],
    [0xf5, 'pmaddwd', PI.MADDWD], [0xf6, 'psadbw', PI.SADBW], [0xf8, 'psubb', PI.SUBB], [0xf9, 'psubw', PI.SUBW],
    [0xfa, 'psubd', PI.SUBD], [0xfb, 'psubq', PI.SUBQ], [0xfc, 'paddb', PI.ADDB], [0xfd, 'paddw', PI.ADDW],
    [0xfe, 'paddd', PI.ADDD],
  ];
  for (const [opc, mn, arg] of P) I(`66 0F ${opc.toString(16).toUpperCase()}`, `${mn} Vx,Wx`, 'pInt', '', arg);
  // shifts by an immediate: arg = kind (0 srl, 1 sra, 2 sll, 3 srldq, 4 slldq) | size << 4
  I('66 0F 71/2', 'psrlw Ux,Ib', 'pShiftI', 'reg', 0 | (2 << 4));
  I('66 0F 71/4', 'psraw Ux,Ib', 'pShiftI', 'reg', 1 | (2 << 4));
  I('66 0F 71/6', 'psllw Ux,Ib', 'pShiftI', 'reg', 2 | (2 << 4));
  I('66 0F 72/2', 'psrld Ux,Ib', 'pShiftI', 'reg', 0 | (4 << 4));
  I('66 0F 72/4', 'psrad Ux,Ib', 'pShiftI', 'reg', 1 | (4 << 4));
  I('66 0F 72/6', 'pslld Ux,Ib', 'pShiftI', 'reg', 2 | (4 << 4));
  I('66 0F 73/2', 'psrlq Ux,Ib', 'pShiftI', 'reg', 0 | (8 << 4));
  I('66 0F 73/3', 'psrldq Ux,Ib', 'pShiftI', 'reg', 3);
  I('66 0F 73/6', 'psllq Ux,Ib', 'pShiftI', 'reg', 2 | (8 << 4));
  I('66 0F 73/7', 'pslldq Ux,Ib', 'pShiftI', 'reg', 4);
  // shuffles and inserts
  I('66 0F 70', 'pshufd Vx,Wx,Ib', 'pShuf', '', 0);
  I('F3 0F 70', 'pshufhw Vx,Wx,Ib', 'pShuf', '', 1);
  I('F2 0F 70', 'pshuflw Vx,Wx,Ib', 'pShuf', '', 2);
  I('0F C6', 'shufps Vx,Wx,Ib', 'pShuf', 'np', 3);
  I('66 0F C6', 'shufpd Vx,Wx,Ib', 'pShuf', '', 4);
  I('66 0F C4', 'pinsrw Vx,Edw,Ib', 'pinsrw');
  I('66 0F C5', 'pextrw Gd,Ux,Ib', 'pextrw', 'reg');

  // ---- SSSE3 (0F 38 / 0F 3A with 66) ----
  const S3: [number, string, number][] = [
    [0x00, 'pshufb', PI.PSHUFB], [0x01, 'phaddw', PI.PHADDW], [0x02, 'phaddd', PI.PHADDD],
    [0x03, 'phaddsw', PI.PHADDSW], [0x04, 'pmaddubsw', PI.PMADDUBSW], [0x05, 'phsubw', PI.PHSUBW],
    [0x06, 'phsubd', PI.PHSUBD], [0x07, 'phsubsw', PI.PHSUBSW], [0x08, 'psignb', PI.PSIGNB],
    [0x09, 'psignw', PI.PSIGNW], [0x0a, 'psignd', PI.PSIGND], [0x0b, 'pmulhrsw', PI.PMULHRSW],
    [0x1c, 'pabsb', PI.PABSB], [0x1d, 'pabsw', PI.PABSW], [0x1e, 'pabsd', PI.PABSD],
  ];
  for (const [opc, mn, arg] of S3) I(`66 0F 38 ${opc.toString(16).toUpperCase().padStart(2, '0')}`, `${mn} Vx,Wx`, 'pInt', '', arg);
  I('66 0F 3A 0F', 'palignr Vx,Wx,Ib', 'palignr');

  // ---- state, control and hints ----
  I('0F AE/0', 'fxsave/fxsave/fxsave64 M', 'fxsave', 'mem np xmod');
  I('0F AE/1', 'fxrstor/fxrstor/fxrstor64 M', 'fxrstor', 'mem np xmod');
  I('0F AE/2', 'ldmxcsr Md', 'ldmxcsr', 'mem np xmod');
  I('0F AE/3', 'stmxcsr Md', 'stmxcsr', 'mem np xmod');
  I('0F AE/4', 'xsave/xsave/xsave64 M', 'xsave', 'mem np xmod', 0);
  I('0F AE/5', 'xrstor/xrstor/xrstor64 M', 'xrstor', 'mem np xmod');
  I('0F AE/6', 'xsaveopt/xsaveopt/xsaveopt64 M', 'xsave', 'mem np xmod', 1);
  I('0F 77', 'emms', 'emms', 'np');
  addMmxRows(I, P, S3);
}

/**
 * MMX-register forms (APM Vol. 5; operands P an MMX register in ModRM.reg, N one in ModRM.r/m,
 * Q an MMX register or memory; REX.R/REX.B do not extend MMX register numbers)
 */
function addMmxRows(I: RowFn, P: [number, string, number][], S3: [number, string, number][]): void {
  for (const [opc, mn, arg] of P) {
    if (opc === 0x6c || opc === 0x6d) continue; // PUNPCKLQDQ/PUNPCKHQDQ have no MMX form
    // PUNPCKL* read 32 bits of memory
    const q = opc >= 0x60 && opc <= 0x62 ? 'Qd' : 'Qq';
    I(`0F ${opc.toString(16).toUpperCase()}`, `${mn} Pq,${q}`, 'mInt', 'np', arg);
  }
  for (const [opc, mn, arg] of S3) I(`0F 38 ${opc.toString(16).toUpperCase().padStart(2, '0')}`, `${mn} Pq,Qq`, 'mInt', 'np', arg);
  I('0F 3A 0F', 'palignr Pq,Qq,Ib', 'mPalignr', 'np');
  I('0F 71/2', 'psrlw Nq,Ib', 'mShiftI', 'reg np', 0 | (2 << 4));
  I('0F 71/4', 'psraw Nq,Ib', 'mShiftI', 'reg np', 1 | (2 << 4));
  I('0F 71/6', 'psllw Nq,Ib', 'mShiftI', 'reg np', 2 | (2 << 4));
  I('0F 72/2', 'psrld Nq,Ib', 'mShiftI', 'reg np', 0 | (4 << 4));
  I('0F 72/4', 'psrad Nq,Ib', 'mShiftI', 'reg np', 1 | (4 << 4));
  I('0F 72/6', 'pslld Nq,Ib', 'mShiftI', 'reg np', 2 | (4 << 4));
  I('0F 73/2', 'psrlq Nq,Ib', 'mShiftI', 'reg np', 0 | (8 << 4));
  I('0F 73/6', 'psllq Nq,Ib', 'mShiftI', 'reg np', 2 | (8 << 4));
  I('0F 6E', 'movd/movd/movq Pq,Ey', 'mMovdLoad', 'np');
  I('0F 7E', 'movd/movd/movq Ey,Pq', 'mMovdStore', 'np');
  I('0F 6F', 'movq Pq,Qq', 'mMovq', 'np', 0);
  I('0F 7F', 'movq Qq,Pq', 'mMovq', 'np', 1);
  I('0F E7', 'movntq Mq,Pq', 'mMovq', 'mem np', 1);
  I('0F 70', 'pshufw Pq,Qq,Ib', 'mPshufw', 'np');
  I('0F C4', 'pinsrw Pq,Edw,Ib', 'mPinsrw', 'np');
  I('0F C5', 'pextrw Gd,Nq,Ib', 'mPextrw', 'reg np');
  I('0F D7', 'pmovmskb Gd,Nq', 'mPmovmskb', 'reg np');
  I('0F F7', 'maskmovq Pq,Nq', 'mMaskmovq', 'reg np');
  I('F3 0F D6', 'movq2dq Vx,Nq', 'movq2dq', 'reg');
  I('F2 0F D6', 'movdq2q Pq,Ux', 'movdq2q', 'reg');
  I('0F 2A', 'cvtpi2ps Vx,Qq', 'mCvt', 'np', 0);
  I('66 0F 2A', 'cvtpi2pd Vx,Qq', 'mCvt', '', 1);
  I('0F 2D', 'cvtps2pi Pq,Wq', 'mCvt', 'np', 2);
  I('0F 2C', 'cvttps2pi Pq,Wq', 'mCvt', 'np', 3);
  I('66 0F 2D', 'cvtpd2pi Pq,Wx', 'mCvt', '', 4);
  I('66 0F 2C', 'cvttpd2pi Pq,Wx', 'mCvt', '', 5);
}
