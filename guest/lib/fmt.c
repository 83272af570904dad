/* Formatting, memory and strings (fmt.h). */
#include "fmt.h"

#define va_start __builtin_va_start
#define va_end __builtin_va_end
#define va_arg __builtin_va_arg

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
