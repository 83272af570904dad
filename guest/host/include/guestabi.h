/*
 * What the guest programs (guest/host/vmm/guests.S) and the VMMs that run them agree on: guest
 * RAM at GUEST_BASE (guest-physical, identity in the guest: paging off), the MMIO window, the
 * console port and the parameter page. Shared by the mini host (guest/host/) and the Linux VMM
 * (linux/vmm/), which maps a KVM memory slot at GUEST_BASE so the same programs run on both.
 */
#ifndef GUESTABI_H
#define GUESTABI_H

#define GUEST_BASE 0x00c00000
#define GUEST_SIZE 0x00200000
#define MMIO_GPA 0x00e00000
#define DOORBELL_GPA (MMIO_GPA + 0x0000)   /* handled in the kernel (an ioeventfd) */
#define USER_MMIO_GPA (MMIO_GPA + 0x1000)  /* nobody in the kernel: exits to the VMM */

/* the VMM's console port (a guest OUT there exits to user space) */
#define CONSOLE_PORT 0xe9

/* the guest: parameter page, code and stack inside guest RAM */
#define GUEST_PARAMS GUEST_BASE
#define GUEST_ENTRY (GUEST_BASE + 0x1000)
#define GUEST_STACK_TOP (GUEST_BASE + 0x20000)

/* the guest's parameter page (GUEST_PARAMS), written by the VMM before the first KVM_RUN */
#define GP_KEXITS 0x00           /* u32: in-kernel exits per exit to user space (mix: per group) */
#define GP_UEXITS 0x08           /* u32: mix: exits to user space per group (at least 1) */
#define GP_NLEAVES 0x04          /* u32: CPUID leaves to report */
#define GP_LEAVES 0x10           /* u32[16]: the leaves */
#define GP_CPUID_OUT 0x100       /* 16 bytes per leaf: EAX, EBX, ECX, EDX */
#define GP_MAX_LEAVES 16
#endif
