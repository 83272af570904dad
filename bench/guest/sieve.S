/*
 * A CPU-bound kernel for bench/qemu-ratio.mjs: the sieve of Eratosthenes over N byte flags
 * (as a C compiler would write it: byte loads and stores, a multiply, compares and branches),
 * REPEAT times. Enters long mode with 2 MiB identity pages as cpuloop.S does. At the end it
 * checks the count of primes below N and writes 0 (right) or 1 (wrong) to the debug-exit
 * port 0xF4, so the exit status is 1 or 3.
 */
#ifndef REPEAT
#define REPEAT 8
#endif
#define N 1048576
#define PRIMES 82025 /* primes below 2^20 */

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
	movl $REPEAT, %r9d
again:
	/* clear the flags (qword stores) */
	movq $0x400000, %rdi
	xorl %eax, %eax
1:	movq $0, (%rdi,%rax)
	addq $8, %rax
	cmpq $N, %rax
	jb 1b
	/* sieve: count the primes, cross out multiples from i*i */
	xorl %r10d, %r10d
	movl $2, %eax
outer:
	cmpb $0, (%rdi,%rax)
	jne next
	incl %r10d
	movq %rax, %rcx
	imulq %rax, %rcx
	cmpq $N, %rcx
	jae next
inner:
	movb $1, (%rdi,%rcx)
	addq %rax, %rcx
	cmpq $N, %rcx
	jb inner
next:
	incq %rax
	cmpq $N, %rax
	jb outer
	decl %r9d
	jnz again
	xorl %eax, %eax
	cmpl $PRIMES, %r10d
	setne %al
	movw $0xf4, %dx
	outl %eax, %dx
	hlt

	.align 8
gdt:	.quad 0, 0x00209a0000000000, 0x0000920000000000
gdtr:	.word gdtr - gdt - 1
	.long gdt
