import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { Acc } from '../src/cpu/mmu.js';
import { FAULT } from '../src/cpu/fault.js';
import { Cr0, Efer } from '../src/cpu/state.js';
import { writeCr0, writeCr3, writeCr4 } from '../src/cpu/exec/ctrl.js';

/** long-mode tables: PML4 at 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000 */
function longModeCpu() {
  const mem = new PhysMem(1 << 24);
  const c = new Cpu(mem);
  setFlatMode(c, 32);
  const w64 = (a: number, lo: number, hi = 0) => { mem.write32(a, lo); mem.write32(a + 4, hi); };
  w64(0x1000, 0x2000 | 7);
  w64(0x2000, 0x3000 | 7);
  w64(0x3000, 0x4000 | 7); // 0..2M through a page table
  w64(0x3008, 0x200000 | 0x83); // 2M..4M: a 2 MiB page, supervisor, writable
  for (let k = 0; k < 512; k++) w64(0x4000 + k * 8, (k * 4096) | 7);
  w64(0x4000 + 0x10 * 8, 0x10000 | 5); // page 0x10: user, read-only
  w64(0x4000 + 0x11 * 8, 0x11000 | 7, 0x80000000 | 0); // page 0x11: NX
  w64(0x4000 + 0x12 * 8, 0); // page 0x12: not present
  w64(0x4000 + 0x13 * 8, 0x13000 | 7, 0x00010000); // reserved physical bit 48
  writeCr4(c, 0x20, 0);
  c.efer = Efer.LME | Efer.NXE;
  writeCr3(c, 0x1000, 0);
  writeCr0(c, c.cr0 | Cr0.PG | Cr0.WP, 0);
  return { c, mem };
}

function pf(fn: () => void): { code: number; addr: number } | null {
  try { fn(); } catch (e) {
    if (e !== FAULT) throw e;
    return { code: FAULT.errorCode, addr: FAULT.address };
  }
  return null;
}

describe('paging', () => {
  it('activates long mode and translates 4 KiB and 2 MiB pages', () => {
    const { c } = longModeCpu();
    expect(c.efer & Efer.LMA).toBeTruthy();
    expect(c.paging.translate(0x5123, Acc.Read, false)).toBe(0x5123);
    expect(c.paging.translate(0x234567, Acc.Write, false)).toBe(0x234567);
  });

  it('sets A and D bits', () => {
    const { c, mem } = longModeCpu();
    c.paging.translate(0x7000, Acc.Read, false);
    expect(mem.read32(0x4000 + 7 * 8) & 0x60).toBe(0x20);
    c.paging.translate(0x7000, Acc.Write, false);
    expect(mem.read32(0x4000 + 7 * 8) & 0x60).toBe(0x60);
    expect(mem.read32(0x1000) & 0x20).toBe(0x20);
  });

  it('reports #PF error codes', () => {
    const { c } = longModeCpu();
    expect(pf(() => c.paging.translate(0x12000, Acc.Read, false))).toEqual({ code: 0, addr: 0x12000 });
    expect(pf(() => c.paging.translate(0x12004, Acc.Write, true))).toEqual({ code: 6, addr: 0x12004 });
    // read-only page: write at CPL 0 with WP=1 faults, user write faults with U
    expect(pf(() => c.paging.translate(0x10000, Acc.Write, false))).toEqual({ code: 3, addr: 0x10000 });
    expect(pf(() => c.paging.translate(0x10000, Acc.Write, true))).toEqual({ code: 7, addr: 0x10000 });
    // supervisor-only 2 MiB page from user mode
    expect(pf(() => c.paging.translate(0x200000, Acc.Read, true))).toEqual({ code: 5, addr: 0x200000 });
    // NX fetch
    expect(pf(() => c.paging.translate(0x11000, Acc.Exec, false))).toEqual({ code: 0x11, addr: 0x11000 });
    // reserved bit
    expect(pf(() => c.paging.translate(0x13000, Acc.Read, false))).toEqual({ code: 9, addr: 0x13000 });
  });

  it('lets CPL 0 write read-only pages when CR0.WP = 0', () => {
    const { c } = longModeCpu();
    writeCr0(c, c.cr0 & ~Cr0.WP, 0);
    expect(c.paging.translate(0x10000, Acc.Write, false)).toBe(0x10000);
  });

  it('INVLPG drops a stale translation', () => {
    const { c, mem } = longModeCpu();
    expect(c.paging.translate(0x8000, Acc.Read, false)).toBe(0x8000);
    mem.write32(0x4000 + 8 * 8, 0x9000 | 7);
    expect(c.paging.translate(0x8000, Acc.Read, false)).toBe(0x8000);
    c.paging.invlpg(0x8000);
    expect(c.paging.translate(0x8000, Acc.Read, false)).toBe(0x9000);
  });
});
