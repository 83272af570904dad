/* Local APIC helpers */
#include "lapic.h"

static int enabled;

int lapic_enabled(void) { return enabled; }

void lapic_enable(void) {
  u64 base = rdmsr(MSR_APIC_BASE);
  if (!(base & (1ul << 11))) wrmsr(MSR_APIC_BASE, base | (1ul << 11));
  lapic_write(APIC_SVR, 0x100 | VEC_SPURIOUS);
  lapic_write(APIC_TPR, 0);
  lapic_write(APIC_LVT_TIMER, LVT_MASKED);
  lapic_write(APIC_LVT_LINT0, LVT_MASKED);  /* no ExtINT from the 8259 */
  enabled = 1;
}

void lapic_eoi(void) { lapic_write(APIC_EOI, 0); }

u32 lapic_id(void) { return lapic_read(APIC_ID) >> 24; }

void lapic_timer(u32 vec, u32 count, u32 divide, int periodic, int masked) {
  lapic_write(APIC_TIMER_DIV, divide);
  lapic_write(APIC_LVT_TIMER, vec | (periodic ? LVT_PERIODIC : 0) | (masked ? LVT_MASKED : 0));
  lapic_write(APIC_TIMER_INIT, count);  /* writing the initial count starts the timer */
}

void lapic_timer_stop(void) {
  lapic_write(APIC_LVT_TIMER, LVT_MASKED);
  lapic_write(APIC_TIMER_INIT, 0);
}

static void icr_send(u32 hi, u32 lo) {
  lapic_write(APIC_ICR_HI, hi);
  lapic_write(APIC_ICR_LO, lo);  /* the write of the low half sends */
  for (int i = 0; i < 1000000 && (lapic_read(APIC_ICR_LO) & ICR_PENDING); i++) {
  }
}

void lapic_self_ipi(u32 vec) { icr_send(0, ICR_SELF | ICR_ASSERT | ICR_FIXED | vec); }

void lapic_nmi_self(void) { icr_send(lapic_id() << 24, ICR_ASSERT | ICR_NMI); }

int lapic_isr(u32 vec) { return (lapic_read(APIC_ISR + (vec / 32) * 0x10) >> (vec % 32)) & 1; }
int lapic_irr(u32 vec) { return (lapic_read(APIC_IRR + (vec / 32) * 0x10) >> (vec % 32)) & 1; }
