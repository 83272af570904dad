/*
 * SVM conformance cases that widely used SVM test suites (kvm-unit-tests x86/svm_tests.c,
 * x86/svm_npt.c) check and that a first implementation tends to get wrong (APM Vol. 2 ch. 15):
 * the RSM intercept before RSM's #UD, LMSW under the selective CR0-write intercept, the host's
 * RFLAGS.TF across VMRUN, the PAE PDPTEs at VMRUN, permission maps that end at MAXPHYADDR, an
 * SMI sent by self-IPI against the SMI intercept, the nested walk's error codes (guest table
 * accesses are writes, I/D only where it applies, PML4E bit 8 reserved), and the VMCB's RFLAGS
 * after an intercepted single-step #DB.
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

const char kernel_name[] = "svm_conform";

void kernel_setup(void) {
  svm_detect();
  svm_print_features();
}

static u64 nothing(u64 a) { return a; }

static u32 maxphyaddr(void) {
  u32 a, b, c, d;
  if (cpuid_max_ext() < 0x80000008) return 36;
  cpuid(0x80000008, 0, &a, &b, &c, &d);
  return a & 0xff;
}

/* ---- RSM: the intercept comes before RSM's own #UD outside SMM (15.7; kvm-unit-tests "rsm") ---- */
GUEST_INSN(g_rsm, "", "rsm");

static void rsm_intercept_before_ud(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_rsm);
  icpt1(vmcb, I1_RSM);
  icpt_exc(vmcb, UD);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_RSM, g_rsm_insn, g_rsm_end)) return;
  /* without the RSM intercept, RSM outside SMM is #UD */
  vmcb_init(vmcb, (u64)g_rsm);
  icpt_exc(vmcb, UD);
  svm_run(vmcb);
  expect_exit_at(vmcb, EXIT_EXC(UD), g_rsm_insn, 0);
}

/* ---- LMSW treats the selective CR0-write intercept as non-selective (15.9): an LMSW that
 * changes only MP exits with CR0_SEL_WRITE, and CR0 is unchanged ---- */
GUEST_INSN(g_lmsw_mp, "smsw %ax\n\txor $2, %eax", "lmsw %ax");

static void lmsw_mp_sel_write(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_lmsw_mp);
  u64 cr0 = VMCB64(vmcb, VMCB_CR0);
  icpt1(vmcb, I1_CR0_SEL);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_CR0_SEL, g_lmsw_mp_insn, g_lmsw_mp_end)) return;
  CHECK_EQ(VMCB64(vmcb, VMCB_CR0), cr0);
}

/* ---- the host's RFLAGS.TF at VMRUN: VMRUN's single-step trap is the host's, taken after
 * #VMEXIT at the instruction after VMRUN; the guest sees no #DB (15.5.2; kvm-unit-tests
 * host_rflags) ---- */
extern u8 svm_vmrun_insn[], svm_vmrun_after[];
static volatile u64 tf_rips[64];
static volatile u64 tf_n, tf_dr6_after;

static void host_tf_db(struct frame *f) {
  if (tf_n < 64) tf_rips[tf_n] = f->rip;
  tf_n++;
  /* the trap that follows the one before VMRUN ends the stepping, wherever it is */
  if (tf_n >= 2 && tf_rips[tf_n - 2] == (u64)svm_vmrun_insn) {
    tf_dr6_after = read_dr6();
    f->rflags &= ~0x100ul;
  }
  asm volatile("mov %0, %%dr6" :: "r"(0xffff0ff0ul));
}

static void host_tf_across_vmrun(void) {
  if (!svm_begin(0)) return;
  tf_n = 0;
  tf_dr6_after = 0;
  set_trap_handler(DB, host_tf_db);
  vmcb_init(vmcb, (u64)guest_call_entry);
  greg.rbx = (u64)nothing;
  icpt_exc(vmcb, DB);
  host_rflags_at_vmrun = 0x102;     /* TF, from the POPFQ right before the VMRUN sequence */
  clgi();
  svm_vmrun_regs(pa(vmcb), &greg);
  stgi();
  host_rflags_at_vmrun = 0;
  set_trap_handler(DB, 0);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  int vmrun_seen = -1, after_seen = -1;
  for (u64 i = 0; i < tf_n && i < 64; i++) {
    if (tf_rips[i] == (u64)svm_vmrun_insn) vmrun_seen = (int)i;
    if (tf_rips[i] == (u64)svm_vmrun_after && after_seen < 0) after_seen = (int)i;
  }
  CHECK(vmrun_seen >= 0, "no host single-step trap before VMRUN (%lu traps)", tf_n);
  CHECK(after_seen == vmrun_seen + 1, "the trap after the VMRUN trap was at %#lx, want %#lx (after VMRUN)",
        vmrun_seen >= 0 && vmrun_seen + 1 < (int)tf_n ? tf_rips[vmrun_seen + 1] : 0, (u64)svm_vmrun_after);
  CHECK((tf_dr6_after & 0x4000) != 0, "DR6 %#lx at the trap after VMRUN, want BS", tf_dr6_after);
}

/* ---- a single-step #DB intercepted in the guest: the VMCB's RFLAGS keeps TF, as the guest had
 * it when the trap was recognised (an intercepted exception is not delivered, so nothing
 * clears TF; KVM clears it itself after such an exit) ---- */
GUEST_INSN(g_ss, "nop", "nop");

static void db_intercept_keeps_tf(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_ss);
  VMCB64(vmcb, VMCB_RFLAGS) = 0x102;
  icpt_exc(vmcb, DB);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_EXC(DB), g_ss_insn, NRIP_ANY)) return;
  CHECK(VMCB64(vmcb, VMCB_RFLAGS) & 0x100, "VMCB RFLAGS %#lx: TF clear", VMCB64(vmcb, VMCB_RFLAGS));
}

/* ---- permission maps (15.5.1: a map that extends to an address at or above MAXPHYADDR is
 * illegal; the MSRPM is 8 KiB, the IOPM uses 8 KiB + 1 byte; kvm-unit-tests
 * test_msrpm_iopm_bitmap_addrs) ---- */
/* EXITCODE, with VMEXIT_INVALID compared in its low 32 bits as in svm_checks */
static u64 run_with_maps(u64 msrpm_pa, u64 iopm_pa) {
  vmcb_init(vmcb, (u64)guest_call_entry);
  greg.rbx = (u64)nothing;
  icpt1(vmcb, I1_MSR | I1_IOIO);
  VMCB64(vmcb, VMCB_MSRPM_BASE) = msrpm_pa;
  VMCB64(vmcb, VMCB_IOPM_BASE) = iopm_pa;
  svm_run(vmcb);
  return (u32)exit_code(vmcb) == 0xffffffffu ? EXIT_INVALID : exit_code(vmcb);
}

static void msrpm_ends_at_maxphyaddr(void) {
  if (!svm_begin(0)) return;
  u64 lim = 1ul << maxphyaddr();
  u64 c = run_with_maps(lim - 2 * 4096, pa(iopm));
  CHECK(c == EXIT_INVALID, "MSRPM at MAXPHYADDR - 8 KiB: exit %s (%#lx), want VMEXIT_INVALID", exit_name(c), c);
  c = run_with_maps(lim - 2 * 4096 + 1, pa(iopm));
  CHECK(c == EXIT_INVALID, "MSRPM at MAXPHYADDR - 8 KiB + 1: exit %s (%#lx), want VMEXIT_INVALID", exit_name(c), c);
}

static void iopm_placement(void) {
  if (!svm_begin(0)) return;
  u64 lim = 1ul << maxphyaddr();
  /* the IOPM's last used byte is at +0x2000: MAXPHYADDR - 12 KiB is legal, - 8 KiB is not */
  u64 c = run_with_maps(pa(msrpm), lim - 3 * 4096);
  CHECK(c == EXIT_VMMCALL, "IOPM at MAXPHYADDR - 12 KiB: exit %s (%#lx), want VMMCALL", exit_name(c), c);
  c = run_with_maps(pa(msrpm), lim - 2 * 4096);
  CHECK(c == EXIT_INVALID, "IOPM at MAXPHYADDR - 8 KiB: exit %s (%#lx), want VMEXIT_INVALID", exit_name(c), c);
}

/* ---- PAE guests: without nested paging VMRUN loads the four PDPTEs from guest CR3 and a
 * reserved bit (63:MAXPHYADDR, so 62:52 too) makes VMRUN fail; with nested paging they are not
 * checked at VMRUN and PDPTE0 faults when the guest walks through it (kvm-unit-tests
 * svm_pae_test) ---- */
#define ATTR_CS32 0x0c9b
static volatile u64 *pae_pdpt = (volatile u64 *)scratch_page;

static void pae_guest(int np) {
  vmcb_init(vmcb, (u64)guest_call_entry);
  if (np) vmcb_enable_npt(vmcb);
  vmcb_seg(vmcb, VMCB_CS, KCS, ATTR_CS32, 0xffffffff, 0);
  VMCB64(vmcb, VMCB_EFER) = EFER_SVME;
  VMCB64(vmcb, VMCB_CR4) = read_cr4() & 0x6f0;   /* PAE, PGE, PSE, OSFXSR: no SMEP/SMAP/OSXSAVE */
  VMCB64(vmcb, VMCB_CR4) |= 0x20;
  VMCB64(vmcb, VMCB_CR3) = pa(scratch_page);
  icpt_exc(vmcb, PF);
}

static void pae_pdptes(void) {
  if (!svm_begin(0)) return;
  memset(scratch_page, 0, 4096);
  /* all PDPTEs not present: VMRUN is legal; the first fetch is a #PF */
  pae_guest(0);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_EXC(PF))) return;
  CHECK_EQ(exit_info1(vmcb), 0);
  u32 m = maxphyaddr();
  int bits[] = { 1, 5, (int)m, 52, 55, 62, 63 };
  for (int k = 0; k < 4; k++) {
    for (u64 j = 0; j < ARRAY_SIZE(bits); j++) {
      memset(scratch_page, 0, 4096);
      pae_pdpt[k] = pa(save_page) | 1 | (1ul << bits[j]);
      pae_guest(0);
      svm_run(vmcb);
      u64 c = exit_code(vmcb);
      CHECK(c == EXIT_INVALID, "PDPTE%d bit %d: exit %s (%#lx), want VMEXIT_INVALID", k, bits[j], exit_name(c), c);
    }
  }
  memset(scratch_page, 0, 4096);
}

static void pae_pdptes_npt(void) {
  if (!svm_begin(SVMF_NP)) return;
  npt_init();
  /* PDPTE1 with bit 55 set is not checked at VMRUN; the fetch through PDPTE0 (not present) faults */
  memset(scratch_page, 0, 4096);
  pae_pdpt[1] = pa(save_page) | 1 | (1ul << 55);
  pae_guest(1);
  svm_run(vmcb);
  if (expect_exit(vmcb, EXIT_EXC(PF))) CHECK_EQ(exit_info1(vmcb), 0);
  /* PDPTE0 with bit 55 set: a reserved-bit #PF at the first fetch */
  memset(scratch_page, 0, 4096);
  pae_pdpt[0] = pa(save_page) | 1 | (1ul << 55);
  pae_guest(1);
  svm_run(vmcb);
  if (expect_exit(vmcb, EXIT_EXC(PF))) CHECK_EQ(exit_info1(vmcb) & ~(u64)PF_ID, PF_P | PF_RSV);
  memset(scratch_page, 0, 4096);
}

/* ---- SMI by self-IPI: with the SMI intercept, #VMEXIT(SMI) (15.13.2; kvm-unit-tests
 * svm_intr_intercept_mix_smi) ---- */
GUEST_INSN(g_smi, "mov $0xfee00300, %eax", "movl $0x40200, (%rax)\n\tmov $100000, %ecx\n1:\tdec %ecx\n\tjnz 1b");

static void smi_self_ipi_intercept(void) {
  if (!svm_begin(0)) return;
  lapic_enable();
  vmcb_init(vmcb, (u64)g_smi);
  icpt1(vmcb, I1_SMI);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_SMI)) return;
  u64 rip = guest_rip(vmcb);
  CHECK(rip > (u64)g_smi_insn && rip <= (u64)g_smi_end, "SMI exit at RIP %#lx, outside [%p, %p]", rip, g_smi_insn, g_smi_end);
}

/* ---- nested paging error codes (15.25.6; kvm-unit-tests svm_npt.c) ---- */
#define GPT_PAGE test_page(60)
#define CODE_PAGE test_page(53)

/* a guest whose PML4 is a copy of the host's at GPT_PAGE (inside the 4 KiB-mapped test region) */
static void npt_gpt_guest(u64 rip) {
  memcpy((void *)GPT_PAGE, (void *)(read_cr3() & ~0xffful), 4096);
  vmcb_init(vmcb, rip);
  vmcb_enable_npt(vmcb);
  VMCB64(vmcb, VMCB_CR3) = GPT_PAGE;
}

/* the guest's page-table accesses are checked as writes: a read-only nested mapping of its PML4
 * is an NPF with RW, US, P and bit 33 (npt_rw_pfwalk) */
static void npf_walk_is_write(void) {
  if (!svm_begin(SVMF_NP)) return;
  npt_init();
  npt_gpt_guest((u64)guest_call_entry);
  *npt_pte(GPT_PAGE) = GPT_PAGE | PTE_P | PTE_U;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_NPF)) return;
  CHECK(exit_info1(vmcb) == (NPF_WALK | NPF_P | NPF_RW | NPF_US), "EXITINFO1 %#lx, want %#lx", exit_info1(vmcb), NPF_WALK | NPF_P | NPF_RW | NPF_US);
  CHECK((exit_info2(vmcb) & ~0xffful) == GPT_PAGE, "EXITINFO2 %#lx, want in %#lx", exit_info2(vmcb), (u64)GPT_PAGE);
}

/* a fetch from a not-present nested page reports I/D only when the host has EFER.NXE (or
 * CR4.SMEP) set (8.4.2; npt_np / npt_nx) */
static void npf_fetch_id_bit(void) {
  if (!svm_begin(SVMF_NP)) return;
  if (read_cr4() & (1ul << 20)) { t_skip("host CR4.SMEP is set"); return; }
  npt_init();
  u64 efer = rdmsr(MSR_EFER);
  for (int nx = 0; nx < 2; nx++) {
    wrmsr(MSR_EFER, nx ? efer | EFER_NXE : efer & ~EFER_NXE);
    *npt_pte(CODE_PAGE) = 0;
    vmcb_init(vmcb, CODE_PAGE);
    vmcb_enable_npt(vmcb);
    svm_run(vmcb);
    wrmsr(MSR_EFER, efer);
    if (!expect_exit(vmcb, EXIT_NPF)) return;
    u64 want = NPF_FINAL | NPF_US | (nx ? NPF_ID : 0);
    CHECK(exit_info1(vmcb) == want, "host NXE %d: EXITINFO1 %#lx, want %#lx", nx, exit_info1(vmcb), want);
    CHECK_EQ(exit_info2(vmcb), CODE_PAGE);
  }
}

/* bit 8 of a nested PML4E is reserved (MBZ): the first guest table access faults with RSV */
static void npt_pml4e_bit8_reserved(void) {
  if (!svm_begin(SVMF_NP)) return;
  npt_init();
  npt_pml4[0] |= 1ul << 8;
  vmcb_init(vmcb, (u64)guest_call_entry);
  vmcb_enable_npt(vmcb);
  svm_run(vmcb);
  npt_pml4[0] &= ~(1ul << 8);
  if (!expect_exit(vmcb, EXIT_NPF)) return;
  u64 want = NPF_WALK | NPF_RSV | NPF_RW | NPF_US | NPF_P;
  CHECK(exit_info1(vmcb) == want, "EXITINFO1 %#lx, want %#lx", exit_info1(vmcb), want);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(rsm_intercept_before_ud), T(lmsw_mp_sel_write), T(host_tf_across_vmrun), T(db_intercept_keeps_tf),
  T(msrpm_ends_at_maxphyaddr), T(iopm_placement), T(pae_pdptes), T(pae_pdptes_npt),
  T(smi_self_ipi_intercept), T(npf_walk_is_write), T(npf_fetch_id_bit), T(npt_pml4e_bit8_reserved),
};
const int ntests = ARRAY_SIZE(tests);
