/*
 * Linux x86-64 system calls for the project's freestanding programs (/init, the Linux VMM): no
 * libc. Number in RAX, arguments in RDI, RSI, RDX, R10, R8, R9; the result in RAX, -errno on
 * error (arch/x86/entry/entry_64.S). Numbers from arch/x86/entry/syscalls/syscall_64.tbl.
 */
#ifndef LINUX_SYS_H
#define LINUX_SYS_H

#define SYS_read 0
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_mmap 9
#define SYS_ioctl 16
#define SYS_pause 34
#define SYS_getpid 39
#define SYS_exit 60
#define SYS_uname 63
#define SYS_mkdir 83
#define SYS_mknod 133
#define SYS_arch_prctl 158
#define SYS_sync 162
#define SYS_mount 165
#define SYS_reboot 169
#define SYS_sched_setaffinity 203
#define SYS_sched_getaffinity 204
#define SYS_getdents64 217
#define SYS_eventfd2 290
#define SYS_getcpu 309
#define SYS_finit_module 313

#define O_RDONLY 0
#define O_RDWR 2
#define O_DIRECTORY 0200000
#define O_CLOEXEC 02000000
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_SHARED 1
#define S_IFCHR 0020000
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
/* the ELF auxiliary vector: AT_HWCAP2's bit 1 says the kernel enabled FSGSBASE for user space */
#define AT_NULL 0
#define AT_HWCAP2 26
#define HWCAP2_FSGSBASE (1 << 1)

#define LINUX_REBOOT_MAGIC1 0xfee1dead
#define LINUX_REBOOT_MAGIC2 672274793
#define LINUX_REBOOT_CMD_POWER_OFF 0x4321fedc

static inline long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}

static inline long sys6(long n, long a, long b, long c, long d, long e, long f) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return r;
}

static inline long sys5(long n, long a, long b, long c, long d, long e) { return sys6(n, a, b, c, d, e, 0); }

/* power the machine off (never returns; returning from init would panic the kernel) */
static inline void __attribute__((noreturn)) sys_poweroff(void) {
  sys3(SYS_sync, 0, 0, 0);
  sys5(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_POWER_OFF, 0, 0);
  for (;;) sys3(SYS_pause, 0, 0, 0);
}
#endif
