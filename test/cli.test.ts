/**
 * The command line answers bad input with one line and a non-zero exit, never a stack trace;
 * a runaway guest stops at --max-insns with its RIP.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'worldswitch.js');
const TMP = join(ROOT, 'build', 'cli-test');

function ws(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** a minimal multiboot ELF32: header + code at 0x100000 */
function elf32(code: number[], opts: { magic?: number; paddr?: number } = {}): Uint8Array {
  const b = new Uint8Array(0x1000);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  dv.setUint16(16, 2, true); dv.setUint16(18, 3, true); dv.setUint32(20, 1, true);
  const paddr = opts.paddr ?? 0x100000;
  dv.setUint32(24, paddr + 0x100, true); // entry
  dv.setUint32(28, 52, true); // phoff
  dv.setUint16(40, 52, true); dv.setUint16(42, 32, true); dv.setUint16(44, 1, true);
  // PT_LOAD: file offset 0x80 .. 0x200 at paddr
  const ph = 52;
  dv.setUint32(ph, 1, true); dv.setUint32(ph + 4, 0x80, true); dv.setUint32(ph + 8, paddr, true);
  dv.setUint32(ph + 12, paddr, true); dv.setUint32(ph + 16, 0x180, true); dv.setUint32(ph + 20, 0x180, true);
  dv.setUint32(ph + 24, 7, true);
  // multiboot header at file 0x80 (within the first 8 KiB), code at file 0x180
  const magic = opts.magic ?? 0x1badb002;
  dv.setUint32(0x80, magic, true); dv.setUint32(0x84, 0, true); dv.setUint32(0x88, (-(magic + 0)) >>> 0, true);
  b.set(code, 0x180);
  return b;
}

beforeAll(() => {
  mkdirSync(TMP, { recursive: true });
  // prints "hi" on the UART and exits with status (1 << 1) | 1 = 3
  const hello = [0x66, 0xba, 0xf8, 0x03, 0xb0, 0x68, 0xee, 0xb0, 0x69, 0xee, 0xb0, 0x0a, 0xee,
    0x66, 0xba, 0xf4, 0x00, 0xb8, 1, 0, 0, 0, 0xef];
  writeFileSync(join(TMP, 'hello.elf'), elf32(hello));
  writeFileSync(join(TMP, 'spin.elf'), elf32([0xeb, 0xfe]));
  writeFileSync(join(TMP, 'badmagic.elf'), elf32([0xf4], { magic: 0x12345678 }));
  writeFileSync(join(TMP, 'outside.elf'), elf32([0xf4], { paddr: 0x7ff00000 }));
  writeFileSync(join(TMP, 'hole.elf'), elf32([0xf4], { paddr: 0xb8000 }));
  writeFileSync(join(TMP, 'truncated.elf'), elf32([0xf4]).slice(0, 40));
});

function oneLine(stderr: string) {
  const lines = stderr.trim().split('\n');
  expect(lines.length).toBe(1);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('worldswitch run', () => {
  it('boots a multiboot image: UART to stdout, status from the debug-exit port', () => {
    const r = ws('run', join(TMP, 'hello.elf'), '--stats');
    expect(r.stdout).toBe('hi\n');
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^instructions \d+, cycles \d+/);
  });

  it('stops a runaway guest at --max-insns with its RIP', () => {
    const r = ws('run', join(TMP, 'spin.elf'), '--max-insns', '1000');
    expect(r.status).toBe(124);
    expect(r.stderr).toMatch(/stopped after 1000 instructions.*RIP 0x100100/);
    oneLine(r.stderr);
  });

  for (const [what, args, pattern] of [
    ['a missing image', ['run', join(TMP, 'nope.elf')], /not found/],
    ['a wrong magic', ['run', join(TMP, 'badmagic.elf')], /multiboot header|ELF/],
    ['a truncated image', ['run', join(TMP, 'truncated.elf')], /truncated|short|header|ELF/i],
    ['segments outside RAM', ['run', join(TMP, 'outside.elf'), '--mem', '64M'], /outside|RAM|beyond/i],
    ['a segment in the 0xA0000-0xFFFFF window', ['run', join(TMP, 'hole.elf')], /overlaps the PC's reserved window/],
    ['a missing module', ['run', join(TMP, 'hello.elf'), '--module', join(TMP, 'nomod.bin')], /module/],
    ['a bad memory size', ['run', join(TMP, 'hello.elf'), '--mem', 'lots'], /--mem/],
    ['a bad instruction budget', ['run', join(TMP, 'hello.elf'), '--max-insns', '-5'], /--max-insns/],
  ] as const) {
    it(`answers ${what} with one line and a non-zero exit`, () => {
      const r = ws(...args);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(pattern);
      oneLine(r.stderr);
    });
  }

  it('rejects an unknown command and option', () => {
    expect(ws('frobnicate').status).not.toBe(0);
    expect(ws('run', '--bogus').status).not.toBe(0);
  });
});
