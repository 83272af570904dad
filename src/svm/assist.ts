/**
 * SVM features around the world switch that KVM and Hyper-V use (CPUID 8000_000A EDX; APM Vol. 2
 * ch. 15): decode assists' instruction bytes, LBR virtualization and the TSC ratio MSR (the
 * intercept helpers the instruction handlers call are in icpt.ts).
 */

import type { Cpu } from '../cpu/cpu.js';
import { defineMsr, MsrClass, MsrDef } from '../cpu/msr.js';
import { raise } from '../cpu/fault.js';
import { setDebugCtl } from '../cpu/pmu.js';
import { TWO32, Vec } from '../cpu/state.js';
import { V } from './vmcb.js';
import { getCanon, putN } from './vmcbio.js';

const BYTES = new Uint8Array(16);

/**
 * Decode assists (APM Vol. 2 ch. 15, "Decode Assists"): on a #PF or #NPF exit, INSN_LEN (0D0h) and up to 15
 * bytes (0D1h) of the guest instruction at `rip`, the bytes the processor fetched: from the
 * fetch page the instruction was decoded from, and past its end from the TLB. Nothing is walked
 * here, so an instruction whose own fetch faulted gives the bytes before the faulting page (0
 * when it starts there).
 */
export function insnBytes(c: Cpu, w: Int32Array, k: number, rip: number): void {
  const lin = c.bits === 64 ? rip : (c.segBase[1] + rip) % TWO32;
  BYTES.fill(0);
  let n = 0;
  let pa = -1;
  while (n < 15) {
    if (n === 0 || ((lin + n) & 0xfff) === 0) {
      pa = c.fetchedPhys(lin + n);
      if (pa < 0) pa = c.paging.cached(lin + n);
      if (pa < 0) break;
    }
    BYTES[1 + n] = c.mem.read8(pa);
    pa++;
    n++;
  }
  BYTES[0] = n;
  for (let j = 0; j < 4; j++) {
    w[k + (V.INSN_LEN >> 2) + j] = BYTES[4 * j] | (BYTES[4 * j + 1] << 8) | (BYTES[4 * j + 2] << 16) | (BYTES[4 * j + 3] << 24);
  }
}

// ---- LBR virtualization (APM Vol. 2 15.23, "Last Branch Record Virtualization"): VMRUN saves the host's DebugCtl and LBR MSRs and
// loads the guest's from the VMCB; #VMEXIT stores the guest's and restores the host's ----

export function lbrSwapIn(c: Cpu, w: Int32Array, k: number): void {
  const p = c.perf;
  const h = c.svm.hostLbr;
  h[0] = p.debugCtl; h[1] = p.brFrom; h[2] = p.brTo; h[3] = p.intFrom; h[4] = p.intTo;
  p.brFrom = getCanon(w, k + (V.BR_FROM >> 2));
  p.brTo = getCanon(w, k + (V.BR_TO >> 2));
  p.intFrom = getCanon(w, k + (V.LAST_EXCP_FROM >> 2));
  p.intTo = getCanon(w, k + (V.LAST_EXCP_TO >> 2));
  setDebugCtl(c, w[k + (V.DBGCTL >> 2)]);
}

export function lbrSwapOut(c: Cpu, w: Int32Array, k: number): void {
  const p = c.perf;
  const h = c.svm.hostLbr;
  w[k + (V.DBGCTL >> 2)] = p.debugCtl; w[k + (V.DBGCTL >> 2) + 1] = 0;
  putN(w, k + (V.BR_FROM >> 2), p.brFrom);
  putN(w, k + (V.BR_TO >> 2), p.brTo);
  putN(w, k + (V.LAST_EXCP_FROM >> 2), p.intFrom);
  putN(w, k + (V.LAST_EXCP_TO >> 2), p.intTo);
  p.brFrom = h[1]; p.brTo = h[2]; p.intFrom = h[3]; p.intTo = h[4];
  setDebugCtl(c, h[0]);
}

// ---- TSC ratio (APM Vol. 2 15.30.5): the guest's TSC is the host's times TSC_RATIO (8.32 fixed
// point: bits 39:32 integer, 31:0 fraction; 63:40 reserved), plus TSC_OFFSET ----

export const TSC_RATIO = 0xc0000104;

defineMsr(new MsrDef(TSC_RATIO, 'TSC_RATIO', MsrClass.Svm, (c) => { c.xh = c.svm.tscRatioHi; return c.svm.tscRatioLo; }, (c, lo, hi) => {
  if ((hi & ~0xff) !== 0) raise(Vec.GP, 0);
  c.svm.tscRatioLo = lo;
  c.svm.tscRatioHi = hi;
}));
