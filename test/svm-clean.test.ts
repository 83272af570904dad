// VMCB clean bits (APM Vol. 2 15.15.3) as worldswitch implements them: the VMCB as the CPU left
// it at #VMEXIT is cached per VMCB address (when that VMRUN had clean bits set), and VMRUN of that VMCB takes each group whose clean
// bit is set from the cache, the rest from memory. The manual allows a CPU to reload clean
// groups anyway, so the guest kernels (guest/tests/svm_features.c) only check that dirty groups
// are reloaded; this test pins the caching itself.
import { describe, expect, it } from 'vitest';
import { Stop } from '../src/cpu/state.js';
import { V } from '../src/svm/vmcb.js';
import { GUEST, HOST, VMCB, svmSetup } from './svm-setup.js';

const CPUID_VMMCALL = [0x31, 0xc0, 0x0f, 0xa2, 0x0f, 0x01, 0xd9]; // xor eax, eax ; cpuid ; vmmcall
const CPUID_INTERCEPT = 1 << 18; // misc1 bit 18

describe('VMCB clean bits', () => {
  function again(s: ReturnType<typeof svmSetup>, clean: number): number {
    s.mem.write32(VMCB + V.RIP, GUEST);
    s.mem.write32(VMCB + V.CLEAN, clean);
    s.c.rip = HOST;
    s.c.svm.gif = true;
    s.c.halted = false;
    expect(s.c.run(1000)).toBe(Stop.Halt);
    return s.r32(V.EXITCODE);
  }

  it('uses the cached intercepts while their clean bit is set, and reloads them when it is clear', () => {
    const s = svmSetup(CPUID_VMMCALL);
    // the first run loads everything (nothing cached yet); its VMM uses clean bits, so #VMEXIT
    // caches the VMCB
    expect(again(s, -1)).toBe(0x81);
    const misc1 = s.mem.read32(VMCB + V.INTERCEPT_MISC1);
    s.mem.write32(VMCB + V.INTERCEPT_MISC1, misc1 | CPUID_INTERCEPT);
    // every group clean: the intercepts of the last run apply (no CPUID intercept)
    expect(again(s, -1)).toBe(0x81);
    // the intercept group (bit 0) dirty: CPUID exits
    expect(again(s, ~1)).toBe(0x72);
    // and stays cached from now on
    s.mem.write32(VMCB + V.INTERCEPT_MISC1, misc1);
    expect(again(s, -1)).toBe(0x72);
    // a run with no clean bits loads everything, and leaves nothing cached
    expect(again(s, 0)).toBe(0x81);
    expect(s.c.svm.cachePa).toBe(-1);
    s.mem.write32(VMCB + V.INTERCEPT_MISC1, misc1 | CPUID_INTERCEPT);
    expect(again(s, -1)).toBe(0x72);
  });

  it('loads a different VMCB (or one after VMEXIT_INVALID) whole whatever its clean bits', () => {
    const s = svmSetup(CPUID_VMMCALL);
    expect(again(s, -1)).toBe(0x81);
    expect(s.c.svm.cachePa).toBe(VMCB);
    s.mem.write32(VMCB + V.INTERCEPT_MISC1, s.mem.read32(VMCB + V.INTERCEPT_MISC1) | CPUID_INTERCEPT);
    s.c.svm.cachePa = -1; // as after another VMCB ran
    expect(again(s, -1)).toBe(0x72);
    // ASID 0 is a VMEXIT_INVALID, which drops the cache
    s.mem.write32(VMCB + V.ASID, 0);
    expect(again(s, ~(1 << 2))).toBe(0xffffffff); // the ASID group dirty
    expect(s.c.svm.cachePa).toBe(-1);
  });
});
