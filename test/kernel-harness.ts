/**
 * Shared by the test-kernel suites (kernels.test.ts, svm-kernels.test.ts): parse PASS/FAIL/SKIP
 * lines, find a kernel's test names, run a kernel on QEMU TCG and on worldswitch.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from '../src/machine/machine.js';
import { Stop } from '../src/cpu/state.js';

export const ROOT = process.cwd();
export const GUEST = join(ROOT, 'guest');
export const OUT = join(ROOT, 'build', 'guest');
export const CI = process.env.CI === 'true';
export const QEMU = 'qemu-system-x86_64';
export const QEMU_TIMEOUT_MS = 60_000;
/** instructions per kernel on worldswitch; a kernel needs a few million (the GIF waits spin) */
export const WS_BUDGET = 150_000_000;

export interface Line { status: 'PASS' | 'FAIL' | 'SKIP'; detail: string }
export interface Outcome { lines: Map<string, Line>; summary: string | null; text: string; status: string }

export function parse(text: string): Pick<Outcome, 'lines' | 'summary'> {
  const lines = new Map<string, Line>();
  let summary: string | null = null;
  for (const raw of text.split('\n')) {
    const l = raw.replace(/\r$/, '');
    const m = /^(PASS|FAIL|SKIP): (\S+)(?: \((.*)\))?$/.exec(l);
    if (m) lines.set(m[2], { status: m[1] as Line['status'], detail: m[3] ?? '' });
    else if (l.startsWith('SUMMARY: ')) summary = l;
  }
  return { lines, summary };
}

export function have(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

export const haveQemu = have(QEMU, ['--version']);
export const haveTools = have('gcc', ['--version']) && have('ld', ['--version']) && have('objcopy', ['--version']);

/** test names in the order of a kernel's tests[] (its T(name) entries) */
export function testNames(kernel: string): string[] {
  const src = readFileSync(join(GUEST, 'tests', `${kernel}.c`), 'utf8');
  const table = /const struct test tests\[\] = \{([\s\S]*?)\n\};/.exec(src);
  if (!table) return [];
  return [...table[1].matchAll(/\bT\((\w+)\)/g)].map((m) => m[1]);
}

/** `cpus`: QEMU's -smp, worldswitch's Machine cpus (default 1) */
export interface RunOptions { cpus?: number }

export function runQemu(image: string, o: RunOptions = {}): Outcome {
  const args = ['-nodefaults', '-nographic', '-no-reboot', '-cpu', 'max,+svm', '-m', '256M', '-serial', 'stdio',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-kernel', image];
  if (o.cpus !== undefined && o.cpus > 1) args.push('-smp', String(o.cpus));
  const r = spawnSync(QEMU, args, { encoding: 'utf8', timeout: QEMU_TIMEOUT_MS });
  const text = (r.stdout ?? '') + (r.stderr ? `\n[stderr] ${r.stderr}` : '');
  const status = r.error ? `error ${r.error.message}` : r.signal ? `killed by ${r.signal} (timeout ${QEMU_TIMEOUT_MS} ms?)` : `exit ${r.status}`;
  return { ...parse(text), text, status };
}

export function runWorldswitch(image: string, o: RunOptions = {}): Outcome & { stop: Stop; shutdown: string; icount: number; cycles: number } {
  let text = '';
  const m = new Machine({ onUartByte: (b) => { text += String.fromCharCode(b); }, cpus: o.cpus });
  m.boot(readFileSync(image), { name: image });
  const r = m.run(WS_BUDGET);
  const sd = m.cpu.shutdown;
  const shutdown = r.reason === Stop.Shutdown ? `${sd.reason}, exceptions ${sd.chain.join(' -> ')} at RIP 0x${sd.rip.toString(16)}` : '';
  const status = r.reason === Stop.Exit ? `exit ${r.exitStatus}`
    : r.reason === Stop.Shutdown ? `shutdown (${shutdown})`
      : `${Stop[r.reason]} at RIP 0x${r.rip.toString(16)} after ${r.icount} instructions`;
  return { ...parse(text), text, status, stop: r.reason, shutdown, icount: r.icount, cycles: r.cycles };
}

export const show = (l: Line | undefined) => (l === undefined ? 'no result line' : `${l.status}${l.detail ? ` (${l.detail})` : ''}`);
