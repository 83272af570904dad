/*
 * The guests: tiny 32-bit programs (protected mode, paging off, flat segments) that the VMM
 * copies to GUEST_ENTRY. They are position-independent (relative jumps only) and find their
 * parameters at GUEST_PARAMS (uapi.h). Each loop makes GP_KEXITS exits the kernel handles, then
 * one exit to the VMM, forever; the VMM decides how many times to run them.
 *
 *   hlt        HLT                                     every exit to the VMM
 *   pio        OUT to the console port                 every exit to the VMM
 *   mmio       K doorbell writes (in kernel), HLT
 *   hypercall  K VMMCALL (in kernel), HLT
 *   cpuid      reports the CPUID leaves listed in the parameters, then K CPUID (in kernel), HLT
 *   mix        K in-kernel exits rotating doorbell, VMMCALL, CPUID; then U exits to the VMM
 *              (GP_UEXITS) rotating HLT, OUT, a write to MMIO nobody in the kernel claims: a
 *              fraction K / (K + U) of the exits is handled in the kernel
 *   wrmsr      changes its own KERNEL_GS_BASE (WRMSR, not intercepted), then HLT: the guest
 *              state VMSAVE must carry from one VMRUN to the next changes on every exit
 */
#include "layout.h"
#include "uapi.h"

#define P(off) (GUEST_PARAMS + (off))

	.section .rodata
	.code32

	.globl guest_hlt, guest_hlt_end
guest_hlt:
1:	hlt
	jmp 1b
guest_hlt_end:

	.globl guest_pio, guest_pio_end
guest_pio:
	xor %eax, %eax
1:	out %al, $CONSOLE_PORT
	jmp 1b
guest_pio_end:

	.globl guest_mmio, guest_mmio_end
guest_mmio:
1:	mov P(GP_KEXITS), %esi
2:	test %esi, %esi
	jz 3f
	mov %eax, DOORBELL_GPA
	dec %esi
	jmp 2b
3:	hlt
	jmp 1b
guest_mmio_end:

	.globl guest_hypercall, guest_hypercall_end
guest_hypercall:
1:	mov P(GP_KEXITS), %esi
2:	test %esi, %esi
	jz 3f
	xor %eax, %eax
	vmmcall
	dec %esi
	jmp 2b
3:	hlt
	jmp 1b
guest_hypercall_end:

	.globl guest_cpuid, guest_cpuid_end
guest_cpuid:
	mov P(GP_NLEAVES), %ebp
	xor %edi, %edi
1:	cmp %ebp, %edi
	jae 2f
	mov P(GP_LEAVES)(, %edi, 4), %eax
	xor %ecx, %ecx
	cpuid
	mov %edi, %esi
	shl $4, %esi
	mov %eax, P(GP_CPUID_OUT)(%esi)
	mov %ebx, P(GP_CPUID_OUT + 4)(%esi)
	mov %ecx, P(GP_CPUID_OUT + 8)(%esi)
	mov %edx, P(GP_CPUID_OUT + 12)(%esi)
	inc %edi
	jmp 1b
2:	mov P(GP_KEXITS), %esi
3:	test %esi, %esi
	jz 4f
	xor %eax, %eax
	xor %ecx, %ecx
	cpuid
	dec %esi
	jmp 3b
4:	hlt
	jmp 2b
guest_cpuid_end:

	.globl guest_mix, guest_mix_end
guest_mix:
	xor %edi, %edi                  /* which in-kernel exit comes next: 0 doorbell, 1 VMMCALL, 2 CPUID */
	xor %ebp, %ebp                  /* which exit to the VMM comes next: 0 HLT, 1 OUT, 2 MMIO */
1:	mov P(GP_KEXITS), %esi
2:	test %esi, %esi
	jz 6f
	cmp $1, %edi
	je 3f
	cmp $2, %edi
	je 4f
	mov %eax, DOORBELL_GPA
	jmp 5f
3:	xor %eax, %eax
	vmmcall
	jmp 5f
4:	xor %eax, %eax
	xor %ecx, %ecx
	cpuid
5:	inc %edi
	cmp $3, %edi
	jb 12f
	xor %edi, %edi
12:	dec %esi
	jmp 2b
6:	mov P(GP_UEXITS), %esi
7:	cmp $1, %ebp
	je 8f
	cmp $2, %ebp
	je 9f
	hlt
	jmp 10f
8:	xor %eax, %eax
	out %al, $CONSOLE_PORT
	jmp 10f
9:	mov %eax, USER_MMIO_GPA
10:	inc %ebp
	cmp $3, %ebp
	jb 11f
	xor %ebp, %ebp
11:	dec %esi
	jnz 7b
	jmp 1b
guest_mix_end:

	.globl guest_wrmsr, guest_wrmsr_end
guest_wrmsr:
1:	mov $0xc0000102, %ecx           /* MSR_KERNEL_GS_BASE */
	rdmsr
	add $8, %eax
	wrmsr
	hlt
	jmp 1b
guest_wrmsr_end:

	.code64
	.section .note.GNU-stack, "", @progbits
