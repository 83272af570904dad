/*
 * Boot: console, per-cpu data and GS, descriptors, CR4.FSGSBASE, the SYSCALL and SYSENTER
 * MSRs, SVM, the LAPIC timer; then the one user process, the VMM, in ring 3.
 *
 * Kernel command line (multiboot): design=msr|vmsave-v1|vmload|vmload-notss|wrgsbase|<a broken variant>,
 * nofsgsbase, nmi=N (an NMI pending at every Nth VMRUN), timer=N (LAPIC timer count, 0: off),
 * migrate=N (the VMM moves to the other CPU every N KVM_RUNs), nmiipi=N (CPU 1 started; the
 * CPU without the VMM sends it an NMI IPI every N passes of its idle loop);
 * the whole line is also the VMM's argument string.
 */
#include "kernel.h"

struct percpu percpu_area[NR_CPUS] __attribute__((aligned(64)));
u64 percpu_offset[NR_CPUS];
/* fixed, so that runs are deterministic; Linux draws it at random */
u64 canary_value = 0x5eedc0de2badf00dul;
int opt_fsgsbase = 1;
u64 opt_nmi_period;
u64 opt_timer_period = 100000;
u64 opt_nmiipi;
char cmdline_buf[512];
struct host_msrs host_msrs;
static struct task vmm_task;

extern u8 syscall_entry[], sysenter_entry[];
extern u8 vmm_start[], vmm_stack_top[];
extern char vmm_args[512];

_Static_assert(offsetof(struct percpu, self) == PC_SELF, "PC_SELF");
_Static_assert(offsetof(struct percpu, kstack) == PC_KSTACK, "PC_KSTACK");
_Static_assert(offsetof(struct percpu, user_rsp) == PC_USER_RSP, "PC_USER_RSP");
_Static_assert(offsetof(struct percpu, current) == PC_CURRENT, "PC_CURRENT");
_Static_assert(offsetof(struct percpu, canary) == PC_CANARY, "PC_CANARY");
_Static_assert(offsetof(struct percpu, hsave_pa) == PC_HSAVE_PA, "PC_HSAVE_PA");

static void read_cmdline(u32 mb_info) {
  const u32 *info = (const u32 *)(u64)mb_info;
  const char *s = mb_info && (info[0] & 4) && info[4] ? (const char *)(u64)info[4] : "";
  u64 n = strlen(s);
  if (n >= sizeof(cmdline_buf)) n = sizeof(cmdline_buf) - 1;
  memcpy(cmdline_buf, s, n);
  cmdline_buf[n] = 0;
}

static int cpu_has_fsgsbase(void) {
  u32 a, b, c, d;
  cpuid(0, 0, &a, &b, &c, &d);
  if (a < 7) return 0;
  cpuid(7, 0, &a, &b, &c, &d);
  return b & 1;
}

/* GS is set up here, so this function cannot carry a canary */
__attribute__((no_stack_protector)) void kernel_main(u32 mb_info);
__attribute__((no_stack_protector)) void kernel_main(u32 mb_info) {
  char v[32];
  uart_init();
  read_cmdline(mb_info);
  if (opt_word(cmdline_buf, "nofsgsbase")) opt_fsgsbase = 0;
  if (opt_value(cmdline_buf, "nmi", v, sizeof(v))) opt_nmi_period = strtou(v, NULL);
  if (opt_value(cmdline_buf, "timer", v, sizeof(v))) opt_timer_period = strtou(v, NULL);
  if (opt_value(cmdline_buf, "nmiipi", v, sizeof(v))) opt_nmiipi = strtou(v, NULL);

  /* per-cpu data through its direct-map alias; the user's GS base (KERNEL_GS_BASE) is 0 */
  struct percpu *pc = &percpu_area[0];
  pc->self = va_to_alias(pc);
  pc->cpu = 0;
  pc->kstack = kstack_top();
  pc->canary = canary_value;
  pc->current = &vmm_task;
  percpu_offset[0] = pc->self;
  wrmsr(MSR_GS_BASE, pc->self);
  wrmsr(MSR_KERNEL_GS_BASE, 0);
  desc_init();

  if (opt_fsgsbase && !cpu_has_fsgsbase()) opt_fsgsbase = 0;
  write_cr4(opt_fsgsbase ? read_cr4() | CR4_FSGSBASE : read_cr4() & ~CR4_FSGSBASE);

  /* APM Vol. 2, 6.1.1: STAR[47:32] the SYSCALL CS, STAR[63:48] the SYSRET base */
  wrmsr(MSR_STAR, ((u64)(UCS32 | 3) << 48) | ((u64)KCS << 32));
  wrmsr(MSR_LSTAR, (u64)syscall_entry);
  wrmsr(MSR_CSTAR, (u64)sysenter_entry);   /* 32-bit SYSCALL is not supported: it traps */
  wrmsr(MSR_SFMASK, RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC);
  wrmsr(MSR_SYSENTER_CS, KCS);
  wrmsr(MSR_SYSENTER_ESP, kstack_top());
  wrmsr(MSR_SYSENTER_EIP, (u64)sysenter_entry);
  wrmsr(MSR_TSC_AUX, 0);                  /* Linux: (node << 12) | cpu */
  host_msrs = (struct host_msrs){ rdmsr(MSR_STAR), rdmsr(MSR_LSTAR), rdmsr(MSR_CSTAR),
    rdmsr(MSR_SFMASK), rdmsr(MSR_SYSENTER_CS), rdmsr(MSR_SYSENTER_ESP), rdmsr(MSR_SYSENTER_EIP),
    rdmsr(MSR_TSC_AUX) };

  kvm_init();
  printf("host: kernel up; design %s, fsgsbase %s, nmi %lu, timer %lu\n", kvm_design_name(),
         opt_fsgsbase ? "on" : "off", opt_nmi_period, opt_timer_period);
  lapic_init(opt_timer_period);
  /* migrate=N: the VMM moves between CPU 0 and CPU 1 every N KVM_RUNs; nmiipi=N: the CPU
   * without the VMM sends it NMI IPIs (smp.c) */
  if ((opt_value(cmdline_buf, "migrate", v, sizeof(v)) && strtou(v, NULL) > 0) || opt_nmiipi > 0) {
    if (!smp_start_cpu1()) panic("migrate/nmiipi: CPU 1 did not start (a machine with one CPU?)");
    printf("host: CPU 1 online\n");
  }

  memcpy(vmm_args, cmdline_buf, sizeof(cmdline_buf));
  enter_user((u64)vmm_start, (u64)vmm_stack_top, (u64)vmm_args);
}
