/*
 * Ring 3 through SYSCALL/SYSRET (APM Vol. 2, 6.1.1; Vol. 3, SYSCALL, SYSRET, SWAPGS): STAR,
 * LSTAR and SFMASK, the state on entry and after return, SWAPGS around both, EFER.SCE, and the
 * instructions that fault at CPL 3.
 *
 * The runtime's SYSCALL entry (entry.S) swaps GS, saves the user RSP in percpu and switches to
 * the kernel stack; its frame holds RCX (user RIP) and R11 (user RFLAGS) in the rip/rflags slots.
 */
#include "rt.h"

const char kernel_name[] = "syscall";

static long sys(long nr, long a, long b) {
  long r;
  asm volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
  return r;
}

static volatile u64 k_rcx, k_r11, k_rflags, k_cs, k_ss, k_gsbase, k_kgsbase, k_rsp, k_calls;
static u64 user_gs_area[4] = { 0x1111222233334444ul, 0x5555666677778888ul };

static long handler(struct frame *f) {
  k_calls++;
  switch (f->rax) {
  case 1: return f->rdi + f->rsi;
  case 2:
    k_rcx = f->rip;
    k_r11 = f->rflags;
    k_rflags = read_rflags();
    k_cs = read_cs();
    k_ss = read_ss();
    k_gsbase = rdmsr(MSR_GS_BASE);
    k_kgsbase = rdmsr(MSR_KERNEL_GS_BASE);
    k_rsp = f->rsp;
    return 0;
  case 3:
    f->rflags = 0x2c3;  /* SF ZF CF IF: SYSRET loads RFLAGS from R11 */
    return 0;
  }
  return -1;
}

void test_setup(void) {
  set_syscall_handler(handler);
  k_rcx = k_r11 = k_rflags = k_cs = k_ss = k_gsbase = k_kgsbase = k_rsp = k_calls = 0;
}

static long u_add(long a) { return sys(1, a, 100) * 2; }

static void roundtrip_iret(void) {
  long v = 0;
  CHECK_EQ(catch_user(u_add, 5, &v), -1);
  CHECK_EQ(v, 210);
  CHECK_EQ(k_calls, 1);
}

static void roundtrip_sysret(void) {
  long v = 0;
  CHECK_EQ(catch_user_via(u_add, 7, &v, 1), -1);
  CHECK_EQ(v, 214);
  CHECK_EQ(k_calls, 1);
}

static long u_many(long n) {
  long s = 0;
  for (long i = 0; i < n; i++) s += sys(1, i, 0);
  return s;
}

static void roundtrip_many(void) {
  long v = 0;
  CHECK_EQ(catch_user(u_many, 100, &v), -1);
  CHECK_EQ(v, 4950);
  CHECK_EQ(k_calls, 100);
}

/* user probes in assembly: no instruction between entry and SYSCALL changes RFLAGS */
extern u8 after_sys_probe[];
long u_sys_probe(long);
long u_flags_after_sysret(long);
long u_read_cs(long);
long u_read_ss(long);
long u_read_gs(long);
asm(".text\n"
    "u_sys_probe:\n\tmov $2, %eax\n\tstd\n\tsyscall\n"
    ".globl after_sys_probe\nafter_sys_probe:\n\tcld\n\tret\n"
    "u_flags_after_sysret:\n\tmov $3, %eax\n\tsyscall\n\tpushfq\n\tpopq %rax\n\tret\n"
    "u_read_cs:\n\tmov $3, %eax\n\tsyscall\n\tmov %cs, %eax\n\tret\n"
    "u_read_ss:\n\tmov $3, %eax\n\tsyscall\n\tmov %ss, %eax\n\tret\n"
    "u_read_gs:\n\tmov %gs:(%rdi), %rax\n\tret\n");

static void entry_state(void) {
  user_rflags = 0x203;  /* IF CF */
  CHECK_EQ(catch_user(u_sys_probe, 0, NULL), -1);
  CHECK_EQ(k_rcx, (u64)after_sys_probe);
  CHECK_EQ(k_r11, 0x603);  /* the user's RFLAGS, DF included */
  CHECK_EQ(k_rflags & (RFLAGS_IF | RFLAGS_DF | RFLAGS_TF | RFLAGS_AC), 0);  /* SFMASK */
  CHECK_EQ(k_cs, KCS);
  CHECK_EQ(k_ss, KDS);
  CHECK(k_rsp > (u64)user_stack && k_rsp <= (u64)user_stack_top, "user RSP %#lx", k_rsp);
}

/* SYSRET: RFLAGS from R11, CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8, RPL 3 */
static void sysret_state(void) {
  long v = 0;
  CHECK_EQ(catch_user(u_flags_after_sysret, 0, &v), -1);
  CHECK_EQ(v, 0x2c3);
  CHECK_EQ(catch_user(u_read_cs, 0, &v), -1);
  CHECK_EQ(v, UCS | 3);
  CHECK_EQ(catch_user(u_read_ss, 0, &v), -1);
  CHECK_EQ(v, UDS | 3);
  /* the same entered by SYSRET (user_call) rather than IRET */
  CHECK_EQ(catch_user_via(u_read_cs, 0, &v, 1), -1);
  CHECK_EQ(v, UCS | 3);
  CHECK_EQ(catch_user_via(u_read_ss, 0, &v, 1), -1);
  CHECK_EQ(v, UDS | 3);
}

/* SWAPGS on every kernel entry and exit: user GS base in ring 3, percpu in the kernel */
static void swapgs_discipline(void) {
  long v = 0;
  wrmsr(MSR_KERNEL_GS_BASE, (u64)user_gs_area);
  CHECK_EQ(catch_user(u_read_gs, 8, &v), -1);
  CHECK_EQ(v, user_gs_area[1]);
  CHECK_EQ(rdmsr(MSR_GS_BASE), (u64)&percpu);
  CHECK_EQ(rdmsr(MSR_KERNEL_GS_BASE), (u64)user_gs_area);
  CHECK_EQ(catch_user_via(u_sys_probe, 0, NULL, 1), -1);
  CHECK_EQ(k_gsbase, (u64)&percpu);
  CHECK_EQ(k_kgsbase, (u64)user_gs_area);
  CHECK_EQ(rdmsr(MSR_GS_BASE), (u64)&percpu);
  CHECK_EQ(rdmsr(MSR_KERNEL_GS_BASE), (u64)user_gs_area);
}

static long u_sys(long nr) { return sys(nr, 0, 0); }
static void k_syscall(void *a) { (void)a; asm volatile("syscall" ::: "rcx", "r11", "memory"); }
static void k_sysret(void *a) { (void)a; asm volatile("sysretq"); }

/* EFER.SCE=0: SYSCALL and SYSRET are #UD */
static void ud_without_sce(void) {
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SCE);
  check_fault(catch_user(u_sys, 1, NULL), UD, -1);
  check_fault(catch_run(k_syscall, NULL), UD, -1);
  check_fault(catch_run(k_sysret, NULL), UD, -1);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

#define UPROBE(name, insn) static long name(long a) { (void)a; asm volatile(insn ::: "rax", "rcx", "rdx", "memory"); return 0; }
UPROBE(u_out, "outb %%al, $0x80")
UPROBE(u_in, "inb $0x80, %%al")
UPROBE(u_cli, "cli")
UPROBE(u_sti, "sti")
UPROBE(u_hlt, "hlt")
UPROBE(u_rdmsr, "mov $0xc0000080, %%ecx; rdmsr")
UPROBE(u_wrmsr, "mov $0xc0000102, %%ecx; xor %%eax, %%eax; xor %%edx, %%edx; wrmsr")
UPROBE(u_movcr3, "mov %%cr3, %%rax")
UPROBE(u_invlpg, "invlpg (%%rsp)")
UPROBE(u_sysret, "sysretq")
UPROBE(u_swapgs, "swapgs")

static void probe_gp(const char *what, long (*fn)(long)) {
  long r = catch_user(fn, 0, NULL);
  if (r != GP || last_fault.error != 0) {
    t_fail("%s at CPL 3: vector %ld error %#lx, want #GP(0)", what, r, last_fault.error);
  } else if (last_fault.cs != (UCS | 3)) {
    t_fail("%s: fault CS %#lx", what, last_fault.cs);
  }
}

/* IOPL 0 and no I/O permission bitmap in the TSS */
static void cpl3_io_gp(void) {
  probe_gp("OUT", u_out);
  probe_gp("IN", u_in);
  probe_gp("CLI", u_cli);
  probe_gp("STI", u_sti);
}

static void cpl3_privileged_gp(void) {
  probe_gp("HLT", u_hlt);
  probe_gp("RDMSR", u_rdmsr);
  probe_gp("WRMSR", u_wrmsr);
  probe_gp("MOV from CR3", u_movcr3);
  probe_gp("INVLPG", u_invlpg);
}

static void cpl3_sysret_swapgs_gp(void) {
  probe_gp("SYSRET", u_sysret);
  probe_gp("SWAPGS", u_swapgs);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(roundtrip_iret), T(roundtrip_sysret), T(roundtrip_many), T(entry_state), T(sysret_state),
  T(swapgs_discipline), T(ud_without_sce), T(cpl3_io_gp), T(cpl3_privileged_gp),
  T(cpl3_sysret_swapgs_gp),
};
const int ntests = ARRAY_SIZE(tests);
