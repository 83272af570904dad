/*
 * 64-bit entry points: one stub per IDT vector, the common trap path, the SYSCALL entry,
 * ring-3 entry by IRETQ or SYSRETQ, and catch_run (run a function; resume after it when an
 * exception interrupts it).
 *
 * GS discipline: in the kernel GS.base is &percpu and KERNEL_GS_BASE holds the user's GS base.
 * Entries from CPL 3 execute SWAPGS first and exits to CPL 3 execute it last; the trap path
 * decides by the CS of its frame (on exit: the frame's CS as a handler may have changed it).
 */
#include "rt.h"
#include "syscall_frame.h"

	.text
	.code64

/* ---- IDT stubs: 16 bytes each, stub for vector v at trap_stubs + 16 * v ---- */
	.macro STUB v
	.align 16
	.if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
	.else
	pushq $0
	.endif
	pushq $\v
	jmp trap_common
	.endm

	.align 16
	.globl trap_stubs
trap_stubs:
	.altmacro
	.set vec, 0
	.rept 256
	STUB %vec
	.set vec, vec + 1
	.endr
	.noaltmacro

/* frame offsets from RSP once the 15 registers are pushed (struct frame) */
#define F_RAX (14 * 8)
#define F_RDI (9 * 8)
#define F_CS (18 * 8)
#define CATCH_MAX 8

trap_common:
	testb $3, 24(%rsp)              /* CS above vector, error code, RIP */
	jz 1f
	swapgs
1:	push %rax
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
	call trap_dispatch              /* RSP is 16-aligned: 64-bit delivery aligns it, +22 slots */
	testb $3, F_CS(%rsp)
	jz 2f
	swapgs
2:	pop %r15
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
	iretq

/* ---- long catch_run(void (*fn)(void *), void *arg) ---- */
	.globl catch_run, catch_resume
catch_run:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	sub $8, %rsp
	mov catch_depth(%rip), %eax
	cmp $CATCH_MAX, %eax
	jb 1f
	ud2                             /* nested deeper than CATCH_MAX: fail the test with #UD */
1:	lea catch_rsp(%rip), %rcx
	mov %rsp, (%rcx, %rax, 8)
	inc %eax
	mov %eax, catch_depth(%rip)
	mov %rdi, %rax
	mov %rsi, %rdi
	call *%rax
	decl catch_depth(%rip)
	mov $-1, %rax
/* trap_dispatch returns here by IRETQ with RSP = the saved value and RAX = the vector */
catch_resume:
	add $8, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret

/* ---- long user_call(long (*fn)(long), long arg, int via_sysret) ---- */
	.globl user_call
user_call:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	sub $8, %rsp
	mov %rsp, user_ctx_rsp(%rip)
	test %edx, %edx
	jnz 1f
	pushq $(UDS | 3)
	lea user_stack_top(%rip), %rax
	push %rax
	pushq user_rflags(%rip)
	pushq $(UCS | 3)
	lea user_trampoline(%rip), %rax
	push %rax
	swapgs
	iretq
1:	lea user_trampoline(%rip), %rcx
	mov user_rflags(%rip), %r11
	lea user_stack_top(%rip), %rsp
	swapgs
	sysretq

/* ring 3: call fn(arg), then SYS_EXIT with its value */
	.globl user_trampoline
user_trampoline:
	mov %rdi, %rax
	mov %rsi, %rdi
	call *%rax
	mov %rax, %rdi
	mov $SYS_EXIT, %eax
	syscall
	ud2

/* ---- SYSCALL entry (LSTAR): RCX = user RIP, R11 = user RFLAGS ---- */
	.globl syscall_entry
syscall_entry:
	SYSCALL_ENTER_FRAME
	call syscall_dispatch           /* nonzero: SYS_EXIT, leave to user_call's caller */
	test %eax, %eax
	jnz 2f
	SYSCALL_EXIT_FRAME
2:	mov F_RDI(%rsp), %rax
	mov user_ctx_rsp(%rip), %rsp
	jmp catch_resume

	.data
	.align 8
	.globl catch_depth, catch_rsp, user_rflags
catch_depth: .quad 0
catch_rsp: .skip CATCH_MAX * 8
user_ctx_rsp: .quad 0
user_rflags: .quad 0x202

	.bss
	.align 4096
	.globl user_stack, user_stack_top, kstack_top, ist1_bottom, ist1_top, ist2_bottom, ist2_top
user_stack: .skip 16384
user_stack_top:
	.skip 16384
kstack_top:                             /* TSS.RSP0 and the SYSCALL stack */
ist1_bottom: .skip 8192
ist1_top:                               /* NMI */
ist2_bottom: .skip 8192
ist2_top:                               /* #DF */

	.section .note.GNU-stack, "", @progbits
