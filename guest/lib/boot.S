/*
 * Multiboot v1 entry: 32-bit protected mode, paging off, EAX = 0x2BADB002, EBX = the multiboot
 * information. Builds the identity page tables described in rt.h, enters long mode
 * (APM Vol. 2, 14.6: CR4.PAE, EFER.LME, then CR0.PG activates long mode; a far jump to a code
 * segment with L=1 leaves compatibility mode) and calls rt_main in 64-bit mode.
 */
#include "rt.h"

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003      /* page-align modules, provide memory information */

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

	/* the loader should have zeroed .bss, but nothing depends on it */
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov %ebp, mb_magic
	mov %esi, mb_info
	mov $boot_stack_top, %esp

	/* long mode needs CPUID 8000_0001h EDX.LM (bit 29) */
	mov $0x80000000, %eax
	cpuid
	cmp $0x80000001, %eax
	jb bad_boot
	mov $0x80000001, %eax
	cpuid
	bt $29, %edx
	jnc bad_boot
	mov %edx, %ebx                  /* keep EDX.NX (bit 20) for EFER.NXE */

	/* 2 MiB pages for 0..4 GiB: pd[i] = i * 2 MiB | P W U PS, PCD|PWT above 3 GiB */
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $(PTE_P | PTE_W | PTE_U | PTE_PS), %eax
	cmp $1536, %ecx
	jb 2f
	or $(PTE_PCD | PTE_PWT), %eax
2:	mov %eax, pd(, %ecx, 8)
	movl $0, pd + 4(, %ecx, 8)
	inc %ecx
	cmp $2048, %ecx
	jb 1b

	/* the test region: 4 KiB pages through test_pt */
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $12, %eax
	add $(TEST_BASE | PTE_P | PTE_W | PTE_U), %eax
	mov %eax, test_pt(, %ecx, 8)
	inc %ecx
	cmp $TEST_PAGES, %ecx
	jb 1b
	movl $(test_pt + (PTE_P | PTE_W | PTE_U)), pd + (TEST_BASE >> 21) * 8

	/* four page directories under one PDPT under one PML4 entry */
	movl $(pd + 0x0000 + (PTE_P | PTE_W | PTE_U)), pdpt + 0
	movl $(pd + 0x1000 + (PTE_P | PTE_W | PTE_U)), pdpt + 8
	movl $(pd + 0x2000 + (PTE_P | PTE_W | PTE_U)), pdpt + 16
	movl $(pd + 0x3000 + (PTE_P | PTE_W | PTE_U)), pdpt + 24
	movl $(pdpt + (PTE_P | PTE_W | PTE_U)), pml4

	mov $pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	bt $20, %ebx
	jnc 3f
	or $EFER_NXE, %eax
3:	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_WP | CR0_PE), %eax
	mov %eax, %cr0
	lgdt gdt_ptr
	ljmp $KCS, $start64

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

	.code64
start64:
	mov $KDS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	mov $boot_stack_top, %rsp
	call rt_main
1:	cli
	hlt
	jmp 1b

	.section .rodata
bad_msg:
	.asciz "FAIL: boot (not entered by a multiboot loader, or no long mode)\nSUMMARY: 1 tests, 1 unexpected failures, 0 skipped\n"

	.section .data
	.align 16
	.globl gdt_ptr
gdt_ptr:
	.word GDT_ENTRIES * 8 - 1
	.quad gdt

	.section .bss
	.align 4096
	.globl pml4, pdpt, pd, test_pt
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4 * 4096
test_pt: .skip 4096
	.align 16
	.skip 16384
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
