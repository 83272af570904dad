/* The VMM's runtime: system calls, output, TLS. */
#ifndef VMM_H
#define VMM_H
#include "lib.h"
#include "x86.h"

static inline long syscall1(long nr, long a0) {
  long r;
  asm volatile("syscall" : "=a"(r) : "a"(nr), "D"(a0) : "rcx", "r11", "memory");
  return r;
}
static inline long syscall2(long nr, long a0, long a1) {
  long r;
  asm volatile("syscall" : "=a"(r) : "a"(nr), "D"(a0), "S"(a1) : "rcx", "r11", "memory");
  return r;
}

void vmm_exit(int status) __attribute__((noreturn));
int printf(const char *fmt, ...);

/* the VMM's thread-local block, at its FS base: a self pointer at %fs:0 and the stack
 * protector's canary at %fs:0x28, as the x86-64 ABI lays out a TCB */
struct tls { struct tls *self; u64 pad[4]; u64 canary; };
/* what the VMM's GS base points at */
struct ugs { struct ugs *self; u64 magic; };
extern struct tls vmm_tls;
extern struct ugs vmm_ugs;

static inline u64 fs_read0(void) { u64 v; asm volatile("mov %%fs:0, %0" : "=r"(v)); return v; }
static inline u64 gs_read0(void) { u64 v; asm volatile("mov %%gs:0, %0" : "=r"(v)); return v; }

/* the guest programs (guests.S) */
#define GUEST_PROG(n) extern const u8 guest_##n[], guest_##n##_end[];
GUEST_PROG(hlt) GUEST_PROG(pio) GUEST_PROG(mmio) GUEST_PROG(hypercall) GUEST_PROG(cpuid) GUEST_PROG(mix)
GUEST_PROG(wrmsr)
struct guest_prog { const char *name; const u8 *start, *end; u32 kexits; const char *what; };
extern const struct guest_prog guest_progs[];
extern const int n_guest_progs;
#endif
