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

void do_nmi(struct pt_regs *r, u64 gs_at_entry);
void do_nmi(struct pt_regs *r, u64 gs_at_entry) {
  nmi_total++;
  /* the NMI probe's NMI is held by GIF = 0 and must be taken at the first boundary after STGI */
  if (r->rip == (u64)svm_after_stgi) nmi_at_stgi++;
  u64 want = cpu1_online ? percpu_offset[cpunode() % NR_CPUS] : percpu_offset[0];
  if ((r->cs & 3) == 0 && gs_at_entry != want) {
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
