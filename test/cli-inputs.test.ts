/**
 * Inputs that used to hang the command line or end in a stack trace (issue 15 items 8 and 9):
 * directories, FIFOs and huge files as images, images that are not the host, unwritable output
 * paths, and sweep bounds beyond any instruction's cost. Each gets one line and exit status 2.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, ftruncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'worldswitch.js');
const TMP = join(ROOT, 'build', 'cli-inputs');
const HOST = join(ROOT, 'build', 'host', 'host.elf');

function ws(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function oneLine(r: { status: number | null; stderr: string }, re: RegExp) {
  expect(r.status).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(re);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(() => {
  mkdirSync(TMP, { recursive: true });
  writeFileSync(join(TMP, 'empty.img'), new Uint8Array(0));
  const rnd = new Uint8Array(65536);
  let x = 12345;
  for (let k = 0; k < rnd.length; k++) { x = (x * 1103515245 + 12345) >>> 0; rnd[k] = x >>> 24; }
  writeFileSync(join(TMP, 'random.img'), rnd);
  // a multiboot a.out-kludge image: valid for `run`, not the host
  const aout = new Uint8Array(4096);
  const dv = new DataView(aout.buffer);
  dv.setUint32(0, 0x1badb002, true); dv.setUint32(4, 0x10000, true); dv.setUint32(8, (-(0x1badb002 + 0x10000)) >>> 0, true);
  dv.setUint32(12, 0x100000, true); dv.setUint32(16, 0x100000, true); dv.setUint32(20, 0x101000, true);
  dv.setUint32(24, 0x101000, true); dv.setUint32(28, 0x100020, true);
  writeFileSync(join(TMP, 'aout.img'), aout);
  // a 2 GiB sparse file: refused by its size before a byte is read
  const fd = openSync(join(TMP, 'huge.img'), 'w');
  ftruncateSync(fd, 2 ** 31);
  closeSync(fd);
  spawnSync('mkfifo', [join(TMP, 'fifo')]);
});

describe('bad images', () => {
  it('a directory, a FIFO and a 2 GiB file are refused by run without reading them', () => {
    oneLine(ws('run', TMP), /is a directory/);
    if (existsSync(join(TMP, 'fifo'))) oneLine(ws('run', join(TMP, 'fifo')), /not a regular file/);
    oneLine(ws('run', join(TMP, 'huge.img')), /too large/);
    oneLine(ws('run', join(TMP, 'empty.img'), '--module', TMP), /module .* is a directory/);
  });

  for (const cmd of ['host', 'bench', 'verify', 'calibrate']) {
    it(`${cmd} --image: directory, empty, random, truncated, a.out kludge`, () => {
      oneLine(ws(cmd, '--image', TMP), /is a directory/);
      oneLine(ws(cmd, '--image', join(TMP, 'empty.img')), /not an ELF image/);
      oneLine(ws(cmd, '--image', join(TMP, 'random.img')), /not an ELF image/);
      oneLine(ws(cmd, '--image', join(TMP, 'aout.img')), /not an ELF image/);
      if (existsSync(HOST)) {
        const trunc = join(TMP, 'trunc.img');
        writeFileSync(trunc, readFileSync(HOST).subarray(0, 5000));
        oneLine(ws(cmd, '--image', trunc), /truncated or malformed|not the worldswitch host/);
      }
    });
  }
});

describe('bad outputs and bounds', () => {
  it('--json and --svg to unwritable paths are refused before the run', () => {
    oneLine(ws('bench', '--json', join(TMP, 'no', 'such', 'dir', 'x.json')), /--json .*cannot create/);
    oneLine(ws('bench', '--svg', TMP), /--svg .* is a directory/);
  });

  it('a sweep bound beyond any instruction cost (or Infinity) is refused', () => {
    oneLine(ws('bench', '--sweep', `wrmsr-gsbase=0:1${'0'.repeat(400)}:2`), /beyond 100000 cycles/);
    oneLine(ws('bench', '--sweep', 'wrmsr-gsbase=0:1000000:2'), /beyond 100000 cycles/);
  });
});
