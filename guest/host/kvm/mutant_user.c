/*
 * Mutants of what vcpu_load saves and vcpu_put restores: host *user* state, needed again only
 * on the way back to ring 3 (see mutants.h).
 *
 *   vmload-vmsave-once     vmload, but the host state is VMSAVEd once, when the vcpu is created:
 *                          stale as soon as the VMM changes its FS base
 *   msr-no-ldt             msr, but vcpu_put does not reload the LDT
 *   msr-no-syscall-msrs    msr, but vcpu_put does not restore STAR, LSTAR, CSTAR and SFMASK
 *   msr-no-sysenter-eip    msr, with SYSENTER_EIP missing from its list of user MSRs
 *
 * The msr variants are design_msr.c's vcpu_load and vcpu_put with a list and what to skip as
 * parameters; the lists keep design_msr.c's order.
 */
#include "mutants.h"

/* ---- vmload-vmsave-once ---- */

static void once_setup(struct vcpu *v) {
  v->ctx.after_exit = vmload_after_exit;
  vmsave(this_cpu_read(hsave_pa));
}

/* design_vmload.c's prepare_guest_switch without its VMSAVE */
static void once_prepare(struct vcpu *v) {
  if (v->guest_state_loaded) return;
  v->host_tsc_aux = rdmsr(MSR_TSC_AUX);
  wrmsr(MSR_TSC_AUX, v->guest_tsc_aux);
  v->guest_state_loaded = 1;
}

static void vmload_load(struct vcpu *v) { design_vmload.vcpu_load(v); }
static void vmload_put(struct vcpu *v) { design_vmload.vcpu_put(v); }

const struct kvm_design mutant_vmload_vmsave_once = {
  .name = "vmload-vmsave-once",
  .what = "vmload, but the host state is VMSAVEd once, at vcpu creation",
  .setup = once_setup,
  .vcpu_load = vmload_load,
  .prepare_guest_switch = once_prepare,
  .vcpu_put = vmload_put,
};

/* ---- msr variants ---- */

static const u32 msrs_all[] = {
  MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_KERNEL_GS_BASE, MSR_FS_BASE,
  MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP, MSR_TSC_AUX,
};
static const u32 msrs_no_sysenter_eip[] = {
  MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_KERNEL_GS_BASE, MSR_FS_BASE,
  MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_TSC_AUX,
};

#define SKIP_LDT 1
#define SKIP_SYSCALL_MSRS 2

static void msr_like_load(struct vcpu *v, const u32 *msrs, u64 n) {
  v->ctx.host_gs_base = rdmsr(MSR_GS_BASE);
  v->host.fs = read_fs();
  v->host.gs = read_gs();
  v->host.ldt = sldt();
  for (u64 i = 0; i < n; i++) v->host_user_msrs[i] = rdmsr(msrs[i]);
  wrmsr(MSR_TSC_AUX, v->guest_tsc_aux);
}

static void load_gs_index(u16 sel) {
  asm volatile("pushfq; cli; swapgs; mov %0, %%gs; swapgs; popfq" :: "r"((u32)sel) : "memory");
}

static int syscall_msr(u32 msr) {
  return msr == MSR_STAR || msr == MSR_LSTAR || msr == MSR_CSTAR || msr == MSR_SFMASK;
}

static void msr_like_put(struct vcpu *v, const u32 *msrs, u64 n, int skip) {
  struct task *t = this_cpu_read(current);
  if (!(skip & SKIP_LDT)) lldt(v->host.ldt);
  load_fs(v->host.fs);
  wrmsr(MSR_KERNEL_GS_BASE, t->gsbase);
  load_gs_index(v->host.gs);
  for (u64 i = 0; i < n; i++) {
    if ((skip & SKIP_SYSCALL_MSRS) && syscall_msr(msrs[i])) continue;
    wrmsr(msrs[i], v->host_user_msrs[i]);
  }
}

static void msr_setup(struct vcpu *v) { v->ctx.after_exit = msr_after_exit; }
static void all_load(struct vcpu *v) { msr_like_load(v, msrs_all, ARRAY_SIZE(msrs_all)); }
static void no_ldt_put(struct vcpu *v) { msr_like_put(v, msrs_all, ARRAY_SIZE(msrs_all), SKIP_LDT); }
static void no_syscall_put(struct vcpu *v) { msr_like_put(v, msrs_all, ARRAY_SIZE(msrs_all), SKIP_SYSCALL_MSRS); }
static void no_eip_load(struct vcpu *v) { msr_like_load(v, msrs_no_sysenter_eip, ARRAY_SIZE(msrs_no_sysenter_eip)); }
static void no_eip_put(struct vcpu *v) { msr_like_put(v, msrs_no_sysenter_eip, ARRAY_SIZE(msrs_no_sysenter_eip), 0); }

const struct kvm_design mutant_msr_no_ldt = {
  .name = "msr-no-ldt",
  .what = "msr, but vcpu_put does not reload the LDT",
  .setup = msr_setup,
  .vcpu_load = all_load,
  .vcpu_put = no_ldt_put,
};

const struct kvm_design mutant_msr_no_syscall_msrs = {
  .name = "msr-no-syscall-msrs",
  .what = "msr, but vcpu_put does not restore STAR, LSTAR, CSTAR, SFMASK",
  .setup = msr_setup,
  .vcpu_load = all_load,
  .vcpu_put = no_syscall_put,
};

const struct kvm_design mutant_msr_no_sysenter_eip = {
  .name = "msr-no-sysenter-eip",
  .what = "msr, with SYSENTER_EIP missing from the list of user MSRs",
  .setup = msr_setup,
  .vcpu_load = no_eip_load,
  .vcpu_put = no_eip_put,
};

const struct kvm_design *const kvm_mutants[] = {
  &mutant_vmload_stgi_first, &mutant_vmload_guest_vmcb, &mutant_vmload_no_clgi,
  &mutant_vmload_no_guest_vmsave, &mutant_vmload_percpu_early, &mutant_wrgsbase_no_tr,
  &mutant_wrgsbase_tr_after_stgi, &mutant_wrgsbase_gs_at_put, &mutant_vmload_vmsave_once,
  &mutant_msr_no_ldt, &mutant_msr_no_syscall_msrs, &mutant_msr_no_sysenter_eip,
  &mutant_vmsave_v1_every_other, &mutant_vmload_gs_touch_early, &mutant_vmload_clobber_rcx,
  &mutant_wrgsbase_io_fast_put, &mutant_wrgsbase_pcpu_once, &mutant_vmload_hsave_first,
  &mutant_vmload_hsave_msr_first,
  NULL,
};
