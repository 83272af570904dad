/**
 * The real host with more than one CPU (`bench --host linux --cpus N`): the measured KVM_RUNs
 * are stepped one instruction of the whole machine at a time, and each step is charged to the
 * CPU that retired it. The VMM's thread may move between CPUs between KVM_RUNs (`migrate=N`:
 * sched_setaffinity), so a run is followed on the CPU where its KVM_RUN ioctl began:
 *
 *   ioctl.entry  kvm_vcpu_ioctl is entered with ioctl = KVM_RUN (kvm.ko)
 *   entry        kvm_arch_vcpu_ioctl_run is entered (it calls vcpu_load first: KVM's work for
 *                a vCPU that comes to a new CPU is in the window)
 *   pre, post    the last VMRUN of the call; GIF set again after the #VMEXIT that follows it
 *   exit         kvm_arch_vcpu_ioctl_run has returned (vcpu_put done)
 *   ioctl.exit   kvm_vcpu_ioctl has returned
 *
 * Every timestamp is that CPU's own cycle counter (each CPU has its own: their TSCs are not
 * synchronised, docs/smp.md). The other CPUs' instructions meanwhile (idle, interrupts, the
 * migration thread) are not the thread's and are not counted or profiled; the profile covers
 * the ioctls only (with one CPU it also covers the VMM between them).
 */

import type { Machine } from '../machine/machine.js';
import { Stop } from '../cpu/state.js';
import type { Cpu } from '../cpu/cpu.js';
import type { FunctionProfile } from './kprofile.js';
import type { RunPhases } from './linuxhost.js';

/** the KVM_RUN ioctl request, _IO(KVMIO, 0x80) */
export const KVM_RUN_IOCTL = 0xae80;

function read64(c: Cpu, lin: number): number {
  const pa = c.paging.translate(lin, 0, false);
  return (c.mem.read32(pa + 4) | 0) * 4294967296 + (c.mem.read32(pa) >>> 0);
}

/**
 * Step from where the machine is (one CPU stopped at the entry of kvm_vcpu_ioctl for a
 * KVM_RUN) until `count` KVM_RUNs have returned from kvm_vcpu_ioctl, recording each run's
 * timestamps on its own CPU.
 */
export function stepMeasuredSmp(m: Machine, ioctlEntry: number, entry: number, count: number, runs: RunPhases[], profile: FunctionProfile, budgetEnd: number): void {
  const cpus = m.cpus;
  const n = cpus.length;
  const rip = new Float64Array(n);
  const cyc = new Float64Array(n);
  const ic = new Float64Array(n);
  const guest = new Uint8Array(n);
  const gif = new Uint8Array(n);
  let cur: RunPhases | null = null;
  // the CPU the current run is on, where its ioctl and kvm_arch_vcpu_ioctl_run return to
  let k0 = -1;
  let ioctlRet = -1;
  let ret = -1;
  let pendingRet = -1;
  let afterVmexit = false;
  let i0 = 0; let s0 = 0; let m0 = 0;
  let hostInsns = 0;
  let profiling = false;
  while (m.icount() < budgetEnd) {
    for (let k = 0; k < n; k++) {
      const c = cpus[k];
      rip[k] = c.ripLinear();
      cyc[k] = c.cycles;
      ic[k] = c.icount + c.stormCount;
      guest[k] = c.guestMode ? 1 : 0;
      gif[k] = c.svm.gif ? 1 : 0;
    }
    if (cur === null) {
      // a KVM_RUN ioctl beginning on some CPU (the thread is on one CPU at a time)
      for (let k = 0; k < n; k++) {
        const c = cpus[k];
        if (guest[k] === 0 && rip[k] === ioctlEntry && c.rl[6] === KVM_RUN_IOCTL && c.rh[6] === 0) {
          cur = { entry: -1, pre: -1, post: -1, exit: -1, vmruns: 0, instructions: 0, hostInstructions: 0, serializing: 0, msrAccesses: 0, cpu: k, ioctl: { entry: cyc[k], exit: -1 } };
          k0 = k;
          ioctlRet = stackTop(c);
          if (!profiling) { profile.begin(c); profiling = true; }
          break;
        }
      }
    } else if (guest[k0] === 0 && rip[k0] === entry && cur.entry < 0) {
      pendingRet = stackTop(cpus[k0]);
    }
    const led0 = cur !== null && cpus[k0].ledger !== null ? cpus[k0].ledger!.slice() : null;
    const r = m.run(1);
    // the CPU that retired the step
    let k = -1;
    for (let j = 0; j < n; j++) if (cpus[j].icount + cpus[j].stormCount !== ic[j]) { k = j; break; }
    if (k >= 0 && cur !== null && k === k0) {
      const c = cpus[k];
      const g = guest[k] === 1;
      const at = rip[k];
      if (!g && at === entry && cur.entry < 0) {
        cur.entry = cyc[k];
        if (led0 !== null) cur.ledger = { entry: led0, pre: led0, post: led0, exit: led0 };
        ret = pendingRet;
        i0 = ic[k]; s0 = c.serializingCount; m0 = c.msrAccesses; hostInsns = 0;
      } else if (!g && at === ret && cur.entry >= 0 && cur.exit < 0) {
        cur.exit = cyc[k];
        if (cur.ledger !== undefined && led0 !== null) cur.ledger.exit = led0;
        cur.instructions = ic[k] - i0;
        cur.hostInstructions = hostInsns;
        cur.serializing = c.serializingCount - s0;
        cur.msrAccesses = c.msrAccesses - m0;
      }
      if (cur.entry >= 0 && cur.exit < 0) {
        if (!g) hostInsns += c.icount + c.stormCount - ic[k];
        if (!g && c.guestMode) { cur.pre = cyc[k]; cur.vmruns++; afterVmexit = false; if (led0 !== null && cur.ledger !== undefined) cur.ledger.pre = led0; }
        else if (g && !c.guestMode) afterVmexit = true;
        if (afterVmexit && gif[k] === 0 && c.svm.gif) { cur.post = cyc[k]; afterVmexit = false; if (led0 !== null && cur.ledger !== undefined) cur.ledger.post = led0; }
      }
      profile.account(c, at, g, c.cycles - cyc[k]);
      if (!g && at === ioctlRet) {
        cur.ioctl!.exit = cyc[k];
        runs.push(cur);
        cur = null;
        k0 = -1;
        if (runs.length >= count) break;
      }
    }
    if (r.reason !== Stop.Budget) break;
  }
  if (profiling) profile.end();
}

/** the 64-bit value at the stack pointer: a function's return address at its first instruction */
function stackTop(c: Cpu): number {
  return read64(c, c.rh[4] * 4294967296 + (c.rl[4] >>> 0));
}
