/*
 * Multiboot v1 entry (32-bit protected mode, paging off, EAX = 0x2BADB002, EBX = the
 * information). Builds the page tables of layout.h, enters long mode (APM Vol. 2, 14.6:
 * CR4.PAE, EFER.LME, then CR0.PG; a far jump to an L=1 code segment leaves compatibility mode)
 * and calls kernel_main(mb_info) on the boot stack.
 */
#include "x86.h"

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003

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
	mov %esi, mb_info
	mov $boot_stack_top, %esp

	/* 2 MiB pages for 0..4 GiB, supervisor except the VMM's and the guest's memory */
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $(PTE_P | PTE_W | PTE_PS), %eax
	cmp $(USER_BASE >> 21), %ecx
	jb 2f
	cmp $((GUEST_BASE + GUEST_SIZE) >> 21), %ecx
	jae 2f
	or $PTE_U, %eax
2:	cmp $1536, %ecx
	jb 3f
	or $(PTE_PCD | PTE_PWT), %eax
3:	mov %eax, pd(, %ecx, 8)
	movl $0, pd + 4(, %ecx, 8)
	inc %ecx
	cmp $2048, %ecx
	jb 1b
	movl $(pd + 0x0000 + (PTE_P | PTE_W | PTE_U)), pdpt + 0
	movl $(pd + 0x1000 + (PTE_P | PTE_W | PTE_U)), pdpt + 8
	movl $(pd + 0x2000 + (PTE_P | PTE_W | PTE_U)), pdpt + 16
	movl $(pd + 0x3000 + (PTE_P | PTE_W | PTE_U)), pdpt + 24
	/* the identity map, and the direct map at PAGE_OFFSET (supervisor) over the same tables */
	movl $(pdpt + (PTE_P | PTE_W | PTE_U)), pml4
	movl $(pdpt + (PTE_P | PTE_W)), pml4 + ((PAGE_OFFSET >> 39) & 511) * 8

	mov $pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $MSR_EFER, %ecx
	rdmsr
	or $(EFER_LME | EFER_NXE | EFER_SCE), %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_WP | CR0_PE), %eax
	mov %eax, %cr0
	lgdt gdt_ptr
	ljmp $KCS, $start64

bad_boot:
	mov $3, %eax
	outl %eax, $0xf4
1:	hlt
	jmp 1b

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
	mov mb_info(%rip), %edi
	call kernel_main
1:	cli
	hlt
	jmp 1b

	.section .data
	.align 16
	.globl gdt_ptr
gdt_ptr:
	.word GDT_ENTRIES * 8 - 1
	.quad gdt
	.globl mb_info
mb_info: .long 0

	.section .bss
	.align 4096
	.globl pml4, pdpt, pd
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4 * 4096
	.align 16
	.skip 16384
	.globl boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
