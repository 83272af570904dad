/*
 * Back to real mode and forth (APM Vol. 2, 14.3 and 14.4): from 32-bit protected mode with
 * paging off through a 16-bit code segment, CR0.PE cleared, a far jump to load a real-mode CS;
 * then events through the IVT (8.1: vector * 4 at IDTR.base, IP then CS; FLAGS, CS, IP pushed,
 * IF, TF and AC cleared, no error codes; IRET pops them), far CALL/RETF, segment arithmetic,
 * and back to protected mode (CR0.PE set, a far jump to a 32-bit code segment).
 *
 * The real-mode code (rm_blob .. rm_blob_end) is copied to RM_BASE and runs with
 * CS = DS = SS = RM_SEG; it addresses itself by offsets from rm_blob. Each test runs one
 * scenario (rm_which) and checks what the scenario recorded in the copy. Exceptions 0..31 go
 * to stubs that record the vector and frame; an expected one resumes rm_skip bytes after the
 * faulting IP, an unexpected one ends the scenario.
 */
#include "rt32.h"

const char kernel_name[] = "legacy_real";

#define RM_BASE 0x7000
#define RM_SEG 0x0700
#define ALT_IVT 0x2000
#define SEG_PROBE 0x1240
#define OFF(l) #l " - rm_blob"

asm(".section .text.rm16, \"ax\"\n"
    ".code16\n"
    ".globl rm_blob, rm_blob_end\n"
    ".balign 16\n"
    "rm_blob:\n"
    /* 16-bit protected mode, CS = CS16 (base 0): IP is RM_BASE + offset; only relative jumps */
    "rm16_entry:\n\t"
    "mov $" XSTR(DS16) ", %ax\n\t"
    "mov %ax, %ds\n\tmov %ax, %es\n\tmov %ax, %fs\n\tmov %ax, %gs\n\tmov %ax, %ss\n\t"
    "mov %cr0, %eax\n\t"
    "and $0xfffffffe, %eax\n\t"
    "mov %eax, %cr0\n\t"
    "ljmp $" XSTR(RM_SEG) ", $" OFF(rm_real) "\n"
    "rm_real:\n\t"
    "mov %cs, %ax\n\t"
    "mov %ax, %ds\n\tmov %ax, %es\n\tmov %ax, %ss\n\t"
    "xor %ax, %ax\n\tmov %ax, %fs\n\tmov %ax, %gs\n\t"
    "mov $" OFF(rm_stack_top) ", %sp\n\t"
    "lidt " OFF(rm_idtr) "\n\t"
    "movw $1, " OFF(rm_entered) "\n\t"
    "mov " OFF(rm_which) ", %bx\n\t"
    "shl $1, %bx\n\t"
    "call *" OFF(rm_table) "(%bx)\n"
    "rm_leave:\n\t"
    "cli\n\t"
    "mov %cr0, %eax\n\t"
    "or $1, %eax\n\t"
    "mov %eax, %cr0\n\t"
    "ljmpl $" XSTR(KCS) ", $rm_back32\n"
    /* exceptions: the vector, then the common path */
    ".altmacro\n"
    ".macro RMSTUB v\n\t"
    ".balign 8\n\t"
    "pushw $\\v\n\t"
    "jmp rm_exc_common\n"
    ".endm\n"
    ".balign 8\n"
    "rm_exc_stubs:\n"
    ".set rmv, 0\n"
    ".rept 32\n\t"
    "RMSTUB %rmv\n"
    ".set rmv, rmv + 1\n"
    ".endr\n"
    ".noaltmacro\n"
    "rm_exc_common:\n\t"
    "push %bp\n\t"
    "mov %sp, %bp\n\t"
    "mov 2(%bp), %ax\n\tmov %ax, %ss:" OFF(rm_exc_vec) "\n\t"
    "mov 4(%bp), %ax\n\tmov %ax, %ss:" OFF(rm_exc_ip) "\n\t"
    "mov 6(%bp), %ax\n\tmov %ax, %ss:" OFF(rm_exc_cs) "\n\t"
    "mov 8(%bp), %ax\n\tmov %ax, %ss:" OFF(rm_exc_fl) "\n\t"
    "lea 4(%bp), %ax\n\tmov %ax, %ss:" OFF(rm_exc_sp) "\n\t"
    "incw %ss:" OFF(rm_exc_count) "\n\t"
    "mov 2(%bp), %ax\n\t"
    "cmp %ss:" OFF(rm_expect) ", %ax\n\t"
    "jne 1f\n\t"
    "mov %ss:" OFF(rm_skip) ", %ax\n\t"
    "add %ax, 4(%bp)\n\t"
    "pop %bp\n\t"
    "add $2, %sp\n\t"
    "iret\n"
    "1:\tmov 2(%bp), %ax\n\t"
    "inc %ax\n\t"
    "mov %ax, %ss:" OFF(rm_unexpected) "\n\t"
    "mov $" OFF(rm_stack_top) ", %sp\n\t"
    "jmp rm_leave\n"

    /* ---- scenarios ---- */
    "sc_none: ret\n"
    /* INT n through the IVT, with IF and CF set */
    "sc_int:\n\t"
    "stc\n\tsti\n\t"
    "pushf\n\tpop %ax\n\tmov %ax, " OFF(r_fl_before) "\n\t"
    "mov %sp, " OFF(r_sp_before) "\n\t"
    "int $0x60\n"
    "r_after_int:\n\t"
    "pushf\n\tpop %ax\n\tmov %ax, " OFF(r_fl_after) "\n\t"
    "mov %sp, " OFF(r_sp_after) "\n\t"
    "cli\n\tclc\n\t"
    "ret\n"
    /* the handler runs with CS = 0 (its IVT entry), DS untouched */
    "h60:\n\t"
    "push %bp\n\t"
    "mov %sp, %bp\n\t"
    "lea 2(%bp), %ax\n\tmov %ax, " OFF(r_h_sp) "\n\t"
    "mov 2(%bp), %ax\n\tmov %ax, " OFF(r_h_ip) "\n\t"
    "mov 4(%bp), %ax\n\tmov %ax, " OFF(r_h_cs) "\n\t"
    "mov 6(%bp), %ax\n\tmov %ax, " OFF(r_h_fl) "\n\t"
    "pushf\n\tpop %ax\n\tmov %ax, " OFF(r_h_live_fl) "\n\t"
    "mov %cs, %ax\n\tmov %ax, " OFF(r_h_live_cs) "\n\t"
    "pop %bp\n\t"
    "iret\n"
    /* faults and traps: #DE and #UD report the faulting IP, INT3 the next one */
    "sc_div0:\n\t"
    "movw $0, " OFF(rm_expect) "\n\tmovw $2, " OFF(rm_skip) "\n\t"
    "xor %cx, %cx\n\tmov $1, %ax\n\txor %dx, %dx\n"
    "r_div: div %cx\n\t"
    "ret\n"
    "sc_ud2:\n\t"
    "movw $6, " OFF(rm_expect) "\n\tmovw $2, " OFF(rm_skip) "\n"
    "r_ud: ud2\n\t"
    "ret\n"
    "sc_int3:\n\t"
    "movw $3, " OFF(rm_expect) "\n\tmovw $0, " OFF(rm_skip) "\n\t"
    "int3\n"
    "r_after_int3:\n\t"
    "ret\n"
    /* LIDT moves the IVT; a vector beyond its limit is #GP (no error code in real mode) */
    "sc_lidt:\n\t"
    "lidt " OFF(rm_idtr_alt) "\n\t"
    "int $0x61\n\t"
    "lidt " OFF(rm_idtr) "\n\t"
    "int $0x61\n\t"
    "ret\n"
    "h61_ivt0: incw " OFF(r_h61) "\n\tiret\n"
    "h61_alt: addw $0x100, " OFF(r_h61) "\n\tiret\n"
    "sc_ivt_limit:\n\t"
    "movw $13, " OFF(rm_expect) "\n\tmovw $2, " OFF(rm_skip) "\n\t"
    "lidt " OFF(rm_idtr_short) "\n"
    "r_int61: int $0x61\n\t"
    "lidt " OFF(rm_idtr) "\n\t"
    "ret\n"
    /* far CALL to CS = 0 and RETF */
    "sc_farcall:\n\t"
    "lcall $0, $" XSTR(RM_BASE) " + " OFF(rfar) "\n"
    "r_after_lcall:\n\t"
    "ret\n"
    "rfar:\n\t"
    "mov %cs, %ax\n\tmov %ax, " OFF(r_far_cs) "\n\t"
    "mov %sp, %bp\n\t"
    "mov 0(%bp), %ax\n\tmov %ax, " OFF(r_far_ip) "\n\t"
    "mov 2(%bp), %ax\n\tmov %ax, " OFF(r_far_ret_cs) "\n\t"
    "lret\n"
    /* linear = segment * 16 + offset: two segment:offset pairs for one address */
    "sc_segbase:\n\t"
    "mov $(" XSTR(SEG_PROBE) " >> 4) - 1, %ax\n\t"
    "mov %ax, %es\n\t"
    "movw $0x4567, %es:0x10\n\t"
    "mov $(" XSTR(SEG_PROBE) " >> 4), %ax\n\t"
    "mov %ax, %fs\n\t"
    "mov %fs:0, %ax\n\tmov %ax, " OFF(r_seg_read) "\n\t"
    "ret\n"
    /* real-mode IRET loads all of FLAGS, IOPL and NT included */
    "sc_iret_flags:\n\t"
    "pushw $0x7003\n\t"
    "push %cs\n\t"
    "pushw $" OFF(1f) "\n\t"
    "iret\n"
    "1:\tpushf\n\tpop %ax\n\tmov %ax, " OFF(r_fl_after) "\n\t"
    "pushw $0x0002\n\tpopf\n\t"
    "ret\n"

    ".balign 2\n"
    "rm_table: .word " OFF(sc_none) ", " OFF(sc_int) ", " OFF(sc_div0) ", " OFF(sc_ud2) ", "
    OFF(sc_int3) ", " OFF(sc_lidt) ", " OFF(sc_ivt_limit) ", " OFF(sc_farcall) ", "
    OFF(sc_segbase) ", " OFF(sc_iret_flags) "\n"
    "rm_idtr: .word 0x3ff\n\t.long 0\n"
    "rm_idtr_alt: .word 0x3ff\n\t.long " XSTR(ALT_IVT) "\n"
    "rm_idtr_short: .word 0x60 * 4 + 3\n\t.long 0\n"
    ".balign 2\n"
    "rm_which: .word 0\n"
    "rm_entered: .word 0\n"
    "rm_expect: .word 0xffff\n"
    "rm_skip: .word 0\n"
    "rm_unexpected: .word 0\n"
    "rm_exc_vec: .word 0\n"
    "rm_exc_ip: .word 0\n"
    "rm_exc_cs: .word 0\n"
    "rm_exc_fl: .word 0\n"
    "rm_exc_sp: .word 0\n"
    "rm_exc_count: .word 0\n"
    "r_fl_before: .word 0\n"
    "r_fl_after: .word 0\n"
    "r_sp_before: .word 0\n"
    "r_sp_after: .word 0\n"
    "r_h_sp: .word 0\n"
    "r_h_ip: .word 0\n"
    "r_h_cs: .word 0\n"
    "r_h_fl: .word 0\n"
    "r_h_live_fl: .word 0\n"
    "r_h_live_cs: .word 0\n"
    "r_h61: .word 0\n"
    "r_far_cs: .word 0\n"
    "r_far_ip: .word 0\n"
    "r_far_ret_cs: .word 0\n"
    "r_seg_read: .word 0\n"
    ".balign 16\n"
    ".skip 512\n"
    "rm_stack_top:\n"
    "rm_blob_end:\n"
    ".globl rm_exc_stubs, h60, h61_ivt0, h61_alt, rm_which, rm_entered, rm_unexpected\n"
    ".globl rm_exc_vec, rm_exc_ip, rm_exc_cs, rm_exc_fl, rm_exc_sp, rm_exc_count\n"
    ".globl r_fl_before, r_fl_after, r_sp_before, r_sp_after, r_h_sp, r_h_ip, r_h_cs, r_h_fl\n"
    ".globl r_h_live_fl, r_h_live_cs, r_h61, r_far_cs, r_far_ip, r_far_ret_cs, r_seg_read\n"
    ".globl r_after_int, r_div, r_ud, r_after_int3, r_int61, r_after_lcall\n"

    /* ---- protected-mode side ---- */
    ".text\n"
    ".code32\n"
    ".globl rm_run_blob\n"
    "rm_run_blob:\n\t"
    "push %ebp\n\tpush %ebx\n\tpush %esi\n\tpush %edi\n\t"
    "mov %esp, rm_saved_esp\n\t"
    "sidt rm_saved_idtr\n\t"
    "ljmp $" XSTR(CS16) ", $" XSTR(RM_BASE) " + " OFF(rm16_entry) "\n"
    "rm_back32:\n\t"
    "mov $" XSTR(KDS) ", %eax\n\t"
    "mov %eax, %ds\n\tmov %eax, %es\n\tmov %eax, %fs\n\tmov %eax, %gs\n\tmov %eax, %ss\n\t"
    "mov rm_saved_esp, %esp\n\t"
    "lidt rm_saved_idtr\n\t"
    "pop %edi\n\tpop %esi\n\tpop %ebx\n\tpop %ebp\n\t"
    "ret\n"
    ".data\n"
    "rm_saved_esp: .long 0\n"
    "rm_saved_idtr: .word 0\n\t.long 0\n"
    ".text\n");

extern u8 rm_blob[], rm_blob_end[], rm_exc_stubs[], h60[], h61_ivt0[], h61_alt[];
extern u8 rm_which[], rm_entered[], rm_unexpected[], rm_exc_vec[], rm_exc_ip[], rm_exc_cs[];
extern u8 rm_exc_fl[], rm_exc_sp[], rm_exc_count[];
extern u8 r_fl_before[], r_fl_after[], r_sp_before[], r_sp_after[], r_h_sp[], r_h_ip[], r_h_cs[];
extern u8 r_h_fl[], r_h_live_fl[], r_h_live_cs[], r_h61[], r_far_cs[], r_far_ip[], r_far_ret_cs[];
extern u8 r_seg_read[], r_after_int[], r_div[], r_ud[], r_after_int3[], r_int61[], r_after_lcall[];
void rm_run_blob(void);

/* the offset of a blob label (its IP with CS = RM_SEG), and the word recorded there */
static u32 off(const u8 *l) { return (u32)(l - rm_blob); }
static u32 rd(const u8 *l) { return *(volatile u16 *)(RM_BASE + off(l)); }

/* low memory, address 0 included, without the compiler's null-pointer assumptions */
static void poke16(u32 a, u16 v) { asm volatile("movw %1, (%0)" :: "r"(a), "r"(v) : "memory"); }
static u16 peek16(u32 a) { u16 v; asm volatile("movw (%1), %0" : "=r"(v) : "r"(a) : "memory"); return v; }
static void ivt_set(u32 ivt, int vec, u16 seg, u16 ip) { poke16(ivt + vec * 4, ip); poke16(ivt + vec * 4 + 2, seg); }

enum { SC_NONE, SC_INT, SC_DIV0, SC_UD2, SC_INT3, SC_LIDT, SC_IVT_LIMIT, SC_FARCALL, SC_SEGBASE,
       SC_IRET_FLAGS };

/* copy the blob, fill both IVTs, run one scenario, and check that it came back cleanly */
static int rm_run(int which, int expect_vec) {
  memcpy((void *)RM_BASE, rm_blob, (u32)(rm_blob_end - rm_blob));
  *(volatile u16 *)(RM_BASE + off(rm_which)) = (u16)which;
  for (int v = 0; v < 32; v++) {
    ivt_set(0, v, RM_SEG, (u16)(off(rm_exc_stubs) + 8 * v));
    ivt_set(ALT_IVT, v, RM_SEG, (u16)(off(rm_exc_stubs) + 8 * v));
  }
  ivt_set(0, 0x60, 0, (u16)(RM_BASE + off(h60)));
  ivt_set(0, 0x61, RM_SEG, (u16)off(h61_ivt0));
  ivt_set(ALT_IVT, 0x61, RM_SEG, (u16)off(h61_alt));
  rm_run_blob();
  CHECK_EQ(read_cs(), KCS);
  CHECK(read_cr0() & CR0_PE, "CR0.PE clear after the return");
  CHECK_EQ(rd(rm_entered), 1);
  u32 bad = rd(rm_unexpected);
  if (bad) {
    t_fail("real mode: unexpected vector %u at %04x:%04x", bad - 1, rd(rm_exc_cs), rd(rm_exc_ip));
    return 0;
  }
  if (expect_vec >= 0) CHECK_EQ(rd(rm_exc_count), 1);
  else CHECK_EQ(rd(rm_exc_count), 0);
  return !t_failed();
}

static int u_plus1(int a) { return a + 1; }

static void rm_round_trip(void) {
  rm_run(SC_NONE, -1);
  CHECK_EQ(read_ds(), KDS);
  /* protected mode works again: a ring-3 round trip and an interrupt */
  int v = 0;
  CHECK_EQ(catch_user(u_plus1, 9, &v), -1);
  CHECK_EQ(v, 10);
}

static void rm_int_ivt_frame(void) {
  if (!rm_run(SC_INT, -1)) return;
  u32 fl = rd(r_fl_before);
  CHECK_EQ(fl & (EFL_IF | EFL_CF), EFL_IF | EFL_CF);
  CHECK_EQ(rd(r_h_ip), off(r_after_int));
  CHECK_EQ(rd(r_h_cs), RM_SEG);
  CHECK_EQ(rd(r_h_fl), fl);
  CHECK_EQ(rd(r_h_sp), rd(r_sp_before) - 6);
  CHECK_EQ(rd(r_h_live_cs), 0);
  CHECK_EQ(rd(r_h_live_fl) & (EFL_IF | EFL_TF), 0);
  CHECK_EQ(rd(r_fl_after), fl);             /* IRET restored IF and CF */
  CHECK_EQ(rd(r_sp_after), rd(r_sp_before));
}

static void rm_exception_div0(void) {
  if (!rm_run(SC_DIV0, DE)) return;
  CHECK_EQ(rd(rm_exc_vec), DE);
  CHECK_EQ(rd(rm_exc_ip), off(r_div));
  CHECK_EQ(rd(rm_exc_cs), RM_SEG);
}

static void rm_exception_ud(void) {
  if (!rm_run(SC_UD2, UD)) return;
  CHECK_EQ(rd(rm_exc_vec), UD);
  CHECK_EQ(rd(rm_exc_ip), off(r_ud));
}

static void rm_int3_trap(void) {
  if (!rm_run(SC_INT3, BP)) return;
  CHECK_EQ(rd(rm_exc_ip), off(r_after_int3));
}

static void rm_lidt_moves_ivt(void) {
  if (!rm_run(SC_LIDT, -1)) return;
  CHECK_EQ(rd(r_h61), 0x101);               /* once through each table */
}

/* beyond the IVT limit: #GP, delivered with FLAGS, CS, IP and no error code (else the IP
 * recorded would be the error code) */
static void rm_ivt_limit_gp(void) {
  if (!rm_run(SC_IVT_LIMIT, GP)) return;
  CHECK_EQ(rd(rm_exc_vec), GP);
  CHECK_EQ(rd(rm_exc_ip), off(r_int61));
}

static void rm_far_call(void) {
  if (!rm_run(SC_FARCALL, -1)) return;
  CHECK_EQ(rd(r_far_cs), 0);
  CHECK_EQ(rd(r_far_ip), off(r_after_lcall));
  CHECK_EQ(rd(r_far_ret_cs), RM_SEG);
}

static void rm_segment_base(void) {
  poke16(SEG_PROBE, 0);
  if (!rm_run(SC_SEGBASE, -1)) return;
  CHECK_EQ(peek16(SEG_PROBE), 0x4567);
  CHECK_EQ(rd(r_seg_read), 0x4567);
}

static void rm_iret_flags(void) {
  if (!rm_run(SC_IRET_FLAGS, -1)) return;
  CHECK_EQ(rd(r_fl_after) & 0x7fd5, 0x7003 & 0x7fd5);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(rm_round_trip), T(rm_int_ivt_frame), T(rm_exception_div0), T(rm_exception_ud), T(rm_int3_trap),
  T(rm_lidt_moves_ivt), T(rm_ivt_limit_gp), T(rm_far_call), T(rm_segment_base), T(rm_iret_flags),
};
const int ntests = ARRAY_SIZE(tests);
