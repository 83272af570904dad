/*
 * Formatting, memory and string functions for every freestanding program of the project: the
 * test kernels (guest/lib), the mini host's kernel and VMM (guest/host), the Linux /init and VMM
 * (linux/). No I/O: each program prints the result its own way (port I/O, system calls).
 */
#ifndef FMT_H
#define FMT_H
typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef __builtin_va_list va_list;

/* %d %i %u %x %X %p %s %c %%, with #, 0, -, a width and l/z */
int vsnprintf(char *buf, u64 size, const char *fmt, va_list ap);
int snprintf(char *buf, u64 size, const char *fmt, ...);
void *memset(void *d, int c, u64 n);
void *memcpy(void *d, const void *s, u64 n);
int memcmp(const void *a, const void *b, u64 n);
u64 strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, u64 n);
#endif
