/*
 * A second CPU, for vCPU migration (boot option migrate=N; without it CPU 1 is never started and
 * nothing here runs).
 *
 * Start-up: the MP protocol (APM Vol. 2 16.5): INIT, then a startup IPI with the vector of a
 * real-mode page; the trampoline there goes straight to long mode on the kernel's page tables.
 * CPU 1 gets its own GDT (its TSS, and the CPUNODE descriptor with limit 1, which the NMI entry
 * reads with LSL), TSS and stacks, its per-cpu area (GS base percpu_offset[1]), the same system
 * call and SYSENTER MSRs as CPU 0, EFER.SVME and its own host save area (kvm_init_cpu), then
 * waits in its idle loop.
 *
 * Migration (SYS_MIGRATE, between KVM_RUNs, as the scheduler moves a vCPU thread): the calling
 * CPU hands over the system call's register frame, the user's FS base and GS base (in
 * KERNEL_GS_BASE while in the kernel) and the task, and goes idle; the other CPU puts them on its
 * own kernel stack and returns to user mode with SYSRET. KVM_RUN does vcpu_load and vcpu_put in
 * every call, so the vCPU is put on the old CPU and loaded on the new one, with that CPU's
 * per-cpu data and save area.
 */
#include "kernel.h"

#define TRAMP 0x7000ul   /* the start page: startup vector 7 */
#define EFER_LMA_BIT (1ul << 10)

asm(".pushsection .text\n"
    "\t.code16\n"
    "\t.globl ap_tramp_start, ap_tramp_end, tr_gdt, tr_cr3, tr_cr4, tr_efer, tr_cr0, tr_far\n"
    "ap_tramp_start:\n"
    "\tcli\n"
    "\tmov %cs, %ax\n"
    "\tmov %ax, %ds\n"
    "\tlgdtl tr_gdt - ap_tramp_start\n"
    "\tmovl tr_cr4 - ap_tramp_start, %eax\n"
    "\tmov %eax, %cr4\n"
    "\tmovl tr_cr3 - ap_tramp_start, %eax\n"
    "\tmov %eax, %cr3\n"
    "\tmov $0xc0000080, %ecx\n"
    "\tmovl tr_efer - ap_tramp_start, %eax\n"
    "\txor %edx, %edx\n"
    "\twrmsr\n"
    "\tmovl tr_cr0 - ap_tramp_start, %eax\n"
    "\tmov %eax, %cr0\n"
    "\tljmpl *(tr_far - ap_tramp_start)\n"
    "\t.align 8\n"
    "tr_gdt: .word 0\n\t.long 0\n"
    "\t.align 4\n"
    "tr_cr3: .long 0\n"
    "tr_cr4: .long 0\n"
    "tr_efer: .long 0\n"
    "tr_cr0: .long 0\n"
    "tr_far: .long 0\n\t.word 0\n"
    "ap_tramp_end:\n"
    "\t.code64\n"
    "ap_start64:\n"
    "\tmov $0x10, %eax\n"
    "\tmov %eax, %ds\n\tmov %eax, %es\n\tmov %eax, %ss\n"
    "\txor %eax, %eax\n"
    "\tmov %eax, %fs\n\tmov %eax, %gs\n"
    "\tlea idle_stack_ap + 16384(%rip), %rsp\n"
    "\tcall ap_main\n"
    "1:\tcli\n\thlt\n\tjmp 1b\n"
    /* resume_user(frame): the SYSCALL exit path of entry.S on the frame given */
    "\t.globl resume_user\n"
    "resume_user:\n"
    "\tcli\n"
    "\tmov %rdi, %rsp\n"
    "\tpop %r15\n\tpop %r14\n\tpop %r13\n\tpop %r12\n\tpop %r11\n\tpop %r10\n\tpop %r9\n"
    "\tpop %r8\n\tpop %rbp\n\tpop %rdi\n\tpop %rsi\n\tpop %rdx\n\tpop %rcx\n\tpop %rbx\n"
    "\tpop %rax\n"
    "\tadd $16, %rsp\n"
    "\tpop %rcx\n"
    "\tadd $8, %rsp\n"
    "\tpop %r11\n"
    "\tmov (%rsp), %rsp\n"
    "\tswapgs\n"
    "\tsysretq\n"
    ".popsection");

extern u8 ap_tramp_start[], ap_tramp_end[], tr_gdt[], tr_cr3[], tr_cr4[], tr_efer[], tr_cr0[], tr_far[];
extern u8 ap_start64[];
void resume_user(struct pt_regs *frame) __attribute__((noreturn));
u8 idle_stack_ap[16384] __attribute__((aligned(4096)));
volatile int cpu1_online;

/* the hand-over between CPUs */
static struct {
  volatile int pending;
  u64 target;
  struct pt_regs regs;
  u64 fsbase, gsbase;
  struct task *task;
} mig;
volatile u64 migrations;

static void delay(int n) {
  for (int i = 0; i < n; i++) asm volatile("pause" ::: "memory");
}

/* take the process the other CPU handed over and return to it in user mode */
static void migrate_in(void) __attribute__((noreturn));
static void migrate_in(void) {
  cpu_idling[cpunode() % NR_CPUS] = 0;
  this_cpu_write(current, mig.task);
  wrmsr(MSR_FS_BASE, mig.fsbase);
  wrmsr(MSR_KERNEL_GS_BASE, mig.gsbase);
  struct pt_regs *f = (struct pt_regs *)(this_cpu_read(kstack) - sizeof(struct pt_regs));
  memcpy(f, &mig.regs, sizeof(*f));
  migrations++;
  asm volatile("" ::: "memory");
  mig.pending = 0;
  resume_user(f);
}

/* NMI IPIs sent by idle CPUs (nmiipi=N); which CPUs are in their idle loop */
volatile u64 nmiipi_sent;
volatile int cpu_idling[NR_CPUS];

/*
 * A CPU without the process: wait, interrupts off, until it is handed over. With nmiipi=N it
 * sends the other CPU (the one running the VMM, or about to) an NMI IPI every N passes. The
 * interleaving of the CPUs is deterministic, so where the NMIs land is too; they land wherever
 * the other CPU's turn begins, which drifts through the world switch from one KVM_RUN to the
 * next (the host's NMI handler counts where: traps.c).
 */
static void cpu_idle(void) __attribute__((noreturn));
static void cpu_idle(void) {
  u64 me = cpunode();
  u64 pass = 0;
  cpu_idling[me % NR_CPUS] = 1;
  for (;;) {
    cli();
    if (mig.pending && mig.target == me) migrate_in();
    if (opt_nmiipi && ++pass >= opt_nmiipi) {
      pass = 0;
      nmiipi_sent++;
      lapic_icr((u32)(1 - me), 4u << 8 | 1u << 14);   /* NMI, level assert, physical destination */
    }
    asm volatile("pause" ::: "memory");
  }
}

long smp_migrate(struct pt_regs *r, struct task *t, u64 cpu) {
  u64 me = this_cpu_read(cpu);
  if (cpu >= NR_CPUS || (cpu != 0 && !cpu1_online)) return -EINVAL;
  if (cpu == me) return 0;
  cli();
  gs_check(0x200);
  memcpy(&mig.regs, r, sizeof(mig.regs));
  mig.regs.rax = 0;
  mig.fsbase = rdmsr(MSR_FS_BASE);
  mig.gsbase = rdmsr(MSR_KERNEL_GS_BASE);
  mig.task = t;
  mig.target = cpu;
  asm volatile("" ::: "memory");
  mig.pending = 1;
  cpu_idle();
}

void ap_main(void);
__attribute__((no_stack_protector)) void ap_main(void) {
  desc_init_ap();
  struct percpu *pc = &percpu_area[1];
  pc->self = va_to_alias(pc);
  pc->cpu = 1;
  pc->kstack = kstack_top_ap();
  pc->canary = canary_value;
  pc->current = NULL;
  percpu_offset[1] = pc->self;
  wrmsr(MSR_GS_BASE, pc->self);
  wrmsr(MSR_KERNEL_GS_BASE, 0);
  /* the same system call MSRs as CPU 0 (the host check compares with CPU 0's values) */
  wrmsr(MSR_STAR, host_msrs.star);
  wrmsr(MSR_LSTAR, host_msrs.lstar);
  wrmsr(MSR_CSTAR, host_msrs.cstar);
  wrmsr(MSR_SFMASK, host_msrs.sfmask);
  wrmsr(MSR_SYSENTER_CS, host_msrs.sysenter_cs);
  wrmsr(MSR_SYSENTER_ESP, host_msrs.sysenter_esp);
  wrmsr(MSR_SYSENTER_EIP, host_msrs.sysenter_eip);
  wrmsr(MSR_TSC_AUX, host_msrs.tsc_aux);
  kvm_init_cpu();
  lapic_init_ap();
  cpu1_online = 1;
  cpu_idle();
}

int smp_start_cpu1(void) {
  memcpy((void *)TRAMP, ap_tramp_start, ap_tramp_end - ap_tramp_start);
  struct { u16 limit; u64 base; } __attribute__((packed)) g;
  asm volatile("sgdt %0" : "=m"(g));
#define TR(sym) ((u8 *)TRAMP + (sym - ap_tramp_start))
  *(u16 *)TR(tr_gdt) = g.limit;
  *(u32 *)(TR(tr_gdt) + 2) = (u32)g.base;
  *(u32 *)TR(tr_cr3) = (u32)read_cr3();
  *(u32 *)TR(tr_cr4) = (u32)read_cr4();
  *(u32 *)TR(tr_efer) = (u32)((rdmsr(MSR_EFER) & ~(EFER_LMA_BIT | EFER_SVME)) | EFER_LME);
  *(u32 *)TR(tr_cr0) = (u32)read_cr0();
  *(u32 *)TR(tr_far) = (u32)(u64)ap_start64;
  *(u16 *)(TR(tr_far) + 4) = KCS;
#undef TR
  /* INIT assert and de-assert, then up to two startup IPIs with vector 7 */
  lapic_icr(1, (5u << 8) | (1u << 14) | (1u << 15));
  lapic_icr(1, (5u << 8) | (1u << 15));
  delay(10000);
  for (int k = 0; k < 2 && !cpu1_online; k++) {
    lapic_icr(1, (6u << 8) | (1u << 14) | (TRAMP >> 12));
    for (int i = 0; i < 200000 && !cpu1_online; i++) asm volatile("pause" ::: "memory");
  }
  return cpu1_online;
}
