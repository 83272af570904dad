/*
 * Far transfers in legacy protected mode (APM Vol. 2, 4.11 and 4.11.4; Vol. 3, CALL (Far),
 * JMP (Far), RETF): a far CALL from CPL 3 through a 32-bit call gate to CPL 0 (the stack from
 * SS0:ESP0, SS:ESP and the parameters copied, RETF imm16 back to CPL 3), a same-privilege gate
 * call, the gate's DPL/RPL/present checks and its inner stack (#TS, #SS), JMP through a gate,
 * far JMP/CALL/RETF to conforming and non-conforming code segments with their privilege checks
 * and the new CS limit, RETF to an outer level (which nulls DPL 0 data segment registers, and
 * faults with nothing changed on a bad SS), SYSENTER/SYSEXIT (Vol. 3; legacy mode only on AMD),
 * legacy-mode SYSCALL/SYSRET, and LAR/LSL/VERR/VERW on system descriptors.
 *
 * A fault must leave CS, SS and ESP as they were: several checks look at the CS and EIP of
 * the frame as well as the error code.
 */
#include "rt32.h"

const char kernel_name[] = "legacy_gates";

#define GATE3 TEST_SEL(0)        /* 32-bit call gate, DPL 3, 2 parameters, to KCS:cg_target */
#define GATE0 TEST_SEL(1)        /* the same with DPL 0 */
#define CS_ALT TEST_SEL(2)       /* 32-bit code, DPL 0, non-conforming */
#define CS_CONF0 TEST_SEL(3)     /* 32-bit code, DPL 0, conforming */
#define CS_CONF3 TEST_SEL(4)     /* 32-bit code, DPL 3, conforming */
#define CS_NP TEST_SEL(5)        /* 32-bit code, DPL 0, not present */
#define GATE_NP TEST_SEL(6)      /* call gate, DPL 3, not present */
#define GATE_SAME TEST_SEL(7)    /* call gate, DPL 0, 0 parameters, to KCS:cg_same */
#define LDT_SEL TEST_SEL(8)      /* LDT descriptor, DPL 0 */
#define IGATE_SEL TEST_SEL(9)    /* a 32-bit interrupt gate in the GDT (not valid for LAR) */
#define TASKGATE_SEL TEST_SEL(10)
#define TSS16_SEL TEST_SEL(11)   /* 16-bit available TSS */
#define LDT_G TEST_SEL(12)       /* LDT descriptor with G = 1 */
#define RSV_SEL TEST_SEL(13)     /* system type 8 (reserved) */
#define GATE3_KALT TEST_SEL(14)  /* call gate, DPL 3, to CS_ALT */
#define R1CS TEST_SEL(15)        /* 32-bit code, DPL 1 */
#define GATE3_R1 TEST_SEL(16)    /* call gate, DPL 3, 2 parameters, to R1CS:cg_target */
#define R1DS_NP TEST_SEL(17)     /* writable data, DPL 1, not present */
#define CS_SMALL TEST_SEL(18)    /* 32-bit code, DPL 0, limit 0xffff */

extern u8 cg_target[], cg_same[], alt_entry[], conf_fn[];
volatile u32 cg_esp, cg_cs, cg_ss, cg_stack[6], cg_calls;

/* at CPL 0 on the SS0:ESP0 stack: record it, then return to CPL 3 removing 2 parameters */
asm(".text\n"
    ".globl cg_target, cg_same\n"
    "cg_target:\n\t"
    "incl cg_calls\n\t"
    "mov %esp, cg_esp\n\t"
    "movl $0, cg_cs\n\tmov %cs, cg_cs\n\t"
    "movl $0, cg_ss\n\tmov %ss, cg_ss\n\t"
    "mov 0(%esp), %eax\n\tmov %eax, cg_stack\n\t"
    "mov 4(%esp), %eax\n\tmov %eax, cg_stack + 4\n\t"
    "mov 8(%esp), %eax\n\tmov %eax, cg_stack + 8\n\t"
    "mov 12(%esp), %eax\n\tmov %eax, cg_stack + 12\n\t"
    "mov 16(%esp), %eax\n\tmov %eax, cg_stack + 16\n\t"
    "mov 20(%esp), %eax\n\tmov %eax, cg_stack + 20\n\t"
    "mov $0x1234, %eax\n\t"
    "lret $8\n"
    /* same privilege: only CS:EIP was pushed */
    "cg_same:\n\t"
    "incl cg_calls\n\t"
    "mov %esp, cg_esp\n\t"
    "movl $0, cg_cs\n\tmov %cs, cg_cs\n\t"
    "mov 0(%esp), %eax\n\tmov %eax, cg_stack\n\t"
    "mov 4(%esp), %eax\n\tmov %eax, cg_stack + 4\n\t"
    "mov $0x5678, %eax\n\t"
    "lret\n");

void test_setup(void) {
  cg_esp = cg_cs = cg_ss = cg_calls = 0;
  for (int i = 0; i < 6; i++) cg_stack[i] = 0;
  gdt_set(GATE3, gate_desc(KCS, (u32)cg_target, 0xec, 2));
  gdt_set(GATE0, gate_desc(KCS, (u32)cg_target, 0x8c, 2));
  gdt_set(CS_ALT, seg_desc(0, 0xfffff, 0x9b, 0xc));
  gdt_set(CS_CONF0, seg_desc(0, 0xfffff, 0x9f, 0xc));
  gdt_set(CS_CONF3, seg_desc(0, 0xfffff, 0xff, 0xc));
  gdt_set(CS_NP, seg_desc(0, 0xfffff, 0x1b, 0xc));
  gdt_set(GATE_NP, gate_desc(KCS, (u32)cg_target, 0x6c, 2));
  gdt_set(GATE_SAME, gate_desc(KCS, (u32)cg_same, 0x8c, 0));
  gdt_set(GATE3_KALT, gate_desc(CS_ALT, (u32)cg_target, 0xec, 0));
  gdt_set(R1CS, seg_desc(0, 0xfffff, 0xbb, 0xc));
  gdt_set(GATE3_R1, gate_desc(R1CS, (u32)cg_target, 0xec, 2));
  gdt_set(R1DS_NP, seg_desc(0, 0xfffff, 0x33, 0xc));
}

/* ---- call gates ---- */

volatile u32 u_esp_before, u_esp_after;
extern u8 u_after_lcall[];
int u_call_gate(int a);
asm(".text\n"
    ".globl u_call_gate, u_after_lcall\n"
    "u_call_gate:\n\t"
    "mov %esp, u_esp_before\n\t"
    "pushl $0x11111111\n\t"
    "pushl $0x22222222\n\t"
    "lcall $" XSTR(GATE3 | 3) ", $0\n"     /* the offset is ignored */
    "u_after_lcall:\n\t"
    "mov %esp, u_esp_after\n\t"
    "ret\n");

static void call_gate_to_cpl0(void) {
  int v = 0;
  CHECK_EQ(catch_user(u_call_gate, 0, &v), -1);
  CHECK_EQ(v, 0x1234);
  CHECK_EQ(cg_calls, 1);
  CHECK_EQ(cg_cs, KCS);
  CHECK_EQ(cg_ss, KDS);
  CHECK_EQ(cg_esp, (u32)kstack_top - 24);
  CHECK_EQ(cg_stack[0], (u32)u_after_lcall);
  CHECK_EQ(cg_stack[1] & 0xffff, UCS | 3);
  CHECK_EQ(cg_stack[2], 0x22222222);    /* the parameters keep their order */
  CHECK_EQ(cg_stack[3], 0x11111111);
  CHECK_EQ(cg_stack[4], u_esp_before - 8);
  CHECK_EQ(cg_stack[5] & 0xffff, UDS | 3);
  CHECK_EQ(u_esp_after, u_esp_before);  /* RETF 8 dropped the caller's copies too */
}

/* the parameter count comes from the gate: 0 copies nothing (and the target's RETF has no
 * immediate) */
extern u8 cg_target0[];
int u_call_gate0(int a);
asm(".text\n"
    ".globl cg_target0, u_call_gate0\n"
    "cg_target0:\n\t"
    "incl cg_calls\n\t"
    "mov %esp, cg_esp\n\t"
    "mov 8(%esp), %eax\n\tmov %eax, cg_stack + 8\n\t"
    "mov 12(%esp), %eax\n\tmov %eax, cg_stack + 12\n\t"
    "lret\n"
    "u_call_gate0:\n\t"
    "mov %esp, u_esp_before\n\t"
    "lcall $" XSTR(GATE3 | 3) ", $0\n\t"
    "mov %esp, u_esp_after\n\t"
    "ret\n");

static void call_gate_no_params(void) {
  gdt_set(GATE3, gate_desc(KCS, (u32)cg_target0, 0xec, 0));
  CHECK_EQ(catch_user(u_call_gate0, 0, NULL), -1);
  CHECK_EQ(cg_calls, 1);
  CHECK_EQ(cg_esp, (u32)kstack_top - 16);
  CHECK_EQ(cg_stack[2], u_esp_before);
  CHECK_EQ(cg_stack[3] & 0xffff, UDS | 3);
  CHECK_EQ(u_esp_after, u_esp_before);
}

static void do_lcall_gate0_rpl3(void *a) { (void)a; asm volatile("lcall $" XSTR(GATE0 | 3) ", $0"); }
int u_lcall_gate0(int a);
int u_lcall_gate_np(int a);
int u_ljmp_gate3(int a);
int u_lcall_gate_kalt(int a);
int u_lcall_gate_r1(int a);
asm(".text\n"
    ".globl u_lcall_gate0, u_lcall_gate_np, u_ljmp_gate3, u_lcall_gate_kalt, u_lcall_gate_r1\n"
    "u_lcall_gate0: lcall $" XSTR(GATE0 | 3) ", $0\n\tret\n"
    "u_lcall_gate_np: lcall $" XSTR(GATE_NP | 3) ", $0\n\tret\n"
    "u_ljmp_gate3: ljmp $" XSTR(GATE3 | 3) ", $0\n\tret\n"
    "u_lcall_gate_kalt: lcall $" XSTR(GATE3_KALT | 3) ", $0\n\tret\n"
    "u_lcall_gate_r1: lcall $" XSTR(GATE3_R1 | 3) ", $0\n\tret\n");

/* gate DPL < CPL or < RPL: #GP(gate); not present: #NP(gate); JMP through a gate may not
 * change privilege: #GP(code selector) */
static void call_gate_checks(void) {
  check_fault(catch_user(u_lcall_gate0, 0, NULL), GP, GATE0);
  check_fault(catch_run(do_lcall_gate0_rpl3, NULL), GP, GATE0);
  check_fault(catch_user(u_lcall_gate_np, 0, NULL), NP, GATE_NP);
  check_fault(catch_user(u_ljmp_gate3, 0, NULL), GP, KCS);
  CHECK_EQ(cg_calls, 0);
}

/* a gate whose code segment is not present: #NP(code selector) */
static void call_gate_code_not_present(void) {
  gdt_set(CS_ALT, seg_desc(0, 0xfffff, 0x1b, 0xc));
  check_fault(catch_user(u_lcall_gate_kalt, 0, NULL), NP, CS_ALT);
  CHECK_EQ(cg_calls, 0);
}

/* the inner stack of a call gate is checked like an interrupt's (here CPL 3 to a DPL 1 target,
 * so that the fault itself can be delivered on SS0): #TS(SS1), #SS(SS1) when not present */
static void call_gate_bad_inner_ss(void) {
  tss.esp1 = (u32)kstack_top - 4096;
  tss.ss1 = KDS;
  check_fault(catch_user(u_lcall_gate_r1, 0, NULL), TS, KDS);
  CHECK_EQ(last_fault.cs, UCS | 3);
  tss.ss1 = 0;
  check_fault(catch_user(u_lcall_gate_r1, 0, NULL), TS, 0);
  CHECK_EQ(cg_calls, 0);
}

static void call_gate_inner_ss_not_present(void) {
  tss.esp1 = (u32)kstack_top - 4096;
  tss.ss1 = R1DS_NP | 1;
  check_fault(catch_user(u_lcall_gate_r1, 0, NULL), SS, R1DS_NP);
  CHECK_EQ(cg_calls, 0);
}

/* CPL 0 through a DPL 0 gate to DPL 0 code: no stack switch, CS:EIP only */
static void call_gate_same_privilege(void) {
  u32 esp, r;
  asm volatile("mov %%esp, %0\n\t"
               "lcall $" XSTR(GATE_SAME) ", $0\n\t"
               : "=&r"(esp), "=a"(r) :: "memory");
  CHECK_EQ(r, 0x5678);
  CHECK_EQ(cg_calls, 1);
  CHECK_EQ(cg_esp, esp - 8);
  CHECK_EQ(cg_cs, KCS);
  CHECK_EQ(cg_stack[1] & 0xffff, KCS);
}

/* ---- code segments ---- */

volatile u32 alt_cs;
asm(".text\n"
    ".globl alt_entry, conf_fn\n"
    "alt_entry:\n\t"
    "movl $0, alt_cs\n\tmov %cs, alt_cs\n\t"
    "ljmp $" XSTR(KCS) ", $alt_back\n"
    "conf_fn:\n\t"
    "movl $0, alt_cs\n\tmov %cs, alt_cs\n\t"
    "lret\n");

static void far_jmp_nonconforming(void) {
  asm volatile("ljmp $" XSTR(CS_ALT) ", $alt_entry\n"
               "alt_back:" ::: "memory");
  CHECK_EQ(alt_cs, CS_ALT);
  CHECK_EQ(read_cs(), KCS);
}

static void far_call_retf(void) {
  u32 esp0, esp1;
  asm volatile("mov %%esp, %0\n\t"
               "lcall $" XSTR(CS_ALT) ", $conf_fn\n\t"
               "mov %%esp, %1" : "=&r"(esp0), "=&r"(esp1) :: "memory");
  CHECK_EQ(alt_cs, CS_ALT);
  CHECK_EQ(esp0, esp1);
  CHECK_EQ(read_cs(), KCS);
}

/* CPL 3 into a DPL 0 conforming segment: CPL stays 3 (CS.RPL = 3), RETF returns */
int u_call_conforming(int a);
asm(".text\n"
    ".globl u_call_conforming\n"
    "u_call_conforming:\n\t"
    "lcall $" XSTR(CS_CONF0 | 3) ", $conf_fn\n\t"
    "xor %eax, %eax\n\t"
    "mov %cs, %ax\n\t"
    "ret\n");

static void far_call_conforming_cpl3(void) {
  int v = 0;
  CHECK_EQ(catch_user(u_call_conforming, 0, &v), -1);
  CHECK_EQ(alt_cs, CS_CONF0 | 3);
  CHECK_EQ(v, UCS | 3);
}

int u_ljmp_alt(int a);
int u_retf_to_kcs(int a);
asm(".text\n"
    ".globl u_ljmp_alt, u_retf_to_kcs\n"
    "u_ljmp_alt: ljmp $" XSTR(CS_ALT | 3) ", $alt_entry\n\tret\n"
    "u_retf_to_kcs: pushl $" XSTR(KCS) "\n\tpushl $alt_entry\n\tlret\n");
static void do_ljmp_alt_rpl3(void *a) { (void)a; asm volatile("ljmp $" XSTR(CS_ALT | 3) ", $alt_entry"); }
static void do_lcall_conf3(void *a) { (void)a; asm volatile("lcall $" XSTR(CS_CONF3) ", $conf_fn"); }
static void do_ljmp_np(void *a) { (void)a; asm volatile("ljmp $" XSTR(CS_NP) ", $alt_entry"); }
static void do_ljmp_data(void *a) { (void)a; asm volatile("ljmp $" XSTR(KDS) ", $alt_entry"); }
static void do_ljmp_null(void *a) { (void)a; asm volatile("ljmp $0, $alt_entry"); }

/* non-conforming: DPL = CPL and RPL <= CPL; conforming: DPL <= CPL; RETF: RPL >= CPL */
static void far_transfer_checks(void) {
  check_fault(catch_user(u_ljmp_alt, 0, NULL), GP, CS_ALT);
  check_fault(catch_run(do_ljmp_alt_rpl3, NULL), GP, CS_ALT);
  check_fault(catch_run(do_lcall_conf3, NULL), GP, CS_CONF3);
  check_fault(catch_run(do_ljmp_np, NULL), NP, CS_NP);
  check_fault(catch_run(do_ljmp_data, NULL), GP, KDS);
  check_fault(catch_run(do_ljmp_null, NULL), GP, 0);
  check_fault(catch_user(u_retf_to_kcs, 0, NULL), GP, KCS);
}

/* a target offset beyond the new CS limit is #GP(0) at the JMP/CALL, with CS and ESP as they
 * were (the limit is 64 KiB here; the offset is alt_entry's, above 1 MiB) */
extern u8 far_jmp_small_insn[], far_call_small_insn[];
static volatile u32 esp_at_call;
static void far_jmp_small(void *a) {
  (void)a;
  asm volatile(".globl far_jmp_small_insn\nfar_jmp_small_insn: ljmp $" XSTR(CS_SMALL) ", $alt_entry");
}
static void far_call_small(void *a) {
  (void)a;
  asm volatile("mov %%esp, %0\n"
               ".globl far_call_small_insn\nfar_call_small_insn: lcall $" XSTR(CS_SMALL) ", $conf_fn"
               : "=m"(esp_at_call) :: "memory");
}

static void far_target_beyond_limit(void) {
  gdt_set(CS_SMALL, seg_desc(0, 0xffff, 0x9b, 0x4));
  check_fault(catch_run(far_jmp_small, NULL), GP, 0);
  CHECK_EQ(last_fault.cs, KCS);
  CHECK_EQ(last_fault.eip, (u32)far_jmp_small_insn);
  check_fault(catch_run(far_call_small, NULL), GP, 0);
  CHECK_EQ(last_fault.cs, KCS);
  CHECK_EQ(last_fault.eip, (u32)far_call_small_insn);
  CHECK_EQ(last_fault.esp, esp_at_call);        /* nothing pushed before the #GP frame */
}

/* RETF from CPL 0 to CPL 3 pops SS:ESP and nulls DS/ES holding DPL 0 data */
volatile u32 r3_ds, r3_es, r3_cs, r3_esp;
extern u32 user_ctx_esp;
int retf_to_user(u32 esp);
asm(".text\n"
    ".globl retf_to_user\n"
    "retf_to_user:\n\t"
    "push %ebp\n\tpush %ebx\n\tpush %esi\n\tpush %edi\n\t"
    "mov %esp, user_ctx_esp\n\t"
    "mov 20(%esp), %eax\n\t"
    "mov $" XSTR(UDS) ", %ecx\n\t"       /* UDS with RPL 0: DPL 3 data, kept at CPL 3 */
    "mov %ecx, %es\n\t"
    "pushl $" XSTR(UDS | 3) "\n\t"
    "push %eax\n\t"
    "pushl $" XSTR(UCS | 3) "\n\t"
    "pushl $r3_code\n\t"
    "lret\n"
    "r3_code:\n\t"
    "mov %esp, %ss:r3_esp\n\t"
    "movl $0, %ss:r3_ds\n\tmov %ds, %ss:r3_ds\n\t"
    "movl $0, %ss:r3_es\n\tmov %es, %ss:r3_es\n\t"
    "movl $0, %ss:r3_cs\n\tmov %cs, %ss:r3_cs\n\t"
    "xor %eax, %eax\n\t"
    "mov $7, %ebx\n\t"
    "int $0x80\n");

static void retf_to_outer_level(void) {
  u32 top = (u32)user_stack_top - 64;
  int v = retf_to_user(top);
  CHECK_EQ(v, 7);
  CHECK_EQ(r3_esp, top);
  CHECK_EQ(r3_cs, UCS | 3);
  CHECK_EQ(r3_ds, 0);
  CHECK_EQ(r3_es, UDS);
}

/* RETF to CPL 3 with an SS whose RPL is not 3: #GP(SS) at the RETF, CS and CPL unchanged */
extern u8 retf_bad_ss_insn[];
static void retf_bad_ss(void *a) {
  (void)a;
  asm volatile("mov %%esp, %%eax\n\t"
               "pushl $" XSTR(KDS) "\n\t"
               "push %%eax\n\t"
               "pushl $" XSTR(UCS | 3) "\n\t"
               "pushl $r3_code\n"
               ".globl retf_bad_ss_insn\nretf_bad_ss_insn: lret" ::: "eax", "memory");
}

static void retf_outer_bad_ss(void) {
  check_fault(catch_run(retf_bad_ss, NULL), GP, KDS);
  CHECK_EQ(last_fault.cs, KCS);
  CHECK_EQ(last_fault.eip, (u32)retf_bad_ss_insn);
}

/* ---- SYSENTER / SYSEXIT ---- */

extern u8 sysenter_entry[], u_after_sysexit[];
static u8 se_stack[1024] __attribute__((aligned(16)));
volatile u32 se_cs, se_ss, se_esp, se_eflags, u_se_ss, u_se_cs, u_se_esp;
int u_sysenter(int a);
asm(".text\n"
    ".globl sysenter_entry, u_sysenter, u_after_sysexit\n"
    "sysenter_entry:\n\t"
    "movl $0, se_cs\n\tmov %cs, se_cs\n\t"
    "movl $0, se_ss\n\tmov %ss, se_ss\n\t"
    "mov %esp, se_esp\n\t"
    "pushf\n\tpopl se_eflags\n\t"
    "sysexit\n"
    "u_sysenter:\n\t"
    "push %ebx\n\t"
    "mov %esp, %ecx\n\t"
    "mov $u_after_sysexit, %edx\n\t"
    "mov %esp, %ebx\n\t"
    "sysenter\n"
    "u_after_sysexit:\n\t"
    "mov %esp, u_se_esp\n\t"
    "movl $0, u_se_cs\n\tmov %cs, u_se_cs\n\t"
    "movl $0, u_se_ss\n\tmov %ss, u_se_ss\n\t"
    "mov $0x99, %eax\n\t"
    "pop %ebx\n\t"
    "ret\n");

static void sysenter_sysexit(void) {
  int v = 0;
  wrmsr(MSR_SYSENTER_CS, KCS);
  wrmsr(MSR_SYSENTER_ESP, (u32)se_stack + sizeof(se_stack));
  wrmsr(MSR_SYSENTER_EIP, (u32)sysenter_entry);
  CHECK_EQ(catch_user(u_sysenter, 0, &v), -1);
  CHECK_EQ(v, 0x99);
  CHECK_EQ(se_cs, KCS);
  CHECK_EQ(se_ss, KDS);
  CHECK_EQ(se_esp, (u32)se_stack + sizeof(se_stack));
  CHECK(!(se_eflags & EFL_IF), "IF set after SYSENTER: %#x", se_eflags);
  CHECK_EQ(u_se_cs, UCS | 3);
  CHECK_EQ(u_se_ss, UDS | 3);
  CHECK(u_se_esp > (u32)user_stack && u_se_esp < (u32)user_stack_top, "ESP after SYSEXIT %#x", u_se_esp);
}

int u_sysexit(int a);
asm(".text\n.globl u_sysexit\nu_sysexit: sysexit\n\tret\n");

/* SYSEXIT at CPL 3, and SYSENTER with SYSENTER_CS = 0, are #GP(0) */
static void sysenter_sysexit_gp(void) {
  wrmsr(MSR_SYSENTER_CS, KCS);
  check_fault(catch_user(u_sysexit, 0, NULL), GP, 0);
  wrmsr(MSR_SYSENTER_CS, 0);
  wrmsr(MSR_SYSENTER_EIP, (u32)sysenter_entry);
  check_fault(catch_user(u_sysenter, 0, NULL), GP, 0);
}

/* SYSCALL/SYSRET in legacy mode (APM Vol. 3 SYSCALL, SYSRET): CS = STAR[47:32], SS = +8,
 * EIP = STAR[31:0], ECX = the return EIP, IF/VM/RF cleared, no stack switch; SYSRET: CS =
 * STAR[63:48] | 3, SS = +8 | 3, EIP = ECX, IF set */
#define MSR_STAR 0xc0000081
#define EFER_SCE 0x1
extern u8 syscall32_entry[], u_after_syscall[];
volatile u32 sc_cs, sc_ss, sc_ecx, sc_eflags, sc_esp, u_sc_cs, u_sc_ss, u_sc_eflags, u_sc_esp;
int u_syscall(int a);
asm(".text\n"
    ".globl syscall32_entry, u_syscall, u_after_syscall\n"
    "syscall32_entry:\n\t"
    "movl $0, sc_cs\n\tmov %cs, sc_cs\n\t"
    "movl $0, sc_ss\n\tmov %ss, sc_ss\n\t"
    "mov %ecx, sc_ecx\n\t"
    "mov %esp, sc_esp\n\t"
    "pushf\n\tpopl sc_eflags\n\t"
    "sysret\n"
    "u_syscall:\n\t"
    "mov %esp, u_sc_esp\n\t"
    "cli\n\t"                         /* IOPL 3: SYSRET must set IF again */
    "syscall\n"
    "u_after_syscall:\n\t"
    "movl $0, u_sc_cs\n\tmov %cs, u_sc_cs\n\t"
    "movl $0, u_sc_ss\n\tmov %ss, u_sc_ss\n\t"
    "pushf\n\tpopl u_sc_eflags\n\t"
    "mov $0x77, %eax\n\t"
    "ret\n");

static void syscall_sysret_legacy(void) {
  u32 a, b, c, d;
  cpuid(0x80000001, 0, &a, &b, &c, &d);
  if (!(d & (1 << 11))) { t_skip("no SYSCALL"); return; }
  int v = 0;
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
  wrmsr(MSR_STAR, ((u64)UCS << 48) | ((u64)KCS << 32) | (u32)syscall32_entry);
  user_eflags = 0x3202;
  CHECK_EQ(catch_user(u_syscall, 0, &v), -1);
  CHECK_EQ(v, 0x77);
  CHECK_EQ(sc_cs, KCS);
  CHECK_EQ(sc_ss, KDS);
  CHECK_EQ(sc_ecx, (u32)u_after_syscall);
  CHECK_EQ(sc_esp, u_sc_esp);
  CHECK_EQ(sc_eflags & EFL_IF, 0);
  CHECK_EQ(u_sc_cs, UCS | 3);
  CHECK_EQ(u_sc_ss, UDS | 3);
  CHECK_EQ(u_sc_eflags & EFL_IF, EFL_IF);
}

/* ---- LAR / LSL on system descriptors ---- */

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

/* LAR returns descriptor bits 23:20 and 15:8; in a gate bits 23:20 are offset bits */
static u32 lar_bits(u16 sel) { return (u32)(gdt[sel >> 3] >> 32) & 0x00f0ff00; }

static void lar_lsl_system(void) {
  u32 v;
  gdt_set(LDT_SEL, seg_desc(0x1000, 0x37, 0x82, 0));
  gdt_set(LDT_G, seg_desc(0x1000, 0x1, 0x82, 0x8));
  gdt_set(IGATE_SEL, gate_desc(KCS, 0x1234, 0x8e, 0));
  gdt_set(TASKGATE_SEL, gate_desc(TSS_SEL, 0, 0x85, 0));
  gdt_set(TSS16_SEL, seg_desc(0x2000, 0x2b, 0x81, 0));
  gdt_set(RSV_SEL, seg_desc(0x2000, 0x2b, 0x88, 0));
  CHECK(lar(TSS_SEL, &v), "LAR busy TSS");
  CHECK_EQ(v, 0x00008b00);
  CHECK(lsl(TSS_SEL, &v), "LSL busy TSS");
  CHECK_EQ(v, TSS_LIMIT);
  CHECK(lar(LDT_SEL, &v), "LAR LDT");
  CHECK_EQ(v, 0x00008200);
  CHECK(lsl(LDT_SEL, &v), "LSL LDT");
  CHECK_EQ(v, 0x37);
  CHECK(lsl(LDT_G, &v), "LSL LDT, G = 1");
  CHECK_EQ(v, 0x1fff);
  CHECK(lar(GATE3, &v), "LAR call gate");
  CHECK_EQ(v, lar_bits(GATE3));
  CHECK_EQ(v & 0xff00, 0xec00);
  CHECK(!lsl(GATE3, &v), "LSL call gate: ZF set");
  CHECK_EQ(v, 0xdeadbeef);
  CHECK(lar(TASKGATE_SEL, &v), "LAR task gate");
  CHECK_EQ(v, 0x00008500);
  CHECK(!lsl(TASKGATE_SEL, &v), "LSL task gate: ZF set");
  CHECK(!lar(IGATE_SEL, &v), "LAR interrupt gate: ZF set");
  CHECK_EQ(v, 0xdeadbeef);
  CHECK(lar(TSS16_SEL, &v), "LAR 16-bit TSS");
  CHECK_EQ(v, 0x00008100);
  CHECK(lsl(TSS16_SEL, &v), "LSL 16-bit TSS");
  CHECK_EQ(v, 0x2b);
  CHECK(!lar(RSV_SEL, &v), "LAR reserved type: ZF set");
  CHECK(!lsl(RSV_SEL, &v), "LSL reserved type: ZF set");
}

/* from CPL 3 a DPL 0 system descriptor is invisible; a DPL 3 call gate is not */
static int u_lar_probe(int sel) { u32 v; return lar((u16)sel, &v) ? (int)v : -1; }

/* VERR/VERW accept code and data segments only */
static int verr(u16 sel) { u8 z; asm volatile("verr %w1; setz %0" : "=q"(z) : "r"(sel) : "cc"); return z; }
static int verw(u16 sel) { u8 z; asm volatile("verw %w1; setz %0" : "=q"(z) : "r"(sel) : "cc"); return z; }

static void verr_verw_system(void) {
  gdt_set(LDT_SEL, seg_desc(0x1000, 0x37, 0x82, 0));
  CHECK(!verr(TSS_SEL), "VERR TSS");
  CHECK(!verw(TSS_SEL), "VERW TSS");
  CHECK(!verr(LDT_SEL), "VERR LDT");
  CHECK(!verr(GATE3), "VERR call gate");
  CHECK(verr(CS_CONF3), "VERR conforming code");
  CHECK(!verw(CS_CONF3), "VERW code");
  CHECK(verw(KDS), "VERW KDS");
}

static void lar_system_cpl3(void) {
  int v = 0;
  CHECK_EQ(catch_user(u_lar_probe, TSS_SEL | 3, &v), -1);
  CHECK_EQ(v, -1);
  CHECK_EQ(catch_user(u_lar_probe, GATE3 | 3, &v), -1);
  CHECK_EQ(v, lar_bits(GATE3));
  CHECK_EQ(catch_user(u_lar_probe, GATE0 | 3, &v), -1);
  CHECK_EQ(v, -1);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(call_gate_to_cpl0), T(call_gate_no_params), T(call_gate_checks), T(call_gate_code_not_present),
  T(call_gate_bad_inner_ss), T(call_gate_inner_ss_not_present), T(call_gate_same_privilege), T(far_jmp_nonconforming), T(far_call_retf),
  T(far_call_conforming_cpl3), T(far_transfer_checks), T(far_target_beyond_limit), T(retf_to_outer_level), T(retf_outer_bad_ss),
  T(sysenter_sysexit), T(sysenter_sysexit_gp), T(syscall_sysret_legacy), T(lar_lsl_system), T(verr_verw_system), T(lar_system_cpl3),
};
const int ntests = ARRAY_SIZE(tests);
