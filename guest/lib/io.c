/* COM1 output (16550, polled) and printf on it; the formatting is fmt.c. */
#include "rt.h"

#define COM1 0x3f8
#define LSR_THRE 0x20

void uart_init(void) {
  outb(COM1 + 1, 0x00);  /* IER: no interrupts */
  outb(COM1 + 3, 0x80);  /* LCR: DLAB to set the divisor */
  outb(COM1 + 0, 0x01);  /* 115200 baud */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03);  /* 8N1 */
  outb(COM1 + 2, 0x07);  /* FCR: enable and clear the FIFOs */
  outb(COM1 + 4, 0x03);  /* MCR: DTR, RTS */
}

/* The firmware may leave the 8259 PICs unmasked at vector 8 (the PIT on IRQ 0 would arrive as
 * a fake #DF once IF=1): move them to 0x20..0x2f and mask every line. */
void pic_disable(void) {
  outb(0x20, 0x11);  /* ICW1: edge, cascade, ICW4 follows */
  outb(0xa0, 0x11);
  outb(0x21, 0x20);  /* ICW2: vector base */
  outb(0xa1, 0x28);
  outb(0x21, 0x04);  /* ICW3: slave on IRQ 2 */
  outb(0xa1, 0x02);
  outb(0x21, 0x01);  /* ICW4: 8086 mode */
  outb(0xa1, 0x01);
  outb(0x21, 0xff);  /* OCW1: mask all */
  outb(0xa1, 0xff);
}

void putc(char c) {
  if (c == '\n') putc('\r');
  while (!(inb(COM1 + 5) & LSR_THRE)) {
  }
  outb(COM1, (u8)c);
}

void puts(const char *s) {
  while (*s) putc(*s++);
}

int printf(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  puts(buf);
  return n;
}
