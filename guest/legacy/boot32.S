/*
 * The 32-bit runtime's entry points: the multiboot v1 header and entry (the loader leaves 32-bit
 * protected mode with paging off, EAX = 0x2BADB002, EBX = the multiboot information), one IDT
 * stub per vector with the common trap path, catch_run, and ring-3 entry by IRET (user_call).
 */
#include "rt32.h"

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003      /* page-align modules, provide memory information */
#define CATCH_MAX 8

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.section .boot, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	mov %eax, %ebp
	mov %ebx, %esi
	cmp $0x2badb002, %eax
	jne bad_boot
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov %ebp, mb_magic
	mov %esi, mb_info
	mov $boot_stack_top, %esp
	call rt32_main
1:	cli
	hlt
	jmp 1b

/* print a line on COM1 and leave through the debug-exit port with a failure */
bad_boot:
	mov $bad_msg, %esi
1:	mov $0x3fd, %dx
2:	inb %dx, %al
	test $0x20, %al
	jz 2b
	lodsb
	test %al, %al
	jz 3f
	mov $0x3f8, %dx
	outb %al, %dx
	jmp 1b
3:	mov $3, %eax
	outl %eax, $0xf4
4:	hlt
	jmp 4b

	.text
/* ---- IDT stubs: 16 bytes each, the stub for vector v at trap_stubs + 16 * v ---- */
	.macro STUB v
	.align 16
	.if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
	.else
	pushl $0
	.endif
	pushl $\v
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

/* struct frame: the general registers (PUSHA), GS FS ES DS, vector, error code, the CPU's frame */
trap_common:
	push %ds
	push %es
	push %fs
	push %gs
	pusha
	mov $KDS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %fs
	mov %eax, %gs
	mov %esp, %eax
	cld
	push %eax
	call trap_dispatch
	add $4, %esp
	popa
	pop %gs
	pop %fs
	pop %es
	pop %ds
	add $8, %esp
	.globl trap_iret
trap_iret:
	iret

/* ---- int catch_run(void (*fn)(void *), void *arg) ---- */
	.globl catch_run, catch_resume, catch_longjmp
catch_run:
	push %ebp
	push %ebx
	push %esi
	push %edi
	mov catch_depth, %eax
	cmp $CATCH_MAX, %eax
	jb 1f
	ud2                             /* nested deeper than CATCH_MAX: fail the test with #UD */
1:	mov %esp, catch_esp(, %eax, 4)
	inc %eax
	mov %eax, catch_depth
	mov 20(%esp), %eax
	pushl 24(%esp)
	call *%eax
	add $4, %esp
	decl catch_depth
	mov $-1, %eax
catch_resume:
	pop %edi
	pop %esi
	pop %ebx
	pop %ebp
	ret

/* void catch_longjmp(int vector): from trap_dispatch, back into the innermost catch_run */
catch_longjmp:
	mov 4(%esp), %eax
	mov catch_depth, %ecx
	dec %ecx
	mov %ecx, catch_depth
	mov $KDS, %edx
	mov %edx, %ds
	mov %edx, %es
	mov %edx, %fs
	mov %edx, %gs
	mov %edx, %ss
	mov catch_esp(, %ecx, 4), %esp
	jmp catch_resume

/* ---- int user_call(int (*fn)(int), int arg) ---- */
	.globl user_call, user_trampoline, user_exit
user_call:
	push %ebp
	push %ebx
	push %esi
	push %edi
	mov %esp, user_ctx_esp
	mov 20(%esp), %ecx
	mov 24(%esp), %edx
	mov $user_stack_top - 8, %eax
	mov %ecx, (%eax)                /* the trampoline pops fn; arg is then its argument */
	mov %edx, 4(%eax)
	mov user_eflags, %esi
	mov $(UDS | 3), %ebx
	mov %ebx, %ds
	mov %ebx, %es
	mov %ebx, %fs
	mov %ebx, %gs
	push $(UDS | 3)
	push %eax
	push %esi
	push $(UCS | 3)
	push $user_trampoline
	iret

/* ring 3: call fn(arg), then leave with its value in EBX */
user_trampoline:
	pop %eax
	call *%eax
	mov %eax, %ebx
	mov $SYS_EXIT, %eax
	int $VEC_SYSCALL
	ud2

/* void user_exit(int value): from trap_dispatch, return from user_call */
user_exit:
	mov 4(%esp), %eax
	mov $KDS, %edx
	mov %edx, %ds
	mov %edx, %es
	mov %edx, %fs
	mov %edx, %gs
	mov %edx, %ss
	mov user_ctx_esp, %esp
	jmp catch_resume

	.section .rodata
bad_msg:
	.asciz "FAIL: boot (not entered by a multiboot loader)\nSUMMARY: 1 tests, 1 unexpected failures, 0 skipped\n"

	.data
	.align 4
	.globl catch_depth, user_eflags, user_ctx_esp
catch_depth: .long 0
catch_esp: .skip CATCH_MAX * 4
user_ctx_esp: .long 0
user_eflags: .long 0x202

	.bss
	.align 4096
	.globl user_stack, user_stack_top, kstack_top
user_stack: .skip 16384
user_stack_top:
	.skip 16384
kstack_top:                             /* TSS ESP0 */
	.skip 16384
boot_stack_top:                         /* the runner and CPL-0 tests */

	.section .note.GNU-stack, "", @progbits
