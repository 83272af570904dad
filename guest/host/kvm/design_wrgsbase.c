/*
 * Design `wrgsbase`: Andy Lutomirski's option 2, which Michael Roth measured on 16 Dec 2020.
 *
 *   vcpu_load     RDMSR TSC_AUX; VMSAVE the host state into the per-cpu save area; remember
 *                 the kernel's GS base (cpu_kernelmode_gs_base: the per-cpu offset); load the
 *                 guest's TSC_AUX
 *   after #VMEXIT WRGSBASE of that base, or WRMSR GS_BASE when CR4.FSGSBASE is off; then reload
 *                 TR (GIF = 0, assembly below)
 *   vcpu_put      VMLOAD the save area, WRMSR TSC_AUX
 */
#include "kvm.h"

void msr_after_exit(struct svm_run_ctx *ctx);
void wrgsbase_after_exit(struct svm_run_ctx *ctx);
asm(".pushsection .text\n"
    ".globl wrgsbase_after_exit\n"
    "wrgsbase_after_exit:\n"
    "\tmov " __stringify(CTX_HOST_GS_BASE) "(%rdi), %rax\n"
    "\twrgsbase %rax\n"
    "\tjmp reload_tss\n"
    ".popsection");

/* static_cpu_has(X86_FEATURE_FSGSBASE): chosen once, when the vcpu is created */
static void wrgsbase_setup(struct vcpu *v) {
  v->ctx.after_exit = opt_fsgsbase ? wrgsbase_after_exit : msr_after_exit;
}

static void wrgsbase_vcpu_load(struct vcpu *v) {
  u64 hsave = this_cpu_read(hsave_pa);
  v->ctx.hsave_pa = hsave;
  v->host_tsc_aux = rdmsr(MSR_TSC_AUX);
  vmsave(hsave);
  v->ctx.host_gs_base = percpu_offset[this_cpu_read(cpu)];
  wrmsr(MSR_TSC_AUX, v->guest_tsc_aux);
}

static void wrgsbase_vcpu_put(struct vcpu *v) {
  vmload(v->ctx.hsave_pa);
  wrmsr(MSR_TSC_AUX, v->host_tsc_aux);
}

const struct kvm_design design_wrgsbase = {
  .name = "wrgsbase",
  .what = "VMSAVE at vcpu_load, WRGSBASE after #VMEXIT, VMLOAD at vcpu_put",
  .setup = wrgsbase_setup,
  .vcpu_load = wrgsbase_vcpu_load,
  .vcpu_put = wrgsbase_vcpu_put,
};

/* ---- a broken variant for the NMI probe to catch: STGI before the GS base is restored ---- */

void broken_stgi_after_exit(struct svm_run_ctx *ctx);
void broken_stgi_after_exit_msr(struct svm_run_ctx *ctx);
/* TR first (the NMI's IST stack comes from the TSS), then STGI, then the GS base */
asm(".pushsection .text\n"
    ".globl broken_stgi_after_exit, broken_stgi_after_exit_msr\n"
    "broken_stgi_after_exit:\n"
    "\tcall reload_tss\n"
    "\tstgi\n"                         /* too early: a pending NMI is taken on the guest's GS */
    "\tmov " __stringify(CTX_HOST_GS_BASE) "(%rdi), %rax\n"
    "\twrgsbase %rax\n"
    "\tret\n"
    "broken_stgi_after_exit_msr:\n"
    "\tcall reload_tss\n"
    "\tstgi\n"
    "\tmov " __stringify(CTX_HOST_GS_BASE) "(%rdi), %rax\n"
    "\tmov %rax, %rdx\n"
    "\tshr $32, %rdx\n"
    "\tmov $" __stringify(MSR_GS_BASE) ", %ecx\n"
    "\twrmsr\n"
    "\tret\n"
    ".popsection");

static void broken_stgi_setup(struct vcpu *v) {
  v->ctx.after_exit = opt_fsgsbase ? broken_stgi_after_exit : broken_stgi_after_exit_msr;
}

const struct kvm_design design_broken_stgi = {
  .name = "broken-stgi",
  .what = "wrgsbase, but STGI comes before the GS base is restored",
  .setup = broken_stgi_setup,
  .vcpu_load = wrgsbase_vcpu_load,
  .vcpu_put = wrgsbase_vcpu_put,
};
