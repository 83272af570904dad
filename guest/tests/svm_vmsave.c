/*
 * VMSAVE and VMLOAD (APM Vol. 2 15.5.2; Vol. 3 VMLOAD, VMSAVE): they transfer exactly FS, GS,
 * TR and LDTR (selector, attributes, limit, base), KernelGsBase, STAR, LSTAR, CSTAR, SFMASK and
 * SYSENTER_CS/ESP/EIP; what VMLOAD loads is used (hidden bases and limits included), nothing
 * else changes, and bases are canonicalized.
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

const char kernel_name[] = "svm_vmsave";

void kernel_setup(void) {
  svm_detect();
  svm_print_features();
}

/* a GDT with the runtime's descriptors plus a TSS (0x70) and an LDT (0x80) */
#define MY_TSS_SEL (GDT_ENTRIES * 8)
#define MY_LDT_SEL (GDT_ENTRIES * 8 + 16)
static u64 my_gdt[GDT_ENTRIES + 4] __attribute__((aligned(16)));
static u64 my_ldt[2];
static struct tss my_tss __attribute__((aligned(16)));
static u8 my_ist[4096] __attribute__((aligned(16)));
static volatile u64 probe_fs = 0xf5f5f5f5f5f5f5f5ul, probe_gs = 0x6565656565656565ul;

static u64 sysdesc(u64 base, u32 limit, u32 type) {
  return (limit & 0xffff) | ((base & 0xffffff) << 16) | ((u64)(0x80 | type) << 40) |
         ((u64)((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
}

static void my_gdt_load(void) {
  memcpy(my_gdt, gdt, sizeof(gdt));
  memcpy(&my_tss, &tss, sizeof(tss));    /* same RSP0 and IST stacks, plus IST3 */
  my_tss.ist[2] = (u64)my_ist + sizeof(my_ist);
  my_gdt[GDT_ENTRIES] = sysdesc((u64)&my_tss, sizeof(my_tss) - 1, 0x9);
  my_gdt[GDT_ENTRIES + 1] = (u64)&my_tss >> 32;
  my_gdt[GDT_ENTRIES + 2] = sysdesc((u64)my_ldt, sizeof(my_ldt) - 1, 0x2);
  my_gdt[GDT_ENTRIES + 3] = (u64)my_ldt >> 32;
  my_ldt[0] = 0x00cf93000000fffful;
  my_ldt[1] = 0x00cf93000000fffful;
  struct dtr d = { sizeof(my_gdt) - 1, (u64)my_gdt };
  asm volatile("lgdt %0" :: "m"(d));
}

static int in_vmload_set(u32 off) {
  return (off >= VMCB_FS && off < VMCB_GS + 16) || (off >= VMCB_LDTR && off < VMCB_LDTR + 16) ||
         (off >= VMCB_TR && off < VMCB_TR + 16) || (off >= VMCB_STAR && off < VMCB_SYSENTER_EIP + 8);
}

#define V_FS_BASE 0x0000123456789000ul
#define V_GS_BASE 0xffff876543210000ul
#define V_KGS_BASE 0x00007fffdeadb000ul
#define V_STAR 0x0023001012345678ul
#define V_LSTAR 0xffffffff81234560ul
#define V_CSTAR 0xffffffff8abcdef0ul
#define V_SFMASK 0x47700ul
#define V_SYSENTER_CS 0x10ul
#define V_SYSENTER_ESP 0x12345678ul
#define V_SYSENTER_EIP 0x9abcdef0ul

static void vmsave_stores_state(void) {
  if (!svm_begin(0)) return;
  vmsave(pa(save_page));                  /* the host's own, put back at the end */
  my_gdt_load();
  asm volatile("mov %0, %%fs\n\tmov %0, %%gs" :: "r"((u16)KDS));
  wrmsr(MSR_FS_BASE, V_FS_BASE);
  wrmsr(MSR_GS_BASE, V_GS_BASE);
  wrmsr(MSR_KERNEL_GS_BASE, V_KGS_BASE);
  wrmsr(MSR_STAR, V_STAR);
  wrmsr(MSR_LSTAR, V_LSTAR);
  wrmsr(MSR_CSTAR, V_CSTAR);
  wrmsr(MSR_SFMASK, V_SFMASK);
  wrmsr(MSR_SYSENTER_CS, V_SYSENTER_CS);
  wrmsr(MSR_SYSENTER_ESP, V_SYSENTER_ESP);
  wrmsr(MSR_SYSENTER_EIP, V_SYSENTER_EIP);
  asm volatile("lldt %w0" :: "r"((u16)MY_LDT_SEL));
  asm volatile("ltr %w0" :: "r"((u16)MY_TSS_SEL));
  memset(scratch_page, 0xa5, sizeof(scratch_page));
  vmsave(pa(scratch_page));
  vmload(pa(save_page));
  u8 *s = scratch_page;
  check_vmcb_seg("FS", s, VMCB_FS, KDS, 0x0c93, 0xffffffff, V_FS_BASE);
  check_vmcb_seg("GS", s, VMCB_GS, KDS, 0x0c93, 0xffffffff, V_GS_BASE);
  check_vmcb_seg("LDTR", s, VMCB_LDTR, MY_LDT_SEL, 0x0082, sizeof(my_ldt) - 1, (u64)my_ldt);
  /* the TSS type's busy bit has its own test (ltr_busy_in_hidden_tr) */
  check_vmcb_seg("TR", s, VMCB_TR, MY_TSS_SEL, VMCB16(s, VMCB_TR + SEG_ATTR) == 0x89 ? 0x89 : 0x8b,
            sizeof(my_tss) - 1, (u64)&my_tss);
  CHECK_EQ(VMCB64(s, VMCB_KERNEL_GS_BASE), V_KGS_BASE);
  CHECK_EQ(VMCB64(s, VMCB_STAR), V_STAR);
  CHECK_EQ(VMCB64(s, VMCB_LSTAR), V_LSTAR);
  CHECK_EQ(VMCB64(s, VMCB_CSTAR), V_CSTAR);
  CHECK_EQ(VMCB64(s, VMCB_SFMASK), V_SFMASK);
  CHECK_EQ(VMCB64(s, VMCB_SYSENTER_CS), V_SYSENTER_CS);
  CHECK_EQ(VMCB64(s, VMCB_SYSENTER_ESP), V_SYSENTER_ESP);
  CHECK_EQ(VMCB64(s, VMCB_SYSENTER_EIP), V_SYSENTER_EIP);
  for (u32 i = 0; i < sizeof(scratch_page); i++) {
    if (!in_vmload_set(i) && s[i] != 0xa5) {
      t_fail("VMSAVE wrote VMCB byte %#x (%#x), outside its state set", i, s[i]);
      break;
    }
  }
}

/* LTR marks the TSS descriptor busy and loads it as such (APM Vol. 3 LTR): VMSAVE stores TR
 * with type 1011b (busy 64-bit TSS) */
static void ltr_busy_in_hidden_tr(void) {
  if (!svm_begin(0)) return;
  vmsave(pa(save_page));
  my_gdt_load();
  asm volatile("ltr %w0" :: "r"((u16)MY_TSS_SEL));
  vmsave(pa(scratch_page));
  vmload(pa(save_page));
  CHECK_EQ(VMCB16(scratch_page, VMCB_TR + SEG_ATTR) & 0xff, 0x8b);
  CHECK_EQ((my_gdt[GDT_ENTRIES] >> 40) & 0xff, 0x8b);
}

static volatile u64 int51_frame;
static void record_int51(struct frame *f) { int51_frame = (u64)f; }
static void load_es(void *s) { asm volatile("mov %0, %%es" :: "r"((u16)(u64)s)); }

static void vmload_loads_state(void) {
  if (!svm_begin(0)) return;
  vmsave(pa(save_page));
  my_gdt_load();
  memcpy(scratch_page, save_page, sizeof(scratch_page));
  u8 *s = scratch_page;
  vmcb_seg(s, VMCB_FS, KDS, 0x0c93, 0xffffffff, (u64)&probe_fs);
  vmcb_seg(s, VMCB_GS, UDS, 0x0cf3, 0xffffffff, (u64)&probe_gs);
  vmcb_seg(s, VMCB_TR, MY_TSS_SEL, 0x008b, sizeof(my_tss) - 1, (u64)&my_tss);
  vmcb_seg(s, VMCB_LDTR, MY_LDT_SEL, 0x0082, 7, (u64)my_ldt);   /* one entry, not two */
  VMCB64(s, VMCB_KERNEL_GS_BASE) = V_KGS_BASE;
  VMCB64(s, VMCB_STAR) = V_STAR;
  VMCB64(s, VMCB_LSTAR) = V_LSTAR;
  VMCB64(s, VMCB_CSTAR) = V_CSTAR;
  VMCB64(s, VMCB_SFMASK) = V_SFMASK;
  VMCB64(s, VMCB_SYSENTER_CS) = V_SYSENTER_CS;
  VMCB64(s, VMCB_SYSENTER_ESP) = V_SYSENTER_ESP;
  VMCB64(s, VMCB_SYSENTER_EIP) = V_SYSENTER_EIP;
  vmload(pa(s));
  u16 fs = read_fs(), gs = read_gs(), ldtr = sldt(), tr = str_sel();
  u64 fsb = rdmsr(MSR_FS_BASE), gsb = rdmsr(MSR_GS_BASE), kgs = rdmsr(MSR_KERNEL_GS_BASE);
  u64 star = rdmsr(MSR_STAR), lstar = rdmsr(MSR_LSTAR), cstar = rdmsr(MSR_CSTAR);
  u64 sfmask = rdmsr(MSR_SFMASK), scs = rdmsr(MSR_SYSENTER_CS);
  u64 sesp = rdmsr(MSR_SYSENTER_ESP), seip = rdmsr(MSR_SYSENTER_EIP);
  u64 fsval, gsval;
  asm volatile("mov %%fs:0, %0" : "=r"(fsval));
  asm volatile("mov %%gs:0, %0" : "=r"(gsval));
  /* the hidden LDTR: entry 0 is inside its limit (7), entry 1 is not */
  long r0 = catch_run(load_es, (void *)0x04);
  u64 err0 = last_fault.error;
  long r1 = catch_run(load_es, (void *)0x0c);
  u64 err1 = last_fault.error;
  /* the hidden TR: an IST3 gate takes its stack from TR.base */
  int51_frame = 0;
  set_gate(0x51, 3, 0, 0);
  set_trap_handler(0x51, record_int51);
  asm volatile("int $0x51" ::: "memory");
  vmload(pa(save_page));
  asm volatile("mov %0, %%es" :: "r"((u16)KDS));
  CHECK_EQ(fs, KDS);
  CHECK_EQ(gs, UDS);
  CHECK_EQ(fsb, (u64)&probe_fs);
  CHECK_EQ(gsb, (u64)&probe_gs);
  CHECK_EQ(fsval, probe_fs);
  CHECK_EQ(gsval, probe_gs);
  CHECK_EQ(kgs, V_KGS_BASE);
  CHECK_EQ(star, V_STAR);
  CHECK_EQ(lstar, V_LSTAR);
  CHECK_EQ(cstar, V_CSTAR);
  CHECK_EQ(sfmask, V_SFMASK);
  CHECK_EQ(scs, V_SYSENTER_CS);
  CHECK_EQ(sesp, V_SYSENTER_ESP);
  CHECK_EQ(seip, V_SYSENTER_EIP);
  CHECK_EQ(ldtr, MY_LDT_SEL);
  CHECK_EQ(tr, MY_TSS_SEL);
  CHECK(r0 == -1, "loading ES from LDT entry 0: %s (error %#lx)", vector_name(r0), err0);
  CHECK(r1 == GP && err1 == 0x0c, "loading ES from LDT entry 1 beyond the LDTR limit: %s (error %#lx), want #GP(0xc)",
        r1 < 0 ? "no exception" : vector_name(r1), err1);
  CHECK(int51_frame >= (u64)my_ist && int51_frame < (u64)my_ist + sizeof(my_ist),
        "IST3 frame at %#lx, not on the stack of the VMLOADed TSS", int51_frame);
}

/* VMLOAD touches nothing outside its set: not RAX, RSP, the other segments, CRs, EFER, the
 * descriptor-table registers or RFLAGS */
static void vmload_leaves_other_state(void) {
  if (!svm_begin(0)) return;
  vmsave(pa(save_page));
  memset(scratch_page, 0x5a, sizeof(scratch_page));
  for (u32 i = 0; i < sizeof(scratch_page); i++) {
    if (in_vmload_set(i)) scratch_page[i] = save_page[i];
  }
  struct dtr g0, i0, g1, i1;
  sgdt(&g0);
  sidt(&i0);
  u64 cr0 = read_cr0(), cr3 = read_cr3(), cr4 = read_cr4(), efer = rdmsr(MSR_EFER);
  u16 cs = read_cs(), ss = read_ss(), ds = read_ds(), es = read_es();
  u64 rax = pa(scratch_page), rsp0, rsp1, fl0, fl1;
  asm volatile("pushfq\n\tpopq %2\n\tmov %%rsp, %0\n\tvmload %%rax\n\tmov %%rsp, %1\n\tpushfq\n\tpopq %3"
               : "=&r"(rsp0), "=&r"(rsp1), "=&r"(fl0), "=&r"(fl1), "+a"(rax) :: "memory");
  sgdt(&g1);
  sidt(&i1);
  CHECK_EQ(rax, pa(scratch_page));
  CHECK_EQ(rsp1, rsp0);
  CHECK_EQ(fl1, fl0);
  CHECK_EQ(read_cr0(), cr0);
  CHECK_EQ(read_cr3(), cr3);
  CHECK_EQ(read_cr4(), cr4);
  CHECK_EQ(rdmsr(MSR_EFER), efer);
  CHECK_EQ(read_cs(), cs);
  CHECK_EQ(read_ss(), ss);
  CHECK_EQ(read_ds(), ds);
  CHECK_EQ(read_es(), es);
  CHECK(g1.base == g0.base && g1.limit == g0.limit, "GDTR changed");
  CHECK(i1.base == i0.base && i1.limit == i0.limit, "IDTR changed");
}

/* APM Vol. 3 VMLOAD: segment bases are canonicalized (sign-extended from bit 47) */
static void vmload_canonicalizes_bases(void) {
  if (!svm_begin(0)) return;
  vmsave(pa(save_page));
  memcpy(scratch_page, save_page, sizeof(scratch_page));
  VMCB64(scratch_page, VMCB_FS + SEG_BASE) = 0x0000800000001000ul;
  VMCB64(scratch_page, VMCB_GS + SEG_BASE) = 0x00f07fffffff0000ul;
  VMCB64(scratch_page, VMCB_LDTR + SEG_BASE) = 0x1234800000002000ul;
  vmload(pa(scratch_page));
  u64 fsb = rdmsr(MSR_FS_BASE), gsb = rdmsr(MSR_GS_BASE);
  vmsave(pa(vmcb2));
  vmload(pa(save_page));
  CHECK_EQ(fsb, 0xffff800000001000ul);
  CHECK_EQ(gsb, 0x00007fffffff0000ul);
  CHECK_EQ(VMCB64(vmcb2, VMCB_LDTR + SEG_BASE), 0xffff800000002000ul);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(vmsave_stores_state), T(ltr_busy_in_hidden_tr), T(vmload_loads_state),
  T(vmload_leaves_other_state), T(vmload_canonicalizes_bases),
};
const int ntests = ARRAY_SIZE(tests);
