/**
 * Robustness of the SVM layer: VMRUN on random VMCBs (random controls and guest state, some
 * runs starting from a valid VMCB with random fields overwritten) with random guest code. Every
 * run must end in a #VMEXIT back to the host, an exception, a shutdown or the budget — never a
 * JavaScript exception.
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { Efer, Stop } from '../src/cpu/state.js';
import { V, VMCB_FIELDS } from '../src/svm/vmcb.js';

const RUNS = Number(process.env.WS_SVM_FUZZ_RUNS ?? 5000);
const VMCB = 0x4000;

function xorshift(seed: number) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

describe('SVM fuzz', () => {
  it(`runs ${RUNS} random VMCBs without a JavaScript exception`, () => {
    const rnd = xorshift(0x5a5a);
    const mem = new PhysMem(1 << 20);
    const c = new Cpu(mem);
    const outcomes = new Map<string, number>();
    for (let run = 0; run < RUNS; run++) {
      mem.u8.fill(0);
      setFlatMode(c, 64);
      c.efer |= Efer.SVME;
      c.vmHsavePa = 0x3000;
      c.svm.gif = true;
      // host: mov rax, VMCB ; vmrun ; hlt
      mem.load(0x1000, Uint8Array.from([0x48, 0xc7, 0xc0, 0x00, 0x40, 0, 0, 0x0f, 0x01, 0xd8, 0xf4]));
      const w = (o: number, v: number) => mem.write32(VMCB + o, v);
      if (run % 2 === 0) {
        // a valid 32-bit guest, then a few random fields
        w(V.INTERCEPT_MISC2, 3); w(V.ASID, 1);
        const seg = (o: number, sel: number, attr: number) => { w(o, sel | (attr << 16)); w(o + 4, 0xffffffff); };
        seg(V.CS, 8, 0xc9b); for (const o of [V.SS, V.DS, V.ES]) seg(o, 0x10, 0xc93);
        w(V.CR0, 0x11); w(V.EFER, Efer.SVME); w(V.RFLAGS, 2); w(V.RIP, 0x5000); w(V.RSP, 0x7000);
        for (let k = 0; k < 4; k++) {
          const f = VMCB_FIELDS[rnd() % VMCB_FIELDS.length];
          for (let b = 0; b < Math.min(f.size, 16); b += 4) w(f.offset + b, rnd() | 0);
        }
      } else {
        for (let k = 0; k < 0x1000; k += 4) w(k, rnd() | 0);
        w(V.RIP, 0x5000); w(V.RIP + 4, 0);
      }
      for (let k = 0; k < 64; k++) mem.u8[0x5000 + k] = rnd() & 0xff;
      c.rip = 0x1000;
      let stop: Stop;
      try {
        stop = c.run(300);
      } catch (e) {
        throw new Error(`run ${run} threw ${String(e)}`);
      }
      expect([Stop.Exception, Stop.Budget, Stop.Halt, Stop.Shutdown]).toContain(stop);
      const key = (c.guestMode ? `guest:${Stop[stop]}` : `host:${Stop[stop]}`) + (stop === Stop.Exception ? `#${c.lastFault.vector}` : "");
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    console.log(`svm fuzz: ${RUNS} runs, ${[...outcomes].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  }, 120_000);
});
