/**
 * Running the KVM-style host (guest/host/) on a Machine and reading what its VMM prints: the
 * per-phase RDTSC timings of KVM_RUN, exit counts, host-state checks. Shared by
 * `worldswitch host`, `worldswitch bench` and the verifier.
 */

import { Machine } from '../machine/machine.js';
import { Stop } from '../cpu/state.js';
import type { CostProfile } from '../cost/profile.js';
import { readSymbols } from './symbols.js';

export const DESIGNS = ['msr', 'vmsave-v1', 'vmload', 'vmload-notss', 'wrgsbase'] as const;
/** deliberately broken variants, for showing what the checks catch */
export const BROKEN_DESIGNS = ['broken-kgs', 'broken-stgi'] as const;
/** mutants that are wrong only when the vcpu migrates (guest/host/kvm/mutant_smp.c) */
export const MIGRATION_MUTANTS = ['wrgsbase-pcpu-once', 'vmload-hsave-first', 'vmload-hsave-msr-first'] as const;
export const WORKLOADS = ['hlt', 'pio', 'mmio', 'hypercall', 'cpuid', 'mix'] as const;
/** the VMM's limit on iterations (its per-iteration arrays) */
export const MAX_ITERATIONS = 50000;

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
  /** count instructions, serializing instructions and MSR accesses inside KVM_RUN */
  measureIoctl?: boolean;
  /** CPUs in the machine (default 1; the host kernel runs on CPU 0) */
  cpus?: number;
  /** the VMM moves to the other CPU every N KVM_RUNs (needs cpus >= 2; 0: never) */
  migrate?: number;
  /** the CPU without the VMM sends it an NMI IPI every N passes of its idle loop (needs cpus >= 2) */
  nmiipi?: number;
  /** with more than one CPU: instructions per CPU per turn (Machine's quantum) */
  quantum?: number;
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
  /** machine totals for the whole run (boot included) */
  cycles: number;
  msrAccesses: number;
  serializing: number;
  /** inside the KVM_RUN ioctl (kvm_run_ioctl, entry to return), summed over its calls */
  ioctl: IoctlStats;
}

export interface IoctlStats {
  calls: number;
  instructions: number;
  serializing: number;
  msrAccesses: number;
  cycles: number;
}

/**
 * Count what the CPU does inside kvm_run_ioctl: a breakpoint at its entry notes the counters
 * and the return address; a second breakpoint there adds up the difference.
 */
function measureIoctl(m: Machine, image: Uint8Array): IoctlStats {
  const st: IoctlStats = { calls: 0, instructions: 0, serializing: 0, msrAccesses: 0, cycles: 0 };
  let entry: number | undefined;
  try { entry = readSymbols(image).get('kvm_run_ioctl'); } catch { entry = undefined; }
  if (entry === undefined) return st;
  const c = m.cpu;
  let ret = -1;
  let i0 = 0; let s0 = 0; let m0 = 0; let c0 = 0;
  const hook = (cpu: typeof c, lin: number) => {
    if (lin === entry) {
      i0 = cpu.icount; s0 = cpu.serializingCount; m0 = cpu.msrAccesses; c0 = cpu.cycles;
      if (ret < 0) {
        // the return address on the stack: constant, the ioctl has one caller
        ret = cpu.mem.read32(cpu.paging.translate(cpu.rh[4] * 4294967296 + (cpu.rl[4] >>> 0), 0, false)) >>> 0;
        cpu.setBreakpoints(new Set([entry!, ret]));
      }
    } else if (lin === ret) {
      st.calls++;
      st.instructions += cpu.icount - i0;
      st.serializing += cpu.serializingCount - s0;
      st.msrAccesses += cpu.msrAccesses - m0;
      st.cycles += cpu.cycles - c0;
    }
  };
  c.setBreakpoints(new Set([entry]), hook);
  return st;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** the mix's group for P percent of exits in the kernel: K in-kernel exits per U to the VMM */
export function mixGroup(percent: number): { kexits: number; uexits: number } {
  const g = gcd(percent, 100 - percent);
  return { kexits: percent / g, uexits: (100 - percent) / g };
}

/** the kernel command line for a run */
export function hostCmdline(o: HostOptions): string {
  const parts = [`design=${o.design}`, `workload=${o.workload}`, `iterations=${o.iterations}`];
  if (o.kexits !== undefined) parts.push(`kexits=${o.kexits}`);
  if (o.uexits !== undefined) parts.push(`uexits=${o.uexits}`);
  if (o.fsgsbase === false) parts.push('nofsgsbase');
  if (o.nmi) parts.push(`nmi=${o.nmi}`);
  if (o.timer !== undefined) parts.push(`timer=${o.timer}`);
  if (o.migrate) parts.push(`migrate=${o.migrate}`);
  if (o.nmiipi) parts.push(`nmiipi=${o.nmiipi}`);
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
export function parseHostOutput(text: string): Omit<HostResult, 'design' | 'text' | 'status' | 'icount' | 'cycles' | 'msrAccesses' | 'serializing' | 'ioctl'> {
  const r: Omit<HostResult, 'design' | 'text' | 'status' | 'icount' | 'cycles' | 'msrAccesses' | 'serializing' | 'ioctl'> = {
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
export function runHost(image: Uint8Array, o: HostOptions, onByte?: (b: number) => void, profile?: CostProfile | null): HostResult {
  const bytes: number[] = [];
  const m = new Machine({ cpus: o.cpus, quantum: o.quantum, onUartByte: (b) => { bytes.push(b); onByte?.(b); } });
  if (profile) m.setCostProfile(profile);
  m.cpu.countSerializing = true;
  m.cpu.flushCodeCache();
  const ioctl = o.measureIoctl ? measureIoctl(m, image) : { calls: 0, instructions: 0, serializing: 0, msrAccesses: 0, cycles: 0 };
  m.boot(image, { name: 'host.elf', cmdline: hostCmdline(o) });
  const budget = o.maxInsns ?? 20_000_000 + o.iterations * 100_000;
  const r = m.run(budget);
  const text = latin1(bytes);
  const status = r.reason === Stop.Exit ? `exit ${r.exitStatus}` : `${Stop[r.reason]} at RIP 0x${r.rip.toString(16)} after ${r.icount} instructions`;
  const parsed = parseHostOutput(text);
  // status 3 is the kernel's "the VMM finished and every check passed" (debug-exit value 1)
  return {
    design: o.design, text, status, icount: r.icount, cycles: r.cycles,
    msrAccesses: m.cpu.msrAccesses, serializing: m.cpu.serializingCount, ioctl,
    ...parsed, ok: parsed.ok && status === 'exit 3',
  };
}


/** bytes as Latin-1 text (works in Node and in browsers) */
function latin1(bytes: number[]): string {
  let s = '';
  for (let k = 0; k < bytes.length; k += 8192) s += String.fromCharCode(...bytes.slice(k, k + 8192));
  return s;
}
