/*
 * The SVM harness (see svm.h): features, enabling, the guest VMCB, the world switch, the guest
 * IDT with its event recorder, and identity nested page tables.
 */
#include "svm.h"

struct svm_features svmf;

u8 vmcb[4096] __attribute__((aligned(4096)));
u8 vmcb2[4096] __attribute__((aligned(4096)));
u8 hsave[4096] __attribute__((aligned(4096)));
u8 scratch_page[4096] __attribute__((aligned(4096)));
u8 save_page[4096] __attribute__((aligned(4096)));
u8 iopm[3 * 4096] __attribute__((aligned(4096)));
u8 msrpm[2 * 4096] __attribute__((aligned(4096)));
u8 guest_stack[16384] __attribute__((aligned(4096)));
volatile u64 npt_pml4[512] __attribute__((aligned(4096)));
volatile u64 npt_pdpt[512] __attribute__((aligned(4096)));
volatile u64 npt_pd[4 * 512] __attribute__((aligned(4096)));
volatile u64 npt_pt[512] __attribute__((aligned(4096)));

struct gregs greg;
struct host_probe hprobe;
u64 host_rflags_at_vmrun;
struct gate guest_idt[256] __attribute__((aligned(16)));
volatile struct guest_event g_ev;
volatile u64 g_ev_return[4];
volatile u64 g_ev_eoi[4];

/* ---- features ---- */

void svm_detect(void) {
  u32 a, b, c, d;
  memset(&svmf, 0, sizeof(svmf));
  if (cpuid_max_ext() < 0x80000001) return;
  cpuid(0x80000001, 0, &a, &b, &c, &d);
  svmf.svm = (c & CPUID_SVM) != 0;
  svmf.skinit = (c & CPUID_SKINIT) != 0;
  if (!svmf.svm || cpuid_max_ext() < 0x8000000a) return;
  cpuid(0x8000000a, 0, &a, &b, &c, &d);
  svmf.rev = a & 0xff;
  svmf.nasid = b;
  svmf.edx = d;
}

static const struct { u32 bit; const char *name; } feature_names[] = {
  { SVMF_NP, "NP" }, { SVMF_LBRV, "LbrVirt" }, { SVMF_SVML, "SVML" }, { SVMF_NRIPS, "NRIPS" },
  { SVMF_TSCRATE, "TscRateMsr" }, { SVMF_VMCBCLEAN, "VmcbClean" },
  { SVMF_FLUSHBYASID, "FlushByAsid" }, { SVMF_DECODEASSISTS, "DecodeAssists" },
  { SVMF_PAUSEFILTER, "PauseFilter" }, { SVMF_PFTHRESHOLD, "PauseFilterThreshold" },
  { SVMF_AVIC, "AVIC" }, { SVMF_VMSAVE_VIRT, "VMSAVEvirt" }, { SVMF_VGIF, "VGIF" }, { SVMF_GMET, "GMET" }, { SVMF_VNMI, "vNMI" },
  { SVMF_ADDR_CHK, "SVME_ADDR_CHK" },
};

void svm_print_features(void) {
  if (!svmf.svm) {
    printf("svm: CPUID 8000_0001 ECX[2] clear, no SVM\n");
    return;
  }
  printf("svm: revision %u, %u ASIDs, 8000_000A EDX %#x:", svmf.rev, svmf.nasid, svmf.edx);
  for (u64 i = 0; i < ARRAY_SIZE(feature_names); i++) {
    if (svmf.edx & feature_names[i].bit) printf(" %s", feature_names[i].name);
  }
  printf("%s\n", svmf.skinit ? " (SKINIT)" : "");
}

int svm_need(u32 edx_bits) {
  if (!svmf.svm) {
    t_skip("no SVM (CPUID 8000_0001 ECX[2])");
    return 0;
  }
  u32 missing = edx_bits & ~svmf.edx;
  if (missing) {
    static char why[96];
    int n = snprintf(why, sizeof(why), "needs CPUID 8000_000A EDX");
    for (u64 i = 0; i < ARRAY_SIZE(feature_names); i++) {
      if (missing & feature_names[i].bit) n += snprintf(why + n, sizeof(why) - n, " %s", feature_names[i].name);
    }
    t_skip(why);
    return 0;
  }
  return 1;
}

/* ---- enabling ---- */

void svm_enable(void) {
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
  wrmsr(MSR_VM_HSAVE_PA, pa(hsave));
}

static void guest_idt_init(void);

int svm_begin(u32 edx_bits) {
  if (!svm_need(edx_bits)) return 0;
  svm_enable();
  memset(&greg, 0, sizeof(greg));
  memset((void *)&g_ev, 0, sizeof(g_ev));
  memset((void *)g_ev_return, 0, sizeof(g_ev_return));
  memset((void *)g_ev_eoi, 0, sizeof(g_ev_eoi));
  memset(iopm, 0, sizeof(iopm));
  memset(msrpm, 0, sizeof(msrpm));
  host_rflags_at_vmrun = 0;
  guest_idt_init();
  return 1;
}

/* ---- the guest VMCB ---- */

void vmcb_seg(u8 *v, u32 off, u16 sel, u16 attr, u32 limit, u64 base) {
  VMCB16(v, off + SEG_SEL) = sel;
  VMCB16(v, off + SEG_ATTR) = attr;
  VMCB32(v, off + SEG_LIMIT) = limit;
  VMCB64(v, off + SEG_BASE) = base;
}

/* attributes in VMCB form: descriptor bits 47:40 in 7:0, bits 55:52 in 11:8 */
#define ATTR_KCS 0x0a9b   /* 64-bit code, DPL 0, accessed; G=1 L=1 */
#define ATTR_KDS 0x0c93   /* writable data, DPL 0, accessed; G=1 B=1 */
#define ATTR_UCS 0x0afb
#define ATTR_UDS 0x0cf3

void vmcb_init(u8 *v, u64 rip) {
  struct dtr g;
  memset(v, 0, 4096);
  VMCB32(v, VMCB_ICPT_MISC1) = I1_SHUTDOWN;
  VMCB32(v, VMCB_ICPT_MISC2) = I2_VMRUN | I2_VMMCALL;
  VMCB64(v, VMCB_IOPM_BASE) = pa(iopm);
  VMCB64(v, VMCB_MSRPM_BASE) = pa(msrpm);
  VMCB32(v, VMCB_ASID) = 1;
  /* start every guest with an empty TLB: tests share ASID 1 and edit page tables between
   * runs; TLB tests set 0 on the runs where they want the TLB kept */
  VMCB8(v, VMCB_TLB_CONTROL) = 1;
  vmcb_seg(v, VMCB_ES, KDS, ATTR_KDS, 0xffffffff, 0);
  vmcb_seg(v, VMCB_CS, KCS, ATTR_KCS, 0xffffffff, 0);
  vmcb_seg(v, VMCB_SS, KDS, ATTR_KDS, 0xffffffff, 0);
  vmcb_seg(v, VMCB_DS, KDS, ATTR_KDS, 0xffffffff, 0);
  sgdt(&g);
  VMCB32(v, VMCB_GDTR + SEG_LIMIT) = g.limit;
  VMCB64(v, VMCB_GDTR + SEG_BASE) = g.base;
  VMCB32(v, VMCB_IDTR + SEG_LIMIT) = sizeof(guest_idt) - 1;
  VMCB64(v, VMCB_IDTR + SEG_BASE) = (u64)guest_idt;
  VMCB8(v, VMCB_CPL) = 0;
  VMCB64(v, VMCB_EFER) = rdmsr(MSR_EFER) | EFER_SVME;
  VMCB64(v, VMCB_CR0) = read_cr0();
  VMCB64(v, VMCB_CR3) = read_cr3();
  VMCB64(v, VMCB_CR4) = read_cr4();
  VMCB64(v, VMCB_DR6) = 0xffff0ff0;
  VMCB64(v, VMCB_DR7) = 0x400;
  VMCB64(v, VMCB_RFLAGS) = 0x2;
  VMCB64(v, VMCB_RIP) = rip;
  VMCB64(v, VMCB_RSP) = GUEST_STACK_TOP;
  VMCB64(v, VMCB_G_PAT) = rdmsr(MSR_PAT);
}

void vmcb_set_cpl3(u8 *v) {
  vmcb_seg(v, VMCB_CS, UCS | 3, ATTR_UCS, 0xffffffff, 0);
  vmcb_seg(v, VMCB_SS, UDS | 3, ATTR_UDS, 0xffffffff, 0);
  vmcb_seg(v, VMCB_DS, UDS | 3, ATTR_UDS, 0xffffffff, 0);
  vmcb_seg(v, VMCB_ES, UDS | 3, ATTR_UDS, 0xffffffff, 0);
  VMCB8(v, VMCB_CPL) = 3;
}

/* ---- the world switch ---- */

/* struct gregs offsets: rbx 0, rcx 8, rdx 16, rsi 24, rdi 32, rbp 40, r8 48 ... r15 104.
 * struct host_probe: rsp_before 0, rsp_after 8, rflags_before 16, rflags_after 24, cs 32,
 * ss 34, ds 36, es 38. */
asm(".pushsection .text\n"
    "\t.globl svm_vmrun_regs, svm_vmrun_insn, svm_vmrun_after\n"
    "svm_vmrun_regs:\n"
    "\tpush %rbp\n\tpush %rbx\n\tpush %r12\n\tpush %r13\n\tpush %r14\n\tpush %r15\n"
    "\tpush %rsi\n"
    "\tmov host_rflags_at_vmrun(%rip), %rax\n"
    "\ttest %rax, %rax\n"
    "\tjz 1f\n"
    "\tpush %rax\n"
    "\tpopfq\n"
    "1:\tpushfq\n"
    "\tpopq hprobe+16(%rip)\n"
    "\tmov %rsp, hprobe+0(%rip)\n"
    "\tmov %rdi, %rax\n"
    "\tmov 0(%rsi), %rbx\n\tmov 8(%rsi), %rcx\n\tmov 16(%rsi), %rdx\n\tmov 32(%rsi), %rdi\n"
    "\tmov 40(%rsi), %rbp\n\tmov 48(%rsi), %r8\n\tmov 56(%rsi), %r9\n\tmov 64(%rsi), %r10\n"
    "\tmov 72(%rsi), %r11\n\tmov 80(%rsi), %r12\n\tmov 88(%rsi), %r13\n\tmov 96(%rsi), %r14\n"
    "\tmov 104(%rsi), %r15\n\tmov 24(%rsi), %rsi\n"
    "svm_vmrun_insn:\n"
    "\tvmrun %rax\n"
    "svm_vmrun_after:\n"
    "\tmov %rsp, hprobe+8(%rip)\n"
    "\tpushfq\n"
    "\tpopq hprobe+24(%rip)\n"
    "\tmov %cs, hprobe+32(%rip)\n\tmov %ss, hprobe+34(%rip)\n"
    "\tmov %ds, hprobe+36(%rip)\n\tmov %es, hprobe+38(%rip)\n"
    "\tpush %rsi\n"
    "\tmov 8(%rsp), %rsi\n"
    "\tmov %rbx, 0(%rsi)\n\tmov %rcx, 8(%rsi)\n\tmov %rdx, 16(%rsi)\n\tmov %rdi, 32(%rsi)\n"
    "\tmov %rbp, 40(%rsi)\n\tmov %r8, 48(%rsi)\n\tmov %r9, 56(%rsi)\n\tmov %r10, 64(%rsi)\n"
    "\tmov %r11, 72(%rsi)\n\tmov %r12, 80(%rsi)\n\tmov %r13, 88(%rsi)\n\tmov %r14, 96(%rsi)\n"
    "\tmov %r15, 104(%rsi)\n"
    "\tpopq 24(%rsi)\n"
    "\tadd $8, %rsp\n"
    "\tpop %r15\n\tpop %r14\n\tpop %r13\n\tpop %r12\n\tpop %rbx\n\tpop %rbp\n"
    "\tret\n"
    /* guest code that calls greg.rbx(greg.rdi) and ends the run */
    "\t.globl guest_call_entry\n"
    "guest_call_entry:\n"
    "\tcall *%rbx\n"
    "\tvmmcall\n"
    "\tud2\n"
    ".popsection");

u64 svm_run(u8 *v) {
  clgi();
  svm_vmrun_regs(pa(v), &greg);
  stgi();
  return exit_code(v);
}

u64 svm_run_nogif(u8 *v) {
  svm_vmrun_regs(pa(v), &greg);
  return exit_code(v);
}

/* ---- exit reporting ---- */

const char *exit_name(u64 code) {
  static char buf[24];
  static const char *const names[] = {
    [EXIT_INTR] = "INTR", [EXIT_NMI] = "NMI", [EXIT_SMI] = "SMI", [EXIT_INIT] = "INIT",
    [EXIT_VINTR] = "VINTR", [EXIT_CR0_SEL] = "CR0_SEL_WRITE", [EXIT_IDTR_READ] = "IDTR_READ",
    [EXIT_GDTR_READ] = "GDTR_READ", [EXIT_LDTR_READ] = "LDTR_READ", [EXIT_TR_READ] = "TR_READ",
    [EXIT_IDTR_WRITE] = "IDTR_WRITE", [EXIT_GDTR_WRITE] = "GDTR_WRITE",
    [EXIT_LDTR_WRITE] = "LDTR_WRITE", [EXIT_TR_WRITE] = "TR_WRITE", [EXIT_RDTSC] = "RDTSC",
    [EXIT_RDPMC] = "RDPMC", [EXIT_PUSHF] = "PUSHF", [EXIT_POPF] = "POPF", [EXIT_CPUID] = "CPUID",
    [EXIT_RSM] = "RSM", [EXIT_IRET] = "IRET", [EXIT_SWINT] = "SWINT", [EXIT_INVD] = "INVD",
    [EXIT_PAUSE] = "PAUSE", [EXIT_HLT] = "HLT", [EXIT_INVLPG] = "INVLPG",
    [EXIT_INVLPGA] = "INVLPGA", [EXIT_IOIO] = "IOIO", [EXIT_MSR] = "MSR",
    [EXIT_TASK_SWITCH] = "TASK_SWITCH", [EXIT_FERR_FREEZE] = "FERR_FREEZE",
    [EXIT_SHUTDOWN] = "SHUTDOWN", [EXIT_VMRUN] = "VMRUN", [EXIT_VMMCALL] = "VMMCALL",
    [EXIT_VMLOAD] = "VMLOAD", [EXIT_VMSAVE] = "VMSAVE", [EXIT_STGI] = "STGI",
    [EXIT_CLGI] = "CLGI", [EXIT_SKINIT] = "SKINIT", [EXIT_RDTSCP] = "RDTSCP",
    [EXIT_ICEBP] = "ICEBP", [EXIT_WBINVD] = "WBINVD", [EXIT_MONITOR] = "MONITOR",
    [EXIT_MWAIT] = "MWAIT", [EXIT_MWAIT_COND] = "MWAIT_COND", [EXIT_XSETBV] = "XSETBV",
  };
  if (code == EXIT_INVALID) return "INVALID";
  if (code == EXIT_NPF) return "NPF";
  if (code < 0x10) { snprintf(buf, sizeof(buf), "READ_CR%lu", code); return buf; }
  if (code < 0x20) { snprintf(buf, sizeof(buf), "WRITE_CR%lu", code - 0x10); return buf; }
  if (code < 0x30) { snprintf(buf, sizeof(buf), "READ_DR%lu", code - 0x20); return buf; }
  if (code < 0x40) { snprintf(buf, sizeof(buf), "WRITE_DR%lu", code - 0x30); return buf; }
  if (code < 0x60) { snprintf(buf, sizeof(buf), "EXCP%lu", code - 0x40); return buf; }
  if (code < ARRAY_SIZE(names) && names[code]) return names[code];
  snprintf(buf, sizeof(buf), "%#lx", code);
  return buf;
}

int expect_exit(u8 *v, u64 code) {
  u64 got = exit_code(v);
  if (got == code) return 1;
  if (got == EXIT_VMMCALL && g_ev.count) {
    t_fail("exit %s, want %s; the guest took vector %#lx at %#lx (error %#lx, %lu events)",
           exit_name(got), exit_name(code), g_ev.vector, g_ev.rip, g_ev.error, g_ev.count);
  } else {
    t_fail("exit %s (%#lx), want %s; guest rip %#lx info1 %#lx info2 %#lx",
           exit_name(got), got, exit_name(code), guest_rip(v), exit_info1(v), exit_info2(v));
  }
  return 0;
}

int expect_exit_at(u8 *v, u64 code, const void *rip, const void *nrip) {
  if (!expect_exit(v, code)) return 0;
  if (guest_rip(v) != (u64)rip) {
    t_fail("guest RIP %#lx, want %#lx", guest_rip(v), (u64)rip);
    return 0;
  }
  if (svm_has(SVMF_NRIPS) && nrip != NRIP_ANY && exit_nrip(v) != (u64)nrip) {
    t_fail("NRIP %#lx, want %#lx", exit_nrip(v), (u64)nrip);
    return 0;
  }
  return 1;
}

void expect_fault(const char *what, long got, int vec, long err) {
  if (got == vec) {
    if (vec >= 0 && err >= 0 && last_fault.error != (u64)err)
      t_fail("%s: %s error code %#lx, want %#lx", what, vector_name(vec), last_fault.error, err);
    return;
  }
  if (got < 0) t_fail("%s: no exception, want %s", what, vector_name(vec));
  else if (vec < 0) t_fail("%s: %s (error %#lx, rip %#lx), want no exception", what, vector_name(got), last_fault.error, last_fault.rip);
  else t_fail("%s: %s (error %#lx, rip %#lx), want %s", what, vector_name(got), last_fault.error, last_fault.rip, vector_name(vec));
}

/* attribute bits compared: all but A, AVL and G, which the manual does not promise to keep
 * (APM Vol. 2 15.5.1 lists the attribute bits the processor observes) */
#define ATTR_CMP 0x6fe

void check_vmcb_seg(const char *what, u8 *v, u32 off, u16 sel, u16 attr, u32 limit, u64 base) {
  u16 s = VMCB16(v, off + SEG_SEL), a = VMCB16(v, off + SEG_ATTR);
  u32 l = VMCB32(v, off + SEG_LIMIT);
  u64 b = VMCB64(v, off + SEG_BASE);
  if (s != sel || (a & ATTR_CMP) != (attr & ATTR_CMP) || l != limit || b != base)
    t_fail("%s = {sel %#x attr %#x limit %#x base %#lx}, want {%#x %#x %#x %#lx}", what, s, a, l, b,
           sel, attr, limit, base);
}

/* ---- the guest IDT: 16-byte stubs like the runtime's, recording into g_ev ---- */

asm(".pushsection .text\n"
    "\t.macro GSTUB v\n"
    "\t.align 16\n"
    "\t.if (\\v == 8) || (\\v >= 10 && \\v <= 14) || (\\v == 17) || (\\v == 21) || (\\v == 29) || (\\v == 30)\n"
    "\t.else\n"
    "\tpushq $0\n"
    "\t.endif\n"
    "\tpushq $\\v\n"
    "\tjmp guest_trap_common\n"
    "\t.endm\n"
    "\t.align 16\n"
    "\t.globl guest_stubs\n"
    "guest_stubs:\n"
    "\t.altmacro\n"
    "\t.set gvec, 0\n"
    "\t.rept 256\n"
    "\tGSTUB %gvec\n"
    "\t.set gvec, gvec + 1\n"
    "\t.endr\n"
    "\t.noaltmacro\n"
    "guest_trap_common:\n"
    "\tpush %rax\n\tpush %rbx\n\tpush %rcx\n\tpush %rdx\n\tpush %rsi\n\tpush %rdi\n\tpush %rbp\n"
    "\tpush %r8\n\tpush %r9\n\tpush %r10\n\tpush %r11\n\tpush %r12\n\tpush %r13\n\tpush %r14\n"
    "\tpush %r15\n"
    "\tmov %rsp, %rdi\n"
    "\tcld\n"
    "\tcall guest_trap_dispatch\n"
    "\ttest %eax, %eax\n"
    "\tjnz 1f\n"
    "\tpop %r15\n\tpop %r14\n\tpop %r13\n\tpop %r12\n\tpop %r11\n\tpop %r10\n\tpop %r9\n"
    "\tpop %r8\n\tpop %rbp\n\tpop %rdi\n\tpop %rsi\n\tpop %rdx\n\tpop %rcx\n\tpop %rbx\n"
    "\tpop %rax\n"
    "\tadd $16, %rsp\n"
    "\tiretq\n"
    "1:\tvmmcall\n"
    "\tud2\n"
    "\t.globl guest_trap_common_end\n"
    "guest_trap_common_end:\n"
    ".popsection");

extern u8 guest_stubs[];

/* runs in the guest: record the event; 0 = return by IRETQ, 1 = end the run by VMMCALL */
int guest_trap_dispatch(struct frame *f);
int guest_trap_dispatch(struct frame *f) {
  u64 v = f->vector;
  if (g_ev.count == 0) g_ev.first_vector = v;
  g_ev.count++;
  g_ev.vector = v;
  g_ev.error = f->error;
  g_ev.rip = f->rip;
  g_ev.cs = f->cs;
  g_ev.rflags = f->rflags;
  g_ev.rsp = f->rsp;
  if (v == PF) g_ev.cr2 = read_cr2();
  if (g_ev_eoi[v / 64] & (1ul << (v % 64))) lapic_eoi();
  return (g_ev_return[v / 64] & (1ul << (v % 64))) ? 0 : 1;
}

static void guest_idt_init(void) {
  for (int v = 0; v < 256; v++) {
    u64 off = (u64)guest_stubs + 16 * (u64)v;
    struct gate *g = &guest_idt[v];
    g->off0 = off & 0xffff;
    g->sel = KCS;
    g->ist = 0;
    g->attr = 0x8e | (3 << 5);   /* present interrupt gate, DPL 3 (INT n from a CPL 3 guest) */
    g->off1 = (off >> 16) & 0xffff;
    g->off2 = off >> 32;
    g->zero = 0;
  }
}

/* ---- nested paging ---- */

void npt_init(void) {
  for (int i = 0; i < 2048; i++) npt_pd[i] = ((u64)i << 21) | PTE_P | PTE_W | PTE_U | PTE_PS;
  for (int i = 0; i < 512; i++) npt_pt[i] = (TEST_BASE + (u64)i * 4096) | PTE_P | PTE_W | PTE_U;
  npt_pd[TEST_BASE >> 21] = pa((const void *)npt_pt) | PTE_P | PTE_W | PTE_U;
  for (int i = 0; i < 4; i++) npt_pdpt[i] = (pa((const void *)npt_pd) + 4096 * (u64)i) | PTE_P | PTE_W | PTE_U;
  for (int i = 4; i < 512; i++) npt_pdpt[i] = 0;
  npt_pml4[0] = pa((const void *)npt_pdpt) | PTE_P | PTE_W | PTE_U;
  for (int i = 1; i < 512; i++) npt_pml4[i] = 0;
}

void vmcb_enable_npt(u8 *v) {
  VMCB64(v, VMCB_NP_ENABLE) = 1;
  VMCB64(v, VMCB_N_CR3) = pa((const void *)npt_pml4);
}
