/*
 * The real host's /init and VMM: a freestanding static Linux x86-64 program (no libc, no SSE)
 * that is the only process on Debian's kernel. It prepares /proc, /sys and /dev/kvm, says
 * "kvmhost: ready" and reads its request from the console in two lines: "design=vmload [modparams=A,B]", then "workload=hlt iterations=200 fsflip" (the
 * machine types them; a boot is snapshotted at "ready" and reused for every request). After the
 * first it loads irqbypass.ko and the design's kvm.ko and kvm-amd.ko (/kvm/<design>/ in the
 * initramfs) with finit_module, prints where the kernel put the modules' sections (MODSECT
 * lines, from /sys/module/<name>/sections; the machine reads them to find the modules'
 * symbols) and "kvmhost: modules loaded"; the machine sets its probes (and may snapshot) before
 * it types the second. It then creates a VM with
 * guest RAM at GUEST_BASE and one vCPU in 32-bit protected mode, runs one of the mini host's
 * guest programs (guest/host/vmm/guests.S, the same bytes) for N KVM_RUNs, and after every run
 * checks its own FS and GS bases (the self pointers at %fs:0 and %gs:0, RDFSBASE/RDGSBASE with
 * FSGSBASE) and TSC_AUX (RDTSCP, the CPU number Linux keeps there), as the mini VMM does.
 * Finally it prints KEY lines (VMM, EXITS, CPUID, CHECK, RESULT) and powers the machine off.
 *
 * The VMM takes no timestamps: the machine takes the thread's four itself at the kernel's
 * instructions (src/lab/linuxhost.ts), at no cycle cost.
 *
 * Options: design=NAME (the /kvm/NAME directory), workload=hlt|pio|mmio|
 * hypercall|cpuid|mix|wrmsr, iterations=N, kexits=K, uexits=U, fsflip (move the FS and GS bases
 * to the next of three blocks before every KVM_RUN, with WRFSBASE/WRGSBASE when the kernel
 * allows them, else arch_prctl), nochecks (skip the checks between runs), modparams=A,B
 * (kvm_amd module parameters, commas for spaces), migrate=N (move the vCPU thread to the next
 * online CPU with sched_setaffinity before every Nth KVM_RUN, so that KVM's vcpu_put and
 * vcpu_load run on every CPU; the checks then also say the thread is on the CPU it was moved to
 * and that TSC_AUX is that CPU's).
 *
 * FSGSBASE: whether the kernel lets user space use RDFSBASE and friends is AT_HWCAP2's
 * HWCAP2_FSGSBASE (Linux booted with nofsgsbase leaves CR4.FSGSBASE clear although CPUID still
 * lists it: the instructions would raise #UD), so the VMM asks the auxiliary vector, not CPUID.
 */
#include "rt.h"
#include "opts.h"
#include "sys.h"
#include "kvm_api.h"
#include "guestabi.h"

#define MAX_MISMATCH_LINES 8

static void out(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > (int)sizeof(buf) - 1) n = sizeof(buf) - 1;
  sys3(SYS_write, 1, (long)buf, n);
}

static void __attribute__((noreturn)) fail(const char *what, long err) {
  out("VMM: %s failed (error %ld)\nRESULT fail\n", what, -err);
  sys_poweroff();
}

/* one line from the console (the tty is in canonical mode: read returns a line) */
static void read_line(char *buf, u64 size) {
  u64 n = 0;
  while (n + 1 < size) {
    long r = sys3(SYS_read, 0, (long)buf + n, (long)(size - 1 - n));
    if (r <= 0) break;
    n += (u64)r;
    if (buf[n - 1] == '\n') break;
  }
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
  buf[n] = 0;
}

/* ---- the VMM's own user state, checked after every KVM_RUN ---- */

struct tls { struct tls *self; u64 pad[4]; u64 canary; };
struct ugs { struct ugs *self; u64 magic; };
static struct tls tls_blk[3] __attribute__((aligned(64)));
static struct ugs ugs_blk[3] __attribute__((aligned(64)));
static struct tls *cur_tls;
static struct ugs *cur_ugs;
static int fsgsbase;
static u32 host_tsc_aux;
/* migrate=N: the online CPUs, the one the thread was last moved to (-1: not moved) */
static u64 online_cpus;
static int ncpus, want_cpu = -1;

static inline u64 fs_read0(void) { u64 v; __asm__ volatile("mov %%fs:0, %0" : "=r"(v)); return v; }
static inline u64 gs_read0(void) { u64 v; __asm__ volatile("mov %%gs:0, %0" : "=r"(v)); return v; }
static inline u64 rdfsbase(void) { u64 v; __asm__ volatile("rdfsbase %0" : "=r"(v)); return v; }
static inline u64 rdgsbase(void) { u64 v; __asm__ volatile("rdgsbase %0" : "=r"(v)); return v; }
static inline void wrfsbase(u64 v) { __asm__ volatile("wrfsbase %0" :: "r"(v) : "memory"); }
static inline void wrgsbase(u64 v) { __asm__ volatile("wrgsbase %0" :: "r"(v) : "memory"); }
static inline u32 rdtscp_aux(void) { u32 lo, hi, aux; __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux)); return aux; }

static struct { u64 returns, bad_returns, user_fs, user_gs, tsc_aux, cpu, migrations, lines; } chk;

/* the CPU this thread runs on (getcpu) */
static int current_cpu(void) {
  u32 cpu = ~0u;
  long r = sys3(SYS_getcpu, (long)&cpu, 0, 0);
  return r < 0 ? -1 : (int)cpu;
}

static void mismatch(u64 iter, const char *what, u64 got, u64 want) {
  if (chk.lines++ < MAX_MISMATCH_LINES)
    out("MISMATCH iteration=%lu what=%s got=%#lx want=%#lx\n", iter, what, got, want);
}

static int check_after_run(u64 iter) {
  int fs_ok = 1, gs_ok = 1, ok = 1;
  if (fsgsbase) {
    u64 fsb = rdfsbase(), gsb = rdgsbase();
    if (fsb != (u64)cur_tls) { fs_ok = 0; mismatch(iter, "user FS base (RDFSBASE)", fsb, (u64)cur_tls); }
    if (gsb != (u64)cur_ugs) { gs_ok = 0; mismatch(iter, "user GS base (RDGSBASE)", gsb, (u64)cur_ugs); }
  }
  /* read through a base only when it is known good: a wrong one may point anywhere */
  if (fs_ok && fs_read0() != (u64)cur_tls) { fs_ok = 0; mismatch(iter, "user FS base (%fs:0)", fs_read0(), (u64)cur_tls); }
  if (gs_ok && gs_read0() != (u64)cur_ugs) { gs_ok = 0; mismatch(iter, "user GS base (%gs:0)", gs_read0(), (u64)cur_ugs); }
  if (!fs_ok) { chk.user_fs++; ok = 0; }
  if (!gs_ok) { chk.user_gs++; ok = 0; }
  u32 aux = rdtscp_aux();
  if (aux != host_tsc_aux) { chk.tsc_aux++; ok = 0; mismatch(iter, "TSC_AUX (RDTSCP)", aux, host_tsc_aux); }
  if (want_cpu >= 0) {
    int cpu = current_cpu();
    if (cpu != want_cpu) { chk.cpu++; ok = 0; mismatch(iter, "CPU (getcpu)", (u64)(i64)cpu, (u64)want_cpu); }
  }
  chk.returns++;
  if (!ok) chk.bad_returns++;
  return ok;
}

/* ---- system set-up ---- */

static void setup_system(void) {
  sys3(SYS_mkdir, (long)"/proc", 0555, 0);
  sys3(SYS_mkdir, (long)"/sys", 0555, 0);
  long r = sys5(SYS_mount, (long)"proc", (long)"/proc", (long)"proc", 0, 0);
  if (r < 0) fail("mount /proc", r);
  r = sys5(SYS_mount, (long)"sysfs", (long)"/sys", (long)"sysfs", 0, 0);
  if (r < 0) fail("mount /sys", r);
  /* /dev/kvm: the misc device KVM registers, major 10, minor 232 (KVM_MINOR) */
  r = sys3(SYS_mknod, (long)"/dev/kvm", S_IFCHR | 0600, (10 << 8) | 232);
  if (r < 0) fail("mknod /dev/kvm", r);
}

static void load_module(const char *path, const char *params) {
  long fd = sys3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) { out("VMM: cannot open %s\n", path); fail("open module", fd); }
  long r = sys3(SYS_finit_module, fd, (long)params, 0);
  sys3(SYS_close, fd, 0, 0);
  if (r < 0) { out("VMM: finit_module %s\n", path); fail("finit_module", r); }
}

struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; };

/* MODSECT <module> <section> <address>, for every section sysfs lists */
static void print_sections(const char *mod) {
  char dir[96], path[192], val[40];
  static char dents[8192];
  snprintf(dir, sizeof(dir), "/sys/module/%s/sections", mod);
  long dfd = sys3(SYS_open, (long)dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dfd < 0) fail("open /sys/module/.../sections", dfd);
  for (;;) {
    long n = sys3(SYS_getdents64, dfd, (long)dents, sizeof(dents));
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(dents + off);
      off += d->reclen;
      if (d->name[0] == '.' && (d->name[1] == 0 || (d->name[1] == '.' && d->name[2] == 0))) continue;
      snprintf(path, sizeof(path), "%s/%s", dir, d->name);
      long fd = sys3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0);
      if (fd < 0) continue;
      long len = sys3(SYS_read, fd, (long)val, sizeof(val) - 1);
      sys3(SYS_close, fd, 0, 0);
      if (len <= 0) continue;
      val[len] = 0;
      while (len && (val[len - 1] == '\n')) val[--len] = 0;
      out("MODSECT %s %s %s\n", mod, d->name, val);
    }
  }
  sys3(SYS_close, dfd, 0, 0);
}

/* ---- the guest ---- */

#define GUEST_PROG(n) extern const u8 guest_##n[], guest_##n##_end[];
GUEST_PROG(hlt) GUEST_PROG(pio) GUEST_PROG(mmio) GUEST_PROG(hypercall) GUEST_PROG(cpuid) GUEST_PROG(mix)
GUEST_PROG(wrmsr)
static const struct { const char *name; const u8 *start, *end; u32 kexits; } progs[] = {
#define G(n, k) { #n, guest_##n, guest_##n##_end, k }
  G(hlt, 0), G(pio, 0), G(mmio, 4), G(hypercall, 4), G(cpuid, 4), G(mix, 3), G(wrmsr, 0),
#undef G
};
static const u32 cpuid_leaves[] = { 0, 1, 7, 0x40000000, 0x40000001, 0x80000000, 0x80000001, 0x80000008, 0x8000000a };

/* guest RAM: the VMM's memory, KVM's memory slot 0 at guest-physical GUEST_BASE */
static u8 guest_ram[GUEST_SIZE] __attribute__((aligned(4096)));
#define GPA(a) (guest_ram + ((a) - GUEST_BASE))

static struct kvm_run *run;
static long vcpu_fd;
static struct { u64 hlt, io, io_console, mmio, other; } ux;

static long kvm_ioctl(long fd, unsigned long req, void *arg, const char *what) {
  long r = sys3(SYS_ioctl, fd, (long)req, (long)arg);
  if (r < 0) fail(what, r);
  return r;
}

static void flat_segment(struct kvm_segment *s, u16 sel, u8 type) {
  s->base = 0;
  s->limit = 0xffffffff;
  s->selector = sel;
  s->type = type;
  s->present = 1;
  s->dpl = 0;
  s->db = 1;
  s->s = 1;
  s->l = 0;
  s->g = 1;
  s->unusable = 0;
}

static struct { u32 nent, padding; struct kvm_cpuid_entry2 e[100]; } cpuid2;

static void create_vm(u32 kexits, u32 uexits, const u8 *prog, const u8 *prog_end) {
  long kvm = sys3(SYS_open, (long)"/dev/kvm", O_RDWR | O_CLOEXEC, 0);
  if (kvm < 0) fail("open /dev/kvm", kvm);
  long v = kvm_ioctl(kvm, KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION");
  if (v != KVM_API_VERSION) fail("KVM API version", -v);
  long vm = kvm_ioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");

  memcpy(GPA(GUEST_ENTRY), prog, (u64)(prog_end - prog));
  *(u32 *)GPA(GUEST_PARAMS + GP_KEXITS) = kexits;
  *(u32 *)GPA(GUEST_PARAMS + GP_UEXITS) = uexits;
  *(u32 *)GPA(GUEST_PARAMS + GP_NLEAVES) = ARRAY_SIZE(cpuid_leaves);
  for (u64 i = 0; i < ARRAY_SIZE(cpuid_leaves); i++) ((u32 *)GPA(GUEST_PARAMS + GP_LEAVES))[i] = cpuid_leaves[i];
  struct kvm_userspace_memory_region mr = { 0, 0, GUEST_BASE, GUEST_SIZE, (u64)guest_ram };
  kvm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &mr, "KVM_SET_USER_MEMORY_REGION");

  /* the doorbell: a guest write there is completed in the kernel (an ioeventfd, as vhost's
   * notifications are) and does not reach user space */
  long efd = sys3(SYS_eventfd2, 0, 0, 0);
  if (efd < 0) fail("eventfd2", efd);
  struct kvm_ioeventfd ioe;
  memset(&ioe, 0, sizeof(ioe));
  ioe.addr = DOORBELL_GPA;
  ioe.len = 4;
  ioe.fd = (i32)efd;
  kvm_ioctl(vm, KVM_IOEVENTFD, &ioe, "KVM_IOEVENTFD");

  vcpu_fd = kvm_ioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
  long size = kvm_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
  long p = sys6(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
  if (p < 0 && p > -4096) fail("mmap of the vcpu", p);
  run = (struct kvm_run *)p;

  cpuid2.nent = ARRAY_SIZE(cpuid2.e);
  kvm_ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid2, "KVM_GET_SUPPORTED_CPUID");
  kvm_ioctl(vcpu_fd, KVM_SET_CPUID2, &cpuid2, "KVM_SET_CPUID2");

  /* 32-bit protected mode, paging off, flat segments; the guest's own values of the state
   * VMLOAD/VMSAVE carry differ from the host's, so that one the host fails to restore shows */
  struct kvm_sregs sr;
  kvm_ioctl(vcpu_fd, KVM_GET_SREGS, &sr, "KVM_GET_SREGS");
  flat_segment(&sr.cs, 0x08, 11);
  flat_segment(&sr.ds, 0x10, 3);
  sr.es = sr.ss = sr.ds;
  flat_segment(&sr.fs, 0x10, 3);
  sr.fs.base = GUEST_BASE + 0x400;
  flat_segment(&sr.gs, 0x10, 3);
  sr.gs.base = GUEST_BASE + 0x500;
  sr.tr.base = GUEST_BASE + 0x700;
  sr.tr.limit = 0x67;
  sr.tr.selector = 0x18;
  sr.tr.type = 11;
  sr.tr.present = 1;
  sr.tr.s = 0;
  sr.tr.unusable = 0;
  sr.ldt.base = GUEST_BASE + 0x800;
  sr.ldt.limit = 0xffff;
  sr.ldt.selector = 0x20;
  sr.ldt.type = 2;
  sr.ldt.present = 1;
  sr.ldt.s = 0;
  sr.ldt.unusable = 0;
  sr.cr0 = 0x11; /* PE, ET */
  sr.cr4 = 0;
  sr.efer = 0;
  kvm_ioctl(vcpu_fd, KVM_SET_SREGS, &sr, "KVM_SET_SREGS");

  static struct { u32 n, pad; struct kvm_msr_entry e[8]; } msrs = { 8, 0, {
    { 0xc0000102, 0, GUEST_BASE + 0x600 },       /* KERNEL_GS_BASE */
    { 0xc0000081, 0, 0x0013000b00c0ffeeul },     /* STAR */
    { 0xc0000082, 0, GUEST_BASE + 0x900 },       /* LSTAR */
    { 0xc0000083, 0, GUEST_BASE + 0xa00 },       /* CSTAR */
    { 0xc0000084, 0, 0x300 },                    /* SFMASK */
    { 0x174, 0, 0x10 },                          /* SYSENTER_CS */
    { 0x175, 0, GUEST_BASE + 0xb00 },            /* SYSENTER_ESP */
    { 0x176, 0, GUEST_BASE + 0xc00 },            /* SYSENTER_EIP */
  } };
  long set = kvm_ioctl(vcpu_fd, KVM_SET_MSRS, &msrs, "KVM_SET_MSRS");
  if (set != 8) fail("KVM_SET_MSRS (entries set)", -set);

  struct kvm_regs regs;
  memset(&regs, 0, sizeof(regs));
  regs.rip = GUEST_ENTRY;
  regs.rsp = GUEST_STACK_TOP;
  regs.rflags = 2;
  kvm_ioctl(vcpu_fd, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

static char console_line[128];
static u64 console_len;

/* an exit to user space; returns 0 to stop */
static int handle_user_exit(u64 iter) {
  switch (run->exit_reason) {
  case KVM_EXIT_HLT:
    ux.hlt++;
    return 1;
  case KVM_EXIT_IO:
    ux.io++;
    if (run->io.port == CONSOLE_PORT && run->io.direction == KVM_EXIT_IO_OUT) {
      ux.io_console++;
      u8 c = *((u8 *)run + run->io.data_offset);
      if (c && c != '\n' && console_len + 1 < sizeof(console_line)) console_line[console_len++] = (char)c;
      if (c == '\n') { console_line[console_len] = 0; out("GUEST %s\n", console_line); console_len = 0; }
    }
    return 1;
  case KVM_EXIT_MMIO:
    ux.mmio++;
    return 1;
  default:
    ux.other++;
    out("EXIT iteration=%lu reason=%u hw=%#lx\n", iter, run->exit_reason, run->hw.hardware_exit_reason);
    return 0;
  }
}

/* the loop makes the checks: no stack canary of its own, so a wrong FS base is reported by
 * the checks rather than by the stack protector */
static int fsflip, nochecks;
static u64 migrate_every;

/* pin this thread to the next online CPU after want_cpu (the first with want_cpu = -1); TSC_AUX
 * there is Linux's (node << 12) | cpu (arch/x86/kernel/cpu/common.c, setup_getcpu; one node) */
static void migrate(u64 iter) {
  int next = want_cpu;
  for (int k = 0; k < 64; k++) {
    next = (next + 1) % 64;
    if (online_cpus & (1ul << next)) break;
  }
  u64 mask = 1ul << next;
  int before = current_cpu();
  long r = sys3(SYS_sched_setaffinity, 0, sizeof(mask), (long)&mask);
  if (r < 0) fail("sched_setaffinity", r);
  want_cpu = next;
  host_tsc_aux = (u32)next;
  if (before != next) chk.migrations++;
  /* the kernel moves the thread before sched_setaffinity returns */
  int cpu = current_cpu();
  if (cpu != next) { chk.cpu++; mismatch(iter, "CPU after sched_setaffinity (getcpu)", (u64)(i64)cpu, (u64)next); }
}

static u64 run_loop(u64 iterations) {
  u64 i;
  for (i = 0; i < iterations; i++) {
    if (migrate_every != 0 && i != 0 && i % migrate_every == 0) migrate(i);
    if (fsflip) {
      /* period 3: a host that restores a copy stale by any number of runs is seen */
      cur_tls = &tls_blk[(i + 1) % 3];
      cur_ugs = &ugs_blk[(i + 1) % 3];
      if (fsgsbase) {
        wrfsbase((u64)cur_tls);
        wrgsbase((u64)cur_ugs);
      } else {
        sys3(SYS_arch_prctl, ARCH_SET_FS, (long)cur_tls, 0);
        sys3(SYS_arch_prctl, ARCH_SET_GS, (long)cur_ugs, 0);
      }
    }
    long r = sys3(SYS_ioctl, vcpu_fd, (long)KVM_RUN, 0);
    if (r < 0) {
      out("EXIT iteration=%lu KVM_RUN returned %ld\n", i, r);
      break;
    }
    if (!nochecks) check_after_run(i);
    if (!handle_user_exit(i)) { i++; break; }
  }
  return i;
}

static char request[512];

/* AT_HWCAP2 from the auxiliary vector after argv and envp on the initial stack */
static u64 hwcap2(const u64 *sp) {
  const u64 *p = sp + 1 + sp[0] + 1;
  while (*p != 0) p++;
  for (p++; p[0] != AT_NULL; p += 2) if (p[0] == AT_HWCAP2) return p[1];
  return 0;
}

void vmm_main(const u64 *sp) {
  out("init: worldswitch /init started (kvmhost)\n");
  setup_system();
  for (int k = 0; k < 3; k++) {
    tls_blk[k].self = &tls_blk[k];
    tls_blk[k].canary = 0x7a11c0ffee5eed00ul;
    ugs_blk[k].self = &ugs_blk[k];
    ugs_blk[k].magic = 0x6773;
  }
  cur_tls = &tls_blk[0];
  cur_ugs = &ugs_blk[0];
  sys3(SYS_arch_prctl, ARCH_SET_FS, (long)cur_tls, 0);
  sys3(SYS_arch_prctl, ARCH_SET_GS, (long)cur_ugs, 0);
  /* Linux sets CR4.FSGSBASE when the CPU has it, unless booted with nofsgsbase, and says so in
   * AT_HWCAP2 (arch/x86/kernel/cpu/common.c); CPUID 7 EBX bit 0 lists it either way */
  fsgsbase = (hwcap2(sp) & HWCAP2_FSGSBASE) != 0;
  host_tsc_aux = rdtscp_aux();
  if (sys3(SYS_sched_getaffinity, 0, sizeof(online_cpus), (long)&online_cpus) < 0) online_cpus = 1;
  for (int k = 0; k < 64; k++) ncpus += (online_cpus >> k) & 1;

  out("kvmhost: ready\n");
  /* line 1: which modules */
  read_line(request, sizeof(request));
  out("kvmhost: modules %s\n", request);
  char v[64], path[96], dname[64];
  snprintf(dname, sizeof(dname), "%s", opt_value(request, "design", v, sizeof(v)) ? v : "vmload");
  char modparams[64] = "";
  if (opt_value(request, "modparams", v, sizeof(v))) {
    snprintf(modparams, sizeof(modparams), "%s", v);
    for (char *p = modparams; *p; p++) if (*p == ',') *p = ' ';
  }
  load_module("/kvm/irqbypass.ko", "");
  snprintf(path, sizeof(path), "/kvm/%s/kvm.ko", dname);
  load_module(path, "");
  snprintf(path, sizeof(path), "/kvm/%s/kvm-amd.ko", dname);
  load_module(path, modparams);
  print_sections("kvm");
  print_sections("kvm_amd");
  out("kvmhost: modules loaded\n");

  /* line 2: the run (the machine may snapshot here and send different runs) */
  read_line(request, sizeof(request));
  out("kvmhost: run %s\n", request);
  const char *wname = opt_value(request, "workload", v, sizeof(v)) ? v : "hlt";
  int w = -1;
  for (u64 i = 0; i < ARRAY_SIZE(progs); i++) if (strcmp(progs[i].name, wname) == 0) w = (int)i;
  if (w < 0) { out("VMM: unknown workload=%s\nRESULT fail\n", wname); sys_poweroff(); }
  u64 iterations = opt_value(request, "iterations", v, sizeof(v)) ? strtou(v, NULL) : 100;
  u32 kexits = opt_value(request, "kexits", v, sizeof(v)) ? (u32)strtou(v, NULL) : progs[w].kexits;
  u32 uexits = opt_value(request, "uexits", v, sizeof(v)) ? (u32)strtou(v, NULL) : 1;
  if (uexits == 0) uexits = 1;
  fsflip = opt_word(request, "fsflip");
  nochecks = opt_word(request, "nochecks");
  migrate_every = opt_value(request, "migrate", v, sizeof(v)) ? strtou(v, NULL) : 0;

  out("VMM design=%s workload=%s iterations=%lu kexits=%u uexits=%u fsgsbase=%d fsflip=%d cpus=%d migrate=%lu\n", dname,
      progs[w].name, iterations, kexits, uexits, fsgsbase, fsflip, ncpus, migrate_every);
  /* with more than one CPU the scheduler may have moved the VMM since it read TSC_AUX: pin it
   * to the first CPU (migrate=N moves it on from there) */
  if (ncpus > 1) {
    migrate(0);
    chk.migrations = 0;
  }
  if (!check_after_run(0)) { out("RESULT fail\n"); sys_poweroff(); }
  chk.returns = 0;
  create_vm(kexits, uexits, progs[w].start, progs[w].end);
  out("kvmhost: running\n");
  u64 done = run_loop(iterations);
  out("kvmhost: done\n");
  out("EXITS user hlt=%lu io=%lu mmio=%lu other=%lu\n", ux.hlt, ux.io, ux.mmio, ux.other);
  if (strcmp(progs[w].name, "cpuid") == 0) {
    const u32 *o = (const u32 *)GPA(GUEST_PARAMS + GP_CPUID_OUT);
    for (u64 i = 0; i < ARRAY_SIZE(cpuid_leaves); i++)
      out("CPUID leaf=%#x eax=%#x ebx=%#x ecx=%#x edx=%#x\n", cpuid_leaves[i], o[4 * i], o[4 * i + 1], o[4 * i + 2],
          o[4 * i + 3]);
  }
  out("CHECK returns=%lu bad_returns=%lu user_fs=%lu user_gs=%lu tsc_aux=%lu cpu=%lu migrations=%lu\n", chk.returns,
      chk.bad_returns, chk.user_fs, chk.user_gs, chk.tsc_aux, chk.cpu, chk.migrations);
  int ok = done == iterations && ux.other == 0 && chk.bad_returns == 0 && chk.cpu == 0;
  out("RESULT %s\n", ok ? "ok" : "fail");
  sys_poweroff();
}

/* the process entry: align the stack as the ABI expects at a call */
__asm__(".globl _start\n_start:\n xor %ebp, %ebp\n mov %rsp, %rdi\n and $-16, %rsp\n call vmm_main\n ud2\n");
