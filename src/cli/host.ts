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

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { Machine } from '../machine/machine.js';
import { Stop } from '../cpu/state.js';
import { UserError } from './main.js';

export const DESIGNS = ['msr', 'vmsave-v1', 'vmload', 'wrgsbase'] as const;
/** deliberately broken variants, for showing what the checks catch */
export const BROKEN_DESIGNS = ['broken-kgs', 'broken-stgi'] as const;
export const WORKLOADS = ['hlt', 'pio', 'mmio', 'hypercall', 'cpuid', 'mix'] as const;
/** the VMM's limit on iterations (its per-iteration arrays) */
export const MAX_ITERATIONS = 50000;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_HOST_IMAGE = join(ROOT, 'build', 'host', 'host.elf');

export interface HostOptions {
  design: string;
  workload: string;
  iterations: number;
  /** in-kernel exits per exit to the VMM (workloads mmio, hypercall, cpuid; mix: per group) */
  kexits?: number;
  /** mix: exits to the VMM per group (a fraction kexits / (kexits + uexits) stays in the kernel) */
  uexits?: number;
  fsgsbase?: boolean;
  /** an NMI is made pending inside every Nth world switch (0: none) */
  nmi?: number;
  /** LAPIC timer count (0: no timer) */
  timer?: number;
  maxInsns?: number;
}

export interface Phase { min: number; median: number; max: number }

export interface HostResult {
  design: string;
  /** the host's UART output */
  text: string;
  /** how the machine stopped: "exit 3" (all passed), "exit 7", or the stop reason */
  status: string;
  ok: boolean;
  /** the VMM's header line, key by key */
  vmm: Record<string, string>;
  phases: Map<string, Phase>;
  exitsUser: Record<string, number>;
  exitsKernel: Record<string, number>;
  checks: Record<string, number>;
  mismatches: string[];
  cpuid: { leaf: number; eax: number; ebx: number; ecx: number; edx: number }[];
  panic: string | null;
  icount: number;
}

/** the kernel command line for a run */
export function hostCmdline(o: HostOptions): string {
  const parts = [`design=${o.design}`, `workload=${o.workload}`, `iterations=${o.iterations}`];
  if (o.kexits !== undefined) parts.push(`kexits=${o.kexits}`);
  if (o.uexits !== undefined) parts.push(`uexits=${o.uexits}`);
  if (o.fsgsbase === false) parts.push('nofsgsbase');
  if (o.nmi) parts.push(`nmi=${o.nmi}`);
  if (o.timer !== undefined) parts.push(`timer=${o.timer}`);
  return parts.join(' ');
}

function keyValues(s: string): Record<string, string> {
  const r: Record<string, string> = {};
  for (const m of s.matchAll(/(\w+)=(\S*)/g)) r[m[1]] = m[2];
  return r;
}

function numbers(kv: Record<string, string>): Record<string, number> {
  const r: Record<string, number> = {};
  for (const [k, v] of Object.entries(kv)) r[k] = Number(v);
  return r;
}

/** Read the VMM's KEY lines (guest/host/vmm/vmm.c) out of the host's output. */
export function parseHostOutput(text: string): Omit<HostResult, 'design' | 'text' | 'status' | 'icount'> {
  const r: Omit<HostResult, 'design' | 'text' | 'status' | 'icount'> = {
    ok: false, vmm: {}, phases: new Map(), exitsUser: {}, exitsKernel: {}, checks: {}, mismatches: [], cpuid: [], panic: null,
  };
  for (const raw of text.split('\n')) {
    const l = raw.replace(/\r$/, '');
    const sp = l.indexOf(' ');
    const key = sp < 0 ? l : l.slice(0, sp);
    const rest = sp < 0 ? '' : l.slice(sp + 1);
    switch (key) {
      case 'VMM': Object.assign(r.vmm, keyValues(rest)); break;
      case 'PHASE': {
        const kv = keyValues(rest);
        r.phases.set(kv.name, { min: Number(kv.min), median: Number(kv.median), max: Number(kv.max) });
        break;
      }
      case 'EXITS':
        if (rest.startsWith('user ')) Object.assign(r.exitsUser, numbers(keyValues(rest)));
        else if (rest.startsWith('kernel ')) Object.assign(r.exitsKernel, numbers(keyValues(rest)));
        break;
      case 'CHECK': Object.assign(r.checks, numbers(keyValues(rest))); break;
      case 'MISMATCH': r.mismatches.push(rest); break;
      case 'CPUID': {
        const n = numbers(keyValues(rest));
        r.cpuid.push({ leaf: n.leaf >>> 0, eax: n.eax >>> 0, ebx: n.ebx >>> 0, ecx: n.ecx >>> 0, edx: n.edx >>> 0 });
        break;
      }
      case 'RESULT': r.ok = rest.trim() === 'ok'; break;
      case 'PANIC:': r.panic = rest; break;
      default: break;
    }
  }
  return r;
}

/** Boot the host image on a Machine with these options and read what the VMM printed. */
export function runHost(image: Uint8Array, o: HostOptions, onByte?: (b: number) => void): HostResult {
  const bytes: number[] = [];
  const m = new Machine({ onUartByte: (b) => { bytes.push(b); onByte?.(b); } });
  m.boot(image, { name: 'host.elf', cmdline: hostCmdline(o) });
  const budget = o.maxInsns ?? 20_000_000 + o.iterations * 100_000;
  const r = m.run(budget);
  const text = Buffer.from(bytes).toString('latin1');
  const status = r.reason === Stop.Exit ? `exit ${r.exitStatus}` : `${Stop[r.reason]} at RIP 0x${r.rip.toString(16)} after ${r.icount} instructions`;
  const parsed = parseHostOutput(text);
  // status 3 is the kernel's "the VMM finished and every check passed" (debug-exit value 1)
  return { design: o.design, text, status, icount: r.icount, ...parsed, ok: parsed.ok && status === 'exit 3' };
}

export function readHostImage(path: string = DEFAULT_HOST_IMAGE): Uint8Array {
  if (!existsSync(path)) {
    throw new UserError(`${path} not found: build the host first with guest/host/build.sh`);
  }
  return readFileSync(path);
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

function summary(r: HostResult): string[] {
  const u = r.exitsUser;
  const k = r.exitsKernel;
  const c = r.checks;
  const out = [
    `${r.design}: exits to the VMM: hlt ${u.hlt ?? 0}, io ${u.io ?? 0}, mmio ${u.mmio ?? 0}, other ${u.other ?? 0}; ` +
      `in the kernel: doorbell ${k.doorbell ?? 0}, hypercall ${k.hypercall ?? 0}, cpuid ${k.cpuid ?? 0}, intr ${k.intr ?? 0}, nmi ${k.nmi ?? 0} (${k.vmruns ?? 0} VMRUNs)`,
  ];
  if (r.ok) {
    out.push(`${r.design}: checks passed after all ${c.returns ?? 0} returns to the VMM; NMIs ${c.nmis ?? 0} (none on a bad GS base)`);
  } else {
    const why = r.panic !== null ? `kernel panic: ${r.panic}`
      : `${c.bad_returns ?? '?'} of ${c.returns ?? '?'} returns with host state not restored, ` +
        `${c.nmi_bad_gs ?? '?'} NMIs on a bad GS base, ${c.gs_violations ?? '?'} per-cpu GS violations; machine ${r.status}`;
    out.push(`${r.design}: FAILED: ${why}`);
    for (const m of r.mismatches.slice(0, 4)) out.push(`${r.design}:   mismatch ${m}`);
  }
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
}

function count(s: string, name: string, min: number, max: number): number {
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new UserError(`${name}: '${s}' is not an integer in ${min}..${max}`);
  return v;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** the mix's group for P percent of exits in the kernel: K in-kernel exits per U to the VMM */
export function mixGroup(percent: number): { kexits: number; uexits: number } {
  const g = gcd(percent, 100 - percent);
  return { kexits: percent / g, uexits: (100 - percent) / g };
}

export function hostCommand(o: HostCliOpts): number {
  const known = [...DESIGNS, ...BROKEN_DESIGNS] as readonly string[];
  if (o.design !== 'all' && !known.includes(o.design)) {
    throw new UserError(`--design: unknown '${o.design}' (one of ${DESIGNS.join(', ')}, all; or ${BROKEN_DESIGNS.join(', ')})`);
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
  };
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
    .action((opts: HostCliOpts) => { done(hostCommand(opts)); });
}
