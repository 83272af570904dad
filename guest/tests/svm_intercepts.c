/*
 * SVM intercepts (APM Vol. 2, ch. 15, 'Intercept Operation' to 'Miscellaneous Intercepts'): each instruction intercept exits with its code
 * before the instruction executes (guest RIP = the instruction, NRIP = the next one when CPUID
 * NRIPS, 15.7.1), and without the intercept the instruction just runs; CR/DR accesses, the
 * selective CR0 write, exceptions with their EXITINFO, decode assists, and the shutdown of a
 * triple-faulting guest (last). IOIO, MSR and NRIP are in svm_iomsr.
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

const char kernel_name[] = "svm_intercepts";

void kernel_setup(void) {
  svm_detect();
  svm_print_features();
}

u8 g_scratch[64] __attribute__((aligned(16)));

/* run guest code `start` with intercept bits `bits` in VMCB word `word`: the exit is `code` at
 * `insn` with NRIP `nrip`; with `both`, a second run without the bits reaches the VMMCALL at
 * `end` */
static void (*icpt_run_hook)(void);   /* extra setup after svm_begin */
static void icpt_run(u8 *start, u8 *insn, u8 *end, u32 word, u32 bits, u64 code, const void *nrip, int both) {
  if (!svm_begin(0)) return;
  if (icpt_run_hook) icpt_run_hook();
  vmsave(pa(vmcb2));
  greg.rbx = pa(vmcb2);
  vmcb_init(vmcb, (u64)start);
  VMCB32(vmcb, word) |= bits;
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, code, insn, nrip) || !both) return;
  greg.rbx = pa(vmcb2);
  vmcb_init(vmcb, (u64)start);
  svm_run(vmcb);
  expect_exit_at(vmcb, EXIT_VMMCALL, end, end + 3);
}

/* an instruction intercept (NRIP = the next instruction), tested with and without it */
#define ITEST(name, pre, insn, word, bits, code)                                                 \
  GUEST_INSN(g_##name, pre, insn);                                                               \
  static void name(void) { icpt_run(g_##name, g_##name##_insn, g_##name##_end, word, bits, code, g_##name##_end, 1); }
/* only with the intercept (the instruction would hang, fault or change the machine) */
#define ITEST1(name, pre, insn, word, bits, code)                                                \
  GUEST_INSN(g_##name, pre, insn);                                                               \
  static void name(void) { icpt_run(g_##name, g_##name##_insn, g_##name##_end, word, bits, code, g_##name##_end, 0); }

#define M1 VMCB_ICPT_MISC1
#define M2 VMCB_ICPT_MISC2
#define CRI VMCB_ICPT_CR
#define DRI VMCB_ICPT_DR

/* ---- instruction intercepts ('Instruction Intercepts') ---- */
ITEST(icpt_cpuid, "xor %eax, %eax\n\txor %ecx, %ecx", "cpuid", M1, I1_CPUID, EXIT_CPUID)
ITEST1(icpt_hlt, "", "hlt", M1, I1_HLT, EXIT_HLT)
ITEST(icpt_rdtsc, "", "rdtsc", M1, I1_RDTSC, EXIT_RDTSC)
ITEST1(icpt_rdpmc, "xor %ecx, %ecx", "rdpmc", M1, I1_RDPMC, EXIT_RDPMC)
ITEST(icpt_pause, "", "pause", M1, I1_PAUSE, EXIT_PAUSE)
ITEST(icpt_invlpg, "mov $0x400000, %eax", "invlpg (%rax)", M1, I1_INVLPG, EXIT_INVLPG)
ITEST(icpt_invlpga, "mov $0x400000, %eax\n\tmov $1, %ecx", "invlpga %rax, %ecx", M1, I1_INVLPGA, EXIT_INVLPGA)
ITEST(icpt_wbinvd, "", "wbinvd", M2, I2_WBINVD, EXIT_WBINVD)
ITEST1(icpt_invd, "", "invd", M1, I1_INVD, EXIT_INVD)
ITEST(icpt_pushf, "", "pushfq", M1, I1_PUSHF, EXIT_PUSHF)
ITEST(icpt_popf, "pushfq", "popfq", M1, I1_POPF, EXIT_POPF)
ITEST(icpt_sidt, "", "sidt g_scratch(%rip)", M1, I1_IDTR_READ, EXIT_IDTR_READ)
ITEST(icpt_sgdt, "", "sgdt g_scratch(%rip)", M1, I1_GDTR_READ, EXIT_GDTR_READ)
ITEST(icpt_sldt, "", "sldt %ax", M1, I1_LDTR_READ, EXIT_LDTR_READ)
ITEST(icpt_str, "", "str %ax", M1, I1_TR_READ, EXIT_TR_READ)
ITEST(icpt_lidt, "sidt g_scratch(%rip)", "lidt g_scratch(%rip)", M1, I1_IDTR_WRITE, EXIT_IDTR_WRITE)
ITEST(icpt_lgdt, "sgdt g_scratch(%rip)", "lgdt g_scratch(%rip)", M1, I1_GDTR_WRITE, EXIT_GDTR_WRITE)
ITEST(icpt_lldt, "xor %eax, %eax", "lldt %ax", M1, I1_LDTR_WRITE, EXIT_LDTR_WRITE)
ITEST1(icpt_ltr, "mov $0x30, %eax", "ltr %ax", M1, I1_TR_WRITE, EXIT_TR_WRITE)
ITEST(icpt_intn_run, "", "int $0x50", M1, I1_INTN, EXIT_SWINT)
ITEST(icpt_iret,
      "mov %rsp, %rax\n\tpushq $0x10\n\tpushq %rax\n\tpushfq\n\tpushq $0x8\n\t"
      "lea g_icpt_iret_end(%rip), %rax\n\tpushq %rax",
      "iretq", M1, I1_IRET, EXIT_IRET)
ITEST(icpt_vmload, "mov %rbx, %rax", "vmload %rax", M2, I2_VMLOAD, EXIT_VMLOAD)
ITEST(icpt_vmsave, "mov %rbx, %rax", "vmsave %rax", M2, I2_VMSAVE, EXIT_VMSAVE)
ITEST(icpt_stgi, "", "stgi", M2, I2_STGI, EXIT_STGI)
ITEST(icpt_clgi, "", "clgi", M2, I2_CLGI, EXIT_CLGI)
ITEST1(icpt_vmrun, "mov %rbx, %rax", "vmrun %rax", M2, 0, EXIT_VMRUN)
/* without the intercept ICEBP raises #DB in the guest: icebp_db_in_guest */
ITEST1(icpt_icebp, "", ".byte 0xf1", M2, I2_ICEBP, EXIT_ICEBP)

/* the handler for INT 0x50 returns, so the run without the intercept reaches the VMMCALL */
static void icpt_intn_setup(void) { guest_return_on(0x50); }

ITEST(icpt_rdtscp_run, "", "rdtscp", M2, I2_RDTSCP, EXIT_RDTSCP)
static void icpt_rdtscp(void) {
  u32 a, b, c, d;
  cpuid(0x80000001, 0, &a, &b, &c, &d);
  if (!(d & (1u << 27))) { t_skip("no RDTSCP"); return; }
  icpt_rdtscp_run();
}

ITEST(icpt_xsetbv_run, "xor %ecx, %ecx\n\tmov $3, %eax\n\txor %edx, %edx", "xsetbv", M2, I2_XSETBV, EXIT_XSETBV)
/* XSETBV needs CR4.OSXSAVE (else #UD, ahead of the intercept); the guest's CR4 gets it */
static void icpt_xsetbv(void) {
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  if (!(c & (1u << 26))) { t_skip("no XSAVE"); return; }
  write_cr4(read_cr4() | (1ul << 18));   /* vmcb_init copies the host's CR4 */
  icpt_xsetbv_run();
}

ITEST(icpt_monitor_run, "lea g_scratch(%rip), %rax\n\txor %ecx, %ecx\n\txor %edx, %edx", "monitor", M2, I2_MONITOR, EXIT_MONITOR)
ITEST1(icpt_mwait_run, "xor %eax, %eax\n\txor %ecx, %ecx", "mwait", M2, I2_MWAIT, EXIT_MWAIT)
static int have_monitor(void) {
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  if (!(c & (1u << 3))) t_skip("no MONITOR/MWAIT");
  return (c & (1u << 3)) != 0;
}
static void icpt_monitor(void) { if (have_monitor()) icpt_monitor_run(); }
static void icpt_mwait(void) { if (have_monitor()) icpt_mwait_run(); }

/* ICEBP without its intercept raises #DB in the guest: a trap, after the instruction */
static void icebp_db_in_guest(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_icpt_icebp);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, DB);
  CHECK_EQ(g_ev.rip, (u64)g_icpt_icebp_end);
}

/* VMMCALL without its intercept is #UD in the guest (APM Vol. 3 VMMCALL) */
static void vmmcall_not_intercepted_ud(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_icpt_cpuid);
  VMCB32(vmcb, VMCB_ICPT_MISC2) &= ~I2_VMMCALL;
  icpt_exc(vmcb, UD);
  svm_run(vmcb);
  expect_exit_at(vmcb, EXIT_EXC(UD), g_icpt_cpuid_end, 0);
}

/* exceptions that the instruction checks first (here the CPL check) take priority over its
 * intercept (APM Vol. 2 'Instruction Intercepts'): HLT at CPL 3 is #GP(0), not #VMEXIT(HLT) */
static void hlt_cpl3_gp_before_intercept(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_icpt_hlt);
  vmcb_set_cpl3(vmcb);
  icpt1(vmcb, I1_HLT);
  icpt_exc(vmcb, GP);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_EXC(GP), g_icpt_hlt_insn, 0)) return;
  CHECK_EQ(exit_info1(vmcb), 0);
}

/* ---- CR and DR accesses (CR/DR read and write intercept vectors): exit 00h+n / 10h+n, 20h+n / 30h+n ---- */
#define CR_READ(n) ITEST(cr##n##_read, "", "mov %cr" #n ", %rax", CRI, 1u << (n), EXIT_READ_CR(n))
#define CR_WRITE(n) ITEST(cr##n##_write, "mov %cr" #n ", %rax", "mov %rax, %cr" #n, CRI, 1u << (16 + (n)), EXIT_WRITE_CR(n))
CR_READ(0)
CR_READ(2)
CR_READ(3)
CR_READ(4)
CR_READ(8)
CR_WRITE(0)
CR_WRITE(2)
CR_WRITE(3)
CR_WRITE(4)
CR_WRITE(8)
ITEST(dr0_read, "", "mov %dr0, %rax", DRI, 1u << 0, EXIT_READ_DR(0))
ITEST(dr7_read, "", "mov %dr7, %rax", DRI, 1u << 7, EXIT_READ_DR(7))
ITEST(dr6_write, "mov $0xffff0ff0, %eax", "mov %rax, %dr6", DRI, 1u << (16 + 6), EXIT_WRITE_DR(6))
ITEST(dr7_write, "mov $0x400, %eax", "mov %rax, %dr7", DRI, 1u << (16 + 7), EXIT_WRITE_DR(7))

/* selective CR0 write (the CR0_SEL_WRITE intercept): only writes that change bits other than TS and MP exit */
GUEST_INSN(g_cr0_mp, "mov %cr0, %rax\n\txor $2, %rax", "mov %rax, %cr0");
GUEST_INSN(g_cr0_ts, "mov %cr0, %rax\n\txor $8, %rax", "mov %rax, %cr0");
GUEST_INSN(g_clts, "mov %cr0, %rax\n\tor $8, %rax\n\tmov %rax, %cr0", "clts");
GUEST_INSN(g_cr0_wp, "mov %cr0, %rax\n\txor $0x10000, %rax", "mov %rax, %cr0");
GUEST_INSN(g_lmsw_em, "smsw %ax\n\txor $4, %eax", "lmsw %ax");

static void cr0_sel_ts_mp_pass(void) {
  if (!svm_begin(0)) return;
  u8 *starts[3] = { g_cr0_mp, g_cr0_ts, g_clts };
  u8 *ends[3] = { g_cr0_mp_end, g_cr0_ts_end, g_clts_end };
  for (int i = 0; i < 3; i++) {
    vmcb_init(vmcb, (u64)starts[i]);
    icpt1(vmcb, I1_CR0_SEL);
    svm_run(vmcb);
    if (!expect_exit_at(vmcb, EXIT_VMMCALL, ends[i], ends[i] + 3)) return;
  }
}

static void cr0_sel_write(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_cr0_wp);
  icpt1(vmcb, I1_CR0_SEL);
  svm_run(vmcb);
  expect_exit_at(vmcb, EXIT_CR0_SEL, g_cr0_wp_insn, g_cr0_wp_end);
}

static void cr0_sel_lmsw(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_lmsw_em);
  icpt1(vmcb, I1_CR0_SEL);
  svm_run(vmcb);
  expect_exit_at(vmcb, EXIT_CR0_SEL, g_lmsw_em_insn, g_lmsw_em_end);
}

/* ---- exceptions (15.12): exit 40h + vector, NRIP 0 except for INT3/INTO/BOUND ---- */
GUEST_INSN(g_de, "xor %ecx, %ecx\n\tmov $1, %eax\n\txor %edx, %edx", "div %ecx");
GUEST_INSN(g_ud, "", "ud2");
GUEST_INSN(g_gp, "mov $0x1f8, %eax", "mov %eax, %ds");
GUEST_INSN(g_bp, "", "int3");
GUEST_INSN(g_pf, "", "movq $1, (%rbx)");

static void exc_run(u8 *start, int vec) {
  vmcb_init(vmcb, (u64)start);
  icpt_exc(vmcb, vec);
  svm_run(vmcb);
}

static void exc_de(void) {
  if (!svm_begin(0)) return;
  exc_run(g_de, DE);
  expect_exit_at(vmcb, EXIT_EXC(DE), g_de_insn, 0);
}

static void exc_ud(void) {
  if (!svm_begin(0)) return;
  exc_run(g_ud, UD);
  if (!expect_exit_at(vmcb, EXIT_EXC(UD), g_ud_insn, 0)) return;
  CHECK_EQ(g_ev.count, 0);
}

/* without the intercept the exception goes through the guest IDT */
static void exc_ud_to_guest(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_ud);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, UD);
  CHECK_EQ(g_ev.rip, (u64)g_ud_insn);
}

static void exc_gp_error_code(void) {
  if (!svm_begin(0)) return;
  exc_run(g_gp, GP);
  if (!expect_exit_at(vmcb, EXIT_EXC(GP), g_gp_insn, 0)) return;
  CHECK_EQ(exit_info1(vmcb), 0x1f8);
}

static void exc_bp_int3(void) {
  if (!svm_begin(0)) return;
  exc_run(g_bp, BP);
  expect_exit_at(vmcb, EXIT_EXC(BP), g_bp_insn, g_bp_end);
}

/* #PF: EXITINFO1 = the error code, EXITINFO2 = the address; CR2 is not written (15.12) */
static void exc_pf(void) {
  if (!svm_begin(0)) return;
  u64 va = test_page(40) + 0x123;
  *test_pte(test_page(40)) = 0;
  invlpg(va);
  greg.rbx = va;
  vmcb_init(vmcb, (u64)g_pf);
  VMCB64(vmcb, VMCB_CR2) = 0xdead000;
  icpt_exc(vmcb, PF);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_EXC(PF), g_pf_insn, 0)) return;
  CHECK_EQ(exit_info1(vmcb), PF_W);
  CHECK_EQ(exit_info2(vmcb), va);
  CHECK_EQ(VMCB64(vmcb, VMCB_CR2), 0xdead000);
  CHECK_EQ(g_ev.count, 0);
}

static void exc_pf_to_guest(void) {
  if (!svm_begin(0)) return;
  u64 va = test_page(40) + 0x123;
  *test_pte(test_page(40)) = 0;
  invlpg(va);
  greg.rbx = va;
  vmcb_init(vmcb, (u64)g_pf);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(g_ev.count, 1);
  CHECK_EQ(g_ev.vector, PF);
  CHECK_EQ(g_ev.error, PF_W);
  CHECK_EQ(g_ev.cr2, va);
  CHECK_EQ(g_ev.rip, (u64)g_pf_insn);
}

/* ICEBP's #DB is an exception like any other once ICEBP itself is not intercepted */
static void exc_db_from_icebp(void) {
  if (!svm_begin(0)) return;
  exc_run(g_icpt_icebp, DB);
  expect_exit_at(vmcb, EXIT_EXC(DB), g_icpt_icebp_end, NRIP_ANY);
}

/* a guest single-step #DB (guest RFLAGS.TF from the VMCB) is a trap: the #DB intercept exits
 * after the first guest instruction, with DR6.BS in the VMCB (APM Vol. 2 15.12, 13.1.3.3) */
GUEST_INSN(g_ss, "nop", "nop");

static void exc_db_single_step(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_ss);
  VMCB64(vmcb, VMCB_RFLAGS) = 0x102;
  VMCB64(vmcb, VMCB_DR6) = 0xffff0ff0;
  icpt_exc(vmcb, DB);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_EXC(DB), g_ss_insn, NRIP_ANY)) return;
  CHECK_EQ(VMCB64(vmcb, VMCB_DR6) & 0x400f, 0x4000);
}

/* a guest data breakpoint (DR0 is shared, DR7 comes from the VMCB): the #DB intercept exits
 * after the store, with DR6.B0 in the VMCB; the host's DR7 has no breakpoints after #VMEXIT */
GUEST_INSN(g_dbst, "lea g_scratch(%rip), %rax", "movb $1, (%rax)");

static void exc_db_data_breakpoint(void) {
  if (!svm_begin(0)) return;
  asm volatile("mov %0, %%dr0" :: "r"((u64)g_scratch) : "memory");
  vmcb_init(vmcb, (u64)g_dbst);
  VMCB64(vmcb, VMCB_DR6) = 0xffff0ff0;
  VMCB64(vmcb, VMCB_DR7) = 0x401 | (1 << 16);   /* L0, write, 1 byte */
  icpt_exc(vmcb, DB);
  svm_run(vmcb);
  u64 dr7;
  asm volatile("mov %%dr7, %0" : "=r"(dr7));
  asm volatile("mov %0, %%dr0" :: "r"(0ul) : "memory");
  if (!expect_exit_at(vmcb, EXIT_EXC(DB), g_dbst_end, NRIP_ANY)) return;
  CHECK_EQ(VMCB64(vmcb, VMCB_DR6) & 0x400f, 1);
  CHECK_EQ(dr7 & 0xff, 0);
}

/* a guest instruction breakpoint is a fault (#DB exit at the instruction); the guest RFLAGS.RF
 * that VMRUN loads from the VMCB suppresses it for the first guest instruction (APM Vol. 2
 * 3.1.6; 13.1, instruction breakpoints) */
GUEST_INSN(g_rfbp, "nop", "nop");

static void exc_db_insn_bp_rf(void) {
  if (!svm_begin(0)) return;
  asm volatile("mov %0, %%dr0" :: "r"((u64)g_rfbp) : "memory");
  vmcb_init(vmcb, (u64)g_rfbp);
  VMCB64(vmcb, VMCB_DR6) = 0xffff0ff0;
  VMCB64(vmcb, VMCB_DR7) = 0x401;                /* L0, execute */
  VMCB64(vmcb, VMCB_RFLAGS) = 0x10002;           /* RF */
  icpt_exc(vmcb, DB);
  svm_run(vmcb);
  int ok = expect_exit_at(vmcb, EXIT_VMMCALL, g_rfbp_end, NRIP_ANY);
  if (ok) {
    vmcb_init(vmcb, (u64)g_rfbp);
    VMCB64(vmcb, VMCB_DR6) = 0xffff0ff0;
    VMCB64(vmcb, VMCB_DR7) = 0x401;
    icpt_exc(vmcb, DB);
    svm_run(vmcb);
    if (expect_exit_at(vmcb, EXIT_EXC(DB), g_rfbp, NRIP_ANY)) CHECK_EQ(VMCB64(vmcb, VMCB_DR6) & 0xf, 1);
  }
  asm volatile("mov %0, %%dr0" :: "r"(0ul) : "memory");
}

/* ---- decode assists (CPUID DecodeAssists; APM Vol. 2 'Decode Assists'): MOV CR: EXITINFO1 bit 63 = MOV,
 * bits 3:0 = the GPR; INTn: the vector; INVLPG: the linear address; #PF: the instruction bytes ---- */
GUEST_INSN(g_da_cr3, "", "mov %cr3, %rbx");

static void decode_assists(void) {
  if (!svm_begin(SVMF_DECODEASSISTS)) return;
  vmcb_init(vmcb, (u64)g_da_cr3);
  VMCB32(vmcb, VMCB_ICPT_CR) |= 1u << 3;
  svm_run(vmcb);
  if (expect_exit(vmcb, EXIT_READ_CR(3))) CHECK_EQ(exit_info1(vmcb), (1ul << 63) | 3);
  vmcb_init(vmcb, (u64)g_icpt_intn_run);
  icpt1(vmcb, I1_INTN);
  svm_run(vmcb);
  if (expect_exit(vmcb, EXIT_SWINT)) CHECK_EQ(exit_info1(vmcb), 0x50);
  vmcb_init(vmcb, (u64)g_icpt_invlpg);
  icpt1(vmcb, I1_INVLPG);
  svm_run(vmcb);
  if (expect_exit(vmcb, EXIT_INVLPG)) CHECK_EQ(exit_info1(vmcb), 0x400000);
  *test_pte(test_page(40)) = 0;
  invlpg(test_page(40));
  greg.rbx = test_page(40);
  exc_run(g_pf, PF);
  if (!expect_exit(vmcb, EXIT_EXC(PF))) return;
  u32 n = VMCB8(vmcb, VMCB_INSN_LEN), len = (u32)(g_pf_end - g_pf_insn);
  CHECK(n >= 1 && n <= 15, "%u instruction bytes", n);
  for (u32 i = 0; i < n && i < len; i++) {
    CHECK(VMCB8(vmcb, VMCB_INSN_LEN + 1 + i) == g_pf_insn[i], "instruction byte %u: %#x, want %#x", i,
          VMCB8(vmcb, VMCB_INSN_LEN + 1 + i), g_pf_insn[i]);
  }
}

/* ---- last: a triple fault in the guest is #VMEXIT(SHUTDOWN) when intercepted (the SHUTDOWN intercept) ---- */
static void shutdown_triple_fault(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_ud);
  VMCB32(vmcb, VMCB_IDTR + SEG_LIMIT) = 0;
  svm_run(vmcb);
  expect_exit(vmcb, EXIT_SHUTDOWN);
}

static void icpt_intn(void) {
  icpt_run_hook = icpt_intn_setup;
  icpt_intn_run();
  icpt_run_hook = NULL;
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(icpt_cpuid), T(icpt_hlt), T(icpt_rdtsc), T(icpt_rdtscp), T(icpt_rdpmc),
  T(icpt_pause), T(icpt_invlpg), T(icpt_invlpga), T(icpt_wbinvd), T(icpt_invd),
  T(icpt_xsetbv), T(icpt_monitor), T(icpt_mwait), T(icpt_pushf), T(icpt_popf), T(icpt_sidt), T(icpt_sgdt),
  T(icpt_sldt), T(icpt_str), T(icpt_lidt), T(icpt_lgdt), T(icpt_lldt), T(icpt_ltr),
  T(icpt_intn), T(icpt_iret), T(icpt_vmload), T(icpt_vmsave), T(icpt_stgi),
  T(icpt_clgi), T(icpt_vmrun), T(icpt_icebp), T(icebp_db_in_guest), T(vmmcall_not_intercepted_ud),
  T(hlt_cpl3_gp_before_intercept),
  T(cr0_read), T(cr2_read), T(cr3_read), T(cr4_read), T(cr8_read), T(cr0_write), T(cr2_write),
  T(cr3_write), T(cr4_write), T(cr8_write), T(dr0_read), T(dr7_read), T(dr6_write), T(dr7_write),
  T(cr0_sel_ts_mp_pass), T(cr0_sel_write), T(cr0_sel_lmsw),
  T(exc_de), T(exc_ud), T(exc_ud_to_guest), T(exc_gp_error_code), T(exc_bp_int3), T(exc_pf),
  T(exc_pf_to_guest), T(exc_db_from_icebp), T(exc_db_single_step), T(exc_db_data_breakpoint), T(exc_db_insn_bp_rf), T(decode_assists),
  T(shutdown_triple_fault),
};
const int ntests = ARRAY_SIZE(tests);
