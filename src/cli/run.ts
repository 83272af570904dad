/** `worldswitch run IMAGE`: boot an image, UART to stdout, exit status from the debug-exit port. */

import { readInputFile } from './files.js';
import { Machine, MAX_MEM_SIZE } from '../machine/machine.js';
import { readModules } from '../machine/loaders.js';
import { Stop } from '../cpu/state.js';
import { disasm } from '../x86/disasm.js';
import { UserError, type RunOpts } from './main.js';

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

function readImage(path: string): Uint8Array {
  return readInputFile(path, 'image');
}

function hex(n: number): string {
  return n < 0 ? '-0x' + (-n).toString(16) : '0x' + n.toString(16);
}

export async function runCommand(image: string, opts: RunOpts): Promise<number> {
  const memSize = parseSize(opts.mem);
  const maxInsns = parseCount(opts.maxInsns, '--max-insns');
  const file = readImage(image);
  const modules = readModules(opts.module, (p) => readInputFile(p, 'module'));
  const out = process.stdout;
  const buf: number[] = [];
  const machine = new Machine({
    memSize,
    onUartByte: (b) => { buf.push(b); if (b === 10 || buf.length >= 4096) flush(); },
  });
  const flush = () => { if (buf.length) { out.write(Buffer.from(buf)); buf.length = 0; } };
  // the kernel's command line starts with the image name as given, as GRUB's `multiboot` line
  // and QEMU's -kernel do (QEMU hw/i386/multiboot.c: "%s %s" of the file name and -append)
  machine.boot(file, { name: image, cmdline: `${image} ${opts.append}`, modules });
  const cpu = machine.cpu;
  let r;
  if (opts.trace) {
    // one instruction at a time, each printed before it runs
    const end = cpu.icount + maxInsns;
    for (;;) {
      let text: string;
      try { text = disasm(cpu.peek(), cpu.ripLinear()); } catch { text = '(fetch faults)'; }
      process.stderr.write(`${hex(cpu.ripLinear())}: ${text}\n`);
      r = machine.run(1);
      if (r.reason !== Stop.Budget || cpu.icount >= end) break;
    }
  } else {
    r = machine.run(maxInsns);
  }
  flush();
  if (opts.stats) process.stderr.write(`instructions ${r.icount}, cycles ${r.cycles}\n`);
  switch (r.reason) {
    case Stop.Exit:
      return r.exitStatus ?? 0;
    case Stop.Budget:
      process.stderr.write(`worldswitch: stopped after ${maxInsns} instructions (--max-insns) at RIP ${hex(cpu.rip)}\n`);
      return 124;
    case Stop.Shutdown: {
      const chain = cpu.shutdown.chain.map((v) => `#${v}`).join(' -> ');
      process.stderr.write(`worldswitch: shutdown (${cpu.shutdown.reason}) at RIP ${hex(cpu.shutdown.rip)}, exceptions ${chain}\n`);
      return 3;
    }
    case Stop.Reset:
      // QEMU's -no-reboot ends there too; this machine has no firmware to boot again
      process.stderr.write(`worldswitch: the guest reset the machine: ${machine.stopCause} at RIP ${hex(cpu.rip)}\n`);
      return 6;
    case Stop.Halt:
      process.stderr.write(`worldswitch: halted with no interrupt that can wake it at RIP ${hex(cpu.rip)}\n`);
      return 4;
    default:
      process.stderr.write(`worldswitch: stopped (${Stop[r.reason]}) at RIP ${hex(cpu.rip)}\n`);
      return 5;
  }
}
