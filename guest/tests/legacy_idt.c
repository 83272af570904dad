/*
 * Interrupt and exception delivery in legacy protected mode (APM Vol. 2, 8.7; Vol. 3, INT n):
 * 32-bit interrupt and trap gates, the frame with and without an error code, a 16-bit gate's
 * frame, the privilege change from CPL 3 through the 32-bit TSS (SS0:ESP0, and SS1:ESP1 for a
 * ring-1 handler) with SS:ESP in the frame, IRET back to CPL 3 (which nulls data segment
 * registers the outer level may not use, and faults with nothing changed on a bad SS), a gate
 * to a conforming segment (no privilege change), gate DPL checks for INT n/INT3/INTO, and the
 * faults of delivery: not-present gate, IDT limit, gate to a bad or not-present code segment,
 * an unusable inner stack (#TS, #SS), and #DF from a #GP whose gate is not present.
 */
#include "rt32.h"

const char kernel_name[] = "legacy_idt";

#define VEC_SW 0x50              /* INT n target */
#define R1CS TEST_SEL(0)         /* 32-bit code, DPL 1 */
#define R1DS TEST_SEL(1)         /* writable data, DPL 1 */
#define R1DS_NP TEST_SEL(2)      /* the same, not present */
#define CS_NP TEST_SEL(3)        /* 32-bit code, DPL 0, not present */
#define CS16B TEST_SEL(4)        /* 32-bit code, DPL 0, based so a 16-bit gate offset reaches h16 */
#define CS_CONF TEST_SEL(5)      /* 32-bit code, DPL 0, conforming */

static volatile u32 h_count, h_frame, h_eip, h_cs, h_eflags, h_live_eflags, h_error, h_ss, h_esp;

static void record(struct frame *f) {
  h_count++;
  h_frame = (u32)&f->eip;
  h_eip = f->eip;
  h_cs = f->cs & 0xffff;
  h_eflags = f->eflags;
  h_error = f->error;
  h_live_eflags = read_eflags();
  h_ss = f->ss & 0xffff;
  h_esp = f->esp;
}

void test_setup(void) { h_count = h_frame = h_eip = h_cs = h_eflags = h_live_eflags = h_error = h_ss = h_esp = 0; }

extern u8 after_int50[];
static volatile u32 esp_before;

__attribute__((noinline)) static void int50_at_cpl0(void) {
  asm volatile("mov %%esp, %0\n\t"
               "int $0x50\n"
               ".globl after_int50\nafter_int50:" : "=m"(esp_before) :: "memory");
}

/* same privilege: EFLAGS, CS, EIP (12 bytes) on the current stack, IF cleared by the gate */
static void int_gate_frame(void) {
  set_trap_handler(VEC_SW, record);
  sti();
  int50_at_cpl0();
  cli();
  CHECK_EQ(h_count, 1);
  CHECK_EQ(h_eip, (u32)after_int50);
  CHECK_EQ(h_cs, KCS);
  CHECK_EQ(h_frame, esp_before - 12);
  CHECK(h_eflags & EFL_IF, "IF clear in the pushed EFLAGS");
  CHECK(!(h_live_eflags & EFL_IF), "IF set in an interrupt-gate handler");
}

static void trap_gate_keeps_if(void) {
  set_gate(VEC_SW, 0, 1);
  set_trap_handler(VEC_SW, record);
  sti();
  int50_at_cpl0();
  cli();
  CHECK_EQ(h_count, 1);
  CHECK(h_live_eflags & EFL_IF, "IF clear in a trap-gate handler");
  CHECK_EQ(h_frame, esp_before - 12);
}

/* a fault with an error code: 16 bytes, EIP at the faulting instruction; resumes after it */
extern u8 bad_ds_insn[], bad_ds_resume[];
static void gp_skip(struct frame *f) { record(f); f->eip = (u32)bad_ds_resume; }

static void fault_error_code_frame(void) {
  set_trap_handler(GP, gp_skip);
  asm volatile("mov %%esp, %0\n\t"
               ".globl bad_ds_insn\nbad_ds_insn: mov %1, %%ds\n"
               ".globl bad_ds_resume\nbad_ds_resume:"
               : "=m"(esp_before) : "r"(GDT_ENTRIES * 8 + 3) : "memory");
  CHECK_EQ(h_count, 1);
  CHECK_EQ(h_eip, (u32)bad_ds_insn);
  CHECK_EQ(h_error, GDT_ENTRIES * 8);
  CHECK_EQ(h_frame, esp_before - 12);   /* the error code sits below the frame */
  CHECK_EQ(read_ds(), KDS);
}

/* a 16-bit interrupt gate pushes FLAGS, CS, IP as words (the handler checks and far-jumps back) */
extern u8 h16[], after_int16[];
volatile u32 h16_esp, h16_ip, h16_cs, h16_flags;
asm(".text\n"
    ".globl h16\n"
    "h16:\n\t"
    "mov %esp, h16_esp\n\t"
    "movzwl 0(%esp), %eax\n\tmov %eax, h16_ip\n\t"
    "movzwl 2(%esp), %eax\n\tmov %eax, h16_cs\n\t"
    "movzwl 4(%esp), %eax\n\tmov %eax, h16_flags\n\t"
    "add $6, %esp\n\t"
    "ljmp $" XSTR(KCS) ", $after_int16\n");

static void int_gate16_frame(void) {
  u32 base = (u32)h16 & 0xffff0000;
  gdt_set(CS16B, seg_desc(base, 0xfffff, 0x9b, 0xc));
  idt[VEC_SW] = gate_desc(CS16B, (u32)h16 - base, 0x86, 0);
  u32 fl;
  asm volatile("pushf\n\t"
               "pop %1\n\t"
               "mov %%esp, %0\n\t"
               "int $0x50\n"
               ".globl after_int16\nafter_int16:" : "=m"(esp_before), "=&r"(fl) :: "eax", "memory");
  CHECK_EQ(h16_esp, esp_before - 6);
  CHECK_EQ(h16_ip, (u32)after_int16 & 0xffff);
  CHECK_EQ(h16_cs, KCS);               /* the interrupted CS */
  CHECK_EQ(h16_flags, fl & 0xffff);
}

/* ---- from CPL 3 ---- */

extern u8 u_int50_insn[];
volatile u32 u_esp_at_int;
int u_int50(int a);
asm(".text\n"
    ".globl u_int50, u_int50_insn\n"
    "u_int50:\n\t"
    "mov %esp, u_esp_at_int\n"
    "u_int50_insn: int $0x50\n\t"
    "mov 4(%esp), %eax\n\t"
    "add $1, %eax\n\t"
    "ret\n");

/* through a DPL 3 gate: SS0:ESP0 from the TSS, SS:ESP, EFLAGS, CS, EIP pushed (20 bytes) */
static void int_from_cpl3_stack_switch(void) {
  int v = 0;
  set_gate(VEC_SW, 3, 0);
  set_trap_handler(VEC_SW, record);
  CHECK_EQ(catch_user(u_int50, 41, &v), -1);
  CHECK_EQ(v, 42);
  CHECK_EQ(h_count, 1);
  CHECK_EQ(h_frame, (u32)kstack_top - 20);
  CHECK_EQ(h_cs, UCS | 3);
  CHECK_EQ(h_eip, (u32)u_int50_insn + 2);
  CHECK_EQ(h_ss, UDS | 3);
  CHECK_EQ(h_esp, u_esp_at_int);
  CHECK_EQ(last_fault.ss, UDS | 3);
}

static volatile u32 h_live_ss;
static void record_ss(struct frame *f) { record(f); h_live_ss = read_ss(); }

/* the handler runs on SS0 (KDS) at whatever ESP0 says */
static void int_from_cpl3_esp0(void) {
  static u8 alt_stack[1024] __attribute__((aligned(16)));
  set_gate(VEC_SW, 3, 0);
  set_trap_handler(VEC_SW, record_ss);
  tss.esp0 = (u32)alt_stack + sizeof(alt_stack);
  CHECK_EQ(catch_user(u_int50, 0, NULL), -1);
  CHECK_EQ(h_frame, (u32)alt_stack + sizeof(alt_stack) - 20);
  CHECK_EQ(h_live_ss, KDS);
}

/* IRET to CPL 3 nulls DS, ES, FS and GS when they hold DPL 0 data (APM Vol. 3, IRET); a
 * DPL 3 selector with RPL 0 stays */
volatile u32 u_segs[4];
int u_segs_after_int(int a);
asm(".text\n"
    ".globl u_segs_after_int\n"
    "u_segs_after_int:\n\t"
    "int $0x50\n\t"
    "movl $0, %ss:u_segs\n\tmov %ds, %ss:u_segs\n\t"
    "movl $0, %ss:u_segs + 4\n\tmov %es, %ss:u_segs + 4\n\t"
    "movl $0, %ss:u_segs + 8\n\tmov %fs, %ss:u_segs + 8\n\t"
    "movl $0, %ss:u_segs + 12\n\tmov %gs, %ss:u_segs + 12\n\t"
    "mov %ss, %cx\n\t"
    "mov %cx, %ds\n\t"     /* a usable DS and ES again for the C code after us */
    "mov %cx, %es\n\t"
    "ret\n");
static void set_kernel_segs(struct frame *f) {
  record(f);
  f->ds = KDS;
  f->es = KDS;
  f->fs = UDS;
  f->gs = KCS;     /* readable code, DPL 0: nulled too */
}

static void iret_to_cpl3_nulls_segs(void) {
  set_gate(VEC_SW, 3, 0);
  set_trap_handler(VEC_SW, set_kernel_segs);
  CHECK_EQ(catch_user(u_segs_after_int, 0, NULL), -1);
  CHECK_EQ(h_count, 1);
  CHECK_EQ(u_segs[0], 0);
  CHECK_EQ(u_segs[1], 0);
  CHECK_EQ(u_segs[2], UDS);
  CHECK_EQ(u_segs[3], 0);
}

/* IRET to CPL 3 with an SS whose RPL is not the new CPL: #GP(SS), raised by the IRET at CPL 0
 * with nothing changed (CS is still the handler's) */
extern u8 trap_iret[];
static void set_bad_ss(struct frame *f) { record(f); f->ss = KDS; }

static void iret_outer_bad_ss(void) {
  set_gate(VEC_SW, 3, 0);
  set_trap_handler(VEC_SW, set_bad_ss);
  check_fault(catch_user(u_int50, 0, NULL), GP, KDS);
  CHECK_EQ(h_count, 1);
  CHECK_EQ(last_fault.cs, KCS);
  CHECK_EQ(last_fault.eip, (u32)trap_iret);
}

/* INT n, INT3 (CC) and INTO check the gate DPL against CPL: #GP(vector * 8 + 2) */
int u_int3(int a);
int u_int3_cd(int a);
int u_into(int a);
int u_ud2(int a);
asm(".text\n"
    ".globl u_int3, u_int3_cd, u_into, u_ud2\n"
    "u_int3: int3\n\tret\n"
    "u_int3_cd: .byte 0xcd, 0x03\n\tret\n"
    "u_into: mov $0x7f, %al\n\tadd $1, %al\n\tinto\n\tret\n"
    "u_ud2: ud2\n\tret\n");

static void int_dpl_checks(void) {
  set_trap_handler(VEC_SW, record);
  check_fault(catch_user(u_int50, 0, NULL), GP, VEC_SW * 8 + 2);
  CHECK_EQ(h_count, 0);
  set_gate(BP, 0, 0);
  check_fault(catch_user(u_int3, 0, NULL), GP, BP * 8 + 2);
  check_fault(catch_user(u_int3_cd, 0, NULL), GP, BP * 8 + 2);
  check_fault(catch_user(u_into, 0, NULL), GP, OF * 8 + 2);
  set_gate(OF, 3, 0);
  check_fault(catch_user(u_into, 0, NULL), OF, -1);
  CHECK_EQ(last_fault.cs, UCS | 3);
}

/* exceptions ignore the gate DPL */
static void exception_ignores_dpl(void) {
  check_fault(catch_user(u_ud2, 0, NULL), UD, -1);
  CHECK_EQ(last_fault.cs, UCS | 3);
  CHECK_EQ(last_fault.eip, (u32)u_ud2);
  CHECK_EQ(last_fault.ss, UDS | 3);
}

static void do_int50(void *a) { (void)a; asm volatile("int $0x50"); }

/* a gate to a conforming code segment keeps CPL 3: no stack switch, CS.RPL = 3 */
volatile u32 conf_esp, conf_cs;
extern u8 conf_handler[];
asm(".text\n"
    ".globl conf_handler\n"
    "conf_handler:\n\t"
    "mov %esp, %ss:conf_esp\n\t"
    "movl $0, %ss:conf_cs\n\tmov %cs, %ss:conf_cs\n\t"
    "iret\n");

static void int_to_conforming_segment(void) {
  int v = 0;
  gdt_set(CS_CONF, seg_desc(0, 0xfffff, 0x9f, 0xc));
  idt[VEC_SW] = gate_desc(CS_CONF, (u32)conf_handler, 0xee, 0);
  CHECK_EQ(catch_user(u_int50, 5, &v), -1);
  CHECK_EQ(v, 6);
  CHECK_EQ(conf_cs, CS_CONF | 3);
  CHECK_EQ(conf_esp, u_esp_at_int - 12);
}

/* #GP whose gate is not present: the #NP raised while delivering it is contributory too, so
 * the two make a #DF with error code 0 (APM Vol. 2, 8.2.9) */
static void load_bad_ds(void *a) { (void)a; asm volatile("mov %0, %%ds" :: "r"(GDT_ENTRIES * 8)); }

static void df_gp_gate_not_present(void) {
  idt[GP] &= ~(1ull << 47);
  int r = catch_run(load_bad_ds, NULL);
  check_fault(r, DF, 0);
  if (r == DF) CHECK_EQ(last_fault.cs, KCS);
}

static void np_gate(void) {
  idt[VEC_SW] &= ~(1ull << 47);
  check_fault(catch_run(do_int50, NULL), NP, VEC_SW * 8 + 2);
}

static void gp_beyond_idt_limit(void) {
  struct { u16 limit; u32 base; } __attribute__((packed)) p = { VEC_SW * 8 + 7 - 8, (u32)idt };
  asm volatile("lidt %0" :: "m"(p));
  check_fault(catch_run(do_int50, NULL), GP, VEC_SW * 8 + 2);
}

/* an interrupt gate pointing at a data segment: #GP(selector); at a not-present one: #NP */
static void gate_bad_code_segment(void) {
  extern u8 trap_stubs[];
  idt[VEC_SW] = gate_desc(KDS, (u32)trap_stubs + 16 * VEC_SW, 0x8e, 0);
  check_fault(catch_run(do_int50, NULL), GP, KDS);
  gdt_set(CS_NP, seg_desc(0, 0xfffff, 0x1b, 0xc));
  idt[VEC_SW] = gate_desc(CS_NP, (u32)trap_stubs + 16 * VEC_SW, 0x8e, 0);
  check_fault(catch_run(do_int50, NULL), NP, CS_NP);
  idt[VEC_SW] = gate_desc(0, (u32)trap_stubs + 16 * VEC_SW, 0x8e, 0);
  check_fault(catch_run(do_int50, NULL), GP, 0);
}

/* ---- a ring-1 handler: the stack comes from SS1:ESP1 ---- */

static u8 r1_stack[1024] __attribute__((aligned(16)));
volatile u32 r1_esp, r1_cs, r1_ss, r1_frame[5];
extern u8 r1_handler[];
asm(".text\n"
    ".globl r1_handler\n"
    "r1_handler:\n\t"
    "mov %esp, r1_esp\n\t"
    "movl $0, r1_cs\n\tmov %cs, r1_cs\n\t"
    "movl $0, r1_ss\n\tmov %ss, r1_ss\n\t"
    "mov 0(%esp), %eax\n\tmov %eax, r1_frame\n\t"
    "mov 4(%esp), %eax\n\tmov %eax, r1_frame + 4\n\t"
    "mov 8(%esp), %eax\n\tmov %eax, r1_frame + 8\n\t"
    "mov 12(%esp), %eax\n\tmov %eax, r1_frame + 12\n\t"
    "mov 16(%esp), %eax\n\tmov %eax, r1_frame + 16\n\t"
    "iret\n");

static void ring1_setup(u16 ss1) {
  gdt_set(R1CS, seg_desc(0, 0xfffff, 0xbb, 0xc));
  gdt_set(R1DS, seg_desc(0, 0xfffff, 0xb3, 0xc));
  gdt_set(R1DS_NP, seg_desc(0, 0xfffff, 0x33, 0xc));
  idt[VEC_SW] = gate_desc(R1CS, (u32)r1_handler, 0xee, 0);
  tss.ss1 = ss1;
  tss.esp1 = (u32)r1_stack + sizeof(r1_stack);
}

static void int_to_ring1_esp1(void) {
  int v = 0;
  ring1_setup(R1DS | 1);
  CHECK_EQ(catch_user(u_int50, 1, &v), -1);
  CHECK_EQ(v, 2);
  CHECK_EQ(r1_cs, R1CS | 1);
  CHECK_EQ(r1_ss, R1DS | 1);
  CHECK_EQ(r1_esp, (u32)r1_stack + sizeof(r1_stack) - 20);
  CHECK_EQ(r1_frame[0], (u32)u_int50_insn + 2);
  CHECK_EQ(r1_frame[1] & 0xffff, UCS | 3);
  CHECK_EQ(r1_frame[3], u_esp_at_int);
  CHECK_EQ(r1_frame[4] & 0xffff, UDS | 3);
}

/* an unusable inner stack selector: #TS(selector), or #TS(0) when null; #SS(selector) when
 * not present. The fault is reported at the INT instruction. */
static void ts_bad_inner_ss(void) {
  ring1_setup(KDS);                      /* RPL and DPL 0, not the new CPL 1 */
  check_fault(catch_user(u_int50, 0, NULL), TS, KDS);
  CHECK_EQ(last_fault.eip, (u32)u_int50_insn);
  CHECK_EQ(last_fault.cs, UCS | 3);
  ring1_setup(R1CS | 1);                 /* code */
  check_fault(catch_user(u_int50, 0, NULL), TS, R1CS);
  ring1_setup(0);
  check_fault(catch_user(u_int50, 0, NULL), TS, 0);
  ring1_setup(GDT_ENTRIES * 8 + 1);      /* beyond the GDT limit */
  check_fault(catch_user(u_int50, 0, NULL), TS, GDT_ENTRIES * 8);
}

static void ss_inner_stack_not_present(void) {
  ring1_setup(R1DS_NP | 1);
  check_fault(catch_user(u_int50, 0, NULL), SS, R1DS_NP);
  CHECK_EQ(last_fault.eip, (u32)u_int50_insn);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(int_gate_frame), T(trap_gate_keeps_if), T(fault_error_code_frame), T(int_gate16_frame),
  T(int_from_cpl3_stack_switch), T(int_from_cpl3_esp0), T(iret_to_cpl3_nulls_segs), T(iret_outer_bad_ss),
  T(int_dpl_checks), T(exception_ignores_dpl), T(np_gate), T(gp_beyond_idt_limit),
  T(gate_bad_code_segment), T(int_to_conforming_segment), T(df_gp_gate_not_present),
  T(int_to_ring1_esp1), T(ts_bad_inner_ss),
  T(ss_inner_stack_not_present),
};
const int ntests = ARRAY_SIZE(tests);
