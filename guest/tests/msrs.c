/*
 * The MSRs of an AMD family 17h part (APM Vol. 2 App. A; PPR for family 17h), the core
 * performance counters (APM Vol. 2 13.2: PERF_CTL/PERF_CTR at C001_0200, the legacy PerfEvtSel/
 * PerfCtr aliases, RDPMC with CR4.PCE, USR/OS filtering, overflow through the LAPIC's
 * performance-counter LVT), DebugCtl with last-branch recording and BTF (13.1.6), and the local
 * APIC's software disable and APIC_BASE relocation and global disable (ch. 16).
 *
 * Counts are checked exactly: a loop of `mov ecx, n; 1: dec ecx; jnz 1b` retires 2n + 1
 * instructions and n branches (n - 1 taken), so the difference between two runs of different n
 * does not depend on what the compiler put around them.
 *
 * QEMU TCG has no performance counters, DebugCtl recording, BTF or APIC relocation: those tests
 * fail there the known way (test/kernels.test.ts lists them).
 */
#include "rt.h"
#include "lapic.h"

const char kernel_name[] = "msrs";

#define PERF_CTL(n) (0xc0010200u + 2 * (n))
#define PERF_CTR(n) (0xc0010201u + 2 * (n))
#define EVTSEL_USR (1ul << 16)
#define EVTSEL_OS (1ul << 17)
#define EVTSEL_INT (1ul << 20)
#define EVTSEL_EN (1ul << 22)
#define EV_INSNS 0xc0
#define EV_CYCLES 0x76
#define EV_BRANCHES 0xc2
#define EV_TAKEN 0xc4
#define MSR_DEBUGCTL 0x1d9
#define MSR_BR_FROM 0x1db
#define MSR_BR_TO 0x1dc
#define MSR_INT_FROM 0x1dd
#define MSR_INT_TO 0x1de
#define CR4_PCE (1ul << 8)
#define APIC_LVT_PERF 0x340
#define NEW_APIC_BASE 0xfed00000ul

static void reset_pmu(void) {
  for (int k = 0; k < 6; k++) {
    wrmsr(PERF_CTL(k), 0);
    wrmsr(PERF_CTR(k), 0);
  }
  wrmsr(MSR_DEBUGCTL, 0);
}

void kernel_setup(void) { lapic_enable(); }

void test_setup(void) {
  reset_pmu();
  lapic_enable();
  lapic_write(APIC_LVT_PERF, LVT_MASKED);
}

/* ---- RDMSR / WRMSR under catch_run ---- */

struct msr_op { u32 msr; u64 value; };
static void do_rdmsr(void *a) { struct msr_op *o = a; o->value = rdmsr(o->msr); }
static void do_wrmsr(void *a) { struct msr_op *o = a; wrmsr(o->msr, o->value); }

/* -1 if RDMSR completes (value in *v), else the vector */
static long try_rdmsr(u32 msr, u64 *v) {
  struct msr_op o = { msr, 0 };
  long r = catch_run(do_rdmsr, &o);
  if (v) *v = o.value;
  return r;
}

static long try_wrmsr(u32 msr, u64 v) {
  struct msr_op o = { msr, v };
  return catch_run(do_wrmsr, &o);
}

static void amd_msrs_readable(void) {
  static const u32 msrs[] = {
    0x10, 0x1b, 0x8b, 0xfe, 0x179, 0x17a, 0x1d9, 0x1db, 0x1dc, 0x1dd, 0x1de, 0x200, 0x201, 0x20e, 0x20f,
    0x250, 0x258, 0x259, 0x268, 0x26f, 0x277, 0x2ff, 0xc0010000, 0xc0010003, 0xc0010004, 0xc0010007,
    0xc0010010, 0xc0010015, 0xc0010016, 0xc0010017, 0xc0010018, 0xc0010019, 0xc001001a, 0xc001001d,
    0xc001001f, 0xc0010112, 0xc0010113, 0xc0010114, 0xc0010117, 0xc0010140, 0xc0010141, 0xc0010200,
    0xc001020b, 0xc0011020, 0xc0011021, 0xc0011022, 0xc0011029, 0xc001102a,
  };
  for (u64 i = 0; i < ARRAY_SIZE(msrs); i++) {
    long r = try_rdmsr(msrs[i], NULL);
    if (r != -1) t_fail("RDMSR %#x: vector %ld", msrs[i], r);
  }
}

static void amd_msr_values(void) {
  u64 v;
  CHECK_EQ(rdmsr(0xfe) & 0x5ff, 0x508);               /* MTRRcap: 8 variable, fixed, WC */
  CHECK(rdmsr(0xc0010015) & (1ul << 24), "HWCR.TscFreqSel clear");
  CHECK(rdmsr(0xc0011029) & 2, "DE_CFG: LFENCE not dispatch serializing");
  CHECK_EQ(try_rdmsr(0x8b, &v), -1);
  u32 a, b, c, d;
  cpuid(0x80000001, 0, &a, &b, &c, &d);
  CHECK(c & (1u << 23), "CPUID 8000_0001 ECX.PerfCtrExtCore clear");
}

static void amd_msrs_write_read(void) {
  static const struct { u32 msr; u64 v; } w[] = {
    { 0x200, 0x0000000012345006ul }, { 0x201, 0x0000000ffff00800ul }, { 0x250, 0x0605040106060606ul },
    { 0xc0010016, 0x0000000000a00018ul }, { 0xc0010017, 0x0000000ffff00800ul },
    { 0xc001001d, 0x0000000100000000ul }, { 0xc0011020, 0x400ul }, { 0xc0010207, 0x0000123456789abcul },
    { 0xc0010200, 0x00000003004300c0ul },
  };
  for (u64 i = 0; i < ARRAY_SIZE(w); i++) {
    u64 old = rdmsr(w[i].msr), v;
    long r = try_wrmsr(w[i].msr, w[i].v);
    if (r != -1) { t_fail("WRMSR %#x: vector %ld", w[i].msr, r); continue; }
    v = rdmsr(w[i].msr);
    if (v != w[i].v) t_fail("MSR %#x reads %#lx after writing %#lx", w[i].msr, v, w[i].v);
    wrmsr(w[i].msr, old);
  }
  /* the legacy counter MSRs alias the first four core counters */
  wrmsr(PERF_CTR(2), 0x1234);
  CHECK_EQ(rdmsr(0xc0010006), 0x1234);
}

static void intel_msrs_gp(void) {
  /* IA32_FEATURE_CONTROL, SPEC_CTRL, PRED_CMD (not advertised), MISC_ENABLE */
  static const u32 msrs[] = { 0x3a, 0x48, 0x49, 0x1a0 };
  for (u64 i = 0; i < ARRAY_SIZE(msrs); i++) {
    long r = try_rdmsr(msrs[i], NULL);
    if (r != GP) t_fail("RDMSR %#x: vector %ld, want #GP", msrs[i], r);
  }
}

static void reserved_bits_gp(void) {
  long r;
  if ((r = try_wrmsr(MSR_DEBUGCTL, 4)) != GP) t_fail("DebugCtl bit 2: vector %ld, want #GP", r);
  if ((r = try_wrmsr(0x200, 2)) != GP) t_fail("MTRRphysBase0 type 2: vector %ld, want #GP", r);
  if ((r = try_wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | 1)) != GP) t_fail("APIC_BASE bit 0: vector %ld, want #GP", r);
  if ((r = try_wrmsr(0x1db, 0)) != GP) t_fail("LastBranchFromIP write: vector %ld, want #GP", r);
}

/* ---- counting ---- */

/* 2n + 1 instructions, n branches, n - 1 of them taken */
static void loop_n(u64 n) {
  asm volatile("mov %0, %%rcx\n1: dec %%rcx\njnz 1b" :: "r"(n) : "rcx", "cc");
}

static u64 ctr(int k) { return rdmsr(PERF_CTR(k)); }

static void pmc_retired_exact(void) {
  u32 lo, hi;
  /* WRMSR (enabling, counted), five NOPs, XOR: 7; RDPMC itself is not yet retired */
  asm volatile(
    "mov %[ctl], %%ecx\n"
    "mov %[sel], %%eax\n"
    "xor %%edx, %%edx\n"
    "wrmsr\n"
    "nop\nnop\nnop\nnop\nnop\n"
    "xor %%ecx, %%ecx\n"
    "rdpmc\n"
    : "=a"(lo), "=d"(hi)
    : [ctl] "i"(PERF_CTL(0)), [sel] "i"(EVTSEL_EN | EVTSEL_OS | EVTSEL_USR | EV_INSNS)
    : "rcx", "memory");
  wrmsr(PERF_CTL(0), 0);
  CHECK_EQ(((u64)hi << 32) | lo, 7);
}

/*
 * count_rdmsr(msr, n): read counter MSR `msr`, run the loop n times, read it again; returns the
 * difference. count_rdpmc(index, n) does the same with RDPMC (for CPL 3). Between the two reads
 * they retire 2n + 6 instructions (the first read included) and n branches, n - 1 taken.
 */
u64 count_rdmsr(u32 msr, u64 n);
u64 count_rdpmc(u32 index, u64 n);
asm(".text\n"
    ".globl count_rdmsr, count_rdpmc\n"
    "count_rdmsr:\n"
    "  mov %edi, %ecx\n  rdmsr\n  shl $32, %rdx\n  or %rax, %rdx\n  mov %rdx, %r8\n  mov %rsi, %rcx\n"
    "1: dec %rcx\n  jnz 1b\n"
    "  mov %edi, %ecx\n  rdmsr\n  shl $32, %rdx\n  or %rdx, %rax\n  sub %r8, %rax\n  ret\n"
    "count_rdpmc:\n"
    "  mov %edi, %ecx\n  rdpmc\n  shl $32, %rdx\n  or %rax, %rdx\n  mov %rdx, %r8\n  mov %rsi, %rcx\n"
    "1: dec %rcx\n  jnz 1b\n"
    "  mov %edi, %ecx\n  rdpmc\n  shl $32, %rdx\n  or %rdx, %rax\n  sub %r8, %rax\n  ret\n");

static void pmc_loop_exact(void) {
  wrmsr(PERF_CTL(0), EVTSEL_EN | EVTSEL_OS | EVTSEL_USR | EV_INSNS);
  wrmsr(PERF_CTL(1), EVTSEL_EN | EVTSEL_OS | EV_BRANCHES);
  wrmsr(PERF_CTL(2), EVTSEL_EN | EVTSEL_OS | EV_TAKEN);
  wrmsr(PERF_CTL(3), EVTSEL_EN | EVTSEL_USR | EV_INSNS);
  u64 i100 = count_rdmsr(PERF_CTR(0), 100), i1000 = count_rdmsr(PERF_CTR(0), 1000);
  u64 b = count_rdmsr(PERF_CTR(1), 1000), t = count_rdmsr(PERF_CTR(2), 1000);
  u64 u = count_rdmsr(PERF_CTR(3), 1000);
  /* the legacy PerfCtr0 reads the same counter */
  u64 legacy = count_rdmsr(0xc0010004, 50);
  reset_pmu();
  CHECK_EQ(i100, 206);
  CHECK_EQ(i1000, 2006);
  CHECK_EQ(b, 1000);
  CHECK_EQ(t, 999);
  CHECK_EQ(u, 0);
  CHECK_EQ(legacy, 106);
}

static long user_count(long arg) {
  return (long)count_rdpmc((u32)arg >> 16, (u64)arg & 0xffff);
}

static void pmc_usr_os(void) {
  wrmsr(PERF_CTL(0), EVTSEL_EN | EVTSEL_USR | EV_INSNS);
  wrmsr(PERF_CTL(1), EVTSEL_EN | EVTSEL_OS | EV_INSNS);
  wrmsr(PERF_CTL(2), EVTSEL_EN | EVTSEL_USR | EV_TAKEN);
  write_cr4(read_cr4() | CR4_PCE);
  long usr = user_call(user_count, (0l << 16) | 300, 0);
  long os = user_call(user_count, (1l << 16) | 300, 0);
  long taken = user_call(user_count, (2l << 16) | 300, 0);
  u64 os_kernel = count_rdmsr(PERF_CTR(1), 300), usr_kernel = count_rdmsr(PERF_CTR(0), 300);
  write_cr4(read_cr4() & ~CR4_PCE);
  reset_pmu();
  CHECK_EQ(usr, 606);
  CHECK_EQ(os, 0);
  CHECK_EQ(taken, 299);
  CHECK_EQ(os_kernel, 606);
  CHECK_EQ(usr_kernel, 0);
}

static void pmc_cycles(void) {
  wrmsr(PERF_CTL(4), EVTSEL_EN | EVTSEL_OS | EV_CYCLES);
  u64 c0 = ctr(4);
  loop_n(1000);
  u64 c1 = ctr(4);
  reset_pmu();
  CHECK(c1 - c0 >= 2001, "cycles over 2001 instructions: %lu", c1 - c0);
}

static void on_timer(struct frame *f) { (void)f; lapic_eoi(); }

static u64 rdtsc64(void) {
  u32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((u64)hi << 32) | lo;
}

/* event 76h leaves out the cycles spent waiting in HLT; the TSC does not */
static void pmc_cycles_not_halted(void) {
  set_trap_handler(VEC_TIMER, on_timer);
  wrmsr(PERF_CTL(4), EVTSEL_EN | EVTSEL_OS | EV_CYCLES);
  u64 c0 = ctr(4), t0 = rdtsc64();
  lapic_timer(VEC_TIMER, 400000, DIV_1, 0, 0);
  asm volatile("sti; hlt; cli" ::: "memory");
  u64 c1 = ctr(4), t1 = rdtsc64();
  reset_pmu();
  CHECK(t1 - t0 >= 400000, "TSC advanced %lu over the HLT", t1 - t0);
  CHECK(c1 - c0 > 0 && c1 - c0 < 40000, "cycles not halted: %lu, TSC: %lu", c1 - c0, t1 - t0);
}

static volatile u64 nmi_count, nmi_ctr, nmi_lvt;

static void on_pmi(struct frame *f) {
  (void)f;
  nmi_count++;
  nmi_ctr = ctr(0);
  nmi_lvt = lapic_read(APIC_LVT_PERF);
}

static void pmc_overflow_nmi(void) {
  nmi_count = 0;
  set_trap_handler(NMI, on_pmi);
  lapic_write(APIC_LVT_PERF, 4u << 8);                  /* NMI, unmasked */
  wrmsr(PERF_CTR(0), (1ul << 48) - 5000);
  wrmsr(PERF_CTL(0), EVTSEL_EN | EVTSEL_OS | EVTSEL_INT | EV_INSNS);
  loop_n(2400);                                        /* 4801 instructions: no overflow yet */
  u64 before = nmi_count;
  loop_n(1000);
  wrmsr(PERF_CTL(0), 0);
  CHECK_EQ(before, 0);
  CHECK_EQ(nmi_count, 1);
  CHECK(nmi_ctr < 500, "counter %#lx in the NMI handler: the NMI came late", nmi_ctr);
  CHECK_EQ(nmi_lvt & LVT_MASKED, 0);                   /* AMD leaves LVTPC unmasked */
}

static void do_rdpmc6(void *a) { (void)a; asm volatile("rdpmc" :: "c"(6) : "rax", "rdx"); }

static long user_rdpmc(long n) {
  u32 lo, hi;
  asm volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"((u32)n));
  return (long)(((u64)hi << 32) | lo);
}

static void rdpmc_cpl3(void) {
  long ret = 0;
  wrmsr(PERF_CTR(5), 0xabcdef);
  write_cr4(read_cr4() & ~CR4_PCE);
  long r = catch_user(user_rdpmc, 5, &ret);
  CHECK(r == GP, "RDPMC at CPL 3 without CR4.PCE: vector %ld, want #GP", r);
  write_cr4(read_cr4() | CR4_PCE);
  r = catch_user(user_rdpmc, 5, &ret);
  CHECK(r == -1, "RDPMC at CPL 3 with CR4.PCE: vector %ld", r);
  CHECK_EQ(ret, 0xabcdef);
  r = catch_user(user_rdpmc, 6, &ret);
  CHECK(r == GP, "RDPMC 6 at CPL 3: vector %ld, want #GP", r);
  write_cr4(read_cr4() & ~CR4_PCE);
  r = catch_run(do_rdpmc6, NULL);
  CHECK(r == GP, "RDPMC 6 at CPL 0: vector %ld, want #GP", r);
}

/* ---- last-branch recording, BTF ---- */

extern char lbr_jmp[], lbr_target[], lbr_exc_jmp[], lbr_exc_target[], btf_jmp_next[];
static u64 lbr_from, lbr_to;

static void lbr_jump(void) {
  wrmsr(MSR_DEBUGCTL, 1);
  /* jump, then read both MSRs before any other branch */
  asm volatile(
    ".globl lbr_jmp, lbr_target\n"
    "lbr_jmp: jmp lbr_target\n"
    "nop\n"
    "lbr_target:\n"
    "mov $0x1db, %%ecx\n rdmsr\n shl $32, %%rdx\n or %%rdx, %%rax\n mov %%rax, %0\n"
    "mov $0x1dc, %%ecx\n rdmsr\n shl $32, %%rdx\n or %%rdx, %%rax\n mov %%rax, %1\n"
    : "=m"(lbr_from), "=m"(lbr_to) :: "rax", "rcx", "rdx", "memory");
  wrmsr(MSR_DEBUGCTL, 0);
  CHECK_EQ(lbr_from, (u64)lbr_jmp);
  CHECK_EQ(lbr_to, (u64)lbr_target);
}

static void ud_after_jump(void *a) {
  (void)a;
  asm volatile(
    ".globl lbr_exc_jmp, lbr_exc_target\n"
    "lbr_exc_jmp: jmp lbr_exc_target\n"
    "nop\n"
    "lbr_exc_target: ud2\n");
}

static void lbr_exception(void) {
  wrmsr(MSR_DEBUGCTL, 1);
  long r = catch_run(ud_after_jump, NULL);
  u64 from = rdmsr(MSR_INT_FROM), to = rdmsr(MSR_INT_TO);
  wrmsr(MSR_DEBUGCTL, 0);
  CHECK_EQ(r, UD);
  /* the exception copied the last branch before it to LastIntFromIP/ToIP */
  CHECK_EQ(from, (u64)lbr_exc_jmp);
  CHECK_EQ(to, (u64)lbr_exc_target);
}

static void single_step(void *a) {
  (void)a;
  asm volatile("pushfq\n orq $0x100, (%%rsp)\n popfq\n nop\n nop" ::: "memory", "cc");
}

static void lbr_cleared_by_db(void) {
  wrmsr(MSR_DEBUGCTL, 3);
  long r = catch_run(single_step, NULL);
  u64 dbg = rdmsr(MSR_DEBUGCTL);
  wrmsr(MSR_DEBUGCTL, 0);
  CHECK_EQ(r, DB);
  CHECK_EQ(dbg, 0);
}

static void branch_step(void *a) {
  (void)a;
  asm volatile(
    ".globl btf_jmp_next\n"
    "pushfq\n orq $0x100, (%%rsp)\n popfq\n"
    "nop\n nop\n nop\n"
    "jmp btf_jmp_next\n"
    "btf_jmp_next: nop\n nop\n" ::: "memory", "cc");
}

static void btf_steps_branches(void) {
  wrmsr(MSR_DEBUGCTL, 2);
  long r = catch_run(branch_step, NULL);
  wrmsr(MSR_DEBUGCTL, 0);
  CHECK_EQ(r, DB);
  CHECK_EQ(last_fault.rip, (u64)btf_jmp_next);
}

/* ---- the local APIC ---- */

static void apic_sw_disable(void) {
  u32 ver = lapic_read(APIC_VERSION);
  lapic_write(APIC_SVR, VEC_SPURIOUS);                 /* bit 8 clear */
  u32 ver2 = lapic_read(APIC_VERSION);
  lapic_write(APIC_LVT_PERF, 4u << 8);
  u32 lvt = lapic_read(APIC_LVT_PERF);
  lapic_self_ipi(0x50);
  int irr = lapic_irr(0x50);
  lapic_enable();
  CHECK_EQ(ver2, ver);
  CHECK_EQ(lvt, LVT_MASKED | (4u << 8));
  CHECK(!irr, "a software-disabled APIC accepted a fixed IPI");
}

static void apic_relocate(void) {
  u64 base = rdmsr(MSR_APIC_BASE);
  u32 ver = lapic_read(APIC_VERSION);
  wrmsr(MSR_APIC_BASE, (base & 0xfff) | NEW_APIC_BASE);
  u32 moved = *(volatile u32 *)(NEW_APIC_BASE + APIC_VERSION);
  u32 old = *(volatile u32 *)(LAPIC_BASE + APIC_VERSION);
  wrmsr(MSR_APIC_BASE, base);
  CHECK_EQ(moved, ver);
  CHECK_EQ(old, 0xffffffffu);
  CHECK_EQ(lapic_read(APIC_VERSION), ver);
}

/* last: QEMU cannot enable an APIC again once it is globally disabled */
static void apic_global_disable(void) {
  u64 base = rdmsr(MSR_APIC_BASE);
  wrmsr(MSR_APIC_BASE, base & ~(1ul << 11));
  u32 gone = *(volatile u32 *)(LAPIC_BASE + APIC_VERSION);
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  wrmsr(MSR_APIC_BASE, base);
  u32 svr = lapic_read(APIC_SVR);
  lapic_enable();
  CHECK_EQ(gone, 0xffffffffu);
  CHECK_EQ((d >> 9) & 1, 0);                            /* CPUID APIC follows APIC_BASE.AE */
  CHECK_EQ(svr & 0x1ff, 0xff);                          /* back in its reset state */
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(amd_msrs_readable),
  T(amd_msr_values),
  T(amd_msrs_write_read),
  T(intel_msrs_gp),
  T(reserved_bits_gp),
  T(pmc_retired_exact),
  T(pmc_loop_exact),
  T(pmc_usr_os),
  T(pmc_cycles),
  T(pmc_cycles_not_halted),
  T(pmc_overflow_nmi),
  T(rdpmc_cpl3),
  T(lbr_jump),
  T(lbr_exception),
  T(lbr_cleared_by_db),
  T(btf_steps_branches),
  T(apic_sw_disable),
  T(apic_relocate),
  T(apic_global_disable),
};
const int ntests = ARRAY_SIZE(tests);
