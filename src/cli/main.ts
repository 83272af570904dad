/**
 * The `worldswitch` command line. Every user error (bad option, unreadable or malformed image)
 * ends in one line on stderr and a non-zero exit, never a stack trace.
 */

import { Command, CommanderError } from 'commander';
import { runCommand } from './run.js';
import { addHostCommand } from './host.js';
import { addBenchCommands } from './bench.js';
import { addVerifyCommand } from './verify.js';
import { addMeasureCommand } from './measure.js';
import { JIT_DEFAULTS } from '../cpu/jit/jit.js';

/** An error meant for the user: printed as one line. */
export class UserError extends Error {}

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('worldswitch')
    .description('An AMD-V capable x86-64 machine for studying hypervisor world switches')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .option('--jit', 'compile hot guest code to JavaScript (the block compiler; changes nothing observable)')
    .option('--no-jit', 'interpret every instruction');
  // the block compiler setting applies to every machine the command builds
  program.hook('preAction', () => {
    const on = (program.opts() as { jit?: boolean }).jit;
    if (on !== undefined) JIT_DEFAULTS.on = on;
  });

  let code = 0;
  program
    .command('run')
    .description('boot a Linux bzImage or PVH vmlinux, a multiboot v1 (ELF32 / a.out kludge) or an ELF64 image')
    .argument('<image>', 'kernel image')
    .option('--append <cmdline>', 'kernel command line', '')
    .option('--initrd <file>', 'Linux initramfs (newc cpio, or compressed)')
    .option('--module <file>', 'multiboot module (repeatable; "file args" passes a command line)', collect, [])
    .option('--mem <size>', 'RAM size, e.g. 256M, 1G, 4G', '256M')
    .option('--max-insns <n>', 'stop after this many instructions', '2000000000')
    .option('--trace', 'print every instruction (disassembled) on stderr')
    .option('--stats', 'print instructions and cycles on stderr at the end')
    .option('--symbols <System.map>', 'name the code at RIP in stop and progress lines (a Linux System.map)')
    .option('--quiet', 'no progress line on stderr during long runs')
    .option('--cpus <n>', 'number of CPUs (CPU 0 boots, the others wait for INIT/SIPI)', '1')
    .option('--quantum <n>', 'with more than one CPU: instructions per CPU per turn', '1000')
    .action(async (image: string, opts: RunOpts) => { code = await runCommand(image, opts); });
  addHostCommand(program, (c) => { code = c; });
  addBenchCommands(program, (c) => { code = c; });
  addVerifyCommand(program, (c) => { code = c; });
  addMeasureCommand(program, (c) => { code = c; });

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UserError || isLoadError(e)) {
      process.stderr.write(`worldswitch: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
  return code;
}

export interface RunOpts {
  append: string;
  module: string[];
  initrd?: string;
  mem: string;
  maxInsns: string;
  trace?: boolean;
  stats?: boolean;
  quiet?: boolean;
  symbols?: string;
  cpus: string;
  quantum: string;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function isLoadError(e: unknown): boolean {
  return e instanceof Error && e.name === 'LoadError';
}
