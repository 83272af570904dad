/**
 * The snapshot file format (src/lab/snapshot-codec.ts), which Node writes and the browser lab's
 * worker reads: every value kind round-trips exactly, a machine adopted from the bytes replays as
 * the original does, and damaged bytes are an Error, never a crash or a silent half-snapshot.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from '../src/machine/machine.js';
import { Snapshot, adoptSnapshot, takeSnapshot } from '../src/lab/snapshot.js';
import { decodeSnapshot, encodeSnapshot } from '../src/lab/snapshot-codec.js';
import { emulatorSourceHash, snapshotFromBytes, snapshotToBytes } from '../src/lab/snapshot-file.js';
import { getProfile } from '../src/cost/profiles.js';

const ROOT = join(import.meta.dirname, '..');

beforeAll(() => {
  execFileSync('bash', [join(ROOT, 'guest', 'build.sh')], { stdio: 'pipe' });
});

describe('snapshot codec', () => {
  it('round-trips every kind of value exactly', () => {
    const page = new Uint8Array(4096).map((_, k) => (k * 7) & 255);
    const state = {
      u: undefined, n: null, t: true, f: false, i: -5, big: 2 ** 40 + 1, neg0: -0, nan: NaN, inf: -Infinity, frac: 0.1,
      s: 'GS base \u00e9\u{1f600}', arr: [1, 'x', [undefined, null], { k: 2 }],
      typed: [new Uint8Array([1, 2, 3]), new Int32Array([-1, 7]), new Float64Array([0.5, -0]), new BigUint64Array([2n ** 63n]), new Uint16Array(0)],
      nested: { a: { b: { c: new Uint32Array([0xffffffff]) } } },
      ['__proto__' as string]: 1,
    };
    Object.defineProperty(state, '__proto__', { value: { polluted: true }, enumerable: true });
    const snap = new Snapshot(state as unknown as Snapshot['state'], new Map([[3, page], [100000, new Uint8Array(4096)]]));
    const bytes = encodeSnapshot(snap);
    const back = decodeSnapshot(bytes);
    // from a Node Buffer at an odd offset in a larger allocation, as readFileSync may give one
    const pool = Buffer.alloc(bytes.length + 3);
    pool.set(bytes, 3);
    const fromBuffer = decodeSnapshot(pool.subarray(3));
    expect(fromBuffer.state).toEqual(back.state);
    expect((fromBuffer.state.typed as unknown as ArrayBufferView[]).map((x) => x.byteOffset)).toEqual([0, 0, 0, 0, 0]);
    const st = back.state as Record<string, unknown>;
    expect(Object.is(st.neg0, -0)).toBe(true);
    expect(Number.isNaN(st.nan)).toBe(true);
    expect('u' in st && st.u === undefined).toBe(true);
    expect(st.typed).toEqual(state.typed);
    expect((st.typed as unknown[])[3]).toBeInstanceOf(BigUint64Array);
    expect({ ...st, nan: 0 }).toEqual({ ...state, nan: 0 });
    // "__proto__" stays an own key: it does not change the decoded object's prototype
    expect(Object.getPrototypeOf(st)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(st, '__proto__')?.value).toEqual({ polluted: true });
    expect([...back.pages.keys()]).toEqual([3, 100000]);
    expect(back.pages.get(3)).toEqual(page);
  });

  it('refuses what it cannot hold and what is damaged', () => {
    expect(() => encodeSnapshot(new Snapshot({ d: new DataView(new ArrayBuffer(4)) } as unknown as Snapshot['state'], new Map()))).toThrow(/DataView/);
    expect(() => encodeSnapshot(new Snapshot({ f: (() => 1) as unknown as number }, new Map()))).toThrow(/not plain data/);
    const good = encodeSnapshot(new Snapshot({ a: [1, 2, 3], s: 'x' }, new Map([[1, new Uint8Array(4096)]])));
    expect(() => decodeSnapshot(good.subarray(0, 10))).toThrow(/not a worldswitch snapshot/);
    for (const cut of [20, 30, good.length - 1]) expect(() => decodeSnapshot(good.subarray(0, cut))).toThrow(Error);
    const badTag = good.slice();
    badTag[24] = 200;
    expect(() => decodeSnapshot(badTag)).toThrow(/unknown value tag 200/);
    const hugeCount = good.slice();
    new DataView(hugeCount.buffer).setUint32(25, 0xffffffff, true); // the object's key count
    expect(() => decodeSnapshot(hugeCount)).toThrow(/truncated/);
    const version = good.slice();
    version[16] = 1;
    expect(() => decodeSnapshot(version)).toThrow(/format 1/);
    // random damage anywhere: an Error or a snapshot, nothing else
    let seed = 12345;
    for (let k = 0; k < 300; k++) {
      const b = good.slice();
      seed = (seed * 1103515245 + 12345) >>> 0;
      b[seed % b.length] ^= 1 + (seed >>> 24) % 255;
      try { decodeSnapshot(b); } catch (e) { expect(e).toBeInstanceOf(Error); }
    }
  });

  it('a machine adopted from the bytes runs as the original does', () => {
    const boot = () => {
      let out = '';
      const m = new Machine({ memSize: 64 << 20, onUartByte: (b) => { out += String.fromCharCode(b); } });
      m.cpu.setCostProfile(getProfile('zen3'));
      return { m, out: () => out };
    };
    const a = boot();
    a.m.boot(readFileSync(join(ROOT, 'build', 'guest', 'lapic.elf')), { name: 'lapic' });
    a.m.run(150_000);
    const bytes = snapshotToBytes(takeSnapshot(a.m));
    const before = a.out().length;
    const ra = a.m.run(50_000_000);
    const b = boot();
    adoptSnapshot(b.m, snapshotFromBytes(bytes));
    const rb = b.m.run(50_000_000);
    expect(a.out()).toContain('SUMMARY');
    expect({ out: b.out(), icount: rb.icount, cycles: rb.cycles, reason: rb.reason }).toEqual({ out: a.out().slice(before), icount: ra.icount, cycles: ra.cycles, reason: ra.reason });
  });

  it('the page\'s build and the snapshot files name the emulator\'s sources by the same hash', async () => {
    // web/files.mjs computes it for the bundle (vite define), snapshot-file.ts for a snapshot's .json
    const web = await import('../web/files.mjs') as { emulatorSourceHash(): string | null };
    const h = emulatorSourceHash();
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(web.emulatorSourceHash()).toBe(h);
  });
});
