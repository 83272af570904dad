/* The VMM's output and exit, over the kernel's system calls. */
#include "vmm.h"

int printf(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  syscall2(SYS_WRITE, (long)buf, n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1);
  return n;
}

void vmm_exit(int status) {
  syscall1(SYS_EXIT, status);
  for (;;) {
  }
}

void __stack_chk_fail(void) {
  printf("VMM: stack protector: canary at %%fs:0x28 changed (FS base not the VMM's?)\nRESULT fail\n");
  vmm_exit(2);
}
