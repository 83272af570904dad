/*
 * The kvm code: a vcpu with its VMCB, MSRPM, IOPM and nested page tables; the run context that
 * the world switch (vmenter.S) reads and writes; the host-state designs.
 */
#ifndef KVM_H
#define KVM_H

/* struct svm_run_ctx offsets, for vmenter.S and the designs' restore routines */
#define CTX_VMCB_PA 0
#define CTX_AFTER_EXIT 8
#define CTX_HOST_GS_BASE 16
#define CTX_HSAVE_PA 24
#define CTX_SEND_NMI 32
#define CTX_T_PRE 40
#define CTX_T_POST 48
#define CTX_RBX 56
#define CTX_RCX 64
#define CTX_RDX 72
#define CTX_RSI 80
#define CTX_RDI 88
#define CTX_RBP 96
#define CTX_R8 104
#define CTX_R9 112
#define CTX_R10 120
#define CTX_R11 128
#define CTX_R12 136
#define CTX_R13 144
#define CTX_R14 152
#define CTX_R15 160

#define __stringify_1(x) #x
#define __stringify(x) __stringify_1(x)

#ifndef __ASSEMBLER__
#include "kernel.h"
#include "svm.h"

struct svm_run_ctx;
typedef void (*after_exit_fn)(struct svm_run_ctx *);

struct svm_run_ctx {
  u64 vmcb_pa;
  after_exit_fn after_exit;   /* the design's restore, run right after #VMEXIT with GIF = 0 */
  u64 host_gs_base;           /* the kernel's GS base, for designs that restore it alone */
  u64 hsave_pa;               /* this CPU's host save area */
  u64 send_nmi;               /* make an NMI pending right after CLGI (a probe of the GIF=0 window) */
  u64 t_pre, t_post;          /* RDTSC just before VMRUN and just after the design's restore */
  /* guest GPRs (RAX and RSP live in the VMCB) */
  u64 rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};

struct cpuid_entry { u32 leaf, eax, ebx, ecx, edx; };
#define MAX_CPUID 16

struct vcpu {
  u8 *vmcb;
  struct svm_run_ctx ctx;
  struct kvm_run *run;
  u64 mem_gpa, mem_size, doorbell_gpa;
  u64 guest_tsc_aux;
  int flush_tlb;                /* TLB_CONTROL = flush on the next VMRUN */
  int guest_state_loaded;       /* vmload design: host state saved since the last vcpu_put */
  u64 host_tsc_aux;
  struct { u16 fs, gs, ldt; } host;   /* msr design: host selectors */
  u64 host_user_msrs[16];             /* msr design: host MSR values */
  struct kvm_stats stat;
  int ncpuid;
  struct cpuid_entry cpuid[MAX_CPUID];
};

/*
 * A host-state design: what happens at vcpu_load, before each VMRUN, right after #VMEXIT
 * (after_exit, assembly, GIF = 0) and at vcpu_put.
 */
struct kvm_design {
  const char *name;
  const char *what;
  void (*setup)(struct vcpu *v);                  /* at vcpu creation: picks ctx.after_exit */
  void (*vcpu_load)(struct vcpu *v);
  void (*prepare_guest_switch)(struct vcpu *v);   /* every pass of the run loop; may be NULL */
  void (*vcpu_put)(struct vcpu *v);
};

extern const struct kvm_design design_msr, design_vmsave_v1, design_vmload, design_vmload_notss, design_wrgsbase;
extern const struct kvm_design design_broken_kgs, design_broken_stgi;
extern const struct kvm_design *kvm_design;

/* vmenter.S */
void __svm_vcpu_run(struct svm_run_ctx *ctx);
void reload_tss(void);

/* emulate.c */
void kvm_cpuid_init(struct vcpu *v);
void kvm_emulate_cpuid(struct vcpu *v);
/* the guest bytes at guest RIP + 0.. if they are `n` bytes equal to `op`; else 0 */
int guest_insn_is(struct vcpu *v, const u8 *op, int n);
struct mmio_insn { int len, size, is_write; u64 value; };
int decode_mmio(struct vcpu *v, struct mmio_insn *m);   /* 0 ok, -1 not an MMIO store we know */

/* run.c */
int handle_exit(struct vcpu *v);
#endif
#endif
