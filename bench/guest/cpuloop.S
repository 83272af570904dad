/*
 * The CPU benchmark loop as a multiboot kernel, so the same code runs on worldswitch and on
 * QEMU TCG side by side (bench/qemu-ratio.mjs). Enters long mode with 2 MiB identity pages,
 * runs the loop of bench/cpu-loop.mjs OUTER times over a 4 KiB buffer, then writes 0 to the
 * debug-exit port 0xF4.
 */
#define OUTER 100000

	.text
	.code32
	/* the multiboot header: first in the image */
	.align 4
	.long 0x1badb002, 0, -0x1badb002

	.globl _start
_start:
	/* page tables at 0x200000: PML4 -> PDPT -> PD with 512 x 2 MiB pages */
	movl $0x201003, 0x200000
	movl $0, 0x200004
	movl $0x202003, 0x201000
	movl $0, 0x201004
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax
	movl %eax, 0x202000(,%ecx,8)
	movl $0, 0x202004(,%ecx,8)
	incl %ecx
	cmpl $512, %ecx
	jne 1b
	movl $0x200000, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4
	movl $0xc0000080, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax
	movl %eax, %cr0
	lgdt gdtr
	ljmp $8, $long64

	.code64
long64:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $OUTER, %r8d
start:
	movq $0x300000, %rsi
	movl $512, %ecx
	xorl %eax, %eax
	movabsq $0x9e3779b97f4a7c15, %rdx
l:	movq -8(%rsi,%rcx,8), %rbx
	addq %rbx, %rax
	xorq %rdx, %rax
	leaq 7(%rax,%rax,2), %rax
	movq %rax, -8(%rsi,%rcx,8)
	decl %ecx
	jnz l
	decl %r8d
	jnz start
	movw $0xf4, %dx
	xorl %eax, %eax
	outl %eax, %dx
	hlt

	.align 8
gdt:	.quad 0, 0x00209a0000000000, 0x0000920000000000
gdtr:	.word gdtr - gdt - 1
	.long gdt
