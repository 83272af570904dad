/* SVM constants for the kvm code: VMCB offsets, intercepts, exit codes (AMD64 APM Vol. 2,
 * chapter 15 and Appendix B/C; offsets as in Linux arch/x86/include/asm/svm.h). */
#ifndef SVM_H
#define SVM_H

/* control area */
#define VMCB_ICPT_CR 0x000
#define VMCB_ICPT_EXC 0x008
#define VMCB_ICPT_MISC1 0x00c
#define VMCB_ICPT_MISC2 0x010
#define VMCB_IOPM_BASE 0x040
#define VMCB_MSRPM_BASE 0x048
#define VMCB_TSC_OFFSET 0x050
#define VMCB_ASID 0x058
#define VMCB_TLB_CONTROL 0x05c
#define VMCB_INT_CTL 0x060
#define VMCB_INT_STATE 0x068
#define VMCB_EXITCODE 0x070
#define VMCB_EXITINFO1 0x078
#define VMCB_EXITINFO2 0x080
#define VMCB_EXITINTINFO 0x088
#define VMCB_NP_ENABLE 0x090
#define VMCB_EVENTINJ 0x0a8
#define VMCB_N_CR3 0x0b0
/* state-save area (from the VMCB base) */
#define VMCB_ES 0x400
#define VMCB_CS 0x410
#define VMCB_SS 0x420
#define VMCB_DS 0x430
#define VMCB_FS 0x440
#define VMCB_GS 0x450
#define VMCB_GDTR 0x460
#define VMCB_LDTR 0x470
#define VMCB_IDTR 0x480
#define VMCB_TR 0x490
#define VMCB_CPL 0x4cb
#define VMCB_EFER 0x4d0
#define VMCB_CR4 0x548
#define VMCB_CR3 0x550
#define VMCB_CR0 0x558
#define VMCB_DR7 0x560
#define VMCB_DR6 0x568
#define VMCB_RFLAGS 0x570
#define VMCB_RIP 0x578
#define VMCB_RSP 0x5d8
#define VMCB_RAX 0x5f8
#define VMCB_STAR 0x600
#define VMCB_LSTAR 0x608
#define VMCB_CSTAR 0x610
#define VMCB_SFMASK 0x618
#define VMCB_KERNEL_GS_BASE 0x620
#define VMCB_SYSENTER_CS 0x628
#define VMCB_SYSENTER_ESP 0x630
#define VMCB_SYSENTER_EIP 0x638
#define VMCB_G_PAT 0x668
/* a segment entry: selector u16 @0, attributes u16 @2, limit u32 @4, base u64 @8 */
#define SEG_SEL 0
#define SEG_ATTR 2
#define SEG_LIMIT 4
#define SEG_BASE 8

/* intercept word 3 (00Ch) and word 4 (010h) */
#define I1_INTR (1u << 0)
#define I1_NMI (1u << 1)
#define I1_CPUID (1u << 18)
#define I1_HLT (1u << 24)
#define I1_IOIO (1u << 27)
#define I1_MSR (1u << 28)
#define I1_SHUTDOWN (1u << 31)
#define I2_VMRUN (1u << 0)
#define I2_VMMCALL (1u << 1)
#define I2_VMLOAD (1u << 2)
#define I2_VMSAVE (1u << 3)
#define I2_STGI (1u << 4)
#define I2_CLGI (1u << 5)
#define I2_SKINIT (1u << 6)

#define V_INTR_MASKING (1u << 24)

/* exit codes */
#define EXIT_INTR 0x60
#define EXIT_NMI 0x61
#define EXIT_CPUID 0x72
#define EXIT_HLT 0x78
#define EXIT_IOIO 0x7b
#define EXIT_MSR 0x7c
#define EXIT_SHUTDOWN 0x7f
#define EXIT_VMMCALL 0x81
#define EXIT_NPF 0x400
#define EXIT_INVALID 0xfffffffffffffffful

/* IOIO EXITINFO1 (APM Vol. 2 15.10.2) */
#define IOIO_IN (1u << 0)
#define IOIO_STR (1u << 2)
#define IOIO_REP (1u << 3)
#define IOIO_SIZE_SHIFT 4          /* SZ8 b4, SZ16 b5, SZ32 b6 */

/* nested page fault EXITINFO1 */
#define NPF_P (1ul << 0)
#define NPF_RSV (1ul << 3)

#define VMCB8(v, off) (*(volatile u8 *)((u8 *)(v) + (off)))
#define VMCB16(v, off) (*(volatile u16 *)((u8 *)(v) + (off)))
#define VMCB32(v, off) (*(volatile u32 *)((u8 *)(v) + (off)))
#define VMCB64(v, off) (*(volatile u64 *)((u8 *)(v) + (off)))

static inline void vmsave(u64 pa) { asm volatile("vmsave %%rax" :: "a"(pa) : "memory"); }
static inline void vmload(u64 pa) { asm volatile("vmload %%rax" :: "a"(pa) : "memory"); }
#endif
