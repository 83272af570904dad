/**
 * The whole-machine fuzzer on a small seed set (`npm run fuzz` runs 100,000): every stream in
 * every mode (64-bit, compatibility, 32-bit protected with and without paging, real mode, SVM
 * guests from random VMCBs) ends architecturally, and the same seed gives the same run.
 */
import { describe, expect, it } from 'vitest';
import { FUZZ_MODES, MachineFuzzer, fuzzMachine } from '../src/lab/machine-fuzz.js';

const STREAMS = Number(process.env.WS_MFUZZ_STREAMS ?? 600);

describe('whole-machine fuzz', () => {
  it(`${STREAMS} streams: no JavaScript exception, no hang, every mode reached`, () => {
    const sum = fuzzMachine(1, STREAMS, 3000, 5000);
    const lines = [...sum.outcomes.entries()].sort().map(([k, n]) => `${k} ${n}`);
    console.log(`machine fuzz: ${sum.streams} streams, ${sum.instructions} instructions, ${(sum.ms / 1000).toFixed(1)} s\n  ${lines.join('\n  ')}`);
    expect(sum.errors.map((e) => `seed ${e.seed} (${e.mode}): ${e.error}`)).toEqual([]);
    expect(sum.hangs.map((e) => e.seed)).toEqual([]);
    for (const mode of FUZZ_MODES) expect([...sum.outcomes.keys()].some((k) => k.startsWith(mode))).toBe(true);
    // SVM streams do enter their guests
    expect([...sum.outcomes.keys()].some((k) => k.includes('(in guest)'))).toBe(true);
  }, 300_000);

  it('is deterministic: a seed replays to the same outcome and instruction count', () => {
    const a = new MachineFuzzer();
    const b = new MachineFuzzer();
    for (let s = 1000; s < 1040; s++) {
      const x = a.stream(s);
      const y = b.stream(s);
      const z = a.stream(s);
      expect([y.outcome, y.icount]).toEqual([x.outcome, x.icount]);
      expect([z.outcome, z.icount]).toEqual([x.outcome, x.icount]);
    }
  });
});
