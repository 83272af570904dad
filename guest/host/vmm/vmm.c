/*
 * The VMM: a ring-3 process that sets its own FS base (TLS) and GS base, creates the vcpu,
 * loads a guest program into guest RAM, and loops on KVM_RUN. After every return it checks that
 * its FS and GS bases and TSC_AUX are its own and asks the kernel to compare the SYSCALL MSRs,
 * KERNEL_GS_BASE, TR and LDTR with the host's values. It handles the exits that reach user
 * space (HLT, port I/O, MMIO) and finally prints, as KEY lines a tool can read:
 *
 *   VMM design=... workload=... iterations=N kexits=K fsgsbase=0|1 nmi=P
 *   PHASE name=... min=... median=... max=...       cycles (RDTSC) per KVM_RUN
 *   EXITS ...                                       exit counts, to user space and in kernel
 *   CPUID leaf=... eax=... ebx=... ecx=... edx=...  what the guest saw (workload cpuid)
 *   CHECK ...                                       the checks, and any MISMATCH lines
 *   RESULT ok|fail
 *
 * Arguments (the kernel command line): workload=NAME iterations=N kexits=K uexits=U (mix);
 * fsflip: before every KVM_RUN, move the FS and GS bases on to the next of three TLS and GS
 * blocks, with WRFSBASE/WRGSBASE at ring 3 when the kernel enables FSGSBASE (as programs using
 * arch_prctl-free TLS do) and with arch_prctl otherwise. The period is 3, so a host that
 * restores a copy of the VMM's bases that is stale by any number of runs (one, two, ...) is
 * seen; the verifier boots with it.
 * nochecks: skip the checks after each KVM_RUN (the verifier makes them itself, through the
 * machine, and keeps the VMM's code between the KVM_RUNs it replays short).
 */
#include "vmm.h"

#define MAX_ITER 50000
#define MAX_MISMATCH_LINES 8

char vmm_args[512];
struct tls vmm_tls __attribute__((aligned(64)));
static struct tls vmm_tls2 __attribute__((aligned(64)));
static struct tls vmm_tls3 __attribute__((aligned(64)));
static struct tls *cur_tls = &vmm_tls;   /* the FS base the VMM set last */
static int fsflip;
static int nochecks;
/* migrate=N: every N KVM_RUNs the VMM moves to the other CPU (SYS_MIGRATE), so the vcpu is put
 * on one CPU and loaded on the other; `migrated` counts the moves */
static u64 migrate_every, migrated;
struct ugs vmm_ugs __attribute__((aligned(64)));
static struct ugs vmm_ugs2 __attribute__((aligned(64)));
static struct ugs vmm_ugs3 __attribute__((aligned(64)));
static struct ugs *cur_ugs = &vmm_ugs;   /* the GS base the VMM set last */
static struct kvm_run run __attribute__((aligned(4096)));
static struct host_info info;
static struct host_check hc;

/* per-iteration phase lengths */
enum { PH_ENTRY, PH_KERNEL, PH_KERNEL_EACH, PH_VMRUN, PH_EXIT, PH_TOTAL, PH_N };
static const char *const phase_names[PH_N] = {
  "entry_to_vmrun", "in_kernel_exits", "per_kernel_exit", "vmrun_to_post", "post_to_exit", "total",
};
static u64 phases[PH_N][MAX_ITER];

static struct {
  u64 returns, bad_returns, user_fs, user_gs, tsc_aux, host, lines;
  u64 host_bits[CHK_N];
} chk;
static const char *const chk_names[CHK_N] = { CHK_NAMES };
static struct { u64 hlt, io, io_console, mmio, other; } ux;
static char console_line[128];
static u64 console_len;

static void mismatch(u64 iter, const char *what, u64 got, u64 want) {
  if (chk.lines++ < MAX_MISMATCH_LINES)
    printf("MISMATCH iteration=%lu what=%s got=%#lx want=%#lx\n", iter, what, got, want);
}

/*
 * The checks after one return from KVM_RUN; returns 1 when everything is the host's. The
 * kernel's view comes first: where it says the FS or GS base is not the VMM's, the VMM does not
 * read through that base (it may point anywhere, or be 0 where a null selector load cleared it).
 */
static int check_after_run(u64 iter) {
  int ok = 1;
  u64 bad = (u64)syscall1(SYS_HOST_CHECK, (long)&hc);
  if (bad) {
    chk.host++;
    ok = 0;
    for (int k = 0; k < CHK_N; k++) {
      if (!(bad & (1ul << k))) continue;
      chk.host_bits[k]++;
      mismatch(iter, chk_names[k], hc.got[k], hc.want[k]);
    }
  }
  int fs_ok = !(bad & (1ul << CHK_FS_BASE)), gs_ok = !(bad & (1ul << CHK_KERNEL_GS_BASE));
  if (info.fsgsbase) {
    u64 fsb = rdfsbase(), gsb = rdgsbase();
    if (fsb != (u64)cur_tls) { fs_ok = 0; mismatch(iter, "user FS base (RDFSBASE)", fsb, (u64)cur_tls); }
    if (gsb != (u64)cur_ugs) { gs_ok = 0; mismatch(iter, "user GS base (RDGSBASE)", gsb, (u64)cur_ugs); }
  }
  if (fs_ok) {
    u64 fs0 = fs_read0();
    if (fs0 != (u64)cur_tls) { fs_ok = 0; mismatch(iter, "user FS base (%fs:0)", fs0, (u64)cur_tls); }
  }
  if (gs_ok) {
    u64 gs0 = gs_read0();
    if (gs0 != (u64)cur_ugs) { gs_ok = 0; mismatch(iter, "user GS base (%gs:0)", gs0, (u64)cur_ugs); }
  }
  if (!fs_ok) { chk.user_fs++; ok = 0; }
  if (!gs_ok) { chk.user_gs++; ok = 0; }
  u32 aux;
  rdtscp(&aux);
  if (aux != info.host_tsc_aux) { chk.tsc_aux++; ok = 0; mismatch(iter, "TSC_AUX (RDTSCP)", aux, info.host_tsc_aux); }
  chk.returns++;
  if (!ok) chk.bad_returns++;
  return ok;
}

static void console_byte(u8 c) {
  if (c == 0) return;
  if (c != '\n' && console_len + 1 < sizeof(console_line)) console_line[console_len++] = (char)c;
  if (c == '\n') {
    console_line[console_len] = 0;
    printf("GUEST %s\n", console_line);
    console_len = 0;
  }
}

/* an exit to user space; returns 0 to stop */
static int handle_user_exit(u64 iter) {
  switch (run.exit_reason) {
  case KVM_EXIT_HLT:
    ux.hlt++;
    return 1;
  case KVM_EXIT_IO:
    ux.io++;
    if (run.io.port == CONSOLE_PORT && run.io.direction == KVM_EXIT_IO_OUT) {
      ux.io_console++;
      console_byte((u8)run.io.data);
    }
    return 1;
  case KVM_EXIT_MMIO:
    ux.mmio++;
    return 1;
  default:
    ux.other++;
    printf("EXIT iteration=%lu reason=%u code=%#lx info1=%#lx info2=%#lx rip=%#lx\n", iter, run.exit_reason,
           run.fail.exit_code, run.fail.info1, run.fail.info2, run.fail.rip);
    return 0;
  }
}

static void sort(u64 *a, u64 n) {
  static const u64 gaps[] = { 1750, 701, 301, 132, 57, 23, 10, 4, 1 };
  for (u64 g = 0; g < ARRAY_SIZE(gaps); g++) {
    u64 gap = gaps[g];
    for (u64 i = gap; i < n; i++) {
      u64 t = a[i], j = i;
      for (; j >= gap && a[j - gap] > t; j -= gap) a[j] = a[j - gap];
      a[j] = t;
    }
  }
}

static void report_phases(u64 n) {
  for (int p = 0; p < PH_N; p++) {
    sort(phases[p], n);
    printf("PHASE name=%s min=%lu median=%lu max=%lu\n", phase_names[p], phases[p][0], phases[p][n / 2], phases[p][n - 1]);
  }
}

static const struct guest_prog *find_prog(const char *name) {
  for (int i = 0; i < n_guest_progs; i++) {
    if (strcmp(guest_progs[i].name, name) == 0) return &guest_progs[i];
  }
  return NULL;
}

static const u32 cpuid_leaves[] = { 0, 1, 7, 0x40000000, 0x40000001, 0x80000000, 0x80000001, 0x80000008, 0x8000000a };

static void load_guest(const struct guest_prog *g, u32 kexits, u32 uexits) {
  u8 *mem = (u8 *)GUEST_BASE;
  memset(mem, 0, GUEST_STACK_TOP - GUEST_BASE);
  memcpy((u8 *)GUEST_ENTRY, g->start, (u64)(g->end - g->start));
  *(u32 *)(mem + GP_KEXITS) = kexits;
  *(u32 *)(mem + GP_UEXITS) = uexits;
  *(u32 *)(mem + GP_NLEAVES) = ARRAY_SIZE(cpuid_leaves);
  for (u64 i = 0; i < ARRAY_SIZE(cpuid_leaves); i++) ((u32 *)(mem + GP_LEAVES))[i] = cpuid_leaves[i];
}

static long create_vcpu(void) {
  struct kvm_vcpu_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.mem_gpa = GUEST_BASE;
  cfg.mem_size = GUEST_SIZE;
  cfg.mem_uaddr = GUEST_BASE;
  cfg.doorbell_gpa = DOORBELL_GPA;
  cfg.rip = GUEST_ENTRY;
  cfg.rsp = GUEST_STACK_TOP;
  cfg.run = &run;
  /* the guest's own values, none equal to the host's: a base that is not restored points into
   * guest RAM, where the VMM's checks read something that is not its own self pointer */
  cfg.fs_base = GUEST_BASE + 0x400;
  cfg.gs_base = GUEST_BASE + 0x500;
  cfg.kernel_gs_base = GUEST_BASE + 0x600;
  cfg.tr_base = GUEST_BASE + 0x700;
  cfg.ldtr_base = GUEST_BASE + 0x800;
  cfg.star = 0x0013000b00c0ffeeul;
  cfg.lstar = GUEST_BASE + 0x900;
  cfg.cstar = GUEST_BASE + 0xa00;
  cfg.sfmask = 0x300;
  cfg.sysenter_cs = 0x10;
  cfg.sysenter_esp = GUEST_BASE + 0xb00;
  cfg.sysenter_eip = GUEST_BASE + 0xc00;
  cfg.tsc_aux = 0x77;
  return syscall1(SYS_KVM_CREATE_VCPU, (long)&cfg);
}

/* the loop makes the system calls whose return it checks: no canary of its own, so that a
 * wrong FS base is reported by the checks rather than by the stack protector */
__attribute__((no_stack_protector)) static u64 run_loop(u64 iterations) {
  u64 i;
  for (i = 0; i < iterations; i++) {
    if (migrate_every && i > 0 && i % migrate_every == 0) {
      long m = syscall1(SYS_MIGRATE, (long)((i / migrate_every) & 1));
      if (m < 0) {
        printf("EXIT iteration=%lu MIGRATE returned %ld\n", i, m);
        break;
      }
      migrated++;
    }
    if (fsflip) {
      /* period 3; the first KVM_RUN already has new bases */
      static struct tls *const tls_ring[3] = { &vmm_tls2, &vmm_tls3, &vmm_tls };
      static struct ugs *const ugs_ring[3] = { &vmm_ugs2, &vmm_ugs3, &vmm_ugs };
      cur_tls = tls_ring[i % 3];
      cur_ugs = ugs_ring[i % 3];
      if (info.fsgsbase) {
        wrfsbase((u64)cur_tls);
        wrgsbase((u64)cur_ugs);
        /* the kernel's own check after KVM_RUN compares with the bases it last set for us
         * (arch_prctl); tell it, unless those checks are off (the verifier makes its own) */
        if (!nochecks) {
          syscall2(SYS_ARCH_PRCTL, ARCH_SET_FS, (long)cur_tls);
          syscall2(SYS_ARCH_PRCTL, ARCH_SET_GS, (long)cur_ugs);
        }
      } else {
        syscall2(SYS_ARCH_PRCTL, ARCH_SET_FS, (long)cur_tls);
        syscall2(SYS_ARCH_PRCTL, ARCH_SET_GS, (long)cur_ugs);
      }
    }
    long r = syscall1(SYS_KVM_RUN, 0);
    if (r < 0) {
      printf("EXIT iteration=%lu KVM_RUN returned %ld\n", i, r);
      break;
    }
    if (!nochecks) check_after_run(i);
    u64 kernel = run.t_pre_last - run.t_pre_first;
    phases[PH_ENTRY][i] = run.t_pre_first - run.t_entry;
    phases[PH_KERNEL][i] = kernel;
    phases[PH_KERNEL_EACH][i] = run.vmruns > 1 ? kernel / (run.vmruns - 1) : 0;
    phases[PH_VMRUN][i] = run.t_post_last - run.t_pre_last;
    phases[PH_EXIT][i] = run.t_exit - run.t_post_last;
    phases[PH_TOTAL][i] = run.t_exit - run.t_entry;
    if (!handle_user_exit(i)) { i++; break; }
  }
  return i;
}

/* sets up FS (TLS, with the canary) itself, so it cannot carry a canary */
__attribute__((no_stack_protector)) int vmm_main(const char *args);
__attribute__((no_stack_protector)) int vmm_main(const char *args) {
  char v[32];
  vmm_tls.self = &vmm_tls;
  vmm_tls.canary = 0x7a11c0ffee5eed00ul;
  vmm_tls2.self = &vmm_tls2;
  vmm_tls2.canary = vmm_tls.canary;
  vmm_tls3.self = &vmm_tls3;
  vmm_tls3.canary = vmm_tls.canary;
  vmm_ugs.self = &vmm_ugs;
  vmm_ugs.magic = 0x6773;
  vmm_ugs2.self = &vmm_ugs2;
  vmm_ugs2.magic = 0x6773;
  vmm_ugs3.self = &vmm_ugs3;
  vmm_ugs3.magic = 0x6773;
  syscall2(SYS_ARCH_PRCTL, ARCH_SET_FS, (long)&vmm_tls);
  syscall2(SYS_ARCH_PRCTL, ARCH_SET_GS, (long)&vmm_ugs);
  syscall1(SYS_HOST_INFO, (long)&info);

  const char *wname = opt_value(args, "workload", v, sizeof(v)) ? v : "hlt";
  const struct guest_prog *g = find_prog(wname);
  if (!g) {
    printf("VMM: unknown workload=%s (", wname);
    for (int i = 0; i < n_guest_progs; i++) printf("%s%s", i ? ", " : "", guest_progs[i].name);
    printf(")\nRESULT fail\n");
    return 2;
  }
  u64 iterations = opt_value(args, "iterations", v, sizeof(v)) ? strtou(v, NULL) : 1000;
  if (iterations == 0 || iterations > MAX_ITER) {
    printf("VMM: iterations must be 1..%u\nRESULT fail\n", MAX_ITER);
    return 2;
  }
  fsflip = opt_word(args, "fsflip");
  nochecks = opt_word(args, "nochecks");
  migrate_every = opt_value(args, "migrate", v, sizeof(v)) ? strtou(v, NULL) : 0;
  u32 kexits = opt_value(args, "kexits", v, sizeof(v)) ? (u32)strtou(v, NULL) : g->kexits;
  u32 uexits = opt_value(args, "uexits", v, sizeof(v)) ? (u32)strtou(v, NULL) : 1;
  if (uexits == 0) uexits = 1;
  printf("VMM design=%s workload=%s iterations=%lu kexits=%u uexits=%u fsgsbase=%lu nmi=%lu timer=%lu\n",
         info.design, g->name, iterations, kexits, uexits, info.fsgsbase, info.nmi_period, info.timer_period);

  /* before any vcpu exists everything must already check out */
  if (!check_after_run(0)) {
    printf("RESULT fail\n");
    return 1;
  }
  chk.returns = 0;

  load_guest(g, kexits, uexits);
  long r = create_vcpu();
  if (r < 0) {
    printf("VMM: KVM_CREATE_VCPU failed: %ld\nRESULT fail\n", r);
    return 1;
  }
  u64 done = run_loop(iterations);

  if (done) report_phases(done);
  struct kvm_stats *s = &run.stat;
  printf("EXITS user hlt=%lu io=%lu mmio=%lu other=%lu\n", ux.hlt, ux.io, ux.mmio, ux.other);
  printf("EXITS kernel doorbell=%lu hypercall=%lu cpuid=%lu intr=%lu nmi=%lu vmruns=%lu\n", s->doorbell,
         s->hypercall, s->cpuid, s->intr, s->nmi, s->vmruns);
  if (strcmp(g->name, "cpuid") == 0) {
    const u32 *out = (const u32 *)(GUEST_BASE + GP_CPUID_OUT);
    for (u64 i = 0; i < ARRAY_SIZE(cpuid_leaves); i++)
      printf("CPUID leaf=%#x eax=%#x ebx=%#x ecx=%#x edx=%#x\n", cpuid_leaves[i], out[4 * i], out[4 * i + 1],
             out[4 * i + 2], out[4 * i + 3]);
  }
  syscall1(SYS_HOST_CHECK, (long)&hc);
  printf("CHECK returns=%lu bad_returns=%lu user_fs=%lu user_gs=%lu tsc_aux=%lu host=%lu", chk.returns,
         chk.bad_returns, chk.user_fs, chk.user_gs, chk.tsc_aux, chk.host);
  for (int k = 0; k < CHK_N; k++) {
    if (chk.host_bits[k]) printf(" %s=%lu", chk_names[k], chk.host_bits[k]);
  }
  printf("\nCHECK nmis=%lu nmi_at_stgi=%lu nmi_bad_gs=%lu nmi_last_bad_gs=%#lx gs_violations=%lu ticks=%lu\n",
         hc.nmis, hc.nmi_at_stgi, hc.nmi_bad_gs, hc.nmi_last_bad_gs, hc.gs_violations, hc.ticks);
  printf("CHECK nmi_bad_tr=%lu nmi_percpu_bad=%lu nmi_after_stgi=%lu nmi_user=%lu nmi_run=%lu nmi_idle=%lu nmi_kernel=%lu nmiipi_sent=%lu\n",
         hc.nmi_bad_tr, hc.nmi_percpu_bad, hc.nmi_after_stgi, hc.nmi_user, hc.nmi_run, hc.nmi_idle, hc.nmi_kernel, hc.nmiipi_sent);
  if (migrate_every) printf("MIGRATE every=%lu moves=%lu\n", migrate_every, migrated);
  int ok = done == iterations && ux.other == 0 && chk.bad_returns == 0 && hc.nmi_bad_gs == 0 && hc.gs_violations == 0 &&
           hc.nmi_bad_tr == 0 && hc.nmi_percpu_bad == 0;
  printf("RESULT %s\n", ok ? "ok" : "fail");
  return ok ? 0 : 1;
}

const struct guest_prog guest_progs[] = {
#define G(n, k, w) { #n, guest_##n, guest_##n##_end, k, w }
  G(hlt, 0, "HLT: every exit to the VMM"),
  G(pio, 0, "OUT to the console port: every exit to the VMM"),
  G(mmio, 4, "K MMIO doorbell writes in the kernel, then HLT"),
  G(hypercall, 4, "K VMMCALL in the kernel, then HLT"),
  G(cpuid, 4, "reports CPUID leaves; K CPUID in the kernel, then HLT"),
  G(mix, 3, "K in-kernel exits (doorbell, VMMCALL, CPUID), then U of HLT, OUT, user MMIO"),
  G(wrmsr, 0, "WRMSR of its own KERNEL_GS_BASE, then HLT: every exit to the VMM"),
#undef G
};
const int n_guest_progs = ARRAY_SIZE(guest_progs);
