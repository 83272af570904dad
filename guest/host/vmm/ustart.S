/* The VMM's entry: the kernel enters ring 3 here with RDI = the argument string. */
#include "uapi.h"

	.text
	.globl vmm_start
vmm_start:
	and $-16, %rsp
	call vmm_main
	mov %eax, %edi
	mov $SYS_EXIT, %eax
	syscall
	ud2

	.bss
	.align 4096
vmm_stack:
	.skip 65536
	.globl vmm_stack_top
vmm_stack_top:

	.section .note.GNU-stack, "", @progbits
