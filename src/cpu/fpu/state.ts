/**
 * x87, SSE and XSAVE state (AMD64 APM Vol. 1 ch. 4 and 6; Vol. 2 11.4-11.5).
 *
 * One object (`Cpu.fpu`) holds what FXSAVE/XSAVE move: the x87 register file and environment,
 * the sixteen XMM registers and MXCSR, and XCR0. The x87 and SSE execution families
 * (`src/cpu/exec/x87*.ts`, `src/cpu/exec/sse*.ts`) and the save/restore instructions all work on
 * these fields; the snapshot code captures them like any other plain-data field.
 */

export class FpuState {
  // ---- x87 (APM Vol. 1 6.2) ----
  /**
   * Physical registers R0-R7 in 80-bit extended format: the 64-bit significand (explicit
   * integer bit 63) as two 32-bit halves, and sign (bit 15) with the 15-bit biased exponent.
   * ST(i) is R[(TOP + i) & 7]; TOP is FSW bits 13:11.
   */
  readonly sigLo = new Uint32Array(8);
  readonly sigHi = new Uint32Array(8);
  readonly signExp = new Uint16Array(8);
  /** control word; reset by FNINIT to 037Fh (FINIT) and at RESET to 0040h (APM Vol. 2 Table 14-1) */
  fcw = 0x0040;
  /** status word, TOP included (bits 13:11) */
  fsw = 0;
  /**
   * full tag word, two bits per physical register (00 valid, 01 zero, 10 special, 11 empty);
   * FXSAVE stores the abridged one-bit form
   */
  ftw = 0x5555;
  /** last non-control instruction's opcode (11 bits), instruction pointer and data pointer */
  fop = 0;
  fip = 0;
  fcs = 0;
  fdp = 0;
  fds = 0;

  // ---- SSE (APM Vol. 1 4.2) ----
  /** XMM0-XMM15, four 32-bit lanes each (lane 0 = bits 31:0): xmm[r * 4 + lane] */
  readonly xmm = new Int32Array(64);
  /** MXCSR; reset and FNINIT-independent default 1F80h; bits 31:18 reserved (#GP on LDMXCSR) */
  mxcsr = 0x1f80;
  /** MXCSR_MASK reported by FXSAVE: the MXCSR bits this CPU implements (DAZ included) */
  static readonly MXCSR_MASK = 0x0002ffff;

  // ---- XSAVE (APM Vol. 2 11.5) ----
  /** XCR0: bit 0 (x87) is always set */
  xcr0 = 1;
}
