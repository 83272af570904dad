// The world switch reads and writes the VMCB and the host save area as words of RAM when their
// pages are plain RAM (vmcbio.ts ramWords), and through PhysMem's checked accessors on a copy
// otherwise (a page that also holds decoded code, MMIO, beyond RAM). Both paths must give the
// same machine: same exit, same VMCB bytes, same host state.
import { describe, expect, it } from 'vitest';
import { Stop } from '../src/cpu/state.js';
import { V } from '../src/svm/vmcb.js';
import { HSAVE, VMCB, svmSetup } from './svm-setup.js';

// mov eax, 0x1234 ; mov esp, 0x6ff0 ; stc ; cpuid (intercepted) ; vmmcall
const GUEST = [0xb8, 0x34, 0x12, 0, 0, 0xbc, 0xf0, 0x6f, 0, 0, 0xf9, 0x0f, 0xa2, 0x0f, 0x01, 0xd9];

function run(slowPages: number[]) {
  const s = svmSetup(GUEST);
  s.mem.write32(VMCB + V.INTERCEPT_MISC1, 1 << 18); // CPUID
  s.mem.write32(VMCB + V.CLEAN, 0);
  // a page flagged as holding decoded code is not plain RAM for the world switch
  for (const p of slowPages) s.mem.codePage[p >>> 12] = 1;
  expect(s.c.run(1000)).toBe(Stop.Halt);
  for (const p of slowPages) s.mem.codePage[p >>> 12] = 0;
  const vmcb = Array.from({ length: 1024 }, (_, j) => s.mem.read32(VMCB + 4 * j));
  const hsave = Array.from({ length: 1024 }, (_, j) => s.mem.read32(HSAVE + 4 * j));
  const c = s.c;
  return { vmcb, hsave, cpu: [c.rip, c.rl[0], c.rl[4], c.cr0, c.cr3, c.cr4, c.efer, c.flags, ...c.segSel, ...c.segBase, ...c.segAttr, c.gdtrBase, c.idtrBase] };
}

describe('VMCB access paths', () => {
  it('gives the same exit, VMCB, save area and host state through RAM words and through copies', () => {
    const fast = run([]);
    expect(fast.vmcb[V.EXITCODE >> 2] >>> 0).toBe(0x72);
    for (const pages of [[VMCB], [HSAVE], [VMCB, HSAVE]]) {
      const slow = run(pages);
      expect(slow.vmcb).toEqual(fast.vmcb);
      expect(slow.hsave).toEqual(fast.hsave);
      expect(slow.cpu).toEqual(fast.cpu);
    }
  });
});
