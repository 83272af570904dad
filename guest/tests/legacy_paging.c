/*
 * Legacy-mode paging (APM Vol. 2, 5.3 and 5.4): 32-bit paging with 4 KiB pages and, with
 * CR4.PSE, 4 MiB pages (PS is ignored without PSE); PAE paging with 4 KiB and 2 MiB pages,
 * PDPEs read during the walk, NX with EFER.NXE; accessed and dirty bits; #PF error codes
 * (8.4.2) and CR2 for not-present, protection (U/S, R/W, CR0.WP), reserved-bit and
 * instruction-fetch faults.
 *
 * rt32.h describes the tables; VA 0xC00000 (PDE 3) and 0x1000000 (PAE PDE 8) are free for
 * large-page mappings of the test region.
 */
#include "rt32.h"

const char kernel_name[] = "legacy_paging";

#define VA_4M 0x00c00000u
#define VA_2M 0x01000000u
#define PAE_NX (1ull << 63)
#define PAE_BIT51 (1ull << 51)

static volatile u32 *va32(u32 a) { return (volatile u32 *)a; }

static void touch_read(void *a) { (void)*(volatile u32 *)a; }
static void touch_write(void *a) { *(volatile u32 *)a = 0xbad; }
static int u_read(int a) { return (int)*(volatile u32 *)a; }
static int u_write(int a) { *(volatile u32 *)a = 1; return 0; }

/* the #PF of the last catch_run: error code and CR2 */
static void check_pf(int r, u32 err, u32 cr2) {
  check_fault(r, PF, err);
  if (r == PF) CHECK_EQ(last_fault.cr2, cr2);
}

/* ---- 32-bit paging ---- */

static void pg32_4k_remap(void) {
  paging32_on(1);
  *va32(test_page(20) + 8) = 0x12345678;
  pt32[10] = test_page(20) | PTE_P | PTE_W | PTE_U;
  pd32[TEST_BASE >> 22] &= ~PTE_A;
  invlpg(test_page(10));
  CHECK_EQ(*va32(test_page(10) + 8), 0x12345678);
  CHECK(pt32[10] & PTE_A, "PTE A clear after a read: %#x", pt32[10]);
  CHECK(!(pt32[10] & PTE_D), "PTE D set after a read: %#x", pt32[10]);
  CHECK(pd32[TEST_BASE >> 22] & PTE_A, "PDE A clear: %#x", pd32[TEST_BASE >> 22]);
  *va32(test_page(10) + 12) = 1;
  CHECK(pt32[10] & PTE_D, "PTE D clear after a write: %#x", pt32[10]);
  CHECK_EQ(*va32(test_page(20) + 12), 1);
}

static void pg32_4m_pse(void) {
  paging32_on(1);
  *va32(test_page(1023) + 4) = 0xfeedf00d;
  pd32[VA_4M >> 22] = TEST_BASE | PTE_P | PTE_W | PTE_U | PTE_PS;
  CHECK_EQ(*va32(VA_4M + 1023 * 4096 + 4), 0xfeedf00d);
  CHECK(pd32[VA_4M >> 22] & PTE_A, "PDE A clear: %#x", pd32[VA_4M >> 22]);
  CHECK(!(pd32[VA_4M >> 22] & PTE_D), "PDE D set after a read");
  *va32(VA_4M + 8) = 2;
  CHECK(pd32[VA_4M >> 22] & PTE_D, "PDE D clear after a write: %#x", pd32[VA_4M >> 22]);
  CHECK_EQ(*va32(test_page(0) + 8), 2);
}

/* without CR4.PSE a PDE with PS = 1 still points at a page table (APM Vol. 2, Table 5-1) */
static void pg32_ps_ignored_without_pse(void) {
  paging32_on(0);
  *va32(test_page(5) + 16) = 0xabcd;
  pd32[VA_4M >> 22] = (u32)pt32 | PTE_P | PTE_W | PTE_U | PTE_PS;
  CHECK_EQ(*va32(VA_4M + 5 * 4096 + 16), 0xabcd);
}

static void pg32_pf_not_present(void) {
  paging32_on(1);
  pt32[30] = 0;
  check_pf(catch_run(touch_read, (void *)(test_page(30) + 0x10)), 0, test_page(30) + 0x10);
  check_pf(catch_run(touch_write, (void *)(test_page(30) + 0x20)), PF_W, test_page(30) + 0x20);
  check_pf(catch_user(u_read, test_page(30), NULL), PF_U, test_page(30));
  pd32[VA_4M >> 22] = 0;
  check_pf(catch_run(touch_read, (void *)(VA_4M + 0x123)), 0, VA_4M + 0x123);
}

static void pg32_pf_protection(void) {
  paging32_on(1);
  pt32[31] = test_page(31) | PTE_P | PTE_U;          /* read-only */
  pt32[32] = test_page(32) | PTE_P | PTE_W;          /* supervisor */
  CHECK_EQ(catch_user(u_read, test_page(31), NULL), -1);
  check_pf(catch_user(u_write, test_page(31) + 4, NULL), PF_P | PF_W | PF_U, test_page(31) + 4);
  check_pf(catch_user(u_read, test_page(32), NULL), PF_P | PF_U, test_page(32));
  /* U/S and R/W combine over both levels */
  pd32[TEST_BASE >> 22] &= ~PTE_W;
  invlpg(test_page(33));
  check_pf(catch_user(u_write, test_page(33), NULL), PF_P | PF_W | PF_U, test_page(33));
  pd32[TEST_BASE >> 22] &= ~PTE_U;
  invlpg(test_page(33));
  check_pf(catch_user(u_read, test_page(33), NULL), PF_P | PF_U, test_page(33));
}

/* a supervisor write to a read-only page faults with CR0.WP = 1 only */
static void pg32_wp(void) {
  paging32_on(1);
  pt32[34] = test_page(34) | PTE_P;
  check_pf(catch_run(touch_write, (void *)test_page(34)), PF_P | PF_W, test_page(34));
  write_cr0(read_cr0() & ~CR0_WP);
  CHECK_EQ(catch_run(touch_write, (void *)test_page(34)), -1);
  CHECK_EQ(*va32(test_page(34)), 0xbad);
}

/* a 4 MiB PDE has bit 21 reserved (bits 20:13 are physical-address bits 39:32) */
static void pg32_4m_rsvd(void) {
  paging32_on(1);
  pd32[VA_4M >> 22] = TEST_BASE | PTE_P | PTE_W | PTE_U | PTE_PS | (1u << 21);
  check_pf(catch_run(touch_read, (void *)VA_4M), PF_RSV | PF_P, VA_4M);
}

/* ---- PAE paging ---- */

static void pae_4k_remap(void) {
  paging_pae_on();
  *va32(test_page(21) + 8) = 0x5555aaaa;
  pae_pt[11] = test_page(21) | PTE_P | PTE_W | PTE_U;
  CHECK_EQ(*va32(test_page(11) + 8), 0x5555aaaa);
  CHECK(pae_pt[11] & PTE_A, "PTE A clear");
  CHECK(!(pae_pt[11] & PTE_D), "PTE D set after a read");
  *va32(test_page(11) + 12) = 3;
  CHECK(pae_pt[11] & PTE_D, "PTE D clear after a write");
  CHECK(pae_pd[TEST_BASE >> 21] & PTE_A, "PDE A clear");
  CHECK_EQ(*va32(test_page(21) + 12), 3);
}

static void pae_2m(void) {
  paging_pae_on();
  *va32(test_page(511) + 4) = 0x600d;
  pae_pd[VA_2M >> 21] = TEST_BASE | PTE_P | PTE_W | PTE_U | PTE_PS;
  CHECK_EQ(*va32(VA_2M + 511 * 4096 + 4), 0x600d);
  *va32(VA_2M + 8) = 4;
  CHECK(pae_pd[VA_2M >> 21] & PTE_D, "PDE D clear after a write");
  CHECK_EQ(*va32(test_page(0) + 8), 4);
}

static void pae_pf_codes(void) {
  paging_pae_on();
  pae_pt[40] = 0;
  pae_pt[41] = test_page(41) | PTE_P | PTE_U;
  pae_pt[42] = test_page(42) | PTE_P | PTE_W;
  check_pf(catch_run(touch_write, (void *)test_page(40)), PF_W, test_page(40));
  check_pf(catch_user(u_write, test_page(41), NULL), PF_P | PF_W | PF_U, test_page(41));
  check_pf(catch_user(u_read, test_page(42) + 8, NULL), PF_P | PF_U, test_page(42) + 8);
  /* a not-present PDPE (the second GiB) */
  check_pf(catch_run(touch_read, (void *)0x40000010), 0, 0x40000010);
}

/* physical-address bits above MAXPHYADDR are reserved: #PF with RSV and P */
static void pae_rsvd_phys(void) {
  paging_pae_on();
  pae_pt[43] = test_page(43) | PTE_P | PTE_W | PTE_U | PAE_BIT51;
  check_pf(catch_run(touch_read, (void *)test_page(43)), PF_RSV | PF_P, test_page(43));
}

/* without EFER.NXE bit 63 is reserved */
static void pae_nx_reserved_without_nxe(void) {
  paging_pae_on();
  pae_pt[47] = test_page(47) | PTE_P | PTE_W | PTE_U | PAE_NX;
  check_pf(catch_run(touch_read, (void *)test_page(47)), PF_RSV | PF_P, test_page(47));
}

/* with it, a fetch from an NX page faults with I/D set; reads do not */
static void pae_nx(void) {
  if (!has_nx()) { t_skip("no NX"); return; }
  paging_pae_on();
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
  *(volatile u8 *)test_page(44) = 0xc3;               /* RET */
  *(volatile u8 *)test_page(45) = 0xc3;
  pae_pt[44] = test_page(44) | PTE_P | PTE_W | PTE_U | PAE_NX;
  invlpg(test_page(44));
  CHECK_EQ(catch_run(touch_read, (void *)test_page(44)), -1);
  CHECK_EQ(catch_run((void (*)(void *))test_page(45), NULL), -1);
  check_pf(catch_run((void (*)(void *))test_page(44), NULL), PF_ID | PF_P, test_page(44));
  check_pf(catch_user((int (*)(int))test_page(44), 0, NULL), PF_ID | PF_U | PF_P, test_page(44));
  /* a fetch from a not-present page reports I/D too */
  pae_pt[46] = 0;
  check_pf(catch_run((void (*)(void *))test_page(46), NULL), PF_ID, test_page(46));
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(pg32_4k_remap), T(pg32_4m_pse), T(pg32_ps_ignored_without_pse), T(pg32_pf_not_present),
  T(pg32_pf_protection), T(pg32_wp), T(pg32_4m_rsvd), T(pae_4k_remap), T(pae_2m), T(pae_pf_codes),
  T(pae_rsvd_phys), T(pae_nx_reserved_without_nxe), T(pae_nx),
};
const int ntests = ARRAY_SIZE(tests);
