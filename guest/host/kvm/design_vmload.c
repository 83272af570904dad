/*
 * Design `vmload`: what Linux 5.12 merged (Andy Lutomirski's option 1).
 *
 *   prepare_guest_switch  once per vcpu_load..vcpu_put: RDMSR TSC_AUX, VMSAVE the host state
 *                         into the per-cpu save area, load the guest's TSC_AUX
 *   after #VMEXIT         VMLOAD the save area (GIF = 0, assembly below): GS, FS, TR, LDTR,
 *                         KERNEL_GS_BASE and the SYSCALL/SYSENTER MSRs are the host's again
 *                         before STGI lets an NMI in; then reload_tss(), which 5.12 still ran
 *                         after every exit (svm_vcpu_run), as did Roth's measured v2 and
 *                         wrgsbase builds
 *   vcpu_put              WRMSR TSC_AUX; nothing else is left
 *
 * Design `vmload-notss`: the same without reload_tss(). VMLOAD already restored TR with its
 * hidden state, so the reload is redundant; Linux removed it in 2023 (0d3518d2f8c3, "KVM: SVM:
 * Remove TSS reloading code after VMEXIT"). It is not what 5.12 merged or what was measured.
 */
#include "kvm.h"

void vmload_after_exit(struct svm_run_ctx *ctx);
void vmload_notss_after_exit(struct svm_run_ctx *ctx);
asm(".pushsection .text\n"
    ".globl vmload_after_exit, vmload_notss_after_exit\n"
    "vmload_after_exit:\n"
    "\tmov " __stringify(CTX_HSAVE_PA) "(%rdi), %rax\n"
    "\tvmload %rax\n"
    "\tjmp reload_tss\n"
    "vmload_notss_after_exit:\n"
    "\tmov " __stringify(CTX_HSAVE_PA) "(%rdi), %rax\n"
    "\tvmload %rax\n"
    "\tret\n"
    ".popsection");

static void vmload_setup(struct vcpu *v) { v->ctx.after_exit = vmload_after_exit; }
static void vmload_notss_setup(struct vcpu *v) { v->ctx.after_exit = vmload_notss_after_exit; }

static void vmload_vcpu_load(struct vcpu *v) { v->ctx.hsave_pa = this_cpu_read(hsave_pa); }

static void vmload_prepare_guest_switch(struct vcpu *v) {
  if (v->guest_state_loaded) return;
  v->host_tsc_aux = rdmsr(MSR_TSC_AUX);
  vmsave(v->ctx.hsave_pa);
  wrmsr(MSR_TSC_AUX, v->guest_tsc_aux);
  v->guest_state_loaded = 1;
}

static void vmload_vcpu_put(struct vcpu *v) {
  if (!v->guest_state_loaded) return;
  wrmsr(MSR_TSC_AUX, v->host_tsc_aux);
  v->guest_state_loaded = 0;
}

const struct kvm_design design_vmload = {
  .name = "vmload",
  .what = "VMSAVE in prepare_guest_switch, VMLOAD and reload_tss right after #VMEXIT (Linux 5.12)",
  .setup = vmload_setup,
  .vcpu_load = vmload_vcpu_load,
  .prepare_guest_switch = vmload_prepare_guest_switch,
  .vcpu_put = vmload_vcpu_put,
};

const struct kvm_design design_vmload_notss = {
  .name = "vmload-notss",
  .what = "vmload without reload_tss after #VMEXIT (Linux since 0d3518d2f8c3, 2023)",
  .setup = vmload_notss_setup,
  .vcpu_load = vmload_vcpu_load,
  .prepare_guest_switch = vmload_prepare_guest_switch,
  .vcpu_put = vmload_vcpu_put,
};
