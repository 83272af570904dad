/* The C library of the kernel and the VMM: guest/lib/fmt.c (formatting, memory, strings) and opts.c. */
#ifndef LIB_H
#define LIB_H
#include "uapi.h"

#define NULL ((void *)0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define offsetof(t, f) __builtin_offsetof(t, f)
typedef __builtin_va_list va_list;
#define va_start __builtin_va_start
#define va_end __builtin_va_end
#define va_arg __builtin_va_arg

int vsnprintf(char *buf, u64 size, const char *fmt, va_list ap);
int snprintf(char *buf, u64 size, const char *fmt, ...);
void *memset(void *d, int c, u64 n);
void *memcpy(void *d, const void *s, u64 n);
int memcmp(const void *a, const void *b, u64 n);
u64 strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, u64 n);
#include "opts.h"   /* strtou, opt_value, opt_word (guest/lib/opts.c) */
#endif
