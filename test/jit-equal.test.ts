// The block compiler changes nothing observable: every test kernel, the KVM-style host, the
// whole-machine fuzz streams and the first instructions of a Linux boot run with the compiler
// off and on (at the default threshold, at 24, and at 1: every instruction starts a block at
// its first fetch, the harshest setting), and must give the same instruction count, cycles,
// output and final state (registers, RFLAGS, control registers, segments, event state, and a
// hash of every page written).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { bootLinux } from '../src/lab/linuxboot.js';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Machine } from '../src/machine/machine.js';
import { JIT_DEFAULTS } from '../src/cpu/jit/jit.js';
import { getFlags } from '../src/cpu/flags.js';
import { MachineFuzzer } from '../src/lab/machine-fuzz.js';
import { DESIGNS, runHost, type HostOptions } from '../src/lab/hostrun.js';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'build', 'guest');
const HOST = join(ROOT, 'build', 'host', 'host.elf');
const haveTools = ['gcc', 'ld', 'objcopy'].every((t) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0);
const FUZZ_STREAMS = Number(process.env.WS_JIT_FUZZ_STREAMS ?? 400);

/** the settings compared: off, on at the default threshold, at 24, and at 1 */
const MODES = [
  { name: 'interpreter', on: false, threshold: 1 },
  { name: 'jit', on: true, threshold: JIT_DEFAULTS.threshold },
  { name: 'jit eager', on: true, threshold: 1 },
  { name: 'jit threshold 24', on: true, threshold: 24 },
] as const;

function withJit<T>(mode: (typeof MODES)[number], f: () => T): T {
  const saved = { ...JIT_DEFAULTS };
  JIT_DEFAULTS.on = mode.on;
  JIT_DEFAULTS.threshold = mode.threshold;
  try {
    return f();
  } finally {
    Object.assign(JIT_DEFAULTS, saved);
  }
}

/** blocks entered and instructions run in blocks, over every run with the compiler on (the
 * comparison would be empty if no block ever ran) */
const ran = { blocks: 0, insns: 0, failed: 0 };
function noteJit(m: Machine): void {
  const j = m.cpu.jit;
  if (j !== null) { ran.blocks += j.stats.entered; ran.insns += j.stats.insns; ran.failed += j.stats.failed; }
}

/** FNV-1a over the pages the run wrote (page number and contents) */
function memHash(m: Machine): string {
  const mem = m.mem;
  let h = 0x811c9dc5;
  let pages = 0;
  for (let p = 0; p < mem.dirty.length; p++) {
    if (mem.dirty[p] === 0) continue;
    pages++;
    h = Math.imul(h ^ p, 0x01000193);
    const w = mem.i32;
    for (let k = p * 1024, e = k + 1024; k < e; k++) h = Math.imul(h ^ w[k], 0x01000193);
  }
  return `${pages} pages ${(h >>> 0).toString(16)}`;
}

/** what must be equal after a run */
function fingerprint(m: Machine): Record<string, unknown> {
  const c = m.cpu;
  return {
    icount: c.icount, cycles: c.cycles, rip: c.rip, ripStart: c.ripStart, flags: getFlags(c),
    rl: [...c.rl], rh: [...c.rh], segSel: [...c.segSel], segBase: [...c.segBase],
    cr: [c.cr0, c.cr2, c.cr3, c.cr4, c.efer, c.cpl, c.bits], events: [c.attention, c.halted, c.intShadow, c.nmiPending, c.stopReason],
    guest: c.guestMode, storms: c.stormCount, mem: memHash(m),
  };
}

function runImage(image: Uint8Array, budget: number): Record<string, unknown> {
  let text = '';
  const m = new Machine({ onUartByte: (b) => { text += String.fromCharCode(b); } });
  m.boot(image, { name: 'kernel' });
  const r = m.run(budget);
  noteJit(m);
  return { reason: r.reason, exit: r.exitStatus, text, ...fingerprint(m) };
}

beforeAll(() => {
  if (!haveTools) return;
  execFileSync('bash', [join(ROOT, 'guest', 'build.sh')], { stdio: 'pipe' });
  execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
}, 180_000);

describe('the block compiler changes nothing observable', () => {
  it.skipIf(!haveTools)('test kernels: same counts, cycles, output and final state', () => {
    const images2 = readdirSync(OUT).filter((f) => f.endsWith('.elf')).sort();
    expect(images2.length).toBeGreaterThan(20);
    let insns = 0;
    for (const f of images2) {
      const image = readFileSync(join(OUT, f));
      const ref = withJit(MODES[0], () => runImage(image, 150_000_000));
      insns += ref.icount as number;
      for (const mode of MODES.slice(1)) {
        const got = withJit(mode, () => runImage(image, 150_000_000));
        expect(got, `${f} with ${mode.name}`).toEqual(ref);
      }
    }
    console.log(`jit-equal: ${images2.length} kernels, ${insns} instructions each way; ${ran.blocks} blocks entered, ${ran.insns} instructions in blocks`);
    expect(ran.insns).toBeGreaterThan(insns / 10);
    expect(ran.failed, 'blocks that failed to compile').toBe(0);
  }, 600_000);

  const hostRuns: (Partial<HostOptions> & { design: string; workload: string })[] = [
    ...DESIGNS.map((design) => ({ design, workload: 'mix' })),
    { design: 'vmload', workload: 'mmio', nmi: 3, timer: 20000 },
    { design: 'broken-kgs', workload: 'hypercall' },
  ];
  for (const o of hostRuns) {
    it.skipIf(!haveTools)(`the host: ${JSON.stringify(o)}`, () => {
      const image = readFileSync(HOST);
      const strip = (r: ReturnType<typeof runHost>) => ({ text: r.text, status: r.status, icount: r.icount, cycles: r.cycles, serializing: r.serializing, msr: r.msrAccesses });
      const ref = withJit(MODES[0], () => strip(runHost(image, { iterations: 40, ...o } as HostOptions)));
      if (!o.design.startsWith('broken')) expect(ref.status).toBe('exit 3');
      for (const mode of MODES.slice(1)) {
        const got = withJit(mode, () => strip(runHost(image, { iterations: 40, ...o } as HostOptions)));
        expect(got, `host ${o.design}/${o.workload} with ${mode.name}`).toEqual(ref);
      }
    }, 300_000);
  }

  // Debian's Linux 6.1 (npm run linux): the first LINUX_INSNS instructions of its boot, both ways
  const LINUX = join(ROOT, '.cache', 'linux');
  const LINUX_INSNS = Number(process.env.WS_JIT_LINUX_INSNS ?? 40_000_000);
  const haveLinux = existsSync(join(LINUX, 'vmlinuz')) && existsSync(join(LINUX, 'init.cpio'));
  it.skipIf(!haveLinux)(`Linux boot: the first ${LINUX_INSNS} instructions${haveLinux ? '' : ' (skipped: no .cache/linux, npm run linux)'}`, () => {
    const kernel = readFileSync(join(LINUX, 'vmlinuz'));
    const initrd = readFileSync(join(LINUX, 'init.cpio'));
    const boot = () => {
      const r = bootLinux({ kernel, initrd, cmdline: 'console=ttyS0 cryptomgr.notests', maxInsns: LINUX_INSNS });
      noteJit(r.machine);
      return { log: r.log, stop: r.stop.reason, ...fingerprint(r.machine) };
    };
    const ref = withJit(MODES[0], boot);
    const got = withJit(MODES[3], boot);
    expect(got).toEqual(ref);
    expect(ref.icount).toBeGreaterThan(LINUX_INSNS / 2);
  }, 600_000);

  it(`${FUZZ_STREAMS} whole-machine fuzz streams`, () => {
    const fuzzers = MODES.slice(0, 3).map((mode) => withJit(mode, () => new MachineFuzzer()));
    let insns = 0;
    for (let seed = 1; seed <= FUZZ_STREAMS; seed++) {
      const outs = fuzzers.map((f) => {
        const r = f.stream(seed, 3000, 60_000);
        return { outcome: r.outcome, error: r.error, n: r.icount, ...fingerprint(f.m) };
      });
      insns += outs[0].n;
      expect(outs[1], `seed ${seed} with jit`).toEqual(outs[0]);
      expect(outs[2], `seed ${seed} with jit eager`).toEqual(outs[0]);
    }
    const before = ran.blocks;
    fuzzers.forEach((f) => noteJit(f.m));
    console.log(`jit-equal: ${FUZZ_STREAMS} fuzz streams, ${insns} instructions each way; ${ran.blocks - before} blocks entered`);
    expect(ran.blocks - before).toBeGreaterThan(FUZZ_STREAMS);
  }, 600_000);
});
