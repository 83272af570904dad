/**
 * Snapshots as bytes, so that a boot is paid once: by another process (the real host's boot
 * snapshot in .cache/linux/snapshots/), by worker threads (verify's replays) or by the browser
 * lab's worker, which reads the same file (the format is snapshot-codec.ts, free of Node APIs).
 * This file is Node only. Pages that are all zeros are left out: adopting a snapshot zeroes the
 * rest of RAM anyway.
 */

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Snapshot } from './snapshot.js';
import { decodeSnapshot, encodeSnapshot } from './snapshot-codec.js';

function nonZero(page: Uint8Array): boolean {
  for (let k = 0; k < page.length; k += 8) if (page[k] | page[k + 1] | page[k + 2] | page[k + 3] | page[k + 4] | page[k + 5] | page[k + 6] | page[k + 7]) return true;
  return false;
}

export function snapshotToBytes(s: Snapshot): Uint8Array {
  return encodeSnapshot(s, nonZero);
}

export function snapshotFromBytes(b: Uint8Array): Snapshot {
  return decodeSnapshot(b);
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
  for (const name of ['snapshot.js', 'snapshot-file.js', 'snapshot-codec.js', 'snapshot.ts', 'snapshot-file.ts', 'snapshot-codec.ts']) {
    const p = join(root, 'lab', name);
    if (existsSync(p)) { h.update(name); h.update(readFileSync(p)); }
  }
  codeHash = h.digest('hex');
  return codeHash;
}

/** the emulator's source directories and the snapshot files, relative to src/ */
export const EMULATOR_SOURCE_DIRS = ['x86', 'cpu', 'svm', 'machine', 'cost'];
export const EMULATOR_SOURCE_FILES = ['lab/snapshot.ts', 'lab/snapshot-codec.ts'];

let sourceHash: string | null | undefined;

/**
 * A hash of the emulator's TypeScript sources (src/x86, cpu, svm, machine, cost and the snapshot
 * format), the same whether this runs from src/ (vitest) or dist/ (the CLI): the browser lab's
 * bundle carries the hash of the sources it was built from (web/vite.config.mjs), so its worker
 * can tell whether a boot snapshot file was taken by the same emulator. Null without src/, and
 * when this runs from dist/ built from older sources (npm run build makes it current).
 * The file list and order are those of web/files.mjs's emulatorSourceHash (a test compares them).
 */
export function emulatorSourceHash(): string | null {
  if (sourceHash !== undefined) return sourceHash;
  const here = new URL('.', import.meta.url).pathname; // src/lab/ or dist/lab/
  const src = join(here, '..', '..', 'src');
  if (!existsSync(join(src, 'cpu'))) { sourceHash = null; return null; }
  // running compiled code: it must be built from these sources (every .js at least as new as
  // its .ts), else the hash would name sources the running code does not hold
  const compiled = join(here, '..');
  const checkBuilt = compiled !== src;
  let stale = false;
  const h = createHash('sha256');
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p, `${rel}${name}/`);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
        h.update(`${rel}${name}\n`);
        h.update(readFileSync(p));
        if (checkBuilt) {
          const js = join(compiled, rel, name.replace(/\.ts$/, '.js'));
          if (!existsSync(js) || statSync(js).mtimeMs < statSync(p).mtimeMs) stale = true;
        }
      }
    }
  };
  for (const d of EMULATOR_SOURCE_DIRS) walk(join(src, d), `${d}/`);
  for (const f of EMULATOR_SOURCE_FILES) { h.update(`${f}\n`); h.update(readFileSync(join(src, f))); }
  sourceHash = stale ? null : h.digest('hex');
  return sourceHash;
}
