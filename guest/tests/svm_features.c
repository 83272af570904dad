/*
 * The optional SVM features hypervisors use, each behind its CPUID 8000_000A EDX bit (APM Vol. 2
 * ch. 15; Vol. 3 E.4.9): VMCB clean bits, decode assists, the pause filter and its threshold, the
 * TSC ratio MSR, LBR virtualization, VGIF, V_VMSAVE_VMLOAD and GMET. A feature the CPU does not
 * advertise is skipped.
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

#define MSR_TSC_RATIO 0xc0000104
#define MSR_DEBUGCTL 0x1d9
#define NP_GMET (1ul << 3)
#define VIRT_EXT_LBR 1ul
#define VIRT_EXT_VMSAVE 2ul
#define CLEAN_I (1u << 0)

const char kernel_name[] = "svm_features";

void kernel_setup(void) {
  svm_detect();
  svm_print_features();
}

GUEST_INSN(g_cpuid, "xor %eax, %eax", "cpuid");

/* ---- VMCB clean bits (15.15.3): a group whose clean bit is 0 is reloaded from the VMCB; a
 * VMCB the CPU has not just run is loaded whole whatever its clean bits say ---- */
static void clean_dirty_reloaded(void) {
  if (!svm_begin(SVMF_VMCBCLEAN)) return;
  vmcb_init(vmcb, (u64)g_cpuid);
  VMCB32(vmcb, VMCB_CLEAN) = 0;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_VMMCALL, g_cpuid_end, NRIP_ANY)) return;
  /* the intercept group is dirty: the new CPUID intercept applies */
  icpt1(vmcb, I1_CPUID);
  VMCB64(vmcb, VMCB_RIP) = (u64)g_cpuid;
  VMCB32(vmcb, VMCB_CLEAN) = ~CLEAN_I;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_CPUID, g_cpuid_insn, g_cpuid_end)) return;
  /* and dropped again, dirty again */
  VMCB32(vmcb, VMCB_ICPT_MISC1) &= ~I1_CPUID;
  VMCB64(vmcb, VMCB_RIP) = (u64)g_cpuid;
  VMCB32(vmcb, VMCB_CLEAN) = ~CLEAN_I;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_VMMCALL, g_cpuid_end, NRIP_ANY)) return;
  /* another VMCB with every clean bit set: loaded from memory (its own CPUID intercept) */
  vmcb_init(vmcb2, (u64)g_cpuid);
  icpt1(vmcb2, I1_CPUID);
  VMCB32(vmcb2, VMCB_CLEAN) = ~0u;
  svm_run(vmcb2);
  expect_exit_at(vmcb2, EXIT_CPUID, g_cpuid_insn, g_cpuid_end);
}

/* a dirty segment group: CS/SS/DS/ES selectors and CPL come from the VMCB again (SEG, bit 8) */
GUEST_INSN(g_cs, "", "mov %cs, %eax");

static void clean_dirty_segments(void) {
  if (!svm_begin(SVMF_VMCBCLEAN)) return;
  vmcb_init(vmcb, (u64)g_cs);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(VMCB64(vmcb, VMCB_RAX) & 0xffff, KCS);
  vmcb_set_cpl3(vmcb);
  VMCB64(vmcb, VMCB_RIP) = (u64)g_cs;
  VMCB32(vmcb, VMCB_CLEAN) = ~(1u << 8);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(VMCB64(vmcb, VMCB_RAX) & 0xffff, UCS | 3);
  CHECK_EQ(VMCB8(vmcb, VMCB_CPL), 3);
}

/* ---- decode assists (15.33): MOV CR writes and MOV DR give the GPR, an #NPF gives the bytes ---- */
GUEST_INSN(g_wcr4, "mov %cr4, %rbx", "mov %rbx, %cr4");
GUEST_INSN(g_rdr7, "", "mov %dr7, %rdx");
GUEST_INSN(g_npf_rd, "", "mov (%rbx), %rax");

static void decode_assists_more(void) {
  if (!svm_begin(SVMF_DECODEASSISTS)) return;
  vmcb_init(vmcb, (u64)g_wcr4);
  VMCB32(vmcb, VMCB_ICPT_CR) |= 1u << (16 + 4);
  svm_run(vmcb);
  if (expect_exit_at(vmcb, EXIT_WRITE_CR(4), g_wcr4_insn, g_wcr4_end)) CHECK_EQ(exit_info1(vmcb), (1ul << 63) | 3);
  vmcb_init(vmcb, (u64)g_rdr7);
  VMCB32(vmcb, VMCB_ICPT_DR) |= 1u << 7;
  svm_run(vmcb);
  if (expect_exit_at(vmcb, EXIT_READ_DR(7), g_rdr7_insn, g_rdr7_end)) CHECK_EQ(exit_info1(vmcb), 2);
  if (!svm_has(SVMF_NP)) return;
  npt_init();
  *npt_pte(test_page(50)) = 0;
  vmcb_init(vmcb, (u64)g_npf_rd);
  vmcb_enable_npt(vmcb);
  greg.rbx = test_page(50) + 8;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_NPF, g_npf_rd_insn, NRIP_ANY)) return;
  u32 n = VMCB8(vmcb, VMCB_INSN_LEN), len = (u32)(g_npf_rd_end - g_npf_rd_insn);
  CHECK(n >= len && n <= 15, "%u instruction bytes, want %u..15", n, len);
  for (u32 i = 0; i < len && i < n; i++) {
    CHECK(VMCB8(vmcb, VMCB_INSN_LEN + 1 + i) == g_npf_rd_insn[i], "byte %u: %#x, want %#x", i,
          VMCB8(vmcb, VMCB_INSN_LEN + 1 + i), g_npf_rd_insn[i]);
  }
}

/* The bytes are those the processor fetched, even when the instruction's own data accesses
 * have since replaced the code page's translation: MOVSB reads a source whose page shares the
 * code page's slot in worldswitch's direct-mapped TLB (2048 entries: 8 MiB apart; on another
 * CPU it is just a readable page), then its store takes the #NPF. */
GUEST_INSN(g_npf_movs, "", "movsb");

static void decode_assists_evicted(void) {
  if (!svm_begin(SVMF_DECODEASSISTS) || !svm_has(SVMF_NP)) return;
  npt_init();
  *npt_pte(test_page(50)) = 0;
  vmcb_init(vmcb, (u64)g_npf_movs);
  vmcb_enable_npt(vmcb);
  greg.rsi = ((u64)g_npf_movs_insn & ~0xffful) + (2048ul << 12);
  greg.rdi = test_page(50) + 8;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_NPF, g_npf_movs_insn, NRIP_ANY)) return;
  CHECK_EQ(exit_info1(vmcb) & 0xf, 0x6); /* a user write to a not-present page */
  u32 n = VMCB8(vmcb, VMCB_INSN_LEN);
  CHECK(n >= 1 && n <= 15, "%u instruction bytes, want 1..15", n);
  if (n >= 1) CHECK_EQ(VMCB8(vmcb, VMCB_INSN_LEN + 1), 0xa4);
}

/* ---- the pause filter (15.14.4): with count N the (N+1)th intercepted PAUSE exits; with a
 * threshold, PAUSEs further apart than it reload the count ---- */
GUEST_INSN(g_pauses, "mov $10, %ecx\n1:\tpause\n\tdec %ecx\n\tjnz 1b", "nop");

static void pause_filter_count(void) {
  if (!svm_begin(SVMF_PAUSEFILTER)) return;
  vmcb_init(vmcb, (u64)g_pauses);
  icpt1(vmcb, I1_PAUSE);
  VMCB16(vmcb, VMCB_PAUSE_FILTER_COUNT) = 5;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_PAUSE)) return;
  CHECK_EQ(greg.rcx, 5);
  /* count 0: every PAUSE exits */
  vmcb_init(vmcb, (u64)g_pauses);
  icpt1(vmcb, I1_PAUSE);
  svm_run(vmcb);
  if (expect_exit(vmcb, EXIT_PAUSE)) CHECK_EQ(greg.rcx, 10);
}

GUEST_INSN(g_slow_pauses, "mov $10, %ecx\n1:\tpause\n\tmov $200, %edx\n2:\tdec %edx\n\tjnz 2b\n\tdec %ecx\n\tjnz 1b", "nop");

static void pause_filter_threshold(void) {
  if (!svm_begin(SVMF_PAUSEFILTER | SVMF_PFTHRESHOLD)) return;
  /* PAUSEs some 400 cycles apart, threshold 2: the count is reloaded each time, no exit */
  vmcb_init(vmcb, (u64)g_slow_pauses);
  icpt1(vmcb, I1_PAUSE);
  VMCB16(vmcb, VMCB_PAUSE_FILTER_COUNT) = 3;
  VMCB16(vmcb, VMCB_PAUSE_FILTER_THRESHOLD) = 2;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  /* back-to-back PAUSEs with a threshold far above their spacing: the count runs out */
  vmcb_init(vmcb, (u64)g_pauses);
  icpt1(vmcb, I1_PAUSE);
  VMCB16(vmcb, VMCB_PAUSE_FILTER_COUNT) = 3;
  VMCB16(vmcb, VMCB_PAUSE_FILTER_THRESHOLD) = 0xffff;
  svm_run(vmcb);
  if (expect_exit(vmcb, EXIT_PAUSE)) CHECK_EQ(greg.rcx, 7);
}

/* ---- TSC ratio (15.30.5): the guest's TSC is the host's times the 8.32 ratio ---- */
GUEST_INSN(g_rdtsc, "", "rdtsc\n\tshl $32, %rdx\n\tor %rax, %rdx");

static void tsc_ratio(void) {
  if (!svm_begin(SVMF_TSCRATE)) return;
  CHECK_EQ(rdmsr(MSR_TSC_RATIO), 1ul << 32);
  wrmsr(MSR_TSC_RATIO, 3ul << 32);      /* 3.0 */
  vmcb_init(vmcb, (u64)g_rdtsc);
  u64 t0 = rdtsc();
  svm_run(vmcb);
  u64 t1 = rdtsc();
  u64 g = greg.rdx;
  wrmsr(MSR_TSC_RATIO, 1ul << 32);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK(g >= 3 * t0 && g <= 3 * t1, "guest TSC %#lx, want 3 x [%#lx, %#lx]", g, t0, t1);
}

static void wr_ratio_reserved(void *a) { (void)a; wrmsr(MSR_TSC_RATIO, 1ul << 40); }

static void tsc_ratio_reserved(void) {
  if (!svm_begin(SVMF_TSCRATE)) return;
  expect_fault("TSC_RATIO bit 40", catch_run(wr_ratio_reserved, 0), GP, 0);
  CHECK_EQ(rdmsr(MSR_TSC_RATIO), 1ul << 32);
}

/* ---- LBR virtualization (15.23): the guest's DebugCtl and LBRs live in the VMCB; the host's
 * are untouched ---- */
GUEST_INSN(g_branch, "", "jmp 1f\n\tud2\n1:");

static void lbr_virtualization(void) {
  if (!svm_begin(SVMF_LBRV)) return;
  wrmsr(MSR_DEBUGCTL, 0);
  vmcb_init(vmcb, (u64)g_branch);
  VMCB64(vmcb, VMCB_VIRT_EXT) = VIRT_EXT_LBR;
  VMCB64(vmcb, VMCB_DBGCTL) = 1;        /* LBR */
  svm_run(vmcb);
  u64 host_dbgctl = rdmsr(MSR_DEBUGCTL);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(host_dbgctl, 0);
  CHECK_EQ(VMCB64(vmcb, VMCB_DBGCTL), 1);
  CHECK_EQ(VMCB64(vmcb, VMCB_BR_FROM), (u64)g_branch_insn);
  CHECK_EQ(VMCB64(vmcb, VMCB_BR_TO), (u64)g_branch_end);
}

/* ---- VGIF (15.33): a guest's CLGI/STGI set V_GIF, and V_GIF = 0 holds virtual interrupts ---- */
GUEST_INSN(g_clgi, "", "clgi\n\tnop\n\tnop");
GUEST_INSN(g_stgi, "", "stgi\n\tnop\n\tnop");

static void vgif(void) {
  if (!svm_begin(SVMF_VGIF)) return;
  vmcb_init(vmcb, (u64)g_clgi);
  VMCB32(vmcb, VMCB_INT_CTL) = V_GIF_ENABLE | V_GIF | V_IRQ | V_INTR_PRIO(2) | V_INTR_MASKING;
  VMCB64(vmcb, VMCB_RFLAGS) = 0x2;      /* IF = 0: the virtual interrupt waits */
  icpt1(vmcb, I1_VINTR);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_VMMCALL, g_clgi_end, NRIP_ANY)) return;
  CHECK(!(VMCB32(vmcb, VMCB_INT_CTL) & V_GIF), "V_GIF still set after the guest's CLGI");
  /* V_GIF = 0, IF = 1: V_IRQ is still held */
  VMCB64(vmcb, VMCB_RIP) = (u64)g_clgi_end;
  VMCB64(vmcb, VMCB_RFLAGS) = 0x202;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_VMMCALL, g_clgi_end, NRIP_ANY)) return;
  /* the guest's STGI: the VINTR intercept fires at the next boundary */
  VMCB64(vmcb, VMCB_RIP) = (u64)g_stgi;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VINTR)) return;
  CHECK(VMCB32(vmcb, VMCB_INT_CTL) & V_GIF, "V_GIF clear after the guest's STGI");
}

/* ---- V_VMSAVE_VMLOAD (15.33): with nested paging, a guest's VMSAVE takes rAX as a
 * guest-physical address ---- */
GUEST_INSN(g_vmsave, "", "vmsave %rax");

static void vmsave_virtualized(void) {
  if (!svm_begin(SVMF_NP | SVMF_VMSAVE_VIRT)) return;
  npt_init();
  u64 a = test_page(54), b = test_page(55);
  memset((void *)a, 0, 4096);
  memset((void *)b, 0, 4096);
  *npt_pte(a) = b | PTE_P | PTE_W | PTE_U;
  vmcb_init(vmcb, (u64)g_vmsave);
  vmcb_enable_npt(vmcb);
  VMCB64(vmcb, VMCB_VIRT_EXT) = VIRT_EXT_VMSAVE;
  VMCB64(vmcb, VMCB_RAX) = a;
  VMCB64(vmcb, VMCB_STAR) = 0;
  wrmsr(MSR_STAR, rdmsr(MSR_STAR));
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_VMMCALL, g_vmsave_end, NRIP_ANY)) return;
  CHECK(VMCB64((u8 *)b, VMCB_STAR) == rdmsr(MSR_STAR), "STAR at the system page %#lx, want %#lx", VMCB64((u8 *)b, VMCB_STAR), rdmsr(MSR_STAR));
  CHECK(VMCB64((u8 *)a, VMCB_STAR) == 0, "the guest-physical page was written as system-physical");
}

/* ---- GMET (15.25): a supervisor fetch from a user nested page is an #NPF ---- */
static void gmet(void) {
  if (!svm_begin(SVMF_NP | SVMF_GMET)) return;
  npt_init();
  vmcb_init(vmcb, (u64)guest_call_entry);
  vmcb_enable_npt(vmcb);
  VMCB64(vmcb, VMCB_NP_ENABLE) |= NP_GMET;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_NPF)) return;
  CHECK((exit_info1(vmcb) & (NPF_FINAL | NPF_P | NPF_US)) == (NPF_FINAL | NPF_P | NPF_US), "EXITINFO1 %#lx", exit_info1(vmcb));
  CHECK_EQ(exit_info2(vmcb) & ~0xffful, (u64)guest_call_entry & ~0xffful);
  /* U=0 (here at the PML4E) marks supervisor pages: with GMET the guest's kernel code runs
   * and reads them; without GMET every guest access to them faults (they are user accesses) */
  npt_pml4[0] &= ~PTE_U;
  vmcb_init(vmcb, (u64)g_npf_rd);
  vmcb_enable_npt(vmcb);
  VMCB64(vmcb, VMCB_NP_ENABLE) |= NP_GMET;
  greg.rbx = test_page(51);
  svm_run(vmcb);
  expect_exit_at(vmcb, EXIT_VMMCALL, g_npf_rd_end, NRIP_ANY);
  vmcb_init(vmcb, (u64)g_npf_rd);
  vmcb_enable_npt(vmcb);
  svm_run(vmcb);
  if (expect_exit(vmcb, EXIT_NPF)) CHECK_EQ(exit_info1(vmcb) & (NPF_P | NPF_US), NPF_P | NPF_US);
  npt_pml4[0] |= PTE_U;
}

/* ---- vNMI (15.21): V_NMI_PENDING is taken as an NMI through the guest IDT unless
 * V_NMI_BLOCKING; its delivery sets the blocking and the handler's IRET clears it ---- */
GUEST_INSN(g_nops, "nop\n\tnop", "nop");

static void vnmi(void) {
  if (!svm_begin(SVMF_VNMI)) return;
  guest_return_on(NMI);
  vmcb_init(vmcb, (u64)g_nops);
  VMCB32(vmcb, VMCB_INT_CTL) = V_NMI_ENABLE | V_NMI_PENDING;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, NMI);
  CHECK_EQ(g_ev.rip, (u64)g_nops);
  CHECK_EQ(VMCB32(vmcb, VMCB_INT_CTL) & (V_NMI_PENDING | V_NMI_BLOCKING), 0);
  /* blocked: it stays pending */
  g_ev.count = 0;
  vmcb_init(vmcb, (u64)g_nops);
  VMCB32(vmcb, VMCB_INT_CTL) = V_NMI_ENABLE | V_NMI_PENDING | V_NMI_BLOCKING;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(g_ev.count, 0);
  CHECK_EQ(VMCB32(vmcb, VMCB_INT_CTL) & (V_NMI_PENDING | V_NMI_BLOCKING), V_NMI_PENDING | V_NMI_BLOCKING);
}

/* An NMI injected through EVENTINJ with vNMI on sets V_NMI_BLOCKING (APM Vol. 2 15.21.10: "VMRUN
 * sets V_NMI_MASK"), so a pending virtual NMI waits for the handler's IRET; without vNMI an
 * injected NMI blocks nothing (15.20). First the handler ends the run at once (no IRET): one NMI,
 * both bits still set; then it returns by IRET: the pending one follows, and both bits clear. */
/* one run: an NMI injected by EVENTINJ with a virtual NMI pending */
static int vnmi_inject_run(void) {
  g_ev.count = 0;
  vmcb_init(vmcb, (u64)g_nops);
  VMCB32(vmcb, VMCB_INT_CTL) = V_NMI_ENABLE | V_NMI_PENDING;
  VMCB32(vmcb, VMCB_EVENTINJ) = EV_VALID | EV_TYPE_NMI | NMI;
  svm_run(vmcb);
  return expect_exit(vmcb, EXIT_VMMCALL);
}

static void vnmi_eventinj(void) {
  if (!svm_begin(SVMF_VNMI)) return;
  if (!vnmi_inject_run()) return;
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, NMI);
  CHECK_EQ(VMCB32(vmcb, VMCB_INT_CTL) & (V_NMI_PENDING | V_NMI_BLOCKING), V_NMI_PENDING | V_NMI_BLOCKING);
  guest_return_on(NMI);
  if (!vnmi_inject_run()) return;
  CHECK_EQ(g_ev.count, 2);
  CHECK_EQ(VMCB32(vmcb, VMCB_INT_CTL) & (V_NMI_PENDING | V_NMI_BLOCKING), 0);
}

/* ---- the task-switch intercept (15.14): a legacy-mode guest's task switch exits before it
 * starts, EXITINFO1 = the TSS selector, EXITINFO2 = bit 36 for IRET, 38 for JMP ---- */
static u64 ts_gdt[4] __attribute__((aligned(16)));

static u8 *ts_guest(const u8 *code, u32 n) {
  u8 *p = (u8 *)test_page(56);
  u64 tss = test_page(57);
  memcpy(p, code, n);
  memset((void *)tss, 0, 0x68);
  ts_gdt[0] = 0;
  /* 0x08: available 32-bit TSS (type 9), present, limit 67h */
  ts_gdt[1] = 0x67 | ((tss & 0xffffff) << 16) | (0x89ul << 40) | ((tss >> 24) << 56);
  /* 0x10: task gate (type 5) for TSS 0x08 */
  ts_gdt[2] = (0x08ul << 16) | (0x85ul << 40);
  vmcb_init(vmcb, (u64)p);
  vmcb_seg(vmcb, VMCB_CS, KCS, 0x0c9b, 0xffffffff, 0);    /* 32-bit code */
  VMCB64(vmcb, VMCB_GDTR + SEG_BASE) = (u64)ts_gdt;
  VMCB32(vmcb, VMCB_GDTR + SEG_LIMIT) = sizeof(ts_gdt) - 1;
  VMCB64(vmcb, VMCB_EFER) = EFER_SVME;
  VMCB64(vmcb, VMCB_CR0) = 0x31;                           /* PE, ET, NE; no paging */
  VMCB64(vmcb, VMCB_CR4) = 0;
  icpt1(vmcb, I1_TASK_SWITCH);
  icpt_exc(vmcb, GP);
  icpt_exc(vmcb, UD);
  icpt_exc(vmcb, NP);
  return p;
}

static void task_switch_intercept(void) {
  if (!svm_begin(0)) return;
  static const u8 jmp_tss[] = { 0xea, 0, 0, 0, 0, 0x08, 0 };          /* ljmp $0x08, $0 */
  static const u8 call_gate[] = { 0x9a, 0, 0, 0, 0, 0x10, 0 };        /* lcall $0x10, $0 */
  static const u8 iret_nt[] = { 0x9c, 0x81, 0x0c, 0x24, 0, 0x40, 0, 0, 0x9d, 0xcf }; /* pushf; or NT; popf; iret */
  u8 *p = ts_guest(jmp_tss, sizeof(jmp_tss));
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_TASK_SWITCH, p, NRIP_ANY)) return;
  CHECK_EQ(exit_info1(vmcb), 0x08);
  CHECK_EQ(exit_info2(vmcb), 1ul << 38);
  p = ts_guest(call_gate, sizeof(call_gate));
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_TASK_SWITCH, p, NRIP_ANY)) return;
  CHECK_EQ(exit_info1(vmcb), 0x08);
  CHECK_EQ(exit_info2(vmcb), 0);
  p = ts_guest(iret_nt, sizeof(iret_nt));
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_TASK_SWITCH, p + 9, NRIP_ANY)) return;
  CHECK_EQ(exit_info2(vmcb), 1ul << 36);
}

/* INT n through an IDT task gate: the exit reports the event in EXITINTINFO */
static u64 ts_idt[0x21] __attribute__((aligned(16)));

static void task_switch_idt_gate(void) {
  if (!svm_begin(0)) return;
  static const u8 int20[] = { 0xcd, 0x20 };                           /* int $0x20 */
  u8 *p = ts_guest(int20, sizeof(int20));
  memset(ts_idt, 0, sizeof(ts_idt));
  ts_idt[0x20] = (0x08ul << 16) | (0x85ul << 40);                     /* task gate, DPL 0 */
  VMCB64(vmcb, VMCB_IDTR + SEG_BASE) = (u64)ts_idt;
  VMCB32(vmcb, VMCB_IDTR + SEG_LIMIT) = sizeof(ts_idt) - 1;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_TASK_SWITCH, p, NRIP_ANY)) return;
  CHECK_EQ(exit_info1(vmcb), 0x08);
  CHECK_EQ(exit_info2(vmcb), 0);
  CHECK_EQ(exit_intinfo(vmcb), EV_VALID | EV_TYPE_SOFT | 0x20);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(clean_dirty_reloaded), T(clean_dirty_segments), T(decode_assists_more), T(decode_assists_evicted), T(pause_filter_count),
  T(pause_filter_threshold), T(tsc_ratio), T(tsc_ratio_reserved), T(lbr_virtualization), T(vgif),
  T(vmsave_virtualized), T(gmet), T(vnmi), T(vnmi_eventinj), T(task_switch_intercept), T(task_switch_idt_gate),
};
const int ntests = ARRAY_SIZE(tests);
