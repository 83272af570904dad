/*
 * FS and GS bases (APM Vol. 2, 4.5.3): the FS_BASE, GS_BASE and KERNEL_GS_BASE MSRs, SWAPGS,
 * bases loaded from descriptors, and RDFSBASE/WRFSBASE/RDGSBASE/WRGSBASE under CR4.FSGSBASE
 * (Vol. 3; CPUID Fn0000_0007_EBX[0]). The runner restores the bases after each test.
 */
#include "rt.h"

const char kernel_name[] = "fsgs";

static u64 area_a[4] = { 0xa0a0a0a0a0a0a0a0ul, 0xa1a1a1a1a1a1a1a1ul };
static u64 area_b[4] = { 0xb0b0b0b0b0b0b0b0ul, 0xb1b1b1b1b1b1b1b1ul };

static u64 fs_read(u64 off) { u64 v; asm volatile("mov %%fs:(%1), %0" : "=r"(v) : "r"(off) : "memory"); return v; }
static u64 gs_read(u64 off) { u64 v; asm volatile("mov %%gs:(%1), %0" : "=r"(v) : "r"(off) : "memory"); return v; }
static u64 rdfsbase(void) { u64 v; asm volatile("rdfsbase %0" : "=r"(v)); return v; }
static u64 rdgsbase(void) { u64 v; asm volatile("rdgsbase %0" : "=r"(v)); return v; }
static void wrfsbase(u64 v) { asm volatile("wrfsbase %0" :: "r"(v) : "memory"); }
static void wrgsbase(u64 v) { asm volatile("wrgsbase %0" :: "r"(v) : "memory"); }

static void fs_base_msr(void) {
  wrmsr(MSR_FS_BASE, (u64)area_a);
  CHECK_EQ(rdmsr(MSR_FS_BASE), (u64)area_a);
  CHECK_EQ(fs_read(8), area_a[1]);
}

static void gs_base_msr(void) {
  wrmsr(MSR_GS_BASE, (u64)area_b);
  u64 v = gs_read(0), base = rdmsr(MSR_GS_BASE);
  wrmsr(MSR_GS_BASE, (u64)&percpu);
  CHECK_EQ(base, (u64)area_b);
  CHECK_EQ(v, area_b[0]);
}

static void kernel_gs_base_msr(void) {
  wrmsr(MSR_KERNEL_GS_BASE, 0xffff800012345678ul);
  CHECK_EQ(rdmsr(MSR_KERNEL_GS_BASE), 0xffff800012345678ul);
}

static void swapgs_exchange(void) {
  wrmsr(MSR_GS_BASE, (u64)area_a);
  wrmsr(MSR_KERNEL_GS_BASE, (u64)area_b);
  asm volatile("swapgs" ::: "memory");
  u64 gs = rdmsr(MSR_GS_BASE), kgs = rdmsr(MSR_KERNEL_GS_BASE), v = gs_read(8);
  asm volatile("swapgs" ::: "memory");
  u64 gs2 = rdmsr(MSR_GS_BASE);
  wrmsr(MSR_GS_BASE, (u64)&percpu);
  CHECK_EQ(gs, (u64)area_b);
  CHECK_EQ(kgs, (u64)area_a);
  CHECK_EQ(v, area_b[1]);
  CHECK_EQ(gs2, (u64)area_a);
}

/* a descriptor load sets the base from the descriptor, upper 32 bits zero */
static void fs_base_from_descriptor(void) {
  *(volatile u64 *)DATA_SEG_BASE = 0x0123456789abcdeful;
  wrmsr(MSR_FS_BASE, 0xffff800000001000ul);
  asm volatile("mov %0, %%fs" :: "r"((u16)SEL_DATA_BASE));
  CHECK_EQ(rdmsr(MSR_FS_BASE), DATA_SEG_BASE);
  CHECK_EQ(fs_read(0), 0x0123456789abcdeful);
}

static void wr_msr(void *a) { u64 *p = a; wrmsr((u32)p[0], p[1]); }

static void msr_noncanonical_gp(void) {
  static const u32 msrs[] = { MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE };
  for (u64 i = 0; i < ARRAY_SIZE(msrs); i++) {
    u64 before = rdmsr(msrs[i]);
    u64 args[2] = { msrs[i], 0x0000800000000000ul };
    long r = catch_run(wr_msr, args);
    if (r != GP || last_fault.error != 0) t_fail("WRMSR %#x non-canonical: vector %ld", msrs[i], r);
    CHECK_EQ(rdmsr(msrs[i]), before);
  }
}

static void do_rdfsbase(void *a) { (void)a; (void)rdfsbase(); }
static void do_wrgsbase(void *a) { wrgsbase((u64)a); }
static void do_wrfsbase(void *a) { wrfsbase((u64)a); }

static void fsgsbase_ud_without_cr4(void) {
  write_cr4(read_cr4() & ~CR4_FSGSBASE);
  check_fault(catch_run(do_rdfsbase, NULL), UD, -1);
  check_fault(catch_run(do_wrgsbase, (void *)&percpu), UD, -1);
}

static int enable_fsgsbase(void) {
  if (!has_fsgsbase()) {
    t_skip("CPUID 7.EBX[0] (FSGSBASE) clear");
    return 0;
  }
  write_cr4(read_cr4() | CR4_FSGSBASE);
  return 1;
}

static void fsgsbase_rw(void) {
  if (!enable_fsgsbase()) return;
  wrfsbase((u64)area_a);
  CHECK_EQ(rdmsr(MSR_FS_BASE), (u64)area_a);
  CHECK_EQ(rdfsbase(), (u64)area_a);
  CHECK_EQ(fs_read(8), area_a[1]);
  wrmsr(MSR_FS_BASE, 0xffff800000002000ul);
  CHECK_EQ(rdfsbase(), 0xffff800000002000ul);
  wrgsbase((u64)area_b);
  u64 msr = rdmsr(MSR_GS_BASE), v = gs_read(0), rd = rdgsbase();
  wrgsbase((u64)&percpu);
  CHECK_EQ(msr, (u64)area_b);
  CHECK_EQ(v, area_b[0]);
  CHECK_EQ(rd, (u64)area_b);
}

/* the 32-bit forms: WRFSBASE r32 clears bits 63:32, RDFSBASE r32 zero-extends */
static void fsgsbase_32bit(void) {
  if (!enable_fsgsbase()) return;
  wrmsr(MSR_FS_BASE, 0xffff800012345678ul);
  u64 v = 0xffffffffffffffff;
  asm volatile("rdfsbase %k0" : "+r"(v));
  CHECK_EQ(v, 0x12345678);
  asm volatile("wrfsbase %k0" :: "r"(0xffffffff9abcdef0ul));
  CHECK_EQ(rdmsr(MSR_FS_BASE), 0x9abcdef0);
}

static void fsgsbase_noncanonical_gp(void) {
  if (!enable_fsgsbase()) return;
  wrfsbase(0x1000);
  check_fault(catch_run(do_wrfsbase, (void *)0x0000800000000000ul), GP, 0);
  check_fault(catch_run(do_wrgsbase, (void *)0x8000000000000000ul), GP, 0);
  CHECK_EQ(rdfsbase(), 0x1000);
  CHECK_EQ(rdmsr(MSR_GS_BASE), (u64)&percpu);
}

static long k_syscall(struct frame *f) { (void)f; return rdmsr(MSR_KERNEL_GS_BASE); }

/* ring 3 writes its GS base; the kernel finds it in KERNEL_GS_BASE after SWAPGS */
static long u_wrgsbase(long v) {
  long k, back;
  asm volatile("wrgsbase %0" :: "r"(v));
  asm volatile("syscall" : "=a"(k) : "a"(5L) : "rcx", "r11", "memory");
  asm volatile("rdgsbase %0" : "=r"(back));
  return k == v && back == v ? 1 : -k;
}

static void fsgsbase_cpl3(void) {
  if (!enable_fsgsbase()) return;
  set_syscall_handler(k_syscall);
  long v = 0;
  CHECK_EQ(catch_user(u_wrgsbase, (long)area_a, &v), -1);
  CHECK_EQ(v, 1);
  CHECK_EQ(rdmsr(MSR_KERNEL_GS_BASE), (u64)area_a);
  CHECK_EQ(rdmsr(MSR_GS_BASE), (u64)&percpu);
}

static long u_rdfsbase(long a) { (void)a; return rdfsbase(); }

static void fsgsbase_cpl3_ud_without_cr4(void) {
  write_cr4(read_cr4() & ~CR4_FSGSBASE);
  check_fault(catch_user(u_rdfsbase, 0, NULL), UD, -1);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(fs_base_msr), T(gs_base_msr), T(kernel_gs_base_msr), T(swapgs_exchange),
  T(fs_base_from_descriptor), T(msr_noncanonical_gp), T(fsgsbase_ud_without_cr4),
  T(fsgsbase_rw), T(fsgsbase_32bit), T(fsgsbase_noncanonical_gp), T(fsgsbase_cpl3),
  T(fsgsbase_cpl3_ud_without_cr4),
};
const int ntests = ARRAY_SIZE(tests);
