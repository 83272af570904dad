/*
 * SVM basics: enabling and the #UD/#GP rules of the SVM instructions, VM_HSAVE_PA and VM_CR
 * (APM Vol. 2 15.4, 15.30; Vol. 3 VMRUN, VMLOAD, VMSAVE, CLGI, STGI, INVLPGA, VMMCALL), the
 * VMLOAD/VMSAVE state set (Vol. 2 15.5.2), and a VMRUN/#VMEXIT round trip: what VMRUN loads,
 * what #VMEXIT writes back and what it restores (15.5.1, 15.6).
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

const char kernel_name[] = "svm_basic";

void kernel_setup(void) {
  svm_detect();
  svm_print_features();
}

GUEST_INSN(g_vmmcall, "", "vmmcall");

/* ---- the instructions, for catch_run / catch_user ---- */
static void do_vmrun(void *a) { asm volatile("vmrun %%rax" :: "a"(a) : "memory"); }
static void do_vmload(void *a) { asm volatile("vmload %%rax" :: "a"(a) : "memory"); }
static void do_vmsave(void *a) { asm volatile("vmsave %%rax" :: "a"(a) : "memory"); }
static void do_clgi(void *a) { (void)a; asm volatile("clgi" ::: "memory"); }
static void do_stgi(void *a) { (void)a; asm volatile("stgi" ::: "memory"); }
static void do_invlpga(void *a) { asm volatile("invlpga %%rax, %%ecx" :: "a"(a), "c"(1) : "memory"); }
static void do_vmmcall(void *a) { (void)a; asm volatile("vmmcall" ::: "memory"); }
static long u_vmrun(long a) { asm volatile("vmrun %%rax" :: "a"(a) : "memory"); return 0; }
static long u_vmload(long a) { asm volatile("vmload %%rax" :: "a"(a) : "memory"); return 0; }
static long u_vmsave(long a) { asm volatile("vmsave %%rax" :: "a"(a) : "memory"); return 0; }
static long u_clgi(long a) { (void)a; asm volatile("clgi" ::: "memory"); return 0; }
static long u_stgi(long a) { (void)a; asm volatile("stgi" ::: "memory"); return 0; }
static long u_invlpga(long a) { asm volatile("invlpga %%rax, %%ecx" :: "a"(a), "c"(1) : "memory"); return 0; }
static long u_vmmcall(long a) { (void)a; asm volatile("vmmcall" ::: "memory"); return 0; }

struct msrop { u32 msr; u64 v; };
static void do_wrmsr(void *p) { struct msrop *m = p; wrmsr(m->msr, m->v); }
static void do_rdmsr(void *p) { struct msrop *m = p; m->v = rdmsr(m->msr); }
static long try_wrmsr(u32 msr, u64 v) { struct msrop m = { msr, v }; return catch_run(do_wrmsr, &m); }

/* a guest that only executes VMMCALL, in case an instruction that should fault runs a guest */
static void prepare_harmless_guest(void) {
  vmcb_init(vmcb, (u64)g_vmmcall);
  vmsave(pa(save_page));
}

/* ---- enabling ---- */

static void svm_cpuid(void) {
  if (!svm_need(0)) return;
  CHECK(svmf.nasid >= 2, "CPUID 8000_000A EBX (ASIDs) = %u", svmf.nasid);
}

/* APM Vol. 3, each instruction's exceptions: #UD when EFER.SVME = 0 (STGI is also legal when
 * CPUID SKINIT is set); VMMCALL is #UD whenever it is not intercepted (Vol. 2 15.5) */
static void ud_without_svme(void) {
  if (!svm_need(0)) return;
  svm_enable();
  prepare_harmless_guest();
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);
  expect_fault("VMRUN", catch_run(do_vmrun, vmcb), UD, -1);
  expect_fault("VMLOAD", catch_run(do_vmload, save_page), UD, -1);
  expect_fault("VMSAVE", catch_run(do_vmsave, scratch_page), UD, -1);
  expect_fault("CLGI", catch_run(do_clgi, NULL), UD, -1);
  if (!svmf.skinit) expect_fault("STGI", catch_run(do_stgi, NULL), UD, -1);
  expect_fault("INVLPGA", catch_run(do_invlpga, NULL), UD, -1);
  expect_fault("VMMCALL", catch_run(do_vmmcall, NULL), UD, -1);
}

/* #GP(0) at CPL > 0, checked after #UD (APM Vol. 3); VMMCALL has no CPL check */
static void gp_at_cpl3(void) {
  if (!svm_begin(0)) return;
  prepare_harmless_guest();
  expect_fault("VMRUN", catch_user(u_vmrun, pa(vmcb), NULL), GP, 0);
  expect_fault("VMLOAD", catch_user(u_vmload, pa(save_page), NULL), GP, 0);
  expect_fault("VMSAVE", catch_user(u_vmsave, pa(scratch_page), NULL), GP, 0);
  expect_fault("CLGI", catch_user(u_clgi, 0, NULL), GP, 0);
  expect_fault("STGI", catch_user(u_stgi, 0, NULL), GP, 0);
  expect_fault("INVLPGA", catch_user(u_invlpga, 0, NULL), GP, 0);
  expect_fault("VMMCALL at CPL 3", catch_user(u_vmmcall, 0, NULL), UD, -1);
  expect_fault("VMMCALL at CPL 0", catch_run(do_vmmcall, NULL), UD, -1);
  expect_fault("INVLPGA at CPL 0", catch_run(do_invlpga, NULL), -1, 0);
  expect_fault("CLGI at CPL 0", catch_run(do_clgi, NULL), -1, 0);
  expect_fault("STGI at CPL 0", catch_run(do_stgi, NULL), -1, 0);
}

/* APM Vol. 2 15.30.4: VM_HSAVE_PA bits 11:0 and bits at or above MAXPHYADDR are reserved; a
 * WRMSR setting them is #GP(0) */
static void hsave_pa_reserved_bits_gp(void) {
  if (!svm_need(0)) return;
  wrmsr(MSR_VM_HSAVE_PA, pa(hsave));
  expect_fault("VM_HSAVE_PA = hsave + 0x10", try_wrmsr(MSR_VM_HSAVE_PA, pa(hsave) + 0x10), GP, 0);
  expect_fault("VM_HSAVE_PA = hsave | 1", try_wrmsr(MSR_VM_HSAVE_PA, pa(hsave) | 1), GP, 0);
  expect_fault("VM_HSAVE_PA = 2^MAXPHYADDR", try_wrmsr(MSR_VM_HSAVE_PA, 1ul << max_phys_bits()), GP, 0);
  CHECK_EQ(rdmsr(MSR_VM_HSAVE_PA), pa(hsave));
  expect_fault("VM_HSAVE_PA = scratch_page", try_wrmsr(MSR_VM_HSAVE_PA, pa(scratch_page)), -1, 0);
  CHECK_EQ(rdmsr(MSR_VM_HSAVE_PA), pa(scratch_page));
  wrmsr(MSR_VM_HSAVE_PA, pa(hsave));
}

/* APM Vol. 2 15.5.1: the VMCB is 4-Kbyte aligned; VMRUN/VMLOAD/VMSAVE raise #GP(0) for an
 * rAX that is not (QEMU and Bochs check it; KVM's SVM-instruction #GP workaround relies on
 * hardware doing so) */
static void rax_unaligned_gp(void) {
  if (!svm_begin(0)) return;
  prepare_harmless_guest();
  expect_fault("VMRUN vmcb + 0x10", catch_run(do_vmrun, vmcb + 0x10), GP, 0);
  expect_fault("VMLOAD save_page + 0x10", catch_run(do_vmload, save_page + 0x10), GP, 0);
  vmload(pa(save_page));
  expect_fault("VMSAVE scratch_page + 0x10", catch_run(do_vmsave, scratch_page + 0x10), GP, 0);
}

/* APM Vol. 3 VMRUN/VMLOAD/VMSAVE: #GP(0) when rAX is at or above MAXPHYADDR */
static void rax_beyond_maxphyaddr_gp(void) {
  if (!svm_begin(0)) return;
  prepare_harmless_guest();
  void *far = (void *)(1ul << max_phys_bits());
  expect_fault("VMRUN 2^MAXPHYADDR", catch_run(do_vmrun, far), GP, 0);
  expect_fault("VMLOAD 2^MAXPHYADDR", catch_run(do_vmload, far), GP, 0);
  vmload(pa(save_page));
  expect_fault("VMSAVE 2^MAXPHYADDR", catch_run(do_vmsave, far), GP, 0);
}

/* APM Vol. 2 15.30.1: with VM_CR.SVMDIS = 1 EFER.SVME is MBZ; setting SVMDIS while
 * EFER.SVME = 1 is #GP(0) */
static void vm_cr_svmdis(void) {
  if (!svm_need(0)) return;
  struct msrop m = { MSR_VM_CR, 0 };
  long r = catch_run(do_rdmsr, &m);
  if (r >= 0) {
    t_fail("RDMSR VM_CR (C001_0114): %s", vector_name(r));
    return;
  }
  u64 vmcr = m.v;
  if (vmcr & (VM_CR_LOCK | VM_CR_SVMDIS)) {
    t_skip("VM_CR.LOCK or SVMDIS already set");
    return;
  }
  u64 efer = rdmsr(MSR_EFER) & ~EFER_SVME;
  wrmsr(MSR_EFER, efer);
  expect_fault("VM_CR.SVMDIS = 1 with SVME = 0", try_wrmsr(MSR_VM_CR, vmcr | VM_CR_SVMDIS), -1, 0);
  CHECK(rdmsr(MSR_VM_CR) & VM_CR_SVMDIS, "SVMDIS did not stick");
  expect_fault("EFER.SVME = 1 with SVMDIS", try_wrmsr(MSR_EFER, efer | EFER_SVME), GP, 0);
  CHECK(!(rdmsr(MSR_EFER) & EFER_SVME), "EFER.SVME set");
  wrmsr(MSR_VM_CR, vmcr);
  expect_fault("EFER.SVME = 1 without SVMDIS", try_wrmsr(MSR_EFER, efer | EFER_SVME), -1, 0);
  expect_fault("VM_CR.SVMDIS = 1 with SVME = 1", try_wrmsr(MSR_VM_CR, vmcr | VM_CR_SVMDIS), GP, 0);
  CHECK(!(rdmsr(MSR_VM_CR) & VM_CR_SVMDIS), "SVMDIS set while SVME = 1");
  wrmsr(MSR_EFER, efer);
  wrmsr(MSR_VM_CR, vmcr);
}

/* ---- VMRUN and #VMEXIT (APM Vol. 2 15.5.1, 15.6) ---- */

GUEST_INSN(g_state, "pushq $0x8d7\n\tpopfq\n\tmovabs $0x1122334455667788, %rax\n\tlea -64(%rsp), %rsp", "vmmcall");

/* the guest's RIP, RSP, RAX and RFLAGS are written back at #VMEXIT; RIP is that of the
 * intercepted VMMCALL */
static void vmexit_saves_guest_state(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_state);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_VMMCALL, g_state_insn, g_state_end)) return;
  CHECK_EQ(VMCB64(vmcb, VMCB_RAX), 0x1122334455667788ul);
  CHECK_EQ(VMCB64(vmcb, VMCB_RSP), GUEST_STACK_TOP - 64);
  CHECK_EQ(VMCB64(vmcb, VMCB_RFLAGS), 0x8d7);
  CHECK_EQ(VMCB8(vmcb, VMCB_CPL), 0);
  CHECK_EQ(VMCB16(vmcb, VMCB_CS + SEG_SEL), KCS);
}

GUEST_INSN(g_gprs, "add %rbx, %rcx\n\tnot %rdx\n\tmov %r8, %r15\n\tinc %rbp\n\txor %rsi, %rdi\n\tneg %r9", "vmmcall");

/* VMRUN and #VMEXIT leave the other general registers alone: the guest starts with the host's
 * and the host gets the guest's back */
static void gprs_pass_through(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_gprs);
  greg = (struct gregs){ .rbx = 1, .rcx = 2, .rdx = 3, .rsi = 0x10, .rdi = 0x11, .rbp = 7, .r8 = 0x88,
                         .r9 = 9, .r10 = 10, .r11 = 11, .r12 = 12, .r13 = 13, .r14 = 14, .r15 = 0 };
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(greg.rbx, 1);
  CHECK_EQ(greg.rcx, 3);
  CHECK_EQ(greg.rdx, ~3ul);
  CHECK_EQ(greg.rsi, 0x10);
  CHECK_EQ(greg.rdi, 0x01);
  CHECK_EQ(greg.rbp, 8);
  CHECK_EQ(greg.r8, 0x88);
  CHECK_EQ(greg.r9, (u64)-9);
  CHECK_EQ(greg.r10, 10);
  CHECK_EQ(greg.r11, 11);
  CHECK_EQ(greg.r12, 12);
  CHECK_EQ(greg.r13, 13);
  CHECK_EQ(greg.r14, 14);
  CHECK_EQ(greg.r15, 0x88);
}

static struct dtr alt_idtr, alt_gdtr;
GUEST_INSN(g_clobber,
           "lidt (%rbx)\n\tlgdt (%rcx)\n\tmov %cr4, %rax\n\txor $4, %rax\n\tmov %rax, %cr4\n\t"
           "xor %eax, %eax\n\tmov %eax, %ds\n\tmov %eax, %es\n\tmov $0x55, %eax\n\tmov $0x8000, %rsp\n\t"
           "pushq $0x202\n\tpopfq",
           "vmmcall");

/* #VMEXIT reloads the host state VMRUN saved: RSP, RAX, RFLAGS, CS/SS/DS/ES, CR0/CR3/CR4,
 * EFER, GDTR, IDTR, at CPL 0; the guest changed all of them */
static void vmexit_restores_host_state(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_clobber);
  struct dtr g0, i0, g1, i1;
  sgdt(&g0);
  sidt(&i0);
  alt_idtr = (struct dtr){ 0x7ff, (u64)guest_idt };
  alt_gdtr = (struct dtr){ 0x2f, g0.base };
  greg.rbx = (u64)&alt_idtr;
  greg.rcx = (u64)&alt_gdtr;
  u64 cr0 = read_cr0(), cr3 = read_cr3(), cr4 = read_cr4(), efer = rdmsr(MSR_EFER);
  host_rflags_at_vmrun = 0x8d7;
  clgi();
  u64 rax = svm_vmrun_regs(pa(vmcb), &greg);
  stgi();
  sgdt(&g1);
  sidt(&i1);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(rax, pa(vmcb));
  CHECK_EQ(hprobe.rsp_after, hprobe.rsp_before);
  CHECK_EQ(hprobe.rflags_before, 0x8d7);
  CHECK_EQ(hprobe.rflags_after, 0x8d7);
  CHECK_EQ(hprobe.cs, KCS);
  CHECK_EQ(hprobe.ss, KDS);
  CHECK_EQ(hprobe.ds, KDS);
  CHECK_EQ(hprobe.es, KDS);
  CHECK_EQ(read_cr0(), cr0);
  CHECK_EQ(read_cr3(), cr3);
  CHECK_EQ(read_cr4(), cr4);
  CHECK_EQ(rdmsr(MSR_EFER), efer);
  CHECK(g1.base == g0.base && g1.limit == g0.limit, "GDTR %#lx/%#x, want %#lx/%#x", g1.base, g1.limit, g0.base, g0.limit);
  CHECK(i1.base == i0.base && i1.limit == i0.limit, "IDTR %#lx/%#x, want %#lx/%#x", i1.base, i1.limit, i0.base, i0.limit);
  /* and the guest's versions went to the VMCB */
  CHECK_EQ(VMCB64(vmcb, VMCB_RSP), 0x8000);
  CHECK_EQ(VMCB64(vmcb, VMCB_RAX), 0x55);
  CHECK_EQ(VMCB64(vmcb, VMCB_RFLAGS), 0x202);
  CHECK_EQ(VMCB64(vmcb, VMCB_CR4), cr4 ^ 4);
  CHECK_EQ(VMCB32(vmcb, VMCB_IDTR + SEG_LIMIT), 0x7ff);
  CHECK_EQ(VMCB32(vmcb, VMCB_GDTR + SEG_LIMIT), 0x2f);
  CHECK_EQ(VMCB16(vmcb, VMCB_DS + SEG_SEL), 0);
}

/* a CPL 3 guest: VMMCALL has no CPL check; the VMCB records CPL 3; the host is back at CPL 0 */
static void vmexit_from_cpl3_guest(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_vmmcall);
  vmcb_set_cpl3(vmcb);
  svm_run(vmcb);
  if (!expect_exit_at(vmcb, EXIT_VMMCALL, g_vmmcall_insn, g_vmmcall_end)) return;
  CHECK_EQ(VMCB8(vmcb, VMCB_CPL), 3);
  CHECK_EQ(VMCB16(vmcb, VMCB_CS + SEG_SEL), UCS | 3);
  CHECK_EQ(hprobe.cs, KCS);
  CHECK_EQ(hprobe.ss, KDS);
}

GUEST_INSN(g_segs, "mov $0x23, %eax\n\tmov %eax, %es\n\tmov $0x60, %eax\n\tmov %eax, %ds", "vmmcall");

/* #VMEXIT saves ES/DS with their hidden parts (DS.base of SEL_DATA_BASE is 0x500000) */
static void vmexit_saves_segments(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_segs);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  check_vmcb_seg("ES", vmcb, VMCB_ES, UDS | 3, 0x0cf3, 0xffffffff, 0);
  check_vmcb_seg("DS", vmcb, VMCB_DS, SEL_DATA_BASE, 0x0c93, 0xffffffff, DATA_SEG_BASE);
}

/* VMRUN loads ES from the VMCB, hidden part included, without reading the GDT; #VMEXIT
 * writes it back unchanged */
static void vmrun_loads_hidden_segment(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_vmmcall);
  vmcb_seg(vmcb, VMCB_ES, KDS, 0x0493, 0x1234, 0xabc000);
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  check_vmcb_seg("ES", vmcb, VMCB_ES, KDS, 0x0493, 0x1234, 0xabc000);
}

GUEST_INSN(g_cr2, "mov %cr2, %rax\n\tmov %rbx, %cr2", "vmmcall");

/* CR2 is guest state: loaded by VMRUN and saved by #VMEXIT */
static void vmrun_cr2(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_cr2);
  VMCB64(vmcb, VMCB_CR2) = 0x1234000;
  greg.rbx = 0x5678000;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(VMCB64(vmcb, VMCB_RAX), 0x1234000);
  CHECK_EQ(VMCB64(vmcb, VMCB_CR2), 0x5678000);
}

GUEST_INSN(g_dr, "mov %dr7, %rax\n\tmov %dr6, %rbx\n\tmov $0x600, %ecx\n\tmov %rcx, %dr7\n\t"
                 "mov $0xffff4ff0, %ecx\n\tmov %rcx, %dr6", "vmmcall");

/* DR6 and DR7 are guest state too */
static void vmrun_dr6_dr7(void) {
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_dr);
  VMCB64(vmcb, VMCB_DR7) = 0x700;
  VMCB64(vmcb, VMCB_DR6) = 0xffff0ff1;
  svm_run(vmcb);
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  CHECK_EQ(VMCB64(vmcb, VMCB_RAX), 0x700);
  CHECK_EQ(greg.rbx, 0xffff0ff1);
  CHECK_EQ(VMCB64(vmcb, VMCB_DR7), 0x600);
  CHECK_EQ(VMCB64(vmcb, VMCB_DR6), 0xffff4ff0);
}

GUEST_INSN(g_rdtsc, "", "rdtsc\n\tshl $32, %rdx\n\tor %rdx, %rax");
GUEST_INSN(g_rdtscp, "", "rdtscp\n\tshl $32, %rdx\n\tor %rdx, %rax\n\tmov %rcx, %rbx");

/* TSC_OFFSET is added to what the guest reads (APM Vol. 2, Appendix B: TSC_OFFSET), and only in the guest */
static void tsc_offset(void) {
  if (!svm_begin(0)) return;
  const u64 offs[2] = { 1ul << 62, 0 };
  for (int k = 0; k < 2; k++) {
    vmcb_init(vmcb, (u64)g_rdtsc);
    u64 t0 = rdtsc();
    u64 off = k == 0 ? offs[0] : (u64)-(i64)t0;   /* a negative offset: the guest sees ~0 */
    VMCB64(vmcb, VMCB_TSC_OFFSET) = off;
    svm_run(vmcb);
    u64 t1 = rdtsc();
    if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
    u64 g = VMCB64(vmcb, VMCB_RAX);
    CHECK(g - (t0 + off) <= t1 - t0, "offset %#lx: guest TSC %#lx, host %#lx..%#lx", off, g, t0, t1);
    CHECK(t1 < offs[0], "host TSC %#lx carries the offset", t1);
  }
  u32 a, b, c, d;
  cpuid(0x80000001, 0, &a, &b, &c, &d);
  if (!(d & (1u << 27))) return;  /* no RDTSCP */
  vmcb_init(vmcb, (u64)g_rdtscp);
  VMCB64(vmcb, VMCB_TSC_OFFSET) = offs[0];
  u64 t0 = rdtsc();
  svm_run(vmcb);
  u64 t1 = rdtsc();
  if (!expect_exit(vmcb, EXIT_VMMCALL)) return;
  u64 g = VMCB64(vmcb, VMCB_RAX);
  CHECK(g - (t0 + offs[0]) <= t1 - t0, "RDTSCP: guest TSC %#lx, host %#lx..%#lx", g, t0, t1);
  CHECK_EQ(greg.rbx, rdmsr(MSR_TSC_AUX) & 0xffffffff);
}

/* last: APM Vol. 2 15.30.1: once VM_CR.LOCK is set, writes to LOCK and SVMDIS are ignored
 * (until reset); SVM stays usable with SVMDIS = 0 */
static void vm_cr_lock(void) {
  if (!svm_need(0)) return;
  struct msrop m = { MSR_VM_CR, 0 };
  long r = catch_run(do_rdmsr, &m);
  if (r >= 0) {
    t_fail("RDMSR VM_CR (C001_0114): %s", vector_name(r));
    return;
  }
  u64 vmcr = m.v;
  if (vmcr & (VM_CR_LOCK | VM_CR_SVMDIS)) {
    t_skip("VM_CR.LOCK or SVMDIS already set");
    return;
  }
  expect_fault("VM_CR.LOCK = 1", try_wrmsr(MSR_VM_CR, vmcr | VM_CR_LOCK), -1, 0);
  CHECK(rdmsr(MSR_VM_CR) & VM_CR_LOCK, "LOCK did not stick");
  expect_fault("VM_CR.SVMDIS = 1 under LOCK", try_wrmsr(MSR_VM_CR, vmcr | VM_CR_LOCK | VM_CR_SVMDIS), -1, 0);
  CHECK(!(rdmsr(MSR_VM_CR) & VM_CR_SVMDIS), "SVMDIS written under LOCK");
  expect_fault("VM_CR.LOCK = 0 under LOCK", try_wrmsr(MSR_VM_CR, vmcr), -1, 0);
  CHECK(rdmsr(MSR_VM_CR) & VM_CR_LOCK, "LOCK cleared");
  if (!svm_begin(0)) return;
  vmcb_init(vmcb, (u64)g_vmmcall);
  svm_run(vmcb);
  expect_exit(vmcb, EXIT_VMMCALL);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(svm_cpuid), T(ud_without_svme), T(gp_at_cpl3), T(hsave_pa_reserved_bits_gp),
  T(rax_unaligned_gp), T(rax_beyond_maxphyaddr_gp), T(vm_cr_svmdis),
  T(vmexit_saves_guest_state), T(gprs_pass_through), T(vmexit_restores_host_state),
  T(vmexit_from_cpl3_guest), T(vmexit_saves_segments), T(vmrun_loads_hidden_segment),
  T(vmrun_cr2), T(vmrun_dr6_dr7), T(tsc_offset),
  T(vm_cr_lock),
};
const int ntests = ARRAY_SIZE(tests);
