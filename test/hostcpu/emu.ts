/**
 * The emulator side: the same bytes at the same guest addresses (flat 64-bit mode, no paging,
 * so linear = physical), the same registers and flags, run until the INT3 after the instruction
 * or a fault.
 */

import { Cpu } from '../../src/cpu/cpu.js';
import { getFlags, setFlags } from '../../src/cpu/flags.js';
import { setFlatMode } from '../../src/cpu/setup.js';
import { Stop } from '../../src/cpu/state.js';
import { PhysMem } from '../../src/machine/memory.js';
import { Cr0 } from '../../src/cpu/state.js';
import { CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_OSXSAVE } from '../../src/cpu/fpu/checks.js';
import { loadFx, saveFx } from './fx.js';
import { BUF_ADDR, BUF_PAGE, BUF_PAGES, CODE_ADDR, CODE_OFF, CODE_RIP, GS_BASE, MEMSZ, PAGE, type Case, type Outcome } from './layout.js';

const RAM = 0x60000;

export class EmuRunner {
  readonly mem = new PhysMem(RAM);
  readonly cpu = new Cpu(this.mem);
  private readonly page = new Uint8Array(PAGE);
  /** called once the state is loaded, just before the run (tests can perturb the state) */
  beforeRun: ((c: Cpu, cs: Case) => void) | null = null;
  /** called after each run, before the state is read (the self-test breaks a flag here) */
  afterRun: ((c: Cpu, cs: Case) => void) | null = null;

  run(cs: Case): Outcome {
    const { cpu, mem } = this;
    this.page.fill(0xcc);
    this.page.set(cs.code, CODE_OFF);
    mem.load(CODE_ADDR, this.page);
    const end = BUF_PAGE + BUF_PAGES * PAGE;
    mem.u8.fill(0, BUF_PAGE, end);
    mem.u8.set(cs.mem, BUF_ADDR);
    setFlatMode(cpu, 64);
    cpu.segBase[5] = GS_BASE; // GS
    for (let r = 0; r < 16; r++) {
      cpu.rl[r] = Number(BigInt.asIntN(32, cs.regs[r]));
      cpu.rh[r] = Number(BigInt.asIntN(32, cs.regs[r] >> 32n));
    }
    // user mode runs with IF set; the emulator gets the same RFLAGS image
    setFlags(cpu, cs.flags | 0x202);
    cpu.rip = CODE_RIP;
    if (cs.fx !== null) {
      // as Linux runs user code: CR0.NE and MP set, EM and TS clear; CR4.OSFXSR, OSXMMEXCPT and
      // OSXSAVE, XCR0 with x87 and SSE (the host's has more; the forms use only these two)
      cpu.cr0 = (cpu.cr0 | Cr0.NE | Cr0.MP) & ~(Cr0.EM | Cr0.TS);
      cpu.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE;
      cpu.fpu.xcr0 = 3;
      loadFx(cpu.fpu, cs.fx);
      // the selectors Linux gives user code (__USER_CS, __USER_DS): FNSTENV/FNSAVE store CS
      // and the operand's segment selector as FCS/FDS
      cpu.segSel[1] = 0x33;
      cpu.segSel[0] = cpu.segSel[2] = cpu.segSel[3] = 0x2b;
    }
    if (this.beforeRun !== null) this.beforeRun(cpu, cs);
    let stop: Stop;
    let other = '';
    try {
      stop = cpu.run(10000);
    } catch (e) {
      stop = Stop.None;
      other = `JavaScript exception: ${e instanceof Error ? e.stack ?? e.message : String(e)}`;
    }
    if (this.afterRun !== null) this.afterRun(cpu, cs);
    const regs: bigint[] = [];
    for (let r = 0; r < 16; r++) regs.push((BigInt(cpu.rh[r] >>> 0) << 32n) | BigInt(cpu.rl[r] >>> 0));
    const outMem = mem.u8.slice(BUF_ADDR, BUF_ADDR + MEMSZ);
    let outside = 0;
    // word-wise (the window is 4-aligned), bytes counted only in nonzero words
    const u32 = mem.u32;
    for (let w = BUF_PAGE >>> 2; w < end >>> 2; w++) {
      if (u32[w] === 0 || (w >= BUF_ADDR >>> 2 && w < (BUF_ADDR + MEMSZ) >>> 2)) continue;
      for (let b = 0; b < 4; b++) outside += mem.u8[w * 4 + b] !== 0 ? 1 : 0;
    }
    let vector = -1;
    let rip = cpu.rip;
    if (other === '') {
      if (stop === Stop.Exception) {
        const v = cpu.lastFault.vector;
        const at = cpu.lastFault.rip;
        const isInt3 = (a: number) =>
          a >= CODE_ADDR && a < CODE_ADDR + PAGE && mem.u8[a] === 0xcc && (a < CODE_RIP || a >= CODE_RIP + cs.code.length);
        if (v === 3 && isInt3(at - 1)) rip = at - 1;
        else if (v === 6 && isInt3(at)) rip = at; // INT3 itself not implemented: #UD on it
        else { vector = v; rip = at; }
      } else {
        other = `run stopped with ${Stop[stop]} at RIP 0x${cpu.rip.toString(16)}`;
      }
    }
    const fx = cs.fx !== null ? saveFx(cpu.fpu) : null;
    return { vector, rip, regs, flags: getFlags(cpu), mem: outMem, outside, other, fx };
  }
}
