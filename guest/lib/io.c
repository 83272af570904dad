/* COM1 output (16550, polled), a small printf, and the string functions gcc may call. */
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

struct out { char *buf; u64 size, len; };

static void emit(struct out *o, char c) {
  if (o->len + 1 < o->size) o->buf[o->len] = c;
  o->len++;
}

static void emit_num(struct out *o, u64 v, int base, int upper, int width, int zero, int left,
                     const char *prefix) {
  char tmp[24];
  int n = 0;
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do { tmp[n++] = digits[v % base]; v /= base; } while (v);
  int plen = (int)strlen(prefix), pad = width - n - plen;
  if (!left && !zero) for (; pad > 0; pad--) emit(o, ' ');
  while (*prefix) emit(o, *prefix++);
  if (!left && zero) for (; pad > 0; pad--) emit(o, '0');
  while (n) emit(o, tmp[--n]);
  if (left) for (; pad > 0; pad--) emit(o, ' ');
}

int vsnprintf(char *buf, u64 size, const char *fmt, va_list ap) {
  struct out o = { buf, size, 0 };
  for (; *fmt; fmt++) {
    if (*fmt != '%') { emit(&o, *fmt); continue; }
    int alt = 0, zero = 0, left = 0, width = 0, lng = 0;
    for (;; fmt++) {
      if (fmt[1] == '#') alt = 1;
      else if (fmt[1] == '0') zero = 1;
      else if (fmt[1] == '-') left = 1;
      else break;
    }
    while (fmt[1] >= '0' && fmt[1] <= '9') width = width * 10 + (*++fmt - '0');
    while (fmt[1] == 'l' || fmt[1] == 'z') { lng = 1; fmt++; }
    char c = *++fmt;
    switch (c) {
    case 'd': case 'i': {
      i64 v = lng ? va_arg(ap, i64) : va_arg(ap, int);
      emit_num(&o, v < 0 ? -(u64)v : (u64)v, 10, 0, width, zero, left, v < 0 ? "-" : "");
      break;
    }
    case 'u': case 'x': case 'X': {
      u64 v = lng ? va_arg(ap, u64) : va_arg(ap, u32);
      int base = c == 'u' ? 10 : 16;
      emit_num(&o, v, base, c == 'X', width, zero, left, alt && base == 16 ? "0x" : "");
      break;
    }
    case 'p':
      emit_num(&o, (u64)va_arg(ap, void *), 16, 0, width, zero, left, "0x");
      break;
    case 's': {
      const char *s = va_arg(ap, const char *);
      if (!s) s = "(null)";
      int pad = width - (int)strlen(s);
      if (!left) for (; pad > 0; pad--) emit(&o, ' ');
      while (*s) emit(&o, *s++);
      if (left) for (; pad > 0; pad--) emit(&o, ' ');
      break;
    }
    case 'c': emit(&o, (char)va_arg(ap, int)); break;
    case '%': emit(&o, '%'); break;
    case 0: fmt--; break;
    default: emit(&o, '%'); emit(&o, c); break;
    }
  }
  if (size) buf[o.len < size ? o.len : size - 1] = 0;
  return (int)o.len;
}

int snprintf(char *buf, u64 size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
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

void *memset(void *d, int c, u64 n) {
  u8 *p = d;
  while (n--) *p++ = (u8)c;
  return d;
}

void *memcpy(void *d, const void *s, u64 n) {
  u8 *p = d;
  const u8 *q = s;
  while (n--) *p++ = *q++;
  return d;
}

int memcmp(const void *a, const void *b, u64 n) {
  const u8 *p = a, *q = b;
  for (; n; n--, p++, q++) if (*p != *q) return *p - *q;
  return 0;
}

u64 strlen(const char *s) {
  u64 n = 0;
  while (s[n]) n++;
  return n;
}

int strcmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (u8)*a - (u8)*b;
}

int strncmp(const char *a, const char *b, u64 n) {
  for (; n; n--, a++, b++) {
    if (*a != *b) return (u8)*a - (u8)*b;
    if (!*a) return 0;
  }
  return 0;
}
