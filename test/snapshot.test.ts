/**
 * Snapshots: a machine restored to a snapshot replays exactly: same UART output, instruction
 * count and cycles, however often it is restored.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from '../src/machine/machine.js';
import { restoreSnapshot, takeSnapshot } from '../src/lab/snapshot.js';
import { getProfile } from '../src/cost/profiles.js';

const ROOT = join(import.meta.dirname, '..');

beforeAll(() => {
  execFileSync('bash', [join(ROOT, 'guest', 'build.sh')], { stdio: 'pipe' });
});

function boot(kernel: string) {
  let out = '';
  const m = new Machine({ memSize: 64 << 20, onUartByte: (b) => { out += String.fromCharCode(b); } });
  m.cpu.setCostProfile(getProfile('zen3'));
  m.boot(readFileSync(join(ROOT, 'build', 'guest', `${kernel}.elf`)), { name: kernel });
  return { m, out: () => out, clear: () => { out = ''; } };
}

describe('snapshots', () => {
  it('replays a kernel with timer interrupts and HLT identically after each restore', () => {
    const t = boot('lapic');
    t.m.run(150_000);
    const snap = takeSnapshot(t.m);
    t.clear();
    const first = t.m.run(50_000_000);
    const want = { out: t.out(), icount: first.icount, cycles: first.cycles, reason: first.reason, exit: first.exitStatus };
    expect(want.out).toContain('SUMMARY');
    for (let k = 0; k < 3; k++) {
      restoreSnapshot(t.m, snap);
      t.clear();
      const r = t.m.run(50_000_000);
      expect({ out: t.out(), icount: r.icount, cycles: r.cycles, reason: r.reason, exit: r.exitStatus }).toEqual(want);
    }
  });

  it('restores only the pages written since the snapshot', () => {
    const t = boot('paging');
    t.m.run(100_000);
    const snap = takeSnapshot(t.m);
    expect(t.m.mem.dirty.every((x) => x === 0)).toBe(true);
    t.m.run(1000);
    const touched = t.m.mem.dirty.reduce((n, x) => n + x, 0);
    expect(touched).toBeGreaterThan(0);
    expect(touched).toBeLessThan(64);
    restoreSnapshot(t.m, snap);
    expect(t.m.mem.dirty.every((x) => x === 0)).toBe(true);
  });
});

describe('lab hooks', () => {
  it('breakpoints call their hook before the instruction, and can stop the run there', () => {
    const t = boot('paging');
    const start = t.m.cpu.rip;
    const hits: number[] = [];
    t.m.cpu.setBreakpoints(new Set([start]), (c, lin) => { hits.push(lin); c.stopReason = 5; });
    const r = t.m.run(1000);
    expect(hits).toEqual([start]);
    expect(r.icount).toBe(0);
    expect(t.m.cpu.rip).toBe(start);
    t.m.cpu.setBreakpoints(null);
    expect(t.m.run(10).icount).toBe(10);
  });
});
