/*
 * The parts of Linux's KVM API (Documentation/virt/kvm/api.rst, include/uapi/linux/kvm.h)
 * the VMM uses, written out for a program without kernel headers. Ioctl numbers are
 * _IO/_IOR/_IOW/_IOWR(0xAE, nr, struct): dir << 30 | size << 16 | 0xAE << 8 | nr.
 */
#ifndef KVM_API_H
#define KVM_API_H

#define KVM_IOC(dir, nr, size) ((unsigned long)(dir) << 30 | (unsigned long)(size) << 16 | 0xAE00ul | (nr))
#define KVM_GET_API_VERSION KVM_IOC(0, 0x00, 0)
#define KVM_CREATE_VM KVM_IOC(0, 0x01, 0)
#define KVM_CHECK_EXTENSION KVM_IOC(0, 0x03, 0)
#define KVM_GET_VCPU_MMAP_SIZE KVM_IOC(0, 0x04, 0)
#define KVM_GET_SUPPORTED_CPUID KVM_IOC(3, 0x05, 8)
#define KVM_CREATE_VCPU KVM_IOC(0, 0x41, 0)
#define KVM_SET_USER_MEMORY_REGION KVM_IOC(1, 0x46, 32)
#define KVM_IOEVENTFD KVM_IOC(1, 0x79, 64)
#define KVM_RUN KVM_IOC(0, 0x80, 0)
#define KVM_GET_REGS KVM_IOC(2, 0x81, 144)
#define KVM_SET_REGS KVM_IOC(1, 0x82, 144)
#define KVM_GET_SREGS KVM_IOC(2, 0x83, 312)
#define KVM_SET_SREGS KVM_IOC(1, 0x84, 312)
#define KVM_SET_MSRS KVM_IOC(1, 0x89, 8)
#define KVM_SET_CPUID2 KVM_IOC(1, 0x90, 8)

#define KVM_API_VERSION 12

#define KVM_EXIT_UNKNOWN 0
#define KVM_EXIT_EXCEPTION 1
#define KVM_EXIT_IO 2
#define KVM_EXIT_HYPERCALL 3
#define KVM_EXIT_DEBUG 4
#define KVM_EXIT_HLT 5
#define KVM_EXIT_MMIO 6
#define KVM_EXIT_SHUTDOWN 8
#define KVM_EXIT_FAIL_ENTRY 9
#define KVM_EXIT_INTR 10
#define KVM_EXIT_INTERNAL_ERROR 17
#define KVM_EXIT_IO_IN 0
#define KVM_EXIT_IO_OUT 1

struct kvm_userspace_memory_region {
  u32 slot, flags;
  u64 guest_phys_addr, memory_size, userspace_addr;
};

struct kvm_regs {
  u64 rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
  u64 r8, r9, r10, r11, r12, r13, r14, r15;
  u64 rip, rflags;
};

struct kvm_segment {
  u64 base;
  u32 limit;
  u16 selector;
  u8 type, present, dpl, db, s, l, g, avl, unusable, padding;
};

struct kvm_dtable {
  u64 base;
  u16 limit, padding[3];
};

struct kvm_sregs {
  struct kvm_segment cs, ds, es, fs, gs, ss, tr, ldt;
  struct kvm_dtable gdt, idt;
  u64 cr0, cr2, cr3, cr4, cr8, efer, apic_base;
  u64 interrupt_bitmap[4];
};

struct kvm_msr_entry { u32 index, reserved; u64 data; };

struct kvm_cpuid_entry2 {
  u32 function, index, flags, eax, ebx, ecx, edx, padding[3];
};

struct kvm_ioeventfd {
  u64 datamatch, addr;
  u32 len;
  i32 fd;
  u32 flags;
  u8 pad[36];
};

/* the shared page KVM maps at the vcpu fd (offset 0): the exit and its data */
struct kvm_run {
  u8 request_interrupt_window, immediate_exit, padding1[6];
  u32 exit_reason;
  u8 ready_for_interrupt_injection, if_flag;
  u16 flags;
  u64 cr8, apic_base;
  union {
    struct { u64 hardware_exit_reason; } hw;
    struct { u64 hardware_entry_failure_reason; u32 cpu; } fail_entry;
    struct { u32 exception, error_code; } ex;
    struct { u8 direction, size; u16 port; u32 count; u64 data_offset; } io;
    struct { u64 phys_addr; u8 data[8]; u32 len; u8 is_write; } mmio;
    struct { u32 suberror, ndata; u64 data[16]; } internal;
    char padding[256];
  };
};

_Static_assert(sizeof(struct kvm_regs) == 144, "kvm_regs");
_Static_assert(sizeof(struct kvm_sregs) == 312, "kvm_sregs");
_Static_assert(sizeof(struct kvm_ioeventfd) == 64, "kvm_ioeventfd");
_Static_assert(sizeof(struct kvm_userspace_memory_region) == 32, "kvm_userspace_memory_region");
_Static_assert(__builtin_offsetof(struct kvm_run, io) == 32, "kvm_run union");
#endif
