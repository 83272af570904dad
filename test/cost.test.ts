import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { getProfile, profileNames } from '../src/cost/profiles.js';
import { COST_CLASSES, MSR_CLASSES, type Cost } from '../src/cost/profile.js';

function run(code: number[], profile: string | null) {
  const mem = new PhysMem(1 << 20);
  mem.load(0x1000, Uint8Array.from(code));
  const c = new Cpu(mem);
  setFlatMode(c, 64);
  c.setCostProfile(profile === null ? null : getProfile(profile));
  c.rip = 0x1000;
  c.run(1000);
  return c;
}

// nop ; nop ; cpuid ; mov ecx, 0xc0000101 (GS_BASE) ; xor eax,eax ; xor edx,edx ; wrmsr ; rdtsc ; hlt
const CODE = [0x90, 0x90, 0x0f, 0xa2, 0xb9, 0x01, 0x01, 0x00, 0xc0, 0x31, 0xc0, 0x31, 0xd2, 0x0f, 0x30, 0x0f, 0x31, 0xf4];

describe('cycle model', () => {
  it('has one profile for Zen 2 and Zen 3 (zen2 is an alias), and the MSR constants marked as fitted', () => {
    expect(getProfile('zen2')).toEqual(getProfile('zen3'));
    expect(profileNames()).not.toContain('zen2');
    const p = getProfile('zen3');
    for (const c of [p.rdmsr.segBase, p.wrmsr.segBase, p.serializing]) expect(c.confidence).toBe('fitted');
    // VMLOAD does not cite the row derived from the held-out row 4
    expect(p.classes.vmload.source).toMatch(/^row 9/);
    // the contested serializing of WRMSR to the segment bases is drawn, not stated
    expect(p.segBaseSerializingP).toBe(0.5);
    expect(getProfile('zen4').segBaseSerializingP).toBe(0);
  });

  it('counts one cycle per instruction without a profile and with the unit profile', () => {
    expect(run(CODE, null).cycles).toBe(9);
    expect(run(CODE, 'unit').cycles).toBe(9);
  });

  it('charges explicit costs, the serializing penalty and WRMSR by MSR class', () => {
    const p = getProfile('zen3');
    const c = run(CODE, 'zen3');
    const base = p.base.cycles;
    const cpuid = p.classes.cpuid.cycles + p.serializing.cycles;
    const wrmsr = base + p.wrmsr.segBase.cycles + p.serializing.cycles; // serializing on Zen 3
    const expected = 2 * base + cpuid + 3 * base + wrmsr + p.classes.rdtsc.cycles + p.classes.hlt.cycles;
    expect(c.cycles).toBe(expected);
    // RDTSC read the cycle counter as it was before RDTSC's own cost
    expect(c.rl[0]).toBe(2 * base + cpuid + 3 * base + wrmsr);
  });

  it('makes WRMSR to GS_BASE non-serializing on Zen 4 (CPUID 8000_0021 EAX[1])', () => {
    const z3 = run(CODE, 'zen3').cycles;
    const z4 = run(CODE, 'zen4').cycles;
    expect(z3 - z4).toBe(getProfile('zen3').serializing.cycles);
  });

  it('gives every number a source and a confidence', () => {
    for (const name of profileNames()) {
      const p = getProfile(name);
      const all: Cost[] = [p.base, p.serializing, ...COST_CLASSES.map((k) => p.classes[k]),
        ...MSR_CLASSES.map((k) => p.rdmsr[k]), ...MSR_CLASSES.map((k) => p.wrmsr[k])];
      for (const c of all) {
        expect(c.source.length, name).toBeGreaterThan(5);
        expect(c.range.length, name).toBeGreaterThan(5);
        expect(Number.isFinite(c.cycles)).toBe(true);
        expect(c.low, `${name} ${c.source}`).toBeLessThanOrEqual(c.cycles);
        expect(c.high, `${name} ${c.source}`).toBeGreaterThanOrEqual(c.cycles);
        if (c.confidence === 'estimate') expect(c.source.startsWith('estimate:')).toBe(true);
        if (c.confidence === 'fitted') expect(c.source.startsWith('fitted:')).toBe(true);
      }
      expect(p.segBaseSerializingP).toBeGreaterThanOrEqual(0);
      expect(p.segBaseSerializingP).toBeLessThanOrEqual(1);
    }
  });
});
