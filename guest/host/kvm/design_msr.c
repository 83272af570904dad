/*
 * Design `msr`: Linux 5.11, before the VMSAVE/VMLOAD patch.
 *
 *   vcpu_load     RDMSR GS_BASE (kept in ctx for the exit path); save the FS and GS selectors
 *                 and the LDT selector; RDMSR every MSR in host_save_user_msrs; load the
 *                 guest's TSC_AUX
 *   after #VMEXIT WRMSR GS_BASE, then reload TR (GIF = 0, assembly below)
 *   vcpu_put      reload the LDT and FS, KERNEL_GS_BASE from the task, the GS index, then
 *                 WRMSR every saved MSR
 *
 * The guest's FS, GS, LDTR, KERNEL_GS_BASE and SYSCALL/SYSENTER MSRs stay loaded from #VMEXIT
 * to vcpu_put: they are host *user* state, needed only on the way back to ring 3.
 */
#include "kvm.h"

static const u32 host_save_user_msrs[] = {
  MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_KERNEL_GS_BASE, MSR_FS_BASE,
  MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP, MSR_TSC_AUX,
};
#define NR_HOST_SAVE_USER_MSRS ARRAY_SIZE(host_save_user_msrs)

/* the exit path: GS base first (per-cpu data), then TR (the NMI's IST stack is in the TSS) */
void msr_after_exit(struct svm_run_ctx *ctx);
asm(".pushsection .text\n"
    ".globl msr_after_exit\n"
    "msr_after_exit:\n"
    "\tmov " __stringify(CTX_HOST_GS_BASE) "(%rdi), %rax\n"
    "\tmov %rax, %rdx\n"
    "\tshr $32, %rdx\n"
    "\tmov $" __stringify(MSR_GS_BASE) ", %ecx\n"
    "\twrmsr\n"
    "\tjmp reload_tss\n"
    ".popsection");

static void msr_setup(struct vcpu *v) { v->ctx.after_exit = msr_after_exit; }

static void msr_vcpu_load(struct vcpu *v) {
  v->ctx.host_gs_base = rdmsr(MSR_GS_BASE);
  v->host.fs = read_fs();
  v->host.gs = read_gs();
  v->host.ldt = sldt();
  for (u64 i = 0; i < NR_HOST_SAVE_USER_MSRS; i++) v->host_user_msrs[i] = rdmsr(host_save_user_msrs[i]);
  wrmsr(MSR_TSC_AUX, v->guest_tsc_aux);
}

/* load_gs_index: the user's GS selector, loaded between two SWAPGS so the kernel's base stays */
static void load_gs_index(u16 sel) {
  asm volatile("pushfq; cli; swapgs; mov %0, %%gs; swapgs; popfq" :: "r"((u32)sel) : "memory");
}

static void msr_vcpu_put(struct vcpu *v) {
  struct task *t = this_cpu_read(current);
  lldt(v->host.ldt);
  load_fs(v->host.fs);
  wrmsr(MSR_KERNEL_GS_BASE, t->gsbase);
  load_gs_index(v->host.gs);
  for (u64 i = 0; i < NR_HOST_SAVE_USER_MSRS; i++) wrmsr(host_save_user_msrs[i], v->host_user_msrs[i]);
}

const struct kvm_design design_msr = {
  .name = "msr",
  .what = "Linux 5.11: RDMSR at vcpu_load, WRMSR GS_BASE after #VMEXIT, WRMSRs at vcpu_put",
  .setup = msr_setup,
  .vcpu_load = msr_vcpu_load,
  .vcpu_put = msr_vcpu_put,
};

/* ---- a broken variant for the checks to catch: vcpu_put forgets KERNEL_GS_BASE ---- */

static void broken_kgs_vcpu_put(struct vcpu *v) {
  lldt(v->host.ldt);
  load_fs(v->host.fs);
  load_gs_index(v->host.gs);
  for (u64 i = 0; i < NR_HOST_SAVE_USER_MSRS; i++) {
    if (host_save_user_msrs[i] != MSR_KERNEL_GS_BASE) wrmsr(host_save_user_msrs[i], v->host_user_msrs[i]);
  }
}

const struct kvm_design design_broken_kgs = {
  .name = "broken-kgs",
  .what = "msr, but vcpu_put does not restore KERNEL_GS_BASE (the user's GS base)",
  .setup = msr_setup,
  .vcpu_load = msr_vcpu_load,
  .vcpu_put = broken_kgs_vcpu_put,
};
