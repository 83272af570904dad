/*
 * A freestanding static program (no libc, no x87/SSE: -mgeneral-regs-only) that checks the
 * userland kernel's Linux ABI from the inside: the initial stack and auxiliary vector, SYSCALL
 * register preservation, and each system call glibc relies on, with its Linux error returns.
 * It prints one line per check ("name ok" or "name BAD detail") and exits with the number of
 * failures. argv[1] picks a deliberate fault at the end: "pf" writes to a page made read-only by
 * mprotect (the kernel must report #PF with that CR2 and error P|W|U), "ud" executes UD2, "gp"
 * CLI (#GP(0) at CPL 3 with IOPL 0), "xm"
 * divides by zero with MXCSR.ZM clear (#XF), "mf" with the x87 FCW.ZM clear (#MF).
 * It runs on worldswitch before x87/SSE exist there, and is written for the userland kernel
 * only (natively, its envp and auxv checks would not hold).
 */
typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned char u8;

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  long r;
  asm volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return r;
}
#define sys(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)

static u64 slen(const char *s) {
  u64 n = 0;
  while (s[n]) n++;
  return n;
}
static int seq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}
static void out(const char *s) { sys(1, 1, s, slen(s)); }
static void hex(u64 v) {
  char b[19] = "0x";
  int n = 2;
  for (int sh = 60; sh >= 0; sh -= 4) {
    int d = (v >> sh) & 15;
    if (d || n > 2 || sh == 0) b[n++] = "0123456789abcdef"[d];
  }
  b[n] = 0;
  out(b);
}

static int failures;
static void check(const char *name, int ok, u64 detail) {
  out(name);
  if (ok) {
    out(" ok\n");
    return;
  }
  failures++;
  out(" BAD ");
  hex(detail);
  out("\n");
}

extern char _start[];
static u64 *entry_sp;
static u8 tls_block[64] __attribute__((aligned(16))) = { 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };

static u64 auxv(u64 *av, u64 type) {
  for (; av[0]; av += 2) if (av[0] == type) return av[1];
  return ~0ul;
}

/* every register but RAX, RCX and R11 survives a system call (getpid) */
static int regs_preserved(void) {
  u64 bad;
  asm volatile(
      "push %%rbx; push %%rbp; push %%r12; push %%r13; push %%r14; push %%r15\n\t"
      "mov $0x1111, %%rbx; mov $0x2222, %%rbp; mov $0x3333, %%rdx; mov $0x4444, %%rsi\n\t"
      "mov $0x5555, %%rdi; mov $0x6666, %%r8; mov $0x7777, %%r9; mov $0x8888, %%r10\n\t"
      "mov $0x9999, %%r12; mov $0xaaaa, %%r13; mov $0xbbbb, %%r14; mov $0xcccc, %%r15\n\t"
      "mov $39, %%eax; syscall\n\t"
      "xor %%eax, %%eax\n\t"
      "cmp $0x1111, %%rbx; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0x2222, %%rbp; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0x3333, %%rdx; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0x4444, %%rsi; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0x5555, %%rdi; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0x6666, %%r8; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0x7777, %%r9; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0x8888, %%r10; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0x9999, %%r12; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0xaaaa, %%r13; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0xbbbb, %%r14; setne %%cl; or %%cl, %%al\n\t"
      "cmp $0xcccc, %%r15; setne %%cl; or %%cl, %%al\n\t"
      "pop %%r15; pop %%r14; pop %%r13; pop %%r12; pop %%rbp; pop %%rbx"
      : "=a"(bad) :: "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
  return bad == 0;
}

static void run(void) {
  u64 *sp = entry_sp;
  long argc = (long)sp[0];
  char **argv = (char **)(sp + 1);
  char **envp = argv + argc + 1;
  u64 n_env = 0;
  while (envp[n_env]) n_env++;
  u64 *av = (u64 *)(envp + n_env + 1);
  check("stack aligned", ((u64)sp & 15) == 0, (u64)sp);
  check("argc", argc >= 1 && argv[argc] == 0, argc);
  check("envp", n_env == 1 && seq(envp[0], "LANG=C"), n_env);
  check("AT_PAGESZ", auxv(av, 6) == 4096, auxv(av, 6));
  check("AT_ENTRY", auxv(av, 9) == (u64)_start, auxv(av, 9));
  u64 phdr = auxv(av, 3), phnum = auxv(av, 5);
  check("AT_PHENT", auxv(av, 4) == 56, auxv(av, 4));
  check("AT_PHDR", phdr != ~0ul && phnum >= 1 && phnum < 32 && *(u32 *)phdr <= 7, phdr);
  u8 *rnd = (u8 *)auxv(av, 25);
  u64 rsum = 0;
  if (rnd != (u8 *)~0ul) for (int i = 0; i < 16; i++) rsum += rnd[i];
  check("AT_RANDOM", rnd != (u8 *)~0ul && rsum != 0, (u64)rnd);
  const char *plat = (const char *)auxv(av, 15);
  check("AT_PLATFORM", plat != (const char *)~0ul && seq(plat, "x86_64"), (u64)plat);
  u32 a, b, c, d;
  asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
  check("AT_HWCAP", auxv(av, 16) == d, auxv(av, 16));
  check("AT_SECURE", auxv(av, 23) == 0 && auxv(av, 11) == 0 && auxv(av, 12) == 0, auxv(av, 23));
  const char *execfn = (const char *)auxv(av, 31);
  check("AT_EXECFN", execfn != (const char *)~0ul && seq(execfn, argv[0]), (u64)execfn);

  check("registers", regs_preserved(), 0);
  long r = sys(1, 1, "write\n", 6);
  check("write", r == 6, r);
  r = sys(1, 5, "x", 1);
  check("write EBADF", r == -9, r);
  r = sys(1, 1, 0x1000, 1);
  check("write EFAULT", r == -14, r);
  struct { const char *p; u64 n; } iov[3] = { { "wri", 3 }, { "tev", 3 }, { "\n", 1 } };
  r = sys(20, 1, iov, 3);
  check("writev", r == 7, r);

  u64 brk0 = (u64)sys(12, 0, 0, 0);
  check("brk(0)", brk0 > (u64)_start && (brk0 & 4095) == 0, brk0);
  r = sys(12, brk0 + 10000, 0, 0);
  check("brk grow", (u64)r == brk0 + 10000, r);
  u8 *h = (u8 *)brk0;
  int zero = 1;
  for (int i = 0; i < 10000; i++) zero &= h[i] == 0, h[i] = 0xab;
  check("brk zeroed", zero, 0);
  r = sys(12, brk0, 0, 0);
  check("brk shrink", (u64)r == brk0, r);
  r = sys(12, brk0 + 100, 0, 0);
  check("brk regrow zeroed", (u64)r == brk0 + 100 && h[0] == 0 && h[99] == 0, r);
  r = sys(12, 0x7fff00000000ul, 0, 0);
  check("brk refused", (u64)r == brk0 + 100, r);

  u8 *m = (u8 *)sys6(9, 0, 3 * 4096, 3, 0x22, -1, 0);
  check("mmap", ((u64)m & 4095) == 0 && (long)m > 0, (u64)m);
  zero = 1;
  for (int i = 0; i < 3 * 4096; i++) zero &= m[i] == 0, m[i] = (u8)i;
  check("mmap zeroed", zero, 0);
  u8 *m2 = (u8 *)sys6(9, 0, 4096, 3, 0x22, -1, 0);
  check("mmap again", m2 != m && (long)m2 > 0 && (m2 >= m + 3 * 4096 || m2 + 4096 <= m), (u64)m2);
  r = sys6(9, 0, 4096, 3, 0x02, 3, 0);
  check("mmap file EBADF", r == -9, r);
  r = sys(11, m2, 4096, 0);
  check("munmap", r == 0, r);
  r = sys(10, m + 4096, 4096, 1);
  check("mprotect", r == 0 && m[4096 + 5] == 5, r);
  r = sys(10, 0x7e0000000000ul, 4096, 1);
  check("mprotect ENOMEM", r == -12, r);

  r = sys(158, 0x1002, tls_block, 0);
  u64 fs8, getfs = 0;
  asm volatile("mov %%fs:8, %0" : "=r"(fs8));
  check("arch_prctl SET_FS", r == 0 && fs8 == 0x8877665544332211ul, fs8);
  r = sys(158, 0x1003, &getfs, 0);
  check("arch_prctl GET_FS", r == 0 && getfs == (u64)tls_block, getfs);
  r = sys(158, 0x9999, 0, 0);
  check("arch_prctl EINVAL", r == -22, r);

  char uts[6 * 65];
  r = sys(63, uts, 0, 0);
  check("uname", r == 0 && seq(uts, "Linux") && seq(uts + 4 * 65, "x86_64"), r);
  u8 rb[16] = { 0 };
  r = sys(318, rb, 16, 0);
  check("getrandom", r == 16, r);
  u8 st[144];
  r = sys6(262, 1, (long)"", (long)st, 0x1000, 0, 0);
  check("newfstatat", r == 0 && (*(u32 *)(st + 24) & 0170000) == 0020000, r);
  r = sys(5, 2, st, 0);
  check("fstat", r == 0 && (*(u32 *)(st + 24) & 0170000) == 0020000, r);
  r = sys(5, 9, st, 0);
  check("fstat EBADF", r == -9, r);
  r = sys(16, 1, 0x5401, st);
  check("ioctl ENOTTY", r == -25, r);
  u64 lim[2] = { 0, 0 };
  r = sys6(302, 0, 3, 0, (long)lim, 0, 0);
  check("prlimit64", r == 0 && lim[0] == 8ul << 20, lim[0]);
  r = sys6(267, -100, (long)"/proc/self/exe", (long)uts, 64, 0, 0);
  check("readlinkat", r == -2, r);
  r = sys6(334, (long)st, 32, 0, 0x53053053, 0, 0);
  check("rseq", r == -38, r);
  r = sys(218, st, 0, 0);
  check("set_tid_address", r > 0, r);
  r = sys(273, st, 24, 0);
  check("set_robust_list", r == 0, r);
  u64 ts[2] = { 0, 0 };
  r = sys(228, 1, ts, 0);
  check("clock_gettime", r == 0 && ts[1] < 1000000000ul, r);
  r = sys(500, 0, 0, 0);
  check("unknown ENOSYS", r == -38, r);

  if (argc > 1 && seq(argv[1], "pf")) {
    out("fault: write to ");
    hex((u64)(m + 4096 + 8));
    out("\n");
    *(volatile u8 *)(m + 4096 + 8) = 1;
    out("no fault\n");
  }
  if (argc > 1 && seq(argv[1], "ud")) {
    out("fault: ud2\n");
    asm volatile("ud2");
  }
  if (argc > 1 && seq(argv[1], "gp")) {
    out("fault: cli at CPL 3\n");   /* IOPL 0: #GP(0) (APM Vol. 3, CLI) */
    asm volatile("cli");
  }
  if (argc > 1 && seq(argv[1], "xm")) {
    /* MXCSR.ZM clear, then DIVSD by zero: #XF (vector 19; APM Vol. 2, 8.2.20) */
    out("fault: divsd by zero, ZM unmasked\n");
    u32 mx = 0x1f80 & ~0x200u;
    asm volatile("ldmxcsr %0; pxor %%xmm1, %%xmm1; mov $1, %%eax; cvtsi2sd %%eax, %%xmm0; divsd %%xmm1, %%xmm0"
                 :: "m"(mx) : "rax");  /* the program keeps nothing in XMM (-mgeneral-regs-only) */
  }
  if (argc > 1 && seq(argv[1], "mf")) {
    /* FCW.ZM clear, FDIV by zero sets ES; the next waiting x87 instruction takes #MF (vector
     * 16, CR0.NE=1; APM Vol. 2, 8.2.17) */
    out("fault: fdiv by zero, ZM unmasked\n");
    unsigned short cw = 0x37f & ~4;
    asm volatile("fldcw %0; fld1; fldz; fdivrp; fwait" :: "m"(cw));
  }
  out(failures ? "abi: failures\n" : "abi: all ok\n");
  sys(231, failures, 0, 0);
}

__attribute__((used)) static void start_c(u64 *sp) {
  entry_sp = sp;
  run();
}

asm(".globl _start\n"
    "_start:\n\t"
    "mov %rsp, %rdi\n\t"
    "and $-16, %rsp\n\t"
    "call start_c\n\t"
    "hlt\n");
