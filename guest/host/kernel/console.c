/* COM1 (16550, polled), printf, panic and the debug-exit port. */
#include "kernel.h"

#define COM1 0x3f8
#define LSR_THRE 0x20

void uart_init(void) {
  outb(COM1 + 1, 0x00);  /* no interrupts */
  outb(COM1 + 3, 0x80);  /* DLAB */
  outb(COM1 + 0, 0x01);  /* 115200 baud */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03);  /* 8N1 */
  outb(COM1 + 2, 0x07);  /* FIFOs on and cleared */
  outb(COM1 + 4, 0x03);
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

void write_console(const char *s, u64 n) {
  while (n--) putc(*s++);
}

int printf(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  puts(buf);
  return n;
}

/* 1: everything passed (QEMU exits with 3, worldswitch reports status 3), 3: failure */
void machine_exit(u32 code) {
  outl(0xf4, code);
  for (;;) asm volatile("cli; hlt");
}

void panic(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  cli();
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  puts("PANIC: ");
  puts(buf);
  puts("\n");
  machine_exit(3);
}
