/*
 * More than one CPU: the MP start-up protocol (INIT, then startup IPIs with the vector of a
 * real-mode start page, APM Vol. 2 16.5), interprocessor interrupts between the BSP and the AP
 * (fixed, NMI, lowest priority; physical and logical destinations, shorthands), and INIT on an
 * AP that runs SVM: the INIT intercept (#VMEXIT 63h), INIT held while GIF = 0 (15.17), and
 * VM_CR.R_INIT (15.28, 15.30.1), which turns INIT into #SX with error code 1.
 *
 * Runs with two CPUs (worldswitch --cpus 2, QEMU -smp 2: test/smp-kernel.test.ts). The AP
 * starts in the trampoline below (copied to TRAMP, real mode), goes straight to long mode on
 * the BSP's page tables, loads its own GDT (with its own TSS: NMI on its own IST stack) and
 * waits for commands in a mailbox. With one CPU every test is skipped.
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

const char kernel_name[] = "smp";

#define TRAMP 0x7000ul          /* the AP's start page: startup vector 7 */
#define SIPI_VECTOR (TRAMP >> 12)
#define APIC_LDR 0xd0
#define APIC_DFR 0xe0
#define ICR_LOWEST (1u << 8)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_LOGICAL (1u << 11)
#define ICR_LEVEL (1u << 15)
#define ICR_ALL_BUT_SELF (3u << 18)
#define VEC_A 0x50
#define VEC_B 0x51
#define VEC_SX 30
#define EXIT_SX (0x40 + VEC_SX)
#define WAIT_LIMIT 2000000

/* ---- the trampoline: real mode at TRAMP, straight into long mode (APM Vol. 2 14.6) ---- */
asm(".pushsection .text\n"
    "\t.code16\n"
    "\t.globl ap_tramp_start, ap_tramp_end, tr_gdt, tr_cr3, tr_cr4, tr_efer, tr_cr0, tr_far\n"
    "ap_tramp_start:\n"
    "\tcli\n"
    "\tmov %cs, %ax\n"
    "\tmov %ax, %ds\n"
    "\tlgdtl tr_gdt - ap_tramp_start\n"
    "\tmovl tr_cr4 - ap_tramp_start, %eax\n"
    "\tmov %eax, %cr4\n"
    "\tmovl tr_cr3 - ap_tramp_start, %eax\n"
    "\tmov %eax, %cr3\n"
    "\tmov $0xc0000080, %ecx\n"
    "\tmovl tr_efer - ap_tramp_start, %eax\n"
    "\txor %edx, %edx\n"
    "\twrmsr\n"
    "\tmovl tr_cr0 - ap_tramp_start, %eax\n"
    "\tmov %eax, %cr0\n"
    "\tljmpl *(tr_far - ap_tramp_start)\n"
    "\t.align 8\n"
    "tr_gdt: .word 0\n\t.long 0\n"
    "\t.align 4\n"
    "tr_cr3: .long 0\n"
    "tr_cr4: .long 0\n"
    "tr_efer: .long 0\n"
    "tr_cr0: .long 0\n"
    "tr_far: .long 0\n\t.word 0\n"
    "ap_tramp_end:\n"
    "\t.code64\n"
    "\t.globl ap_start64\n"
    "ap_start64:\n"
    "\tmov $0x10, %eax\n"
    "\tmov %eax, %ds\n\tmov %eax, %es\n\tmov %eax, %ss\n"
    "\txor %eax, %eax\n"
    "\tmov %eax, %fs\n\tmov %eax, %gs\n"
    "\tmov ap_stack_ptr(%rip), %rsp\n"
    "\tcall ap_main\n"
    "1:\tcli\n\thlt\n\tjmp 1b\n"
    ".popsection");

extern u8 ap_tramp_start[], ap_tramp_end[], tr_gdt[], tr_cr3[], tr_cr4[], tr_efer[], tr_cr0[], tr_far[];
extern u8 ap_start64[];
extern u64 gdt[GDT_ENTRIES];

static u8 ap_stack[16384] __attribute__((aligned(16)));
static u8 ap_nmi_stack[4096] __attribute__((aligned(16)));
u64 ap_stack_ptr;
static u64 ap_gdt[GDT_ENTRIES] __attribute__((aligned(16)));
static struct tss ap_tss __attribute__((aligned(16)));
static struct percpu ap_percpu;
static u8 ap_hsave[4096] __attribute__((aligned(4096)));

/* what the AP reports */
static volatile u32 ap_starts, ap_apic_id, ap_cpuid_id, ap_ldr_at_start;
/* the mailbox: the BSP writes a command, the AP runs it and counts ap_seq */
static volatile u32 ap_cmd, ap_seq;
static volatile u64 ap_res[4];
static volatile u32 guest_running, ap_flag, bsp_flag;
/* interrupts counted per APIC ID (0 BSP, 1 AP) */
static volatile u32 cnt_a[2], cnt_b[2], cnt_nmi[2], cnt_sx;
static volatile u64 sx_error, sx_rip;
static int have_ap = -1;

enum { CMD_PING = 1, CMD_IPI_BSP, CMD_NMI_BSP, CMD_LDR, CMD_TPR, CMD_GUEST_INIT, CMD_GIF_INIT,
       CMD_R_INIT, CMD_R_INIT_GUEST };

static void icr(u32 dest, u32 lo) {
  lapic_write(APIC_ICR_HI, dest << 24);
  lapic_write(APIC_ICR_LO, lo);
  for (int i = 0; i < 100000 && (lapic_read(APIC_ICR_LO) & ICR_PENDING); i++) {
  }
}

static void delay(int n) {
  for (int i = 0; i < n; i++) asm volatile("pause" ::: "memory");
}

static int wait_for(volatile u32 *p, u32 want) {
  for (int i = 0; i < WAIT_LIMIT; i++) {
    if (*p == want) return 1;
    asm volatile("pause" ::: "memory");
  }
  return *p == want;
}

static u32 me(void) { return lapic_id() & 1; }

static void on_a(struct frame *f) { (void)f; cnt_a[me()]++; lapic_eoi(); }
static void on_b(struct frame *f) { (void)f; cnt_b[me()]++; lapic_eoi(); }
static void on_nmi(struct frame *f) { (void)f; cnt_nmi[me()]++; }
static void on_sx(struct frame *f) { cnt_sx++; sx_error = f->error; sx_rip = f->rip; }

/* ---- the AP ---- */

static u64 guest_spin(u64 a) {
  (void)a;
  guest_running = 1;
  for (;;) asm volatile("pause" ::: "memory");
  return 0;
}

/* a guest that spins until an INIT (or its #SX) ends it; intercept bits as given */
static u64 run_spinning_guest(u32 misc1, u32 excp) {
  svm_enable();
  wrmsr(MSR_VM_HSAVE_PA, pa(ap_hsave));  /* the AP's own host save area */
  vmcb_init(vmcb, (u64)guest_call_entry);
  VMCB32(vmcb, VMCB_ICPT_MISC1) |= misc1;
  VMCB32(vmcb, VMCB_ICPT_EXC) |= excp;
  memset(&greg, 0, sizeof(greg));
  greg.rbx = (u64)guest_spin;
  return svm_run(vmcb);
}

static void ap_command(u32 c) {
  switch (c) {
  case CMD_PING:
    break;
  case CMD_IPI_BSP:
    icr(0, ICR_ASSERT | ICR_FIXED | VEC_B);
    break;
  case CMD_NMI_BSP:
    icr(0, ICR_ASSERT | ICR_NMI);
    break;
  case CMD_LDR:
    lapic_write(APIC_DFR, 0xffffffff);
    lapic_write(APIC_LDR, (u32)ap_res[0] << 24);
    break;
  case CMD_TPR:
    lapic_write(APIC_TPR, (u32)ap_res[0]);
    break;
  case CMD_GUEST_INIT:
    ap_res[0] = run_spinning_guest(I1_INIT, 0);
    ap_res[1] = VMCB64(vmcb, VMCB_EXITINFO1);
    break;
  case CMD_GIF_INIT: {
    /* GIF = 0 holds INIT pending (APM Vol. 2 15.17): the AP runs on, then enters a guest
     * that intercepts INIT, where GIF = 1 lets the INIT in as a #VMEXIT */
    svm_enable();
    clgi();
    ap_flag = 1;
    while (!bsp_flag) asm volatile("pause" ::: "memory");
    delay(20000);
    ap_res[1] = 1;  /* still running after the INIT was sent */
    ap_res[0] = run_spinning_guest(I1_INIT, 0);
    break;
  }
  case CMD_R_INIT:
    cnt_sx = 0;
    sx_error = ~0ul;
    wrmsr(MSR_VM_CR, rdmsr(MSR_VM_CR) | VM_CR_R_INIT);
    ap_flag = 1;
    for (int i = 0; i < WAIT_LIMIT && !cnt_sx; i++) asm volatile("pause" ::: "memory");
    wrmsr(MSR_VM_CR, rdmsr(MSR_VM_CR) & ~(u64)VM_CR_R_INIT);
    ap_res[0] = cnt_sx;
    ap_res[1] = sx_error;
    break;
  case CMD_R_INIT_GUEST:
    wrmsr(MSR_VM_CR, rdmsr(MSR_VM_CR) | VM_CR_R_INIT);
    ap_res[0] = run_spinning_guest(0, 1u << VEC_SX);
    ap_res[1] = VMCB64(vmcb, VMCB_EXITINFO1);
    wrmsr(MSR_VM_CR, rdmsr(MSR_VM_CR) & ~(u64)VM_CR_R_INIT);
    break;
  }
}

void ap_main(void);
void ap_main(void) {
  /* its own GDT (a copy) with its own TSS: the BSP's TSS descriptor is busy */
  memcpy(ap_gdt, gdt, sizeof(ap_gdt));
  u64 base = (u64)&ap_tss, limit = sizeof(ap_tss) - 1;
  ap_gdt[TSS_SEL / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ul << 40) |
                        (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
  ap_gdt[TSS_SEL / 8 + 1] = base >> 32;
  memset(&ap_tss, 0, sizeof(ap_tss));
  ap_tss.rsp0 = (u64)ap_stack + sizeof(ap_stack);
  ap_tss.ist[0] = (u64)ap_nmi_stack + sizeof(ap_nmi_stack);
  ap_tss.iopb = sizeof(ap_tss);
  struct dtr g = { sizeof(ap_gdt) - 1, (u64)ap_gdt };
  asm volatile("lgdt %0" :: "m"(g));
  asm volatile("ltr %w0" :: "r"(TSS_SEL));
  struct dtr i = { sizeof(idt) - 1, (u64)idt };
  asm volatile("lidt %0" :: "m"(i));
  ap_percpu.self = (u64)&ap_percpu;
  wrmsr(MSR_GS_BASE, (u64)&ap_percpu);
  ap_ldr_at_start = lapic_read(APIC_LDR);
  lapic_enable();
  ap_apic_id = lapic_id();
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  ap_cpuid_id = b >> 24;
  ap_cmd = 0;
  ap_starts++;
  sti();
  for (;;) {
    u32 cmd = ap_cmd;
    if (cmd) {
      ap_cmd = 0;
      ap_command(cmd);
      ap_seq++;
    }
    asm volatile("pause" ::: "memory");
  }
}

/* ---- the BSP's side ---- */

static void write_trampoline(void) {
  memcpy((void *)TRAMP, ap_tramp_start, ap_tramp_end - ap_tramp_start);
  struct dtr g;
  sgdt(&g);
#define TR(sym) ((u8 *)TRAMP + (sym - ap_tramp_start))
  *(u16 *)TR(tr_gdt) = g.limit;
  *(u32 *)(TR(tr_gdt) + 2) = (u32)g.base;
  *(u32 *)TR(tr_cr3) = (u32)read_cr3();
  *(u32 *)TR(tr_cr4) = (u32)read_cr4();
  *(u32 *)TR(tr_efer) = (u32)((rdmsr(MSR_EFER) & ~(EFER_LMA | EFER_SVME)) | EFER_LME);
  *(u32 *)TR(tr_cr0) = (u32)read_cr0();
  *(u32 *)TR(tr_far) = (u32)(u64)ap_start64;
  *(u16 *)(TR(tr_far) + 4) = KCS;
#undef TR
  ap_stack_ptr = (u64)ap_stack + sizeof(ap_stack);
}

/* INIT (assert, then de-assert), then two startup IPIs, as the MP protocol has it */
static int start_ap(void) {
  u32 before = ap_starts;
  write_trampoline();
  icr(1, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
  icr(1, ICR_INIT | ICR_LEVEL);
  delay(10000);
  icr(1, ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
  delay(2000);
  if (ap_starts == before) icr(1, ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
  return wait_for(&ap_starts, before + 1);
}

/* run a command on the AP and wait for it to finish */
static int ap_call(u32 c) {
  u32 s = ap_seq;
  ap_cmd = c;
  return wait_for(&ap_seq, s + 1);
}

static int ap_ready(void) {
  if (have_ap == 0) {
    t_skip("one CPU (the AP did not start)");
    return 0;
  }
  if (!ap_call(CMD_PING)) {
    /* it stopped answering (an INIT a machine did not redirect): start it again */
    if (!start_ap() || !ap_call(CMD_PING)) {
      t_fail("the AP does not answer");
      return 0;
    }
  }
  return 1;
}

void kernel_setup(void) {
  svm_detect();
  lapic_enable();
  set_trap_handler(VEC_A, on_a);
  set_trap_handler(VEC_B, on_b);
  set_trap_handler(NMI, on_nmi);
  set_trap_handler(VEC_SX, on_sx);
  have_ap = start_ap();
  printf("smp: %s\n", have_ap ? "AP 1 started" : "no AP");
}

void test_setup(void) {
  set_trap_handler(VEC_A, on_a);
  set_trap_handler(VEC_B, on_b);
  set_trap_handler(NMI, on_nmi);
  set_trap_handler(VEC_SX, on_sx);
  for (int i = 0; i < 2; i++) cnt_a[i] = cnt_b[i] = cnt_nmi[i] = 0;
  ap_flag = bsp_flag = 0;
}

/* ---- tests ---- */

static void ap_startup(void) {
  if (!ap_ready()) return;
  CHECK_EQ(ap_apic_id, 1);
  CHECK_EQ(ap_cpuid_id, 1);
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  CHECK_EQ(b >> 24, 0);
  CHECK(d & (1u << 28), "CPUID 1 EDX.HTT clear with two CPUs");
  CHECK(((b >> 16) & 0xff) >= 2, "CPUID 1 EBX[23:16] = %u logical processors", (b >> 16) & 0xff);
}

static void ipi_fixed_to_ap(void) {
  if (!ap_ready()) return;
  icr(1, ICR_ASSERT | ICR_FIXED | VEC_A);
  CHECK(wait_for(&cnt_a[1], 1), "the AP did not take the IPI");
  CHECK_EQ(cnt_a[0], 0);
}

static void ipi_fixed_to_bsp(void) {
  if (!ap_ready()) return;
  sti();
  ap_call(CMD_IPI_BSP);
  int ok = wait_for(&cnt_b[0], 1);
  cli();
  CHECK(ok, "the BSP did not take the AP's IPI");
  CHECK_EQ(cnt_b[1], 0);
}

static void ipi_nmi_to_ap(void) {
  if (!ap_ready()) return;
  icr(1, ICR_ASSERT | ICR_NMI);
  CHECK(wait_for(&cnt_nmi[1], 1), "the AP did not take the NMI");
  CHECK_EQ(cnt_nmi[0], 0);
}

static void ipi_nmi_to_bsp(void) {
  if (!ap_ready()) return;
  /* an NMI is taken with IF = 0 */
  ap_call(CMD_NMI_BSP);
  CHECK(wait_for(&cnt_nmi[0], 1), "the BSP did not take the AP's NMI");
  CHECK_EQ(cnt_nmi[1], 0);
}

static void ipi_all_but_self(void) {
  if (!ap_ready()) return;
  sti();
  icr(0, ICR_ASSERT | ICR_FIXED | ICR_ALL_BUT_SELF | VEC_A);
  int ok = wait_for(&cnt_a[1], 1);
  delay(5000);
  cli();
  CHECK(ok, "the AP did not take the broadcast");
  CHECK_EQ(cnt_a[0], 0);
}

static void ipi_logical_flat(void) {
  if (!ap_ready()) return;
  lapic_write(APIC_DFR, 0xffffffff);
  lapic_write(APIC_LDR, 1u << 24);
  ap_res[0] = 2;
  ap_call(CMD_LDR);
  sti();
  icr(2, ICR_ASSERT | ICR_FIXED | ICR_LOGICAL | VEC_A);
  int ok1 = wait_for(&cnt_a[1], 1);
  delay(5000);
  u32 bsp1 = cnt_a[0];
  icr(3, ICR_ASSERT | ICR_FIXED | ICR_LOGICAL | VEC_B);
  int ok2 = wait_for(&cnt_b[1], 1) && wait_for(&cnt_b[0], 1);
  cli();
  CHECK(ok1, "logical destination 2: the AP did not take it");
  CHECK_EQ(bsp1, 0);
  CHECK(ok2, "logical destination 3: cnt_b = {%u, %u}", cnt_b[0], cnt_b[1]);
  lapic_write(APIC_LDR, 0);
}

/* lowest priority to both: exactly one of them takes it */
static void ipi_lowest_priority(void) {
  if (!ap_ready()) return;
  lapic_write(APIC_DFR, 0xffffffff);
  lapic_write(APIC_LDR, 1u << 24);
  ap_res[0] = 2;
  ap_call(CMD_LDR);
  sti();
  icr(3, ICR_ASSERT | ICR_LOWEST | ICR_LOGICAL | VEC_A);
  for (int i = 0; i < WAIT_LIMIT && cnt_a[0] + cnt_a[1] == 0; i++) asm volatile("pause");
  delay(5000);
  cli();
  CHECK(cnt_a[0] + cnt_a[1] == 1, "taken %u times by the BSP, %u by the AP", cnt_a[0], cnt_a[1]);
  lapic_write(APIC_LDR, 0);
}

static void init_intercept(void) {
  if (!ap_ready()) return;
  if (!svm_begin(0)) return;
  u32 s = ap_seq;
  guest_running = 0;
  ap_cmd = CMD_GUEST_INIT;
  if (!wait_for(&guest_running, 1)) { t_fail("the AP's guest did not run"); return; }
  icr(1, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
  icr(1, ICR_INIT | ICR_LEVEL);
  int ok = wait_for(&ap_seq, s + 1);
  CHECK(ok, "no #VMEXIT on the AP");
  if (ok) CHECK_EQ(ap_res[0], EXIT_INIT);
}

static void init_held_by_gif(void) {
  if (!ap_ready()) return;
  if (!svm_begin(0)) return;
  u32 s = ap_seq;
  ap_res[0] = ap_res[1] = 0;
  guest_running = 0;
  ap_cmd = CMD_GIF_INIT;
  if (!wait_for(&ap_flag, 1)) { t_fail("the AP did not clear GIF"); return; }
  icr(1, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
  icr(1, ICR_INIT | ICR_LEVEL);
  bsp_flag = 1;
  int ok = wait_for(&ap_seq, s + 1);
  CHECK(ok, "the AP did not come back");
  if (ok) {
    CHECK_EQ(ap_res[1], 1);
    CHECK_EQ(ap_res[0], EXIT_INIT);
    /* the held INIT is taken at the guest's first instruction boundary, before its code runs */
    CHECK_EQ(guest_running, 0);
  }
}

static void r_init_sx(void) {
  if (!ap_ready()) return;
  if (!svm_begin(0)) return;
  u32 s = ap_seq;
  ap_cmd = CMD_R_INIT;
  if (!wait_for(&ap_flag, 1)) { t_fail("the AP did not set R_INIT"); return; }
  icr(1, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
  icr(1, ICR_INIT | ICR_LEVEL);
  int ok = wait_for(&ap_seq, s + 1);
  CHECK(ok, "the AP did not come back (INIT not redirected)");
  if (ok) {
    CHECK_EQ(ap_res[0], 1);
    CHECK_EQ(ap_res[1], 1);
  }
}

static void r_init_guest_sx_intercept(void) {
  if (!ap_ready()) return;
  if (!svm_begin(0)) return;
  u32 s = ap_seq;
  guest_running = 0;
  ap_cmd = CMD_R_INIT_GUEST;
  if (!wait_for(&guest_running, 1)) { t_fail("the AP's guest did not run"); return; }
  icr(1, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
  icr(1, ICR_INIT | ICR_LEVEL);
  int ok = wait_for(&ap_seq, s + 1);
  CHECK(ok, "no #VMEXIT on the AP");
  if (ok) {
    CHECK_EQ(ap_res[0], EXIT_SX);
    CHECK_EQ(ap_res[1], 1);
  }
}

/* a startup IPI to a CPU that is not waiting for one is ignored */
static void sipi_ignored_while_running(void) {
  if (!ap_ready()) return;
  u32 starts = ap_starts;
  icr(1, ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
  delay(20000);
  CHECK_EQ(ap_starts, starts);
  CHECK(ap_call(CMD_PING), "the AP stopped answering");
}

/* INIT without intercept or R_INIT: the AP is initialised (its APIC too) and waits for a
 * startup IPI */
static void init_restarts_ap(void) {
  if (!ap_ready()) return;
  ap_res[0] = 4;
  ap_call(CMD_LDR);
  u32 starts = ap_starts;
  icr(1, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
  icr(1, ICR_INIT | ICR_LEVEL);
  delay(20000);
  CHECK(!ap_call(CMD_PING), "the AP answers after INIT");
  CHECK_EQ(ap_starts, starts);
  icr(1, ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
  CHECK(wait_for(&ap_starts, starts + 1), "no restart after the startup IPI");
  CHECK_EQ(ap_ldr_at_start, 0);
  CHECK(ap_call(CMD_PING), "the AP does not answer after its restart");
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(ap_startup), T(ipi_fixed_to_ap), T(ipi_fixed_to_bsp), T(ipi_nmi_to_ap), T(ipi_nmi_to_bsp),
  T(ipi_all_but_self), T(ipi_logical_flat), T(ipi_lowest_priority), T(init_intercept),
  T(init_held_by_gif), T(r_init_sx), T(r_init_guest_sx_intercept), T(sipi_ignored_while_running),
  T(init_restarts_ap),
};
const int ntests = ARRAY_SIZE(tests);
