/*
 * The host's memory map, selectors and per-cpu offsets: constants shared by assembly and C.
 *
 * Physical memory is identity-mapped (0..4 GiB, 2 MiB pages) and mapped a second time at
 * PAGE_OFFSET, Linux's direct map. The per-cpu area is reached through its direct-map address,
 * so a kernel GS base is a negative (upper-half) number, exactly what Linux's NMI entry tests
 * for when FSGSBASE is off.
 *
 *   0x00100000  the kernel (supervisor pages)
 *   0x00800000  USER_BASE: the VMM's code, data, stack (user pages, 4 MiB)
 *   0x00c00000  GUEST_BASE: guest RAM (2 MiB, user pages: the VMM's memory for the guest),
 *               identity-mapped as guest-physical memory by the nested page tables
 *   0x00e00000  MMIO_GPA: guest-physical MMIO window (no RAM behind it for the guest); the
 *               nested page tables mark its pages with a reserved bit, as KVM marks MMIO
 */
#ifndef LAYOUT_H
#define LAYOUT_H
#include "guestabi.h"

#ifdef __ASSEMBLER__
#define UL(x) x
#else
#define UL(x) x##ul
#endif

#define KERNEL_BASE 0x00100000
#define USER_BASE 0x00800000
#define USER_SIZE 0x00400000
#define PAGE_OFFSET UL(0xffff888000000000)

/* GDT selectors; KCS, KDS and UCS32, UDS, UCS are in the order SYSCALL/SYSRET need (APM Vol. 2,
 * 6.1.1: SYSCALL SS = STAR[47:32] + 8; SYSRET to 64-bit CS = STAR[63:48] + 16, SS = + 8) */
#define KCS 0x08
#define KDS 0x10
#define UCS32 0x18
#define UDS 0x20
#define UCS 0x28
#define TSS_SEL 0x30            /* 16-byte system descriptor: 0x30, 0x38 */
#define CPUNODE_SEL 0x40        /* limit = CPU number, read with LSL (Linux's GDT_ENTRY_CPUNODE) */
#define GDT_ENTRIES 9

/* per-cpu area (struct percpu, kernel/percpu.h), reached through GS */
#define PC_SELF 0
#define PC_CPU 8
#define PC_KSTACK 16
#define PC_USER_RSP 24
#define PC_CURRENT 32
#define PC_CANARY 40            /* %gs:40, the stack-protector canary, as on Linux x86-64 */
#define PC_HSAVE_PA 48

/* the per-cpu address the kernel keeps in GS base: the direct-map alias */
#define NR_CPUS 2               /* CPU 1 is started only with migrate=N (kernel/smp.c) */

/* vectors */
#define VEC_TIMER 0x20
#define VEC_SPURIOUS 0xff


#endif
