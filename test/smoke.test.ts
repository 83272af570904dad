import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { Stop } from '../src/cpu/state.js';

function run64(code: number[], budget = 1000) {
  const mem = new PhysMem(1 << 20);
  mem.load(0x1000, Uint8Array.from(code));
  const c = new Cpu(mem);
  setFlatMode(c, 64);
  c.rip = 0x1000;
  const stop = c.run(budget);
  return { c, stop };
}

describe('core smoke', () => {
  it('counts down a loop', () => {
    // mov ecx, 10 ; xor eax,eax ; l: add eax, ecx ; dec ecx ; jnz l ; ud2
    const { c, stop } = run64([0xb9, 10, 0, 0, 0, 0x31, 0xc0, 0x01, 0xc8, 0xff, 0xc9, 0x75, 0xfa, 0x0f, 0x0b]);
    expect(stop).toBe(Stop.Exception);
    expect(c.lastFault.vector).toBe(6);
    expect(c.rl[0]).toBe(55);
    expect(c.icount).toBe(2 + 30);
  });
});
