/*
 * A minimal SVM hypervisor harness for the test kernels (AMD64 APM Vol. 2, ch. 15).
 *
 * The guest is a 64-bit guest at CPL 0 that shares the host's page tables (identity map), GDT,
 * TR, LDTR, FS and GS, with its own IDT (guest_idt) and stack. Its exceptions and interrupts go
 * through guest stubs that record the event in g_ev and then either return (IRETQ, for vectors
 * in g_ev_return) or end the run with VMMCALL. Guest code is host code: asm snippets declared
 * with GUEST_INSN, or C functions run through guest_call_entry.
 *
 * Include this header from a test kernel, and svm.c once (build.sh compiles only
 * the test sources and the runtime library, so the harness is #included).
 */
#ifndef SVM_H
#define SVM_H
#include "rt.h"
#include "lapic.h"

/* ---- MSRs, CPUID, EFER (APM Vol. 2 15.4, 15.30; Vol. 3 E.4.1, E.4.9) ---- */
#define MSR_VM_CR 0xc0010114
#define MSR_VM_HSAVE_PA 0xc0010117
#define MSR_PAT 0x277
#define MSR_TSC_AUX 0xc0000103
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define EFER_SVME (1ul << 12)
#define VM_CR_DPD (1u << 0)
#define VM_CR_R_INIT (1u << 1)
#define VM_CR_DIS_A20M (1u << 2)
#define VM_CR_LOCK (1u << 3)
#define VM_CR_SVMDIS (1u << 4)

/* CPUID 8000_0001 ECX */
#define CPUID_SVM (1u << 2)
#define CPUID_SKINIT (1u << 12)
/* CPUID 8000_000A EDX */
#define SVMF_NP (1u << 0)
#define SVMF_LBRV (1u << 1)
#define SVMF_SVML (1u << 2)
#define SVMF_NRIPS (1u << 3)
#define SVMF_TSCRATE (1u << 4)
#define SVMF_VMCBCLEAN (1u << 5)
#define SVMF_FLUSHBYASID (1u << 6)
#define SVMF_DECODEASSISTS (1u << 7)
#define SVMF_PAUSEFILTER (1u << 10)
#define SVMF_PFTHRESHOLD (1u << 12)
#define SVMF_AVIC (1u << 13)
#define SVMF_VMSAVE_VIRT (1u << 15)
#define SVMF_VGIF (1u << 16)
#define SVMF_GMET (1u << 17)
#define SVMF_VNMI (1u << 25)
#define SVMF_ADDR_CHK (1u << 28)

/* ---- VMCB layout (APM Vol. 2, Appendix B, Tables B-1 and B-2) ---- */
#include "vmcb.h" /* VMCB offsets, generated from src/svm/vmcb.ts */

/* intercept vectors: word 3 (misc1, 00Ch) */
#define I1_INTR (1u << 0)
#define I1_NMI (1u << 1)
#define I1_SMI (1u << 2)
#define I1_INIT (1u << 3)
#define I1_VINTR (1u << 4)
#define I1_CR0_SEL (1u << 5)
#define I1_IDTR_READ (1u << 6)
#define I1_GDTR_READ (1u << 7)
#define I1_LDTR_READ (1u << 8)
#define I1_TR_READ (1u << 9)
#define I1_IDTR_WRITE (1u << 10)
#define I1_GDTR_WRITE (1u << 11)
#define I1_LDTR_WRITE (1u << 12)
#define I1_TR_WRITE (1u << 13)
#define I1_RDTSC (1u << 14)
#define I1_RDPMC (1u << 15)
#define I1_PUSHF (1u << 16)
#define I1_POPF (1u << 17)
#define I1_CPUID (1u << 18)
#define I1_RSM (1u << 19)
#define I1_IRET (1u << 20)
#define I1_INTN (1u << 21)
#define I1_INVD (1u << 22)
#define I1_PAUSE (1u << 23)
#define I1_HLT (1u << 24)
#define I1_INVLPG (1u << 25)
#define I1_INVLPGA (1u << 26)
#define I1_IOIO (1u << 27)
#define I1_MSR (1u << 28)
#define I1_TASK_SWITCH (1u << 29)
#define I1_FERR_FREEZE (1u << 30)
#define I1_SHUTDOWN (1u << 31)
/* word 4 (misc2, 010h) */
#define I2_VMRUN (1u << 0)
#define I2_VMMCALL (1u << 1)
#define I2_VMLOAD (1u << 2)
#define I2_VMSAVE (1u << 3)
#define I2_STGI (1u << 4)
#define I2_CLGI (1u << 5)
#define I2_SKINIT (1u << 6)
#define I2_RDTSCP (1u << 7)
#define I2_ICEBP (1u << 8)
#define I2_WBINVD (1u << 9)
#define I2_MONITOR (1u << 10)
#define I2_MWAIT (1u << 11)
#define I2_MWAIT_COND (1u << 12)
#define I2_XSETBV (1u << 13)

/* int_ctl (060h) */
#define V_TPR_MASK 0xfu
#define V_IRQ (1u << 8)
#define V_GIF (1u << 9)
#define V_INTR_PRIO(p) ((u32)(p) << 16)
#define V_IGN_TPR (1u << 20)
#define V_INTR_MASKING (1u << 24)
#define V_GIF_ENABLE (1u << 25)
#define V_NMI_PENDING (1u << 11)
#define V_NMI_BLOCKING (1u << 12)
#define V_NMI_ENABLE (1u << 26)
/* int_state (068h) */
#define INT_SHADOW 1u

/* EVENTINJ / EXITINTINFO (APM Vol. 2 15.20) */
#define EV_VALID (1u << 31)
#define EV_ERR (1u << 11)
#define EV_TYPE_INTR (0u << 8)
#define EV_TYPE_NMI (2u << 8)
#define EV_TYPE_EXC (3u << 8)
#define EV_TYPE_SOFT (4u << 8)

/* exit codes (APM Vol. 2, Appendix C) */
#define EXIT_READ_CR(n) (0x00 + (n))
#define EXIT_WRITE_CR(n) (0x10 + (n))
#define EXIT_READ_DR(n) (0x20 + (n))
#define EXIT_WRITE_DR(n) (0x30 + (n))
#define EXIT_EXC(v) (0x40 + (v))
#define EXIT_INTR 0x60
#define EXIT_NMI 0x61
#define EXIT_SMI 0x62
#define EXIT_INIT 0x63
#define EXIT_VINTR 0x64
#define EXIT_CR0_SEL 0x65
#define EXIT_IDTR_READ 0x66
#define EXIT_GDTR_READ 0x67
#define EXIT_LDTR_READ 0x68
#define EXIT_TR_READ 0x69
#define EXIT_IDTR_WRITE 0x6a
#define EXIT_GDTR_WRITE 0x6b
#define EXIT_LDTR_WRITE 0x6c
#define EXIT_TR_WRITE 0x6d
#define EXIT_RDTSC 0x6e
#define EXIT_RDPMC 0x6f
#define EXIT_PUSHF 0x70
#define EXIT_POPF 0x71
#define EXIT_CPUID 0x72
#define EXIT_RSM 0x73
#define EXIT_IRET 0x74
#define EXIT_SWINT 0x75
#define EXIT_INVD 0x76
#define EXIT_PAUSE 0x77
#define EXIT_HLT 0x78
#define EXIT_INVLPG 0x79
#define EXIT_INVLPGA 0x7a
#define EXIT_IOIO 0x7b
#define EXIT_MSR 0x7c
#define EXIT_TASK_SWITCH 0x7d
#define EXIT_FERR_FREEZE 0x7e
#define EXIT_SHUTDOWN 0x7f
#define EXIT_VMRUN 0x80
#define EXIT_VMMCALL 0x81
#define EXIT_VMLOAD 0x82
#define EXIT_VMSAVE 0x83
#define EXIT_STGI 0x84
#define EXIT_CLGI 0x85
#define EXIT_SKINIT 0x86
#define EXIT_RDTSCP 0x87
#define EXIT_ICEBP 0x88
#define EXIT_WBINVD 0x89
#define EXIT_MONITOR 0x8a
#define EXIT_MWAIT 0x8b
#define EXIT_MWAIT_COND 0x8c
#define EXIT_XSETBV 0x8d
#define EXIT_NPF 0x400
#define EXIT_INVALID 0xfffffffffffffffful   /* -1 as a 64-bit value (APM 15.5.1) */

/* IOIO EXITINFO1 (APM Vol. 2 15.10.2, Figure 15-2) */
#define IOIO_IN (1u << 0)
#define IOIO_STR (1u << 2)
#define IOIO_REP (1u << 3)
#define IOIO_SZ8 (1u << 4)
#define IOIO_SZ16 (1u << 5)
#define IOIO_SZ32 (1u << 6)
#define IOIO_A16 (1u << 7)
#define IOIO_A32 (1u << 8)
#define IOIO_A64 (1u << 9)
#define IOIO_SEG_MASK (7u << 10)
#define IOIO_PORT(p) ((u64)(p) << 16)

/* nested page fault EXITINFO1 (APM Vol. 2 15.25.6) */
#define NPF_P (1ul << 0)
#define NPF_RW (1ul << 1)
#define NPF_US (1ul << 2)
#define NPF_RSV (1ul << 3)
#define NPF_ID (1ul << 4)
#define NPF_FINAL (1ul << 32)
#define NPF_WALK (1ul << 33)

/* ---- VMCB field access ---- */
#define VMCB8(v, off) (*(volatile u8 *)((u8 *)(v) + (off)))
#define VMCB16(v, off) (*(volatile u16 *)((u8 *)(v) + (off)))
#define VMCB32(v, off) (*(volatile u32 *)((u8 *)(v) + (off)))
#define VMCB64(v, off) (*(volatile u64 *)((u8 *)(v) + (off)))

/* ---- the SVM instructions (APM Vol. 3) ---- */
static inline void vmsave(u64 pa) { asm volatile("vmsave %%rax" :: "a"(pa) : "memory"); }
static inline void vmload(u64 pa) { asm volatile("vmload %%rax" :: "a"(pa) : "memory"); }
static inline void clgi(void) { asm volatile("clgi" ::: "memory"); }
static inline void stgi(void) { asm volatile("stgi" ::: "memory"); }
static inline void invlpga(u64 va, u32 asid) { asm volatile("invlpga %%rax, %%ecx" :: "a"(va), "c"(asid) : "memory"); }
static inline u64 rdtsc(void) { u32 lo, hi; asm volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((u64)hi << 32) | lo; }
static inline u64 read_dr6(void) { u64 v; asm volatile("mov %%dr6, %0" : "=r"(v)); return v; }
static inline u64 read_dr7(void) { u64 v; asm volatile("mov %%dr7, %0" : "=r"(v)); return v; }
static inline void write_dr7(u64 v) { asm volatile("mov %0, %%dr7" :: "r"(v)); }
static inline u64 read_cr8(void) { u64 v; asm volatile("mov %%cr8, %0" : "=r"(v)); return v; }
static inline void write_cr8(u64 v) { asm volatile("mov %0, %%cr8" :: "r"(v)); }
struct dtr { u16 limit; u64 base; } __attribute__((packed));
static inline void sgdt(struct dtr *d) { asm volatile("sgdt %0" : "=m"(*d)); }
static inline void sidt(struct dtr *d) { asm volatile("sidt %0" : "=m"(*d)); }
static inline u16 sldt(void) { u16 v; asm volatile("sldt %0" : "=r"(v)); return v; }
static inline u16 str_sel(void) { u16 v; asm volatile("str %0" : "=r"(v)); return v; }

/* ---- features ---- */
struct svm_features {
  int svm;            /* CPUID 8000_0001 ECX[2] */
  int skinit;         /* CPUID 8000_0001 ECX[12] (STGI is then legal with SVME = 0) */
  u32 rev, nasid, edx;
};
extern struct svm_features svmf;
void svm_detect(void);
void svm_print_features(void);
/* t_skip (and return 0) unless SVM, and each feature bit in `edx_bits`, is present */
int svm_need(u32 edx_bits);
static inline int svm_has(u32 edx_bits) { return (svmf.edx & edx_bits) == edx_bits; }

/* ---- memory the harness owns (identity-mapped, so virtual = physical) ---- */
extern u8 vmcb[4096], vmcb2[4096], hsave[4096], scratch_page[4096], save_page[4096];
extern u8 iopm[3 * 4096], msrpm[2 * 4096];
extern u8 guest_stack[16384];
#define GUEST_STACK_TOP ((u64)guest_stack + sizeof(guest_stack))
static inline u64 pa(const void *p) { return (u64)p; }

/* ---- enabling ---- */
void svm_enable(void);              /* EFER.SVME = 1, VM_HSAVE_PA = hsave */
/* svm_need(edx_bits) + svm_enable + a clean guest record; the start of every SVM test */
int svm_begin(u32 edx_bits);

/* ---- the guest ---- */
struct gregs { u64 rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15; };
extern struct gregs greg;            /* loaded before VMRUN, stored after #VMEXIT */
extern struct gate guest_idt[256];
extern u8 guest_call_entry[];        /* calls greg.rbx(greg.rdi), then VMMCALL */

/* the host's view around the last VMRUN (svm_vmrun_regs records it) */
struct host_probe { u64 rsp_before, rsp_after, rflags_before, rflags_after; u16 cs, ss, ds, es; };
extern struct host_probe hprobe;
/* RFLAGS to load right before VMRUN when nonzero (then restored by #VMEXIT, not by us) */
extern u64 host_rflags_at_vmrun;

/* guest events recorded by the guest IDT stubs */
struct guest_event { u64 count, vector, error, rip, cs, rflags, rsp, cr2, first_vector; };
extern volatile struct guest_event g_ev;
extern volatile u64 g_ev_return[4];  /* bitmap: vectors whose stub returns by IRETQ */
extern volatile u64 g_ev_eoi[4];     /* bitmap: vectors whose stub writes the LAPIC EOI first */
static inline void guest_return_on(int vec) { g_ev_return[vec / 64] |= 1ul << (vec % 64); }
static inline void guest_eoi_on(int vec) { g_ev_eoi[vec / 64] |= 1ul << (vec % 64); }

/* a default guest VMCB at `v` entering at `rip` (see the file comment): intercepts VMRUN,
 * VMMCALL and SHUTDOWN, ASID 1 with TLB_CONTROL = 1 (flush all), IOPM and MSRPM at
 * iopm/msrpm (cleared by svm_begin) */
void vmcb_init(u8 *v, u64 rip);
void vmcb_set_cpl3(u8 *v);           /* CS/SS = UCS/UDS at RPL 3, CPL 3 */
void vmcb_seg(u8 *v, u32 off, u16 sel, u16 attr, u32 limit, u64 base);
static inline void icpt1(u8 *v, u32 bits) { VMCB32(v, VMCB_ICPT_MISC1) |= bits; }
static inline void icpt2(u8 *v, u32 bits) { VMCB32(v, VMCB_ICPT_MISC2) |= bits; }
static inline void icpt_exc(u8 *v, int vec) { VMCB32(v, VMCB_ICPT_EXC) |= 1u << vec; }

/* the raw world switch: loads greg, VMRUN with RAX = vmcb_pa, stores greg; returns the RAX
 * the host has after #VMEXIT (which should be vmcb_pa again) */
u64 svm_vmrun_regs(u64 vmcb_pa, struct gregs *g);
/* CLGI, VMRUN, STGI; returns EXITCODE */
u64 svm_run(u8 *v);
/* VMRUN without CLGI/STGI around it (GIF is whatever it was; #VMEXIT leaves it 0) */
u64 svm_run_nogif(u8 *v);

static inline u64 exit_code(u8 *v) { return VMCB64(v, VMCB_EXITCODE); }
static inline u64 exit_info1(u8 *v) { return VMCB64(v, VMCB_EXITINFO1); }
static inline u64 exit_info2(u8 *v) { return VMCB64(v, VMCB_EXITINFO2); }
static inline u64 exit_intinfo(u8 *v) { return VMCB64(v, VMCB_EXITINTINFO); }
static inline u64 exit_nrip(u8 *v) { return VMCB64(v, VMCB_NRIP); }
static inline u64 guest_rip(u8 *v) { return VMCB64(v, VMCB_RIP); }
const char *exit_name(u64 code);
/* the exit is `code` (else t_fail with what happened instead); returns 1 if it is */
int expect_exit(u8 *v, u64 code);
/* the exit is `code` at guest RIP `rip`, and NRIP is `nrip` when the CPU has NRIPS
 * (nrip = 0 checks that NRIP is 0; NRIP_ANY does not check it) */
#define NRIP_ANY ((const void *)-1)
int expect_exit_at(u8 *v, u64 code, const void *rip, const void *nrip);

/* the VMCB segment at `off` is {sel, attr, limit, base} (attributes compared without A, AVL
 * and G); t_fail naming `what` otherwise */
void check_vmcb_seg(const char *what, u8 *v, u32 off, u16 sel, u16 attr, u32 limit, u64 base);
/* like check_fault, naming what was tried: `got` (from catch_run) should be vector `vec`
 * with error code `err` (-1: any error code; vec -1: no exception) */
void expect_fault(const char *what, long got, int vec, long err);
const char *vector_name(u64 v);

/* ---- nested paging: GPA = SPA for 0..4 GiB with 2 MiB pages, 4 KiB pages over the test
 * region (npt_pt), all P/W/U ---- */
extern volatile u64 npt_pml4[512], npt_pdpt[512], npt_pd[4 * 512], npt_pt[512];
void npt_init(void);
void vmcb_enable_npt(u8 *v);
static inline volatile u64 *npt_pte(u64 gpa) { return &npt_pt[(gpa - TEST_BASE) >> 12]; }

/* ---- guest snippets ----
 * GUEST_INSN(name, pre, insn) defines guest code `name`: `pre`, then the instruction `insn`
 * at name_insn, then VMMCALL at name_end. An intercepted insn exits with RIP = name_insn and
 * NRIP = name_end; otherwise the run ends at the VMMCALL with RIP = name_end. */
#define GUEST_INSN(name, pre, insn)                                                              \
  extern u8 name[], name##_insn[], name##_end[];                                                 \
  asm(".pushsection .text\n\t.globl " #name ", " #name "_insn, " #name "_end\n"                  \
      #name ":\n\t" pre "\n" #name "_insn:\n\t" insn "\n" #name "_end:\n\tvmmcall\n\tud2\n"     \
      ".popsection")

#endif
