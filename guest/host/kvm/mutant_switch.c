/*
 * Mutants of the world switch (CLGI .. STGI; see mutants.h). Each is one real design with one
 * thing wrong in the window where GIF = 0 holds NMIs and interrupts:
 *
 *   vmload-stgi-first       vmload, but STGI comes before the VMLOAD of the host state
 *   vmload-guest-vmcb       vmload, but the exit path VMLOADs the guest's VMCB, not the save area
 *   vmload-no-clgi          vmload without the CLGI: the window before VMRUN is open to events
 *                           after VMLOAD has put the guest's GS, TR, ... in place
 *   vmload-no-guest-vmsave  vmload without the VMSAVE of the guest after VMRUN: the guest's own
 *                           changes to its FS/GS/KERNEL_GS_BASE/... are lost at the next VMRUN
 *   vmload-percpu-early     vmload, but the exit path is C that touches per-cpu data first
 *   wrgsbase-no-tr          wrgsbase without the TR reload after #VMEXIT
 *   wrgsbase-tr-after-stgi  wrgsbase, but TR is reloaded after STGI (an NMI takes its IST stack
 *                           from the guest's TSS)
 *   wrgsbase-gs-at-put      wrgsbase, but the GS base comes back only with vcpu_put's VMLOAD
 *
 * The designs' other hooks are called through the real design's table, so only the named part
 * differs. Two mutants remove one instruction of the shared world switch (vmenter.S) the way
 * Linux patches its own text at boot (alternatives): the instruction becomes a 3-byte NOP when
 * the vcpu is created, so the path keeps its shape and vmenter.S stays the real one.
 */
#include "mutants.h"

/* the real designs' hooks, through their tables */
static void vmload_load(struct vcpu *v) { design_vmload.vcpu_load(v); }
static void vmload_prepare(struct vcpu *v) { design_vmload.prepare_guest_switch(v); }
static void vmload_put(struct vcpu *v) { design_vmload.vcpu_put(v); }
static void wrgsbase_load(struct vcpu *v) { design_wrgsbase.vcpu_load(v); }
static void wrgsbase_put(struct vcpu *v) { design_wrgsbase.vcpu_put(v); }

#define VMLOAD_MUTANT(id, nm, desc, setup_fn)                                                  \
  const struct kvm_design id = { .name = nm, .what = desc, .setup = setup_fn,                  \
    .vcpu_load = vmload_load, .prepare_guest_switch = vmload_prepare, .vcpu_put = vmload_put }
#define WRGSBASE_MUTANT(id, nm, desc, setup_fn)                                                \
  const struct kvm_design id = { .name = nm, .what = desc, .setup = setup_fn,                  \
    .vcpu_load = wrgsbase_load, .vcpu_put = wrgsbase_put }

/* the GS base from ctx->host_gs_base: WRGSBASE, or WRMSR when CR4.FSGSBASE is off */
#define SET_GS_WRGSBASE                                                                        \
  "\tmov " __stringify(CTX_HOST_GS_BASE) "(%rdi), %rax\n"                                     \
  "\twrgsbase %rax\n"
#define SET_GS_WRMSR                                                                           \
  "\tmov " __stringify(CTX_HOST_GS_BASE) "(%rdi), %rax\n"                                     \
  "\tmov %rax, %rdx\n"                                                                         \
  "\tshr $32, %rdx\n"                                                                          \
  "\tmov $" __stringify(MSR_GS_BASE) ", %ecx\n"                                               \
  "\twrmsr\n"

void m_stgi_first_after_exit(struct svm_run_ctx *ctx);
void m_guest_vmcb_after_exit(struct svm_run_ctx *ctx);
void m_no_tr_after_exit(struct svm_run_ctx *ctx);
void m_no_tr_after_exit_msr(struct svm_run_ctx *ctx);
void m_tr_after_stgi_after_exit(struct svm_run_ctx *ctx);
void m_tr_after_stgi_after_exit_msr(struct svm_run_ctx *ctx);
void m_gs_at_put_after_exit(struct svm_run_ctx *ctx);
asm(".pushsection .text\n"
    ".globl m_stgi_first_after_exit, m_guest_vmcb_after_exit\n"
    ".globl m_no_tr_after_exit, m_no_tr_after_exit_msr\n"
    ".globl m_tr_after_stgi_after_exit, m_tr_after_stgi_after_exit_msr, m_gs_at_put_after_exit\n"
    /* vmload-stgi-first: a pending NMI (and, IF being 1 after #VMEXIT, an interrupt) is taken
     * on the guest's GS, TR, ... */
    "m_stgi_first_after_exit:\n"
    "\tstgi\n"
    "\tmov " __stringify(CTX_HSAVE_PA) "(%rdi), %rax\n"
    "\tvmload %rax\n"
    "\tret\n"
    /* vmload-guest-vmcb: the guest's values, again, instead of the host's */
    "m_guest_vmcb_after_exit:\n"
    "\tmov " __stringify(CTX_VMCB_PA) "(%rdi), %rax\n"
    "\tvmload %rax\n"
    "\tret\n"
    /* wrgsbase-no-tr: the GS base, but TR stays the guest's */
    "m_no_tr_after_exit:\n" SET_GS_WRGSBASE "\tret\n"
    "m_no_tr_after_exit_msr:\n" SET_GS_WRMSR "\tret\n"
    /* wrgsbase-tr-after-stgi: GS base, STGI, then TR */
    "m_tr_after_stgi_after_exit:\n" SET_GS_WRGSBASE "\tstgi\n\tjmp reload_tss\n"
    "m_tr_after_stgi_after_exit_msr:\n" SET_GS_WRMSR "\tstgi\n\tjmp reload_tss\n"
    /* wrgsbase-gs-at-put: only TR; the GS base waits for vcpu_put's VMLOAD of the save area */
    "m_gs_at_put_after_exit:\n\tjmp reload_tss\n"
    ".popsection");

static void stgi_first_setup(struct vcpu *v) { v->ctx.after_exit = m_stgi_first_after_exit; }
VMLOAD_MUTANT(mutant_vmload_stgi_first, "vmload-stgi-first", "vmload, but STGI before the VMLOAD of the host state",
              stgi_first_setup);

static void guest_vmcb_setup(struct vcpu *v) { v->ctx.after_exit = m_guest_vmcb_after_exit; }
VMLOAD_MUTANT(mutant_vmload_guest_vmcb, "vmload-guest-vmcb", "vmload, but the exit path VMLOADs the guest VMCB",
              guest_vmcb_setup);

/* ---- text patches of __svm_vcpu_run ---- */

/* the first 3-byte opcode a b c at or after `from`, within the world switch */
static u8 *find_op3(u8 *from, u8 a, u8 b, u8 c) {
  for (u64 i = 0; i < 256; i++) {
    if (from[i] == a && from[i + 1] == b && from[i + 2] == c) return from + i;
  }
  panic("mutant: opcode %02x %02x %02x not found in __svm_vcpu_run", a, b, c);
}

/* NOPL (%rax): one 3-byte instruction in place of a 3-byte SVM instruction */
static void nop3(u8 *at) {
  at[0] = 0x0f;
  at[1] = 0x1f;
  at[2] = 0x00;
}

static void no_clgi_setup(struct vcpu *v) {
  v->ctx.after_exit = vmload_after_exit;
  nop3(find_op3((u8 *)__svm_vcpu_run, 0x0f, 0x01, 0xdd));   /* CLGI */
}
VMLOAD_MUTANT(mutant_vmload_no_clgi, "vmload-no-clgi", "vmload without the CLGI before VMLOAD guest and VMRUN",
              no_clgi_setup);

static void no_guest_vmsave_setup(struct vcpu *v) {
  v->ctx.after_exit = vmload_after_exit;
  /* the instruction right after VMRUN is the VMSAVE of the guest */
  nop3(find_op3((u8 *)__svm_vcpu_run, 0x0f, 0x01, 0xd8) + 3);
}
VMLOAD_MUTANT(mutant_vmload_no_guest_vmsave, "vmload-no-guest-vmsave", "vmload without the VMSAVE of the guest after VMRUN",
              no_guest_vmsave_setup);

/* C right after #VMEXIT: the compiler is free to touch per-cpu data (here, a statistic) */
void m_percpu_early_after_exit(struct svm_run_ctx *ctx);
void m_percpu_early_after_exit(struct svm_run_ctx *ctx) {
  this_cpu_inc(irqs);
  vmload_after_exit(ctx);
}
static void percpu_early_setup(struct vcpu *v) { v->ctx.after_exit = m_percpu_early_after_exit; }
VMLOAD_MUTANT(mutant_vmload_percpu_early, "vmload-percpu-early", "vmload, but C code uses per-cpu data before the VMLOAD",
              percpu_early_setup);

static void no_tr_setup(struct vcpu *v) {
  v->ctx.after_exit = opt_fsgsbase ? m_no_tr_after_exit : m_no_tr_after_exit_msr;
}
WRGSBASE_MUTANT(mutant_wrgsbase_no_tr, "wrgsbase-no-tr", "wrgsbase without the TR reload after #VMEXIT", no_tr_setup);

static void tr_after_stgi_setup(struct vcpu *v) {
  v->ctx.after_exit = opt_fsgsbase ? m_tr_after_stgi_after_exit : m_tr_after_stgi_after_exit_msr;
}
WRGSBASE_MUTANT(mutant_wrgsbase_tr_after_stgi, "wrgsbase-tr-after-stgi", "wrgsbase, but TR is reloaded after STGI",
                tr_after_stgi_setup);

static void gs_at_put_setup(struct vcpu *v) { v->ctx.after_exit = m_gs_at_put_after_exit; }
WRGSBASE_MUTANT(mutant_wrgsbase_gs_at_put, "wrgsbase-gs-at-put", "wrgsbase, but the GS base is restored only at vcpu_put",
                gs_at_put_setup);
