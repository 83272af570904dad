/*
 * Kernel entry points: one IDT stub per vector, the common interrupt/exception path, the NMI
 * entry, the SYSCALL entry, and the first entry to user mode.
 *
 * GS discipline (as Linux x86-64): in the kernel MSR_GS_BASE holds the per-cpu base and
 * KERNEL_GS_BASE the user's GS base; every entry from CPL 3 executes SWAPGS first and every
 * exit to CPL 3 executes it last. The NMI entry cannot trust the CS it interrupted (an NMI may
 * hit between SWAPGS and the IRET or SYSRET, or in a world switch), so it works out the GS base
 * as Linux's paranoid_entry does.
 */
#include "x86.h"

	.text
	.code64

	.macro STUB v
	.align 16
	.if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
	.else
	pushq $0
	.endif
	pushq $\v
	.if \v == 2
	jmp nmi_entry
	.else
	jmp trap_common
	.endif
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

	.macro PUSH_REGS
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
	.endm

	.macro POP_REGS
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
	.endm

/* struct pt_regs offsets once the 15 registers are pushed */
#define R_RAX (14 * 8)
#define R_CS (18 * 8)

trap_common:
	testb $3, 24(%rsp)              /* the interrupted CS (above vector, error code, RIP) */
	jz 1f
	swapgs
1:	PUSH_REGS
	mov %rsp, %rdi
	cld
	call trap_dispatch
	testb $3, R_CS(%rsp)
	jz 2f
	cli
	swapgs
2:	POP_REGS
	add $16, %rsp
	iretq

/*
 * NMI, on IST1. RBX keeps the GS base found at entry and R12 how to undo what the entry did:
 *   FSGSBASE on (Linux 5.9+): RDGSBASE; the kernel's base from percpu_offset[cpu], the CPU
 *     number being the limit of the CPUNODE descriptor (LSL, as Linux does: RDPID would read
 *     TSC_AUX, which may hold the guest's value inside the run loop); WRGSBASE. On exit the
 *     saved base is written back (R12 = 2).
 *   FSGSBASE off: RDMSR GS_BASE; a negative (upper-half) base is taken to be the kernel's
 *     (R12 = 1); otherwise SWAPGS, undone on exit (R12 = 0).
 * do_nmi(regs, gs_at_entry) reports an NMI that found a GS base other than the kernel's while
 * the CPU was in kernel mode: host code must never let that happen (a world switch must restore
 * GS before STGI).
 */
nmi_entry:
	PUSH_REGS
	cld
	cmpl $0, opt_fsgsbase(%rip)
	je 1f
	rdgsbase %rbx
	mov $CPUNODE_SEL, %eax
	lsl %ax, %eax
	and $0xfff, %eax
	lea percpu_offset(%rip), %rcx
	mov (%rcx, %rax, 8), %rdx
	wrgsbase %rdx
	mov $2, %r12d
	jmp 3f
1:	mov $MSR_GS_BASE, %ecx
	rdmsr
	mov %edx, %ebx
	shl $32, %rbx
	or %rax, %rbx
	mov $1, %r12d
	test %edx, %edx
	js 3f
	swapgs
	xor %r12d, %r12d
3:	mov %rsp, %rdi
	mov %rbx, %rsi
	call do_nmi
	cmp $2, %r12d
	jne 4f
	wrgsbase %rbx
	jmp 5f
4:	test %r12d, %r12d
	jnz 5f
	swapgs
5:	POP_REGS
	add $16, %rsp
	iretq

/* ---- SYSCALL (LSTAR): RCX = user RIP, R11 = user RFLAGS; SFMASK has cleared IF ---- */
	.globl syscall_entry
syscall_entry:
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
	PUSH_REGS
	mov %rsp, %rdi
	cld
	call do_syscall
	mov %rax, R_RAX(%rsp)
	cli
	POP_REGS
	add $16, %rsp
	pop %rcx                        /* RIP */
	add $8, %rsp                    /* CS */
	pop %r11                        /* RFLAGS */
	mov (%rsp), %rsp                /* user RSP */
	swapgs
	sysretq

/* ---- void enter_user(u64 rip, u64 rsp, u64 arg): the first entry to ring 3 ---- */
	.globl enter_user
enter_user:
	cli
	pushq $(UDS | 3)
	push %rsi
	pushq $0x202
	pushq $(UCS | 3)
	push %rdi
	mov %rdx, %rdi
	xor %eax, %eax
	xor %ebx, %ebx
	xor %ecx, %ecx
	xor %edx, %edx
	xor %esi, %esi
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

/* SYSENTER is not used; its MSRs still hold host values the world switch must restore */
	.globl sysenter_entry
sysenter_entry:
	ud2

	.section .note.GNU-stack, "", @progbits
