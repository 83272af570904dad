/*
 * Paging: #PF error codes and CR2 (APM Vol. 2, 8.4.2 and 5.6), CR0.WP, U/S and NX at PTE and
 * PDE level, reserved bits, accessed and dirty bits (5.4.1), TLB invalidation (5.5),
 * non-canonical addresses (5.3.1).
 *
 * All tests work in the 4 KiB-mapped test region (test_page(n)) or the 2 MiB page after it;
 * the runner restores the page tables after each test.
 */
#include "rt.h"

const char kernel_name[] = "paging";

#define PUW (PTE_P | PTE_U | PTE_W)
#define MAGIC 0x5a5a5a5a5a5a5a5aul
#define BIG_PAGE 0x600000ul  /* the 2 MiB page after the test region: pd[3] */

static void rd(void *a) { (void)*(volatile u64 *)a; }
static void wr(void *a) { *(volatile u64 *)a = MAGIC; }
static void ex(void *a) { ((void (*)(void))a)(); }
static long u_rd(long a) { return *(volatile long *)a; }
static long u_wr(long a) { *(volatile long *)a = 1; return 0; }
static long u_ex(long a) { ((void (*)(void))a)(); return 0; }

static void set_pte(int n, u64 flags) {
  *test_pte(test_page(n)) = test_page(n) | flags;
  invlpg(test_page(n));
}

static void flush_all(void) { write_cr3(read_cr3()); }

static void put_ret(int n) { *(volatile u8 *)test_page(n) = 0xc3; }

static void expect_pf(long r, u64 err, u64 cr2) {
  check_fault(r, PF, err);
  if (r == PF) CHECK_EQ(last_fault.cr2, cr2);
}

static void pf_not_present_read(void) {
  set_pte(1, 0);
  expect_pf(catch_run(rd, (void *)(test_page(1) + 0x10)), 0, test_page(1) + 0x10);
}

static void pf_not_present_write(void) {
  set_pte(1, PTE_W | PTE_U);
  expect_pf(catch_run(wr, (void *)(test_page(1) + 0x18)), PF_W, test_page(1) + 0x18);
}

static void pf_not_present_fetch(void) {
  if (!has_nx()) return t_skip("no NX: the I/D bit is only defined with EFER.NXE");
  put_ret(1);
  set_pte(1, 0);
  long r = catch_run(ex, (void *)test_page(1));
  expect_pf(r, PF_ID, test_page(1));
  if (r == PF) CHECK_EQ(last_fault.rip, test_page(1));
}

static void pf_write_ro_wp1(void) {
  u64 va = test_page(2);
  *(volatile u64 *)va = 7;
  set_pte(2, PTE_P | PTE_U);
  write_cr0(read_cr0() | CR0_WP);
  expect_pf(catch_run(wr, (void *)va), PF_P | PF_W, va);
  CHECK_EQ(*(volatile u64 *)(va + 0), 7);
}

/* CR0.WP=0: supervisor writes ignore R/W (APM Vol. 2, 5.6.4) */
static void write_ro_wp0(void) {
  u64 va = test_page(2);
  set_pte(2, PTE_P | PTE_U);
  write_cr0(read_cr0() & ~CR0_WP);
  CHECK_EQ(catch_run(wr, (void *)va), -1);
  write_cr0(read_cr0() | CR0_WP);
  CHECK_EQ(*(volatile u64 *)va, MAGIC);
}

/* the effective R/W is the AND over all levels */
static void pf_write_ro_pde(void) {
  pd[TEST_BASE >> 21] &= ~PTE_W;
  flush_all();
  expect_pf(catch_run(wr, (void *)test_page(3)), PF_P | PF_W, test_page(3));
}

static void user_read_ok(void) {
  long v = 0;
  *(volatile u64 *)test_page(4) = MAGIC;
  CHECK_EQ(catch_user(u_rd, test_page(4), &v), -1);
  CHECK_EQ(v, MAGIC);
}

static void pf_user_read_supervisor(void) {
  set_pte(4, PTE_P | PTE_W);
  long r = catch_user(u_rd, test_page(4) + 8, NULL);
  expect_pf(r, PF_P | PF_U, test_page(4) + 8);
  if (r == PF) CHECK_EQ(last_fault.cs, UCS | 3);
}

static void pf_user_write_supervisor(void) {
  set_pte(4, PTE_P | PTE_W);
  expect_pf(catch_user(u_wr, test_page(4), NULL), PF_P | PF_W | PF_U, test_page(4));
}

static void pf_user_write_ro(void) {
  set_pte(5, PTE_P | PTE_U);
  expect_pf(catch_user(u_wr, test_page(5), NULL), PF_P | PF_W | PF_U, test_page(5));
}

/* CR0.WP does not affect user-mode accesses */
static void pf_user_write_ro_wp0(void) {
  set_pte(5, PTE_P | PTE_U);
  write_cr0(read_cr0() & ~CR0_WP);
  expect_pf(catch_user(u_wr, test_page(5), NULL), PF_P | PF_W | PF_U, test_page(5));
}

static void pf_user_supervisor_pde(void) {
  pd[TEST_BASE >> 21] &= ~PTE_U;
  flush_all();
  expect_pf(catch_user(u_rd, test_page(6), NULL), PF_P | PF_U, test_page(6));
}

static void pf_user_fetch_supervisor(void) {
  if (!has_nx()) return t_skip("no NX");
  put_ret(7);
  set_pte(7, PTE_P | PTE_W);
  expect_pf(catch_user(u_ex, test_page(7), NULL), PF_P | PF_U | PF_ID, test_page(7));
}

static void exec_ok(void) {
  put_ret(8);
  CHECK_EQ(catch_run(ex, (void *)test_page(8)), -1);
  CHECK_EQ(catch_user(u_ex, test_page(8), NULL), -1);
}

static void pf_nx_fetch(void) {
  if (!has_nx()) return t_skip("no NX");
  put_ret(8);
  set_pte(8, PUW | PTE_NX);
  long r = catch_run(ex, (void *)test_page(8));
  expect_pf(r, PF_P | PF_ID, test_page(8));
  if (r == PF) CHECK_EQ(last_fault.rip, test_page(8));
  CHECK_EQ(catch_run(rd, (void *)test_page(8)), -1);  /* NX pages stay readable */
}

static void pf_nx_user_fetch(void) {
  if (!has_nx()) return t_skip("no NX");
  put_ret(8);
  set_pte(8, PUW | PTE_NX);
  expect_pf(catch_user(u_ex, test_page(8), NULL), PF_P | PF_U | PF_ID, test_page(8));
}

static void pf_nx_pde(void) {
  if (!has_nx()) return t_skip("no NX");
  put_ret(8);
  pd[TEST_BASE >> 21] |= PTE_NX;
  flush_all();
  expect_pf(catch_run(ex, (void *)test_page(8)), PF_P | PF_ID, test_page(8));
}

/* a physical-address bit at or above MAXPHYADDR is reserved (APM Vol. 2, 5.3.3) */
static void pf_rsvd_phys_read(void) {
  u32 m = max_phys_bits();
  if (m >= 52) return t_skip("MAXPHYADDR is 52: no reserved address bits");
  set_pte(9, PUW | (1ul << m));
  expect_pf(catch_run(rd, (void *)test_page(9)), PF_P | PF_RSV, test_page(9));
}

static void pf_rsvd_phys_write(void) {
  u32 m = max_phys_bits();
  if (m >= 52) return t_skip("MAXPHYADDR is 52: no reserved address bits");
  set_pte(9, PUW | (1ul << 51));
  expect_pf(catch_run(wr, (void *)test_page(9)), PF_P | PF_W | PF_RSV, test_page(9));
}

/* with EFER.NXE=0, bit 63 is reserved */
static void pf_rsvd_nx_without_nxe(void) {
  if (!has_nx()) return t_skip("no NX");
  set_pte(9, PUW | PTE_NX);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_NXE);
  long r = catch_run(rd, (void *)test_page(9));
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
  expect_pf(r, PF_P | PF_RSV, test_page(9));
}

/* bits 20:13 of a 2 MiB PDE are reserved (APM Vol. 2, 5.3.4, 2-Mbyte PDE format) */
static void pf_rsvd_pde_2m(void) {
  pd[BIG_PAGE >> 21] = BIG_PAGE | PUW | PTE_PS | (1ul << 13);
  flush_all();
  expect_pf(catch_run(rd, (void *)(BIG_PAGE + 0x40)), PF_P | PF_RSV, BIG_PAGE + 0x40);
}

/* an access that crosses into a not-present page reports that page in CR2 */
static void pf_cr2_page_cross(void) {
  set_pte(11, 0);
  expect_pf(catch_run(rd, (void *)(test_page(11) - 4)), 0, test_page(11));
}

static void ad_accessed_read(void) {
  u64 va = test_page(12);
  set_pte(12, PUW);
  rd((void *)va);
  u64 pte = *test_pte(va);
  CHECK(pte & PTE_A, "A clear after read: pte %#lx", pte);
  CHECK(!(pte & PTE_D), "D set after read: pte %#lx", pte);
}

static void ad_dirty_write(void) {
  u64 va = test_page(13);
  set_pte(13, PUW);
  wr((void *)va);
  u64 pte = *test_pte(va);
  CHECK((pte & (PTE_A | PTE_D)) == (PTE_A | PTE_D), "A/D after write: pte %#lx", pte);
}

/* a write through a TLB entry loaded by a read must still set D */
static void ad_dirty_after_read(void) {
  u64 va = test_page(13);
  set_pte(13, PUW);
  rd((void *)va);
  CHECK(!(*test_pte(va) & PTE_D), "D set by a read");
  wr((void *)va);
  CHECK(*test_pte(va) & PTE_D, "D clear after write: pte %#lx", *test_pte(va));
}

static void ad_upper_levels(void) {
  pml4[0] &= ~PTE_A;
  pdpt[0] &= ~PTE_A;
  pd[TEST_BASE >> 21] &= ~PTE_A;
  flush_all();
  rd((void *)test_page(14));
  CHECK(pml4[0] & PTE_A, "PML4E A clear");
  CHECK(pdpt[0] & PTE_A, "PDPTE A clear");
  CHECK(pd[TEST_BASE >> 21] & PTE_A, "PDE A clear");
}

static void ad_dirty_2m(void) {
  pd[BIG_PAGE >> 21] = BIG_PAGE | PUW | PTE_PS;
  flush_all();
  rd((void *)BIG_PAGE);
  CHECK((pd[BIG_PAGE >> 21] & (PTE_A | PTE_D)) == PTE_A, "after read: pde %#lx", pd[BIG_PAGE >> 21]);
  wr((void *)(BIG_PAGE + 0x1000));
  CHECK(pd[BIG_PAGE >> 21] & PTE_D, "D clear after write: pde %#lx", pd[BIG_PAGE >> 21]);
}

static void invlpg_remap(void) {
  u64 va = test_page(15);
  *(volatile u64 *)test_page(16) = 0xaaaa;
  *(volatile u64 *)test_page(17) = 0xbbbb;
  *test_pte(va) = test_page(16) | PUW;
  invlpg(va);
  CHECK_EQ(*(volatile u64 *)va, 0xaaaa);
  *test_pte(va) = test_page(17) | PUW;
  invlpg(va);
  CHECK_EQ(*(volatile u64 *)va, 0xbbbb);
}

static void invlpg_unmap(void) {
  u64 va = test_page(18);
  rd((void *)va);
  *test_pte(va) = 0;
  invlpg(va);
  expect_pf(catch_run(rd, (void *)va), 0, va);
}

static void cr3_reload_unmap(void) {
  u64 va = test_page(18);
  rd((void *)va);
  *test_pte(va) = 0;
  flush_all();
  expect_pf(catch_run(rd, (void *)va), 0, va);
}

static void gp_noncanonical_read(void) {
  check_fault(catch_run(rd, (void *)0x0000800000000000ul), GP, 0);
  check_fault(catch_run(rd, (void *)0xffff7ffffffff000ul), GP, 0);
}

/* a near branch to a non-canonical target faults on the branch (APM Vol. 3, JMP: #GP(0)) */
extern u8 jmp_noncanon_insn[];
static void jmp_noncanon(void *a) {
  asm volatile(".globl jmp_noncanon_insn\njmp_noncanon_insn: jmp *%0" :: "r"(a));
}

static void gp_noncanonical_jump(void) {
  long r = catch_run(jmp_noncanon, (void *)0x0000800000000000ul);
  check_fault(r, GP, 0);
  if (r == GP) CHECK_EQ(last_fault.rip, (u64)jmp_noncanon_insn);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(pf_not_present_read), T(pf_not_present_write), T(pf_not_present_fetch),
  T(pf_write_ro_wp1), T(write_ro_wp0), T(pf_write_ro_pde),
  T(user_read_ok), T(pf_user_read_supervisor), T(pf_user_write_supervisor),
  T(pf_user_write_ro), T(pf_user_write_ro_wp0), T(pf_user_supervisor_pde),
  T(pf_user_fetch_supervisor), T(exec_ok), T(pf_nx_fetch), T(pf_nx_user_fetch), T(pf_nx_pde),
  T(pf_rsvd_phys_read), T(pf_rsvd_phys_write), T(pf_rsvd_nx_without_nxe), T(pf_rsvd_pde_2m),
  T(pf_cr2_page_cross), T(ad_accessed_read), T(ad_dirty_write), T(ad_dirty_after_read),
  T(ad_upper_levels), T(ad_dirty_2m), T(invlpg_remap), T(invlpg_unmap), T(cr3_reload_unmap),
  T(gp_noncanonical_read), T(gp_noncanonical_jump),
};
const int ntests = ARRAY_SIZE(tests);
