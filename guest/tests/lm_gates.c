/*
 * Long-mode far transfers and the LDT (APM Vol. 2, 4.8.4 and 4.11; 14.x for compatibility
 * mode; Vol. 3, CALL (Far), JMP (Far), RETF, IRET, LLDT):
 *  - a far CALL from CPL 3 through a 64-bit call gate to CPL 0: RSP from TSS.RSP0 (no
 *    alignment: that is for interrupts only, 8.9.3), SS a null selector with RPL 0, SS, RSP,
 *    CS, RIP pushed as quadwords, and RETF with REX.W back to CPL 3; the gate's checks;
 *  - far JMP to another 64-bit code segment and to a compatibility-mode (32-bit) segment and
 *    back, a far CALL into compatibility mode with a 32-bit RETF, IRETQ into compatibility
 *    mode at CPL 0 and at CPL 3;
 *  - LLDT with a 16-byte LDT descriptor and segment registers loaded from that LDT.
 *
 * The tests load a larger copy of the runtime's GDT (xgdt) with their own descriptors; the
 * runner reloads the runtime's GDT after every test.
 */
#include "rt.h"

const char kernel_name[] = "lm_gates";

#define KCS32 (14 * 8)           /* 32-bit code, DPL 0 */
#define CG3 (16 * 8)             /* 64-bit call gate, DPL 3, to KCS:cg_target (16 bytes) */
#define CG0 (18 * 8)             /* the same, DPL 0 */
#define CG_TO32 (20 * 8)         /* DPL 3, to the 32-bit KCS32 */
#define CG_BADHI (22 * 8)        /* DPL 3, type field of the upper half not 0 */
#define LDT64 (24 * 8)           /* 16-byte LDT descriptor for ldt_tab */
#define CG16 (28 * 8)            /* a 16-bit call gate: invalid in long mode */
#define XGDT_ENTRIES 32
#define STR(x) #x
#define XSTR(x) STR(x)

static u64 xgdt[XGDT_ENTRIES] __attribute__((aligned(16)));
static u64 ldt_tab[4] __attribute__((aligned(16)));
static volatile u64 ldt_probe = 0x1122334455667788ul;
extern u8 cg_target[];

static void gate64(int sel, u16 cs, u64 off, int dpl, u32 hi_type) {
  xgdt[sel / 8] = (off & 0xffff) | ((u64)cs << 16) | ((u64)(0x80 | (dpl << 5) | 0xc) << 40) |
                  (((off >> 16) & 0xffff) << 48);
  xgdt[sel / 8 + 1] = (off >> 32) | ((u64)hi_type << 40);
}

static void ldt_desc(int sel, u64 base, u32 limit) {
  xgdt[sel / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x82ul << 40) |
                  ((u64)((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
  xgdt[sel / 8 + 1] = base >> 32;
}

static void xgdt_load(void) {
  memset(xgdt, 0, sizeof(xgdt));
  memcpy(xgdt, gdt, sizeof(u64) * GDT_ENTRIES);
  xgdt[KCS32 / 8] = 0x00cf9b000000fffful;
  gate64(CG3, KCS, (u64)cg_target, 3, 0);
  gate64(CG0, KCS, (u64)cg_target, 0, 0);
  gate64(CG_TO32, KCS32, (u64)cg_target, 3, 0);
  gate64(CG_BADHI, KCS, (u64)cg_target, 3, 0xc);
  ldt_desc(LDT64, (u64)ldt_tab, sizeof(ldt_tab) - 1);
  xgdt[CG16 / 8] = ((u64)cg_target & 0xffff) | ((u64)KCS << 16) | (0xe4ul << 40);
  struct { u16 limit; u64 base; } __attribute__((packed)) p = { sizeof(xgdt) - 1, (u64)xgdt };
  asm volatile("lgdt %0" :: "m"(p));
}

static volatile u64 cg_rsp, cg_cs, cg_ss, cg_stk[4], cg_calls;

void test_setup(void) {
  asm volatile("lldt %w0" :: "r"(0));
  tss.rsp0 = (u64)kstack_top;          /* the runner does not restore it */
  cg_rsp = cg_cs = cg_ss = cg_calls = 0;
  for (int i = 0; i < 4; i++) cg_stk[i] = 0;
  xgdt_load();
}

/* ---- 64-bit call gates ---- */

asm(".text\n"
    ".globl cg_target\n"
    "cg_target:\n\t"
    "incq cg_calls(%rip)\n\t"
    "mov %rsp, cg_rsp(%rip)\n\t"
    "mov %cs, %eax\n\tmov %rax, cg_cs(%rip)\n\t"
    "mov %ss, %eax\n\tmov %rax, cg_ss(%rip)\n\t"
    "mov 0(%rsp), %rax\n\tmov %rax, cg_stk(%rip)\n\t"
    "mov 8(%rsp), %rax\n\tmov %rax, cg_stk + 8(%rip)\n\t"
    "mov 16(%rsp), %rax\n\tmov %rax, cg_stk + 16(%rip)\n\t"
    "mov 24(%rsp), %rax\n\tmov %rax, cg_stk + 24(%rip)\n\t"
    "mov $0x4321, %eax\n\t"
    "lretq\n");

static volatile u64 u_rsp_before, u_rsp_after;
extern u8 u_after_cg[];

/* far CALL through the gate named by `sel` (m16:32: the offset is ignored) */
__attribute__((noinline)) static long u_call_gate(long sel) {
  struct { u32 off; u16 sel; } __attribute__((packed)) fp = { 0, (u16)sel };
  long r;
  asm volatile("mov %%rsp, %1\n\t"
               "lcall *%3\n"
               ".globl u_after_cg\nu_after_cg:\n\t"
               "mov %%rsp, %2"
               : "=a"(r), "=m"(u_rsp_before), "=m"(u_rsp_after) : "m"(fp) : "memory");
  return r;
}

static void call_gate64_to_cpl0(void) {
  long v = 0;
  CHECK_EQ(catch_user(u_call_gate, CG3 | 3, &v), -1);
  CHECK_EQ(v, 0x4321);
  CHECK_EQ(cg_calls, 1);
  CHECK_EQ(cg_cs, KCS);
  CHECK_EQ(cg_ss, 0);                    /* null, RPL = the new CPL */
  CHECK_EQ(cg_rsp, (u64)kstack_top - 32);
  CHECK_EQ(cg_stk[0], (u64)u_after_cg);
  CHECK_EQ(cg_stk[1], UCS | 3);
  CHECK_EQ(cg_stk[2], u_rsp_before);
  CHECK_EQ(cg_stk[3], UDS | 3);
  CHECK_EQ(u_rsp_after, u_rsp_before);
}

/* the new RSP is TSS.RSP0 as it is: only interrupt delivery aligns it (APM Vol. 2, 8.9.3) */
static void call_gate64_rsp0_not_aligned(void) {
  tss.rsp0 = (u64)kstack_top - 8;
  long r = catch_user(u_call_gate, CG3 | 3, NULL);
  tss.rsp0 = (u64)kstack_top;
  CHECK_EQ(r, -1);
  CHECK_EQ(cg_rsp, (u64)kstack_top - 8 - 32);
}

/* gate DPL < CPL: #GP(gate); target not a 64-bit code segment: #GP(target); a 16-bit gate or
 * a 64-bit gate whose upper type field is not 0: #GP(gate) */
static void call_gate64_checks(void) {
  check_fault(catch_user(u_call_gate, CG0 | 3, NULL), GP, CG0);
  check_fault(catch_user(u_call_gate, CG_TO32 | 3, NULL), GP, KCS32);
  check_fault(catch_user(u_call_gate, CG16 | 3, NULL), GP, CG16);
  CHECK_EQ(cg_calls, 0);
}

static void call_gate64_upper_type(void) {
  check_fault(catch_user(u_call_gate, CG_BADHI | 3, NULL), GP, CG_BADHI);
  CHECK_EQ(cg_calls, 0);
}

/* ---- 64-bit and compatibility-mode code segments ---- */

struct farptr { u32 off; u16 sel; } __attribute__((packed));

/* JMP to SEL_CODE_RX (64-bit, DPL 0) and back to KCS */
extern u8 alt64_entry[];
static volatile u64 alt64_cs;
asm(".text\n"
    ".globl alt64_entry\n"
    "alt64_entry:\n\t"
    "mov %cs, %eax\n\tmov %rax, alt64_cs(%rip)\n\t"
    "ljmp *alt64_back_ptr(%rip)\n"
    ".data\n"
    "alt64_back_ptr: .long alt64_back\n\t.word " XSTR(KCS) "\n"
    ".text\n");

static void far_jmp_64bit_segment(void) {
  static struct farptr fp;
  fp.off = (u32)(u64)alt64_entry;
  fp.sel = SEL_CODE_RX;
  asm volatile("ljmp *%0\n"
               "alt64_back:" :: "m"(fp) : "rax", "memory");
  CHECK_EQ(alt64_cs, SEL_CODE_RX);
  CHECK_EQ(read_cs(), KCS);
}

/* compatibility mode: 0x48 is DEC EAX (a REX prefix in 64-bit mode), PUSH moves ESP by 4 */
asm(".text\n"
    ".code32\n"
    ".globl compat_entry, compat_fn, compat_iret_entry\n"
    "compat_entry:\n\t"
    "mov $5, %eax\n\t"
    ".byte 0x48\n\t"
    "mov %esp, %ecx\n\t"
    "push %eax\n\t"
    "mov %esp, %edx\n\t"
    "pop %eax\n\t"
    "sub %edx, %ecx\n\t"
    "ljmp $" XSTR(KCS) ", $compat_back\n"
    /* reached by a far CALL: record CS and ESP, 32-bit RETF */
    "compat_fn:\n\t"
    "mov %cs, %eax\n\t"
    "mov %esp, %ecx\n\t"
    "mov 4(%esp), %edx\n\t"
    "lret\n"
    /* reached by IRETQ */
    "compat_iret_entry:\n\t"
    "mov %cs, %eax\n\t"
    "mov %esp, %ecx\n\t"
    "ljmp $" XSTR(KCS) ", $compat_iret_back\n"
    ".code64\n");
extern u8 compat_entry[], compat_fn[], compat_iret_entry[];

static void far_jmp_compat_and_back(void) {
  static struct farptr fp;
  u32 eax, ecx;
  fp.off = (u32)(u64)compat_entry;
  fp.sel = KCS32;
  asm volatile("ljmp *%2\n"
               "compat_back:" : "=a"(eax), "=c"(ecx) : "m"(fp) : "rdx", "memory");
  CHECK_EQ(eax, 4);
  CHECK_EQ(ecx, 4);
  CHECK_EQ(read_cs(), KCS);
}

/* a far CALL with 32-bit operand size pushes CS and EIP as doublewords */
static void far_call_compat_retf(void) {
  static struct farptr fp;
  u64 rsp, cs, esp, pushed_cs;
  fp.off = (u32)(u64)compat_fn;
  fp.sel = KCS32;
  asm volatile("mov %%rsp, %0\n\t"
               "lcall *%4"
               : "=&r"(rsp), "=a"(cs), "=c"(esp), "=d"(pushed_cs) : "m"(fp) : "memory");
  CHECK_EQ(cs & 0xffff, KCS32);
  CHECK_EQ(esp & 0xffffffff, (rsp - 8) & 0xffffffff);
  CHECK_EQ(pushed_cs & 0xffff, KCS);
  CHECK_EQ(read_cs(), KCS);
}

/* IRETQ at CPL 0 to a 32-bit code segment: compatibility mode, SS:RSP from the frame */
static void iretq_to_compat(void) {
  u64 cs, esp, rsp;
  asm volatile("mov %%rsp, %0\n\t"
               "pushq $" XSTR(KDS) "\n\t"
               "pushq %0\n\t"
               "pushfq\n\t"
               "pushq $" XSTR(KCS32) "\n\t"
               "leaq compat_iret_entry(%%rip), %%rax\n\t"
               "pushq %%rax\n\t"
               "iretq\n"
               "compat_iret_back:"
               : "=&r"(rsp), "=a"(cs), "=c"(esp) :: "memory");
  CHECK_EQ(cs & 0xffff, KCS32);
  CHECK_EQ(esp & 0xffffffff, rsp & 0xffffffff);
}

/* IRETQ to CPL 3 in compatibility mode; its #UD comes back through the 64-bit IDT */
static volatile u32 cu_esp, cu_cs;
asm(".text\n"
    ".code32\n"
    ".globl compat_user, compat_user_ud\n"
    "compat_user:\n\t"
    "mov %esp, %ss:cu_esp\n\t"
    "mov %cs, %eax\n\t"
    "mov %eax, %ss:cu_cs\n"
    "compat_user_ud: ud2\n"
    ".code64\n");
extern u8 compat_user[], compat_user_ud[];

static void enter_compat_user(void *a) {
  (void)a;
  asm volatile("swapgs\n\t"
               "pushq $" XSTR(UDS | 3) "\n\t"
               "leaq user_stack_top(%%rip), %%rax\n\t"
               "pushq %%rax\n\t"
               "pushq $2\n\t"
               "pushq $" XSTR(UCS32 | 3) "\n\t"
               "leaq compat_user(%%rip), %%rax\n\t"
               "pushq %%rax\n\t"
               "iretq" ::: "rax", "memory");
}

static void iretq_to_compat_cpl3(void) {
  long r = catch_run(enter_compat_user, NULL);
  check_fault(r, UD, -1);
  if (r != UD) return;
  CHECK_EQ(cu_cs, UCS32 | 3);
  CHECK_EQ(cu_esp, (u32)(u64)user_stack_top);
  CHECK_EQ(last_fault.cs, UCS32 | 3);
  CHECK_EQ(last_fault.rip, (u64)compat_user_ud);
  CHECK_EQ(last_fault.ss, UDS | 3);
  CHECK_EQ(last_fault.rsp, (u64)user_stack_top);
}

/* from compatibility mode at CPL 3 through the 64-bit gate: the pushes are still quadwords,
 * and RETF with REX.W returns to the 32-bit segment */
static volatile u32 cu_ret, cu_esp_after;
asm(".text\n"
    ".code32\n"
    ".globl compat_user_cg, compat_user_cg_ret, compat_user_cg_ud\n"
    "compat_user_cg:\n\t"
    "mov %esp, %ss:cu_esp\n\t"
    "lcall $" XSTR(CG3 | 3) ", $0\n"
    "compat_user_cg_ret:\n\t"
    "mov %eax, %ss:cu_ret\n\t"
    "mov %esp, %ss:cu_esp_after\n\t"
    "mov %cs, %eax\n\t"
    "mov %eax, %ss:cu_cs\n"
    "compat_user_cg_ud: ud2\n"
    ".code64\n");
extern u8 compat_user_cg[], compat_user_cg_ret[], compat_user_cg_ud[];

static void enter_compat_user_cg(void *a) {
  (void)a;
  asm volatile("swapgs\n\t"
               "pushq $" XSTR(UDS | 3) "\n\t"
               "leaq user_stack_top(%%rip), %%rax\n\t"
               "pushq %%rax\n\t"
               "pushq $2\n\t"
               "pushq $" XSTR(UCS32 | 3) "\n\t"
               "leaq compat_user_cg(%%rip), %%rax\n\t"
               "pushq %%rax\n\t"
               "iretq" ::: "rax", "memory");
}

static void call_gate64_from_compat(void) {
  long r = catch_run(enter_compat_user_cg, NULL);
  check_fault(r, UD, -1);
  if (r != UD) return;
  CHECK_EQ(last_fault.rip, (u64)compat_user_cg_ud);
  CHECK_EQ(cg_calls, 1);
  CHECK_EQ(cu_ret, 0x4321);
  CHECK_EQ(cg_rsp, (u64)kstack_top - 32);
  CHECK_EQ(cg_stk[0], (u64)compat_user_cg_ret);
  CHECK_EQ(cg_stk[1], UCS32 | 3);
  CHECK_EQ(cg_stk[2], cu_esp);
  CHECK_EQ(cg_stk[3], UDS | 3);
  CHECK_EQ(cu_esp_after, cu_esp);
  CHECK_EQ(cu_cs, UCS32 | 3);
}

/* SYSENTER and SYSEXIT are #UD in long mode on AMD processors (APM Vol. 3 SYSENTER, SYSEXIT) */
static void do_sysenter(void *a) { (void)a; asm volatile("sysenter"); }
static void do_sysexit(void *a) { (void)a; asm volatile("sysexitl"); }

static void sysenter_sysexit_ud(void) {
  wrmsr(0x174, KCS);
  check_fault(catch_run(do_sysenter, NULL), UD, -1);
  check_fault(catch_run(do_sysexit, NULL), UD, -1);
  wrmsr(0x174, 0);
}

/* ---- the LDT ---- */

static void lldt_sel(void *s) { asm volatile("lldt %w0" :: "r"((u16)(u64)s)); }
static void load_fs(void *s) { asm volatile("mov %w0, %%fs" :: "r"((u16)(u64)s)); }

static void lldt_16byte_descriptor(void) {
  /* LDT entry 1: writable data, DPL 0, base &ldt_probe */
  u64 b = (u64)&ldt_probe;
  ldt_tab[1] = 0x00cf93000000fffful | ((b & 0xffffff) << 16) | (((b >> 24) & 0xff) << 56);
  ldt_tab[2] = 0x00cff3000000fffful;
  CHECK_EQ(catch_run(lldt_sel, (void *)LDT64), -1);
  u16 s = 0;
  asm volatile("sldt %0" : "=r"(s));
  CHECK_EQ(s, LDT64);
  CHECK_EQ(catch_run(load_fs, (void *)0x0c), -1);   /* index 1, TI = 1 */
  u64 v = 0;
  asm volatile("mov %%fs:0, %0" : "=r"(v));
  CHECK_EQ(v, 0x1122334455667788ul);
  CHECK_EQ(rdmsr(MSR_FS_BASE), b);
  CHECK_EQ(read_fs(), 0x0c);
  u16 ds = 0x17;                                    /* index 2, TI = 1, RPL 3 */
  asm volatile("mov %w1, %%ds\n\tmov %%ds, %0\n\tmov %w2, %%ds" : "=r"(ds) : "r"(ds), "r"(KDS));
  CHECK_EQ(ds, 0x17);
  /* beyond the LDT limit: #GP with the selector (TI set) */
  check_fault(catch_run(load_fs, (void *)0x24), GP, 0x24);
}

/* LLDT: not an LDT descriptor, or TI set: #GP(selector) */
static void lldt_checks(void) {
  check_fault(catch_run(lldt_sel, (void *)CG3), GP, CG3);
  check_fault(catch_run(lldt_sel, (void *)(LDT64 | 4)), GP, LDT64 | 4);
}


#define T(n) { #n, n }
const struct test tests[] = {
  T(call_gate64_to_cpl0), T(call_gate64_rsp0_not_aligned), T(call_gate64_checks),
  T(call_gate64_upper_type), T(far_jmp_64bit_segment), T(far_jmp_compat_and_back),
  T(far_call_compat_retf), T(iretq_to_compat), T(iretq_to_compat_cpl3), T(call_gate64_from_compat), T(sysenter_sysexit_ud), T(lldt_16byte_descriptor),
  T(lldt_checks),
};
const int ntests = ARRAY_SIZE(tests);
