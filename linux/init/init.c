/*
 * The project's /init: a freestanding static Linux x86-64 program (no libc, no SSE; system
 * calls by inline asm). It prints the kernel's uname, the CPU as CPUID and /proc/cpuinfo show
 * it, then powers the machine off. The formatting is guest/lib/io.c's snprintf (linked in; its
 * port-I/O console functions are never called from here).
 *
 * Lines start with "init:" so that tests can find them in a boot log.
 */
#include "rt.h"

#include "sys.h"

static void out(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > (int)sizeof(buf) - 1) n = sizeof(buf) - 1;
  sys3(SYS_write, 1, (long)buf, n);
}

struct utsname { char sysname[65], nodename[65], release[65], version[65], machine[65], domain[65]; };

static void cpuid4(u32 leaf, u32 sub, u32 *r) { cpuid(leaf, sub, &r[0], &r[1], &r[2], &r[3]); }

static void show_cpuid(void) {
  u32 r[4];
  char vendor[13];
  cpuid4(0, 0, r);
  u32 max = r[0];
  memcpy(vendor, &r[1], 4);
  memcpy(vendor + 4, &r[3], 4);
  memcpy(vendor + 8, &r[2], 4);
  vendor[12] = 0;
  cpuid4(1, 0, r);
  u32 fam = (r[0] >> 8) & 0xf, model = (r[0] >> 4) & 0xf, step = r[0] & 0xf;
  if (fam == 0xf) fam += (r[0] >> 20) & 0xff;
  if (fam >= 6) model |= ((r[0] >> 16) & 0xf) << 4;
  out("init: cpuid vendor %s max leaf %#x family %#x model %#x stepping %u ecx %#x edx %#x\n",
      vendor, max, fam, model, step, r[2], r[3]);
  cpuid4(0x80000000, 0, r);
  if (r[0] >= 0x80000004) {
    u32 b[13];
    for (u32 k = 0; k < 3; k++) cpuid4(0x80000002 + k, 0, &b[4 * k]);
    b[12] = 0;
    const char *s = (const char *)b;
    while (*s == ' ') s++;
    out("init: cpuid brand %s\n", s);
  }
}

static char cpuinfo[16384];

/* print the lines of /proc/cpuinfo for the first processor that a test compares */
static void show_cpuinfo(void) {
  long fd = sys3(SYS_open, (long)"/proc/cpuinfo", 0, 0);
  if (fd < 0) { out("init: cannot open /proc/cpuinfo (error %ld)\n", -fd); return; }
  long len = 0;
  for (;;) {
    long n = sys3(SYS_read, fd, (long)cpuinfo + len, (long)sizeof(cpuinfo) - 1 - len);
    if (n <= 0) break;
    len += n;
  }
  sys3(SYS_close, fd, 0, 0);
  cpuinfo[len] = 0;
  static const char *const keys[] = { "vendor_id", "cpu family", "model\t", "model name", "flags", 0 };
  char *line = cpuinfo;
  while (*line) {
    char *end = line;
    while (*end && *end != '\n') end++;
    if (end == line) break; /* the blank line after the first processor */
    char save = *end;
    *end = 0;
    for (int k = 0; keys[k]; k++) {
      if (memcmp(line, keys[k], strlen(keys[k])) == 0) out("init: cpuinfo %s\n", line);
    }
    *end = save;
    line = *end ? end + 1 : end;
  }
}

void init_main(void) {
  out("init: worldswitch /init started\n");
  struct utsname u;
  if (sys3(SYS_uname, (long)&u, 0, 0) == 0) {
    out("init: uname %s %s %s %s\n", u.sysname, u.release, u.version, u.machine);
  }
  show_cpuid();
  sys3(SYS_mkdir, (long)"/proc", 0555, 0);
  long m = sys5(SYS_mount, (long)"proc", (long)"/proc", (long)"proc", 0, 0);
  if (m < 0) out("init: mount /proc failed (error %ld)\n", -m);
  else show_cpuinfo();
  out("init: powering off\n");
  sys_poweroff();
}

/* the process entry: align the stack as the ABI expects at a call and never return */
__asm__(".globl _start\n_start:\n xor %ebp, %ebp\n and $-16, %rsp\n call init_main\n ud2\n");
