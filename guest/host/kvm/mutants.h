/*
 * Mutants: deliberately broken variants of the four host-state designs, each a small named
 * change to a real one, selected with design=NAME like the designs. `worldswitch verify
 * --mutants` must catch every one of them (src/lab/verify-mutants.ts lists what each breaks and
 * which check is expected to see it). The real designs never use anything in these files.
 *
 *   mutant_switch.c  the world switch itself (CLGI .. STGI): what is restored before STGI, from
 *                    where, and the instructions around VMRUN
 *   mutant_user.c    host user state: what vcpu_load saves and vcpu_put restores
 *   mutant_verify.c  bugs a one-run, C-only verifier misses: stale from the second KVM_RUN,
 *                    per-cpu access in assembly, guest registers, one exit kind only
 */
#ifndef MUTANTS_H
#define MUTANTS_H
#include "kvm.h"

/* the designs' exit paths (global assembly in design_*.c) */
void msr_after_exit(struct svm_run_ctx *ctx);
void vmload_after_exit(struct svm_run_ctx *ctx);

extern const struct kvm_design mutant_vmload_stgi_first, mutant_vmload_guest_vmcb, mutant_vmload_no_clgi,
    mutant_vmload_no_guest_vmsave, mutant_vmload_percpu_early, mutant_wrgsbase_no_tr,
    mutant_wrgsbase_tr_after_stgi, mutant_wrgsbase_gs_at_put;
extern const struct kvm_design mutant_vmload_vmsave_once, mutant_msr_no_ldt, mutant_msr_no_syscall_msrs,
    mutant_msr_no_sysenter_eip;
extern const struct kvm_design mutant_vmsave_v1_every_other, mutant_vmload_gs_touch_early,
    mutant_vmload_clobber_rcx, mutant_wrgsbase_io_fast_put;
/* mutant_smp.c: wrong only when the vcpu migrates (migrate=N, two CPUs) */
extern const struct kvm_design mutant_wrgsbase_pcpu_once, mutant_vmload_hsave_first, mutant_vmload_hsave_msr_first;

/* every mutant, NULL-terminated (svm.c looks design=NAME up here after the designs) */
extern const struct kvm_design *const kvm_mutants[];
#endif
