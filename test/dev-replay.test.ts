/**
 * The PC devices are deterministic and snapshotted: the pcdev kernel (PIT, PIC, RTC and I/O APIC
 * interrupts, HLT woken by the PIT) replays identically from snapshots taken while its devices
 * are running, and two fresh runs agree to the cycle.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from '../src/machine/machine.js';
import { restoreSnapshot, takeSnapshot } from '../src/lab/snapshot.js';
import { Stop } from '../src/cpu/state.js';

const ROOT = join(import.meta.dirname, '..');
const ONLY = 'only=pic_pit_irq0,pic_pit_oneshot_hlt,rtc_periodic_cascade,ioapic_pit_edge,ioapic_rtc_level';

beforeAll(() => {
  execFileSync('bash', [join(ROOT, 'guest', 'build.sh')], { stdio: 'pipe' });
});

function boot() {
  let out = '';
  const m = new Machine({ memSize: 64 << 20, onUartByte: (b) => { out += String.fromCharCode(b); } });
  m.boot(readFileSync(join(ROOT, 'build', 'guest', 'pcdev.elf')), { name: 'pcdev', cmdline: ONLY });
  return { m, out: () => out, clear: () => { out = ''; } };
}

describe('PC device determinism', () => {
  it('two runs agree to the cycle', { timeout: 60_000 }, () => {
    const a = boot();
    const ra = a.m.run(100_000_000);
    const b = boot();
    const rb = b.m.run(100_000_000);
    expect(ra.reason).toBe(Stop.Exit);
    expect(a.out()).toContain('SUMMARY: 5 tests, 0 unexpected failures');
    expect([rb.icount, rb.cycles, b.out()]).toEqual([ra.icount, ra.cycles, a.out()]);
  });

  it('replays identically from snapshots taken while the devices run', { timeout: 120_000 }, () => {
    for (const at of [400_000, 1_500_000, 3_000_000]) {
      const t = boot();
      t.m.run(at);
      const snap = takeSnapshot(t.m);
      t.clear();
      const first = t.m.run(100_000_000);
      const want = { out: t.out(), icount: first.icount, cycles: first.cycles, exit: first.exitStatus };
      expect(first.reason).toBe(Stop.Exit);
      for (let k = 0; k < 2; k++) {
        restoreSnapshot(t.m, snap);
        t.clear();
        const r = t.m.run(100_000_000);
        expect({ out: t.out(), icount: r.icount, cycles: r.cycles, exit: r.exitStatus }).toEqual(want);
      }
    }
  });
});
