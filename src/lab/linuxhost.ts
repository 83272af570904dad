/**
 * The real host: Debian's Linux 6.1 booted on worldswitch with kvm.ko and kvm-amd.ko (Debian's
 * own, or built from Debian's source with a design's patch: linux/kvm/build.sh) and the
 * project's VMM as /init (linux/vmm/vmm.c). One boot is snapshotted when the VMM says
 * "kvmhost: ready" and restored for every request; the machine types the request on the
 * console, reads where the modules' sections went (MODSECT lines) and then takes the thread's
 * four timestamps itself, at no cycle cost:
 *
 *   entry  kvm_arch_vcpu_ioctl_run is entered (kvm.ko; the KVM_RUN ioctl's arch part)
 *   pre    the last VMRUN of the call is about to execute (the CPU enters guest mode)
 *   post   GIF is set again after the #VMEXIT that follows it (the STGI ending the world
 *          switch: the design's host-state restore is done by then)
 *   exit   kvm_arch_vcpu_ioctl_run has returned (its return address)
 *
 * The measured KVM_RUNs are single-stepped so that every instruction's cost goes to the
 * function it belongs to: a per-function profile with self and children cycles, as
 * `perf report --children` shows one, over the whole measured window (user space, the system
 * call path and KVM_RUN). Stepping changes nothing the machine does (slices end at the same
 * cycle deadlines).
 *
 * No Node API here (the browser lab's worker runs this); the boot snapshot's file cache,
 * cachedKvmHostBoot, is in linuxhost-cache.ts.
 */

import { Machine } from '../machine/machine.js';
import { Stop } from '../cpu/state.js';
import type { Cpu } from '../cpu/cpu.js';
import type { CostProfile } from '../cost/profile.js';
import { LEDGER_SIZE } from '../cost/ledger.js';
import { takeSnapshot, restoreSnapshot, adoptSnapshot, type Snapshot } from './snapshot.js';
import { bootLinux } from './linuxboot.js';
import { parseModuleSections, kernelSymbols, type KernelSymbols, type LoadedModule } from './kmod.js';
import type { SymbolTable } from './symbols.js';
import { FunctionProfile } from './kprofile.js';
import { KVM_RUN_IOCTL, stepMeasuredSmp } from './linuxhost-smp.js';

export const KVMHOST_READY = 'kvmhost: ready';
const MODULES_LOADED = 'kvmhost: modules loaded';
export const KVMHOST_CMDLINE = 'console=ttyS0 nokaslr cryptomgr.notests quiet';

/** the real host's command line: `nofsgsbase` keeps CR4.FSGSBASE clear (the kernel, KVM's
 * ALTERNATIVEs and the VMM then take their paths for CPUs without FSGSBASE) */
export function kvmHostCmdline(o: { fsgsbase?: boolean } = {}): string {
  return o.fsgsbase === false ? `${KVMHOST_CMDLINE} nofsgsbase` : KVMHOST_CMDLINE;
}

export interface KvmHostBoot {
  machine: Machine;
  snapshot: Snapshot;
  /** the machine after the last module load (design, module parameters and cost profile as
   * key): a second request for the same modules starts there */
  loaded?: { key: string; snapshot: Snapshot; text: string };
  /** instructions and host milliseconds to the snapshot */
  bootInsns: number;
  bootMs: number;
  log: string;
  /** CPUs of the machine (default 1) */
  cpus?: number;
}

/** Boot the real host to its "ready" prompt and snapshot it there. */
export function bootKvmHost(o: { kernel: Uint8Array; initrd: Uint8Array; cmdline?: string; memSize?: number; maxInsns?: number; cpus?: number }): KvmHostBoot {
  const t0 = performance.now();
  const cpus = o.cpus ?? 1;
  const r = bootLinux({ kernel: o.kernel, initrd: o.initrd, cmdline: o.cmdline ?? KVMHOST_CMDLINE, memSize: o.memSize ?? 512 << 20, maxInsns: o.maxInsns ?? 3_000_000_000 * cpus, stopAt: KVMHOST_READY, cpus });
  if (!r.log.includes(KVMHOST_READY)) {
    const tail = r.log.trim().split('\n').slice(-5).join(' | ');
    throw new Error(`the real host did not reach "${KVMHOST_READY}" (stopped: ${Stop[r.stop.reason]} after ${r.machine.icount()} instructions; log ends: ${tail})`);
  }
  const m = r.machine;
  // let the VMM reach its read() and the CPU go idle: the snapshot is then the same whatever
  // the slice the marker was seen in
  runUntilIdle(m);
  return { machine: m, snapshot: takeSnapshot(m), bootInsns: m.icount(), bootMs: performance.now() - t0, log: r.log, cpus };
}

function runUntilIdle(m: Machine): void {
  for (let k = 0; k < 200; k++) {
    const r = m.run(100_000);
    if (r.reason !== Stop.Budget) break;
    if (m.cpus.every((c) => c.halted)) break;
  }
}

export interface KvmRunRequest {
  /** the module set: a directory name under /kvm in the initramfs (a design, a mutant, "debian") */
  design: string;
  workload: string;
  iterations: number;
  kexits?: number;
  uexits?: number;
  fsflip?: boolean;
  /** the VMM skips its own checks between runs */
  nochecks?: boolean;
  /** the VMM moves its thread to the next CPU before every Nth KVM_RUN (sched_setaffinity) */
  migrate?: number;
  /** KVM_RUNs not measured at the start (the first ones set up the MMU, the vcpu, ...) */
  warmup?: number;
  /** kvm_amd module parameters */
  modparams?: string;
  maxInsns?: number;
  /** the cost model for the run (default: one cycle per instruction) */
  profile?: CostProfile | null;
  /** record the cost ledger at the four timestamps of each measured run (for draws of the constants) */
  ledger?: boolean;
}

export interface RunPhases {
  entry: number; pre: number; post: number; exit: number;
  /** with `ledger`: the cost ledger (src/cost/ledger.ts) at the four points */
  ledger?: { entry: Float64Array; pre: Float64Array; post: Float64Array; exit: Float64Array };
  vmruns: number; instructions: number; hostInstructions: number; serializing: number; msrAccesses: number;
  /** with more than one CPU (linuxhost-smp.ts): the CPU the run was on, and the whole
   * kvm_vcpu_ioctl (around kvm_arch_vcpu_ioctl_run, which does vcpu_load and vcpu_put) on its cycle counter */
  cpu?: number;
  ioctl?: { entry: number; exit: number };
}

export interface KvmRunResult {
  request: KvmRunRequest;
  ok: boolean;
  status: string;
  /** the VMM's output after the request */
  text: string;
  vmm: Record<string, string>;
  exitsUser: Record<string, number>;
  checks: Record<string, number>;
  mismatches: string[];
  /** one entry per measured KVM_RUN */
  runs: RunPhases[];
  profile: FunctionProfile;
  /** instructions from the restored snapshot to power-off, and host milliseconds */
  instructions: number;
  ms: number;
}

export interface ModuleFiles { kvm: Uint8Array; kvmAmd: Uint8Array }

/**
 * One request on a booted host: restore the snapshot, type the request, find the modules'
 * symbols, measure. The kernel's System.map gives the kernel's own symbols.
 */
export function runKvmHost(b: KvmHostBoot, kernelMap: SymbolTable, mods: ModuleFiles, rq: KvmRunRequest): KvmRunResult {
  const t0 = performance.now();
  const m = b.machine;
  const c = m.cpu;
  const smp = m.cpus.length > 1;
  const key = `${rq.design} ${rq.modparams ?? ''} ${rq.profile?.name ?? 'unit'}`;
  const reuse = b.loaded?.key === key ? b.loaded : null;
  backTo(m, reuse !== null ? reuse.snapshot : b.snapshot);
  m.setCostProfile(rq.profile ?? null);
  for (const x of m.cpus) x.flushCodeCache();
  const i0 = m.icount();
  const budgetEnd = i0 + (rq.maxInsns ?? 2_000_000_000);
  const line1 = [`design=${rq.design}`];
  if (rq.modparams) line1.push(`modparams=${rq.modparams.replace(/ /g, ',')}`);
  const words = [`workload=${rq.workload}`, `iterations=${rq.iterations}`];
  if (rq.kexits !== undefined) words.push(`kexits=${rq.kexits}`);
  if (rq.uexits !== undefined) words.push(`uexits=${rq.uexits}`);
  if (rq.fsflip) words.push('fsflip');
  if (rq.nochecks) words.push('nochecks');
  if (rq.migrate !== undefined && rq.migrate > 0) words.push(`migrate=${rq.migrate}`);
  const dec = new TextDecoder();
  let text = reuse !== null ? reuse.text : '';
  m.uart.onTx = (byte) => { text += dec.decode(new Uint8Array([byte]), { stream: true }); };
  const textNow = () => text;
  if (reuse === null) {
    // 1. load the modules, and keep a snapshot of the machine with them loaded
    m.uart.queueInput(line1.join(' ') + '\n');
    while (!textNow().includes(MODULES_LOADED)) {
      const r = m.run(1_000_000);
      if (stopped(r.reason, m, budgetEnd) || /RESULT fail/.test(textNow())) return failed(rq, textNow(), r.reason, m.icount() - i0, t0);
    }
    b.loaded = { key, snapshot: takeSnapshot(m), text };
  }
  const sections = parseModuleSections(textNow());
  const loaded: LoadedModule[] = [{ name: 'kvm', ko: mods.kvm }, { name: 'kvm_amd', ko: mods.kvmAmd }];
  const syms = kernelSymbols(kernelMap, loaded, sections);
  const entry = syms.table.require('kvm_arch_vcpu_ioctl_run');
  // with more than one CPU the thread is followed from kvm_vcpu_ioctl (KVM_RUN) on any CPU
  const ioctlEntry = smp ? syms.table.require('kvm_vcpu_ioctl') : -1;

  // 2. probes, then the run
  const warmup = rq.warmup ?? Math.min(3, Math.max(0, rq.iterations - 1));
  const profile = new FunctionProfile(syms);
  const runs: RunPhases[] = [];
  let calls = 0;
  let atEntry = false;
  for (const x of m.cpus) {
    x.countSerializing = true;
    x.setLedger(rq.ledger ? new Float64Array(LEDGER_SIZE) : null);
    if (smp) {
      x.setBreakpoints(new Set([ioctlEntry]), (cpu) => {
        if (cpu.rl[6] === KVM_RUN_IOCTL && cpu.rh[6] === 0 && ++calls > warmup) { atEntry = true; cpu.stopReason = Stop.Exception; }
      });
    } else {
      x.setBreakpoints(new Set([entry]), (cpu) => {
        if (++calls > warmup) { atEntry = true; cpu.stopReason = Stop.Exception; }
      });
    }
  }
  m.uart.queueInput(words.join(' ') + '\n');
  let reason = Stop.None;
  for (;;) {
    const r = m.run(1_000_000);
    reason = r.reason;
    if (atEntry) {
      // the first measured KVM_RUN: step from here to the end of the last one
      for (const x of m.cpus) x.setBreakpoints(null);
      if (smp) stepMeasuredSmp(m, ioctlEntry, entry, rq.iterations - warmup, runs, profile, budgetEnd);
      else stepMeasured(m, entry, rq.iterations - warmup, runs, profile, budgetEnd);
      atEntry = false;
      continue;
    }
    if (reason !== Stop.Budget || m.icount() >= budgetEnd) break;
    // a panicked kernel only spins from here
    if (text.includes('Kernel panic - not syncing')) break;
  }
  for (const x of m.cpus) {
    x.setBreakpoints(null);
    x.setLedger(null);
    x.countSerializing = false;
  }
  return { ...parseKvmHostOutput(text), request: rq, status: text.includes('Kernel panic - not syncing') ? 'kernel panic' : describeStop(reason, m), runs, profile, instructions: m.icount() - i0, ms: performance.now() - t0 };
}

/** put the machine back to a snapshot: restored if it is its latest, adopted otherwise */
function backTo(m: Machine, s: Snapshot): void {
  try { restoreSnapshot(m, s); } catch { adoptSnapshot(m, s); }
}

function stopped(reason: Stop, m: Machine, end: number): boolean {
  return reason !== Stop.Budget || m.icount() >= end;
}

function describeStop(reason: Stop, m: Machine): string {
  if (reason === Stop.Exit || m.exitStatus !== null) return 'power off';
  return Stop[reason] ?? String(reason);
}

function failed(rq: KvmRunRequest, text: string, reason: Stop, insns: number, t0: number): KvmRunResult {
  return { ...parseKvmHostOutput(text), ok: false, request: rq, status: Stop[reason] ?? String(reason), runs: [], profile: new FunctionProfile(null), instructions: insns, ms: performance.now() - t0 };
}

/**
 * Single-step `count` KVM_RUNs from the entry of the first (the CPU is stopped on it) to the
 * return of the last, recording the four timestamps of each and the function profile of
 * everything in between.
 */
function stepMeasured(m: Machine, entry: number, count: number, runs: RunPhases[], profile: FunctionProfile, budgetEnd: number): void {
  const c = m.cpu;
  let cur: RunPhases | null = null;
  let ret = -1;
  let afterVmexit = false;
  let i0 = 0; let hi0 = 0; let s0 = 0; let m0 = 0;
  let hostInsns = 0;
  profile.begin(c);
  while (c.icount < budgetEnd) {
    const rip = c.ripLinear();
    const cyc = c.cycles;
    const guest = c.guestMode;
    if (!guest && rip === entry && cur === null) {
      cur = { entry: cyc, pre: -1, post: -1, exit: -1, vmruns: 0, instructions: 0, hostInstructions: 0, serializing: 0, msrAccesses: 0 };
      if (c.ledger !== null) { const l = c.ledger.slice(); cur.ledger = { entry: l, pre: l, post: l, exit: l }; }
      // the return address: the ioctl has one caller
      ret = read64(c, c.rh[4] * 4294967296 + (c.rl[4] >>> 0));
      i0 = c.icount; hi0 = hostInsns; s0 = c.serializingCount; m0 = c.msrAccesses;
    } else if (!guest && rip === ret && cur !== null) {
      cur.exit = cyc;
      if (cur.ledger !== undefined) cur.ledger.exit = c.ledger!.slice();
      cur.instructions = c.icount - i0;
      cur.hostInstructions = hostInsns - hi0;
      cur.serializing = c.serializingCount - s0;
      cur.msrAccesses = c.msrAccesses - m0;
      runs.push(cur);
      cur = null;
      if (runs.length >= count) break;
    }
    const gif0 = c.svm.gif;
    const ic = c.icount;
    const led0 = cur !== null && cur.ledger !== undefined ? c.ledger!.slice() : null;
    const r = m.run(1);
    const stepped = c.icount - ic;
    if (!guest) hostInsns += stepped;
    profile.account(c, rip, guest, c.cycles - cyc);
    if (cur !== null) {
      if (!guest && c.guestMode) { cur.pre = cyc; cur.vmruns++; afterVmexit = false; if (led0 !== null) cur.ledger!.pre = led0; }
      else if (guest && !c.guestMode) afterVmexit = true;
      if (afterVmexit && !gif0 && c.svm.gif) { cur.post = cyc; afterVmexit = false; if (led0 !== null) cur.ledger!.post = led0; }
    }
    if (r.reason !== Stop.Budget) break;
  }
  profile.end();
}

/** a 64-bit value at a linear address, as a canonical signed number */
function read64(c: Cpu, lin: number): number {
  const pa = c.paging.translate(lin, 0, false);
  return (c.mem.read32(pa + 4) | 0) * 4294967296 + (c.mem.read32(pa) >>> 0);
}

/** the KEY lines the VMM prints (linux/vmm/vmm.c) */
export function parseKvmHostOutput(text: string): Pick<KvmRunResult, 'ok' | 'text' | 'vmm' | 'exitsUser' | 'checks' | 'mismatches'> {
  const kv = (s: string) => {
    const r: Record<string, string> = {};
    for (const mm of s.matchAll(/(\w+)=(\S*)/g)) r[mm[1]] = mm[2];
    return r;
  };
  const num = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v)]));
  const line = (p: string) => text.split('\n').find((l) => l.startsWith(p)) ?? '';
  return {
    ok: /^RESULT ok$/m.test(text),
    text,
    vmm: kv(line('VMM ')),
    exitsUser: num(kv(line('EXITS user'))),
    checks: num(kv(line('CHECK '))),
    mismatches: text.split('\n').filter((l) => l.startsWith('MISMATCH')),
  };
}

export type { KernelSymbols };
