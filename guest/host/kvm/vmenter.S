/*
 * The world switch, CLGI to STGI, in assembly so that no C code runs while GS (and FS, TR,
 * KERNEL_GS_BASE, the SYSCALL MSRs) hold the guest's values. Linux's vmenter.S has the same
 * shape: VMLOAD guest, VMRUN, VMSAVE guest on the guest VMCB.
 *
 *   void __svm_vcpu_run(struct svm_run_ctx *ctx)     (called with IF = 0)
 *
 *   CLGI                       GIF = 0: NMI, INTR, SMI, INIT held pending (APM Vol. 2 15.17)
 *   [NMI probe]                optionally make an NMI pending now: it must wait for STGI
 *   STI                        IF = 1 at VMRUN: with V_INTR_MASKING a physical interrupt
 *                              while the guest runs is an INTR exit (APM 15.21.1)
 *   RDTSC -> ctx->t_pre
 *   load guest GPRs
 *   VMLOAD guest               guest FS, GS, TR, LDTR, KERNEL_GS_BASE, STAR.. into the CPU
 *   VMRUN
 *   VMSAVE guest               #VMEXIT left those guest values in the CPU; save them
 *   store guest GPRs
 *   ctx->after_exit(ctx)       the design's restore (its own file)
 *   RDTSC -> ctx->t_post
 *   CLI, STGI                  a pending NMI is taken here, on the host's GS; interrupts wait
 *                              for the run loop's STI
 */
#include "x86.h"
#include "kvm.h"

#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define ICR_NMI_ASSERT 0x4400             /* delivery mode NMI, level assert */

	.text
	.code64
	.globl __svm_vcpu_run
__svm_vcpu_run:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	push %rdi                       /* ctx, found again after #VMEXIT */
	clgi
	cmpq $0, CTX_SEND_NMI(%rdi)
	je 1f
	mov $0xfee00000, %eax           /* an NMI to ourselves: destination APIC ID = CPU number */
	mov $CPUNODE_SEL, %edx          /* (from the GDT's CPUNODE limit, without GS) */
	lsl %dx, %edx
	shl $24, %edx
	movl %edx, APIC_ICR_HI(%rax)
	movl $ICR_NMI_ASSERT, APIC_ICR_LO(%rax)
1:	sti
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	mov %rax, CTX_T_PRE(%rdi)

	mov %rdi, %rax
	mov CTX_RBX(%rax), %rbx
	mov CTX_RCX(%rax), %rcx
	mov CTX_RDX(%rax), %rdx
	mov CTX_RSI(%rax), %rsi
	mov CTX_RDI(%rax), %rdi
	mov CTX_RBP(%rax), %rbp
	mov CTX_R8(%rax), %r8
	mov CTX_R9(%rax), %r9
	mov CTX_R10(%rax), %r10
	mov CTX_R11(%rax), %r11
	mov CTX_R12(%rax), %r12
	mov CTX_R13(%rax), %r13
	mov CTX_R14(%rax), %r14
	mov CTX_R15(%rax), %r15
	mov CTX_VMCB_PA(%rax), %rax
	vmload %rax
	vmrun %rax
	vmsave %rax

	/* #VMEXIT restored RAX (the VMCB address), RSP and RIP; everything else is the guest's */
	push %rdi
	mov 8(%rsp), %rdi
	mov %rbx, CTX_RBX(%rdi)
	mov %rcx, CTX_RCX(%rdi)
	mov %rdx, CTX_RDX(%rdi)
	mov %rsi, CTX_RSI(%rdi)
	popq CTX_RDI(%rdi)
	mov %rbp, CTX_RBP(%rdi)
	mov %r8, CTX_R8(%rdi)
	mov %r9, CTX_R9(%rdi)
	mov %r10, CTX_R10(%rdi)
	mov %r11, CTX_R11(%rdi)
	mov %r12, CTX_R12(%rdi)
	mov %r13, CTX_R13(%rdi)
	mov %r14, CTX_R14(%rdi)
	mov %r15, CTX_R15(%rdi)

	call *CTX_AFTER_EXIT(%rdi)

	mov (%rsp), %rdi
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	mov %rax, CTX_T_POST(%rdi)
	cli
	stgi
	.globl svm_after_stgi
svm_after_stgi:
	pop %rdi
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret

/*
 * reload_tss: TR back to the host's TSS after a VMLOAD of the guest's TR. LTR needs an
 * available descriptor, so the busy bit the last LTR set is cleared first (Linux's
 * reload_tss). Uses no GS; clobbers RAX. Each CPU has its own GDT (CPU 1's is gdt_ap, smp.c):
 * the bit is cleared in both, which is harmless for the other CPU's loaded TR.
 */
	.globl reload_tss
reload_tss:
	andb $0xfd, gdt + TSS_SEL + 5(%rip)
	andb $0xfd, gdt_ap + TSS_SEL + 5(%rip)
	mov $TSS_SEL, %eax
	ltr %ax
	ret

	.section .note.GNU-stack, "", @progbits
