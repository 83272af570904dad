/*
 * The debug architecture (APM Vol. 2, 13.1 "Software-Debug Resources"; RFLAGS.RF and TF in
 * 3.1.6): DR0-DR3 instruction, data and I/O breakpoints with each length and type, DR6 and DR7
 * fixed bits, general detect, DR4/DR5, RF, single-step over REP MOVS, POPF, IRET, SYSCALL and
 * SYSRET, MOV SS holding #DB traps, ICEBP, INT3 under TF, CLAC/STAC, and 16-bit code entered
 * above 64 KiB.
 *
 * #DB traps are recorded by a handler (RIP, DR6, RFLAGS, RCX of each), which clears DR6 after
 * reading it; tests that single-step tell it where to clear TF.
 *
 * The tests follow the manual. QEMU 7.2 TCG differs in six, and test/kernels.test.ts expects
 * its exact FAIL line for each (QEMU_DEVIATIONS): general_detect (no GD #DB), rf_in_fault_image
 * and rep_movs_data_bp (RF = 0 pushed), mov_ss_holds_data_bp (the data #DB is not held by MOV
 * SS), dr6_accumulates (two #DBs instead of one) and icebp (#UD for F1).
 */
#include "rt.h"

const char kernel_name[] = "debug";

#define STR_(x) #x
#define STR(x) STR_(x)

#define DR6_FIXED 0xffff0ff0ul
#define DR6_BD (1ul << 13)
#define DR6_BS (1ul << 14)
#define DR7_FIXED 0x400ul
#define DR7_GD (1ul << 13)
#define CR4_DE (1ul << 3)
#define CR4_SMAP (1ul << 21)
/* DR7 enable and R/W, LEN fields for breakpoint n */
#define L(n) (1ul << (2 * (n)))
#define RW(n, v) ((u64)(v) << (16 + 4 * (n)))
#define LEN(n, v) ((u64)(v) << (18 + 4 * (n)))
enum { RW_X = 0, RW_W = 1, RW_IO = 2, RW_RW = 3 };
enum { LEN1 = 0, LEN2 = 1, LEN8 = 2, LEN4 = 3 };

#define DEF_DR(n)                                                                                \
  static inline u64 rd_dr##n(void) { u64 v; asm volatile("mov %%dr" #n ", %0" : "=r"(v)); return v; } \
  static inline void wr_dr##n(u64 v) { asm volatile("mov %0, %%dr" #n :: "r"(v) : "memory"); }
DEF_DR(0)
DEF_DR(1)
DEF_DR(2)
DEF_DR(3)
DEF_DR(6)
DEF_DR(7)
#undef DEF_DR

/* ---- the #DB recorder ---- */
#define MAXDB 16
static volatile u64 db_n, db_rip[MAXDB], db_dr6[MAXDB], db_fl[MAXDB], db_rcx[MAXDB], db_cs[MAXDB];
static volatile u64 db_stop_tf_at;   /* clear TF in the frame when the trap RIP is this */
static volatile int db_set_rf;       /* set RF in the frame (to pass an instruction breakpoint) */
static volatile int db_disable;      /* clear DR7 in the handler */

static void db_handler(struct frame *f) {
  u64 k = db_n++;
  if (k < MAXDB) {
    db_rip[k] = f->rip;
    db_dr6[k] = rd_dr6();
    db_fl[k] = f->rflags;
    db_rcx[k] = f->rcx;
    db_cs[k] = f->cs;
  }
  wr_dr6(DR6_FIXED);
  if (f->rip == db_stop_tf_at || k >= MAXDB - 1) f->rflags &= ~RFLAGS_TF;
  if (db_set_rf) f->rflags |= RFLAGS_RF;
  if (db_disable) wr_dr7(DR7_FIXED);
}

static void dr_reset(void) {
  wr_dr7(DR7_FIXED);
  wr_dr0(0); wr_dr1(0); wr_dr2(0); wr_dr3(0);
  wr_dr6(DR6_FIXED);
}

void test_setup(void) {
  dr_reset();
  db_n = 0;
  db_stop_tf_at = 0;
  db_set_rf = 0;
  db_disable = 0;
  for (int i = 0; i < MAXDB; i++) db_rip[i] = db_dr6[i] = db_fl[i] = db_rcx[i] = db_cs[i] = 0;
  set_trap_handler(DB, db_handler);
}

/* ---- assembly probes ---- */
extern u8 st1[], st1_end[], st2_end[], st4_end[], st8_end[], ld1_end[], ld4_end[];
void st1f(void *p, u64 v);
void st2f(void *p, u64 v);
void st4f(void *p, u64 v);
void st8f(void *p, u64 v);
u64 ld1f(void *p);
u64 ld4f(void *p);
asm(".text\n"
    "st1f: .globl st1\nst1: movb %sil, (%rdi)\n.globl st1_end\nst1_end: ret\n"
    "st2f: movw %si, (%rdi)\n.globl st2_end\nst2_end: ret\n"
    "st4f: movl %esi, (%rdi)\n.globl st4_end\nst4_end: ret\n"
    "st8f: movq %rsi, (%rdi)\n.globl st8_end\nst8_end: ret\n"
    "ld1f: movzbl (%rdi), %eax\n.globl ld1_end\nld1_end: ret\n"
    "ld4f: movl (%rdi), %eax\n.globl ld4_end\nld4_end: ret\n");

/* ---- DR6, DR7 and the debug-register instructions ---- */

/* reserved bits of DR6 read as 1 (11:4, 31:16) and bit 12 as 0; DR7 bit 10 reads as 1 */
static void dr_fixed_bits(void) {
  wr_dr6(0);
  CHECK_EQ(rd_dr6(), DR6_FIXED);
  wr_dr6(0xf);
  CHECK_EQ(rd_dr6(), DR6_FIXED | 0xf);
  wr_dr6(DR6_BS | DR6_BD);
  CHECK_EQ(rd_dr6(), DR6_FIXED | DR6_BS | DR6_BD);
  wr_dr7(0);
  CHECK_EQ(rd_dr7(), DR7_FIXED);
  wr_dr0(0x123456789abcul);
  CHECK_EQ(rd_dr0(), 0x123456789abcul);
  wr_dr3(0xffff800000001000ul);
  CHECK_EQ(rd_dr3(), 0xffff800000001000ul);
}

static void wr_dr6_hi(void *a) { (void)a; wr_dr6(DR6_FIXED | (1ul << 32)); }
static void wr_dr7_hi(void *a) { (void)a; wr_dr7(DR7_FIXED | (1ul << 40)); }

/* 64-bit mode: bits 63:32 of DR6 and DR7 are reserved, writing a 1 is #GP(0) (APM 13.1, 64-bit mode) */
static void dr_upper_gp(void) {
  check_fault(catch_run(wr_dr6_hi, NULL), GP, 0);
  check_fault(catch_run(wr_dr7_hi, NULL), GP, 0);
  CHECK_EQ(rd_dr7(), DR7_FIXED);
}

/* CR4.DE = 0: DR4 and DR5 are DR6 and DR7; CR4.DE = 1: #UD (APM 13.1, DR4 and DR5) */
static void rd_dr4(void *a) { u64 v; asm volatile("mov %%dr4, %0" : "=r"(v)); *(u64 *)a = v; }
static void wr_dr5(void *a) { asm volatile("mov %0, %%dr5" :: "r"(*(u64 *)a) : "memory"); }

static void dr4_dr5(void) {
  u64 v = 0;
  wr_dr6(DR6_FIXED | 2);
  CHECK_EQ(catch_run(rd_dr4, &v), -1);
  CHECK_EQ(v, DR6_FIXED | 2);
  u64 w = DR7_FIXED | LEN(3, LEN4) | RW(3, RW_W);  /* no enable bit */
  CHECK_EQ(catch_run(wr_dr5, &w), -1);
  CHECK_EQ(rd_dr7(), w);
  write_cr4(read_cr4() | CR4_DE);
  check_fault(catch_run(rd_dr4, &v), UD, -1);
  check_fault(catch_run(wr_dr5, &w), UD, -1);
}

/* DR7.GD: a MOV DR is a #DB fault at the MOV with DR6.BD, and entering the handler clears GD */
extern u8 gd_mov[];
static void gd_probe(void *a) { (void)a; asm volatile(".globl gd_mov\ngd_mov: mov %%dr0, %%rax" ::: "rax"); }

static void general_detect(void) {
  set_trap_handler(DB, NULL);  /* let catch_run take the #DB */
  wr_dr7(DR7_FIXED | DR7_GD);
  long r = catch_run(gd_probe, NULL);
  check_fault(r, DB, -1);
  CHECK_EQ(last_fault.rip, (u64)gd_mov);
  CHECK_EQ(rd_dr7() & DR7_GD, 0);
  CHECK_EQ(rd_dr6() & (DR6_BD | 0xf), DR6_BD);
  CHECK_EQ(last_fault.rflags & RFLAGS_RF, RFLAGS_RF);  /* a fault, not an instruction breakpoint */
}

static volatile u64 bp_count;
static void bp_count_handler(struct frame *f) { (void)f; bp_count++; }

/* ---- instruction breakpoints ---- */

extern u8 ibp_a[], ibp_b[];
void ibp_func(void);
asm(".text\nibp_func: nop\n.globl ibp_a\nibp_a: nop\n.globl ibp_b\nibp_b: nop\nret\n");

/* a fault before the instruction (RIP = it, DR6.Bn); the handler sets RF to go on (APM 13.1, instruction breakpoints) */
static void insn_bp(void) {
  db_set_rf = 1;
  wr_dr1((u64)ibp_a);
  wr_dr7(DR7_FIXED | L(1) | RW(1, RW_X) | LEN(1, LEN1));
  ibp_func();
  ibp_func();
  dr_reset();
  CHECK_EQ(db_n, 2);
  CHECK_EQ(db_rip[0], (u64)ibp_a);
  CHECK_EQ(db_dr6[0] & 0xf, 2);
  CHECK_EQ(db_dr6[0] & DR6_BS, 0);
  CHECK_EQ(db_rip[1], (u64)ibp_a);
}

/* two breakpoints on consecutive instructions: each fires once */
static void insn_bp_two(void) {
  db_set_rf = 1;
  wr_dr0((u64)ibp_a);
  wr_dr2((u64)ibp_b);
  wr_dr7(DR7_FIXED | L(0) | L(2) | (2ul << 2 * 2));  /* G2 too */
  ibp_func();
  dr_reset();
  CHECK_EQ(db_n, 2);
  CHECK_EQ(db_rip[0], (u64)ibp_a);
  CHECK_EQ(db_dr6[0] & 0xf, 1);
  CHECK_EQ(db_rip[1], (u64)ibp_b);
  CHECK_EQ(db_dr6[1] & 0xf, 4);
}

/* IRET with RF = 1 in the image: no instruction breakpoint on the first instruction it returns
 * to; RF is cleared after that instruction completes, so the next one can hit */
extern u8 rf_target[], rf_next[];
void iret_rf(u64 rflags);
asm(".text\niret_rf:\n"
    "\tmov %rsp, %rax\n\tpushq $" STR(KDS) "\n\tpush %rax\n\tpush %rdi\n\tpushq $" STR(KCS) "\n"
    "\tlea rf_target(%rip), %rax\n\tpush %rax\n\tiretq\n"
    ".globl rf_target\nrf_target: nop\n.globl rf_next\nrf_next: nop\n\tret\n");

static void rf_suppresses_once(void) {
  db_set_rf = 1;
  wr_dr0((u64)rf_target);
  wr_dr1((u64)rf_next);
  wr_dr7(DR7_FIXED | L(0) | L(1));
  iret_rf(0x2 | RFLAGS_RF);
  dr_reset();
  CHECK_EQ(db_n, 1);
  CHECK_EQ(db_rip[0], (u64)rf_next);
  CHECK_EQ(db_dr6[0] & 0xf, 2);
  CHECK_EQ(read_rflags() & RFLAGS_RF, 0);
}

/* the RFLAGS image of a fault has RF = 1 (APM 3.1.6); a trap's (#BP) has RF = 0 */
static void gp_probe(void *a) { (void)a; asm volatile("mov (%0), %%rax" :: "r"(0x8000000000000000ul) : "rax"); }

static void rf_in_fault_image(void) {
  set_trap_handler(BP, bp_count_handler);
  check_fault(catch_run(gp_probe, NULL), GP, 0);
  CHECK_EQ(last_fault.rflags & RFLAGS_RF, RFLAGS_RF);
  asm volatile("int3");
  CHECK_EQ(last_fault.vector, BP);
  CHECK_EQ(last_fault.rflags & RFLAGS_RF, 0);
}

/* ---- data breakpoints ---- */

static u8 buf[64] __attribute__((aligned(64)));

/* one store or load through `fn` at buf + off with breakpoint 3 = buf + bpoff (len, rw) */
static u64 data_try(void (*st)(void *, u64), u64 (*ld)(void *), int off, int bpoff, int len, int rw) {
  db_n = 0;
  wr_dr6(DR6_FIXED);
  wr_dr3((u64)buf + bpoff);
  wr_dr7(DR7_FIXED | L(3) | RW(3, rw) | LEN(3, len));
  if (st) st(buf + off, 0x1122334455667788ul);
  else ld(buf + off);
  wr_dr7(DR7_FIXED);
  return db_n;
}

/* a write breakpoint traps after the store (RIP = the next instruction, DR6.B3), for each
 * length: any byte of the access inside [DR3, DR3 + LEN) (APM 13.1, data breakpoints). DR3 is aligned to the
 * length, as the manual asks (the processor ignores the low bits; unaligned values are not
 * tested: Intel calls their results invalid) */
static void data_write_lengths(void) {
  /* LEN 1 */
  CHECK_EQ(data_try(st1f, NULL, 8, 8, LEN1, RW_W), 1);
  CHECK_EQ(db_rip[0], (u64)st1_end);
  CHECK_EQ(db_dr6[0] & 0xf, 8);
  CHECK_EQ(data_try(st1f, NULL, 9, 8, LEN1, RW_W), 0);
  CHECK_EQ(data_try(st2f, NULL, 7, 8, LEN1, RW_W), 1);   /* 2 bytes at 7 cover 8 */
  CHECK_EQ(db_rip[0], (u64)st2_end);
  /* LEN 2: 8..9 */
  CHECK_EQ(data_try(st1f, NULL, 9, 8, LEN2, RW_W), 1);
  CHECK_EQ(data_try(st1f, NULL, 10, 8, LEN2, RW_W), 0);
  CHECK_EQ(data_try(st1f, NULL, 7, 8, LEN2, RW_W), 0);
  /* LEN 4: 12..15 */
  CHECK_EQ(data_try(st1f, NULL, 15, 12, LEN4, RW_W), 1);
  CHECK_EQ(data_try(st1f, NULL, 16, 12, LEN4, RW_W), 0);
  CHECK_EQ(data_try(st4f, NULL, 9, 12, LEN4, RW_W), 1);  /* 9..12 */
  CHECK_EQ(db_rip[0], (u64)st4_end);
  CHECK_EQ(data_try(st4f, NULL, 8, 12, LEN4, RW_W), 0);  /* 8..11 */
  /* LEN 8: 16..23 */
  CHECK_EQ(data_try(st1f, NULL, 16, 16, LEN8, RW_W), 1);
  CHECK_EQ(data_try(st1f, NULL, 23, 16, LEN8, RW_W), 1);
  CHECK_EQ(data_try(st1f, NULL, 24, 16, LEN8, RW_W), 0);
  CHECK_EQ(data_try(st8f, NULL, 9, 16, LEN8, RW_W), 1);  /* 9..16 */
  CHECK_EQ(db_rip[0], (u64)st8_end);
  CHECK_EQ(data_try(st8f, NULL, 8, 16, LEN8, RW_W), 0);  /* 8..15 */
}

/* R/W = 01 ignores reads; R/W = 11 takes reads and writes */
static void data_read_write(void) {
  CHECK_EQ(data_try(NULL, ld1f, 8, 8, LEN1, RW_W), 0);
  CHECK_EQ(data_try(NULL, ld1f, 8, 8, LEN1, RW_RW), 1);
  CHECK_EQ(db_rip[0], (u64)ld1_end);
  CHECK_EQ(db_dr6[0] & 0xf, 8);
  CHECK_EQ(data_try(NULL, ld4f, 4, 8, LEN4, RW_RW), 0);
  CHECK_EQ(data_try(NULL, ld4f, 6, 8, LEN4, RW_RW), 1);
  CHECK_EQ(db_rip[0], (u64)ld4_end);
  CHECK_EQ(data_try(st8f, NULL, 0, 8, LEN8, RW_RW), 0);
  CHECK_EQ(data_try(st8f, NULL, 1, 8, LEN8, RW_RW), 1);
}

/* a disabled breakpoint (no L/G bit) never traps */
static void data_disabled(void) {
  wr_dr3((u64)buf + 8);
  wr_dr7(DR7_FIXED | RW(3, RW_W) | LEN(3, LEN1));
  st1f(buf + 8, 1);
  wr_dr7(DR7_FIXED);
  CHECK_EQ(db_n, 0);
}

/* REP MOVSB with a write breakpoint on the 6th destination byte: the #DB comes after that
 * iteration, with RIP at the REP MOVS (rCX = 10 iterations left), and the copy then completes
 * without another #DB (RF) */
extern u8 rep_insn[], rep_end[];
void rep_movsb(void *d, const void *s, u64 n);
asm(".text\nrep_movsb:\n\tmov %rdx, %rcx\n.globl rep_insn\nrep_insn: rep movsb\n.globl rep_end\nrep_end: ret\n");

static void rep_movs_data_bp(void) {
  static u8 src[16] = "0123456789abcdef";
  memset(buf, 0, 32);
  wr_dr0((u64)buf + 5);
  wr_dr7(DR7_FIXED | L(0) | RW(0, RW_W) | LEN(0, LEN1));
  rep_movsb(buf, src, 16);
  dr_reset();
  CHECK_EQ(db_n, 1);
  CHECK_EQ(db_rip[0], (u64)rep_insn);
  CHECK_EQ(db_rcx[0], 10);
  CHECK_EQ(db_dr6[0] & 0xf, 1);
  CHECK_EQ(db_fl[0] & RFLAGS_RF, RFLAGS_RF);
  CHECK(memcmp(buf, src, 16) == 0, "copy incomplete");
}

/* ---- single-step ---- */

/* TF over REP MOVSB of 3: a trap after each iteration (RIP at the REP MOVS while iterations
 * remain), then POPF clearing TF traps once more after itself (APM 13.1, single-step) */
extern u8 ss_rep[], ss_after_rep[], ss_pushf2[], ss_and[], ss_popf2[], ss_done[];
void ss_rep_movs(void *d, const void *s);
asm(".text\nss_rep_movs:\n"
    "\tmov $3, %ecx\n\tpushfq\n\torq $0x100, (%rsp)\n\tpopfq\n"
    ".globl ss_rep\nss_rep: rep movsb\n"
    ".globl ss_after_rep\nss_after_rep: pushfq\n"
    ".globl ss_and\nss_and: andq $~0x100, (%rsp)\n"
    ".globl ss_popf2\nss_popf2: popfq\n"
    ".globl ss_done\nss_done: ret\n");

static void single_step_rep_movs(void) {
  static u8 src[4] = "xyz";
  ss_rep_movs(buf, src);
  CHECK_EQ(db_n, 6);
  CHECK_EQ(db_rip[0], (u64)ss_rep);
  CHECK_EQ(db_rcx[0], 2);
  CHECK_EQ(db_rip[1], (u64)ss_rep);
  CHECK_EQ(db_rcx[1], 1);
  CHECK_EQ(db_rip[2], (u64)ss_after_rep);
  CHECK_EQ(db_rcx[2], 0);
  CHECK_EQ(db_rip[3], (u64)ss_and);
  CHECK_EQ(db_rip[4], (u64)ss_popf2);
  CHECK_EQ(db_rip[5], (u64)ss_done);
  for (u64 k = 0; k < 6 && k < db_n; k++) CHECK((db_dr6[k] & (DR6_BS | 0xf)) == DR6_BS, "trap %lu: DR6 %#lx", k, db_dr6[k]);
  CHECK(memcmp(buf, src, 3) == 0, "copy");
}

/* IRET setting TF: the first trap is after the instruction IRET returns to, not after IRET */
extern u8 tf_target[], tf_second[], tf_third[];
asm(".text\niret_tf:\n"
    "\tmov %rsp, %rax\n\tpushq $" STR(KDS) "\n\tpush %rax\n\tpushq $0x102\n\tpushq $" STR(KCS) "\n"
    "\tlea tf_target(%rip), %rax\n\tpush %rax\n\tiretq\n"
    ".globl tf_target\ntf_target: nop\n.globl tf_second\ntf_second: nop\n.globl tf_third\ntf_third: ret\n");
void iret_tf(void);

static void iret_sets_tf(void) {
  db_stop_tf_at = (u64)tf_third;
  iret_tf();
  CHECK_EQ(db_n, 2);
  CHECK_EQ(db_rip[0], (u64)tf_second);
  CHECK_EQ(db_rip[1], (u64)tf_third);
}

/* MOV SS holds the single-step trap (and data breakpoint traps) until after the next
 * instruction: no trap with RIP after the MOV SS */
extern u8 ms_a[], ms_b[], ms_c[], ms_d[];
asm(".text\nmovss_tf:\n"
    "\tpushfq\n\torq $0x100, (%rsp)\n\tpopfq\n"
    ".globl ms_a\nms_a: mov %ss, %eax\n"
    ".globl ms_b\nms_b: mov %eax, %ss\n"
    ".globl ms_c\nms_c: nop\n"
    ".globl ms_d\nms_d: ret\n");
void movss_tf(void);

static void mov_ss_holds_single_step(void) {
  db_stop_tf_at = (u64)ms_d;
  movss_tf();
  CHECK_EQ(db_n, 2);
  CHECK_EQ(db_rip[0], (u64)ms_b);
  CHECK_EQ(db_rip[1], (u64)ms_d);
  CHECK_EQ(db_dr6[1] & (DR6_BS | 0xf), DR6_BS);
}

extern u8 mds_next[], mds_after[];
asm(".text\nmovss_data:\n"
    "\tmov (%rdi), %ss\n"
    ".globl mds_next\nmds_next: nop\n"
    ".globl mds_after\nmds_after: ret\n");
void movss_data(u16 *sel);

static void mov_ss_holds_data_bp(void) {
  static u16 sel = KDS;
  wr_dr2((u64)&sel);
  wr_dr7(DR7_FIXED | L(2) | RW(2, RW_RW) | LEN(2, LEN2));
  movss_data(&sel);
  dr_reset();
  CHECK_EQ(db_n, 1);
  CHECK_EQ(db_rip[0], (u64)mds_after);
  CHECK_EQ(db_dr6[0] & 0xf, 4);
}

/* single-step and a data breakpoint on one instruction: one #DB, both bits in DR6 */
extern u8 acc_end[];
asm(".text\nacc_probe:\n\tpushfq\n\torq $0x100, (%rsp)\n\tpopfq\n\tmovb $1, (%rdi)\n"
    ".globl acc_end\nacc_end: ret\n");
void acc_probe(void *p);

static void dr6_accumulates(void) {
  db_stop_tf_at = (u64)acc_end;
  wr_dr1((u64)buf + 3);
  wr_dr7(DR7_FIXED | L(1) | RW(1, RW_W) | LEN(1, LEN1));
  acc_probe(buf + 3);
  dr_reset();
  CHECK_EQ(db_n, 1);
  CHECK_EQ(db_rip[0], (u64)acc_end);
  CHECK_EQ(db_dr6[0] & (DR6_BS | 0xf), DR6_BS | 2);
}

/* INT3 under TF: delivery clears TF, no trap in the handler; the IRET back restores TF and the
 * trap comes after the next instruction */
extern u8 i3_after[], i3_next[];
asm(".text\nint3_tf:\n\tpushfq\n\torq $0x100, (%rsp)\n\tpopfq\n\tint3\n"
    ".globl i3_after\ni3_after: nop\n.globl i3_next\ni3_next: ret\n");
void int3_tf(void);

static void int3_under_tf(void) {
  bp_count = 0;
  set_trap_handler(BP, bp_count_handler);
  db_stop_tf_at = (u64)i3_next;
  int3_tf();
  CHECK_EQ(bp_count, 1);
  CHECK_EQ(db_n, 1);
  CHECK_EQ(db_rip[0], (u64)i3_next);
}

/* ICEBP (F1): a #DB trap after it, without the gate DPL check of INT n (so also at CPL 3) */
extern u8 icebp_after[];
static void icebp_k(void *a) { (void)a; asm volatile(".byte 0xf1\n.globl icebp_after\nicebp_after:"); }
static long icebp_u(long a) { (void)a; asm volatile(".byte 0xf1"); return 7; }

static void icebp(void) {
  set_trap_handler(DB, NULL);
  check_fault(catch_run(icebp_k, NULL), DB, -1);
  CHECK_EQ(last_fault.rip, (u64)icebp_after);
  CHECK_EQ(rd_dr6() & (DR6_BS | DR6_BD | 0xf), 0);
  set_trap_handler(DB, db_handler);
  long v = 0;
  CHECK_EQ(catch_user(icebp_u, 0, &v), -1);
  CHECK_EQ(db_n, 1);
  CHECK_EQ(db_cs[0], UCS | 3);
  CHECK_EQ(v, 7);
}

/* SYSCALL with TF set: SFMASK clears TF, so no trap in the kernel; SYSRET restores TF from R11
 * and traps at once, before the user instruction after SYSCALL (as QEMU does, and as Linux's
 * entry code and tools/testing/selftests/x86/single_step_syscall.c expect) */
extern u8 u_sc_after[];
long u_sc_tf(long);
asm(".text\nu_sc_tf:\n\tmov $1, %eax\n\tpushfq\n\torq $0x100, (%rsp)\n\tpopfq\n\tsyscall\n"
    ".globl u_sc_after\nu_sc_after: pushfq\n\tandq $~0x100, (%rsp)\n\tpopfq\n\tmov $5, %eax\n\tret\n");

static void syscall_sysret_tf(void) {
  db_stop_tf_at = (u64)u_sc_after;
  long v = 0;
  CHECK_EQ(catch_user_via(u_sc_tf, 0, &v, 1), -1);
  CHECK_EQ(v, 5);
  CHECK_EQ(db_n, 1);
  CHECK_EQ(db_rip[0], (u64)u_sc_after);
  CHECK_EQ(db_cs[0], UCS | 3);
  CHECK_EQ(db_dr6[0] & DR6_BS, DR6_BS);
}

/* ---- I/O breakpoints (CR4.DE = 1, R/W = 10b) ---- */
extern u8 io_after[];
static __attribute__((noinline)) void io_out(void) { asm volatile("outb %%al, $0x80\n.globl io_after\nio_after:" :: "a"(0)); }

static void io_breakpoint(void) {
  write_cr4(read_cr4() | CR4_DE);
  wr_dr0(0x80);
  wr_dr7(DR7_FIXED | L(0) | RW(0, RW_IO) | LEN(0, LEN1));
  io_out();
  dr_reset();
  CHECK_EQ(db_n, 1);
  CHECK_EQ(db_rip[0], (u64)io_after);
  CHECK_EQ(db_dr6[0] & 0xf, 1);
}

/* ---- CLAC / STAC ---- */
static long u_clac(long a) { (void)a; asm volatile("clac"); return 0; }
static long u_stac(long a) { (void)a; asm volatile("stac"); return 0; }

static void clac_stac(void) {
  u32 a, b, c, d;
  cpuid(7, 0, &a, &b, &c, &d);
  if (!(b & (1u << 20))) { t_skip("no SMAP"); return; }
  asm volatile("stac" ::: "memory");
  CHECK_EQ(read_rflags() & RFLAGS_AC, RFLAGS_AC);
  asm volatile("clac" ::: "memory");
  CHECK_EQ(read_rflags() & RFLAGS_AC, 0);
  /* CR4.SMAP does not matter */
  write_cr4(read_cr4() | CR4_SMAP);
  asm volatile("stac" ::: "memory");
  CHECK_EQ(read_rflags() & RFLAGS_AC, RFLAGS_AC);
  asm volatile("clac" ::: "memory");
  write_cr4(read_cr4() & ~CR4_SMAP);
  check_fault(catch_user(u_clac, 0, NULL), UD, -1);
  check_fault(catch_user(u_stac, 0, NULL), UD, -1);
}

/* ---- 16-bit code above 64 KiB ---- */

/* a far jump to a 16-bit code segment (compatibility mode) at an offset above 64 KiB:
 * sequential execution goes on at CS.base + EIP, EIP is not cut to 16 bits */
struct farptr { u32 off; u16 sel; } __attribute__((packed));
extern u8 code16_entry[];
u64 code16_run(struct farptr *p);
asm(".text\ncode16_run:\n\tpush %rbx\n\txor %ebx, %ebx\n\tljmpl *(%rdi)\n"
    ".code16\n.globl code16_entry\ncode16_entry:\n\tnop\n\tmovw $0x1234, %bx\n\tnop\n"
    "\taddw $0x1111, %bx\n\tljmpl $" STR(KCS) ", $code16_back\n"
    ".code64\ncode16_back:\n\tmov %ebx, %eax\n\tpop %rbx\n\tret\n");

static void code16_probe(void *a) { *(u64 *)a = code16_run(&(struct farptr){ (u32)(u64)code16_entry, SEL_CODE_XO }); }

static void code16_above_64k(void) {
  CHECK((u64)code16_entry > 0xffff, "code16_entry %p", code16_entry);
  /* 16-bit code: base 0, limit 4 GiB (G), D = 0, L = 0, DPL 0 */
  gdt[SEL_CODE_XO >> 3] = 0x008f9b000000fffful;
  u64 v = 0;
  long r = catch_run(code16_probe, &v);
  CHECK_EQ(r, -1);
  CHECK_EQ(v, 0x2345);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(dr_fixed_bits), T(dr_upper_gp), T(dr4_dr5), T(general_detect),
  T(insn_bp), T(insn_bp_two), T(rf_suppresses_once), T(rf_in_fault_image),
  T(data_write_lengths), T(data_read_write), T(data_disabled), T(rep_movs_data_bp),
  T(single_step_rep_movs), T(iret_sets_tf), T(mov_ss_holds_single_step), T(mov_ss_holds_data_bp),
  T(dr6_accumulates), T(int3_under_tf), T(icebp), T(syscall_sysret_tf), T(io_breakpoint),
  T(clac_stac), T(code16_above_64k),
};
const int ntests = ARRAY_SIZE(tests);
