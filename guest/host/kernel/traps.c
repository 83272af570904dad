/*
 * Interrupt, exception and NMI handlers; the per-cpu GS checks.
 *
 * Handlers reach per-cpu data through GS, as Linux's do. gs_check compares what GS shows with
 * values kept outside per-cpu data; the stack protector reads its canary at %gs:40 too, so C
 * code whose GS base changes under it (a world switch that has not restored GS) fails its
 * canary check on return.
 */
#include "kernel.h"

volatile u64 gs_violations, gs_violation_where;

/* NMI record: globals, so that an NMI on a wrong GS base can still be recorded */
volatile u64 nmi_total, nmi_bad_gs, nmi_last_bad_gs, nmi_last_bad_rip, nmi_at_stgi;
/* more of the NMI record: NMIs through another TSS than this CPU's (TR, or the IST1 stack it
 * gave), NMIs per CPU as counted here (without GS: the per-cpu count must agree), and where the
 * NMIs landed: ring 3, the KVM_RUN ioctl (right after STGI, or elsewhere in it), an idle loop,
 * other kernel code */
volatile u64 nmi_bad_tr, nmi_by_cpu[NR_CPUS], nmi_user, nmi_run, nmi_idle, nmi_kernel, nmi_after_stgi;

/* the instruction before kernel RIP `rip` is an STGI (0F 01 DC): an NMI held by GIF = 0 */
static int after_stgi(u64 rip) {
  const u8 *p = (const u8 *)rip - 3;
  return p[0] == 0x0f && p[1] == 0x01 && p[2] == 0xdc;
}
extern u8 svm_after_stgi[];

static const char *const names[32] = {
  "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#9", "#TS", "#NP", "#SS",
  "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XF", "#20", "#CP", "#22", "#23", "#24", "#25",
  "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

void gs_check(u64 where) {
  u64 self, canary;
  asm volatile("mov %%gs:%c1, %0" : "=r"(self) : "i"(PC_SELF));
  asm volatile("mov %%gs:%c1, %0" : "=r"(canary) : "i"(PC_CANARY));
  /* with CPU 1 online (migrate=N), GS must hold this CPU's own per-cpu base: the CPU number
   * comes from the GDT (CPUNODE), not from GS */
  if (self != percpu_offset[0] || canary != canary_value || cpu1_online) {
    if (cpu1_online && canary == canary_value && self == percpu_offset[cpunode() % NR_CPUS]) return;
    gs_violations++;
    gs_violation_where = where;
  }
}

void __stack_chk_fail(void) {
  u64 gs = rdmsr(MSR_GS_BASE);
  panic("stack protector: canary at %%gs:40 changed (GS base %#lx, kernel's %#lx)", gs, percpu_offset[0]);
}

/* this CPU is in the KVM_RUN system call: its frame at the top of its kernel stack still holds
 * the call number in RAX (until the exit path stores the result there); read without GS, and
 * without touching KVM_RUN itself, whose instruction counts the benchmarks measure */
static int in_kvm_run(u64 cpu) {
  u64 top = cpu == 0 ? kstack_top() : kstack_top_ap();
  const struct pt_regs *f = (const struct pt_regs *)(top - sizeof(struct pt_regs));
  return f->rax == SYS_KVM_RUN;
}

void do_nmi(struct pt_regs *r, u64 gs_at_entry);
void do_nmi(struct pt_regs *r, u64 gs_at_entry) {
  nmi_total++;
  u64 cpu = cpunode() % NR_CPUS;
  nmi_by_cpu[cpu]++;
  /* the NMI probe's NMI is held by GIF = 0 and must be taken at the first boundary after STGI */
  if (r->rip == (u64)svm_after_stgi) nmi_at_stgi++;
  if (r->cs & 3) nmi_user++;
  else if (after_stgi(r->rip)) nmi_after_stgi++;
  else if (cpu_idling[cpu]) nmi_idle++;
  else if (in_kvm_run(cpu)) nmi_run++;
  else nmi_kernel++;
  /* delivered through this CPU's TSS: TR is the host's selector and IST1 was this CPU's stack */
  if (str_sel() != TSS_SEL || !on_nmi_stack(cpu, (u64)r)) nmi_bad_tr++;
  u64 want = cpu1_online ? percpu_offset[cpu] : percpu_offset[0];
  /* KERNEL_GS_BASE as the NMI found it: without FSGSBASE the entry swapped a user (positive)
   * GS base into it, so the value from before is in GS base now */
  u64 kgs_at_entry = !opt_fsgsbase && (i64)gs_at_entry >= 0 ? rdmsr(MSR_GS_BASE) : rdmsr(MSR_KERNEL_GS_BASE);
  /* the paranoid entry copes with the user's GS base in ring 0 (the kernel's then in
   * KERNEL_GS_BASE: the SYSCALL entry before its SWAPGS, the exit after it, load_gs_index), as
   * Linux's does; never with a third value (the guest's, another CPU's per-cpu base) */
  if ((r->cs & 3) == 0 && gs_at_entry != want && kgs_at_entry != want) {
    nmi_bad_gs++;
    nmi_last_bad_gs = gs_at_entry;
    nmi_last_bad_rip = r->rip;
  }
  gs_check(0x2);
  this_cpu_inc(nmis);
}

void trap_dispatch(struct pt_regs *r);
void trap_dispatch(struct pt_regs *r) {
  u64 v = r->vector;
  if (v == VEC_TIMER) {
    gs_check(VEC_TIMER);
    this_cpu_inc(ticks);
    lapic_eoi();
    return;
  }
  if (v == VEC_SPURIOUS) return;
  if (v >= 32) {
    this_cpu_inc(irqs);
    lapic_eoi();
    return;
  }
  u64 cr2;
  asm volatile("mov %%cr2, %0" : "=r"(cr2));
  panic("%s %s: error %#lx rip %#lx cs %#lx rsp %#lx cr2 %#lx gs.base %#lx", (r->cs & 3) ? "vmm" : "kernel",
        names[v], r->error, r->rip, r->cs, r->rsp, cr2, rdmsr(MSR_GS_BASE));
}
