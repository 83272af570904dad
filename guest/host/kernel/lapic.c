/* The local APIC (xAPIC MMIO at 0xFEE00000; APM Vol. 2 ch. 16): the periodic timer. */
#include "kernel.h"

#define LAPIC 0xfee00000ul
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_DIV 0x3e0
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)

static inline void lapic_write(u32 reg, u32 v) { *(volatile u32 *)(LAPIC + reg) = v; }

/* the 8259s may be unmasked by firmware: move them off the exception vectors, mask them */
static void pic_disable(void) {
  static const u8 seq[] = { 0x11, 0x20, 0x04, 0x01, 0xff };
  static const u8 seq2[] = { 0x11, 0x28, 0x02, 0x01, 0xff };
  outb(0x20, seq[0]);
  outb(0xa0, seq2[0]);
  for (int i = 1; i < 5; i++) {
    outb(0x21, seq[i]);
    outb(0xa1, seq2[i]);
  }
}

void lapic_init(u64 period) {
  pic_disable();
  u64 base = rdmsr(MSR_APIC_BASE);
  if (!(base & (1ul << 11))) wrmsr(MSR_APIC_BASE, base | (1ul << 11));
  lapic_write(APIC_SVR, 0x100 | VEC_SPURIOUS);
  lapic_write(APIC_TPR, 0);
  lapic_write(APIC_LVT_LINT0, LVT_MASKED);
  lapic_write(APIC_LVT_LINT1, LVT_MASKED);
  if (period == 0) {
    lapic_write(APIC_LVT_TIMER, LVT_MASKED);
    return;
  }
  lapic_write(APIC_TIMER_DIV, 0xb);   /* divide by 1 */
  lapic_write(APIC_LVT_TIMER, VEC_TIMER | LVT_PERIODIC);
  lapic_write(APIC_TIMER_INIT, (u32)period);
}

void lapic_eoi(void) { lapic_write(APIC_EOI, 0); }

/* CPU 1's APIC: enabled, no timer, LINT0/LINT1 masked (smp.c) */
void lapic_init_ap(void) {
  lapic_write(APIC_SVR, 0x100 | VEC_SPURIOUS);
  lapic_write(APIC_TPR, 0);
  lapic_write(APIC_LVT_TIMER, LVT_MASKED);
  lapic_write(APIC_LVT_LINT0, LVT_MASKED);
  lapic_write(APIC_LVT_LINT1, LVT_MASKED);
}

/* an IPI through the ICR (APM Vol. 2 16.5): the high half (destination) first, the low half sends */
void lapic_icr(u32 dest, u32 lo) {
  lapic_write(0x310, dest << 24);
  lapic_write(0x300, lo);
}
