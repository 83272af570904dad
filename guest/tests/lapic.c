/*
 * The local APIC (APM Vol. 2, ch. 16): registers, the timer in one-shot and periodic mode
 * (16.4.1), fixed self-IPIs with IRR/ISR/EOI and TPR (16.5-16.6, 16.9), an NMI IPI to our own
 * APIC ID, and HLT woken by the timer interrupt.
 *
 * Waits are bounded spins, so a missing interrupt fails a test instead of hanging the kernel;
 * only hlt_wakeup_timer (last) can hang, and the harness has a timeout.
 */
#include "rt.h"
#include "lapic.h"

const char kernel_name[] = "lapic";

#define SPIN 3000000
#define VEC_HIGH 0x61

static volatile u64 count, last_rip, isr_in_handler, order[4], norder;

static void on_interrupt(struct frame *f) {
  count++;
  last_rip = f->rip;
  isr_in_handler = lapic_isr(f->vector);
  if (norder < ARRAY_SIZE(order)) order[norder++] = f->vector;
  lapic_eoi();
}

static void on_nmi(struct frame *f) {
  count++;
  last_rip = f->rip;
  order[0] = (u64)f;
}

void kernel_setup(void) { lapic_enable(); }

void test_setup(void) {
  count = last_rip = isr_in_handler = norder = 0;
  lapic_enable();
  set_trap_handler(VEC_TIMER, on_interrupt);
  set_trap_handler(VEC_IPI, on_interrupt);
  set_trap_handler(VEC_HIGH, on_interrupt);
  set_trap_handler(NMI, on_nmi);
}

/* spin (interrupts as they are) until count reaches n; false on timeout */
static int wait_count(u64 n) {
  for (long i = 0; i < SPIN; i++) {
    if (count >= n) return 1;
    asm volatile("pause");
  }
  return count >= n;
}

static void spin(long n) {
  for (long i = 0; i < n; i++) asm volatile("pause");
}

static void registers(void) {
  u64 base = rdmsr(MSR_APIC_BASE);
  CHECK_EQ(base & 0xfffff000ul, LAPIC_BASE);
  CHECK(base & (1ul << 8), "APIC_BASE.BSP clear: %#lx", base);
  CHECK(base & (1ul << 11), "APIC_BASE.AE clear: %#lx", base);
  u32 v = lapic_read(APIC_VERSION);
  CHECK((v & 0xff) >= 0x10 && (v & 0xff) <= 0x1f, "version %#x: not an integrated APIC", v);
  CHECK(((v >> 16) & 0xff) >= 3, "version %#x: fewer than 4 LVT entries", v);
  CHECK_EQ(lapic_read(APIC_SVR) & 0x1ff, 0x100 | VEC_SPURIOUS);
  lapic_write(APIC_LVT_TIMER, LVT_MASKED | LVT_PERIODIC | 0x77);
  CHECK_EQ(lapic_read(APIC_LVT_TIMER), LVT_MASKED | LVT_PERIODIC | 0x77);
  lapic_write(APIC_TIMER_DIV, DIV_16);
  CHECK_EQ(lapic_read(APIC_TIMER_DIV) & 0xb, DIV_16);
}

static void timer_oneshot(void) {
  lapic_timer(VEC_TIMER, 20000, DIV_1, 0, 0);
  sti();
  int ok = wait_count(1);
  spin(200000);
  cli();
  CHECK(ok, "no timer interrupt");
  CHECK_EQ(count, 1);
  CHECK_EQ(order[0], VEC_TIMER);
  CHECK_EQ(lapic_read(APIC_TIMER_CUR), 0);
  CHECK(isr_in_handler, "ISR bit clear in the handler");
  CHECK(!lapic_isr(VEC_TIMER), "ISR bit set after EOI");
}

static void timer_counts_down(void) {
  lapic_timer(VEC_TIMER, 0xffffffff, DIV_16, 0, 1);
  u32 c1 = lapic_read(APIC_TIMER_CUR);
  spin(10000);
  u32 c2 = lapic_read(APIC_TIMER_CUR);
  lapic_timer_stop();
  CHECK(c1 > c2, "current count %#x then %#x", c1, c2);
  CHECK(c1 <= 0xffffffff && c2 > 0, "current count %#x then %#x", c1, c2);
  CHECK_EQ(lapic_read(APIC_TIMER_CUR), 0);  /* writing initial count 0 stops it */
}

static void timer_periodic(void) {
  lapic_timer(VEC_TIMER, 20000, DIV_2, 1, 0);
  sti();
  int ok = wait_count(3);
  u32 cur = lapic_read(APIC_TIMER_CUR);
  cli();
  lapic_timer_stop();
  CHECK(ok, "%lu periodic interrupts, want 3", count);
  CHECK(cur > 0 && cur <= 20000, "current count %#x while periodic", cur);
  /* a tick that fired between the wait and the CLI is still pending in IRR: take it first, so
   * that only ticks after the stop would be counted (QEMU's timer runs in host time) */
  sti();
  spin(10000);
  cli();
  u64 n = count;
  sti();
  spin(200000);
  cli();
  CHECK_EQ(count, n);
}

/* a masked LVT entry counts down but sets no IRR bit */
static void timer_masked(void) {
  lapic_timer(VEC_TIMER, 1000, DIV_1, 0, 1);
  sti();
  for (long i = 0; i < SPIN && lapic_read(APIC_TIMER_CUR); i++) asm volatile("pause");
  spin(10000);
  cli();
  CHECK_EQ(lapic_read(APIC_TIMER_CUR), 0);
  CHECK_EQ(count, 0);
  CHECK(!lapic_irr(VEC_TIMER), "IRR set for a masked timer");
}

static void self_ipi_fixed(void) {
  sti();
  lapic_self_ipi(VEC_IPI);
  int ok = wait_count(1);
  cli();
  CHECK(ok, "no self-IPI");
  CHECK_EQ(order[0], VEC_IPI);
  CHECK(isr_in_handler, "ISR bit clear in the handler");
  CHECK(!lapic_isr(VEC_IPI), "ISR bit set after EOI");
}

/* with IF=0 the IPI waits in IRR; STI delivers it after the next instruction */
static void ipi_pending_while_cli(void) {
  lapic_self_ipi(VEC_IPI);
  spin(1000);
  CHECK_EQ(count, 0);
  CHECK(lapic_irr(VEC_IPI), "IRR bit clear while IF=0");
  asm volatile("sti; nop; cli" ::: "memory");
  CHECK_EQ(count, 1);
  CHECK(!lapic_irr(VEC_IPI), "IRR bit still set");
}

/* two pending: the higher vector first */
static void ipi_priority_order(void) {
  lapic_self_ipi(VEC_IPI);
  lapic_self_ipi(VEC_HIGH);
  spin(1000);
  sti();
  int ok = wait_count(2);
  cli();
  CHECK(ok, "%lu interrupts, want 2", count);
  CHECK_EQ(order[0], VEC_HIGH);
  CHECK_EQ(order[1], VEC_IPI);
}

/* TPR class 5 holds back vector 0x41 (class 4) until it is lowered */
static void tpr_masks_lower_class(void) {
  lapic_write(APIC_TPR, 0x50);
  sti();
  lapic_self_ipi(VEC_IPI);
  spin(10000);
  u64 held = count;
  int irr = lapic_irr(VEC_IPI);
  lapic_write(APIC_TPR, 0);
  int ok = wait_count(1);
  cli();
  CHECK_EQ(held, 0);
  CHECK(irr, "IRR clear while held by TPR");
  CHECK(ok, "not delivered after TPR=0");
}

/* an NMI IPI is taken with IF=0, on IST1 */
static void nmi_ipi_ignores_if(void) {
  cli();
  lapic_nmi_self();
  int ok = wait_count(1);
  CHECK(ok, "no NMI");
  if (ok) CHECK_EQ(order[0] + sizeof(struct frame), (u64)ist1_top);
}

extern u8 after_hlt[];

static void hlt_wakeup_timer(void) {
  lapic_timer(VEC_TIMER, 20000, DIV_1, 0, 0);
  asm volatile("sti; hlt\n.globl after_hlt\nafter_hlt: cli" ::: "memory");
  CHECK_EQ(count, 1);
  CHECK_EQ(last_rip, (u64)after_hlt);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(registers), T(timer_oneshot), T(timer_counts_down), T(timer_periodic), T(timer_masked),
  T(self_ipi_fixed), T(ipi_pending_while_cli), T(ipi_priority_order), T(tpr_masks_lower_class),
  T(nmi_ipi_ignores_if), T(hlt_wakeup_timer),
};
const int ntests = ARRAY_SIZE(tests);
