/* SVM constants for the kvm code: VMCB offsets, intercepts, exit codes (AMD64 APM Vol. 2,
 * chapter 15 and Appendix B/C; offsets as in Linux arch/x86/include/asm/svm.h). */
#ifndef SVM_H
#define SVM_H

#include "vmcb.h" /* VMCB offsets, generated from src/svm/vmcb.ts */

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
