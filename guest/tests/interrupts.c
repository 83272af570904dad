/*
 * IDT delivery in long mode (APM Vol. 2, 8.9): fault and trap RIPs, interrupt and trap gates,
 * gate DPL checks for INT n, stack switches through TSS.RSP0 and the IST (NMI on IST1, #DF on
 * IST2), 16-byte frame alignment, not-present gates and the IDT limit, double faults (8.2.9,
 * Table 8-8), NMI blocking until IRET (8.2.3), single-step #DB. IST delivery at the same CPL keeps
 * SS, from CPL 3 it loads a null SS; IRETQ at CPL 0 checks the SS it pops (a code segment,
 * RPL or DPL other than the new CPL, read-only, not present, beyond the GDT: faults; a null
 * selector: loaded, 64-bit mode only).
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

/*
 * The IST at the same privilege. SS is loaded (with a null selector, RPL = new CPL) only when
 * the CPL changes; an IST gate taken at CPL 0 switches RSP to the IST entry and leaves SS as it
 * is (Intel SDM Vol. 3, 6.14: "The new SS is set to NULL if there is a change in CPL"; Vol. 2,
 * INT n: the intra-privilege path of a 64-bit gate pushes SS:RSP and loads no SS; Bochs
 * long_mode_int agrees). QEMU 7.2 nulls SS for every IST gate.
 */
#define IST_TEST 3      /* tss.ist[2], free in the runtime */
static u8 ist3_stack[4096] __attribute__((aligned(16)));
static volatile u64 ist_live_ss, ist_frame_ss;

static void ist_handler(struct frame *f) {
  ist_live_ss = read_ss();
  ist_frame_ss = f->ss;
  h_frame = (u64)f;
  if (f->vector == UD) f->rip += 2;   /* past the UD2 */
  h_count++;
}

static u64 ist3_top(void) { return (u64)ist3_stack + sizeof(ist3_stack); }

/* (a) #UD through an IST gate at CPL 0 with SS = KDS: the frame is on the IST stack, its SS is
 * KDS, and the handler runs with SS = KDS still */
static void ist_same_cpl_keeps_ss(void) {
  tss.ist[IST_TEST - 1] = ist3_top();
  set_gate(UD, IST_TEST, 0, 0);
  set_trap_handler(UD, ist_handler);
  CHECK_EQ(read_ss(), KDS);
  asm volatile("ud2");
  tss.ist[IST_TEST - 1] = 0;
  CHECK_EQ(h_count, 1);
  CHECK_EQ(frame_top(), ist3_top());
  CHECK_EQ(ist_frame_ss, KDS);
  CHECK_EQ(ist_live_ss, KDS);
  CHECK_EQ(read_ss(), KDS);
}

/* an IST gate from CPL 3: the CPL changes, so SS becomes a null selector with RPL 0 */
static void ist_from_user_nulls_ss(void) {
  long v = 0;
  tss.ist[IST_TEST - 1] = ist3_top();
  set_gate(VEC_SW, IST_TEST, 3, 0);
  set_trap_handler(VEC_SW, ist_handler);
  CHECK_EQ(catch_user(u_int50, 0, &v), -1);
  tss.ist[IST_TEST - 1] = 0;
  CHECK_EQ(v, 7);
  CHECK_EQ(h_count, 1);
  CHECK_EQ(frame_top(), ist3_top());
  CHECK_EQ(ist_frame_ss, UDS | 3);
  CHECK_EQ(ist_live_ss, 0);
}

/*
 * IRETQ at CPL 0 back to CPL 0 pops SS:RSP in 64-bit mode and checks the SS selector as a
 * return to another level would (Intel SDM Vol. 2, IRET, IA-32e-MODE-RETURN and its 64-bit
 * mode exceptions; Bochs long_iret, fetch_ss_descriptor): RPL and DPL equal to the new CPL, a
 * writable data segment, else #GP(selector); not present: #SS(selector). A null SS is allowed
 * in 64-bit mode when the new CPL is not 3.
 */
static volatile u64 iret_after_ss;
extern u8 iret_insn[];

static __attribute__((noinline, noclone)) void do_iret_ss(void *arg) {
  u64 ss = (u64)arg, after;
  asm volatile("mov %%rsp, %%rax\n\t"
               "pushq %1\n\t"
               "pushq %%rax\n\t"
               "pushfq\n\t"
               "pushq %2\n\t"
               "leaq 1f(%%rip), %%rax\n\t"
               "pushq %%rax\n\t"
               ".globl iret_insn\niret_insn: iretq\n"
               "1:\n\t"
               "xor %%eax, %%eax\n\t"
               "mov %%ss, %%ax\n\t"
               "mov %3, %%ss"
               : "=&a"(after) : "r"(ss), "i"(KCS), "r"((u64)KDS) : "memory");
  iret_after_ss = after;
}

static long iret_with_ss(u64 ss) {
  iret_after_ss = 0xdead;
  return catch_run(do_iret_ss, (void *)ss);
}

static void check_iret_fault(u64 ss, int vec, long err) {
  long r = iret_with_ss(ss);
  check_fault(r, vec, err);
  if (r == vec) CHECK_EQ(last_fault.rip, (u64)iret_insn);
  CHECK_EQ(read_ss(), KDS);
}

/* (b) the SS of the frame names a code segment (KCS = 8, as in Linux's GDT entry 1): #GP(8) */
static void iretq_ss_code_gp(void) { check_iret_fault(KCS, GP, KCS); }

/* (c) a null SS with RPL 0 at CPL 0 in 64-bit mode: loaded */
static void iretq_ss_null_ok(void) {
  CHECK_EQ(iret_with_ss(0), -1);
  CHECK_EQ(iret_after_ss, 0);
}

/* a good data SS: loaded (the baseline for the cases around it) */
static void iretq_ss_data_ok(void) {
  CHECK_EQ(iret_with_ss(KDS), -1);
  CHECK_EQ(iret_after_ss, KDS);
}

/* SS.RPL (3) is not the new CPL (0): #GP(selector) */
static void iretq_ss_rpl_gp(void) { check_iret_fault(KDS | 3, GP, KDS); }

/* SS.DPL (3) is not the new CPL: #GP(selector) */
static void iretq_ss_dpl_gp(void) { check_iret_fault(UDS, GP, UDS); }

/* a read-only data segment: #GP(selector) */
static void iretq_ss_readonly_gp(void) { check_iret_fault(SEL_DATA_RO, GP, SEL_DATA_RO); }

/* beyond the GDT limit: #GP(selector) */
static void iretq_ss_beyond_gdt_gp(void) { check_iret_fault(GDT_ENTRIES * 8, GP, GDT_ENTRIES * 8); }

/* a writable data segment that is not present: #SS(selector) */
static void iretq_ss_not_present_ss(void) { check_iret_fault(SEL_DATA_NP, SS, SEL_DATA_NP); }

/*
 * Linux's case end to end (docs/kvm-build.md): SYSCALL with a STAR whose SS (STAR[47:32] + 8)
 * names a code segment, then, on that stack, an exception through an IST gate whose handler
 * takes a nested exception without IST. The nested frame holds the live SS: still the code
 * selector, as the IST delivery at CPL 0 kept it, so the nested IRETQ raises #GP(selector).
 * (On QEMU the IST delivery nulled SS and the nested IRETQ returns.)
 */
#define VEC_NESTED 0x51
static volatile u64 nested_returned;

static void ud_nesting_handler(struct frame *f) {
  ist_live_ss = read_ss();
  asm volatile("int $0x51" ::: "memory");
  nested_returned = 1;
  f->ss = KDS;        /* the outer IRETQ: back to the SYSCALL stub on a usable SS */
  f->rip += 2;
}

/* called by syscall_ist_entry with SS = SEL_CODE_RX */
void ist_syscall_body(void) {
  ist_frame_ss = read_ss();
  asm volatile("ud2");
}

/* the LSTAR target: run ist_syscall_body, then back to KCS:RCX with SS = KDS, RFLAGS = R11 */
asm(".text\n"
    ".globl syscall_ist_entry\n"
    "syscall_ist_entry:\n\t"
    "push %rcx\n\t"
    "push %r11\n\t"
    "mov %rsp, %rbx\n\t"
    "and $-16, %rsp\n\t"
    "call ist_syscall_body\n\t"
    "mov %rbx, %rsp\n\t"
    "mov $0x10, %eax\n\t"           /* KDS */
    "mov %eax, %ss\n\t"
    "pop %r11\n\t"
    "pop %rcx\n\t"
    "push %r11\n\t"
    "popfq\n\t"
    "pushq $0x08\n\t"               /* KCS */
    "push %rcx\n\t"
    "lretq\n");
extern u8 syscall_ist_entry[];

static void do_syscall_ist(void *a) {
  (void)a;
  asm volatile("syscall"
               ::: "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
}

static void ist_nested_iret_code_ss(void) {
  nested_returned = 0;
  ist_live_ss = ist_frame_ss = 0xdead;
  tss.ist[IST_TEST - 1] = ist3_top();
  set_gate(UD, IST_TEST, 0, 0);
  set_trap_handler(UD, ud_nesting_handler);
  set_trap_handler(VEC_NESTED, record);
  /* SYSCALL: CS = STAR[47:32] (SEL_CODE_XO), SS = STAR[47:32] + 8 (SEL_CODE_RX, a code segment) */
  wrmsr(MSR_STAR, (rdmsr(MSR_STAR) & ~(0xfffful << 32)) | ((u64)SEL_CODE_XO << 32));
  wrmsr(MSR_LSTAR, (u64)syscall_ist_entry);
  long r = catch_run(do_syscall_ist, NULL);
  tss.ist[IST_TEST - 1] = 0;
  CHECK_EQ(ist_frame_ss, SEL_CODE_RX);
  CHECK_EQ(h_count, 1);
  check_fault(r, GP, SEL_CODE_RX);
  CHECK_EQ(nested_returned, 0);
  CHECK_EQ(ist_live_ss, SEL_CODE_RX);
  CHECK_EQ(read_ss(), KDS);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(int3_trap_rip), T(fault_rip), T(int_n_interrupt_gate), T(int_n_trap_gate), T(int_n_dpl_gp),
  T(int_n_from_user_rsp0), T(int3_from_user), T(frame_alignment), T(np_gate_not_present),
  T(gp_beyond_idt_limit), T(df_gp_gate_not_present), T(df_pf_on_stack), T(nmi_ist1),
  T(nmi_blocked_until_iret), T(db_single_step), T(ist_same_cpl_keeps_ss),
  T(ist_from_user_nulls_ss), T(iretq_ss_code_gp), T(iretq_ss_null_ok), T(iretq_ss_data_ok),
  T(iretq_ss_rpl_gp), T(iretq_ss_dpl_gp), T(iretq_ss_readonly_gp), T(iretq_ss_beyond_gdt_gp),
  T(iretq_ss_not_present_ss), T(ist_nested_iret_code_ss),
};
const int ntests = ARRAY_SIZE(tests);

void test_setup(void) { reset_record(); }
