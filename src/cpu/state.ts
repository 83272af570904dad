/** Register numbers, flag bits and other architectural constants (AMD64 APM Vol. 2, ch. 3). */

export const enum R {
  RAX = 0, RCX, RDX, RBX, RSP, RBP, RSI, RDI,
  R8, R9, R10, R11, R12, R13, R14, R15,
}

export const enum S {
  ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, LDTR = 6, TR = 7,
}

export const enum Fl {
  CF = 0x1,
  PF = 0x4,
  AF = 0x10,
  ZF = 0x40,
  SF = 0x80,
  TF = 0x100,
  IF = 0x200,
  DF = 0x400,
  OF = 0x800,
  IOPL = 0x3000,
  NT = 0x4000,
  RF = 0x10000,
  VM = 0x20000,
  AC = 0x40000,
  VIF = 0x80000,
  VIP = 0x100000,
  ID = 0x200000,
  /** the six arithmetic status flags */
  ARITH = 0x8d5,
}

export const enum Vec {
  DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8,
  TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19,
}

export const enum Cr0 {
  PE = 0x1, MP = 0x2, EM = 0x4, TS = 0x8, ET = 0x10, NE = 0x20, WP = 0x10000, AM = 0x40000,
  NW = 0x20000000, CD = 0x40000000, PG = 0x80000000,
}

export const enum Efer {
  SCE = 0x1, LME = 0x100, LMA = 0x400, NXE = 0x800, SVME = 0x1000, FFXSR = 0x4000,
}

/** Why `Cpu.run` returned. */
export enum Stop {
  None = 0,
  /** the instruction budget ran out */
  Budget = 1,
  /** HLT with nothing to wake it */
  Halt = 2,
  /** an exception with no way to deliver it (bare core without an IDT), or a triple fault */
  Shutdown = 3,
  /** a device asked the machine to stop (debug-exit port) */
  Exit = 4,
  /** an exception was raised and the core has no delivery mechanism installed */
  Exception = 5,
  /** the guest reset the machine (port 92h, CF9h, the 8042): the run ends (machine.stopCause) */
  Reset = 6,
}

/** 2^32, for building numbers from 32-bit halves */
export const TWO32 = 4294967296;
