/** `worldswitch run IMAGE`: boot an image, UART to stdout, exit status from the debug-exit port. */

import { readInputFile } from './files.js';
import { Machine, MAX_CPUS, MAX_MEM_SIZE } from '../machine/machine.js';
import { readModules } from '../machine/loaders.js';
import { isBzImage, pvhEntry } from '../machine/linux.js';
import { Stop } from '../cpu/state.js';
import { disasm } from '../x86/disasm.js';
import { UserError, type RunOpts } from './main.js';
import { parseSystemMap } from '../lab/sysmap.js';
import type { SymbolTable } from '../lab/symbols.js';

/** "256M", "4G", "65536", "0x100000" -> bytes */
export function parseSize(s: string): number {
  const m = /^(0x[0-9a-f]+|\d+)([kmg]i?b?)?$/i.exec(s.trim());
  if (m === null) throw new UserError(`--mem: cannot read size '${s}' (use e.g. 256M or 4G)`);
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase()[0];
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1 << 20 : unit === 'g' ? 1 << 30 : 1;
  const v = n * mult;
  if (v < 2 << 20 || v % 4096 !== 0) throw new UserError(`--mem: ${s} must be at least 2M and a multiple of 4K`);
  if (v > MAX_MEM_SIZE) throw new UserError(`--mem: ${s} reaches the APIC area at 0xfec00000 (at most ${MAX_MEM_SIZE >>> 20}M)`);
  return v;
}

function parseCount(s: string, name: string): number {
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v <= 0) throw new UserError(`${name}: '${s}' is not a positive integer`);
  return v;
}

/** --cpus: 1..MAX_CPUS */
export function parseCpus(s: string): number {
  const v = Number(s);
  if (!Number.isInteger(v) || v < 1 || v > MAX_CPUS) throw new UserError(`--cpus: '${s}' is not a number of CPUs from 1 to ${MAX_CPUS}`);
  return v;
}

function readImage(path: string, what = 'image'): Uint8Array {
  return readInputFile(path, what);
}

/** instructions per slice of the interactive run loop (stdin and progress between slices) */
const SLICE = 2_000_000;
const PROGRESS_MS = 2000;
/** smaller slices when simulated time is held to wall time (an idle slice spans less time) */
const SLICE_INTERACTIVE = 100_000;

/**
 * Host input for the UART: bytes from stdin go to the guest's receiver. On a terminal, stdin is
 * put in raw mode (keys reach the guest as typed, ^C included) and Ctrl-A x ends the run, as in
 * QEMU's -nographic. Returns a function that detaches it, and a flag set by Ctrl-A x.
 */
function attachStdin(queue: (b: Uint8Array) => void): { detach: () => void; quit: { v: boolean }; ended: { v: boolean } } {
  const stdin = process.stdin;
  const quit = { v: false };
  const ended = { v: false };
  const tty = stdin.isTTY === true;
  let ctrlA = false;
  const onData = (d: Buffer) => {
    if (tty) {
      const out: number[] = [];
      for (const b of d) {
        if (ctrlA) { ctrlA = false; if (b === 0x78) { quit.v = true; return; } if (b !== 0x01) out.push(0x01); out.push(b); continue; }
        if (b === 0x01) { ctrlA = true; continue; }
        out.push(b);
      }
      queue(Uint8Array.from(out));
    } else {
      queue(new Uint8Array(d));
    }
  };
  if (tty) stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.on('error', () => { ended.v = true; });
  stdin.on('end', () => { ended.v = true; });
  stdin.resume();
  return {
    quit,
    ended,
    detach: () => {
      stdin.off('data', onData);
      if (tty) stdin.setRawMode(false);
      stdin.pause();
      (stdin as { unref?: () => void }).unref?.();
    },
  };
}

function hex(n: number): string {
  return n < 0 ? '-0x' + (-n).toString(16) : '0x' + n.toString(16);
}

let symbols: SymbolTable | null = null;

/** a RIP as a 64-bit hex number, with the System.map symbol when --symbols was given */
function where(rip: number): string {
  const h = rip < 0 ? '0x' + BigInt.asUintN(64, BigInt(rip)).toString(16) : hex(rip);
  return symbols !== null ? `${h} (${symbols.describe(rip)})` : h;
}

export async function runCommand(image: string, opts: RunOpts): Promise<number> {
  const memSize = parseSize(opts.mem);
  const maxInsns = parseCount(opts.maxInsns, '--max-insns');
  const cpus = parseCpus(opts.cpus ?? '1');
  const quantum = parseCount(opts.quantum ?? '1000', '--quantum');
  const file = readImage(image);
  const modules = readModules(opts.module, (p) => readInputFile(p, 'module'));
  const initrd = opts.initrd !== undefined ? readImage(opts.initrd, 'initrd') : undefined;
  symbols = opts.symbols !== undefined ? parseSystemMap(new TextDecoder().decode(readImage(opts.symbols, 'symbol map'))) : null;
  const out = process.stdout;
  const buf: number[] = [];
  const machine = new Machine({
    memSize,
    cpus,
    quantum,
    onUartByte: (b) => { buf.push(b); if (b === 10 || buf.length >= 4096) flush(); },
  });
  const flush = () => { if (buf.length) { out.write(Buffer.from(buf)); buf.length = 0; } };
  // a multiboot kernel's command line starts with the image name as given, as GRUB's `multiboot`
  // line and QEMU's -kernel do (QEMU hw/i386/multiboot.c: "%s %s" of the file name and -append);
  // Linux kernels get the command line alone, as QEMU's -append gives it
  const linux = isBzImage(file) || pvhEntry(file) !== null;
  machine.boot(file, { name: image, cmdline: linux ? opts.append : `${image} ${opts.append}`, modules, initrd, initrdName: opts.initrd });
  const cpu = machine.cpu;
  let r;
  if (opts.trace) {
    // one instruction at a time, each printed before it runs
    const end = machine.icount() + maxInsns;
    const many = machine.cpus.length > 1;
    const lines = machine.cpus.map(() => '');
    const before = machine.cpus.map(() => 0);
    for (;;) {
      machine.cpus.forEach((c, k) => {
        let text: string;
        try { text = disasm(c.peek(), c.ripLinear()); } catch { text = '(fetch faults)'; }
        lines[k] = `${many ? `cpu${k} ` : ''}${hex(c.ripLinear())}: ${text}\n`;
        before[k] = c.icount;
      });
      if (!many) process.stderr.write(lines[0]);
      r = machine.run(1);
      // with more CPUs: the line of the CPU that ran (an instruction that faulted prints nothing)
      if (many) machine.cpus.forEach((c, k) => { if (c.icount !== before[k]) process.stderr.write(lines[k]); });
      if (r.reason !== Stop.Budget || machine.icount() >= end) break;
    }
  } else {
    // in slices, so that stdin reaches the UART and a progress line can be printed
    let typed = false;
    const input = attachStdin((b) => { typed = true; machine.uart.queueInput(b); });
    // on a terminal the session is interactive: simulated time is held to wall time (an idle
    // guest would otherwise race ahead from timer tick to timer tick, burning the host CPU), and
    // the progress lines stop once the user types
    const interactive = process.stdin.isTTY === true;
    const t0 = Date.now();
    let lastProgress = t0;
    const showProgress = !opts.quiet && !opts.trace;
    const end = machine.icount() + maxInsns;
    try {
      for (;;) {
        r = machine.run(Math.min(interactive ? SLICE_INTERACTIVE : SLICE, end - machine.icount()));
        // halted with interrupts on and nothing scheduled: only host input can wake it
        const waiting = r.reason === Stop.Halt && (cpu.flags & 0x200) !== 0 && !input.ended.v;
        if (waiting) {
          const pending = machine.uart.inputPending;
          while (!input.ended.v && !input.quit.v && machine.uart.inputPending === pending) await new Promise((res) => setTimeout(res, 10));
          cpu.halted = true;
        } else if (r.reason !== Stop.Budget || machine.icount() >= end) break;
        // a guest waiting for input halts with nothing to wake it: wait for the host
        await new Promise((res) => setImmediate(res));
        // interactive: wait while simulated time is ahead of wall time, unless input arrives
        const pending = machine.uart.inputPending;
        while (interactive && !input.quit.v && machine.uart.inputPending === pending && cpu.cycles / machine.tscHz * 1000 > Date.now() - t0 + 5) {
          await new Promise((res) => setTimeout(res, 10));
        }
        if (input.quit.v) { flush(); process.stderr.write('worldswitch: ended by Ctrl-A x\n'); return 130; }
        const now = Date.now();
        if (showProgress && !(interactive && typed) && now - lastProgress >= PROGRESS_MS) {
          lastProgress = now;
          flush();
          const mips = machine.icount() / 1e3 / Math.max(1, now - t0);
          const sim = cpu.cycles / machine.tscHz;
          process.stderr.write(`worldswitch: ${(machine.icount() / 1e6).toFixed(0)}M instructions, simulated ${sim.toFixed(3)} s, wall ${((now - t0) / 1000).toFixed(0)} s, ${mips.toFixed(1)} MIPS, RIP ${where(cpu.rip)}\n`);
        }
      }
    } finally {
      input.detach();
    }
  }
  flush();
  if (opts.stats) {
    process.stderr.write(`instructions ${r.icount}, cycles ${r.cycles}\n`);
    if (r.perCpu !== undefined) r.perCpu.forEach((p, k) => process.stderr.write(`cpu ${k}: instructions ${p.icount}, cycles ${p.cycles}\n`));
  }
  switch (r.reason) {
    case Stop.Exit:
      return r.exitStatus ?? 0;
    case Stop.Budget:
      process.stderr.write(`worldswitch: stopped after ${maxInsns} instructions (--max-insns) at RIP ${where(cpu.rip)}\n`);
      return 124;
    case Stop.Shutdown: {
      // with more CPUs: the one that shut down
      const k = Math.max(0, machine.cpus.findIndex((c) => c.stopReason === Stop.Shutdown));
      const sd = machine.cpus[k].shutdown;
      const chain = sd.chain.map((v) => `#${v}`).join(' -> ');
      process.stderr.write(`worldswitch: shutdown (${sd.reason})${machine.cpus.length > 1 ? ` on CPU ${k}` : ''} at RIP ${where(sd.rip)}, exceptions ${chain}\n`);
      return 3;
    }
    case Stop.Reset:
      // QEMU's -no-reboot ends there too; this machine has no firmware to boot again
      process.stderr.write(`worldswitch: the guest reset the machine: ${machine.stopCause} at RIP ${hex(cpu.rip)}\n`);
      return 6;
    case Stop.Halt:
      process.stderr.write(`worldswitch: halted with no interrupt that can wake it at RIP ${where(cpu.rip)}\n`);
      return 4;
    default:
      process.stderr.write(`worldswitch: stopped (${Stop[r.reason]}) at RIP ${where(cpu.rip)}\n`);
      return 5;
  }
}
