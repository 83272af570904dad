/*
 * IDT delivery in long mode (APM Vol. 2, 8.9): fault and trap RIPs, interrupt and trap gates,
 * gate DPL checks for INT n, stack switches through TSS.RSP0 and the IST (NMI on IST1, #DF on
 * IST2), 16-byte frame alignment, not-present gates and the IDT limit, double faults (8.2.9,
 * Table 8-8), NMI blocking until IRET (8.2.3), single-step #DB.
 */
#include "rt.h"
#include "lapic.h"

const char kernel_name[] = "interrupts";

#define VEC_SW 0x50     /* INT n target, DPL 0 interrupt gate */

static volatile u64 h_frame, h_rip, h_rflags_live, h_count, h_cs;

static void record(struct frame *f) {
  h_frame = (u64)f;
  h_rip = f->rip;
  h_cs = f->cs;
  h_rflags_live = read_rflags();
  h_count++;
}

static void reset_record(void) { h_frame = h_rip = h_rflags_live = h_count = h_cs = 0; }

static u64 frame_top(void) { return h_frame + sizeof(struct frame); }

extern u8 after_int3[], after_int50[], ud2_insn[], div_insn[];

static void int3_trap_rip(void) {
  set_trap_handler(BP, record);
  asm volatile("int3\n.globl after_int3\nafter_int3:");
  CHECK_EQ(h_count, 1);
  CHECK_EQ(h_rip, (u64)after_int3);
}

static void do_ud2(void *a) { (void)a; asm volatile(".globl ud2_insn\nud2_insn: ud2"); }
static void do_div0(void *a) {
  (void)a;
  asm volatile("xor %%ecx, %%ecx\n\tmov $1, %%eax\n\txor %%edx, %%edx\n\t"
               ".globl div_insn\ndiv_insn: div %%ecx" ::: "rax", "rcx", "rdx");
}
static void do_into(void *a) { (void)a; asm volatile(".byte 0xce"); }  /* INTO: #UD in 64-bit mode */

static void fault_rip(void) {
  long r = catch_run(do_ud2, NULL);
  check_fault(r, UD, -1);
  if (r == UD) CHECK_EQ(last_fault.rip, (u64)ud2_insn);
  r = catch_run(do_div0, NULL);
  check_fault(r, DE, -1);
  if (r == DE) CHECK_EQ(last_fault.rip, (u64)div_insn);
  check_fault(catch_run(do_into, NULL), UD, -1);
}

static void int_n_interrupt_gate(void) {
  set_trap_handler(VEC_SW, record);
  sti();
  asm volatile("int $0x50\n.globl after_int50\nafter_int50:");
  cli();
  CHECK_EQ(h_count, 1);
  CHECK_EQ(h_rip, (u64)after_int50);
  CHECK(!(h_rflags_live & RFLAGS_IF), "IF set in an interrupt-gate handler");
  CHECK_EQ(h_cs, KCS);
}

static void int_n_trap_gate(void) {
  set_gate(VEC_SW, 0, 0, 1);
  set_trap_handler(VEC_SW, record);
  sti();
  asm volatile("int $0x50");
  cli();
  CHECK_EQ(h_count, 1);
  CHECK(h_rflags_live & RFLAGS_IF, "IF clear in a trap-gate handler");
}

static long u_int50(long a) { (void)a; asm volatile("int $0x50"); return 7; }
static long u_int3(long a) { (void)a; asm volatile("int3"); return 9; }

/* INT n from CPL 3 through a DPL 0 gate: #GP(vector * 8 + 2) */
static void int_n_dpl_gp(void) {
  set_trap_handler(VEC_SW, record);
  check_fault(catch_user(u_int50, 0, NULL), GP, VEC_SW * 8 + 2);
  CHECK_EQ(h_count, 0);
}

/* through a DPL 3 gate, on the TSS.RSP0 stack, with the user SS:RSP in the frame */
static void int_n_from_user_rsp0(void) {
  long v = 0;
  set_gate(VEC_SW, 0, 3, 0);
  set_trap_handler(VEC_SW, record);
  CHECK_EQ(catch_user(u_int50, 0, &v), -1);
  CHECK_EQ(v, 7);
  CHECK_EQ(h_count, 1);
  CHECK_EQ(h_cs, UCS | 3);
  CHECK_EQ(frame_top(), (u64)kstack_top);
  CHECK_EQ(last_fault.ss, UDS | 3);
  CHECK(last_fault.rsp < (u64)user_stack_top && last_fault.rsp > (u64)user_stack, "frame RSP %#lx", last_fault.rsp);
}

static void int3_from_user(void) {
  long v = 0;
  set_trap_handler(BP, record);
  CHECK_EQ(catch_user(u_int3, 0, &v), -1);
  CHECK_EQ(v, 9);
  CHECK_EQ(h_count, 1);
  CHECK_EQ(h_cs, UCS | 3);
}

/* without a stack switch RSP is aligned down to 16 before the frame is pushed (8.9.3) */
static void frame_alignment(void) {
  u64 saved = 0;
  set_trap_handler(VEC_SW, record);
  asm volatile("mov %%rsp, %%rbx\n\t"
               "and $-16, %%rsp\n\t"
               "sub $8, %%rsp\n\t"
               "mov %%rsp, %0\n\t"
               "int $0x50\n\t"
               "mov %%rbx, %%rsp" : "=&r"(saved) :: "rbx", "memory");
  CHECK_EQ(h_count, 1);
  CHECK_EQ(frame_top() & 15, 0);
  CHECK_EQ(frame_top(), saved - 8);
  CHECK_EQ(last_fault.rsp, saved);
}

static void do_int53(void *a) { (void)a; asm volatile("int $0x53"); }
static void do_int70(void *a) { (void)a; asm volatile("int $0x70"); }

/* a not-present gate: #NP with IDT=1 in the error code */
static void np_gate_not_present(void) {
  idt[0x53].attr &= ~0x80;
  check_fault(catch_run(do_int53, NULL), NP, 0x53 * 8 + 2);
}

static void gp_beyond_idt_limit(void) {
  struct { u16 limit; u64 base; } __attribute__((packed)) p = { 0x60 * 16 - 1, (u64)idt };
  asm volatile("lidt %0" :: "m"(p));
  check_fault(catch_run(do_int70, NULL), GP, 0x70 * 8 + 2);
}

static void load_bad_ds(void *a) { (void)a; asm volatile("mov %0, %%ds" :: "r"((u16)(GDT_ENTRIES * 8))); }

/* #GP whose gate is not present: the #NP while delivering it is contributory -> #DF */
static void df_gp_gate_not_present(void) {
  idt[GP].attr &= ~0x80;
  long r = catch_run(load_bad_ds, NULL);
  idt[GP].attr |= 0x80;
  check_fault(r, DF, 0);
  if (r == DF) CHECK_EQ(last_fault.frame + sizeof(struct frame), (u64)ist2_top);
}

static void pf_with_bad_stack(void *a) {
  asm volatile("mov %%rsp, %%rbx\n\tmov %0, %%rsp\n\tmov (%1), %%rax\n\tmov %%rbx, %%rsp"
               :: "r"(test_page(21) + 0x800), "r"(a) : "rax", "rbx", "memory");
}

/* a #PF while pushing the frame of a #PF (the stack page is not present) -> #DF on IST2 */
static void df_pf_on_stack(void) {
  *test_pte(test_page(20)) = 0;
  *test_pte(test_page(21)) = 0;
  write_cr3(read_cr3());
  long r = catch_run(pf_with_bad_stack, (void *)test_page(20));
  check_fault(r, DF, 0);
  if (r != DF) return;
  CHECK_EQ(last_fault.frame + sizeof(struct frame), (u64)ist2_top);
  u64 cr2 = read_cr2();
  CHECK(cr2 >= test_page(20) && cr2 < test_page(21) + 0x800, "CR2 %#lx", cr2);
}

static u8 nested_stack[4096] __attribute__((aligned(16)));
static volatile u64 nmi_count, nmi_seen_nested, nmi_frame;

static void nmi_handler(struct frame *f) {
  u64 n = ++nmi_count;
  if (n == 1) nmi_frame = (u64)f;
}

static void nmi_ist1(void) {
  lapic_enable();
  nmi_count = 0;
  set_trap_handler(NMI, nmi_handler);
  lapic_nmi_self();
  for (int i = 0; i < 1000000 && !nmi_count; i++) asm volatile("pause");
  CHECK_EQ(nmi_count, 1);
  CHECK_EQ(nmi_frame + sizeof(struct frame), (u64)ist1_top);
}

/* a second NMI sent from the NMI handler waits for its IRET (APM Vol. 2, 8.2.3) */
static void nmi_nesting_handler(struct frame *f) {
  (void)f;
  u64 n = ++nmi_count;
  if (n != 1) return;
  tss.ist[0] = (u64)nested_stack + sizeof(nested_stack);  /* a wrongly nested NMI stays harmless */
  lapic_nmi_self();
  for (int i = 0; i < 100000; i++) asm volatile("pause");
  nmi_seen_nested = nmi_count;
  tss.ist[0] = (u64)ist1_top;
}

static void nmi_blocked_until_iret(void) {
  lapic_enable();
  nmi_count = nmi_seen_nested = 0;
  set_trap_handler(NMI, nmi_nesting_handler);
  lapic_nmi_self();
  for (int i = 0; i < 1000000 && nmi_count < 2; i++) asm volatile("pause");
  CHECK_EQ(nmi_seen_nested, 1);
  CHECK_EQ(nmi_count, 2);
}

static volatile u64 db_dr6, db_rip;
static void db_handler(struct frame *f) {
  asm volatile("mov %%dr6, %0" : "=r"(db_dr6));
  db_rip = f->rip;
  f->rflags &= ~RFLAGS_TF;
  h_count++;
}

extern u8 after_step[];

/* POPF setting TF: #DB after the instruction that follows it, DR6.BS set */
static void db_single_step(void) {
  set_trap_handler(DB, db_handler);
  asm volatile("mov %0, %%dr6" :: "r"(0xffff0ff0ul));
  asm volatile("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\tnop\n.globl after_step\nafter_step:\n\tnop" ::: "memory");
  CHECK_EQ(h_count, 1);
  CHECK_EQ(db_rip, (u64)after_step);
  CHECK(db_dr6 & 0x4000, "DR6.BS clear: %#lx", db_dr6);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(int3_trap_rip), T(fault_rip), T(int_n_interrupt_gate), T(int_n_trap_gate), T(int_n_dpl_gp),
  T(int_n_from_user_rsp0), T(int3_from_user), T(frame_alignment), T(np_gate_not_present),
  T(gp_beyond_idt_limit), T(df_gp_gate_not_present), T(df_pf_on_stack), T(nmi_ist1),
  T(nmi_blocked_until_iret), T(db_single_step),
};
const int ntests = ARRAY_SIZE(tests);

void test_setup(void) { reset_record(); }
