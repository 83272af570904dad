/**
 * Robustness: random byte streams run as code, in 16-, 32- and 64-bit modes with random
 * registers and an instruction budget. Every run must end in an architectural exception or
 * the budget (or HLT), never a JavaScript exception or a hang.
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { Stop } from '../src/cpu/state.js';

const RUNS = Number(process.env.WS_FUZZ_RUNS ?? 100_000);
const SEED = Number(process.env.WS_FUZZ_SEED ?? 0x5eed);
const BUDGET = 64;

function xorshift(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

describe('fuzz: random code', () => {
  it(`runs ${RUNS} random byte streams without a JavaScript exception`, () => {
    const rnd = xorshift(SEED);
    const mem = new PhysMem(1 << 16);
    const cpu = new Cpu(mem);
    const code = new Uint8Array(48);
    const outcomes = new Map<string, number>();
    const modes = [16, 32, 64] as const;
    for (let run = 0; run < RUNS; run++) {
      mem.u8.fill(0);
      for (let k = 0; k < code.length; k++) code[k] = rnd() & 0xff;
      mem.load(0x8000, code);
      setFlatMode(cpu, modes[run % 3]);
      for (let r = 0; r < 16; r++) {
        // mostly small values that point into RAM, sometimes anything
        const v = rnd();
        cpu.rl[r] = (v & 7) === 0 ? rnd() | 0 : v & 0xfff0;
        cpu.rh[r] = (v & 0x70) === 0 ? rnd() | 0 : 0;
      }
      cpu.rl[4] = 0xf000; cpu.rh[4] = 0;
      cpu.flags = 0x2 | (rnd() & 0x8d5);
      cpu.lazySize = 0;
      cpu.rip = 0x8000;
      let stop: Stop;
      try {
        stop = cpu.run(BUDGET);
      } catch (e) {
        const hex = Array.from(code, (b) => b.toString(16).padStart(2, '0')).join(' ');
        throw new Error(`run ${run} (${modes[run % 3]}-bit) threw ${String(e)} on code ${hex}`);
      }
      expect([Stop.Exception, Stop.Budget, Stop.Halt, Stop.Shutdown]).toContain(stop);
      const v = cpu.lastFault.vector;
      const key = stop === Stop.Exception ? (v < 32 ? `#${v}` : 'INT n>=32') : Stop[stop] ?? String(stop);
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    const summary = [...outcomes.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}:${n}`).join(' ');
    console.log(`fuzz: ${RUNS} runs, outcomes ${summary}`);
  }, 300_000);
});
