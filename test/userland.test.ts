// Issue 10, "run unmodified real-world software": guest/userland/fpprog.c, an ordinary static
// Linux program (gcc -O2 -static against the host's glibc: doubles and libm, float, long double
// on the x87, printf/strtod, rounding modes and fenv flags, glibc's SSE2 string functions chosen
// by IRELATIVE ifuncs, malloc through brk and mmap, qsort), runs
//   1. natively on the host,
//   2. at CPL 3 under guest/userland/kernel.c (a minimal Linux system-call ABI) on QEMU TCG (two
//      CPU models),
//   3. the same on worldswitch, which also records which glibc string variants ran,
// and the transcripts (everything it writes to stdout) must be byte-for-byte the same.
// Also here: abi.c (the kernel's ABI checked from inside, and its reports of user #PF, #UD,
// #GP, #XF, #MF), x87math.c (x87 transcendentals, compared bit by bit with a known allowance
// for worldswitch) and Debian's own static-PIE /sbin/ldconfig.
//
// The worldswitch half depends on x87 and SSE/SSE2 in the emulator. Its condition is what the
// emulator itself claims: CPUID 1 EDX with FPU (bit 0), FXSR (24), SSE (25) and SSE2 (26), which
// src/cpu/cpuid.ts sets only for what is implemented. Without them the kernel runs the program
// with CR0.EM=1 and CR4.OSFXSR=0 and the run must stop at the program's first x87/SSE
// instruction (#NM/#UD) with the kernel's report of where; with them the transcript must match.
//
// gcc, binutils, QEMU and glibc's static libraries (Debian's libc6-dev) are optional locally
// (their parts are skipped with the reason in the title) and required in CI (CI=true).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CI, GUEST, OUT, QEMU, haveQemu, haveTools } from './kernel-harness.js';
import { Machine } from '../src/machine/machine.js';
import { Stop } from '../src/cpu/state.js';
import { Cpu } from '../src/cpu/cpu.js';
import { cpuidLeaf } from '../src/cpu/cpuid.js';
import { PhysMem } from '../src/machine/memory.js';

const KERNEL = join(OUT, 'userland.elf');
const PROG = join(OUT, 'fpprog');
const QEMU_TIMEOUT_MS = 120_000;
/** instructions for the whole run on worldswitch (boot, glibc start-up, the program) */
const WS_BUDGET = 2_000_000_000;

const WS_LIKE_CPU = 'qemu64,-xsave,-pni,vendor=AuthenticAMD,family=23,model=49,xlevel=0x80000004';

const haveLibc = haveTools && spawnSync('gcc', ['-print-file-name=libc.a'], { encoding: 'utf8' }).stdout?.includes('/');

/** worldswitch's own claim (CPUID 1 EDX): FPU, FXSR, SSE, SSE2 */
function wsHasFpSse(): boolean {
  const out = new Int32Array(4);
  cpuidLeaf(new Cpu(new PhysMem(1 << 20)), 1, 0, out);
  const need = (1 << 0) | (1 << 24) | (1 << 25) | (1 << 26);
  return (out[3] & need) === need;
}
const WS_FP = wsHasFpSse();

interface Run { text: string; status: string; transcript: string | null; exitCode: number | null; report: string }

/**
 * The kernel's COM1 text: `USER-BEGIN`, then exactly N bytes of the program's output, then
 * `USER-END status=S bytes=N` (or `USER-FAULT ...`), notes, the PASS/FAIL line and SUMMARY.
 */
function transcriptOf(text: string, status: string): Run {
  const begin = /USER-BEGIN\r?\n/.exec(text);
  const end = /\nUSER-END status=(\d+) bytes=(\d+)\r?\n/.exec(text);
  const report = text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => /^(USER-FAULT|USER-END|note:|PASS:|FAIL:|SUMMARY:)/.test(l)).join('\n');
  if (!begin || !end) return { text, status, transcript: null, exitCode: null, report };
  const start = begin.index + begin[0].length;
  return { text, status, transcript: text.slice(start, start + Number(end[2])), exitCode: Number(end[1]), report };
}

function runQemu(cpu: string, module = PROG): Run {
  const args = ['-nodefaults', '-nographic', '-no-reboot', '-cpu', cpu, '-m', '256M', '-serial', 'stdio',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-kernel', KERNEL, '-initrd', module];
  const r = spawnSync(QEMU, args, { encoding: 'latin1', timeout: QEMU_TIMEOUT_MS });
  const text = (r.stdout ?? '') + (r.stderr ? `\n[stderr] ${r.stderr}` : '');
  const status = r.error ? `error ${r.error.message}` : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
  return transcriptOf(text, status);
}

/**
 * `module` is the module's string: the program's path, then its arguments; `cmdline` the
 * kernel's (env=NAME=VALUE words reach the program's environment). `watch` maps entry addresses
 * of functions to names: the run counts how often each is entered (CPU breakpoints that record
 * and go on).
 */
function runWorldswitch(module = PROG, cmdline = '', watch?: Map<number, string>): Run & { icount: number; entered: Map<string, number> } {
  let text = '';
  const m = new Machine({ onUartByte: (b) => { text += String.fromCharCode(b); } });
  m.boot(readFileSync(KERNEL), { name: KERNEL, cmdline, modules: [{ name: module, data: readFileSync(module.split(' ')[0]), cmdline: module }] });
  const entered = new Map<string, number>();
  if (watch !== undefined) {
    m.cpu.setBreakpoints(new Set(watch.keys()), (_c, lin) => {
      const name = watch.get(lin) ?? `0x${lin.toString(16)}`;
      entered.set(name, (entered.get(name) ?? 0) + 1);
    });
  }
  const r = m.run(WS_BUDGET);
  const sd = m.cpu.shutdown;
  const status = r.reason === Stop.Exit ? `exit ${r.exitStatus}`
    : r.reason === Stop.Shutdown ? `shutdown (${sd.reason}, exceptions ${sd.chain.join(' -> ')} at RIP 0x${sd.rip.toString(16)})`
      : `${Stop[r.reason]} at RIP 0x${r.rip.toString(16)} after ${r.icount} instructions`;
  return { ...transcriptOf(text, status), icount: r.icount, entered };
}

/**
 * glibc's string-function variants in the program (__memmove_sse2_unaligned_erms, __strlen_avx2,
 * ...), from its symbol table: entry address -> the names there (aliases joined by '=')
 */
function stringVariants(): Map<number, string> {
  const map = new Map<number, string>();
  for (const line of execFileSync('nm', [PROG], { encoding: 'utf8' }).split('\n')) {
    const m = /^([0-9a-f]+) [tT] (__(?:mem|str|stp|rawmem)\w*)$/.exec(line);
    if (m === null || !/_(sse|ssse|avx|evex|erms|generic)/.test(m[2])) continue;
    const a = parseInt(m[1], 16);
    map.set(a, map.has(a) ? `${map.get(a)}=${m[2]}` : m[2]);
  }
  return map;
}

/** the string variants a run entered, checked against the instruction sets allowed */
function checkVariants(entered: Map<string, number>, allowed: RegExp): string[] {
  const names = [...entered.keys()].sort();
  const bad = names.filter((n) => !n.split('=').every((x) => allowed.test(x)));
  expect(bad, `string variants outside ${allowed}: ${names.join(' ')}`).toEqual([]);
  for (const fn of ['memmove', 'memset', 'strlen', 'strchr', 'memchr', 'memcmp', 'strcmp']) {
    expect(names.some((n) => n.includes(`__${fn}_`)), `no __${fn}_* variant ran: ${names.join(' ')}`).toBe(true);
  }
  return names;
}

/** the first line where two transcripts differ, for the failure message */
function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return `line ${i + 1}:\n  host: ${JSON.stringify(x[i])}\n  here: ${JSON.stringify(y[i])}`;
  }
  return 'no difference';
}

describe('userland: a static glibc program at CPL 3', () => {
  const why = !haveTools ? 'gcc/ld/objcopy not installed' : !haveLibc ? 'no static glibc (libc6-dev)' : '';
  let native: string | null = null;

  beforeAll(() => {
    if (haveTools) execFileSync('bash', [join(GUEST, 'build.sh')], { stdio: 'pipe' });
  }, 180_000);

  it('has its tools (required in CI)', () => {
    if (!CI) return;
    expect(why, 'CI must install gcc, binutils and libc6-dev (.ci/run)').toBe('');
    expect(haveQemu, 'CI must install qemu-system-x86 (.ci/run)').toBe(true);
  });

  it.skipIf(!CI && why !== '')(why ? `runs natively (skipped: ${why})` : 'runs natively', () => {
    expect(existsSync(PROG), `${PROG} was not built`).toBe(true);
    // glibc's libm has FMA/AVX2 variants of exp, log, pow, sin, cos; the guests offer neither
    // (no AVX state in XCR0), so the host is held to the same SSE2 code
    const env = { ...process.env, GLIBC_TUNABLES: 'glibc.cpu.hwcaps=-AVX,-AVX2,-FMA,-FMA4,-AVX512F' };
    const r = spawnSync(PROG, [], { encoding: 'latin1', env, timeout: 60_000 });
    expect(r.status, `exit status; stderr: ${r.stderr}`).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^fpprog: gcc [\s\S]*\nmemcpy ok memset ok memmove ok strlen ok strchr ok strrchr ok memchr ok memcmp ok strcmp ok strcpy ok \n[\s\S]*\ndone\n$/);
    native = r.stdout;
  });

  // two CPU models: `max` (XSAVE, so the kernel sets CR4.OSXSAVE and XCR0 = x87|SSE; SSSE3 and
  // SSE4 ifunc variants), and one like worldswitch: AMD family 17h, no XSAVE, SSE2 but no SSE3,
  // and no cache-information leaves (glibc's cache-size tuning sees zeros, as on worldswitch)
  const qemuWhy = why || (haveQemu ? '' : `${QEMU} not installed`);
  for (const cpu of ['max', WS_LIKE_CPU]) it.skipIf(!CI && qemuWhy !== '')(qemuWhy ? `on QEMU TCG -cpu ${cpu} (skipped: ${qemuWhy})` : `on QEMU TCG -cpu ${cpu}: the same transcript`, (ctx) => {
    if (native === null) return ctx.skip();
    const q = runQemu(cpu);
    expect(q.transcript, `QEMU (${q.status}) did not report a finished program:\n${q.report}\n${q.text.slice(-2000)}`).not.toBeNull();
    expect(q.exitCode, q.report).toBe(0);
    if (q.transcript !== native) expect.fail(`QEMU transcript differs at ${firstDifference(native, q.transcript ?? '')}`);
    expect(q.report).toMatch(/^PASS: static_elf$/m);
    expect(q.report).not.toMatch(/^note: system call/m);
    expect(q.status).toBe('exit 3');
  }, QEMU_TIMEOUT_MS + 10_000);

  const wsTitle = why ? `on worldswitch (skipped: ${why})`
    : WS_FP ? 'on worldswitch: the same transcript'
      : 'on worldswitch: stops with #UD/#NM at the first x87/SSE instruction (CPUID 1 EDX lacks FPU/FXSR/SSE/SSE2)';
  it.skipIf(!CI && why !== '')(wsTitle, (ctx) => {
    if (native === null) return ctx.skip();
    const w = runWorldswitch(PROG, '', stringVariants());
    const where = `worldswitch (${w.status}, ${w.icount} instructions):\n${w.report}`;
    if (!WS_FP) {
      // what stopped it, for the log; the kernel must have said so itself
      console.info(`userland.test: ${where}`);
      expect(w.report, where).toMatch(/^note: CPUID 1 EDX 0x[0-9a-f]+ lacks FPU\/FXSR\/SSE\/SSE2/m);
      expect(w.report, where).toMatch(/^FAIL: static_elf \(#(UD|NM) in user mode at rip 0x[0-9a-f]+ \[[0-9a-f ]+\]/m);
      expect(w.status, where).toBe('exit 7');
      return;
    }
    expect(w.transcript, `${where}\n${w.text.slice(-2000)}`).not.toBeNull();
    expect(w.exitCode, where).toBe(0);
    if (w.transcript !== native) expect.fail(`worldswitch transcript differs at ${firstDifference(native, w.transcript ?? '')}\n${where}`);
    expect(w.report).toMatch(/^PASS: static_elf$/m);
    expect(w.report).not.toMatch(/^note: system call/m);
    expect(w.status).toBe('exit 3');
    // the string functions that ran are glibc's SSE2/SSSE3 variants (no AVX: XCR0 has no YMM)
    const names = checkVariants(w.entered, /_(sse2|ssse3)/);
    console.info(`userland.test: worldswitch ran fpprog in ${w.icount} instructions; string variants: ${names.join(' ')}`);
  }, 600_000);

  // the same string work with SSSE3 masked by glibc's tunable (passed on the kernel command line
  // into the environment): memmove/memcpy/strcpy/... take their SSE2 forms too
  const TUNE = 'GLIBC_TUNABLES=glibc.cpu.hwcaps=-SSSE3';
  it.skipIf(!CI && why !== '')(why ? `on worldswitch, SSE2 only (skipped: ${why})` : WS_FP ? `on worldswitch with ${TUNE}: strings, SSE2 variants only` : `on worldswitch with ${TUNE} (skipped: CPUID 1 EDX lacks FPU/FXSR/SSE/SSE2)`, (ctx) => {
    if (!WS_FP) return ctx.skip();
    const host = spawnSync(PROG, ['strings'], { encoding: 'latin1', env: { ...process.env, GLIBC_TUNABLES: TUNE.slice('GLIBC_TUNABLES='.length) } });
    expect(host.status).toBe(0);
    const w = runWorldswitch(`${PROG} strings`, `env=${TUNE}`, stringVariants());
    const where = `worldswitch (${w.status}, ${w.icount} instructions):\n${w.report}`;
    expect(w.exitCode, where).toBe(0);
    if (w.transcript !== host.stdout) expect.fail(`worldswitch transcript differs at ${firstDifference(host.stdout, w.transcript ?? '')}\n${where}`);
    const names = checkVariants(w.entered, /_sse2/);
    console.info(`userland.test: worldswitch with ${TUNE}: string variants: ${names.join(' ')}`);
  }, 600_000);
});

// guest/userland/abi.c: the kernel's ABI checked from inside by a freestanding program without
// x87/SSE, so it runs on worldswitch today; then the kernel's report of a user #PF and #UD
describe('userland: the system-call ABI (abi.c)', () => {
  const ABI = join(OUT, 'abi');
  const qemuWhy = !haveTools ? 'gcc/ld/objcopy not installed' : haveQemu ? '' : `${QEMU} not installed`;
  const toolsWhy = haveTools ? '' : 'gcc/ld/objcopy not installed';
  const transcripts: Record<string, string> = {};

  beforeAll(() => {
    if (haveTools) execFileSync('bash', [join(GUEST, 'build.sh')], { stdio: 'pipe' });
  }, 180_000);

  const machines: [string, string, () => ((m: string) => Run)][] = [
    ['QEMU TCG', qemuWhy, () => (m) => runQemu('max', m)],
    ['worldswitch', toolsWhy, () => (m) => runWorldswitch(m)],
  ];
  for (const [name, skipWhy, runner] of machines) {
    it.skipIf(!CI && skipWhy !== '')(skipWhy ? `on ${name} (skipped: ${skipWhy})` : `on ${name}: every check passes`, () => {
      const r = runner()(ABI);
      expect(r.transcript, `${name} (${r.status}):\n${r.report}`).not.toBeNull();
      const t = r.transcript ?? '';
      expect(t.split('\n').filter((l) => l.includes(' BAD ')), t).toEqual([]);
      expect(t.match(/ ok\n/g)?.length, t).toBe(47);
      expect(t).toMatch(/\nabi: all ok\n$/);
      expect(r.exitCode).toBe(0);
      expect(r.report).toMatch(/^note: system call 500 answered -ENOSYS \(1 calls\)$/m);
      expect(r.report).toMatch(/^PASS: static_elf$/m);
      expect(r.status).toBe('exit 3');
      transcripts[name] = t;
    }, 120_000);

    it.skipIf(!CI && skipWhy !== '')(skipWhy ? `on ${name}: user faults (skipped: ${skipWhy})` : `on ${name}: reports a user #PF (CR2, error P|W|U), #UD and #GP`, () => {
      const pf = runner()(`${ABI} pf`);
      const addr = /fault: write to (0x[0-9a-f]+)\n/.exec(pf.text)?.[1];
      expect(addr, pf.text).toBeDefined();
      expect(pf.report).toMatch(new RegExp(`^USER-FAULT vector=14 rip=0x[0-9a-f]+ cs=0x2b cr2=${addr} error=0x7 `, 'm'));
      expect(pf.report).toMatch(new RegExp(`^FAIL: static_elf \\(#PF in user mode at rip 0x[0-9a-f]+ \\[[0-9a-f ]+\\] cr2 ${addr} error 0x7\\)$`, 'm'));
      expect(pf.text).not.toContain('no fault');
      expect(pf.status).toBe('exit 7');
      const ud = runner()(`${ABI} ud`);
      expect(ud.report).toMatch(/^FAIL: static_elf \(#UD in user mode at rip 0x[0-9a-f]+ \[0f 0b [0-9a-f ]+\] cr2 0x0 error 0x0\)$/m);
      expect(ud.status).toBe('exit 7');
      const gp = runner()(`${ABI} gp`);
      expect(gp.report).toMatch(/^FAIL: static_elf \(#GP in user mode at rip 0x[0-9a-f]+ \[fa [0-9a-f ]+\] cr2 0x0 error 0x0\)$/m);
    }, 120_000);
  }

  // unmasked floating-point exceptions: with x87/SSE, #XF (19) at the DIVSD and #MF (16) at the
  // FWAIT after the FDIV; without them (CR0.EM=1, CR4.OSFXSR=0) #UD at the LDMXCSR and #NM at the
  // FLDCW (APM Vol. 2, 11.2). QEMU 7.2 TCG never raises #XF: it only sets MXCSR.ZE, and the
  // program runs on (accepted as a known QEMU deviation; a fixed QEMU must raise #XF).
  const fpMachines: [string, string, boolean, () => ((m: string) => Run)][] = [
    ['QEMU TCG', qemuWhy, true, () => (m) => runQemu('max', m)],
    ['worldswitch', toolsWhy, WS_FP, () => (m) => runWorldswitch(m)],
  ];
  for (const [name, skipWhy, fp, runner] of fpMachines) {
    it.skipIf(!CI && skipWhy !== '')(skipWhy ? `on ${name}: FP exceptions (skipped: ${skipWhy})` : fp ? `on ${name}: reports #XF and #MF from unmasked FP exceptions` : `on ${name}: #UD at LDMXCSR and #NM at FLDCW without x87/SSE`, () => {
      const xm = runner()(`${ABI} xm`);
      const mf = runner()(`${ABI} mf`);
      const line = (r: Run) => r.report.split('\n').find((l) => l.startsWith('FAIL: static_elf')) ?? `no FAIL line: ${r.report}`;
      if (!fp) {
        expect(line(xm)).toMatch(/^FAIL: static_elf \(#UD in user mode at rip 0x[0-9a-f]+ \[0f ae 54 /);
        expect(line(mf)).toMatch(/^FAIL: static_elf \(#NM in user mode at rip 0x[0-9a-f]+ \[d9 6c /);
        return;
      }
      if (name === 'QEMU TCG' && xm.report.includes('PASS: static_elf')) {
        expect(xm.transcript).toMatch(/fault: divsd by zero, ZM unmasked\nabi: all ok\n$/);
      } else {
        expect(line(xm)).toMatch(/^FAIL: static_elf \(#XF in user mode at rip 0x[0-9a-f]+ \[f2 0f 5e c1 [0-9a-f ]+\] cr2 0x0 error 0x0\)$/);
      }
      expect(line(mf)).toMatch(/^FAIL: static_elf \(#MF in user mode at rip 0x[0-9a-f]+ \[9b [0-9a-f ]+\] cr2 0x0 error 0x0\)$/);
    }, 120_000);
  }

  it('prints the same on both', (ctx) => {
    const q = transcripts['QEMU TCG'];
    const w = transcripts.worldswitch;
    if (q === undefined || w === undefined) return ctx.skip();
    expect(w).toBe(q);
  });
});

// guest/userland/x87math.c: glibc's long double libm on the x87 transcendental instructions, and
// F2XM1/FYL2X/FYL2XP1/FPATAN directly; each result as 80 bits. Hardware (and QEMU TCG) results
// may differ in the last bit between implementations, so machines are compared by how many
// leading bits of the significand agree with the host's.
//  - QEMU TCG: at least 62 bits on every line.
//  - worldswitch: exact for SQRT, FPREM (fmodl), FRNDINT (rintl), FXTRACT (logbl); the
//    transcendentals (double-double cores rounded once to f80, src/cpu/fpu/x87trans.ts) to at
//    least 62 bits, the same bound as QEMU.
const WS_X87_TRANSCENDENTAL_BITS = 62;
const EXACT = new Set(['sqrtl', 'fmodl', 'rintl', 'logbl']);

interface X87Line { name: string; x: string; se: number; mant: bigint }
function parseX87(text: string): X87Line[] {
  return text.trimEnd().split('\n').map((l) => {
    const f = l.trim().split(/\s+/);
    return { name: f[0], x: f[1], se: parseInt(f[2], 16), mant: BigInt(`0x${f[3]}`) };
  });
}
/** leading significand bits on which two results agree (99: identical) */
function agreeBits(a: X87Line, b: X87Line): number {
  if (a.se === b.se && a.mant === b.mant) return 99;
  if ((a.se >> 15) !== (b.se >> 15)) return 0;
  let [ea, ma, eb, mb] = [a.se & 0x7fff, a.mant, b.se & 0x7fff, b.mant];
  if (ea < eb) [ea, ma, eb, mb] = [eb, mb, ea, ma];
  if (ea - eb > 2) return 0;
  const A = ma << BigInt(ea - eb);
  const d = A > mb ? A - mb : mb - A;
  return A.toString(2).length - d.toString(2).length;
}

describe('userland: x87 transcendentals (x87math.c)', () => {
  const X87M = join(OUT, 'x87math');
  const why = !haveTools ? 'gcc/ld/objcopy not installed' : !haveLibc ? 'no static glibc (libc6-dev)' : '';
  let host: X87Line[] | null = null;

  beforeAll(() => {
    if (haveTools) execFileSync('bash', [join(GUEST, 'build.sh')], { stdio: 'pipe' });
    if (why === '' && existsSync(X87M)) {
      const r = spawnSync(X87M, [], { encoding: 'latin1' });
      if (r.status === 0) host = parseX87(r.stdout);
    }
  }, 180_000);

  const qemuWhy = why || (haveQemu ? '' : `${QEMU} not installed`);
  it.skipIf(!CI && qemuWhy !== '')(qemuWhy ? `on QEMU TCG (skipped: ${qemuWhy})` : 'on QEMU TCG: within 2 bits of the host on every line', () => {
    expect(host, 'x87math did not run natively').not.toBeNull();
    const q = runQemu('max', X87M);
    expect(q.exitCode, q.report).toBe(0);
    const lines = parseX87(q.transcript ?? '');
    expect(lines.length).toBe(host!.length);
    const bad = lines.map((l, i) => [l, agreeBits(host![i], l)] as const).filter(([, b]) => b < 62).map(([l, b]) => `${l.name} ${l.x}: ${b} bits`);
    expect(bad).toEqual([]);
  }, QEMU_TIMEOUT_MS + 10_000);

  it.skipIf(!CI && why !== '')(why ? `on worldswitch (skipped: ${why})` : WS_FP ? `on worldswitch: exact ops exact, transcendentals to ${WS_X87_TRANSCENDENTAL_BITS} bits` : 'on worldswitch (skipped: CPUID 1 EDX lacks FPU/FXSR/SSE/SSE2)', (ctx) => {
    if (!WS_FP) return ctx.skip();
    expect(host, 'x87math did not run natively').not.toBeNull();
    const w = runWorldswitch(X87M);
    expect(w.exitCode, w.report).toBe(0);
    const lines = parseX87(w.transcript ?? '');
    expect(lines.length).toBe(host!.length);
    const bits = lines.map((l, i) => ({ l, b: agreeBits(host![i], l) }));
    const worst = new Map<string, number>();
    for (const { l, b } of bits) worst.set(l.name, Math.min(worst.get(l.name) ?? 99, b));
    console.info(`userland.test: x87math on worldswitch, worst agreeing bits per function: ${[...worst].map(([n, b]) => `${n} ${b}`).join(', ')}`);
    expect(bits.filter(({ l, b }) => EXACT.has(l.name) && b !== 99).map(({ l, b }) => `${l.name} ${l.x}: ${b} bits`)).toEqual([]);
    expect(bits.filter(({ b }) => b < WS_X87_TRANSCENDENTAL_BITS).map(({ l, b }) => `${l.name} ${l.x}: ${b} bits`)).toEqual([]);
  }, 600_000);
});

// an unmodified distribution binary: Debian's /sbin/ldconfig is a static PIE (ET_DYN without
// PT_INTERP; the kernel loads it at ELF_ET_DYN_BASE and glibc relocates it itself)
describe('userland: Debian\'s static-PIE /sbin/ldconfig', () => {
  const LDCONFIG = '/sbin/ldconfig';
  const isStaticPie = (() => {
    if (!existsSync(LDCONFIG)) return false;
    const f = readFileSync(LDCONFIG);
    if (f.readUInt32BE(0) !== 0x7f454c46 || f[4] !== 2 || f.readUInt16LE(16) !== 3) return false;
    const phoff = Number(f.readBigUInt64LE(32));
    for (let i = 0; i < f.readUInt16LE(56); i++) if (f.readUInt32LE(phoff + 56 * i) === 3) return false;   // PT_INTERP
    return true;
  })();
  const why = !haveTools ? 'gcc/ld/objcopy not installed' : isStaticPie ? '' : `${LDCONFIG} is not a static PIE here`;
  let native: string | null = null;

  beforeAll(() => {
    if (haveTools) execFileSync('bash', [join(GUEST, 'build.sh')], { stdio: 'pipe' });
    if (why === '') native = spawnSync(LDCONFIG, ['--version'], { encoding: 'latin1' }).stdout;
  }, 180_000);

  const machines: [string, string, () => Run][] = [
    ['QEMU TCG', why || (haveQemu ? '' : `${QEMU} not installed`), () => runQemu('max', `${LDCONFIG} --version`)],
    ['worldswitch', why, () => runWorldswitch(`${LDCONFIG} --version`)],
  ];
  for (const [name, skipWhy, run] of machines) {
    it.skipIf(skipWhy !== '')(skipWhy ? `on ${name} (skipped: ${skipWhy})` : `on ${name}: ldconfig --version prints what it prints natively`, () => {
      expect(native).toMatch(/^ldconfig /);
      const r = run();
      expect(r.exitCode, `${name} (${r.status}):\n${r.report}`).toBe(0);
      expect(r.transcript).toBe(native);
      expect(r.report).toMatch(/^PASS: static_elf$/m);
    }, 120_000);
  }
});
