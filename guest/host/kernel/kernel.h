/* The host kernel's internal interface: per-cpu data, tasks, console, descriptors, traps. */
#ifndef KERNEL_H
#define KERNEL_H
#include "x86.h"
#include "lib.h"

/* ---- tasks: the one user process, the VMM ---- */
struct task {
  u64 fsbase, gsbase;   /* the user's FS and GS bases (thread.fsbase / thread.gsbase) */
  struct vcpu *vcpu;
};

/* ---- per-cpu data, reached through GS (offsets in layout.h, checked in main.c) ---- */
struct percpu {
  u64 self;             /* PC_SELF: this area's direct-map address, what GS base holds */
  u64 cpu;
  u64 kstack;           /* PC_KSTACK: kernel stack top for the SYSCALL entry */
  u64 user_rsp;         /* PC_USER_RSP: scratch for the SYSCALL entry */
  struct task *current;
  u64 canary;           /* PC_CANARY: %gs:40, the stack protector's canary */
  u64 hsave_pa;         /* PC_HSAVE_PA: the host save area (VM_HSAVE_PA, VMSAVE/VMLOAD host) */
  u64 ticks;            /* timer interrupts */
  u64 irqs;             /* other interrupts */
  u64 nmis;
};

#define this_cpu_read(field)                                                                   \
  ({                                                                                           \
    __typeof__(((struct percpu *)0)->field) v_;                                                \
    asm volatile("mov %%gs:%c1, %0" : "=r"(v_) : "i"(offsetof(struct percpu, field)));         \
    v_;                                                                                        \
  })
#define this_cpu_write(field, val)                                                             \
  asm volatile("mov %0, %%gs:%c1" :: "r"((__typeof__(((struct percpu *)0)->field))(val)),      \
               "i"(offsetof(struct percpu, field)) : "memory")
#define this_cpu_inc(field)                                                                    \
  asm volatile("incq %%gs:%c0" :: "i"(offsetof(struct percpu, field)) : "memory")

extern struct percpu percpu_area[NR_CPUS];
/* cpu -> its per-cpu base (Linux's __per_cpu_offset): what the NMI entry loads with FSGSBASE */
extern u64 percpu_offset[NR_CPUS];
/* the canary value, kept outside per-cpu data so that a wrong GS base can be told */
extern u64 canary_value;
static inline u64 kernel_gs_base(void) { return percpu_offset[0]; }
static inline u64 va_to_alias(const void *p) { return (u64)p + PAGE_OFFSET; }

/* Is GS the kernel's? C code that can run near a world switch calls this; a violation is
 * counted in gs_violations (a global: it must not depend on GS) and reported. */
extern volatile u64 gs_violations, gs_violation_where;
void gs_check(u64 where);

/* ---- boot state and options ---- */
extern int opt_fsgsbase;       /* CR4.FSGSBASE on (boot option nofsgsbase turns it off) */
extern u64 opt_nmi_period;     /* nmi=N: an NMI is pending at every Nth VMRUN */
extern u64 opt_timer_period;   /* timer=N: LAPIC timer initial count */
extern u64 opt_nmiipi;         /* nmiipi=N: the idle CPU sends an NMI IPI every N idle passes (smp.c) */
extern char cmdline_buf[512];

/* host values the VMM's check compares with (set once at boot) */
struct host_msrs { u64 star, lstar, cstar, sfmask, sysenter_cs, sysenter_esp, sysenter_eip, tsc_aux; };
extern struct host_msrs host_msrs;

/* ---- console ---- */
void uart_init(void);
void putc(char c);
void puts(const char *s);
void write_console(const char *s, u64 n);
int printf(const char *fmt, ...);
void machine_exit(u32 code) __attribute__((noreturn));   /* debug-exit port: 1 ok, 3 failure */
void panic(const char *fmt, ...) __attribute__((noreturn));

/* a user buffer must lie in the VMM's memory or its guest's (USER_BASE .. GUEST_BASE + GUEST_SIZE) */
static inline int user_range_ok(u64 p, u64 n) {
  return p >= USER_BASE && p + n >= p && p + n <= GUEST_BASE + GUEST_SIZE;
}

/* ---- descriptors, traps, LAPIC ---- */
u64 kstack_top(void);
extern u64 gdt[GDT_ENTRIES];
struct tss { u32 r0; u64 rsp0, rsp1, rsp2, r1; u64 ist[7]; u64 r2; u16 r3, iopb; } __attribute__((packed));
extern struct tss tss;
void desc_init(void);

struct pt_regs;
/* ---- more than one CPU (smp.c): CPU 1, started for migrate=N; the process moves between them ---- */
extern struct tss tss_ap;
extern u64 gdt_ap[GDT_ENTRIES];
extern volatile int cpu1_online;
void desc_init_ap(void);                 /* CPU 1's GDT (its TSS, CPUNODE limit 1), TSS, IDT */
u64 kstack_top_ap(void);
void kvm_init_cpu(void);                 /* EFER.SVME and this CPU's host save area */
int smp_start_cpu1(void);                /* INIT/SIPI; 1 once CPU 1 runs its idle loop */
int on_nmi_stack(u64 cpu, u64 p);        /* p lies on that CPU's NMI (IST1) stack (desc.c) */
extern volatile int cpu_idling[NR_CPUS];     /* the CPU is in its idle loop (smp.c) */
extern volatile u64 nmiipi_sent;
long smp_migrate(struct pt_regs *r, struct task *t, u64 cpu);
/* the CPU number from the CPUNODE descriptor's limit (LSL), without GS */
static inline u64 cpunode(void) {
  u32 v;
  asm volatile("lsl %1, %0" : "=r"(v) : "r"((u32)CPUNODE_SEL));
  return v & 0xfff;
}
static inline struct tss *cpu_tss(u64 cpu) { return cpu == 0 ? &tss : &tss_ap; }
struct pt_regs {          /* what the entry stubs push; do not reorder (entry.S) */
  u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  u64 vector, error, rip, cs, rflags, rsp, ss;
};
void lapic_init(u64 period);
void lapic_eoi(void);
void lapic_init_ap(void);
void lapic_icr(u32 dest, u32 lo);
void enter_user(u64 rip, u64 rsp, u64 arg) __attribute__((noreturn));
long do_syscall(struct pt_regs *r);

/* ---- kvm ---- */
void kvm_init(void);
long kvm_create_vcpu(struct task *t, const struct kvm_vcpu_config *cfg);
long kvm_run_ioctl(struct task *t);
const char *kvm_design_name(void);
void kvm_check_host(struct host_check *c);

#endif
