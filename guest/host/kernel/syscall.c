/* System calls (the SYSCALL entry in entry.S calls do_syscall with interrupts off). */
#include "kernel.h"

extern volatile u64 nmi_total, nmi_bad_gs, nmi_last_bad_gs, nmi_at_stgi;
extern volatile u64 nmi_bad_tr, nmi_by_cpu[NR_CPUS], nmi_user, nmi_run, nmi_idle, nmi_kernel, nmi_after_stgi;

static long arch_prctl(struct task *t, u64 code, u64 addr) {
  switch (code) {
  case ARCH_SET_FS:
    if (addr >= (1ul << 47)) return -EINVAL;
    t->fsbase = addr;
    wrmsr(MSR_FS_BASE, addr);
    return 0;
  case ARCH_SET_GS:
    /* in the kernel the user's GS base is in KERNEL_GS_BASE (the entry's SWAPGS put it there) */
    if (addr >= (1ul << 47)) return -EINVAL;
    t->gsbase = addr;
    wrmsr(MSR_KERNEL_GS_BASE, addr);
    return 0;
  case ARCH_GET_FS: return (long)t->fsbase;
  case ARCH_GET_GS: return (long)t->gsbase;
  default: return -EINVAL;
  }
}

long do_syscall(struct pt_regs *r) {
  struct task *t = this_cpu_read(current);
  u64 a0 = r->rdi, a1 = r->rsi;
  long ret;
  gs_check(0x100);
  sti();
  switch (r->rax) {
  case SYS_WRITE:
    if (!user_range_ok(a0, a1)) { ret = -EINVAL; break; }
    write_console((const char *)a0, a1);
    ret = (long)a1;
    break;
  case SYS_EXIT:
    printf("host: vmm exited with status %lu; %lu timer ticks, %lu NMIs\n", a0, this_cpu_read(ticks), nmi_total);
    machine_exit(a0 == 0 ? 1 : 3);
  case SYS_ARCH_PRCTL:
    ret = arch_prctl(t, a0, a1);
    break;
  case SYS_KVM_CREATE_VCPU:
    if (!user_range_ok(a0, sizeof(struct kvm_vcpu_config))) { ret = -EINVAL; break; }
    ret = kvm_create_vcpu(t, (const struct kvm_vcpu_config *)a0);
    break;
  case SYS_KVM_RUN:
    ret = kvm_run_ioctl(t);
    break;
  case SYS_HOST_CHECK: {
    if (!user_range_ok(a0, sizeof(struct host_check))) { ret = -EINVAL; break; }
    struct host_check *c = (struct host_check *)a0;
    cli();
    kvm_check_host(c);
    sti();
    c->nmis = nmi_total;
    c->nmi_bad_gs = nmi_bad_gs;
    c->nmi_last_bad_gs = nmi_last_bad_gs;
    c->nmi_at_stgi = nmi_at_stgi;
    c->gs_violations = gs_violations;
    c->ticks = this_cpu_read(ticks);
    c->nmi_bad_tr = nmi_bad_tr;
    c->nmi_percpu_bad = 0;
    for (int k = 0; k < NR_CPUS; k++) c->nmi_percpu_bad += percpu_area[k].nmis != nmi_by_cpu[k];
    c->nmi_user = nmi_user;
    c->nmi_after_stgi = nmi_after_stgi;
    c->nmi_run = nmi_run;
    c->nmi_idle = nmi_idle;
    c->nmi_kernel = nmi_kernel;
    c->nmiipi_sent = nmiipi_sent;
    ret = (long)c->mismatch;
    break;
  }
  case SYS_HOST_INFO: {
    if (!user_range_ok(a0, sizeof(struct host_info))) { ret = -EINVAL; break; }
    struct host_info *h = (struct host_info *)a0;
    snprintf(h->design, sizeof(h->design), "%s", kvm_design_name());
    h->fsgsbase = (u64)opt_fsgsbase;
    h->nmi_period = opt_nmi_period;
    h->timer_period = opt_timer_period;
    h->host_tsc_aux = host_msrs.tsc_aux;
    ret = 0;
    break;
  }
  case SYS_MIGRATE:
    ret = smp_migrate(r, t, a0);
    break;
  default:
    ret = -ENOSYS;
  }
  cli();
  gs_check(0x101);
  return ret;
}
