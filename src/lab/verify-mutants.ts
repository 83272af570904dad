/**
 * The mutation suite: deliberately broken variants of the four host-state designs, each a small
 * named change to a real one (guest/host/kvm/mutant_*.c; broken-kgs and broken-stgi live next
 * to the designs they vary). The verifier must catch every one; `expect` says which of its
 * invariants should, so that a mutant caught for another reason is noticed too.
 */

import { DESIGNS } from './hostrun.js';
import type { Inv } from './verify-invariants.js';

export interface Mutant {
  name: string;
  /** the real design it varies */
  base: (typeof DESIGNS)[number];
  /** what is wrong */
  broken: string;
  /** the invariants expected to catch it (at least one must) */
  caughtBy: Inv[];
  /** how */
  expect: string;
  /**
   * workloads on which the mutant is equivalent to its base: nothing can tell them apart there
   * (and why); it must be caught on the others
   */
  equivalentOn?: { workloads: string[]; why: string };
}

const GUEST_STATE_NEEDED = {
  workloads: ['hlt', 'pio', 'mmio', 'hypercall', 'cpuid', 'mix'],
  why: 'the guest never changes its own FS/GS/KERNEL_GS_BASE/STAR.., so the state a missing VMSAVE loses equals what is in the VMCB already; the wrmsr guest changes its KERNEL_GS_BASE on every exit',
};

export const MUTANTS: readonly Mutant[] = [
  {
    name: 'broken-stgi', base: 'wrgsbase', broken: 'STGI before the GS base is restored (WRGSBASE after STGI)',
    caughtBy: ['entry-gs'], expect: 'an NMI held by GIF = 0 is taken at STGI on the guest\'s GS base',
  },
  {
    name: 'vmload-stgi-first', base: 'vmload', broken: 'STGI before the VMLOAD of the host state',
    caughtBy: ['entry-gs', 'entry-tr'], expect: 'a held NMI or interrupt is taken at STGI on the guest\'s GS and TR',
  },
  {
    name: 'vmload-guest-vmcb', base: 'vmload', broken: 'the exit path VMLOADs the guest VMCB instead of the host save area',
    caughtBy: ['host-c'], expect: 'C code after #VMEXIT runs on the guest\'s GS base and TR',
  },
  {
    name: 'vmload-vmsave-once', base: 'vmload', broken: 'VMSAVE of the host state once, at vcpu creation: stale after the VMM changes its FS base',
    caughtBy: ['user-state'], expect: 'the FS base after KVM_RUN is the one from vcpu creation',
  },
  {
    name: 'broken-kgs', base: 'msr', broken: 'vcpu_put does not restore KERNEL_GS_BASE',
    caughtBy: ['user-state'], expect: 'the GS base in ring 3 is the guest\'s KERNEL_GS_BASE (SYSRET\'s SWAPGS brought it in)',
  },
  {
    name: 'wrgsbase-no-tr', base: 'wrgsbase', broken: 'TR is not reloaded after #VMEXIT',
    caughtBy: ['host-c', 'entry-tr'], expect: 'C code after #VMEXIT runs with the guest\'s TR; an NMI takes its IST stack from the guest\'s TSS',
  },
  {
    name: 'wrgsbase-tr-after-stgi', base: 'wrgsbase', broken: 'TR is reloaded after STGI',
    caughtBy: ['entry-tr'], expect: 'an NMI (or interrupt) held by GIF = 0 is delivered through the guest\'s TSS',
  },
  {
    name: 'msr-no-ldt', base: 'msr', broken: 'vcpu_put does not reload LDTR',
    caughtBy: ['user-state'], expect: 'LDTR in ring 3 is the guest\'s',
  },
  {
    name: 'msr-no-syscall-msrs', base: 'msr', broken: 'vcpu_put does not restore STAR, LSTAR, CSTAR, SFMASK',
    caughtBy: ['user-state'], expect: 'STAR, LSTAR, CSTAR, SFMASK in ring 3 are the guest\'s',
  },
  {
    name: 'vmload-no-guest-vmsave', base: 'vmload', broken: 'no VMSAVE of the guest after VMRUN',
    caughtBy: ['guest-state'], expect: 'the guest\'s KERNEL_GS_BASE at #VMEXIT is not what its VMCB keeps',
    equivalentOn: GUEST_STATE_NEEDED,
  },
  {
    name: 'vmload-no-clgi', base: 'vmload', broken: 'CLGI missing before VMLOAD guest and VMRUN',
    caughtBy: ['entry-gs', 'entry-tr'], expect: 'an event between VMLOAD guest and VMRUN finds the guest\'s GS base and TR',
  },
  {
    name: 'vmload-percpu-early', base: 'vmload', broken: 'C code uses per-cpu data between #VMEXIT and the VMLOAD of the host state',
    caughtBy: ['host-c'], expect: 'a C function entered after #VMEXIT runs on the guest\'s GS base',
  },
  {
    name: 'msr-no-sysenter-eip', base: 'msr', broken: 'the msr design\'s list of user MSRs misses SYSENTER_EIP',
    caughtBy: ['user-state'], expect: 'SYSENTER_EIP in ring 3 is the guest\'s',
  },
  {
    name: 'wrgsbase-gs-at-put', base: 'wrgsbase', broken: 'the GS base is restored only by vcpu_put\'s VMLOAD, not right after #VMEXIT',
    caughtBy: ['host-c'], expect: 'the run loop\'s C code after #VMEXIT runs on the guest\'s GS base',
  },
  // the kinds a verifier that records one KVM_RUN and checks only C code and the VMCB misses
  {
    name: 'vmsave-v1-every-other', base: 'vmsave-v1', broken: 'vcpu_load skips its VMSAVE on every second KVM_RUN ("still saved")',
    caughtBy: ['user-state'], expect: 'from the second KVM_RUN on, vcpu_put restores the VMM\'s FS/GS bases of the run before',
  },
  {
    name: 'vmload-gs-touch-early', base: 'vmload', broken: 'the exit path reads %gs:0 and writes it back before the VMLOAD of the host state',
    caughtBy: ['percpu-access'], expect: 'an assembly access through GS at GIF = 0 uses the guest\'s GS base (and changes nothing)',
  },
  {
    name: 'vmload-clobber-rcx', base: 'vmload', broken: 'the exit path stores the ctx pointer where the guest\'s RCX belongs',
    caughtBy: ['guest-regs'], expect: 'the next VMRUN enters the guest with an RCX it never had',
  },
  {
    name: 'wrgsbase-io-fast-put', base: 'wrgsbase', broken: 'vcpu_put skips the VMLOAD of the host state after a port-I/O exit',
    caughtBy: ['user-state'], expect: 'after an OUT exit to the VMM, its FS/GS bases, KERNEL_GS_BASE, TR, ... are the guest\'s',
    equivalentOn: {
      workloads: ['hlt', 'mmio', 'hypercall', 'cpuid', 'wrmsr'],
      why: 'these guests never exit to user space for port I/O; pio does on every run, mix on its second KVM_RUN',
    },
  },
];

/**
 * Mutants wrong only when the vcpu migrates between CPUs (guest/host/kvm/mutant_smp.c): verified
 * with `--cpus 2 --migrate N`; on one CPU each is its base design exactly, so they are not in
 * MUTANTS (which every one-CPU run must catch).
 */
export const MIGRATION_MUTANTS: readonly Mutant[] = [
  {
    name: 'wrgsbase-pcpu-once', base: 'wrgsbase', broken: 'the kernel GS base restored after #VMEXIT is taken at the vcpu\'s first vcpu_load only (CPU 0\'s per-cpu base kept across migrations)',
    caughtBy: ['host-c', 'percpu-access', 'entry-gs'], expect: 'after a migration, host C code and %gs: accesses on the new CPU run on the old CPU\'s per-cpu base',
  },
  {
    name: 'vmload-hsave-first', base: 'vmload', broken: 'the exit path VMLOADs the host save area of the vcpu\'s first CPU, while prepare_guest_switch VMSAVEs into this CPU\'s',
    caughtBy: ['host-c', 'user-state'], expect: 'after a migration, the new CPU gets the old CPU\'s host state back at #VMEXIT: its per-cpu GS base, TSS, and the VMM\'s FS/GS bases of an earlier run',
  },
  {
    name: 'vmload-hsave-msr-first', base: 'vmload', broken: 'vcpu_load points VM_HSAVE_PA at the host save area of the vcpu\'s first CPU (and VMSAVE/VMLOAD use it too)',
    caughtBy: ['host-save'], expect: 'after a migration, VMRUN on the new CPU saves the host state into the old CPU\'s save area: consistent while one vcpu runs, so only host-save sees it',
  },
];

export function findMutant(name: string): Mutant | undefined {
  return MUTANTS.find((m) => m.name === name) ?? MIGRATION_MUTANTS.find((m) => m.name === name);
}

/** the names of real designs and mutants, for option checking */
export const ALL_NAMES: readonly string[] = [...DESIGNS, ...MUTANTS.map((m) => m.name), ...MIGRATION_MUTANTS.map((m) => m.name)];
