/*
 * Exception and interrupt dispatch. Every vector is recorded in last_fault and counted; a
 * vector with a handler runs it; otherwise an exception inside catch_run resumes after that
 * catch_run (the innermost one), and anything else is reported as an unexpected event.
 */
#include "rt.h"
#include "lapic.h"

volatile struct fault last_fault;
volatile u32 trap_count[256];
struct percpu percpu;
static trap_fn handlers[256];
static syscall_fn syscall_handler;
extern u64 catch_depth, catch_rsp[8];
extern u8 catch_resume[];

static const char *const names[32] = {
  "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#9", "#TS", "#NP", "#SS",
  "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XF", "#20", "#CP", "#22", "#23", "#24", "#25",
  "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

const char *vector_name(u64 v) {
  static char buf[8];
  if (v < 32) return names[v];
  snprintf(buf, sizeof(buf), "%#lx", v);
  return buf;
}

void set_trap_handler(int vec, trap_fn fn) { handlers[vec] = fn; }
void set_syscall_handler(syscall_fn fn) { syscall_handler = fn; }

void trap_dispatch(struct frame *f) {
  u64 v = f->vector;
  last_fault.vector = v;
  last_fault.error = f->error;
  last_fault.rip = f->rip;
  last_fault.cs = f->cs;
  last_fault.rflags = f->rflags;
  last_fault.rsp = f->rsp;
  last_fault.ss = f->ss;
  last_fault.cr2 = v == PF ? read_cr2() : 0;
  last_fault.frame = (u64)f;
  trap_count[v]++;
  if (handlers[v]) {
    handlers[v](f);
    return;
  }
  if (v < 32 && v != NMI && catch_depth > 0) {
    /* resume after the innermost catch_run, at CPL 0 with interrupts off */
    catch_depth--;
    f->rip = (u64)catch_resume;
    f->cs = KCS;
    f->rflags = 0x2;
    f->rsp = catch_rsp[catch_depth];
    f->ss = KDS;
    f->rax = v;
    return;
  }
  if (v == VEC_SPURIOUS) return;
  if (v == NMI) {
    printf("note: unexpected NMI at rip %#lx\n", f->rip);
    return;
  }
  if (v >= 32) {
    printf("note: unexpected interrupt %#lx at rip %#lx\n", v, f->rip);
    if (lapic_enabled()) lapic_eoi();
    return;
  }
  printf("FAIL: %s (unexpected %s outside a test: error %#lx rip %#lx cr2 %#lx)\n", kernel_name,
         vector_name(v), f->error, f->rip, last_fault.cr2);
  printf("SUMMARY: 1 tests, 1 unexpected failures, 0 skipped\n");
  exit_status(3);
}

/* returns 1 for SYS_EXIT (entry.S then returns from user_call), else 0 with RAX set */
int syscall_dispatch(struct frame *f) {
  if (f->rax == SYS_EXIT) return 1;
  f->rax = syscall_handler ? (u64)syscall_handler(f) : (u64)-1;
  return 0;
}

struct ucall { long (*fn)(long); long arg, ret; int via; };

static void ucall_run(void *p) {
  struct ucall *u = p;
  u->ret = user_call(u->fn, u->arg, u->via);
}

long catch_user_via(long (*fn)(long), long arg, long *ret, int via_sysret) {
  struct ucall u = { fn, arg, 0, via_sysret };
  long r = catch_run(ucall_run, &u);
  if (ret) *ret = u.ret;
  return r;
}
