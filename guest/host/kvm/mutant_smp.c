/*
 * Mutants that are wrong only when the vCPU migrates between CPUs (boot option migrate=N on a
 * machine with two CPUs): on one CPU each behaves exactly as its design.
 *
 *   wrgsbase-pcpu-once  wrgsbase, but the kernel GS base for after #VMEXIT is taken at the
 *                       vcpu's first vcpu_load only, as if the per-cpu base belonged to the vcpu:
 *                       after a migration the exit path restores the first CPU's per-cpu base,
 *                       and until vcpu_put the kernel runs on another CPU's per-cpu data
 */
#include "mutants.h"

void wrgsbase_after_exit(struct svm_run_ctx *ctx);

static void pcpu_once_setup(struct vcpu *v) {
  v->ctx.after_exit = opt_fsgsbase ? wrgsbase_after_exit : msr_after_exit;
  v->ctx.host_gs_base = 0;
}

static void pcpu_once_vcpu_load(struct vcpu *v) {
  u64 hsave = this_cpu_read(hsave_pa);
  v->ctx.hsave_pa = hsave;
  v->host_tsc_aux = rdmsr(MSR_TSC_AUX);
  vmsave(hsave);
  if (v->ctx.host_gs_base == 0) v->ctx.host_gs_base = percpu_offset[this_cpu_read(cpu)];   /* the bug */
  wrmsr(MSR_TSC_AUX, v->guest_tsc_aux);
}

static void pcpu_once_vcpu_put(struct vcpu *v) {
  vmload(v->ctx.hsave_pa);
  wrmsr(MSR_TSC_AUX, v->host_tsc_aux);
}

const struct kvm_design mutant_wrgsbase_pcpu_once = {
  .name = "wrgsbase-pcpu-once",
  .what = "wrgsbase, with the per-cpu GS base of the vcpu's first CPU kept across migrations",
  .setup = pcpu_once_setup,
  .vcpu_load = pcpu_once_vcpu_load,
  .vcpu_put = pcpu_once_vcpu_put,
};

/*
 *   vmload-hsave-first  vmload, but the host save area the exit path VMLOADs is the one of the
 *                       CPU the vcpu was first loaded on (cached in the vcpu, as if the save
 *                       area were the vcpu's): prepare_guest_switch still VMSAVEs into this
 *                       CPU's own area, so after a migration the exit path brings back the old
 *                       CPU's host state (its per-cpu GS base, its TSS, the VMM's FS base and
 *                       KERNEL_GS_BASE from the last run there) on the new CPU
 */
void vmload_after_exit(struct svm_run_ctx *ctx);

static void hsave_first_setup(struct vcpu *v) {
  v->ctx.after_exit = vmload_after_exit;
  v->ctx.hsave_pa = 0;
}

static void hsave_first_vcpu_load(struct vcpu *v) {
  if (v->ctx.hsave_pa == 0) v->ctx.hsave_pa = this_cpu_read(hsave_pa);   /* the bug */
}

static void hsave_first_prepare_guest_switch(struct vcpu *v) {
  if (v->guest_state_loaded) return;
  v->host_tsc_aux = rdmsr(MSR_TSC_AUX);
  vmsave(this_cpu_read(hsave_pa));
  wrmsr(MSR_TSC_AUX, v->guest_tsc_aux);
  v->guest_state_loaded = 1;
}

static void hsave_first_vcpu_put(struct vcpu *v) {
  if (!v->guest_state_loaded) return;
  wrmsr(MSR_TSC_AUX, v->host_tsc_aux);
  v->guest_state_loaded = 0;
}

const struct kvm_design mutant_vmload_hsave_first = {
  .name = "vmload-hsave-first",
  .what = "vmload, with the exit path's host save area that of the vcpu's first CPU",
  .setup = hsave_first_setup,
  .vcpu_load = hsave_first_vcpu_load,
  .prepare_guest_switch = hsave_first_prepare_guest_switch,
  .vcpu_put = hsave_first_vcpu_put,
};

/*
 *   vmload-hsave-msr-first  vmload, but vcpu_load points VM_HSAVE_PA at the vcpu's host save area,
 *                           taken on its first CPU ("VMRUN must save the host state where the exit
 *                           path's VMLOAD finds it"): after a migration two CPUs share one host
 *                           save area. With one vcpu running at a time nothing goes wrong yet;
 *                           a second vcpu on the old CPU would have its VMRUN overwrite this
 *                           one's host state. Only the verifier's host-save invariant sees it.
 */
static void hsave_msr_first_vcpu_load(struct vcpu *v) {
  if (v->ctx.hsave_pa == 0) v->ctx.hsave_pa = this_cpu_read(hsave_pa);
  wrmsr(MSR_VM_HSAVE_PA, v->ctx.hsave_pa);   /* the bug: the first CPU's page, on every CPU */
}

static void hsave_msr_first_prepare_guest_switch(struct vcpu *v) {
  if (v->guest_state_loaded) return;
  v->host_tsc_aux = rdmsr(MSR_TSC_AUX);
  vmsave(v->ctx.hsave_pa);
  wrmsr(MSR_TSC_AUX, v->guest_tsc_aux);
  v->guest_state_loaded = 1;
}

const struct kvm_design mutant_vmload_hsave_msr_first = {
  .name = "vmload-hsave-msr-first",
  .what = "vmload, with VM_HSAVE_PA set at vcpu_load to the save area of the vcpu's first CPU",
  .setup = hsave_first_setup,
  .vcpu_load = hsave_msr_first_vcpu_load,
  .prepare_guest_switch = hsave_msr_first_prepare_guest_switch,
  .vcpu_put = hsave_first_vcpu_put,
};
