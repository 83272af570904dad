/*
 * The interface between the host kernel and the VMM: system-call numbers, the vcpu
 * configuration (KVM_CREATE_VCPU plus the memory region and the register state KVM's ioctls
 * would set), struct kvm_run (what KVM maps into the VMM: the exit and, here, the timestamps
 * of the last KVM_RUN), and the host-state check.
 *
 * System calls follow the Linux x86-64 convention: number in RAX, arguments in RDI, RSI, RDX;
 * the result in RAX (negative: an error).
 */
#ifndef UAPI_H
#define UAPI_H
#include "layout.h"

#define SYS_WRITE 1              /* (buf, len): to the console */
#define SYS_EXIT 60              /* (status): the VMM is done; the machine stops */
#define SYS_ARCH_PRCTL 158       /* (code, addr) */
#define SYS_KVM_CREATE_VCPU 500  /* (struct kvm_vcpu_config *) */
#define SYS_KVM_RUN 501          /* (): run the vcpu until an exit the kernel does not handle */
#define SYS_HOST_CHECK 502       /* (struct host_check *): returns the mismatch mask */
#define SYS_HOST_INFO 503        /* (struct host_info *) */
#define SYS_MIGRATE 504          /* (cpu): continue this process on that CPU (kernel/smp.c) */

#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004

#define EINVAL 22
#define ENOSYS 38
#define EEXIST 17

/* exit reasons (Linux's KVM_EXIT_* numbers) */
#define KVM_EXIT_UNKNOWN 0
#define KVM_EXIT_IO 2
#define KVM_EXIT_HLT 5
#define KVM_EXIT_MMIO 6
#define KVM_EXIT_SHUTDOWN 8
#define KVM_EXIT_FAIL_ENTRY 9
#define KVM_EXIT_INTERNAL_ERROR 17

#define KVM_EXIT_IO_IN 0
#define KVM_EXIT_IO_OUT 1


#ifndef __ASSEMBLER__
typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;

struct kvm_stats {             /* cumulative, per vcpu */
  u64 vmruns;
  u64 hlt, io, mmio_user;      /* exits to user space */
  u64 doorbell, hypercall, cpuid, intr, nmi;   /* exits handled in the kernel */
  u64 other;
};

struct kvm_run {
  u32 exit_reason;
  u32 pad;
  struct { u8 direction, size; u16 port; u32 count; u64 data; } io;
  struct { u64 phys_addr, data; u32 len; u8 is_write; } mmio;
  struct { u64 exit_code, info1, info2, rip; } fail;     /* FAIL_ENTRY, INTERNAL_ERROR, SHUTDOWN */
  /* RDTSC at ioctl entry, just before the first and the last VMRUN, just after the last
   * VMRUN (after the design's restore), and at ioctl exit (the thread's timing points) */
  u64 t_entry, t_pre_first, t_pre_last, t_post_last, t_exit;
  u64 vmruns;                  /* VMRUNs in this KVM_RUN */
  struct kvm_stats stat;
};

struct kvm_vcpu_config {
  u64 mem_gpa, mem_size, mem_uaddr;   /* the memory region (identity: uaddr == gpa) */
  u64 doorbell_gpa;                   /* an MMIO address whose writes the kernel handles */
  u64 rip, rsp;
  struct kvm_run *run;
  /* the guest's values of the VMSAVE/VMLOAD state and TSC_AUX; all differ from the host's,
   * so that a host value the kernel forgets to restore is seen */
  u64 fs_base, gs_base, kernel_gs_base, star, lstar, cstar, sfmask;
  u64 sysenter_cs, sysenter_esp, sysenter_eip, tr_base, ldtr_base, tsc_aux;
};

/* the host state the kernel compares with its own values (SYS_HOST_CHECK) */
enum {
  CHK_STAR, CHK_LSTAR, CHK_CSTAR, CHK_SFMASK, CHK_SYSENTER_CS, CHK_SYSENTER_ESP,
  CHK_SYSENTER_EIP, CHK_KERNEL_GS_BASE, CHK_FS_BASE, CHK_GS_BASE, CHK_TSC_AUX, CHK_TR_SEL,
  CHK_TR_BASE, CHK_TR_LIMIT, CHK_LDTR_SEL, CHK_LDTR_BASE, CHK_N
};
#define CHK_NAMES                                                                              \
  "STAR", "LSTAR", "CSTAR", "SFMASK", "SYSENTER_CS", "SYSENTER_ESP", "SYSENTER_EIP",          \
  "KERNEL_GS_BASE", "FS_BASE", "GS_BASE", "TSC_AUX", "TR.sel", "TR.base", "TR.limit",         \
  "LDTR.sel", "LDTR.base"

struct host_check {
  u64 mismatch;                /* bit CHK_x: got[x] != want[x] */
  u64 got[CHK_N], want[CHK_N];
  /* what the kernel's own handlers saw since boot */
  u64 nmis;                    /* NMIs taken */
  u64 nmi_bad_gs;              /* NMIs that arrived in kernel mode with a GS base not the kernel's */
  u64 nmi_last_bad_gs;
  u64 nmi_at_stgi;             /* NMIs taken right after the world switch's STGI */
  u64 gs_violations;           /* C code that found the per-cpu canary or self pointer wrong */
  u64 ticks;                   /* timer interrupts */
  u64 nmi_bad_tr;              /* NMIs delivered through another TSS than this CPU's */
  u64 nmi_percpu_bad;          /* CPUs whose per-cpu NMI count differs from the NMIs they took */
  /* where NMIs landed: right after an STGI (held by GIF = 0, or an NMI #VMEXIT), ring 3,
   * elsewhere in KVM_RUN, an idle loop, other kernel code */
  u64 nmi_after_stgi, nmi_user, nmi_run, nmi_idle, nmi_kernel;
  u64 nmiipi_sent;             /* NMI IPIs the idle CPU sent (nmiipi=N) */
};

struct host_info {
  char design[24];
  u64 fsgsbase;                /* CR4.FSGSBASE is on */
  u64 nmi_period;              /* every Nth VMRUN has an NMI pending (0: none) */
  u64 timer_period;
  u64 host_tsc_aux;
};
#endif
#endif
