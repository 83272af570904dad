/*
 * Mutants of the kinds a one-run, C-only verifier could not see (see mutants.h): each is wrong
 * in a way that shows only from the second KVM_RUN on, only in assembly, only in the guest's
 * registers, or only on one kind of exit.
 *
 *   vmsave-v1-every-other  vmsave-v1, but vcpu_load skips its VMSAVE on every second KVM_RUN
 *                          ("still saved" from the last one): vcpu_put then restores the VMM's
 *                          FS/GS bases of the run before
 *   vmload-gs-touch-early  vmload, but the exit path reads a per-cpu word through %gs and
 *                          writes it back, before the VMLOAD of the host state: on the guest's
 *                          GS base, and changing nothing anyone compares
 *   vmload-clobber-rcx     vmload, but the exit path stores the ctx pointer (RDI) where the
 *                          guest's RCX belongs: the guest runs on with a wrong RCX
 *   wrgsbase-io-fast-put   wrgsbase, but vcpu_put skips the VMLOAD of the host state after a
 *                          port-I/O exit to user space ("nothing changed for I/O")
 */
#include "mutants.h"

/* ---- vmsave-v1-every-other ---- */

static u64 v1_loads;

static void every_other_load(struct vcpu *v) {
  if (v1_loads++ % 2 == 0) {
    design_vmsave_v1.vcpu_load(v);
    return;
  }
  /* design_vmsave_v1.c's vcpu_load without the VMSAVE */
  u64 hsave = this_cpu_read(hsave_pa);
  v->ctx.hsave_pa = hsave;
  v->host_tsc_aux = rdmsr(MSR_TSC_AUX);
  v->ctx.host_gs_base = VMCB64(hsave, VMCB_GS + SEG_BASE);
  wrmsr(MSR_TSC_AUX, v->guest_tsc_aux);
}

static void v1_setup(struct vcpu *v) { design_vmsave_v1.setup(v); }
static void v1_put(struct vcpu *v) { design_vmsave_v1.vcpu_put(v); }

const struct kvm_design mutant_vmsave_v1_every_other = {
  .name = "vmsave-v1-every-other",
  .what = "vmsave-v1, but vcpu_load skips its VMSAVE on every second KVM_RUN",
  .setup = v1_setup,
  .vcpu_load = every_other_load,
  .vcpu_put = v1_put,
};

/* ---- vmload-gs-touch-early ---- */

void m_gs_touch_after_exit(struct svm_run_ctx *ctx);
asm(".pushsection .text\n"
    "m_gs_touch_after_exit:\n"
    "\tmov %gs:0, %rax\n"
    "\tmov %rax, %gs:0\n"
    "\tjmp vmload_after_exit\n"
    ".popsection");

static void vmload_load(struct vcpu *v) { design_vmload.vcpu_load(v); }
static void vmload_prepare(struct vcpu *v) { design_vmload.prepare_guest_switch(v); }
static void vmload_put(struct vcpu *v) { design_vmload.vcpu_put(v); }

static void gs_touch_setup(struct vcpu *v) { v->ctx.after_exit = m_gs_touch_after_exit; }

const struct kvm_design mutant_vmload_gs_touch_early = {
  .name = "vmload-gs-touch-early",
  .what = "vmload, but the exit path touches %gs:0 before the VMLOAD of the host state",
  .setup = gs_touch_setup,
  .vcpu_load = vmload_load,
  .prepare_guest_switch = vmload_prepare,
  .vcpu_put = vmload_put,
};

/* ---- vmload-clobber-rcx ---- */

static void clobber_rcx_setup(struct vcpu *v) {
  v->ctx.after_exit = vmload_after_exit;
  /* after VMRUN: mov %rcx, CTX_RCX(%rdi) (48 89 4f d8) becomes mov %rdi, CTX_RCX(%rdi) */
  u8 *vmrun = (u8 *)__svm_vcpu_run;
  while (!(vmrun[0] == 0x0f && vmrun[1] == 0x01 && vmrun[2] == 0xd8)) vmrun++;
  for (u64 i = 0; i < 64; i++) {
    if (vmrun[i] == 0x48 && vmrun[i + 1] == 0x89 && vmrun[i + 2] == 0x4f) {
      vmrun[i + 2] = 0x7f;
      return;
    }
  }
  panic("mutant: mov %%rcx, CTX_RCX(%%rdi) not found after VMRUN");
}

const struct kvm_design mutant_vmload_clobber_rcx = {
  .name = "vmload-clobber-rcx",
  .what = "vmload, but the guest's RCX is stored as the ctx pointer after #VMEXIT",
  .setup = clobber_rcx_setup,
  .vcpu_load = vmload_load,
  .prepare_guest_switch = vmload_prepare,
  .vcpu_put = vmload_put,
};

/* ---- wrgsbase-io-fast-put ---- */

static void wrgsbase_setup(struct vcpu *v) { design_wrgsbase.setup(v); }
static void wrgsbase_load(struct vcpu *v) { design_wrgsbase.vcpu_load(v); }

static void io_fast_put(struct vcpu *v) {
  if (v->run->exit_reason == KVM_EXIT_IO) {
    wrmsr(MSR_TSC_AUX, v->host_tsc_aux);
    return;
  }
  design_wrgsbase.vcpu_put(v);
}

const struct kvm_design mutant_wrgsbase_io_fast_put = {
  .name = "wrgsbase-io-fast-put",
  .what = "wrgsbase, but vcpu_put skips the VMLOAD after a port-I/O exit",
  .setup = wrgsbase_setup,
  .vcpu_load = wrgsbase_load,
  .vcpu_put = io_fast_put,
};
