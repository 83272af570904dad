/*
 * Segment loads in 64-bit mode and their faults (APM Vol. 2, 4.8 and 4.10; Vol. 3, MOV Sreg),
 * stack-segment faults for non-canonical SS references (Vol. 2, 8.2.13), the accessed bit, and
 * LAR/LSL/VERR/VERW. GDT descriptors are listed in rt.h; the runner reloads the defaults after
 * every test.
 */
#include "rt.h"

const char kernel_name[] = "segments";

#define LOADER(reg)                                                                            \
  static void load_##reg(void *s) { asm volatile("mov %0, %%" #reg :: "r"((u16)(u64)s)); }   \
  static long u_load_##reg(long s) { asm volatile("mov %0, %%" #reg :: "r"((u16)s)); return 0; }
LOADER(ds)
LOADER(es)
LOADER(fs)
LOADER(gs)
LOADER(ss)

static void try(void (*fn)(void *), u16 sel, int vec, long err) {
  long r = catch_run(fn, (void *)(u64)sel);
  if (vec < 0) CHECK(r == -1, "selector %#x: unexpected vector %ld (error %#lx)", sel, r, last_fault.error);
  else check_fault(r, vec, err);
}

static void load_data_ok(void) {
  try(load_ds, KDS, -1, 0);
  try(load_es, UDS | 3, -1, 0);  /* DPL 3 >= max(CPL 0, RPL 3) */
  try(load_fs, UDS, -1, 0);
  try(load_gs, SEL_DATA_RO, -1, 0);
  CHECK_EQ(read_ds(), KDS);
  CHECK_EQ(read_es(), UDS | 3);
}

static void load_null_ok(void) {
  try(load_ds, 0, -1, 0);
  try(load_es, 3, -1, 0);
  try(load_fs, 0, -1, 0);
  try(load_gs, 2, -1, 0);
  CHECK_EQ(read_ds(), 0);
}

static void load_readable_code_ok(void) { try(load_ds, SEL_CODE_RX, -1, 0); }

static void gp_beyond_gdt_limit(void) {
  try(load_ds, GDT_ENTRIES * 8, GP, GDT_ENTRIES * 8);
  try(load_fs, GDT_ENTRIES * 8 + 3, GP, GDT_ENTRIES * 8);
}

/* TI=1 with a null LDTR: the error code keeps TI */
static void gp_ldt_selector_null_ldtr(void) {
  asm volatile("lldt %w0" :: "r"(0));
  try(load_ds, 0x0c, GP, 0x0c);
}

static void gp_execute_only_code(void) { try(load_ds, SEL_CODE_XO, GP, SEL_CODE_XO); }

static void gp_system_descriptor(void) { try(load_es, TSS_SEL, GP, TSS_SEL); }

static void np_data_not_present(void) {
  try(load_ds, SEL_DATA_NP, NP, SEL_DATA_NP);
  try(load_fs, SEL_DATA_NP, NP, SEL_DATA_NP);
  try(load_gs, SEL_DATA_NP, NP, SEL_DATA_NP);
}

/* SS gets #SS, not #NP, for a not-present segment */
static void ss_not_present(void) { try(load_ss, SEL_DATA_NP, SS, SEL_DATA_NP); }

static void gp_ss_read_only(void) { try(load_ss, SEL_DATA_RO, GP, SEL_DATA_RO); }

static void gp_ss_code(void) { try(load_ss, KCS, GP, KCS); }

/* SS needs RPL = DPL = CPL */
static void gp_ss_rpl_dpl(void) {
  try(load_ss, UDS, GP, UDS);          /* DPL 3 at CPL 0 */
  try(load_ss, KDS | 3, GP, KDS);      /* RPL 3 at CPL 0 */
}

/* 64-bit mode: a null SS is allowed at CPL 0 (APM Vol. 3, MOV: #GP only at CPL 3) */
static void ss_null_cpl0_ok(void) {
  try(load_ss, 0, -1, 0);
  CHECK_EQ(read_ss(), 0);
  u64 x = 0;
  asm volatile("push $42; pop %0" : "=r"(x));  /* the stack still works */
  CHECK_EQ(x, 42);
  try(load_ss, KDS, -1, 0);
}

static void gp_ss_null_cpl3(void) {
  check_fault(catch_user(u_load_ss, 3, NULL), GP, 0);
}

static void user_load_ds_ok(void) {
  CHECK_EQ(catch_user(u_load_ds, UDS | 3, NULL), -1);
  CHECK_EQ(catch_user(u_load_es, 0, NULL), -1);
}

/* DPL 0 data from CPL 3 */
static void gp_user_load_kernel_data(void) {
  check_fault(catch_user(u_load_ds, KDS | 3, NULL), GP, KDS);
  check_fault(catch_user(u_load_fs, KDS | 3, NULL), GP, KDS);
  check_fault(catch_user(u_load_gs, KDS | 3, NULL), GP, KDS);
}

static void accessed_bit_set(void) {
  CHECK(!(gdt[SEL_DATA_NA / 8] & (1ul << 40)), "A set before the load");
  try(load_es, SEL_DATA_NA, -1, 0);
  CHECK(gdt[SEL_DATA_NA / 8] & (1ul << 40), "A clear after the load: %#lx", gdt[SEL_DATA_NA / 8]);
}

static void ss_ref_rbp(void *a) {
  asm volatile("push %%rbp\n\tmov %0, %%rbp\n\tmov 0(%%rbp), %%rax\n\tpop %%rbp" :: "D"(a) : "rax", "memory");
}

static void ds_ref(void *a) { (void)*(volatile u64 *)a; }

/* a non-canonical reference through SS (RBP or RSP base) is #SS(0), through DS #GP(0) */
static void ss_noncanonical_rbp(void) {
  check_fault(catch_run(ss_ref_rbp, (void *)0x8000000000000000ul), SS, 0);
  check_fault(catch_run(ds_ref, (void *)0x8000000000000000ul), GP, 0);
}

static void ss_push_noncanonical(void *a) {
  asm volatile("mov %%rsp, %%rbx\n\tmov %0, %%rsp\n\tpush %%rax\n\tmov %%rbx, %%rsp" :: "r"(a) : "rbx", "memory");
}

/* #SS is delivered on IST1 here: the faulting RSP cannot hold the exception frame */
static void ss_noncanonical_rsp(void) {
  set_gate(SS, 1, 0, 0);
  long r = catch_run(ss_push_noncanonical, (void *)0x8000000000001000ul);
  check_fault(r, SS, 0);
  if (r == SS) CHECK_EQ(last_fault.rsp, 0x8000000000001000ul);
}

static void pop_ds(void *a) { (void)a; asm volatile(".byte 0x1f"); }    /* POP DS */
static void push_es(void *a) { (void)a; asm volatile(".byte 0x06; .byte 0x58" ::: "rax"); }

static void ud_push_pop_sreg_64(void) {
  check_fault(catch_run(pop_ds, NULL), UD, -1);
  check_fault(catch_run(push_es, NULL), UD, -1);
}

static int lar(u16 sel, u32 *v) {
  u8 z;
  u32 r = 0xdeadbeef;
  asm volatile("lar %w2, %0; setz %1" : "+r"(r), "=q"(z) : "r"(sel) : "cc");
  *v = r;
  return z;
}
static int lsl(u16 sel, u32 *v) {
  u8 z;
  u32 r = 0xdeadbeef;
  asm volatile("lsl %w2, %0; setz %1" : "+r"(r), "=q"(z) : "r"(sel) : "cc");
  *v = r;
  return z;
}
static int verr(u16 sel) { u8 z; asm volatile("verr %w1; setz %0" : "=q"(z) : "r"(sel) : "cc"); return z; }
static int verw(u16 sel) { u8 z; asm volatile("verw %w1; setz %0" : "=q"(z) : "r"(sel) : "cc"); return z; }

static void lar_lsl(void) {
  u32 v;
  CHECK(lar(KCS, &v), "LAR KCS: ZF clear");
  CHECK_EQ(v & 0x00f0ff00, 0x00a09b00);
  CHECK(lar(UDS | 3, &v), "LAR UDS: ZF clear");
  CHECK_EQ(v & 0x00f0ff00, 0x00c0f300);
  CHECK(!lar(0, &v), "LAR null: ZF set");
  CHECK(!lar(GDT_ENTRIES * 8, &v), "LAR beyond the limit: ZF set");
  CHECK(lsl(KDS, &v), "LSL KDS: ZF clear");
  CHECK_EQ(v, 0xffffffff);
  CHECK(lsl(TSS_SEL, &v), "LSL TSS: ZF clear");
  CHECK_EQ(v, sizeof(struct tss) - 1);
}

static void verr_verw(void) {
  CHECK(verr(SEL_CODE_RX), "VERR readable code");
  CHECK(!verr(SEL_CODE_XO), "VERR execute-only code");
  CHECK(verr(SEL_DATA_RO), "VERR read-only data");
  CHECK(!verw(SEL_DATA_RO), "VERW read-only data");
  CHECK(verw(KDS), "VERW KDS");
  CHECK(!verw(KCS), "VERW code");
  CHECK(!verr(0), "VERR null");
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(load_data_ok), T(load_null_ok), T(load_readable_code_ok), T(gp_beyond_gdt_limit),
  T(gp_ldt_selector_null_ldtr), T(gp_execute_only_code), T(gp_system_descriptor),
  T(np_data_not_present), T(ss_not_present), T(gp_ss_read_only), T(gp_ss_code),
  T(gp_ss_rpl_dpl), T(ss_null_cpl0_ok), T(gp_ss_null_cpl3), T(user_load_ds_ok),
  T(gp_user_load_kernel_data), T(accessed_bit_set), T(ss_noncanonical_rbp),
  T(ss_noncanonical_rsp), T(ud_push_pop_sreg_64), T(lar_lsl), T(verr_verw),
};
const int ntests = ARRAY_SIZE(tests);
