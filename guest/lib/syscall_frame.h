/*
 * The SYSCALL entry and exit of the runtime's kernels, as assembler macros shared by
 * lib/entry.S (the test kernels) and userland/uentry.S (the Linux-ABI kernel).
 *
 * SYSCALL_ENTER_FRAME: SWAPGS, the user RSP into percpu.user_rsp, onto percpu.kstack (SYSCALL
 * does not switch stacks, APM Vol. 2 6.1.1), and the runtime's struct frame (rt.h) built as an
 * interrupt would: SS, RSP, RFLAGS (R11), CS, RIP (RCX), error code 0, vector -1, then the
 * general registers; RDI = the frame, DF clear, ready for `call handler`.
 * SYSCALL_EXIT_FRAME: the registers back from the frame (RAX as the handler left it there),
 * RCX/R11 from RIP/RFLAGS, the user RSP, SWAPGS, SYSRETQ.
 */
#ifndef SYSCALL_FRAME_H
#define SYSCALL_FRAME_H

	.macro SYSCALL_ENTER_FRAME
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
	.endm

	.macro SYSCALL_EXIT_FRAME
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
	.endm

#endif
