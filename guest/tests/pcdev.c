/*
 * The legacy PC devices a kernel like Linux programs: the 8259A pair (init as Linux's
 * arch/x86/kernel/i8259.c does, EOI, ISR through OCW3, the slave cascade on IR2), the 8254 PIT
 * (IRQ 0 in mode 2, channel 2 polled through port 0x61 as Linux's TSC calibration does, read-back),
 * the MC146818 RTC (time, the periodic interrupt, register C), and the I/O APIC at 0xFEC00000
 * (IRQ 0 on pin 2 edge-triggered, the RTC on pin 8 level-triggered with remote IRR and the EOI
 * broadcast). PIC interrupts reach the CPU through LINT0 in ExtINT mode (virtual wire).
 *
 * Waits are bounded spins, so a missing interrupt fails a test instead of hanging the kernel.
 * Rates are high (about 6 kHz for the PIT, 8 kHz for the RTC) so that a wait is short in guest
 * time on both machines.
 */
#include "rt.h"
#include "lapic.h"

const char kernel_name[] = "pcdev";

#define SPIN 20000000l
#define VEC_PIC0 0x30         /* master PIC: IRQ 0-7 at 0x30, as Linux puts them */
#define VEC_PIC8 0x38         /* slave PIC: IRQ 8-15 at 0x38 */
#define VEC_IO_PIT 0x50
#define VEC_IO_RTC 0x51
#define APIC_TMR 0x180
#define LINT_EXTINT 0x700
#define PIT_COUNT 200         /* 1193182 / 200: about 5.97 kHz */

static volatile u32 *const ioapic = (volatile u32 *)0xfec00000ul;
static u32 ioapic_read(u32 r) { ioapic[0] = r; return ioapic[4]; }
static void ioapic_write(u32 r, u32 v) { ioapic[0] = r; ioapic[4] = v; }
static void ioapic_route(int pin, u32 lo, u32 dest) {
  ioapic_write(0x11 + 2 * pin, dest << 24);
  ioapic_write(0x10 + 2 * pin, lo);
}
static void ioapic_mask(int pin) { ioapic_write(0x10 + 2 * pin, 1u << 16); }

static u8 cmos_read(u8 i) { outb(0x70, i); return inb(0x71); }
static void cmos_write(u8 i, u8 v) { outb(0x70, i); outb(0x71, v); }

static inline u64 rdtsc(void) {
  u32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((u64)hi << 32) | lo;
}

static volatile u64 count, bad_vector, pic_isr_in, pic_isr_after, lapic_isr_in, reg_c, remote_in,
    remote_after, tmr_in;

/* Linux's init_8259A: vectors 0x30/0x38, cascade on IR2, 8086 mode, normal EOI */
static void pic_init(u8 master_mask, u8 slave_mask) {
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  outb(0x20, 0x11);
  outb(0x21, VEC_PIC0);
  outb(0x21, 0x04);
  outb(0x21, 0x01);
  outb(0xa0, 0x11);
  outb(0xa1, VEC_PIC8);
  outb(0xa1, 0x02);
  outb(0xa1, 0x01);
  outb(0x21, master_mask);
  outb(0xa1, slave_mask);
}

static void pit_periodic(u16 n) {
  outb(0x43, 0x34);     /* channel 0, lo/hi, mode 2 */
  outb(0x40, n & 0xff);
  outb(0x40, n >> 8);
}

static void pit_stop(void) {
  outb(0x43, 0x30);     /* channel 0, mode 0 with the longest count */
  outb(0x40, 0xff);
  outb(0x40, 0xff);
}

static void rtc_periodic(int on) {
  if (on) cmos_write(0x0a, 0x23);                          /* 32.768 kHz, RS = 3: 8192 Hz */
  cmos_write(0x0b, (cmos_read(0x0b) & ~0x40) | (on ? 0x40 : 0));
  cmos_read(0x0c);
}

static int wait_count(u64 n) {
  for (long i = 0; i < SPIN && count < n; i++) asm volatile("pause");
  return count >= n;
}

static void on_pit_pic(struct frame *f) {
  if (f->vector != VEC_PIC0) bad_vector = f->vector;
  outb(0x20, 0x0b);     /* OCW3: read ISR */
  pic_isr_in = inb(0x20);
  lapic_isr_in = lapic_isr(VEC_PIC0);
  outb(0x20, 0x20);     /* non-specific EOI */
  pic_isr_after = inb(0x20);
  outb(0x20, 0x0a);
  count++;
}

static void on_rtc_pic(struct frame *f) {
  if (f->vector != VEC_PIC8) bad_vector = f->vector;
  reg_c |= cmos_read(0x0c);
  outb(0xa0, 0x0b);
  pic_isr_in = inb(0xa0);
  outb(0x20, 0x0b);
  pic_isr_in |= (u64)inb(0x20) << 8;
  outb(0xa0, 0x60);     /* specific EOI for IR0 of the slave, then the cascade line */
  outb(0x20, 0x62);
  pic_isr_after = inb(0xa0) | (inb(0x20) << 8);
  outb(0xa0, 0x0a);
  outb(0x20, 0x0a);
  count++;
}

static void on_io_pit(struct frame *f) {
  if (f->vector != VEC_IO_PIT) bad_vector = f->vector;
  lapic_isr_in = lapic_isr(VEC_IO_PIT);
  tmr_in = (lapic_read(APIC_TMR + (VEC_IO_PIT / 32) * 0x10) >> (VEC_IO_PIT % 32)) & 1;
  lapic_eoi();
  count++;
}

static void on_io_rtc(struct frame *f) {
  if (f->vector != VEC_IO_RTC) bad_vector = f->vector;
  remote_in = (ioapic_read(0x10 + 2 * 8) >> 14) & 1;
  tmr_in = (lapic_read(APIC_TMR + (VEC_IO_RTC / 32) * 0x10) >> (VEC_IO_RTC % 32)) & 1;
  reg_c |= cmos_read(0x0c);          /* lowers IRQ 8 */
  lapic_eoi();                       /* level: broadcast to the I/O APIC, clears remote IRR */
  remote_after = (ioapic_read(0x10 + 2 * 8) >> 14) & 1;
  count++;
}

static void on_other(struct frame *f) { bad_vector = f->vector; }

void kernel_setup(void) { lapic_enable(); }

void test_setup(void) {
  count = bad_vector = pic_isr_in = pic_isr_after = lapic_isr_in = reg_c = 0;
  remote_in = remote_after = tmr_in = 0;
  lapic_enable();                     /* LINT0 masked */
  pic_disable();
  for (int pin = 0; pin < 24; pin++) ioapic_mask(pin);
  rtc_periodic(0);
  set_trap_handler(VEC_PIC0, on_pit_pic);
  set_trap_handler(VEC_PIC8, on_rtc_pic);
  set_trap_handler(VEC_IO_PIT, on_io_pit);
  set_trap_handler(VEC_IO_RTC, on_io_rtc);
  set_trap_handler(VEC_PIC0 + 7, on_other);
  set_trap_handler(VEC_PIC8 + 7, on_other);
}

static void pic_init_sequence(void) {
  pic_init(0xfb, 0xff);
  CHECK_EQ(inb(0x21), 0xfb);
  CHECK_EQ(inb(0xa1), 0xff);
  outb(0x21, 0xa5);
  CHECK_EQ(inb(0x21), 0xa5);
  outb(0x20, 0x0b);
  CHECK_EQ(inb(0x20), 0);             /* nothing in service */
  outb(0xa0, 0x0b);
  CHECK_EQ(inb(0xa0), 0);
  /* ELCR: IRQ 0, 1, 2, 8 and 13 are always edge-triggered */
  u8 e0 = inb(0x4d0), e1 = inb(0x4d1);
  outb(0x4d0, 0xff);
  outb(0x4d1, 0xff);
  CHECK_EQ(inb(0x4d0), 0xf8);
  CHECK_EQ(inb(0x4d1), 0xde);
  outb(0x4d0, e0);
  outb(0x4d1, e1);
  outb(0x21, 0xff);
}

/* IRQ 0 through the PIC and LINT0 in ExtINT mode; the vector comes from the PIC, the local APIC
 * sees nothing in service */
static void pic_pit_irq0(void) {
  lapic_write(APIC_LVT_LINT0, LINT_EXTINT);
  pic_init(0xfe, 0xff);
  pit_periodic(PIT_COUNT);
  sti();
  int ok = wait_count(3);
  cli();
  pit_stop();
  outb(0x21, 0xff);
  CHECK(ok, "%lu IRQ 0 interrupts, want 3", count);
  CHECK_EQ(bad_vector, 0);
  CHECK_EQ(pic_isr_in, 0x01);
  CHECK_EQ(pic_isr_after, 0);
  CHECK_EQ(lapic_isr_in, 0);
}

/* Linux's one-shot clockevent: channel 0 in mode 4 (pit_set_oneshot writes 0x38), HLT until
 * its strobe arrives as IRQ 0; the strobe comes once */
static void pic_pit_oneshot_hlt(void) {
  lapic_write(APIC_LVT_LINT0, LINT_EXTINT);
  pic_init(0xfe, 0xff);
  outb(0x43, 0x38);
  outb(0x40, 0x00);
  outb(0x40, 0x10);                   /* 4096 clocks: 3.4 ms */
  asm volatile("sti; hlt; cli" ::: "memory");
  u64 woke = count;
  sti();
  for (long i = 0; i < 200000; i++) asm volatile("pause");
  cli();
  outb(0x21, 0xff);
  CHECK_EQ(woke, 1);
  CHECK_EQ(count, 1);
  CHECK_EQ(bad_vector, 0);
}

/* LINT0 masked: the PIC's request waits; unmasking LINT0 lets it in */
static void pic_lint0_gates(void) {
  pic_init(0xfe, 0xff);
  pit_periodic(PIT_COUNT);
  sti();
  for (long i = 0; i < 2000000 && (outb(0x20, 0x0a), !(inb(0x20) & 1)); i++) asm volatile("pause");
  u8 irr = inb(0x20);
  for (long i = 0; i < 100000; i++) asm volatile("pause");
  u64 before = count;
  lapic_write(APIC_LVT_LINT0, LINT_EXTINT);
  int ok = wait_count(1);
  cli();
  pit_stop();
  outb(0x21, 0xff);
  CHECK(irr & 1, "IRR %#x: IRQ 0 not requested", irr);
  CHECK_EQ(before, 0);
  CHECK(ok, "no interrupt after LINT0 was unmasked");
  CHECK_EQ(bad_vector, 0);
}

/* pit_calibrate_tsc: channel 2 in mode 0, gate on through port 0x61, poll OUT2 (bit 5) */
static void pit_channel2_poll(void) {
  outb(0x61, (inb(0x61) & ~0x02) | 0x01);
  outb(0x43, 0xb0);
  u16 latch = 1193182 / 200;          /* 5 ms (Linux uses 10 to 50 ms) */
  outb(0x42, latch & 0xff);
  outb(0x42, latch >> 8);
  outb(0x43, 0xe8);                   /* read-back: status of channel 2 */
  u8 st = inb(0x42);
  u64 t0 = rdtsc(), polls = 0;
  while (!(inb(0x61) & 0x20) && polls < 100000000ul) polls++;
  u64 dt = rdtsc() - t0;
  outb(0x43, 0xe8);
  u8 st2 = inb(0x42);
  outb(0x43, 0x80);                   /* counter latch: mode 0 wraps on after terminal count */
  u16 c = inb(0x42);
  c |= inb(0x42) << 8;
  outb(0x61, inb(0x61) & ~0x03);
  CHECK_EQ(st & 0xbf, 0x30);          /* OUT low, lo/hi, mode 0, binary (null count may show) */
  CHECK_EQ(st2 & 0xbf, 0xb0);         /* OUT high */
  CHECK(polls > 100, "OUT2 rose after %lu polls", polls);
  CHECK(c == 0 || c > latch, "count %#x after terminal count: want 0 or a wrapped count", c);
  u64 khz = dt / 5;                   /* TSC kHz */
  CHECK(khz > 100000 && khz < 20000000, "TSC calibrated at %lu kHz", khz);
  printf("  pit_channel2_poll: %lu polls, TSC %lu kHz\n", polls, khz);
}

/* latches and read-back in mode 3 (the count goes down by 2) */
static void pit_latch_readback(void) {
  outb(0x61, (inb(0x61) & ~0x02) | 0x01);
  outb(0x43, 0xb6);                   /* channel 2, lo/hi, mode 3 */
  outb(0x42, 0x34);
  outb(0x42, 0x12);
  for (int i = 0; i < 1000; i++) asm volatile("pause");
  outb(0x43, 0xc8);                   /* read-back count and status of channel 2 */
  u8 st = inb(0x42);
  u16 c = inb(0x42);
  c |= inb(0x42) << 8;
  outb(0x43, 0x80);
  u16 c2 = inb(0x42);
  c2 |= inb(0x42) << 8;
  outb(0x61, inb(0x61) & ~0x03);
  CHECK_EQ(st & 0x3f, 0x36);
  CHECK(c <= 0x1234 && (c & 1) == 0, "mode 3 count %#x", c);
  CHECK(c2 <= 0x1234 && (c2 & 1) == 0, "mode 3 count %#x", c2);
}

static int bcd_ok(u8 v, int max) { return (v & 0xf) < 10 && (v >> 4) < 10 && (v >> 4) * 10 + (v & 0xf) <= max; }

static void rtc_time(void) {
  for (long i = 0; i < SPIN && (cmos_read(0x0a) & 0x80); i++) {
  }
  u8 s = cmos_read(0), m = cmos_read(2), h = cmos_read(4), d = cmos_read(7), mo = cmos_read(8),
     y = cmos_read(9), c = cmos_read(0x32), b = cmos_read(0x0b);
  CHECK_EQ(cmos_read(0x0d), 0x80);
  CHECK_EQ(cmos_read(0x0a) & 0x7f, 0x26);
  CHECK_EQ(b & 0x06, 0x02);           /* BCD, 24-hour */
  CHECK(bcd_ok(s, 59) && bcd_ok(m, 59) && bcd_ok(h, 23), "time %02x:%02x:%02x", h, m, s);
  CHECK(bcd_ok(d, 31) && d && bcd_ok(mo, 12) && mo && bcd_ok(y, 99), "date %02x-%02x-%02x", y, mo, d);
  CHECK_EQ(c, 0x20);
  printf("  rtc_time: %02x%02x-%02x-%02x %02x:%02x:%02x\n", c, y, mo, d, h, m, s);
}

/* the periodic interrupt on IRQ 8, through the slave PIC and the cascade on IR2 */
static void rtc_periodic_cascade(void) {
  lapic_write(APIC_LVT_LINT0, LINT_EXTINT);
  pic_init(0xfb, 0xfe);
  rtc_periodic(1);
  sti();
  int ok = wait_count(4);
  cli();
  rtc_periodic(0);
  pic_init(0xff, 0xff);
  CHECK(ok, "%lu RTC interrupts, want 4", count);
  CHECK_EQ(bad_vector, 0);
  CHECK(reg_c & 0xc0, "register C %#lx: no IRQF|PF", reg_c);
  CHECK_EQ(pic_isr_in, 0x0401);      /* slave IR0, master IR2 */
  CHECK_EQ(pic_isr_after, 0);
}

static void ioapic_id_version(void) {
  u32 v = ioapic_read(1);
  CHECK(((v >> 16) & 0xff) == 0x17, "version %#x: want 24 entries", v);
  CHECK((v & 0xff) == 0x11 || (v & 0xff) == 0x20, "version %#x", v);
  ioapic_write(0x10 + 2 * 5, 0x1a0ee);
  CHECK_EQ(ioapic_read(0x10 + 2 * 5), 0x1a0ee);
  ioapic_mask(5);
}

/* IRQ 0 on I/O APIC pin 2 (the ISA override), edge-triggered, with the PIC masked */
static void ioapic_pit_edge(void) {
  pic_init(0xff, 0xff);
  ioapic_route(2, VEC_IO_PIT, lapic_id());
  pit_periodic(PIT_COUNT);
  sti();
  int ok = wait_count(3);
  cli();
  pit_stop();
  ioapic_mask(2);
  CHECK(ok, "%lu interrupts through the I/O APIC, want 3", count);
  CHECK_EQ(bad_vector, 0);
  CHECK_EQ(lapic_isr_in, 1);
  CHECK_EQ(tmr_in, 0);
}

/* the RTC on pin 8, level-triggered: remote IRR until the EOI */
static void ioapic_rtc_level(void) {
  pic_init(0xff, 0xff);
  ioapic_route(8, VEC_IO_RTC | (1u << 15), lapic_id());
  rtc_periodic(1);
  sti();
  int ok = wait_count(3);
  cli();
  rtc_periodic(0);
  ioapic_mask(8);
  CHECK(ok, "%lu RTC interrupts through the I/O APIC, want 3", count);
  CHECK_EQ(bad_vector, 0);
  CHECK_EQ(remote_in, 1);
  CHECK_EQ(remote_after, 0);
  CHECK_EQ(tmr_in, 1);
  CHECK(reg_c & 0xc0, "register C %#lx", reg_c);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(pic_init_sequence),
  T(pic_pit_irq0),
  T(pic_pit_oneshot_hlt),
  T(pic_lint0_gates),
  T(pit_channel2_poll),
  T(pit_latch_readback),
  T(rtc_time),
  T(rtc_periodic_cascade),
  T(ioapic_id_version),
  T(ioapic_pit_edge),
  T(ioapic_rtc_level),
};
const int ntests = ARRAY_SIZE(tests);
