/* Local APIC (xAPIC, MMIO at 0xFEE00000; APM Vol. 2, ch. 16) */
#ifndef LAPIC_H
#define LAPIC_H
#include "rt.h"

#define LAPIC_BASE 0xfee00000ul
#define APIC_ID 0x20
#define APIC_VERSION 0x30
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_ISR 0x100
#define APIC_IRR 0x200
#define APIC_ESR 0x280
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_LINT0 0x350
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_CUR 0x390
#define APIC_TIMER_DIV 0x3e0

#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define ICR_FIXED (0u << 8)
#define ICR_NMI (4u << 8)
#define ICR_PENDING (1u << 12)
#define ICR_ASSERT (1u << 14)
#define ICR_SELF (1u << 18)

/* divide configuration values (APM 16.4.1): bits 3, 1:0 */
#define DIV_1 0xb
#define DIV_2 0x0
#define DIV_16 0x3

static inline u32 lapic_read(u32 reg) { return *(volatile u32 *)(LAPIC_BASE + reg); }
static inline void lapic_write(u32 reg, u32 v) { *(volatile u32 *)(LAPIC_BASE + reg) = v; }

int lapic_enabled(void);
void lapic_enable(void);            /* APIC_BASE.AE, SVR enable with VEC_SPURIOUS */
void lapic_eoi(void);
u32 lapic_id(void);
void lapic_timer(u32 vec, u32 count, u32 divide, int periodic, int masked);
void lapic_timer_stop(void);
void lapic_self_ipi(u32 vec);       /* fixed, self shorthand */
void lapic_nmi_self(void);          /* NMI message to our own physical APIC ID */
int lapic_isr(u32 vec);
int lapic_irr(u32 vec);
#endif
