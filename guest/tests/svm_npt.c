/*
 * Nested paging (APM Vol. 2 15.25) and the TLB controls (15.16): guest-physical to
 * system-physical translation through N_CR3, #VMEXIT(NPF) with its error code in EXITINFO1
 * (bit 32: the final translation of the guest's access; bit 33: an access to the guest's page
 * tables) and the guest-physical address in EXITINFO2 (15.25.6), guest #PF staying a guest
 * fault, and ASIDs, TLB_CONTROL and INVLPGA (15.16).
 *
 * The nested tables (svm.c) map GPA = SPA over 0..4 GiB, with 4 KiB pages over the test region
 * so that single pages can be remapped or restricted; all entries are user-accessible because
 * the nested walk treats every access as a user access (15.25).
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

const char kernel_name[] = "svm_npt";

void kernel_setup(void) {
  svm_detect();
  svm_print_features();
}

#define PAGE_A test_page(50)
#define PAGE_B test_page(51)
#define PAGE_C test_page(52)
#define OFF 0x18
#define VAL_A 0xaaaa0000aaaaul
#define VAL_B 0xbbbb0000bbbbul
#define VAL_C 0xcccc0000ccccul

GUEST_INSN(g_read, "", "mov (%rbx), %rax");
GUEST_INSN(g_write, "", "movq $0x77, (%rbx)");

static volatile int guest_ran;
static u64 mark_ran(u64 a) { (void)a; guest_ran = 1; return 0; }

static int npt_begin(u32 features) {
  if (!svm_begin(SVMF_NP | features)) return 0;
  npt_init();
  *(volatile u64 *)(PAGE_A + OFF) = VAL_A;
  *(volatile u64 *)(PAGE_B + OFF) = VAL_B;
  *(volatile u64 *)(PAGE_C + OFF) = VAL_C;
  guest_ran = 0;
  return 1;
}

/* a guest with nested paging running `code` with RBX = addr */
static void npt_guest(u8 *code, u64 addr) {
  vmcb_init(vmcb, (u64)code);
  vmcb_enable_npt(vmcb);
  greg.rbx = addr;
}

static void set_npte(u64 gpa, u64 spa, u64 flags) { *npt_pte(gpa) = spa | flags; }
#define PWU (PTE_P | PTE_W | PTE_U)

static u64 guest_read(u64 addr, u8 tlb_control, u32 asid) {
  npt_guest(g_read, addr);
  VMCB8(vmcb, VMCB_TLB_CONTROL) = tlb_control;
  VMCB32(vmcb, VMCB_ASID) = asid;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return ~0ul;
  return VMCB64(vmcb, VMCB_RAX);
}

/* ---- translation ---- */

static void npt_identity_runs(void) {
  if (!npt_begin(0)) return;
  npt_guest(guest_call_entry, 0);
  greg.rbx = (u64)mark_ran;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not run");
  CHECK_EQ(guest_read(PAGE_A + OFF, 1, 1), VAL_A);
}

/* GPA A -> SPA B: the guest reads B's contents at A; the host still sees A at A */
static void npt_remap(void) {
  if (!npt_begin(0)) return;
  set_npte(PAGE_A, PAGE_B, PWU);
  CHECK_EQ(guest_read(PAGE_A + OFF, 1, 1), VAL_B);
  CHECK_EQ(*(volatile u64 *)(PAGE_A + OFF), VAL_A);
  npt_guest(g_write, PAGE_A + OFF);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(*(volatile u64 *)(PAGE_B + OFF), 0x77);
  CHECK_EQ(*(volatile u64 *)(PAGE_A + OFF), VAL_A);
}

/* ---- nested page faults (15.25.6) ---- */

static void npf_expect(u8 *code, u64 addr, u64 info1) {
  npt_guest(code, addr);
  svm_run(vmcb);
  u8 *insn = code == g_read ? g_read_insn : g_write_insn;
  if (!expect_exit_at(vmcb, EXIT_NPF, insn, NRIP_ANY)) return;
  CHECK(exit_info1(vmcb) == info1, "EXITINFO1 %#lx, want %#lx", exit_info1(vmcb), info1);
  CHECK_EQ(exit_info2(vmcb), addr);
}

static void npf_not_present_read(void) {
  if (!npt_begin(0)) return;
  *npt_pte(PAGE_A) = 0;
  npf_expect(g_read, PAGE_A + OFF, NPF_FINAL | NPF_US);
}

static void npf_not_present_write(void) {
  if (!npt_begin(0)) return;
  *npt_pte(PAGE_A) = 0;
  npf_expect(g_write, PAGE_A + OFF, NPF_FINAL | NPF_US | NPF_RW);
}

static void npf_write_read_only(void) {
  if (!npt_begin(0)) return;
  set_npte(PAGE_A, PAGE_A, PTE_P | PTE_U);
  npf_expect(g_write, PAGE_A + OFF, NPF_FINAL | NPF_US | NPF_RW | NPF_P);
  /* reading it is fine */
  CHECK_EQ(guest_read(PAGE_A + OFF, 1, 1), VAL_A);
}

/* a supervisor nested page: the guest's CPL 0 access is still a user access to the nested
 * tables */
static void npf_supervisor_page(void) {
  if (!npt_begin(0)) return;
  set_npte(PAGE_A, PAGE_A, PTE_P | PTE_W);
  npf_expect(g_read, PAGE_A + OFF, NPF_FINAL | NPF_US | NPF_P);
}

/* instruction fetch from a nested NX page (the host's EFER.NXE enables the bit) */
static void npf_execute_nx(void) {
  if (!npt_begin(0)) return;
  if (!has_nx()) { t_skip("no EFER.NXE"); return; }
  *(volatile u8 *)PAGE_A = 0xc3;   /* RET */
  set_npte(PAGE_A, PAGE_A, PWU | PTE_NX);
  npt_guest(guest_call_entry, 0);
  greg.rbx = PAGE_A;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_NPF, (void *)PAGE_A, NRIP_ANY)) return;
  u64 want = NPF_FINAL | NPF_US | NPF_ID | NPF_P;
  CHECK(exit_info1(vmcb) == want, "EXITINFO1 %#lx, want %#lx", exit_info1(vmcb), want);
  CHECK_EQ(exit_info2(vmcb), PAGE_A);
}

/* a reserved bit (51, above MAXPHYADDR) in a present nested PTE: RSV with P = 1 */
static void npf_reserved_bit(void) {
  if (!npt_begin(0)) return;
  if (max_phys_bits() >= 52) { t_skip("MAXPHYADDR is 52"); return; }
  set_npte(PAGE_A, PAGE_A, PWU | (1ul << 51));
  npf_expect(g_read, PAGE_A + OFF, NPF_FINAL | NPF_US | NPF_RSV | NPF_P);
}

/* the guest's own page tables at a GPA whose nested PTE is not present: the fault is on the
 * guest's table walk (bit 33), at the GPA of the guest's PML4 */
static void npf_on_guest_table_walk(void) {
  if (!npt_begin(0)) return;
  memcpy((void *)test_page(60), (const void *)pml4, 4096);
  npt_guest(guest_call_entry, 0);
  greg.rbx = (u64)mark_ran;
  VMCB64(vmcb, VMCB_CR3) = test_page(60);
  svm_run(vmcb);                       /* first with the tables reachable */
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not run with its PML4 at %#lx", test_page(60));
  *npt_pte(test_page(60)) = 0;
  npt_guest(guest_call_entry, 0);
  greg.rbx = (u64)mark_ran;
  VMCB64(vmcb, VMCB_CR3) = test_page(60);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_NPF, guest_call_entry, NRIP_ANY)) return;
  u64 i1 = exit_info1(vmcb);
  CHECK((i1 & (NPF_WALK | NPF_FINAL | NPF_P | NPF_US)) == (NPF_WALK | NPF_US),
        "EXITINFO1 %#lx, want bit 33, US, not bit 32, not P", i1);
  CHECK((exit_info2(vmcb) & ~0xffful) == test_page(60), "EXITINFO2 %#lx, want in page %#lx", exit_info2(vmcb), test_page(60));
}

/* a guest page-table fault is a guest #PF (here intercepted) with the guest's linear address,
 * not an NPF */
static void guest_pf_is_not_npf(void) {
  if (!npt_begin(0)) return;
  *test_pte(PAGE_C) = 0;
  invlpg(PAGE_C);
  npt_guest(g_read, PAGE_C + OFF);
  icpt_exc(vmcb, PF);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_EXC(PF), g_read_insn, 0)) return;
  CHECK_EQ(exit_info1(vmcb), 0);
  CHECK_EQ(exit_info2(vmcb), PAGE_C + OFF);
}

/* ---- ASIDs and TLB control (15.16) ---- */

/* ASID 0 is the host's: the guest's translation A -> B does not leak into the host */
static void host_tlb_separate(void) {
  if (!npt_begin(0)) return;
  set_npte(PAGE_A, PAGE_B, PWU);
  CHECK_EQ(guest_read(PAGE_A + OFF, 1, 1), VAL_B);
  CHECK_EQ(*(volatile u64 *)(PAGE_A + OFF), VAL_A);
}

/* a translation cached under ASID 1 is not used for ASID 2 */
static void asid_tags_translations(void) {
  if (!npt_begin(0)) return;
  set_npte(PAGE_A, PAGE_B, PWU);
  CHECK_EQ(guest_read(PAGE_A + OFF, 1, 1), VAL_B);
  set_npte(PAGE_A, PAGE_C, PWU);
  CHECK_EQ(guest_read(PAGE_A + OFF, 0, 2), VAL_C);
}

/* run ASID 1 with A -> B, remap A -> C without a flush, and run again with `tlb_control`:
 * returns what the second run read */
static u64 remap_between_runs(u8 tlb_control) {
  set_npte(PAGE_A, PAGE_B, PWU);
  u64 first = guest_read(PAGE_A + OFF, 1, 1);
  if (first != VAL_B) {
    t_fail("first run read %#lx, want %#lx", first, VAL_B);
    return 0;
  }
  set_npte(PAGE_A, PAGE_C, PWU);
  return guest_read(PAGE_A + OFF, tlb_control, 1);
}

/* without a flush the stale translation may stay visible (the TLB may also drop it at any
 * time: a SKIP then); TLB_CONTROL = 1 must remove it */
static void tlb_stale_until_flush(void) {
  if (!npt_begin(0)) return;
  u64 second = remap_between_runs(0);
  if (t_failed()) return;
  u64 third = guest_read(PAGE_A + OFF, 1, 1);
  CHECK_EQ(third, VAL_C);
  if (second == VAL_C) t_skip("no stale translation observed (allowed: nothing forces the TLB to keep it)");
  else CHECK_EQ(second, VAL_B);
}

static void tlb_control_flush_all(void) {
  if (!npt_begin(0)) return;
  u64 second = remap_between_runs(1);
  if (!t_failed()) CHECK_EQ(second, VAL_C);
}

static void tlb_control_flush_asid(void) {
  if (!npt_begin(SVMF_FLUSHBYASID)) return;
  u64 second = remap_between_runs(3);
  if (!t_failed()) CHECK_EQ(second, VAL_C);
}

/* INVLPGA (APM Vol. 3): invalidates the translation of one virtual address in one ASID */
static void invlpga_flushes_guest_entry(void) {
  if (!npt_begin(0)) return;
  set_npte(PAGE_A, PAGE_B, PWU);
  CHECK_EQ(guest_read(PAGE_A + OFF, 1, 1), VAL_B);
  set_npte(PAGE_A, PAGE_C, PWU);
  invlpga(PAGE_A + OFF, 1);
  CHECK_EQ(guest_read(PAGE_A + OFF, 0, 1), VAL_C);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(npt_identity_runs), T(npt_remap), T(npf_not_present_read), T(npf_not_present_write),
  T(npf_write_read_only), T(npf_supervisor_page), T(npf_execute_nx), T(npf_reserved_bit),
  T(npf_on_guest_table_walk), T(guest_pf_is_not_npf), T(host_tlb_separate),
  T(asid_tags_translations), T(tlb_stale_until_flush), T(tlb_control_flush_all),
  T(tlb_control_flush_asid), T(invlpga_flushes_guest_entry),
};
const int ntests = ARRAY_SIZE(tests);
