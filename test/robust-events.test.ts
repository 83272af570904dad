/**
 * Events that used to escape the CPU or stall it (issue 15 items 6 and 7): a nested page fault
 * raised while an exception is being delivered to a guest, and an exception-delivery storm that
 * retires no instruction.
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { Stop } from '../src/cpu/state.js';
import { V } from '../src/svm/vmcb.js';
import { GUEST, VMCB, svmSetup } from './svm-setup.js';

/** svm-setup's host and guest, with architectural delivery, a guest IDT with a #UD gate (to a
 * VMMCALL) and identity nested tables over 0..2 MiB */
function nptGuest(guestCode: number[]) {
  const t = svmSetup(guestCode);
  const { c, mem } = t;
  c.useArchitecturalDelivery();
  const w32 = (o: number, v: number) => mem.write32(VMCB + o, v);
  // guest GDT with flat code at 8; IDT at 0x9000 with a gate for #UD
  mem.write32(0x7c08, 0x0000ffff); mem.write32(0x7c0c, 0x00cf9b00);
  w32(V.GDTR + 8, 0x7c00); w32(V.GDTR + 4, 0xf);
  w32(V.IDTR + 8, 0x9000); w32(V.IDTR + 4, 0x7ff);
  mem.write32(0x9000 + 6 * 8, (8 << 16) | 0x5100);
  mem.write32(0x9004 + 6 * 8, 0x8e00);
  mem.load(0x5100, Uint8Array.from([0x0f, 0x01, 0xd9])); // handler: vmmcall
  mem.write32(0x20000, 0x21007); mem.write32(0x21000, 0x22007); mem.write32(0x22000, 0x23007);
  for (let k = 0; k < 512; k++) mem.write32(0x23000 + k * 8, (k * 4096) | 7);
  w32(V.NP_ENABLE, 1);
  w32(V.N_CR3, 0x20000);
  w32(V.G_PAT, 0x00070406); w32(V.G_PAT + 4, 0x00070406);
  return t;
}

describe('events that fault in unusual places', () => {
  it('a nested page fault while delivering a guest exception ends in #VMEXIT(NPF) with EXITINTINFO', () => {
    const t = nptGuest([0x0f, 0x0b]); // ud2
    t.mem.write32(0x23000 + 9 * 8, 0); // the guest IDT's page is not present in the nested tables
    expect(() => t.c.run(100)).not.toThrow();
    expect(t.c.stopReason).toBe(Stop.Halt);
    expect(t.r32(V.EXITCODE)).toBe(0x400);
    expect(t.r32(V.EXITINFO2)).toBe(0x9000 + 6 * 8);
    // the #UD being delivered: valid, type exception (3), vector 6
    expect(t.r32(V.EXITINTINFO)).toBe((0x80000000 | (3 << 8) | 6) >>> 0);
    expect(t.r32(V.RIP)).toBe(GUEST);
  });

  it('the same without the fault: the guest #UD handler runs', () => {
    const t = nptGuest([0x0f, 0x0b]);
    t.c.run(100);
    expect(t.r32(V.EXITCODE)).toBe(0x81);
    expect(t.r32(V.RIP)).toBe(0x5100);
  });

  it('an exception storm that retires nothing counts against the budget', () => {
    // 64-bit, flat: #UD's handler is itself a UD2, so every delivery ends in another #UD with
    // nothing retired (on an IST stack a real CPU loops
    // forever; the emulator must still end the run at the budget)
    const mem = new PhysMem(1 << 20);
    const c = new Cpu(mem);
    setFlatMode(c, 64);
    c.useArchitecturalDelivery();
    c.idtrBase = 0x9000;
    c.idtrLimit = 0xfff;
    // GDT with a 64-bit code segment at selector 8; 64-bit interrupt gate for #UD -> 0x5000
    mem.write32(0x7008, 0x0000ffff); mem.write32(0x700c, 0x00af9a00);
    c.gdtrBase = 0x7000;
    c.gdtrLimit = 0xf;
    mem.write32(0x9000 + 6 * 16, (8 << 16) | 0x5000);
    mem.write32(0x9004 + 6 * 16, 0x8e01); // IST 1: every delivery starts on the same stack
    c.segBase[7] = 0x6000; // TR: a 64-bit TSS with IST1 = 0x80000
    c.segLimit[7] = 0x67;
    c.segAttr[7] = 0x8b;
    mem.write32(0x6000 + 0x24, 0x80000);
    mem.load(0x5000, Uint8Array.from([0x0f, 0x0b]));
    c.rip = 0x5000;
    c.rl[4] = 0x70000;
    expect(c.run(1000)).toBe(Stop.Budget);
    expect(c.icount).toBe(0);
  });
});

describe('an exception storm on a whole machine', () => {
  it('ends at --max-insns with the instruction count unchanged', async () => {
    const { Machine } = await import('../src/machine/machine.js');
    const m = new Machine({ memSize: 4 * 1024 * 1024 });
    const c = m.cpu;
    setFlatMode(c, 64);
    c.useArchitecturalDelivery();
    m.mem.write32(0x7008, 0x0000ffff); m.mem.write32(0x700c, 0x00af9a00);
    c.gdtrBase = 0x7000; c.gdtrLimit = 0xf;
    c.idtrBase = 0x9000; c.idtrLimit = 0xfff;
    m.mem.write32(0x9000 + 6 * 16, (8 << 16) | 0x5000);
    m.mem.write32(0x9004 + 6 * 16, 0x8e01);
    c.segBase[7] = 0x6000; c.segLimit[7] = 0x67; c.segAttr[7] = 0x8b;
    m.mem.write32(0x6000 + 0x24, 0x80000);
    // two NOPs, then UD2 forever
    m.mem.load(0x4ffe, Uint8Array.from([0x90, 0x90, 0x0f, 0x0b]));
    c.rip = 0x4ffe;
    c.rl[4] = 0x70000;
    const r = m.run(5000);
    expect(r.reason).toBe(Stop.Budget);
    expect(r.icount).toBe(2);
    expect(c.stormCount).toBeGreaterThan(4000);
  });
});
