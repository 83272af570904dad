/*
 * The test runner: machine setup, then every selected test in tests[] with a fresh baseline,
 * one line per test on COM1 and a summary, then the debug-exit port (1: all passed, 3: not).
 *
 * A test fails when it calls t_fail (CHECK) or when an exception it did not catch interrupts
 * it; it is skipped when it calls t_skip. The multiboot command line may select tests with
 * `only=name1,name2,prefix*`.
 */
#include "rt.h"
#include "lapic.h"

u32 mb_magic, mb_info;
extern u8 syscall_entry[];
extern u64 catch_depth;
void gdt_init(void);
void gdt_restore(void);
const char *vector_name(u64 v);

static u64 base_cr0, base_cr4, base_efer;
static const char *cur_name;
static int cur_status;  /* 0 pass, 1 fail, 2 skip */
static char cur_detail[160];

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

void check_fault(long got, int vec, long err) {
  if (got != vec) {
    if (got < 0) t_fail("no exception, want %s", vector_name(vec));
    else t_fail("got %s (error %#lx, rip %#lx), want %s", vector_name(got), last_fault.error,
                last_fault.rip, vector_name(vec));
  } else if (err >= 0 && last_fault.error != (u64)err) {
    t_fail("%s error code %#lx, want %#lx", vector_name(vec), last_fault.error, err);
  }
}

const char *cmdline(void) {
  if (!mb_info) return "";
  u32 *info = (u32 *)(u64)mb_info;
  return (info[0] & 4) && info[4] ? (const char *)(u64)info[4] : "";
}

/* does `name` match the comma-separated list (entries may end in '*') at s, up to a space? */
static int in_list(const char *s, const char *name) {
  while (*s && *s != ' ') {
    u64 n = 0;
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

int has_fsgsbase(void) {
  u32 a, b, c, d;
  cpuid(0, 0, &a, &b, &c, &d);
  if (a < 7) return 0;
  cpuid(7, 0, &a, &b, &c, &d);
  return b & 1;
}

int has_nx(void) { return (rdmsr(MSR_EFER) & EFER_NXE) != 0; }

u32 max_phys_bits(void) {
  u32 a, b, c, d;
  if (cpuid_max_ext() < 0x80000008) return 36;
  cpuid(0x80000008, 0, &a, &b, &c, &d);
  return a & 0xff;
}

void test_pt_reset(void) {
  for (int i = 0; i < TEST_PAGES; i++) test_pt[i] = test_page(i) | PTE_P | PTE_W | PTE_U;
  for (int i = 0; i < 2048; i++) {
    pd[i] = ((u64)i << 21) | PTE_P | PTE_W | PTE_U | PTE_PS | (i >= 1536 ? PTE_PCD | PTE_PWT : 0);
  }
  pd[TEST_BASE >> 21] = (u64)test_pt | PTE_P | PTE_W | PTE_U;
  for (int i = 0; i < 4; i++) pdpt[i] = ((u64)pd + 4096 * i) | PTE_P | PTE_W | PTE_U;
  pml4[0] = (u64)pdpt | PTE_P | PTE_W | PTE_U;
}

static void syscall_init(void) {
  /* APM Vol. 2, 6.1.1: STAR[47:32] is the SYSCALL CS (SS = +8), STAR[63:48] the SYSRET base */
  wrmsr(MSR_STAR, ((u64)(UCS32 | 3) << 48) | ((u64)KCS << 32));
  wrmsr(MSR_LSTAR, (u64)syscall_entry);
  wrmsr(MSR_SFMASK, RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC);
}

static void baseline(void) {
  cli();
  write_cr0(base_cr0);
  write_cr4(base_cr4);
  wrmsr(MSR_EFER, base_efer);
  test_pt_reset();
  write_cr3(read_cr3());
  gdt_restore();
  wrmsr(MSR_KERNEL_GS_BASE, 0);
  for (int v = 0; v < 256; v++) set_trap_handler(v, NULL);
  set_syscall_handler(NULL);
  idt_reset();
  syscall_init();
  user_rflags = 0x202;
  if (lapic_enabled()) {
    lapic_timer_stop();
    for (int i = 0; i < 8 && lapic_read(APIC_ISR + 0x70) | lapic_read(APIC_ISR + 0x40); i++)
      lapic_eoi();
  }
}

static void run_one(void *fn) { ((void (*)(void))fn)(); }

void rt_main(void) {
  uart_init();
  pic_disable();
  percpu.self = (u64)&percpu;
  percpu.kstack = (u64)kstack_top;
  gdt_init();
  base_cr0 = read_cr0();
  base_cr4 = read_cr4();
  base_efer = rdmsr(MSR_EFER) | EFER_SCE;
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
    long r = catch_run(run_one, (void *)tests[i].fn);
    if (r >= 0) {
      cur_status = 0;
      t_fail("unexpected %s: error %#lx rip %#lx cr2 %#lx", vector_name(r), last_fault.error,
             last_fault.rip, last_fault.cr2);
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
