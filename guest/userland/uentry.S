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
#include "syscall_frame.h"

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
	SYSCALL_ENTER_FRAME
	call uland_syscall              /* RAX of the frame is the result; nonzero: exit */
	test %eax, %eax
	jnz 2f
	SYSCALL_EXIT_FRAME
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
