/*
 * SVM and interrupts: the global interrupt flag (APM Vol. 2 15.17), physical INTR and NMI
 * intercepts and V_INTR_MASKING (15.21.1), event injection (15.20), EXITINTINFO (15.7.2),
 * virtual interrupts V_IRQ/V_TPR/V_INTR_PRIO/V_IGN_TPR and the VINTR intercept (15.21), and
 * the interrupt shadow in int_state (15.21.5).
 *
 * Interrupts come from the local APIC: self-IPIs on VEC_IPI and self-NMIs, sent while GIF = 0
 * so that they are pending at the instant of interest.
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

const char kernel_name[] = "svm_events";

void kernel_setup(void) {
  svm_detect();
  svm_print_features();
}

static volatile u64 nmis, ipis;
static void count_nmi(struct frame *f) { (void)f; nmis++; }
static void count_ipi(struct frame *f) { (void)f; ipis++; lapic_eoi(); }

static volatile int guest_ran;
static u64 mark_ran(u64 a) { (void)a; guest_ran = 1; return 0; }

static void spin(void) {
  for (int i = 0; i < 200000; i++) asm volatile("pause");
}

/* svm_begin plus the APIC and the host's counters */
static int events_begin(u32 features) {
  if (!svm_begin(features)) return 0;
  lapic_enable();
  nmis = ipis = 0;
  guest_ran = 0;
  set_trap_handler(NMI, count_nmi);
  set_trap_handler(VEC_IPI, count_ipi);
  return 1;
}

/* a guest that runs mark_ran, then VMMCALL */
static void marking_guest(void) {
  vmcb_init(vmcb, (u64)guest_call_entry);
  greg.rbx = (u64)mark_ran;
}

/* ---- GIF (15.17) ---- */

static void gif_holds_nmi(void) {
  if (!events_begin(0)) return;
  clgi();
  lapic_nmi_self();
  spin();
  u64 held = nmis;
  stgi();
  spin();
  CHECK(held == 0, "NMI taken with GIF = 0");
  CHECK_EQ(nmis, 1);
}

static void gif_holds_intr(void) {
  if (!events_begin(0)) return;
  clgi();
  sti();
  lapic_self_ipi(VEC_IPI);
  spin();
  u64 held = ipis;
  int irr = lapic_irr(VEC_IPI);
  stgi();
  spin();
  cli();
  CHECK(held == 0, "interrupt taken with GIF = 0 and IF = 1");
  CHECK(irr, "the interrupt is not pending in IRR");
  CHECK_EQ(ipis, 1);
}

/* #VMEXIT clears GIF (15.6 step 1) even when VMRUN ran with GIF = 1 */
static void gif_zero_after_vmexit(void) {
  if (!events_begin(0)) return;
  marking_guest();
  svm_run_nogif(vmcb);
  lapic_nmi_self();
  spin();
  u64 held = nmis;
  stgi();
  spin();
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(held == 0, "NMI taken after #VMEXIT before STGI");
  CHECK_EQ(nmis, 1);
}

/* VMRUN sets GIF: an interrupt held pending by CLGI becomes #VMEXIT(INTR) before the first guest
 * instruction when INTR is intercepted; it stays pending for the host, which takes it after
 * STGI (15.21.1; V_INTR_MASKING = 1: the host's IF = 1 lets physical interrupts in) */
static void vmrun_sets_gif_intr_exit(void) {
  if (!events_begin(0)) return;
  marking_guest();
  icpt1(vmcb, I1_INTR);
  VMCB32(vmcb, VMCB_INT_CTL) = V_INTR_MASKING;
  clgi();
  sti();
  lapic_self_ipi(VEC_IPI);
  svm_vmrun_regs(pa(vmcb), &greg);
  spin();
  u64 held = ipis;
  int irr = lapic_irr(VEC_IPI);
  stgi();
  spin();
  cli();
  if (!expect_exit_at(vmcb, EXIT_INTR, guest_call_entry, 0)) return;
  CHECK(!guest_ran, "the guest ran");
  CHECK(held == 0, "the host took the interrupt before STGI");
  CHECK(irr, "the interrupt is no longer pending after #VMEXIT(INTR)");
  CHECK_EQ(ipis, 1);
  CHECK_EQ(g_ev.count, 0);
}

/* V_INTR_MASKING = 1 with the host's IF = 0: physical interrupts stay masked in the guest */
static void intr_masked_by_host_if(void) {
  if (!events_begin(0)) return;
  marking_guest();
  icpt1(vmcb, I1_INTR);
  VMCB32(vmcb, VMCB_INT_CTL) = V_INTR_MASKING;
  VMCB64(vmcb, VMCB_RFLAGS) = 0x202;
  clgi();
  lapic_self_ipi(VEC_IPI);
  svm_vmrun_regs(pa(vmcb), &greg);
  stgi();
  spin();
  u64 held = ipis;
  sti();
  spin();
  cli();
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not run");
  CHECK_EQ(g_ev.count, 0);
  CHECK(held == 0, "interrupt taken with the host's IF = 0");
  CHECK_EQ(ipis, 1);
}

/* without the INTR intercept and V_INTR_MASKING = 0, the guest's IF governs and the interrupt
 * goes through the guest's IDT */
static void intr_to_guest_without_intercept(void) {
  if (!events_begin(0)) return;
  marking_guest();
  VMCB64(vmcb, VMCB_RFLAGS) = 0x202;
  guest_return_on(VEC_IPI);
  guest_eoi_on(VEC_IPI);
  clgi();
  lapic_self_ipi(VEC_IPI);
  svm_vmrun_regs(pa(vmcb), &greg);
  stgi();
  sti();
  spin();
  cli();
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not run");
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, VEC_IPI);
  CHECK_EQ(g_ev.rip, (u64)guest_call_entry);
  CHECK_EQ(ipis, 0);
}

/* an NMI pending at VMRUN with the NMI intercept: #VMEXIT(NMI); the host takes it after STGI */
static void nmi_intercept_exit(void) {
  if (!events_begin(0)) return;
  marking_guest();
  icpt1(vmcb, I1_NMI);
  clgi();
  lapic_nmi_self();
  svm_vmrun_regs(pa(vmcb), &greg);
  spin();
  u64 held = nmis;
  stgi();
  spin();
  if (!expect_exit_at(vmcb, EXIT_NMI, guest_call_entry, 0)) return;
  CHECK(!guest_ran, "the guest ran");
  CHECK(held == 0, "NMI taken before STGI");
  CHECK_EQ(nmis, 1);
}

/* without the intercept the guest takes the NMI through its IDT */
static void nmi_to_guest_without_intercept(void) {
  if (!events_begin(0)) return;
  marking_guest();
  guest_return_on(NMI);
  clgi();
  lapic_nmi_self();
  svm_vmrun_regs(pa(vmcb), &greg);
  stgi();
  spin();
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not run");
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, NMI);
  CHECK_EQ(nmis, 0);
}

/* ---- event injection (15.20): delivered through the guest IDT before its first instruction ---- */

static void inject_run(u32 ev, u32 err) {
  marking_guest();
  VMCB32(vmcb, VMCB_EVENTINJ) = ev;
  VMCB32(vmcb, VMCB_EVENTINJ + 4) = err;
  svm_run(vmcb);
}

static void inject_exception_with_error_code(void) {
  if (!events_begin(0)) return;
  inject_run(EV_VALID | EV_ERR | EV_TYPE_EXC | GP, 0x1234);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(!guest_ran, "the guest's first instruction ran before the exception");
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, GP);
  CHECK_EQ(g_ev.error, 0x1234);
  CHECK_EQ(g_ev.rip, (u64)guest_call_entry);
  CHECK_EQ(exit_intinfo(vmcb) & EV_VALID, 0);
}

static void inject_exception_without_error_code(void) {
  if (!events_begin(0)) return;
  inject_run(EV_VALID | EV_TYPE_EXC | UD, 0x5555);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, UD);
  CHECK_EQ(g_ev.error, 0);        /* the stub's 0: nothing was pushed */
  CHECK_EQ(g_ev.rip, (u64)guest_call_entry);
}

static void inject_external_interrupt(void) {
  if (!events_begin(0)) return;
  guest_return_on(0x55);
  marking_guest();
  VMCB64(vmcb, VMCB_RFLAGS) = 0x202;
  VMCB32(vmcb, VMCB_EVENTINJ) = EV_VALID | EV_TYPE_INTR | 0x55;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not continue after the handler");
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, 0x55);
  CHECK_EQ(g_ev.rip, (u64)guest_call_entry);
  CHECK_EQ(exit_intinfo(vmcb) & EV_VALID, 0);
}

/* a software interrupt pushes the VMCB's RIP as its return address (the hypervisor points RIP
 * past the INTn it emulates) */
static void inject_software_interrupt(void) {
  if (!events_begin(0)) return;
  guest_return_on(0x56);
  inject_run(EV_VALID | EV_TYPE_SOFT | 0x56, 0);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not continue after the handler");
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, 0x56);
  CHECK_EQ(g_ev.rip, (u64)guest_call_entry);
}

static void inject_nmi(void) {
  if (!events_begin(0)) return;
  guest_return_on(NMI);
  inject_run(EV_VALID | EV_TYPE_NMI | NMI, 0);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not continue after the handler");
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, NMI);
  CHECK_EQ(g_ev.rip, (u64)guest_call_entry);
}

/* ---- EXITINTINFO (15.7.2): an event whose delivery an intercept cut short ---- */

/* the guest stack is a not-present page, so pushing the event's frame raises #PF */
static void bad_stack(void) {
  *test_pte(test_page(42)) = 0;
  invlpg(test_page(42));
  VMCB64(vmcb, VMCB_RSP) = test_page(42) + 0x800;
  icpt_exc(vmcb, PF);
}

static void check_stack_pf(void) {
  CHECK_EQ(exit_info1(vmcb), PF_W);
  CHECK((exit_info2(vmcb) & ~0xffful) == test_page(42), "#PF address %#lx, want page %#lx", exit_info2(vmcb), test_page(42));
}

static void exitintinfo_injected_softint(void) {
  if (!events_begin(0)) return;
  marking_guest();
  bad_stack();
  VMCB32(vmcb, VMCB_EVENTINJ) = EV_VALID | EV_TYPE_SOFT | 0x57;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_EXC(PF), guest_call_entry, 0)) return;
  check_stack_pf();
  CHECK_EQ(exit_intinfo(vmcb), EV_VALID | EV_TYPE_SOFT | 0x57);
}

static void exitintinfo_injected_exception(void) {
  if (!events_begin(0)) return;
  marking_guest();
  bad_stack();
  VMCB32(vmcb, VMCB_EVENTINJ) = EV_VALID | EV_ERR | EV_TYPE_EXC | GP;
  VMCB32(vmcb, VMCB_EVENTINJ + 4) = 0x1234;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_EXC(PF), guest_call_entry, 0)) return;
  check_stack_pf();
  CHECK_EQ(exit_intinfo(vmcb), (0x1234ul << 32) | EV_VALID | EV_ERR | EV_TYPE_EXC | GP);
}

GUEST_INSN(g_int57, "", "int $0x57");

/* the guest's own INT 0x57, not injected */
static void exitintinfo_guest_intn(void) {
  if (!events_begin(0)) return;
  vmcb_init(vmcb, (u64)g_int57);
  bad_stack();
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_EXC(PF), g_int57_insn, 0)) return;
  check_stack_pf();
  CHECK_EQ(exit_intinfo(vmcb), EV_VALID | EV_TYPE_SOFT | 0x57);
}

/* ---- virtual interrupts (15.21.4) ---- */

static void virq_run(u32 int_ctl, u64 rflags, int vintr) {
  marking_guest();
  VMCB32(vmcb, VMCB_INT_CTL) = int_ctl | V_INTR_MASKING;
  VMCB32(vmcb, VMCB_INT_VECTOR) = 0x60;
  VMCB64(vmcb, VMCB_RFLAGS) = rflags;
  if (vintr) icpt1(vmcb, I1_VINTR);
  guest_return_on(0x60);
  svm_run(vmcb);
}

static void virq_expect(int taken) {
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not run");
  if (taken) {
    CHECK_EQ(g_ev.count, 1);
    CHECK_EQ(g_ev.vector, 0x60);
    CHECK_EQ(g_ev.rip, (u64)guest_call_entry);
    CHECK(!(VMCB32(vmcb, VMCB_INT_CTL) & V_IRQ), "V_IRQ still set after the interrupt was taken");
  } else {
    CHECK(g_ev.count == 0, "vector %#lx taken", g_ev.vector);
    CHECK(VMCB32(vmcb, VMCB_INT_CTL) & V_IRQ, "V_IRQ cleared though not taken");
  }
}

static void virq_delivered(void) {
  if (!events_begin(0)) return;
  virq_run(V_IRQ | V_INTR_PRIO(2), 0x202, 0);
  virq_expect(1);
}

static void virq_masked_by_guest_if(void) {
  if (!events_begin(0)) return;
  virq_run(V_IRQ | V_INTR_PRIO(2), 0x2, 0);
  virq_expect(0);
}

static void virq_below_tpr(void) {
  if (!events_begin(0)) return;
  virq_run(V_IRQ | V_INTR_PRIO(2) | 5, 0x202, 0);
  virq_expect(0);
}

/* taken only when V_INTR_PRIO is greater than V_TPR */
static void virq_equal_tpr(void) {
  if (!events_begin(0)) return;
  virq_run(V_IRQ | V_INTR_PRIO(5) | 5, 0x202, 0);
  virq_expect(0);
}

static void virq_above_tpr(void) {
  if (!events_begin(0)) return;
  virq_run(V_IRQ | V_INTR_PRIO(6) | 5, 0x202, 0);
  virq_expect(1);
}

static void virq_ignore_tpr(void) {
  if (!events_begin(0)) return;
  virq_run(V_IRQ | V_INTR_PRIO(2) | V_IGN_TPR | 5, 0x202, 0);
  virq_expect(1);
}

/* the VINTR intercept: #VMEXIT(VINTR) instead of taking the virtual interrupt */
static void vintr_intercept(void) {
  if (!events_begin(0)) return;
  virq_run(V_IRQ | V_INTR_PRIO(2), 0x202, 1);
  if (!expect_exit_at(vmcb, EXIT_VINTR, guest_call_entry, 0)) return;
  CHECK_EQ(g_ev.count, 0);
  CHECK(!guest_ran, "the guest ran");
  CHECK(VMCB32(vmcb, VMCB_INT_CTL) & V_IRQ, "V_IRQ cleared");
}

GUEST_INSN(g_sti_window, "nop\n\tsti\n\tnop\n\t.globl g_sti_window_after\ng_sti_window_after:\n\tnop", "nop");

/* the VINTR exit waits until the guest can take the interrupt: after STI and its shadow */
static void vintr_waits_for_sti_shadow(void) {
  if (!events_begin(0)) return;
  extern u8 g_sti_window_after[];
  vmcb_init(vmcb, (u64)g_sti_window);
  VMCB32(vmcb, VMCB_INT_CTL) = V_IRQ | V_INTR_PRIO(2) | V_INTR_MASKING;
  VMCB32(vmcb, VMCB_INT_VECTOR) = 0x60;
  icpt1(vmcb, I1_VINTR);
  svm_run(vmcb);
  expect_exit_at(vmcb, EXIT_VINTR, g_sti_window_after, 0);
}

GUEST_INSN(g_cr8, "mov $7, %eax\n\tmov %rax, %cr8\n\tmov %cr8, %rbx", "vmmcall");

/* with V_INTR_MASKING, CR8 is the virtual TPR: the guest's writes go to V_TPR, not the APIC */
static void cr8_is_v_tpr(void) {
  if (!events_begin(0)) return;
  vmcb_init(vmcb, (u64)g_cr8);
  VMCB32(vmcb, VMCB_INT_CTL) = V_INTR_MASKING | 3;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(greg.rbx, 7);
  CHECK_EQ(VMCB32(vmcb, VMCB_INT_CTL) & V_TPR_MASK, 7);
  CHECK_EQ(read_cr8(), 0);
  CHECK_EQ(lapic_read(APIC_TPR), 0);
}

GUEST_INSN(g_read_cr8, "", "mov %cr8, %rbx");

static void cr8_reads_v_tpr(void) {
  if (!events_begin(0)) return;
  vmcb_init(vmcb, (u64)g_read_cr8);
  VMCB32(vmcb, VMCB_INT_CTL) = V_INTR_MASKING | 9;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(greg.rbx, 9);
}

/* ---- the interrupt shadow (int_state bit 0) ---- */

GUEST_INSN(g_sti_exit, "", "sti");

/* #VMEXIT in the shadow of STI records it */
static void int_shadow_saved(void) {
  if (!events_begin(0)) return;
  vmcb_init(vmcb, (u64)g_sti_exit);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_VMMCALL, g_sti_exit_end, g_sti_exit_end + 3)) return;
  CHECK_EQ(VMCB32(vmcb, VMCB_INT_STATE) & INT_SHADOW, INT_SHADOW);
}

GUEST_INSN(g_shadow, "", "inc %rbx");

/* VMRUN loads it: a deliverable virtual interrupt waits for the first guest instruction */
static void int_shadow_loaded(void) {
  if (!events_begin(0)) return;
  vmcb_init(vmcb, (u64)g_shadow);
  VMCB32(vmcb, VMCB_INT_CTL) = V_IRQ | V_INTR_PRIO(2) | V_INTR_MASKING;
  VMCB32(vmcb, VMCB_INT_VECTOR) = 0x60;
  VMCB32(vmcb, VMCB_INT_STATE) = INT_SHADOW;
  VMCB64(vmcb, VMCB_RFLAGS) = 0x202;
  guest_return_on(0x60);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.rip, (u64)g_shadow_end);
  CHECK_EQ(greg.rbx, 1);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(gif_holds_nmi), T(gif_holds_intr), T(gif_zero_after_vmexit), T(vmrun_sets_gif_intr_exit),
  T(intr_masked_by_host_if), T(intr_to_guest_without_intercept), T(nmi_intercept_exit),
  T(nmi_to_guest_without_intercept),
  T(inject_exception_with_error_code), T(inject_exception_without_error_code),
  T(inject_external_interrupt), T(inject_software_interrupt), T(inject_nmi),
  T(exitintinfo_injected_softint), T(exitintinfo_injected_exception), T(exitintinfo_guest_intn),
  T(virq_delivered), T(virq_masked_by_guest_if), T(virq_below_tpr), T(virq_equal_tpr),
  T(virq_above_tpr), T(virq_ignore_tpr), T(vintr_intercept), T(vintr_waits_for_sti_shadow),
  T(cr8_is_v_tpr), T(cr8_reads_v_tpr), T(int_shadow_saved), T(int_shadow_loaded),
};
const int ntests = ARRAY_SIZE(tests);
