/**
 * AMD family 17h MSRs (src/cpu/msr-amd.ts), the core performance counters, DebugCtl, last-branch
 * recording and BTF (src/cpu/pmu.ts), and APIC_BASE relocation and global disable, on a bare
 * 64-bit core or machine. Code is assembled with GNU as (test/machine-asm.ts).
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { Machine } from '../src/machine/machine.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { updateMode } from '../src/cpu/mode.js';
import { Fl, Stop, Vec } from '../src/cpu/state.js';
import { MSRS, msrRead, msrWrite } from '../src/cpu/msr.js';
import { readPmc } from '../src/cpu/pmu.js';
import { cpuidLeaf } from '../src/cpu/cpuid.js';
import { ApicReg, APIC_VERSION } from '../src/machine/lapic.js';
import { buildElf, haveBinutils } from './machine-asm.js';
import { V } from '../src/svm/vmcb.js';

const AT = 0x200000;
const EN = 1 << 22;
const OS = 1 << 17;
const USR = 1 << 16;
const INT = 1 << 20;
const TWO32 = 2 ** 32;
const TWO48 = 2 ** 48;

function asm(body: string): Uint8Array {
  return buildElf(`.intel_syntax noprefix\n.code64\n.text\n.globl _start\n_start:\n${body}\n`, 64, ['-Ttext=0x200000', '-e', '_start'], undefined, true);
}

function core(body: string): Cpu {
  const c = new Cpu(new PhysMem(4 << 20));
  setFlatMode(c, 64);
  c.mem.load(AT, asm(body));
  c.rip = AT;
  c.rl[4] = 0x100000;
  return c;
}

/** RDMSR as the instruction does it, or the #GP vector */
function rd(c: Cpu, msr: number): number | [number, number] {
  try {
    const lo = msrRead(c, msr);
    return [lo >>> 0, c.xh >>> 0];
  } catch {
    return Vec.GP;
  }
}

function wr(c: Cpu, msr: number, lo: number, hi = 0): number {
  try {
    msrWrite(c, msr, lo, hi);
    return -1;
  } catch {
    return Vec.GP;
  }
}

const bare = () => { const c = new Cpu(new PhysMem(1 << 20)); setFlatMode(c, 64); return c; };

describe('the MSR table', () => {
  it('has every MSR once, and the AMD ones Linux touches at boot', () => {
    const have = new Set(MSRS.map((d) => d.index));
    expect(have.size).toBe(MSRS.length);
    for (const m of [0x8b, 0xfe, 0x179, 0x17a, 0x1d9, 0x1db, 0x1dc, 0x1dd, 0x1de, 0x200, 0x20f, 0x250, 0x26f, 0x2ff,
      0xc0010000, 0xc0010007, 0xc0010010, 0xc0010015, 0xc0010016, 0xc0010019, 0xc001001a, 0xc001001d, 0xc001001f,
      0xc0010111, 0xc0010112, 0xc0010113, 0xc0010114, 0xc0010140, 0xc0010141, 0xc0010200, 0xc001020b,
      0xc0011020, 0xc0011021, 0xc0011022, 0xc0011029, 0xc001102a]) {
      expect(have.has(m), m.toString(16)).toBe(true);
    }
  });

  it('keeps #GP for MSRs AMD parts do not have, or CPUID does not advertise', () => {
    const c = bare();
    // IA32_FEATURE_CONTROL, SPEC_CTRL, PRED_CMD, MISC_ENABLE, MCG_CTL, MC0_CTL, PERF_CTL6, PATCH_LOADER, VIRT_SPEC_CTRL
    for (const m of [0x3a, 0x48, 0x49, 0x1a0, 0x17b, 0x400, 0xc001020c, 0xc0010020, 0xc001011f, 0x1da, 0x210]) {
      expect(rd(c, m), m.toString(16)).toBe(Vec.GP);
      expect(wr(c, m, 0), m.toString(16)).toBe(Vec.GP);
    }
  });

  it('reads the reset values', () => {
    const c = bare();
    expect(rd(c, 0xfe)).toEqual([0x508, 0]);
    expect(rd(c, 0x8b)).toEqual([0x0830107a, 0]);
    expect(rd(c, 0x179)).toEqual([0, 0]);
    expect(rd(c, 0xc0010015)).toEqual([0x01000010, 0]); // HWCR: TscFreqSel, INVDWBINVD
    expect(rd(c, 0xc0010010)).toEqual([0x740000, 0]); // SYSCFG
    expect(rd(c, 0xc001001a)).toEqual([0x800000, 0]); // TOP_MEM: 1 MiB of RAM, 8 MiB granules
    expect(rd(c, 0xc0011029)).toEqual([2, 0]); // DE_CFG: LFENCE serializing
    expect(rd(c, 0xc0010140)).toEqual([4, 0]);
    expect(rd(c, 0xc0010141)).toEqual([0, 0]);
    expect(rd(c, 0xc0010111)).toEqual([0x30000, 0]);
    for (let k = 0; k < 12; k++) expect(rd(c, 0xc0010200 + k)).toEqual([0, 0]);
  });

  it('checks reserved bits and read-only registers', () => {
    const c = bare();
    expect(wr(c, 0x8b, 0)).toBe(Vec.GP);
    expect(wr(c, 0xfe, 0)).toBe(Vec.GP);
    expect(wr(c, 0x179, 0)).toBe(Vec.GP);
    expect(wr(c, 0x1db, 0)).toBe(Vec.GP);
    expect(wr(c, 0x1d9, 4)).toBe(Vec.GP);
    expect(wr(c, 0x1d9, 0, 1)).toBe(Vec.GP);
    expect(wr(c, 0x1d9, 3)).toBe(-1);
    expect(rd(c, 0x1d9)).toEqual([3, 0]);
    expect(wr(c, 0x200, 2)).toBe(Vec.GP); // type 2 reserved
    expect(wr(c, 0x200, 0x12345006)).toBe(-1);
    expect(rd(c, 0x200)).toEqual([0x12345006, 0]);
    expect(wr(c, 0x201, 0x800 | 1)).toBe(Vec.GP);
    expect(wr(c, 0x201, 0xfff00800, 0xf)).toBe(-1);
    expect(wr(c, 0x201, 0, 1 << 20)).toBe(Vec.GP); // beyond MAXPHYADDR
    expect(wr(c, 0x250, 0x06060606, 0x07060606)).toBe(Vec.GP);
    expect(wr(c, 0x250, 0x06060606, 0x05040100)).toBe(-1);
    expect(wr(c, 0xc0010010, 1)).toBe(Vec.GP);
    expect(wr(c, 0xc0010010, 0x40000)).toBe(-1);
    expect(wr(c, 0xc001001a, 0x1000)).toBe(Vec.GP);
    expect(wr(c, 0xc001001d, 0, 1)).toBe(-1);
    expect(rd(c, 0xc001001d)).toEqual([0, 1]);
    // HWCR: TscFreqSel stays 1, undocumented bits ignored, SMMLOCK locks the SMM registers
    expect(wr(c, 0xc0010015, 0x80000000 | 1 << 18)).toBe(-1);
    expect(rd(c, 0xc0010015)).toEqual([(1 << 24) | (1 << 18), 0]);
    expect(wr(c, 0xc0010112, 0x20000)).toBe(-1);
    expect(wr(c, 0xc0010112, 0x1000)).toBe(Vec.GP);
    expect(wr(c, 0xc0010015, 1)).toBe(-1);
    expect(wr(c, 0xc0010112, 0x40000)).toBe(Vec.GP);
    expect(wr(c, 0xc0010015, 0)).toBe(-1);
    expect(rd(c, 0xc0010015)).toEqual([(1 << 24) | 1, 0]);
    // the configuration MSRs hold 64 bits
    expect(wr(c, 0xc0011020, 1 << 10, 0x80000000)).toBe(-1);
    expect(rd(c, 0xc0011020)).toEqual([1 << 10, 0x80000000]);
    // PerfEvtSel: reserved bits (63:42, 39:36, 21, 19) read as zero; counters keep 48 bits
    expect(wr(c, 0xc0010000, 0xffffffff, 0xffffffff)).toBe(-1);
    expect(rd(c, 0xc0010000)).toEqual([0xffd7ffff, 0x30f]);
    expect(rd(c, 0xc0010200)).toEqual([0xffd7ffff, 0x30f]); // the legacy MSR aliases PERF_CTL0
    expect(wr(c, 0xc0010000, 0)).toBe(-1);
    expect(wr(c, 0xc0010207, 0x12345678, 0xffff9abc)).toBe(-1);
    expect(rd(c, 0xc0010207)).toEqual([0x12345678, 0x9abc]);
    expect(rd(c, 0xc0010007)).toEqual([0x12345678, 0x9abc]);
  });

  it('CPUID advertises PerfCtrExtCore, OSVW and MTRR', () => {
    const c = bare();
    const o = new Int32Array(4);
    cpuidLeaf(c, 0x80000001, 0, o);
    expect((o[2] >>> 23) & 1).toBe(1);
    expect((o[2] >>> 9) & 1).toBe(1);
    cpuidLeaf(c, 1, 0, o);
    expect((o[3] >>> 12) & 1).toBe(1);
  });
});

describe.skipIf(!haveBinutils)('performance counters', () => {
  it('count retired instructions exactly, the enabling WRMSR included, RDPMC excluded', () => {
    const c = core(`
      mov ecx, 0xc0010200
      mov eax, ${EN | OS | USR | 0xc0}
      xor edx, edx
      wrmsr
      nop
      nop
      nop
      nop
      nop
      xor ecx, ecx
      rdpmc
      mov ecx, 0xc0010201
      rdmsr`);
    expect(c.run(4 + 5 + 2)).toBe(Stop.Budget);
    expect([c.rl[0], c.rl[2]]).toEqual([7, 0]);
    expect(c.run(2)).toBe(Stop.Budget);
    expect(c.rl[0]).toBe(9);
  });

  it('filter by USR and OS, attributing to the CPL an instruction leaves', () => {
    const c = core('nop\n'.repeat(40));
    msrWrite(c, 0xc0010200, EN | OS | 0xc0, 0); // PERF_CTL0: OS only
    msrWrite(c, 0xc0010202, EN | USR | 0xc0, 0); // PERF_CTL1: USR only
    msrWrite(c, 0xc0010204, EN | 0xc0, 0); // PERF_CTL2: neither: counts nothing
    c.run(3);
    c.cpl = 3;
    updateMode(c);
    c.run(5);
    c.cpl = 0;
    updateMode(c);
    c.run(2);
    expect([readPmc(c, 0), readPmc(c, 1), readPmc(c, 2)]).toEqual([5, 5, 0]);
  });

  it('count branches and taken branches (C2h, C4h), LOOP and JrCXZ included', () => {
    const c = core(`
      mov ecx, 5
    1: dec ecx
      jnz 1b
      mov ecx, 3
    2: loop 2b
      jrcxz 3f
    3: jmp 4f
    4: nop`);
    msrWrite(c, 0xc0010200, EN | OS | 0xc2, 0);
    msrWrite(c, 0xc0010202, EN | OS | 0xc4, 0);
    expect(c.run(1 + 10 + 1 + 3 + 1 + 1 + 1)).toBe(Stop.Budget);
    // jnz 5 (4 taken), loop 3 (2 taken), jrcxz 1 (taken: rcx = 0), jmp 1
    expect([readPmc(c, 0), readPmc(c, 1)]).toEqual([10, 8]);
    // disabling them removes the branch wrappers again
    msrWrite(c, 0xc0010200, 0, 0);
    msrWrite(c, 0xc0010202, 0, 0);
    expect(c.perf.watchBranches).toBe(false);
  });

  it('counts cycles not halted (76h) from the cycle counter', () => {
    const c = core('nop\n'.repeat(20));
    msrWrite(c, 0xc0010200, EN | OS | 0x76, 0);
    c.run(10);
    expect(readPmc(c, 0)).toBe(10);
  });

  it('HostOnly / GuestOnly count nothing with EFER.SVME clear', () => {
    const c = core('nop\n'.repeat(20));
    msrWrite(c, 0xc0010200, EN | OS | 0xc0, 2 << 8); // HostOnly
    c.run(4);
    expect(readPmc(c, 0)).toBe(0);
    c.efer |= 0x1000;
    updateMode(c);
    c.run(4);
    expect(readPmc(c, 0)).toBe(4);
  });

  it('a 48-bit counter wraps and signals an NMI through LVTPC at the overflowing instruction', () => {
    const m = new Machine({ memSize: 4 << 20, architecturalDelivery: false });
    const c = m.cpu;
    c.mem.load(AT, asm('nop\n'.repeat(200)));
    setFlatMode(c, 64);
    c.rip = AT;
    c.nmiBlocked = true; // keep the NMI pending so that the test can see it
    m.lapic.writeReg(ApicReg.Svr, 0x1ff);
    m.lapic.writeReg(ApicReg.LvtPerf, 0x400); // NMI, unmasked
    msrWrite(c, 0xc0010201, (TWO48 - 50) % TWO32, Math.floor((TWO48 - 50) / TWO32));
    msrWrite(c, 0xc0010200, EN | OS | INT | 0xc0, 0);
    m.run(49);
    expect(c.nmiPending).toBe(false);
    m.run(1);
    expect(c.nmiPending).toBe(true);
    expect(readPmc(c, 0)).toBe(0);
    // AMD does not set the LVTPC mask bit on delivery
    expect(m.lapic.readReg(ApicReg.LvtPerf)).toBe(0x400);
  });
});

describe.skipIf(!haveBinutils)('debug extensions', () => {
  it('LBR records the last taken branch; BTF steps only on control transfers', () => {
    const c = core(`
      jmp 1f
      nop
    1: mov ecx, 2
    2: dec ecx
      jnz 2b
      nop
      nop
      jmp 3f
    3: nop
      nop`);
    msrWrite(c, 0x1d9, 1, 0);
    c.run(5);
    // the last taken branch: jnz (at _start + 10) back to the dec
    expect([msrRead(c, 0x1db), msrRead(c, 0x1dc)]).toEqual([AT + 10, AT + 8]);
    // BTF: with TF, the next #DB comes after the JMP, not after the NOPs (bare core: it stops)
    msrWrite(c, 0x1d9, 3, 0);
    c.flags |= Fl.TF;
    expect(c.run(100)).toBe(Stop.Exception);
    expect(c.lastFault.vector).toBe(Vec.DB);
    expect(c.rip).toBe(AT + 16);
    expect([msrRead(c, 0x1db), msrRead(c, 0x1dc)]).toEqual([AT + 14, AT + 16]);
  });
});

describe('APIC_BASE', () => {
  it('moves the register window, and global disable removes it until AE is set again (reset)', () => {
    const m = new Machine({ memSize: 4 << 20, architecturalDelivery: false });
    const c = m.cpu;
    m.lapic.writeReg(ApicReg.Svr, 0x1ff);
    expect(m.mem.read32(0xfee00030)).toBe(APIC_VERSION | 0);
    msrWrite(c, 0x1b, 0xfed00900, 0);
    expect(m.mem.read32(0xfed00030)).toBe(APIC_VERSION | 0);
    expect(m.mem.read32(0xfee00030)).toBe(-1);
    // reserved bits: #GP
    expect(wr(c, 0x1b, 0xfed00901)).toBe(Vec.GP);
    expect(wr(c, 0x1b, 0xfed00d00)).toBe(Vec.GP);
    // global disable: no window, CPUID APIC clear, no interrupts
    msrWrite(c, 0x1b, 0xfee00100, 0);
    expect(m.mem.read32(0xfee00030)).toBe(-1);
    const o = new Int32Array(4);
    cpuidLeaf(c, 1, 0, o);
    expect((o[3] >>> 9) & 1).toBe(0);
    m.lapic.accept(0x40, false);
    expect(m.lapic.hasInterrupt()).toBe(false);
    // enabled again: back at its reset state (SVR FFh, software-disabled)
    msrWrite(c, 0x1b, 0xfee00900, 0);
    expect(m.mem.read32(0xfee000f0)).toBe(0xff);
    expect(m.mem.read32(0xfee00340)).toBe(0x10000);
  });

  it('a software-disabled APIC answers register reads, forces LVT masks and drops fixed interrupts', () => {
    const m = new Machine({ memSize: 4 << 20, architecturalDelivery: false });
    m.lapic.writeReg(ApicReg.Svr, 0xff);
    expect(m.mem.read32(0xfee00030)).toBe(APIC_VERSION | 0);
    m.mem.write32(0xfee00340, 0x400);
    expect(m.mem.read32(0xfee00340)).toBe(0x10400);
    m.lapic.accept(0x40, false);
    expect(m.lapic.hasInterrupt()).toBe(false);
  });
});

describe('SVM MSR intercepts', () => {
  // a 64-bit host runs a 32-bit flat guest that executes RDMSR or WRMSR on one MSR
  const HOST = 0x1000, HSAVE = 0x3000, VMCB = 0x4000, GUEST = 0x5000, MSRPM = 0x8000;
  /** host: mov rax, VMCB ; vmrun ; hlt -- guest: `code` (32-bit flat) */
  function svmGuest(code: number[]): { c: Cpu; mem: PhysMem } {
    const mem = new PhysMem(1 << 20);
    const c = new Cpu(mem);
    setFlatMode(c, 64);
    c.efer |= 0x1000;
    c.vmHsavePa = HSAVE;
    mem.load(HOST, Uint8Array.from([0x48, 0xc7, 0xc0, VMCB & 0xff, VMCB >> 8, 0, 0, 0x0f, 0x01, 0xd8, 0xf4]));
    mem.load(GUEST, Uint8Array.from(code));
    const w32 = (o: number, v: number) => mem.write32(VMCB + o, v);
    w32(V.INTERCEPT_MISC2, 0x3); // VMRUN, VMMCALL
    w32(V.INTERCEPT_MISC1, 1 << 28); // MSR_PROT
    w32(V.ASID, 1);
    w32(V.MSRPM_BASE_PA, MSRPM);
    w32(V.IOPM_BASE_PA, 0xa000);
    const seg = (o: number, sel: number, attr: number) => { w32(o, sel | (attr << 16)); w32(o + 4, 0xffffffff); w32(o + 8, 0); w32(o + 12, 0); };
    seg(V.CS, 0x08, 0xc9b);
    for (const o of [V.SS, V.DS, V.ES]) seg(o, 0x10, 0xc93);
    w32(V.CR0, 0x11);
    w32(V.EFER, 0x1000);
    w32(V.RFLAGS, 0x2);
    w32(V.RIP, GUEST);
    w32(V.RSP, 0x7000);
    w32(V.GDTR + 4, 0x17);
    w32(V.IDTR + 4, 0x3ff);
    c.rip = HOST;
    return { c, mem };
  }

  function guestMsr(msr: number, write: boolean, intercept: boolean): { exit: number; info1: number } {
    // mov ecx, msr ; rdmsr / wrmsr ; vmmcall
    const { c, mem } = svmGuest([0xb9, msr & 0xff, (msr >>> 8) & 0xff, (msr >>> 16) & 0xff, msr >>> 24, 0x0f, write ? 0x30 : 0x32, 0x0f, 0x01, 0xd9]);
    if (intercept) {
      const base = msr <= 0x1fff ? 0 : msr >= 0xc0010000 ? 0x1000 : 0x800;
      const bit = (msr & 0x1fff) * 2 + (write ? 1 : 0);
      mem.u8[MSRPM + base + (bit >> 3)] |= 1 << (bit & 7);
    }
    c.run(100);
    return { exit: mem.read32(VMCB + V.EXITCODE) >>> 0, info1: mem.read32(VMCB + V.EXITINFO1) >>> 0 };
  }

  it('the MSR permission map intercepts every MSR of the table, reads and writes', () => {
    for (const d of MSRS) {
      for (const write of [false, true]) {
        const r = guestMsr(d.index, write, true);
        expect([d.name, write, r.exit, r.info1]).toEqual([d.name, write, 0x7c, write ? 1 : 0]);
      }
    }
    // without the bit the guest reads the MSR itself (and reaches VMMCALL)
    expect(guestMsr(0xc0010015, false, false).exit).toBe(0x81);
    expect(guestMsr(0xc0010200, false, false).exit).toBe(0x81);
  });

  it('HostOnly and GuestOnly counters split the instructions at VMRUN and #VMEXIT', () => {
    // guest: nop ; nop ; nop ; vmmcall (intercepted: it exits and does not retire)
    const { c } = svmGuest([0x90, 0x90, 0x90, 0x0f, 0x01, 0xd9]);
    msrWrite(c, 0xc0010200, EN | OS | 0xc0, 1 << 8); // GuestOnly
    msrWrite(c, 0xc0010202, EN | OS | 0xc0, 2 << 8); // HostOnly
    msrWrite(c, 0xc0010204, EN | OS | 0xc0, 3 << 8); // both
    expect(c.run(100)).toBe(Stop.Halt);
    // host: mov rax (1); VMRUN retires in the guest (it leaves the processor there); the three
    // NOPs; after the #VMEXIT, HLT in the host
    expect([readPmc(c, 0), readPmc(c, 1), readPmc(c, 2)]).toEqual([4, 2, 6]);
  });
});
