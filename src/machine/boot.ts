/**
 * Put a CPU into the initial state a loader describes (loaders.ts, bootstate.ts). This is the
 * machine's side of booting: the loaders only write guest memory and describe the state.
 */

import type { Cpu } from '../cpu/cpu.js';
import { updateMode } from '../cpu/mode.js';
import { S } from '../cpu/state.js';
import type { InitialState, SegmentState } from './bootstate.js';

function loadSeg(c: Cpu, s: number, st: SegmentState): void {
  c.segSel[s] = st.sel;
  c.segBase[s] = st.base;
  c.segLimit[s] = st.limit;
  c.segAttr[s] = st.attr;
}

export function applyInitialState(c: Cpu, st: InitialState): void {
  c.rl.fill(0);
  c.rh.fill(0);
  c.rl[0] = st.rax | 0;
  c.rl[3] = st.rbx | 0;
  c.rl[4] = st.rsp | 0;
  c.rl[6] = (st.rsi ?? 0) | 0;
  c.flags = st.rflags;
  c.lazySize = 0;
  c.cr0 = st.cr0;
  c.cr3 = st.cr3;
  c.cr4 = st.cr4;
  c.efer = st.efer;
  c.cpl = 0;
  loadSeg(c, S.CS, st.cs);
  for (const s of [S.ES, S.SS, S.DS, S.FS, S.GS]) loadSeg(c, s, st.data);
  c.gdtrBase = st.gdtBase;
  c.gdtrLimit = st.gdtLimit;
  c.halted = false;
  c.intShadow = false;
  updateMode(c);
  c.paging.flushAll();
  c.flushCodeCache();
  // in 64-bit mode RIP is a signed canonical number, as loaders return it
  c.rip = st.rip;
}
