/*
 * measure: time the instructions the world-switch designs use, on the CPU this runs on, and
 * print a cost profile (docs/measure.md). A multiboot kernel on the test runtime (guest/lib)
 * and the SVM harness (guest/svm): GRUB boots it on bare metal, QEMU boots it with -kernel,
 * `worldswitch measure` runs it on worldswitch.
 *
 * Method: each item is 64 back-to-back copies of an instruction between two LFENCE;RDTSC;LFENCE
 * readings, run R times; an item's cost is (its reading - the reading of its baseline) / 64,
 * where the baseline is the same frame with the copies removed (or, for LTR, with only the
 * instruction that clears the TSS busy bit left). Reported: median, min and max over the runs,
 * in TSC ticks, and the TSC's step (the gcd of back-to-back readings' differences). Interrupts
 * are off (IF = 0) throughout.
 *
 * Output on COM1: one `MEASURE name=... median=... min=... max=...` line per item, then one
 * `PROFILE {json}` line in the form `worldswitch bench --profile` reads (src/cost/profile-file.ts):
 * all-in costs with the serializing penalty folded in (serializing = 0).
 */
#include "../svm/svm.h"
#include "../svm/svm.c"

const char kernel_name[] = "measure";

void kernel_setup(void) { svm_detect(); }

#define K 64
#define RUNS 31

#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK_ 0xc0000084

/* one frame: t0, 64 x body, t1; returns t1 - t0. a, c, d go to RAX, RCX, RDX before the copies */
#define FRAME(fname, body)                                                                        \
  static __attribute__((noinline)) u64 fname(u64 a, u64 c, u64 d) {                              \
    u64 dt;                                                                                       \
    asm volatile("lfence\n\trdtsc\n\tlfence\n\tshl $32, %%rdx\n\tor %%rdx, %%rax\n\tmov %%rax, %%r8\n\t" \
                 "mov %1, %%rax\n\tmov %2, %%rcx\n\tmov %3, %%rdx\n\t"                             \
                 ".rept 64\n\t" body "\n\t.endr\n\t"                                              \
                 "lfence\n\trdtsc\n\tlfence\n\tshl $32, %%rdx\n\tor %%rdx, %%rax\n\tsub %%r8, %%rax" \
                 : "=&a"(dt) : "m"(a), "m"(c), "m"(d) : "rcx", "rdx", "r8", "r9", "memory", "cc");  \
    return dt;                                                                                    \
  }

FRAME(f_empty, "")
FRAME(f_base, "add $1, %%r9")
FRAME(f_vmrun, "vmrun %%rax")
FRAME(f_vmrun_ls, "vmload %%rax\n\tvmrun %%rax\n\tvmsave %%rax")
FRAME(f_vmload, "vmload %%rax")
FRAME(f_vmsave, "vmsave %%rax")
FRAME(f_clgi, "clgi")
FRAME(f_stgi, "stgi")
FRAME(f_rdmsr, "rdmsr")     /* RCX stays; RDMSR clobbers EAX/EDX */
FRAME(f_wrmsr, "wrmsr")
FRAME(f_wrgsbase, "wrgsbase %%rax")
FRAME(f_rdgsbase, "rdgsbase %%r9")
FRAME(f_swapgs, "swapgs")
FRAME(f_ltr, "andb $0xfd, 5(%%rcx)\n\tltr %%dx")
FRAME(f_ltr_base, "andb $0xfd, 5(%%rcx)")
FRAME(f_lldt, "lldt %%dx")
FRAME(f_movds, "mov %%dx, %%ds")
FRAME(f_lfence, "lfence")
FRAME(f_rdtsc, "rdtsc")

typedef u64 (*frame_fn)(u64, u64, u64);

/* t1 - t0 around n NOPs (0..64): a jump into a sled of 64 */
static __attribute__((noinline)) u64 nop_sled(u64 n) {
  u64 dt;
  asm volatile("lea 1f(%%rip), %%r9\n\tsub %1, %%r9\n\t"
               "lfence\n\trdtsc\n\tlfence\n\tshl $32, %%rdx\n\tor %%rdx, %%rax\n\tmov %%rax, %%r8\n\t"
               "jmp *%%r9\n\t.rept 64\n\tnop\n\t.endr\n1:\n\t"
               "lfence\n\trdtsc\n\tlfence\n\tshl $32, %%rdx\n\tor %%rdx, %%rax\n\tsub %%r8, %%rax"
               : "=&a"(dt) : "r"(n) : "rdx", "r8", "r9", "memory", "cc");
  return dt;
}

struct stat { i64 med, min, max; };   /* per instruction, in 1/100 TSC tick */

static void sort64(i64 *a, int n) {
  for (int i = 1; i < n; i++) {
    i64 t = a[i];
    int j = i;
    for (; j > 0 && a[j - 1] > t; j--) a[j] = a[j - 1];
    a[j] = t;
  }
}

/* (fn - base) / K over RUNS runs, in hundredths of a tick */
static struct stat timed(frame_fn fn, frame_fn base, u64 a, u64 c, u64 d) {
  i64 x[RUNS], b[RUNS];
  fn(a, c, d);
  base(a, c, d);                                 /* warm up */
  for (int i = 0; i < RUNS; i++) {
    x[i] = (i64)fn(a, c, d);
    b[i] = (i64)base(a, c, d);
  }
  sort64(b, RUNS);
  i64 b0 = b[RUNS / 2];
  for (int i = 0; i < RUNS; i++) x[i] = ((x[i] - b0) * 100) / K;
  sort64(x, RUNS);
  return (struct stat){ x[RUNS / 2], x[0], x[RUNS - 1] };
}

static void fix2(char *out, i64 v) {
  const char *s = v < 0 ? "-" : "";
  u64 u = (u64)(v < 0 ? -v : v);
  snprintf(out, 32, "%s%lu.%02lu", s, u / 100, u % 100);
}

static void report(const char *name, struct stat s) {
  char m[32], lo[32], hi[32];
  fix2(m, s.med);
  fix2(lo, s.min);
  fix2(hi, s.max);
  printf("MEASURE name=%s median=%s min=%s max=%s\n", name, m, lo, hi);
}

static u64 gcd(u64 a, u64 b) {
  while (b) { u64 t = a % b; a = b; b = t; }
  return a;
}

/* the profile's JSON, built up in a buffer and printed as one line */
static char json[4096];
static int jn;
static int jfirst = 1;

static void jcost(const char *name, struct stat s, i64 minus) {
  i64 m = s.med - minus, lo = s.min - minus, hi = s.max - minus;
  if (m < 0) m = 0;
  if (lo < 0) lo = 0;
  if (hi < m) hi = m;
  if (lo > m) lo = m;
  char a[32], b[32], c[32];
  fix2(a, m);
  fix2(b, lo);
  fix2(c, hi);
  jn += snprintf(json + jn, sizeof(json) - jn, "%s\"%s\":{\"cycles\":%s,\"low\":%s,\"high\":%s,\"source\":\"measured: median of %d runs of %d\"}",
                 jfirst ? "" : ",", name, a, b, c, RUNS, K);
  jfirst = 0;
}

static void measure_all(void) {
  if (!svm_begin(0)) return;
  cli();

  /* the TSC's step: the gcd of the readings around 0..64 NOPs (zero differences left out) */
  u64 step = 0;
  for (int r = 0; r < 4; r++)
    for (u64 n = 0; n <= 64; n++) step = gcd(step, nop_sled(n));
  printf("MEASURE name=tsc_step value=%lu\n", step);

  struct stat base = timed(f_base, f_empty, 0, 0, 0);
  report("base", base);

  /* the world switch: the guest is a VMMCALL, intercepted, at which it stays */
  extern u8 measure_guest[];
  vmsave(pa(save_page));                          /* the host's FS, GS, TR, ... to restore */
  vmcb_init(vmcb, (u64)measure_guest);
  VMCB8(vmcb, VMCB_TLB_CONTROL) = 0;
  vmsave(pa(vmcb));                               /* the guest's VMLOAD state = the host's */
  clgi();
  struct stat rt = timed(f_vmrun, f_empty, pa(vmcb), 0, 0);
  struct stat rtls = timed(f_vmrun_ls, f_empty, pa(vmcb), 0, 0);
  stgi();
  vmload(pa(save_page));
  report("vmrun_vmexit", rt);
  report("vmrun_vmexit_vmload_vmsave", rtls);

  memcpy(scratch_page, save_page, sizeof(scratch_page));
  struct stat vl = timed(f_vmload, f_empty, pa(scratch_page), 0, 0);
  struct stat vs = timed(f_vmsave, f_empty, pa(scratch_page), 0, 0);
  vmload(pa(save_page));
  report("vmload", vl);
  report("vmsave", vs);
  clgi();
  struct stat cg = timed(f_clgi, f_empty, 0, 0, 0);
  struct stat sg = timed(f_stgi, f_empty, 0, 0, 0);
  stgi();
  report("clgi", cg);
  report("stgi", sg);

  /* MSRs the designs touch, by the classes of src/cost/profile.ts */
  static const struct { const char *name, *cls; u32 msr; } msrs[] = {
    { "fs_base", "segBase", MSR_FS_BASE }, { "gs_base", "segBase", MSR_GS_BASE },
    { "kernel_gs_base", "segBase", MSR_KERNEL_GS_BASE }, { "star", "syscall", MSR_STAR },
    { "lstar", "syscall", MSR_LSTAR }, { "cstar", "syscall", MSR_CSTAR }, { "sfmask", "syscall", MSR_SFMASK_ },
    { "sysenter_cs", "sysenter", MSR_SYSENTER_CS }, { "sysenter_esp", "sysenter", MSR_SYSENTER_ESP },
    { "sysenter_eip", "sysenter", MSR_SYSENTER_EIP }, { "tsc_aux", "tscAux", MSR_TSC_AUX },
  };
  u32 a, b, c, d;
  cpuid(0x80000001, 0, &a, &b, &c, &d);
  int rdtscp = (d >> 27) & 1;
  struct stat rd[ARRAY_SIZE(msrs)], wr[ARRAY_SIZE(msrs)];
  int have[ARRAY_SIZE(msrs)];
  for (u64 i = 0; i < ARRAY_SIZE(msrs); i++) {
    have[i] = msrs[i].msr != MSR_TSC_AUX || rdtscp;
    if (!have[i]) continue;
    u64 v = rdmsr(msrs[i].msr);
    char n[48];
    rd[i] = timed(f_rdmsr, f_empty, 0, msrs[i].msr, 0);
    snprintf(n, sizeof(n), "rdmsr_%s", msrs[i].name);
    report(n, rd[i]);
    wr[i] = timed(f_wrmsr, f_empty, v & 0xffffffff, msrs[i].msr, v >> 32);
    wrmsr(msrs[i].msr, v);
    snprintf(n, sizeof(n), "wrmsr_%s", msrs[i].name);
    report(n, wr[i]);
  }

  struct stat wg = { 0, 0, 0 }, rg = { 0, 0, 0 };
  int fsgs = has_fsgsbase();
  if (fsgs) {
    write_cr4(read_cr4() | (1ul << 16));         /* CR4.FSGSBASE */
    u64 g = rdmsr(MSR_GS_BASE);
    wg = timed(f_wrgsbase, f_empty, g, 0, 0);
    rg = timed(f_rdgsbase, f_empty, 0, 0, 0);
    wrmsr(MSR_GS_BASE, g);
    report("wrgsbase", wg);
    report("rdgsbase", rg);
  }
  u64 kgs = rdmsr(MSR_KERNEL_GS_BASE), gsb = rdmsr(MSR_GS_BASE);
  struct stat sw = timed(f_swapgs, f_empty, 0, 0, 0);   /* 64 copies: an even number */
  wrmsr(MSR_KERNEL_GS_BASE, kgs);
  wrmsr(MSR_GS_BASE, gsb);
  report("swapgs", sw);

  /* LTR of the runtime's TSS (its busy bit cleared before each), LLDT of the null selector */
  u16 tr = str_sel();
  struct dtr g;
  sgdt(&g);
  struct stat lt = timed(f_ltr, f_ltr_base, 0, g.base + tr, tr);
  report("ltr", lt);
  struct stat ll = timed(f_lldt, f_empty, 0, 0, 0);
  report("lldt", ll);
  struct stat ds = timed(f_movds, f_empty, 0, 0, KDS);
  report("mov_ds", ds);
  struct stat lf = timed(f_lfence, f_empty, 0, 0, 0);
  report("lfence", lf);
  struct stat ts = timed(f_rdtsc, f_empty, 0, 0, 0);
  report("rdtsc", ts);

  /* the profile: all-in costs (serializing folded in); RDMSR/WRMSR carry `base` in the model */
  jn = snprintf(json, sizeof(json), "{\"name\":\"measured\",\"from\":\"zen3\",\"tscStep\":%lu,\"costs\":{", step);
  jcost("base", base, 0);
  struct stat half = { rt.med / 2, rt.min / 2, rt.max / 2 };
  jcost("vmrun", half, 0);
  jcost("vmexit", (struct stat){ rt.med - half.med, rt.min - half.min, rt.max - half.max }, 0);
  jcost("vmload", vl, 0);
  jcost("vmsave", vs, 0);
  jcost("clgi", cg, 0);
  jcost("stgi", sg, 0);
  if (fsgs) {
    jcost("wrfsgsbase", wg, 0);
    jcost("rdfsgsbase", rg, 0);
  }
  jcost("swapgs", sw, 0);
  jcost("descTable", lt, 0);
  jcost("segLoad", ds, 0);
  jcost("lfence", lf, 0);
  jcost("rdtsc", ts, 0);
  jcost("serializing", (struct stat){ 0, 0, 0 }, 0);
  /* per MSR class: the MSR with the median cost among those measured */
  static const char *const classes[] = { "segBase", "syscall", "sysenter", "tscAux" };
  for (u64 k = 0; k < ARRAY_SIZE(classes); k++) {
    for (int w = 0; w < 2; w++) {
      i64 v[8];
      int n = 0, at[8];
      for (u64 i = 0; i < ARRAY_SIZE(msrs); i++) {
        if (!have[i] || strcmp(msrs[i].cls, classes[k]) != 0) continue;
        at[n] = (int)i;
        v[n++] = w ? wr[i].med : rd[i].med;
      }
      if (n == 0) continue;
      int pick = at[0];
      i64 sv[8];
      for (int j = 0; j < n; j++) sv[j] = v[j];
      sort64(sv, n);
      for (int j = 0; j < n; j++) if (v[j] == sv[n / 2]) pick = at[j];
      char name[32];
      snprintf(name, sizeof(name), "%s.%s", w ? "wrmsr" : "rdmsr", classes[k]);
      jcost(name, w ? wr[pick] : rd[pick], base.med);
    }
  }
  jn += snprintf(json + jn, sizeof(json) - jn, "},\"segBaseSerializing\":false}");
  puts("PROFILE ");
  puts(json);
  puts("\n");
}

asm(".pushsection .text\n\t.globl measure_guest\nmeasure_guest:\n\tvmmcall\n\tjmp measure_guest\n.popsection");

#define T(n) { #n, n }
const struct test tests[] = { T(measure_all) };
const int ntests = ARRAY_SIZE(tests);
