/*
 * SVM setup and the vcpu: EFER.SVME and the per-cpu host save area (VM_HSAVE_PA), the design
 * chosen on the command line, vcpu creation (VMCB, MSRPM, IOPM, nested page tables, CPUID),
 * and the host-state check the VMM asks for after every KVM_RUN.
 */
#include "kvm.h"
#include "mutants.h"

_Static_assert(offsetof(struct svm_run_ctx, vmcb_pa) == CTX_VMCB_PA, "CTX_VMCB_PA");
_Static_assert(offsetof(struct svm_run_ctx, after_exit) == CTX_AFTER_EXIT, "CTX_AFTER_EXIT");
_Static_assert(offsetof(struct svm_run_ctx, host_gs_base) == CTX_HOST_GS_BASE, "CTX_HOST_GS_BASE");
_Static_assert(offsetof(struct svm_run_ctx, hsave_pa) == CTX_HSAVE_PA, "CTX_HSAVE_PA");
_Static_assert(offsetof(struct svm_run_ctx, send_nmi) == CTX_SEND_NMI, "CTX_SEND_NMI");
_Static_assert(offsetof(struct svm_run_ctx, t_pre) == CTX_T_PRE, "CTX_T_PRE");
_Static_assert(offsetof(struct svm_run_ctx, t_post) == CTX_T_POST, "CTX_T_POST");
_Static_assert(offsetof(struct svm_run_ctx, rbx) == CTX_RBX, "CTX_RBX");
_Static_assert(offsetof(struct svm_run_ctx, rdi) == CTX_RDI, "CTX_RDI");
_Static_assert(offsetof(struct svm_run_ctx, r15) == CTX_R15, "CTX_R15");

static const struct kvm_design *const designs[] = {
  &design_msr, &design_vmsave_v1, &design_vmload, &design_vmload_notss, &design_wrgsbase,
  &design_broken_kgs, &design_broken_stgi,
};
const struct kvm_design *kvm_design = &design_vmload;

/* one CPU, one vcpu: static memory, identity-mapped (virtual = physical) */
static u8 save_area[4096] __attribute__((aligned(4096)));   /* VM_HSAVE_PA and VMSAVE/VMLOAD host */
static u8 save_area_ap[4096] __attribute__((aligned(4096)));  /* CPU 1's (smp.c) */
static u8 check_area[4096] __attribute__((aligned(4096)));  /* VMSAVE for kvm_check_host */
static u8 vmcb_page[4096] __attribute__((aligned(4096)));
static u8 msrpm[2 * 4096] __attribute__((aligned(4096)));
static u8 iopm[3 * 4096] __attribute__((aligned(4096)));
static u64 npt_pml4[512] __attribute__((aligned(4096)));
static u64 npt_pdpt[512] __attribute__((aligned(4096)));
static u64 npt_pd[512] __attribute__((aligned(4096)));
static u64 npt_pt_mmio[512] __attribute__((aligned(4096)));
static struct vcpu the_vcpu;

/* an MMIO page in the nested tables: present, with a reserved physical-address bit, so every
 * access is a nested page fault with RSV set (what KVM's MMIO SPTEs do) */
#define NPT_MMIO_MARK (1ul << 51)

const char *kvm_design_name(void) { return kvm_design->name; }

void kvm_init(void) {
  char name[32];
  u32 a, b, c, d;
  cpuid(0x80000001, 0, &a, &b, &c, &d);
  if (!(c & (1u << 2))) panic("no SVM (CPUID 8000_0001 ECX[2])");
  if (opt_value(cmdline_buf, "design", name, sizeof(name))) {
    kvm_design = NULL;
    for (u64 i = 0; i < ARRAY_SIZE(designs); i++) {
      if (strcmp(designs[i]->name, name) == 0) kvm_design = designs[i];
    }
    for (u64 i = 0; kvm_mutants[i]; i++) {
      if (strcmp(kvm_mutants[i]->name, name) == 0) kvm_design = kvm_mutants[i];
    }
    if (!kvm_design) panic("unknown design=%s (msr, vmsave-v1, vmload, vmload-notss, wrgsbase, broken-kgs, broken-stgi)", name);
  }
  /* svm_hardware_enable: EFER.SVME, and the host save area for VMRUN, which this kernel also
   * uses for VMSAVE/VMLOAD of host state (as Linux does: one page per CPU) */
  kvm_init_cpu();
}

/* svm_hardware_enable on this CPU: one host save area per CPU */
void kvm_init_cpu(void) {
  u64 area = this_cpu_read(cpu) == 0 ? (u64)save_area : (u64)save_area_ap;
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
  wrmsr(MSR_VM_HSAVE_PA, area);
  this_cpu_write(hsave_pa, area);
}

static void set_seg(u8 *vmcb, u32 off, u16 sel, u16 attr, u32 limit, u64 base) {
  VMCB16(vmcb, off + SEG_SEL) = sel;
  VMCB16(vmcb, off + SEG_ATTR) = attr;
  VMCB32(vmcb, off + SEG_LIMIT) = limit;
  VMCB64(vmcb, off + SEG_BASE) = base;
}

/* both MSRPM bits (read, write) clear for msr: the guest accesses it directly */
static void msr_passthrough(u32 msr) {
  u32 base = msr < 0x2000 ? 0 : msr >= 0xc0000000 && msr < 0xc0002000 ? 0x800 : 0x1000;
  u32 bit = (msr & 0x1fff) * 2;
  msrpm[base + bit / 8] &= (u8)~(3u << (bit % 8));
}

static void npt_init(struct vcpu *v) {
  memset(npt_pml4, 0, sizeof(npt_pml4));
  memset(npt_pdpt, 0, sizeof(npt_pdpt));
  memset(npt_pd, 0, sizeof(npt_pd));
  npt_pml4[0] = (u64)npt_pdpt | PTE_P | PTE_W | PTE_U;
  npt_pdpt[0] = (u64)npt_pd | PTE_P | PTE_W | PTE_U;
  /* guest RAM: GPA = HPA, 2 MiB pages */
  for (u64 gpa = v->mem_gpa; gpa < v->mem_gpa + v->mem_size; gpa += 1ul << 21)
    npt_pd[gpa >> 21] = gpa | PTE_P | PTE_W | PTE_U | PTE_PS;
  npt_pd[MMIO_GPA >> 21] = (u64)npt_pt_mmio | PTE_P | PTE_W | PTE_U;
  for (u64 i = 0; i < 512; i++) npt_pt_mmio[i] = (MMIO_GPA + i * 4096) | PTE_P | PTE_W | PTE_U | NPT_MMIO_MARK;
}

/* 32-bit protected mode, paging off (nested paging translates), flat segments at CPL 0 */
#define ATTR_CODE32 0x0c9b   /* G=1 D=1, present, DPL 0, code execute/read accessed */
#define ATTR_DATA32 0x0c93
#define ATTR_TSS32_BUSY 0x008b
#define ATTR_LDT 0x0082

static void vmcb_init(struct vcpu *v, const struct kvm_vcpu_config *cfg) {
  u8 *vmcb = v->vmcb;
  memset(vmcb, 0, 4096);
  VMCB32(vmcb, VMCB_ICPT_MISC1) = I1_INTR | I1_NMI | I1_CPUID | I1_HLT | I1_IOIO | I1_MSR | I1_SHUTDOWN;
  VMCB32(vmcb, VMCB_ICPT_MISC2) = I2_VMRUN | I2_VMMCALL | I2_VMLOAD | I2_VMSAVE | I2_STGI | I2_CLGI | I2_SKINIT;
  VMCB64(vmcb, VMCB_IOPM_BASE) = (u64)iopm;
  VMCB64(vmcb, VMCB_MSRPM_BASE) = (u64)msrpm;
  VMCB32(vmcb, VMCB_ASID) = 1;
  VMCB32(vmcb, VMCB_INT_CTL) = V_INTR_MASKING;
  VMCB64(vmcb, VMCB_NP_ENABLE) = 1;
  VMCB64(vmcb, VMCB_N_CR3) = (u64)npt_pml4;
  VMCB64(vmcb, VMCB_G_PAT) = rdmsr(MSR_PAT);

  set_seg(vmcb, VMCB_CS, 0x08, ATTR_CODE32, 0xffffffff, 0);
  set_seg(vmcb, VMCB_DS, 0x10, ATTR_DATA32, 0xffffffff, 0);
  set_seg(vmcb, VMCB_ES, 0x10, ATTR_DATA32, 0xffffffff, 0);
  set_seg(vmcb, VMCB_SS, 0x10, ATTR_DATA32, 0xffffffff, 0);
  /* the VMLOAD set: the guest's own values (all different from the host's) */
  set_seg(vmcb, VMCB_FS, 0x10, ATTR_DATA32, 0xffffffff, cfg->fs_base);
  set_seg(vmcb, VMCB_GS, 0x10, ATTR_DATA32, 0xffffffff, cfg->gs_base);
  set_seg(vmcb, VMCB_TR, 0x18, ATTR_TSS32_BUSY, 0x67, cfg->tr_base);
  set_seg(vmcb, VMCB_LDTR, 0x20, ATTR_LDT, 0xffff, cfg->ldtr_base);
  VMCB64(vmcb, VMCB_KERNEL_GS_BASE) = cfg->kernel_gs_base;
  VMCB64(vmcb, VMCB_STAR) = cfg->star;
  VMCB64(vmcb, VMCB_LSTAR) = cfg->lstar;
  VMCB64(vmcb, VMCB_CSTAR) = cfg->cstar;
  VMCB64(vmcb, VMCB_SFMASK) = cfg->sfmask;
  VMCB64(vmcb, VMCB_SYSENTER_CS) = cfg->sysenter_cs;
  VMCB64(vmcb, VMCB_SYSENTER_ESP) = cfg->sysenter_esp;
  VMCB64(vmcb, VMCB_SYSENTER_EIP) = cfg->sysenter_eip;

  VMCB32(vmcb, VMCB_GDTR + SEG_LIMIT) = 0xffff;
  VMCB32(vmcb, VMCB_IDTR + SEG_LIMIT) = 0xffff;
  VMCB8(vmcb, VMCB_CPL) = 0;
  VMCB64(vmcb, VMCB_EFER) = EFER_SVME;      /* VMRUN requires the guest's EFER.SVME (APM 15.5.1) */
  VMCB64(vmcb, VMCB_CR0) = CR0_PE | CR0_ET;
  VMCB64(vmcb, VMCB_CR3) = 0;
  VMCB64(vmcb, VMCB_CR4) = 0;
  VMCB64(vmcb, VMCB_DR6) = 0xffff0ff0;
  VMCB64(vmcb, VMCB_DR7) = 0x400;
  VMCB64(vmcb, VMCB_RFLAGS) = 0x2;
  VMCB64(vmcb, VMCB_RIP) = cfg->rip;
  VMCB64(vmcb, VMCB_RSP) = cfg->rsp;
  VMCB64(vmcb, VMCB_RAX) = 0;
}

long kvm_create_vcpu(struct task *t, const struct kvm_vcpu_config *cfg) {
  if (t->vcpu) return -EEXIST;
  /* guest RAM must be the VMM's guest memory, mapped at the same guest-physical address */
  if (cfg->mem_gpa != GUEST_BASE || cfg->mem_uaddr != cfg->mem_gpa || cfg->mem_size == 0 ||
      cfg->mem_size > GUEST_SIZE || cfg->mem_size % (1ul << 21) != 0)
    return -EINVAL;
  if (cfg->doorbell_gpa < MMIO_GPA || cfg->doorbell_gpa >= MMIO_GPA + (1ul << 21)) return -EINVAL;
  if (!user_range_ok((u64)cfg->run, sizeof(struct kvm_run))) return -EINVAL;
  struct vcpu *v = &the_vcpu;
  memset(v, 0, sizeof(*v));
  v->vmcb = vmcb_page;
  v->ctx.vmcb_pa = (u64)vmcb_page;
  v->run = cfg->run;
  v->mem_gpa = cfg->mem_gpa;
  v->mem_size = cfg->mem_size;
  v->doorbell_gpa = cfg->doorbell_gpa & ~0xffful;
  v->guest_tsc_aux = cfg->tsc_aux;
  v->flush_tlb = 1;
  memset(iopm, 0xff, sizeof(iopm));        /* every port exits */
  memset(msrpm, 0xff, sizeof(msrpm));      /* every MSR exits, except those VMLOAD/VMSAVE switch */
  static const u32 direct[] = { MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_STAR, MSR_LSTAR,
    MSR_CSTAR, MSR_SFMASK, MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP };
  for (u64 i = 0; i < ARRAY_SIZE(direct); i++) msr_passthrough(direct[i]);
  npt_init(v);
  vmcb_init(v, cfg);
  kvm_cpuid_init(v);
  kvm_design->setup(v);
  memset(v->run, 0, sizeof(*v->run));
  t->vcpu = v;
  return 0;
}

static void check(struct host_check *c, int k, u64 got, u64 want) {
  c->got[k] = got;
  c->want[k] = want;
  if (got != want) c->mismatch |= 1ul << k;
}

void kvm_check_host(struct host_check *c) {
  struct task *t = this_cpu_read(current);
  memset(c, 0, sizeof(*c));
  check(c, CHK_STAR, rdmsr(MSR_STAR), host_msrs.star);
  check(c, CHK_LSTAR, rdmsr(MSR_LSTAR), host_msrs.lstar);
  check(c, CHK_CSTAR, rdmsr(MSR_CSTAR), host_msrs.cstar);
  check(c, CHK_SFMASK, rdmsr(MSR_SFMASK), host_msrs.sfmask);
  check(c, CHK_SYSENTER_CS, rdmsr(MSR_SYSENTER_CS), host_msrs.sysenter_cs);
  check(c, CHK_SYSENTER_ESP, rdmsr(MSR_SYSENTER_ESP), host_msrs.sysenter_esp);
  check(c, CHK_SYSENTER_EIP, rdmsr(MSR_SYSENTER_EIP), host_msrs.sysenter_eip);
  /* in the kernel, KERNEL_GS_BASE holds the user's GS base */
  check(c, CHK_KERNEL_GS_BASE, rdmsr(MSR_KERNEL_GS_BASE), t->gsbase);
  check(c, CHK_FS_BASE, rdmsr(MSR_FS_BASE), t->fsbase);
  u64 cpu = cpunode() % NR_CPUS;   /* from the GDT, not through GS */
  check(c, CHK_GS_BASE, rdmsr(MSR_GS_BASE), percpu_offset[cpu]);
  check(c, CHK_TSC_AUX, rdmsr(MSR_TSC_AUX), host_msrs.tsc_aux);
  /* TR and LDTR with their hidden parts: VMSAVE reads them out */
  vmsave((u64)check_area);
  check(c, CHK_TR_SEL, str_sel(), TSS_SEL);
  check(c, CHK_TR_BASE, VMCB64(check_area, VMCB_TR + SEG_BASE), (u64)cpu_tss(cpu));
  check(c, CHK_TR_LIMIT, VMCB32(check_area, VMCB_TR + SEG_LIMIT), sizeof(tss) - 1);
  u16 ldt = sldt();
  check(c, CHK_LDTR_SEL, ldt, 0);
  /* a null LDTR is unusable whatever its base; the base matters only with a selector */
  u64 ldt_base = VMCB64(check_area, VMCB_LDTR + SEG_BASE);
  check(c, CHK_LDTR_BASE, ldt_base, ldt == 0 ? ldt_base : 0);
}
