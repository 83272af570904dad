/*
 * Native side of the host-CPU differential test (test/hostcpu).
 *
 * Runs single x86-64 instructions on the host CPU in user mode and reports the state after
 * them. The code page and the scratch buffer sit at fixed low addresses given on the command
 * line, so the emulator can place the same bytes at the same guest addresses and every address
 * (RIP, pointers into the buffer, pushed return addresses) compares directly.
 *
 * The scratch window straddles a page boundary (two pages are mapped), so accesses that cross
 * pages are compared too. GS is given a base (user code may set it; glibc does not use it) so
 * GS-relative operands can reach the window.
 *
 * How one case runs: the code page is filled with INT3 and the instruction is copied to its
 * middle; an assembly stub loads RFLAGS and all sixteen general registers (RSP included) and
 * jumps to it. Whatever happens next ends in a signal: the INT3 after the instruction (or at a
 * branch target), or the instruction's own fault (#DE, #UD, #GP, #SS, #PF, ...). The handler
 * runs on an alternate signal stack, so the guest RSP may point anywhere (into the scratch
 * buffer for stack instructions) and nothing is written below it. The handler copies the
 * registers, RFLAGS, RIP and the trap number from the signal context and returns to the driver
 * with siglongjmp, which also restores the driver's own callee-saved registers and stack.
 *
 * FP mode (`run ... fp`): every record also carries a 512-byte FXSAVE image (x87 FCW/FSW/FTW/
 * FOP/FIP/FDP/ST0-7, MXCSR, XMM0-15). The entry stub loads it with FXRSTOR64 just before the
 * instruction; the handler copies the first 512 bytes of the signal context's fpstate (the
 * kernel saves the interrupted FPU state there in FXSAVE layout, the legacy area of its XSAVE
 * frame) into the result. A case ending in #XM arrives as SIGFPE with trapno 19 and the MXCSR
 * flags the instruction set. Forms without FP state use the plain mode and records.
 *
 * Usage:
 *   harness info                      prints "vendor <id>" and "features <list>"
 *   harness run <codeAddr> <bufAddr> <gsBase> [fp]
 *                                     binary cases on stdin, binary results on stdout
 * Record layouts: see struct in_case / struct out_case (little-endian, packed by hand).
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/prctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define MEMSZ 256       /* compared scratch window at bufAddr */
#define PAGE 4096
#define BUFPAGES 2      /* the pages holding the window */
#define CODE_OFF 0x800  /* the instruction sits mid-page so short branches both ways land in INT3s */

struct in_case {
  uint8_t code[16];
  uint32_t len;
  uint32_t pad;
  uint64_t regs[16];    /* RAX RCX RDX RBX RSP RBP RSI RDI R8..R15 */
  uint64_t rflags;      /* only the status flags and DF are used */
  uint8_t mem[MEMSZ];
};

struct out_case {
  uint32_t sig;         /* signal that ended the case */
  uint32_t trapno;      /* CPU vector from the signal context */
  uint64_t rip;
  uint64_t err;
  uint64_t regs[16];
  uint64_t rflags;
  uint32_t outside;     /* nonzero bytes left in the mapped pages outside the window */
  uint32_t pad;
  uint8_t mem[MEMSZ];
};

#define FXSZ 512        /* the FXSAVE image that follows each record in FP mode */

_Static_assert(sizeof(struct in_case) == 16 + 8 + 128 + 8 + MEMSZ, "in_case layout");
_Static_assert(sizeof(struct out_case) == 24 + 128 + 8 + 8 + MEMSZ, "out_case layout");

/* what the entry stub loads: regs[16] then RFLAGS; RAX and the jump target go through fixed
 * slots because the stub needs RAX as its pointer until the end */
struct guest_state {
  uint64_t regs[16];
  uint64_t rflags;
};

static struct guest_state gs;
static struct out_case *cur;
static sigjmp_buf jb;
uint64_t hc_rax_slot;
uint64_t hc_target_slot;
/* FP mode: the FXSAVE image FXRSTOR64 loads before the instruction (0: none) */
uint64_t hc_fx_slot;
static int fpMode;
static uint8_t fxOut[FXSZ];
static uint8_t fxIn[FXSZ] __attribute__((aligned(16)));

void hc_enter(struct guest_state *s);
__asm__(
  ".text\n"
  ".globl hc_enter\n"
  "hc_enter:\n"
  "  mov %rdi, %rax\n"
  "  mov hc_fx_slot(%rip), %rcx\n"
  "  test %rcx, %rcx\n"
  "  jz 1f\n"
  "  fxrstor64 (%rcx)\n"
  "1:\n"
  "  pushq 128(%rax)\n"
  "  popfq\n"
  "  mov 8(%rax), %rcx\n"
  "  mov 16(%rax), %rdx\n"
  "  mov 24(%rax), %rbx\n"
  "  mov 32(%rax), %rsp\n"
  "  mov 40(%rax), %rbp\n"
  "  mov 48(%rax), %rsi\n"
  "  mov 56(%rax), %rdi\n"
  "  mov 64(%rax), %r8\n"
  "  mov 72(%rax), %r9\n"
  "  mov 80(%rax), %r10\n"
  "  mov 88(%rax), %r11\n"
  "  mov 96(%rax), %r12\n"
  "  mov 104(%rax), %r13\n"
  "  mov 112(%rax), %r14\n"
  "  mov 120(%rax), %r15\n"
  "  mov hc_rax_slot(%rip), %rax\n"
  "  jmp *hc_target_slot(%rip)\n");

static void on_signal(int sig, siginfo_t *si, void *ucv) {
  (void)si;
  ucontext_t *uc = (ucontext_t *)ucv;
  greg_t *g = uc->uc_mcontext.gregs;
  static const int order[16] = {
    REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
    REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
  };
  for (int k = 0; k < 16; k++) cur->regs[k] = (uint64_t)g[order[k]];
  cur->rflags = (uint64_t)g[REG_EFL];
  cur->rip = (uint64_t)g[REG_RIP];
  cur->trapno = (uint32_t)g[REG_TRAPNO];
  cur->err = (uint64_t)g[REG_ERR];
  cur->sig = (uint32_t)sig;
  if (fpMode) {
    if (uc->uc_mcontext.fpregs != NULL) memcpy(fxOut, uc->uc_mcontext.fpregs, FXSZ);
    else memset(fxOut, 0xee, FXSZ);
  }
  siglongjmp(jb, 1);
}

static void features(void) {
  unsigned a, b, c, d;
  char vendor[13];
  __cpuid(0, a, b, c, d);
  unsigned maxLeaf = a;
  memcpy(vendor, &b, 4);
  memcpy(vendor + 4, &d, 4);
  memcpy(vendor + 8, &c, 4);
  vendor[12] = 0;
  printf("vendor %s\n", vendor);
  printf("features");
  __cpuid(1, a, b, c, d);
  if (c & (1u << 23)) printf(" popcnt");
  if (c & (1u << 13)) printf(" cx16");
  if (c & 1u) printf(" sse3");
  if (c & (1u << 9)) printf(" ssse3");
  if (c & (1u << 19)) printf(" sse41");
  if (maxLeaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    if (b & (1u << 3)) printf(" bmi1");
  }
  __cpuid(0x80000000, a, b, c, d);
  if (a >= 0x80000001) {
    __cpuid(0x80000001, a, b, c, d);
    if (c & (1u << 5)) printf(" lzcnt");
    if (c & 1u) printf(" lahf");
  }
  printf("\n");
}

static void die(const char *m) {
  perror(m);
  exit(2);
}

static void *map_fixed(uint64_t addr, size_t len, int prot) {
  void *p = mmap((void *)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED || (uint64_t)p != addr) die("mmap at fixed address");
  return p;
}

static int read_all(void *dst, size_t n) {
  uint8_t *p = dst;
  while (n > 0) {
    ssize_t r = read(0, p, n);
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static void write_all(const void *src, size_t n) {
  const uint8_t *p = src;
  while (n > 0) {
    ssize_t r = write(1, p, n);
    if (r <= 0) die("write");
    p += r;
    n -= (size_t)r;
  }
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "info") == 0) {
    features();
    return 0;
  }
  if (argc < 5 || strcmp(argv[1], "run") != 0) {
    fprintf(stderr, "usage: harness info | harness run <codeAddr> <bufAddr> <gsBase> [fp]\n");
    return 2;
  }
  uint64_t codeAddr = strtoull(argv[2], NULL, 0);
  uint64_t bufAddr = strtoull(argv[3], NULL, 0);
  uint64_t gsBase = strtoull(argv[4], NULL, 0);
  fpMode = argc >= 6 && strcmp(argv[5], "fp") == 0;
  uint8_t *code = map_fixed(codeAddr, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC);
  uint8_t *region = map_fixed(bufAddr & ~(uint64_t)(PAGE - 1), BUFPAGES * PAGE, PROT_READ | PROT_WRITE);
  uint8_t *buf = (uint8_t *)(uintptr_t)bufAddr;
  size_t winOff = (size_t)(buf - region);
  if (winOff + MEMSZ > BUFPAGES * PAGE) { fprintf(stderr, "window outside the mapped pages\n"); return 2; }
  memset(code, 0xcc, PAGE);
  if (syscall(SYS_arch_prctl, ARCH_SET_GS, gsBase) != 0) die("arch_prctl(ARCH_SET_GS)");

  static uint8_t altstack[1 << 16];
  stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  /* NODEFER: the handler leaves by siglongjmp without restoring a mask, so nothing may stay
   * blocked; ONSTACK: never touch the guest's stack */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  int sigs[] = { SIGILL, SIGSEGV, SIGFPE, SIGBUS, SIGTRAP };
  for (unsigned k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
    if (sigaction(sigs[k], &sa, NULL) != 0) die("sigaction");
  }
  uint32_t count;
  if (read_all(&count, 4) != 0) die("read count");
  /* a runaway case (an endless loop) kills the process instead of hanging the test */
  alarm(30 + count / 1000);
  static struct in_case in;
  static struct out_case out;
  for (uint32_t n = 0; n < count; n++) {
    if (read_all(&in, sizeof in) != 0) die("read case");
    if (in.len > 16) { fprintf(stderr, "case %u: bad length\n", n); return 2; }
    if (fpMode && read_all(fxIn, FXSZ) != 0) die("read FXSAVE image");
    memcpy(code + CODE_OFF, in.code, in.len);
    memcpy(buf, in.mem, MEMSZ);
    memset(&out, 0, sizeof out);
    cur = &out;
    memcpy(gs.regs, in.regs, sizeof gs.regs);
    /* status flags and DF from the case; bit 1 and IF as user mode has them */
    gs.rflags = (in.rflags & 0xcd5) | 0x202;
    hc_rax_slot = in.regs[0];
    hc_target_slot = codeAddr + CODE_OFF;
    hc_fx_slot = fpMode ? (uint64_t)(uintptr_t)fxIn : 0;
    if (fpMode) memset(fxOut, 0, FXSZ);
    if (sigsetjmp(jb, 0) == 0) hc_enter(&gs);
    if (fpMode) {
      /* the driver's own FP environment back to the defaults (the handler ran with the
       * kernel's initial FPU state; be explicit anyway) */
      __asm__ volatile("fninit");
      __builtin_ia32_ldmxcsr(0x1f80);
    }
    memcpy(out.mem, buf, MEMSZ);
    uint32_t outside = 0;
    for (size_t k = 0; k < BUFPAGES * PAGE; k++) {
      if (k >= winOff && k < winOff + MEMSZ) continue;
      if (region[k] != 0) { outside++; region[k] = 0; }
    }
    out.outside = outside;
    memset(code + CODE_OFF, 0xcc, 16);
    write_all(&out, sizeof out);
    if (fpMode) write_all(fxOut, FXSZ);
  }
  return 0;
}
