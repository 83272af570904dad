/*
 * VMRUN consistency checks (APM Vol. 2 15.5.1, "Canonicalization and Consistency Checks"):
 * an illegal guest state or control field makes VMRUN exit at once with
 * #VMEXIT(VMEXIT_INVALID), EXITCODE = -1 as a 64-bit value. The guest never runs; the host
 * continues after VMRUN with its own state, and GIF = 0 like after any #VMEXIT.
 *
 * Each check test looks at the low 32 bits of EXITCODE (0xffffffff) so that it reports whether
 * the check exists; invalid_exitcode_is_64bit checks the full value once.
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

const char kernel_name[] = "svm_checks";

void kernel_setup(void) {
  svm_detect();
  svm_print_features();
}

GUEST_INSN(g_vmmcall, "", "vmmcall");

static volatile int guest_ran;
/* a guest that marks that it ran, then exits */
static u64 mark_ran(u64 a) { (void)a; guest_ran = 1; return 0; }

static void valid_vmcb(void) {
  vmcb_init(vmcb, (u64)guest_call_entry);
  greg.rbx = (u64)mark_ran;
  guest_ran = 0;
}

/* run the VMCB prepared by the test; the low 32 bits of EXITCODE must be VMEXIT_INVALID's, the
 * guest must not have run, and the host must be intact */
static void expect_invalid(const char *what) {
  u64 rax = 0;
  clgi();
  rax = svm_vmrun_regs(pa(vmcb), &greg);
  stgi();
  u64 code = exit_code(vmcb);
  if ((u32)code != 0xffffffffu) {
    t_fail("%s: exit %s (%#lx), want VMEXIT_INVALID", what, exit_name(code), code);
    return;
  }
  CHECK(!guest_ran, "%s: the guest ran", what);
  CHECK(rax == pa(vmcb), "%s: host RAX %#lx after VMRUN", what, rax);
  CHECK(hprobe.rsp_after == hprobe.rsp_before, "%s: host RSP %#lx, want %#lx", what, hprobe.rsp_after, hprobe.rsp_before);
  CHECK(hprobe.cs == KCS && hprobe.ss == KDS, "%s: host CS:SS %#x:%#x", what, hprobe.cs, hprobe.ss);
}

static void check_run(void (*tweak)(void), const char *what) {
  if (!svm_begin(0)) return;
  valid_vmcb();
  tweak();
  expect_invalid(what);
}

/* the untouched default VMCB runs (so the tests below fail for the one field they change) */
static void valid_guest_runs(void) {
  if (!svm_begin(0)) return;
  valid_vmcb();
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not run");
}

/* EXITCODE = -1 is written as 64 bits (APM Vol. 2, Appendix C: VMEXIT_INVALID = -1) */
static void invalid_exitcode_is_64bit(void) {
  if (!svm_begin(0)) return;
  valid_vmcb();
  VMCB32(vmcb, VMCB_ASID) = 0;
  svm_run(vmcb);
  CHECK(exit_code(vmcb) == EXIT_INVALID, "EXITCODE %#lx, want 0xffffffffffffffff", exit_code(vmcb));
}

#define CHECK_TEST(name, what, body)                                                             \
  static void name##_tweak(void) { body; }                                                       \
  static void name(void) { check_run(name##_tweak, what); }

CHECK_TEST(efer_svme_clear, "EFER.SVME = 0", VMCB64(vmcb, VMCB_EFER) &= ~EFER_SVME)
CHECK_TEST(cr0_nw_without_cd, "CR0.CD = 0, NW = 1",
           VMCB64(vmcb, VMCB_CR0) = (VMCB64(vmcb, VMCB_CR0) & ~(1ul << 30)) | (1ul << 29))
CHECK_TEST(cr0_high_bits, "CR0 bit 32", VMCB64(vmcb, VMCB_CR0) |= 1ul << 32)
CHECK_TEST(cr0_bit63, "CR0 bit 63", VMCB64(vmcb, VMCB_CR0) |= 1ul << 63)
/* long mode CR3: bits 63:52 are MBZ (APM Vol. 2 3.1.2) */
CHECK_TEST(cr3_mbz, "CR3 bit 52", VMCB64(vmcb, VMCB_CR3) |= 1ul << 52)
CHECK_TEST(cr4_mbz_high, "CR4 bit 63", VMCB64(vmcb, VMCB_CR4) |= 1ul << 63)
CHECK_TEST(cr4_mbz_bit32, "CR4 bit 32", VMCB64(vmcb, VMCB_CR4) |= 1ul << 32)
CHECK_TEST(efer_mbz, "EFER bit 63", VMCB64(vmcb, VMCB_EFER) |= 1ul << 63)
CHECK_TEST(efer_mbz_bit32, "EFER bit 32", VMCB64(vmcb, VMCB_EFER) |= 1ul << 32)
CHECK_TEST(dr6_high_bits, "DR6 bit 32", VMCB64(vmcb, VMCB_DR6) |= 1ul << 32)
CHECK_TEST(dr7_high_bits, "DR7 bit 32", VMCB64(vmcb, VMCB_DR7) |= 1ul << 32)
CHECK_TEST(lme_pg_without_pae, "EFER.LME and CR0.PG with CR4.PAE = 0", VMCB64(vmcb, VMCB_CR4) &= ~CR4_PAE)
CHECK_TEST(lme_pg_without_pe, "EFER.LME and CR0.PG with CR0.PE = 0", VMCB64(vmcb, VMCB_CR0) &= ~CR0_PE)
/* CS.L and CS.D both set in long mode (attribute bits 9 and 10) */
CHECK_TEST(long_mode_cs_l_and_d, "CS.L = CS.D = 1 in long mode", VMCB16(vmcb, VMCB_CS + SEG_ATTR) |= 0x400)
CHECK_TEST(vmrun_intercept_clear, "VMRUN intercept clear", VMCB32(vmcb, VMCB_ICPT_MISC2) &= ~I2_VMRUN)
CHECK_TEST(asid_zero, "ASID 0", VMCB32(vmcb, VMCB_ASID) = 0)
/* EVENTINJ: reserved types 1, 5, 6, 7 and exceptions with vector 2 (NMI) are illegal (15.20) */
CHECK_TEST(eventinj_type1, "EVENTINJ TYPE 1", VMCB32(vmcb, VMCB_EVENTINJ) = EV_VALID | (1u << 8) | 0x20)
CHECK_TEST(eventinj_type7, "EVENTINJ TYPE 7", VMCB32(vmcb, VMCB_EVENTINJ) = EV_VALID | (7u << 8) | 0x20)
CHECK_TEST(eventinj_exception_nmi_vector, "EVENTINJ exception with vector 2",
           VMCB32(vmcb, VMCB_EVENTINJ) = EV_VALID | EV_TYPE_EXC | NMI)
/* the MSRPM (8 KiB) and IOPM (12 KiB) must lie below MAXPHYADDR */
CHECK_TEST(msrpm_beyond_maxphyaddr, "MSRPM beyond MAXPHYADDR",
           VMCB64(vmcb, VMCB_MSRPM_BASE) = (1ul << max_phys_bits()) - 4096)
CHECK_TEST(iopm_beyond_maxphyaddr, "IOPM beyond MAXPHYADDR",
           VMCB64(vmcb, VMCB_IOPM_BASE) = (1ul << max_phys_bits()) - 8192)

/* with nested paging, G_PAT must hold valid memory types (2, 3 and 8+ are reserved) */
static void gpat_invalid_type(void) {
  if (!svm_begin(SVMF_NP)) return;
  npt_init();
  valid_vmcb();
  vmcb_enable_npt(vmcb);
  VMCB64(vmcb, VMCB_G_PAT) = 0x0007040600070402ul;
  expect_invalid("G_PAT entry 0 = 2");
}

/* and the valid guest still runs with nested paging on */
static void gpat_valid_runs(void) {
  if (!svm_begin(SVMF_NP)) return;
  npt_init();
  valid_vmcb();
  vmcb_enable_npt(vmcb);
  VMCB64(vmcb, VMCB_G_PAT) = 0x0007040600070406ul;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(guest_ran, "the guest did not run");
}

/* the checks' #VMEXIT clears GIF too: an NMI sent after it waits for STGI (15.17) */
static volatile u64 nmis;
static void count_nmi(struct frame *f) { (void)f; nmis++; }

static void invalid_clears_gif(void) {
  if (!svm_begin(0)) return;
  lapic_enable();
  nmis = 0;
  set_trap_handler(NMI, count_nmi);
  valid_vmcb();
  VMCB32(vmcb, VMCB_ASID) = 0;
  svm_run_nogif(vmcb);                 /* GIF = 1 at VMRUN */
  u64 code = exit_code(vmcb);
  lapic_nmi_self();
  for (int i = 0; i < 200000 && !nmis; i++) asm volatile("pause");
  u64 held = nmis;
  stgi();
  for (int i = 0; i < 200000 && !nmis; i++) asm volatile("pause");
  CHECK((u32)code == 0xffffffffu, "exit %s, want VMEXIT_INVALID", exit_name(code));
  CHECK(held == 0, "NMI taken with GIF = 0");
  CHECK_EQ(nmis, 1);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(valid_guest_runs), T(invalid_exitcode_is_64bit), T(efer_svme_clear), T(cr0_nw_without_cd),
  T(cr0_high_bits), T(cr0_bit63), T(cr3_mbz), T(cr4_mbz_high), T(cr4_mbz_bit32), T(efer_mbz),
  T(efer_mbz_bit32), T(dr6_high_bits), T(dr7_high_bits), T(lme_pg_without_pae),
  T(lme_pg_without_pe), T(long_mode_cs_l_and_d), T(vmrun_intercept_clear), T(asid_zero),
  T(eventinj_type1), T(eventinj_type7), T(eventinj_exception_nmi_vector),
  T(msrpm_beyond_maxphyaddr), T(iopm_beyond_maxphyaddr), T(gpat_invalid_type), T(gpat_valid_runs),
  T(invalid_clears_gif),
};
const int ntests = ARRAY_SIZE(tests);
