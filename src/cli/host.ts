/**
 * `worldswitch host`: boot the KVM-style host (guest/host/, built by guest/host/build.sh into
 * build/host/host.elf) with a host-state design and a guest workload, and print the VMM's
 * per-phase timing table: RDTSC cycles per KVM_RUN from ioctl entry to just before VMRUN, from
 * there to just after the design's restore, and on to ioctl exit (the points Michael Roth timed
 * in the Dec 2020 KVM thread), min and median over the iterations. `--design all` runs the four
 * designs and prints them side by side.
 *
 * Nothing is built here: a missing image is a one-line error saying how to build it. The TSC is
 * the machine's cycle counter, one cycle per instruction until a cost model is chosen.
 */

import { existsSync } from 'node:fs';
import { readInputFile } from './files.js';
import { readSymbols } from '../lab/symbols.js';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { MUTANTS } from '../lab/verify-mutants.js';
import { UserError } from './main.js';
import { parseCpus } from './run.js';
import { DESIGNS, BROKEN_DESIGNS, MIGRATION_MUTANTS, WORKLOADS, MAX_ITERATIONS, mixGroup, runHost, type HostOptions, type HostResult } from '../lab/hostrun.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_HOST_IMAGE = join(ROOT, 'build', 'host', 'host.elf');

export { DESIGNS, BROKEN_DESIGNS, WORKLOADS, MAX_ITERATIONS, hostCmdline, mixGroup, parseHostOutput, runHost } from '../lab/hostrun.js';
export type { HostOptions, HostResult, Phase } from '../lab/hostrun.js';

export function readHostImage(path: string = DEFAULT_HOST_IMAGE): Uint8Array {
  if (!existsSync(path)) {
    throw new UserError(`${path} not found: build the host first with guest/host/build.sh`);
  }
  const image = readInputFile(path, 'host image');
  checkHostImage(image, path);
  return image;
}

/** symbols every tool that boots the host needs (the verifier's probes among them) */
const HOST_SYMBOLS = ['syscall_entry', 'vmm_start', 'percpu_offset', 'do_nmi', 'trap_dispatch'];

/** refuse, in one line, an image that is not an ELF build of guest/host/ */
function checkHostImage(image: Uint8Array, path: string): void {
  let syms;
  try {
    syms = readSymbols(image);
  } catch (e) {
    throw new UserError(`host image ${path}: ${e instanceof RangeError ? 'truncated or malformed ELF image' : (e as Error).message.split('\n')[0]}`);
  }
  const missing = HOST_SYMBOLS.find((n) => syms.get(n) === undefined);
  if (missing !== undefined) {
    throw new UserError(`host image ${path} is not the worldswitch host (no symbol ${missing}): build it with guest/host/build.sh`);
  }
}

// ---- the table ----

const PHASE_ROWS: [name: string, label: string][] = [
  ['entry_to_vmrun', 'ioctl entry -> before VMRUN'],
  ['in_kernel_exits', 'in-kernel exits (first -> last VMRUN)'],
  ['per_kernel_exit', '  per in-kernel exit'],
  ['vmrun_to_post', 'before VMRUN -> after restore'],
  ['post_to_exit', 'after restore -> ioctl exit'],
  ['total', 'total (ioctl entry -> exit)'],
];

function pad(s: string, n: number, left = false): string {
  return left ? s.padEnd(n) : s.padStart(n);
}

/** the per-phase table, one column pair (min, median) per result */
export function formatTable(results: HostResult[]): string {
  const labelW = Math.max(...PHASE_ROWS.map(([, l]) => l.length)) + 2;
  const colW = 20;
  const lines: string[] = [];
  lines.push(pad('RDTSC cycles per KVM_RUN', labelW, true) + results.map((r) => pad(r.design, colW)).join(''));
  lines.push(pad('', labelW, true) + results.map(() => pad('min   median', colW)).join(''));
  for (const [name, label] of PHASE_ROWS) {
    const cells = results.map((r) => {
      const p = r.phases.get(name);
      return pad(p === undefined ? '-' : `${p.min}  ${pad(String(p.median), 6)}`, colW);
    });
    lines.push(pad(label, labelW, true) + cells.join(''));
  }
  return lines.join('\n');
}

/** where the NMIs landed (nmiipi=N: NMI IPIs from the idle CPU) */
export function nmiCensus(r: HostResult): string {
  const c = r.checks;
  const exits = r.exitsKernel.nmi ?? 0;
  const atStgi = c.nmi_after_stgi ?? 0;
  return `${c.nmiipi_sent ?? 0} NMI IPIs sent, ${c.nmis ?? 0} NMIs taken: ${exits} in the guest (NMI #VMEXIT, taken at STGI), ` +
    `${atStgi - exits} in the host between CLGI and STGI (held to STGI), ${c.nmi_run ?? 0} elsewhere in KVM_RUN, ` +
    `${c.nmi_user ?? 0} in the VMM (ring 3), ${c.nmi_kernel ?? 0} in other kernel code, ${c.nmi_idle ?? 0} in an idle loop; ` +
    `${c.nmi_bad_gs ?? '?'} on a bad GS base, ${c.nmi_bad_tr ?? '?'} through a wrong TSS, ${c.nmi_percpu_bad ?? '?'} per-cpu count mismatches`;
}

function summary(r: HostResult): string[] {
  const u = r.exitsUser;
  const k = r.exitsKernel;
  const c = r.checks;
  const out = [
    `${r.design}: exits to the VMM: hlt ${u.hlt ?? 0}, io ${u.io ?? 0}, mmio ${u.mmio ?? 0}, other ${u.other ?? 0}; ` +
      `in the kernel: doorbell ${k.doorbell ?? 0}, hypercall ${k.hypercall ?? 0}, cpuid ${k.cpuid ?? 0}, intr ${k.intr ?? 0}, nmi ${k.nmi ?? 0} (${k.vmruns ?? 0} VMRUNs)`,
  ];
  if (r.ok) {
    out.push(`${r.design}: checks passed after all ${c.returns ?? 0} returns to the VMM; NMIs ${c.nmis ?? 0} (none on a bad GS base or TSS)`);
  } else {
    const why = r.panic !== null ? `kernel panic: ${r.panic}`
      : `${c.bad_returns ?? '?'} of ${c.returns ?? '?'} returns with host state not restored, ` +
        `${c.nmi_bad_gs ?? '?'} NMIs on a bad GS base, ${c.gs_violations ?? '?'} per-cpu GS violations; machine ${r.status}`;
    out.push(`${r.design}: FAILED: ${why}`);
    for (const m of r.mismatches.slice(0, 4)) out.push(`${r.design}:   mismatch ${m}`);
  }
  if ((c.nmiipi_sent ?? 0) > 0) out.push(`${r.design}: ${nmiCensus(r)}`);
  return out;
}

export interface HostCliOpts {
  design: string;
  workload: string;
  iterations: string;
  kexits?: string;
  uexits?: string;
  inKernel?: string;
  fsgsbase: boolean;
  nmi?: string;
  timer?: string;
  image?: string;
  raw?: boolean;
  maxInsns?: string;
  cpus?: string;
  migrate?: string;
  nmiipi?: string;
  quantum?: string;
}

function count(s: string, name: string, min: number, max: number): number {
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new UserError(`${name}: '${s}' is not an integer in ${min}..${max}`);
  return v;
}

export function hostCommand(o: HostCliOpts): number {
  const broken = [...new Set([...BROKEN_DESIGNS, ...MIGRATION_MUTANTS, ...MUTANTS.map((m) => m.name)])];
  const known = [...DESIGNS, ...broken] as readonly string[];
  if (o.design !== 'all' && !known.includes(o.design)) {
    throw new UserError(`--design: unknown '${o.design}' (one of ${DESIGNS.join(', ')}, all; or a mutant: ${broken.join(', ')})`);
  }
  if (!(WORKLOADS as readonly string[]).includes(o.workload)) {
    throw new UserError(`--workload: unknown '${o.workload}' (one of ${WORKLOADS.join(', ')})`);
  }
  const iterations = count(o.iterations, '--iterations', 1, MAX_ITERATIONS);
  let kexits = o.kexits === undefined ? undefined : count(o.kexits, '--kexits', 0, 1_000_000);
  let uexits = o.uexits === undefined ? undefined : count(o.uexits, '--uexits', 1, 1_000_000);
  if ((uexits !== undefined || o.inKernel !== undefined) && o.workload !== 'mix') {
    throw new UserError('--uexits and --in-kernel apply to --workload mix only');
  }
  if (o.inKernel !== undefined) {
    if (kexits !== undefined || uexits !== undefined) throw new UserError('--in-kernel replaces --kexits and --uexits: give one or the other');
    ({ kexits, uexits } = mixGroup(count(o.inKernel, '--in-kernel', 0, 99)));
  }
  const base: Omit<HostOptions, 'design'> = {
    workload: o.workload,
    iterations,
    kexits,
    uexits,
    fsgsbase: o.fsgsbase,
    nmi: o.nmi === undefined ? undefined : count(o.nmi, '--nmi', 0, 1_000_000_000),
    timer: o.timer === undefined ? undefined : count(o.timer, '--timer', 0, 0xffffffff),
    maxInsns: o.maxInsns === undefined ? undefined : count(o.maxInsns, '--max-insns', 1, Number.MAX_SAFE_INTEGER),
    cpus: parseCpus(o.cpus ?? '1'),
    migrate: o.migrate === undefined ? undefined : count(o.migrate, '--migrate', 0, 1_000_000),
    nmiipi: o.nmiipi === undefined ? undefined : count(o.nmiipi, '--nmiipi', 0, 1_000_000),
    quantum: o.quantum === undefined ? undefined : count(o.quantum, '--quantum', 1, 1_000_000_000),
  };
  if ((base.migrate ?? 0) > 0 && (base.cpus ?? 1) < 2) throw new UserError('--migrate needs --cpus 2 or more');
  if ((base.nmiipi ?? 0) > 0 && (base.cpus ?? 1) < 2) throw new UserError('--nmiipi needs --cpus 2 or more');
  const image = readHostImage(o.image ?? DEFAULT_HOST_IMAGE);
  const designs = o.design === 'all' ? [...DESIGNS] : [o.design];
  const results: HostResult[] = [];
  for (const d of designs) {
    const r = runHost(image, { ...base, design: d });
    if (o.raw) process.stdout.write(r.text.replace(/\r/g, ''));
    results.push(r);
  }
  const v = results[0].vmm;
  const k = Number(v.kexits ?? 0);
  const u = o.workload === 'mix' ? Number(v.uexits ?? 1) : 1;
  const kex = k === 0 ? '' : o.workload === 'mix'
    ? `, ${k} in-kernel exits per ${u} to the VMM (${Math.round((100 * k) / (k + u))}% in the kernel)`
    : `, ${k} in-kernel exits per exit to the VMM`;
  process.stdout.write(`workload ${o.workload}, ${iterations} iterations${kex}, FSGSBASE ${o.fsgsbase ? 'on' : 'off'}` +
    `${base.nmi ? `, an NMI pending in every ${base.nmi}th world switch` : ''}; TSC = 1 cycle per instruction\n\n`);
  process.stdout.write(formatTable(results) + '\n\n');
  for (const r of results) process.stdout.write(summary(r).join('\n') + '\n');
  return results.every((r) => r.ok) ? 0 : 1;
}

/** Register `worldswitch host` on the program; `done` receives the exit code. */
export function addHostCommand(program: Command, done: (code: number) => void): void {
  program
    .command('host')
    .description('run the KVM-style host with a host-state design and print the VMM\'s per-phase cycle table')
    .option('--design <name>', `${DESIGNS.join(', ')}, or all (side by side)`, 'vmload')
    .option('--workload <name>', WORKLOADS.join(', '), 'hlt')
    .option('--iterations <n>', 'KVM_RUN calls', '1000')
    .option('--kexits <k>', 'in-kernel exits per exit to the VMM (mmio, hypercall, cpuid; mix: per group)')
    .option('--uexits <u>', 'mix: exits to the VMM per group (default 1)')
    .option('--in-kernel <percent>', 'mix: the percentage of exits handled in the kernel (sets --kexits and --uexits)')
    .option('--no-fsgsbase', 'boot with CR4.FSGSBASE off (the kernel\'s nofsgsbase)')
    .option('--nmi <n>', 'make an NMI pending inside every nth world switch (a probe of the GIF=0 window)')
    .option('--timer <n>', 'LAPIC timer period in cycles (0: off; default 100000)')
    .option('--image <path>', 'host image (default build/host/host.elf)')
    .option('--raw', 'also print the host\'s console output')
    .option('--max-insns <n>', 'stop each run after this many instructions')
    .option('--cpus <n>', 'CPUs in the machine (the host runs on CPU 0)', '1')
    .option('--migrate <n>', 'with --cpus 2: the VMM moves to the other CPU every n KVM_RUNs (vcpu_put there, vcpu_load here)')
    .option('--nmiipi <n>', 'with --cpus 2: the CPU without the VMM sends it an NMI IPI every n passes of its idle loop')
    .option('--quantum <n>', 'with --cpus 2 or more: instructions per CPU per turn (default 1000)')
    .action((opts: HostCliOpts) => { done(hostCommand(opts)); });
}
