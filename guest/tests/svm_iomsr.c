/*
 * SVM I/O and MSR intercepts and NRIP (APM Vol. 2 15.10 IOIO intercepts, 15.11 MSR
 * intercepts, 15.7.1 state saved on exit): the IOPM (a bit per port, every byte of an access
 * checked, 64K + 3 bits) with the IOIO EXITINFO1/EXITINFO2, the MSRPM (two bits per MSR in three
 * ranges; MSRs outside them always exit) with EXITINFO1, and the next-RIP field.
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

const char kernel_name[] = "svm_iomsr";

void kernel_setup(void) {
  svm_detect();
  svm_print_features();
}

u8 g_scratch[64] __attribute__((aligned(16)));

#define M1 VMCB_ICPT_MISC1

GUEST_INSN(g_cpuid, "xor %eax, %eax\n\txor %ecx, %ecx", "cpuid");
GUEST_INSN(g_hlt, "", "hlt");
GUEST_INSN(g_ud, "", "ud2");
GUEST_INSN(g_gp, "mov $0x1f8, %eax", "mov %eax, %ds");
GUEST_INSN(g_bp, "", "int3");
GUEST_INSN(g_pf, "", "movq $1, (%rbx)");

/* ---- IOIO (15.10.2): the IOPM has a bit per port, every byte of an access is checked;
 * EXITINFO1 = port, size, direction, string/rep; EXITINFO2 = the next RIP ---- */
static void iopm_set(u32 port) { iopm[port / 8] |= 1u << (port % 8); }
#define IOIO_CHECKED (~(u64)(IOIO_A16 | IOIO_A32 | IOIO_A64 | IOIO_SEG_MASK))

GUEST_INSN(g_in8, "", "in $0x80, %al");
GUEST_INSN(g_out16, "mov $0x1234, %edx\n\tmov $0xbeef, %eax", "out %ax, %dx");
GUEST_INSN(g_in32, "mov $0x40, %edx", "in %dx, %eax");
GUEST_INSN(g_in16_7f, "mov $0x7f, %edx", "in %dx, %ax");
GUEST_INSN(g_in32_fffe, "mov $0xfffe, %edx", "in %dx, %eax");
GUEST_INSN(g_outsb_rep, "mov $0x80, %edx\n\tmov $4, %ecx\n\tlea g_scratch(%rip), %rsi", "rep outsb");
GUEST_INSN(g_insw, "mov $0x80, %edx\n\tlea g_scratch(%rip), %rdi", "insw");
GUEST_INSN(g_out8, "", "out %al, $0x80");

static int io_run(u8 *start, u8 *insn, u8 *end, u64 info1) {
  vmcb_init(vmcb, (u64)start);
  icpt1(vmcb, I1_IOIO);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_IOIO, insn, end)) return 0;
  CHECK_EQ(exit_info1(vmcb) & IOIO_CHECKED, info1);
  CHECK_EQ(exit_info2(vmcb), (u64)end);
  return 1;
}

static void io_in8_imm(void) {
  if (!svm_begin(0)) return;
  iopm_set(0x80);
  io_run(g_in8, g_in8_insn, g_in8_end, IOIO_PORT(0x80) | IOIO_SZ8 | IOIO_IN);
}

static void io_out16_dx(void) {
  if (!svm_begin(0)) return;
  iopm_set(0x1234);
  io_run(g_out16, g_out16_insn, g_out16_end, IOIO_PORT(0x1234) | IOIO_SZ16);
}

/* a 4-byte access at 0x40 whose last byte (0x43) is intercepted */
static void io_in32_last_byte(void) {
  if (!svm_begin(0)) return;
  iopm_set(0x43);
  io_run(g_in32, g_in32_insn, g_in32_end, IOIO_PORT(0x40) | IOIO_SZ32 | IOIO_IN);
}

/* a 2-byte access at 0x7f whose second byte (0x80) is intercepted */
static void io_in16_second_byte(void) {
  if (!svm_begin(0)) return;
  iopm_set(0x80);
  io_run(g_in16_7f, g_in16_7f_insn, g_in16_7f_end, IOIO_PORT(0x7f) | IOIO_SZ16 | IOIO_IN);
}

/* the IOPM holds 64K + 3 bits: a 4-byte access at 0xfffe checks the bit of "port" 0x10000 */
static void io_iopm_past_64k(void) {
  if (!svm_begin(0)) return;
  iopm_set(0x10000);
  io_run(g_in32_fffe, g_in32_fffe_insn, g_in32_fffe_end, IOIO_PORT(0xfffe) | IOIO_SZ32 | IOIO_IN);
}

/* REP OUTSB exits before any iteration: RCX and RSI unchanged */
static void io_rep_outsb(void) {
  if (!svm_begin(0)) return;
  iopm_set(0x80);
  if (!io_run(g_outsb_rep, g_outsb_rep_insn, g_outsb_rep_end, IOIO_PORT(0x80) | IOIO_SZ8 | IOIO_STR | IOIO_REP)) return;
  CHECK_EQ(greg.rcx, 4);
  CHECK_EQ(greg.rsi, (u64)g_scratch);
}

static void io_insw(void) {
  if (!svm_begin(0)) return;
  iopm_set(0x80);
  io_run(g_insw, g_insw_insn, g_insw_end, IOIO_PORT(0x80) | IOIO_SZ16 | IOIO_STR | IOIO_IN);
}

/* the address-size bits (A16/A32/A64 = bits 7-9, Figure 15-2): 64-bit addressing here */
static void io_address_size(void) {
  if (!svm_begin(0)) return;
  iopm_set(0x80);
  vmcb_init(vmcb, (u64)g_in8);
  icpt1(vmcb, I1_IOIO);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_IOIO)) return;
  CHECK_EQ(exit_info1(vmcb) & (IOIO_A16 | IOIO_A32 | IOIO_A64), IOIO_A64);
}

/* no exit for a port whose bit is clear, nor for any port without IOIO_PROT */
static void io_not_intercepted(void) {
  if (!svm_begin(0)) return;
  iopm_set(0x81);
  vmcb_init(vmcb, (u64)g_out8);
  icpt1(vmcb, I1_IOIO);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_VMMCALL, g_out8_end, g_out8_end + 3)) return;
  iopm_set(0x80);
  vmcb_init(vmcb, (u64)g_out8);
  svm_run(vmcb);
  expect_exit_at(vmcb, EXIT_VMMCALL, g_out8_end, g_out8_end + 3);
}

/* ---- MSRs (15.11): two MSRPM bits per MSR (read, write) in three ranges; MSRs outside the
 * ranges always exit; EXITINFO1 = 0 for RDMSR, 1 for WRMSR ---- */
static void msrpm_set(u32 msr, int write) {
  u32 base = msr < 0x2000 ? 0 : msr >= 0xc0010000 ? 0x1000 : 0x800;
  u32 bit = (msr & 0x1fff) * 2 + (write ? 1 : 0);
  msrpm[base + bit / 8] |= 1u << (bit % 8);
}

GUEST_INSN(g_rdmsr, "", "rdmsr");
GUEST_INSN(g_wrmsr, "", "wrmsr");

/* one run: RDMSR (write = 0) or WRMSR of `msr` (its current value) */
static int msr_run(u32 msr, int write, int intercepted) {
  u64 cur = msr == 0x40000000 || msr == 0x2000 || msr == 0xc0002000 ? 0 : rdmsr(msr);
  greg.rcx = msr;
  greg.rdx = cur >> 32;
  vmcb_init(vmcb, (u64)(write ? g_wrmsr : g_rdmsr));
  VMCB64(vmcb, VMCB_RAX) = cur & 0xffffffff;
  icpt1(vmcb, I1_MSR);
  svm_run(vmcb);
  u8 *insn = write ? g_wrmsr_insn : g_rdmsr_insn, *end = write ? g_wrmsr_end : g_rdmsr_end;
  if (!intercepted) return expect_exit_at(vmcb, EXIT_VMMCALL, end, end + 3);
  if (!expect_exit_at(vmcb, EXIT_MSR, insn, end)) return 0;
  CHECK_EQ(exit_info1(vmcb), (u64)write);
  return !t_failed();
}

static void msr_range(u32 msr) {
  if (!svm_begin(0)) return;
  msrpm_set(msr, 0);
  if (!msr_run(msr, 0, 1)) return;
  if (!msr_run(msr, 1, 0)) return;     /* only the read bit is set */
  memset(msrpm, 0, sizeof(msrpm));
  msrpm_set(msr, 1);
  if (!msr_run(msr, 1, 1)) return;
  msr_run(msr, 0, 0);
}

static void msr_range0_pat(void) { msr_range(MSR_PAT); }
static void msr_range1_star(void) { msr_range(MSR_STAR); }
static void msr_range2_hsave_pa(void) { msr_range(MSR_VM_HSAVE_PA); }

static void msr_outside_ranges(void) {
  if (!svm_begin(0)) return;
  const u32 msrs[3] = { 0x2000, 0x40000000, 0xc0002000 };
  for (int i = 0; i < 3; i++) {
    if (!msr_run(msrs[i], 0, 1) || !msr_run(msrs[i], 1, 1)) return;
  }
}

/* MSRPM bits without MSR_PROT: nothing exits */
static void msr_prot_off(void) {
  if (!svm_begin(0)) return;
  msrpm_set(MSR_STAR, 0);
  greg.rcx = MSR_STAR;
  vmcb_init(vmcb, (u64)g_rdmsr);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_VMMCALL, g_rdmsr_end, g_rdmsr_end + 3)) return;
  CHECK_EQ(VMCB64(vmcb, VMCB_RAX), rdmsr(MSR_STAR) & 0xffffffff);
  CHECK_EQ(greg.rdx, rdmsr(MSR_STAR) >> 32);
}

/* ---- NRIP (15.7.1): with CPUID NRIPS, the next sequential RIP for instruction intercepts
 * (MSR and IOIO included) and for INT3/INTO/BOUND exceptions; zero for all other exits ---- */
static int nrip_run(u8 *start, u32 word, u32 bits, int exc) {
  vmcb_init(vmcb, (u64)start);
  VMCB32(vmcb, word) |= bits;
  if (exc >= 0) icpt_exc(vmcb, exc);
  VMCB64(vmcb, VMCB_NRIP) = 0x1111;    /* stale value: must be replaced */
  svm_run(vmcb);
  return 1;
}

static void nrip_next_instruction(void) {
  if (!svm_begin(SVMF_NRIPS)) return;
  nrip_run(g_cpuid, M1, I1_CPUID, -1);
  if (expect_exit(vmcb, EXIT_CPUID)) CHECK_EQ(exit_nrip(vmcb), (u64)g_cpuid_end);
  iopm_set(0x80);
  nrip_run(g_in8, M1, I1_IOIO, -1);
  if (expect_exit(vmcb, EXIT_IOIO)) CHECK_EQ(exit_nrip(vmcb), (u64)g_in8_end);
  greg.rcx = 0x40000000;
  nrip_run(g_rdmsr, M1, I1_MSR, -1);
  if (expect_exit(vmcb, EXIT_MSR)) CHECK_EQ(exit_nrip(vmcb), (u64)g_rdmsr_end);
  nrip_run(g_bp, M1, 0, BP);
  if (expect_exit(vmcb, EXIT_EXC(BP))) CHECK_EQ(exit_nrip(vmcb), (u64)g_bp_end);
  nrip_run(g_hlt, M1, I1_HLT, -1);
  if (expect_exit(vmcb, EXIT_HLT)) CHECK_EQ(exit_nrip(vmcb), (u64)g_hlt_end);
}

static void nrip_zero_otherwise(void) {
  if (!svm_begin(SVMF_NRIPS)) return;
  nrip_run(g_ud, M1, 0, UD);
  if (expect_exit(vmcb, EXIT_EXC(UD))) CHECK_EQ(exit_nrip(vmcb), 0);
  nrip_run(g_gp, M1, 0, GP);
  if (expect_exit(vmcb, EXIT_EXC(GP))) CHECK_EQ(exit_nrip(vmcb), 0);
  *test_pte(test_page(40)) = 0;
  invlpg(test_page(40));
  greg.rbx = test_page(40);
  nrip_run(g_pf, M1, 0, PF);
  if (expect_exit(vmcb, EXIT_EXC(PF))) CHECK_EQ(exit_nrip(vmcb), 0);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(io_in8_imm), T(io_out16_dx), T(io_in32_last_byte), T(io_in16_second_byte), T(io_iopm_past_64k),
  T(io_rep_outsb), T(io_insw), T(io_address_size), T(io_not_intercepted),
  T(msr_range0_pat), T(msr_range1_star), T(msr_range2_hsave_pa), T(msr_outside_ranges),
  T(msr_prot_off), T(nrip_next_instruction), T(nrip_zero_otherwise),
};
const int ntests = ARRAY_SIZE(tests);
