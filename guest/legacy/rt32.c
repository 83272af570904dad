/*
 * The 32-bit runtime: descriptor tables, trap dispatch, page tables and the test runner. It
 * reports like lib/test.c (PASS/FAIL/SKIP lines, a SUMMARY, the debug-exit port), so
 * test/kernels.test.ts treats both kinds of kernel alike.
 */
#include "rt32.h"

u32 mb_magic, mb_info;
volatile struct fault last_fault;
volatile u32 trap_count[256];
static trap_fn handlers[256];
extern u8 trap_stubs[];
extern u32 catch_depth;
void catch_longjmp(int vector) __attribute__((noreturn));
void user_exit(int value) __attribute__((noreturn));

u64 gdt[GDT_ENTRIES] __attribute__((aligned(16)));
u64 idt[256] __attribute__((aligned(16)));
struct tss32 tss __attribute__((aligned(128)));
volatile u32 pd32[1024] __attribute__((aligned(4096)));
volatile u32 pt32[1024] __attribute__((aligned(4096)));
static volatile u32 pt_low[1024] __attribute__((aligned(4096)));
volatile u64 pae_pdpt[4] __attribute__((aligned(32)));
volatile u64 pae_pd[512] __attribute__((aligned(4096)));
volatile u64 pae_pt[512] __attribute__((aligned(4096)));

/* ---- descriptors ---- */

u64 seg_desc(u32 base, u32 limit, u8 access, u8 flags) {
  u32 lo = (limit & 0xffff) | (base << 16);
  u32 hi = ((base >> 16) & 0xff) | ((u32)access << 8) | (limit & 0xf0000) | ((u32)(flags & 0xf) << 20) |
           (base & 0xff000000);
  return ((u64)hi << 32) | lo;
}

u64 gate_desc(u16 sel, u32 off, u8 access, u8 params) {
  u32 lo = (off & 0xffff) | ((u32)sel << 16);
  u32 hi = (off & 0xffff0000) | ((u32)access << 8) | (params & 0x1f);
  return ((u64)hi << 32) | lo;
}

void gdt_set(u16 sel, u64 desc) { gdt[sel >> 3] = desc; }

/* the runtime's descriptors, accessed bit set so that loads do not write the GDT */
static void gdt_fixed(void) {
  gdt[0] = 0;
  gdt[KCS >> 3] = seg_desc(0, 0xfffff, 0x9b, 0xc);
  gdt[KDS >> 3] = seg_desc(0, 0xfffff, 0x93, 0xc);
  gdt[UCS >> 3] = seg_desc(0, 0xfffff, 0xfb, 0xc);
  gdt[UDS >> 3] = seg_desc(0, 0xfffff, 0xf3, 0xc);
  gdt[TSS_SEL >> 3] = seg_desc((u32)&tss, TSS_LIMIT, 0x89, 0);
  gdt[CS16 >> 3] = seg_desc(0, 0xffff, 0x9b, 0);
  gdt[DS16 >> 3] = seg_desc(0, 0xffff, 0x93, 0);
  for (int i = GDT_FIXED; i < GDT_ENTRIES; i++) gdt[i] = 0;
}

static void load_gdt_segments(void) {
  struct { u16 limit; u32 base; } __attribute__((packed)) p = { sizeof(gdt) - 1, (u32)gdt };
  asm volatile("lgdt %0\n\t"
               "ljmp %1, $1f\n"
               "1:\n\t"
               "mov %2, %%ds\n\t"
               "mov %2, %%es\n\t"
               "mov %2, %%fs\n\t"
               "mov %2, %%gs\n\t"
               "mov %2, %%ss\n\t"
               "lldt %w3"
               :: "m"(p), "i"(KCS), "r"(KDS), "r"(0) : "memory");
}

void tss_reload(void) {
  gdt[TSS_SEL >> 3] = seg_desc((u32)&tss, TSS_LIMIT, 0x89, 0);
  asm volatile("ltr %w0" :: "r"(TSS_SEL) : "memory");
}

static void tss_reset(void) {
  memset(&tss, 0, sizeof(tss));
  tss.esp0 = (u32)kstack_top;
  tss.ss0 = KDS;
  tss.iomap = __builtin_offsetof(struct tss32, iobitmap);
  memset(tss.iobitmap, 0xff, sizeof(tss.iobitmap));
  tss.iobitmap_end = 0xff;
}

void set_gate(int vec, u8 dpl, int trap) {
  idt[vec] = gate_desc(KCS, (u32)trap_stubs + 16 * (u32)vec, 0x80 | (dpl << 5) | (trap ? 0xf : 0xe), 0);
}

void idt_reset(void) {
  for (int v = 0; v < 256; v++) set_gate(v, 0, 0);
  set_gate(BP, 3, 0);
  set_gate(VEC_SYSCALL, 3, 0);
  struct { u16 limit; u32 base; } __attribute__((packed)) p = { sizeof(idt) - 1, (u32)idt };
  asm volatile("lidt %0" :: "m"(p));
}

/* ---- paging ---- */

static void page_tables_reset(void) {
  for (int i = 0; i < 1024; i++) {
    pt_low[i] = ((u32)i << 12) | PTE_P | PTE_W | PTE_U;
    pt32[i] = test_page(i) | PTE_P | PTE_W | PTE_U;
    pd32[i] = ((u32)i << 22) | PTE_P | PTE_W | PTE_U | PTE_PS;
  }
  pd32[0] = (u32)pt_low | PTE_P | PTE_W | PTE_U;
  pd32[TEST_BASE >> 22] = (u32)pt32 | PTE_P | PTE_W | PTE_U;
  for (int i = 0; i < 512; i++) {
    pae_pd[i] = ((u64)i << 21) | PTE_P | PTE_W | PTE_U | PTE_PS;
    pae_pt[i] = test_page(i) | PTE_P | PTE_W | PTE_U;
  }
  pae_pd[TEST_BASE >> 21] = (u32)pae_pt | PTE_P | PTE_W | PTE_U;
  /* legacy-PAE PDPEs have no R/W or U/S bits (APM Vol. 2, 5.4: bits 2:1 are reserved) */
  pae_pdpt[0] = (u32)pae_pd | PTE_P;
  pae_pdpt[1] = pae_pdpt[2] = pae_pdpt[3] = 0;
}

void paging_off(void) {
  write_cr0(read_cr0() & ~(CR0_PG | CR0_WP));
  write_cr4(0);
}

void paging32_on(int pse) {
  write_cr4(pse ? CR4_PSE : 0);
  write_cr3((u32)pd32);
  write_cr0(read_cr0() | CR0_PG | CR0_WP);
}

void paging_pae_on(void) {
  write_cr4(CR4_PAE);
  write_cr3((u32)pae_pdpt);
  write_cr0(read_cr0() | CR0_PG | CR0_WP);
}

/* ---- traps ---- */

static const char *const names[32] = {
  "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#9", "#TS", "#NP", "#SS",
  "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XF", "#20", "#CP", "#22", "#23", "#24", "#25",
  "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

const char *vector_name(u32 v) {
  static char buf[12];
  if (v < 32) return names[v];
  snprintf(buf, sizeof(buf), "%#x", v);
  return buf;
}

void set_trap_handler(int vec, trap_fn fn) { handlers[vec] = fn; }

void trap_dispatch(struct frame *f) {
  u32 v = f->vector;
  int outer = (f->cs & 3) != 0;   /* the handler runs at CPL 0: the frame has SS:ESP */
  last_fault.vector = v;
  last_fault.error = f->error;
  last_fault.eip = f->eip;
  last_fault.cs = f->cs & 0xffff;
  last_fault.eflags = f->eflags;
  last_fault.esp = outer ? f->esp : (u32)&f->esp;
  last_fault.ss = outer ? f->ss & 0xffff : read_ss();
  last_fault.cr2 = v == PF ? read_cr2() : 0;
  last_fault.frame = (u32)f;
  trap_count[v]++;
  if (v == VEC_SYSCALL && f->eax == SYS_EXIT && outer) user_exit((int)f->ebx);
  if (handlers[v]) {
    handlers[v](f);
    return;
  }
  if (v < 32 && v != NMI && catch_depth > 0) catch_longjmp((int)v);
  if (v == NMI) {
    printf("note: unexpected NMI at eip %#x\n", f->eip);
    return;
  }
  printf("FAIL: %s (unexpected %s outside a test: error %#x eip %#x cr2 %#x)\n", kernel_name,
         vector_name(v), f->error, f->eip, last_fault.cr2);
  printf("SUMMARY: 1 tests, 1 unexpected failures, 0 skipped\n");
  exit_status(3);
}

struct ucall { int (*fn)(int); int arg, ret; };

static void ucall_run(void *p) {
  struct ucall *u = p;
  u->ret = user_call(u->fn, u->arg);
}

int catch_user(int (*fn)(int), int arg, int *ret) {
  struct ucall u = { fn, arg, 0 };
  int r = catch_run(ucall_run, &u);
  if (ret) *ret = u.ret;
  return r;
}

/* ---- the runner ---- */

static const char *cur_name;
static int cur_status;  /* 0 pass, 1 fail, 2 skip */
static char cur_detail[160];
static u32 base_cr0;
static int have_efer;
static u64 base_efer;

__attribute__((weak)) void kernel_setup(void) {}
__attribute__((weak)) void test_setup(void) {}

void exit_status(u32 code) {
  outl(0xf4, code);
  for (;;) asm volatile("cli; hlt");
}

void t_fail(const char *fmt, ...) {
  if (cur_status == 1) return;
  cur_status = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cur_detail, sizeof(cur_detail), fmt, ap);
  va_end(ap);
}

void t_skip(const char *why) {
  if (cur_status != 0) return;
  cur_status = 2;
  snprintf(cur_detail, sizeof(cur_detail), "%s", why);
}

int t_failed(void) { return cur_status == 1; }

void check_fault(int got, int vec, int err) {
  if (got != vec) {
    if (got < 0) t_fail("no exception, want %s", vector_name(vec));
    else t_fail("got %s (error %#x, eip %#x), want %s", vector_name(got), last_fault.error,
                last_fault.eip, vector_name(vec));
  } else if (err >= 0 && last_fault.error != (u32)err) {
    t_fail("%s error code %#x, want %#x", vector_name(vec), last_fault.error, err);
  }
}

static const char *cmdline(void) {
  if (!mb_info) return "";
  u32 *info = (u32 *)mb_info;
  return (info[0] & 4) && info[4] ? (const char *)info[4] : "";
}

/* does `name` match the comma-separated list (entries may end in '*') at s, up to a space? */
static int in_list(const char *s, const char *name) {
  while (*s && *s != ' ') {
    u32 n = 0;
    while (s[n] && s[n] != ',' && s[n] != ' ') n++;
    if (n && s[n - 1] == '*' ? strncmp(s, name, n - 1) == 0
                             : strlen(name) == n && strncmp(s, name, n) == 0)
      return 1;
    s += n;
    if (*s == ',') s++;
  }
  return 0;
}

static int selected(const char *name) {
  const char *c = cmdline();
  for (; *c; c++) {
    if ((c == cmdline() || c[-1] == ' ') && strncmp(c, "only=", 5) == 0) return in_list(c + 5, name);
  }
  return 1;
}

static u32 ext_edx(void) {
  u32 a, b, c, d;
  cpuid(0x80000000, 0, &a, &b, &c, &d);
  if (a < 0x80000001) return 0;
  cpuid(0x80000001, 0, &a, &b, &c, &d);
  return d;
}

int has_nx(void) { return (ext_edx() >> 20) & 1; }

int has_pse(void) {
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  return (d >> 3) & 1;
}

static void baseline(void) {
  cli();
  write_cr0(base_cr0);
  write_cr4(0);
  if (have_efer) wrmsr(MSR_EFER, base_efer);
  page_tables_reset();
  gdt_fixed();
  load_gdt_segments();
  tss_reset();
  tss_reload();
  for (int v = 0; v < 256; v++) handlers[v] = NULL;
  idt_reset();
  user_eflags = 0x202;
  wrmsr(MSR_SYSENTER_CS, 0);
  wrmsr(MSR_SYSENTER_ESP, 0);
  wrmsr(MSR_SYSENTER_EIP, 0);
}

static void run_one(void *fn) { ((void (*)(void))fn)(); }

void rt32_main(void) {
  uart_init();
  pic_disable();
  base_cr0 = read_cr0() & ~(CR0_PG | CR0_WP);
  have_efer = (ext_edx() >> 29) & 1 || has_nx();   /* EFER exists with LM or NX (APM Vol. 2, 3.1.7) */
  if (have_efer) base_efer = rdmsr(MSR_EFER) & ~(u64)EFER_NXE;
  baseline();
  printf("worldswitch test kernel: %s\n", kernel_name);
  kernel_setup();
  int total = 0, failed = 0, skipped = 0;
  for (int i = 0; i < ntests; i++) {
    if (!selected(tests[i].name)) continue;
    cur_name = tests[i].name;
    cur_status = 0;
    cur_detail[0] = 0;
    test_setup();
    int r = catch_run(run_one, (void *)tests[i].fn);
    if (r >= 0) {
      cur_status = 0;
      t_fail("unexpected %s: error %#x eip %#x cr2 %#x", vector_name(r), last_fault.error,
             last_fault.eip, last_fault.cr2);
    }
    catch_depth = 0;
    baseline();
    total++;
    if (cur_status == 0) printf("PASS: %s\n", cur_name);
    else if (cur_status == 1) failed++, printf("FAIL: %s (%s)\n", cur_name, cur_detail);
    else skipped++, printf("SKIP: %s (%s)\n", cur_name, cur_detail);
  }
  printf("SUMMARY: %d tests, %d unexpected failures, %d skipped\n", total, failed, skipped);
  exit_status(failed ? 3 : 1);
}
