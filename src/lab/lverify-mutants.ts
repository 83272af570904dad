/**
 * The real host's mutation suite: kernel patches to Debian's arch/x86/kvm/svm (linux/mutants/
 * *.patch, built per mutant by linux/kvm/build.sh), each a plausible mistake in one of the
 * designs. The verifier must catch every one; `caughtBy` names the invariants expected to (at
 * least one must) so that a mutant caught for another reason is noticed.
 */

import type { Mutant } from './verify-mutants.js';

export type LinuxMutant = Pick<Mutant, 'name' | 'broken' | 'caughtBy' | 'expect' | 'equivalentOn'> & {
  base: string;
  /** what the mistake needs to run at all: Linux booted with nofsgsbase (`--no-fsgsbase`), or a
   * vCPU that moves between CPUs (two CPUs and migrate=N: bench --host linux --cpus 2 --migrate N,
   * not verify yet). `--mutants` without names leaves out those whose condition does not hold. */
  needs?: 'nofsgsbase' | 'migration';
};

export const LINUX_MUTANTS: readonly LinuxMutant[] = [
  {
    name: 'vmload-stgi-first', base: 'vmload', broken: 'STGI right before the host VMLOAD in __svm_vcpu_run',
    caughtBy: ['entry-gs', 'entry-tr', 'handler'], expect: 'an event held by GIF = 0 is taken at STGI on the guest\'s GS base and TR',
  },
  {
    name: 'vmload-guest-vmcb', base: 'vmload', broken: 'the exit path VMLOADs the guest\'s VMCB (RAX) instead of the host save area',
    caughtBy: ['host-c', 'percpu-access', 'user-state'], expect: 'C code after #VMEXIT runs on the guest\'s GS base and TR',
  },
  {
    name: 'vmload-no-host-vmsave', base: 'vmload', broken: 'no VMSAVE of the host state in svm_prepare_switch_to_guest (VMRUN does not save FS, GS, TR, LDTR, the syscall MSRs)',
    caughtBy: ['host-c', 'percpu-access', 'user-state'], expect: 'the host VMLOAD loads a save area that was never written',
  },
  {
    name: 'vmload-vmsave-once', base: 'vmload', broken: 'guest_state_loaded never cleared: the host state is VMSAVEd on the first entry only',
    caughtBy: ['user-state'], expect: 'from the second KVM_RUN on, the VMM gets back the FS base of the first (fsflip moves it, period 3)',
  },
  {
    name: 'vmload-percpu-early', base: 'vmload', broken: 'the host VMLOAD moved into C after reload_tss (a %gs read in load_TR_desc before it)',
    caughtBy: ['percpu-access', 'host-c'], expect: 'per-cpu accesses and C function entries between #VMEXIT and the VMLOAD see the guest\'s GS base',
  },
  {
    name: 'vmload-clobber-rcx', base: 'vmload', broken: 'the guest\'s RCX saved from RAX after #VMEXIT (a register typo in vmenter.S)',
    caughtBy: ['guest-regs'], expect: 'the guest re-enters with the vcpu_svm pointer in RCX',
  },
  {
    name: 'wrgsbase-no-tr', base: 'wrgsbase', broken: 'no reload_tss() after #VMEXIT: TR stays the guest\'s until vcpu_put',
    caughtBy: ['host-c', 'entry-tr', 'handler'], expect: 'C code and events after #VMEXIT run with the guest\'s TR',
  },
  {
    name: 'vmsave-v1-no-put-vmload', base: 'vmsave-v1', broken: 'no VMLOAD of the host save area in svm_vcpu_put',
    caughtBy: ['user-state'], expect: 'back in ring 3 the VMM has the guest\'s FS, KERNEL_GS_BASE and syscall MSRs',
  },
  {
    name: 'msr-no-gs-base', base: 'msr', broken: 'no WRMSR of MSR_GS_BASE after #VMEXIT',
    caughtBy: ['host-c', 'percpu-access', 'entry-gs', 'handler'], expect: 'the kernel runs on the guest\'s GS base after #VMEXIT',
  },
  {
    name: 'msr-no-kernel-gs-base', base: 'msr', broken: 'MSR_KERNEL_GS_BASE not saved and restored around the guest',
    caughtBy: ['user-state', 'entry-gs'], expect: 'SYSRET\'s SWAPGS gives the VMM the guest\'s KERNEL_GS_BASE as GS base',
  },
  {
    name: 'wrgsbase-wrmsr-no-edx', base: 'wrgsbase', needs: 'nofsgsbase',
    broken: 'the WRMSR fallback after #VMEXIT (no FSGSBASE) passes only EAX: MSR_GS_BASE gets the guest\'s EDX as its high half',
    caughtBy: ['host-c', 'percpu-access', 'no-crash'], expect: 'with FSGSBASE off, the kernel runs on a GS base that is not the per-cpu base after #VMEXIT; with it on, WRGSBASE runs instead and the mutant passes',
  },
  {
    name: 'wrgsbase-gs-once', base: 'wrgsbase', needs: 'migration',
    broken: 'the kernel GS base restored after #VMEXIT is looked up on the vCPU\'s first entry only (the first CPU\'s per-cpu base)',
    caughtBy: ['host-c', 'percpu-access', 'no-crash'], expect: 'once the vCPU thread has moved to another CPU, the kernel runs there on the first CPU\'s per-cpu area after every #VMEXIT',
  },
];

/** the mutants `--mutants` runs by default on this machine */
export function defaultLinuxMutants(o: { fsgsbase: boolean; migration: boolean }): string[] {
  return LINUX_MUTANTS.filter((m) => m.needs === undefined || (m.needs === 'nofsgsbase' && !o.fsgsbase) || (m.needs === 'migration' && o.migration)).map((m) => m.name);
}

export function findLinuxMutant(name: string): LinuxMutant | undefined {
  return LINUX_MUTANTS.find((m) => m.name === name);
}
