/*
 * Design `vmsave-v1`: the first posting of the patch (v1, 10 Dec 2020).
 *
 *   vcpu_load     RDMSR TSC_AUX (the one user MSR VMSAVE does not cover); VMSAVE the host
 *                 state into the per-cpu save area; copy the GS base out of it for the exit
 *                 path (which cannot reach per-cpu data); load the guest's TSC_AUX
 *   after #VMEXIT WRMSR GS_BASE, then reload TR (GIF = 0; msr_after_exit, as in `msr`)
 *   vcpu_put      VMLOAD the save area (FS, GS, TR, LDTR, KERNEL_GS_BASE, STAR, LSTAR, CSTAR,
 *                 SFMASK, SYSENTER_*: everything RDMSR/WRMSR handled one by one), WRMSR TSC_AUX
 */
#include "kvm.h"

void msr_after_exit(struct svm_run_ctx *ctx);

static void v1_setup(struct vcpu *v) { v->ctx.after_exit = msr_after_exit; }

static void v1_vcpu_load(struct vcpu *v) {
  u64 hsave = this_cpu_read(hsave_pa);
  v->ctx.hsave_pa = hsave;
  v->host_tsc_aux = rdmsr(MSR_TSC_AUX);
  vmsave(hsave);
  /* identity-mapped: the save area's physical address is its address */
  v->ctx.host_gs_base = VMCB64(hsave, VMCB_GS + SEG_BASE);
  wrmsr(MSR_TSC_AUX, v->guest_tsc_aux);
}

static void v1_vcpu_put(struct vcpu *v) {
  vmload(v->ctx.hsave_pa);
  wrmsr(MSR_TSC_AUX, v->host_tsc_aux);
}

const struct kvm_design design_vmsave_v1 = {
  .name = "vmsave-v1",
  .what = "VMSAVE at vcpu_load, WRMSR GS_BASE after #VMEXIT, VMLOAD at vcpu_put",
  .setup = v1_setup,
  .vcpu_load = v1_vcpu_load,
  .vcpu_put = v1_vcpu_put,
};
