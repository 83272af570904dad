/*
 * Ring-3 entry and the Linux SYSCALL entry of the userland kernel (kernel.c).
 *
 * long uland_enter(u64 rip, u64 rsp): enters the program at CPL 3 by IRETQ with every general
 * register zero (the x86-64 psABI process entry: RDX = 0 means no rtld_fini for atexit) and
 * RFLAGS = IF. It returns only when a system call handler asks for the process to end
 * (uland_syscall returns nonzero), with the exit status from uland_exit_status.
 *
 * GS discipline as in lib/entry.S: in the kernel GS.base = &percpu, KERNEL_GS_BASE holds the
 * user's GS base; SWAPGS is the last instruction before CPL 3 and the first after SYSCALL. An
 * exception from CPL 3 goes through the runtime's trap path (which swaps GS by the frame's CS).
 *
 * The SYSCALL frame is the runtime's struct frame (rt.h): rip/rflags hold RCX/R11, the user RSP
 * is saved in percpu.user_rsp before the switch to percpu.kstack (APM Vol. 2, 6.1.1: SYSCALL
 * does not switch stacks). Linux ABI: RAX = number, RDI RSI RDX R10 R8 R9 = arguments, result in
 * RAX, RCX and R11 clobbered, everything else preserved.
 */
#include "rt.h"

	.text
	.code64

	.globl uland_enter
uland_enter:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	sub $8, %rsp
	mov %rsp, uland_kctx_rsp(%rip)
	pushq $(UDS | 3)
	push %rsi
	pushq $0x202
	pushq $(UCS | 3)
	push %rdi
	xor %eax, %eax
	xor %ebx, %ebx
	xor %ecx, %ecx
	xor %edx, %edx
	xor %esi, %esi
	xor %edi, %edi
	xor %ebp, %ebp
	xor %r8d, %r8d
	xor %r9d, %r9d
	xor %r10d, %r10d
	xor %r11d, %r11d
	xor %r12d, %r12d
	xor %r13d, %r13d
	xor %r14d, %r14d
	xor %r15d, %r15d
	swapgs
	iretq

	.globl uland_syscall_entry
uland_syscall_entry:
	swapgs
	mov %rsp, %gs:PC_USER_RSP
	mov %gs:PC_KSTACK, %rsp
	pushq $(UDS | 3)
	pushq %gs:PC_USER_RSP
	push %r11
	pushq $(UCS | 3)
	push %rcx
	pushq $0
	pushq $-1
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	cld
	call uland_syscall              /* RAX of the frame is the result; nonzero: exit */
	test %eax, %eax
	jnz 2f
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp
	pop %rcx                        /* RIP */
	add $8, %rsp                    /* CS */
	pop %r11                        /* RFLAGS */
	mov (%rsp), %rsp                /* user RSP */
	swapgs
	sysretq
	/* the process ended: back to uland_enter's caller, still with the kernel's GS */
2:	mov uland_kctx_rsp(%rip), %rsp
	mov uland_exit_status(%rip), %rax
	add $8, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret

	.data
	.align 8
	.globl uland_exit_status
uland_kctx_rsp: .quad 0
uland_exit_status: .quad 0

	.section .note.GNU-stack, "", @progbits
