/**
 * Snapshots as bytes, so that a boot is paid once: by another process (the real host's boot
 * snapshot in .cache/linux/snapshots/) or by worker threads (verify's replays). Node only.
 * Pages that are all zeros are left out: adopting a snapshot zeroes the rest of RAM anyway.
 */

import { serialize, deserialize } from 'node:v8';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Snapshot } from './snapshot.js';

export function snapshotToBytes(s: Snapshot): Uint8Array {
  const pages = new Map<number, Uint8Array>();
  for (const [p, page] of s.pages) {
    let zero = true;
    for (let k = 0; k < page.length; k += 8) if (page[k] | page[k + 1] | page[k + 2] | page[k + 3] | page[k + 4] | page[k + 5] | page[k + 6] | page[k + 7]) { zero = false; break; }
    if (!zero) pages.set(p, page);
  }
  return serialize({ magic: 'worldswitch-snapshot-1', state: s.state, pages });
}

export function snapshotFromBytes(b: Uint8Array): Snapshot {
  const o = deserialize(b) as { magic?: string; state: Snapshot['state']; pages: Map<number, Uint8Array> };
  if (o === null || typeof o !== 'object' || o.magic !== 'worldswitch-snapshot-1') throw new Error('not a worldswitch snapshot');
  return new Snapshot(o.state, o.pages);
}

let codeHash: string | null = null;

/**
 * A hash of the machine's own code (every .js file of the emulator's directories, and the
 * snapshot format): a snapshot is only valid for the emulator that took it. The lab's and the
 * CLI's other files do not change what a machine does, so editing them keeps the snapshots.
 */
export function emulatorHash(): string {
  if (codeHash !== null) return codeHash;
  const root = join(new URL('.', import.meta.url).pathname, '..');
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.js') || (name.endsWith('.ts') && !name.endsWith('.d.ts'))) { h.update(name); h.update(readFileSync(p)); }
    }
  };
  for (const dir of ['x86', 'cpu', 'svm', 'machine', 'cost']) walk(join(root, dir));
  for (const name of ['snapshot.js', 'snapshot-file.js', 'snapshot.ts', 'snapshot-file.ts']) {
    const p = join(root, 'lab', name);
    if (existsSync(p)) { h.update(name); h.update(readFileSync(p)); }
  }
  codeHash = h.digest('hex');
  return codeHash;
}
