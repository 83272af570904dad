/*
 * kvmsmoke: a few KVM_RUNs on the modules just loaded, for linux/kvm/loadcheck.mjs (not the
 * project's VMM, which is linux/vmm/). A real-mode guest loops on OUT 0x10 (exit to user space)
 * and HLT (exit to user space: no in-kernel irqchip). Before each KVM_RUN the VMM puts a new
 * value in its user GS base (glibc keeps FS for TLS, so FS only has to stay put); after each one it
 * checks its GS and FS bases, that a system call still works (LSTAR, STAR, SFMASK), and that the
 * guest's registers are the ones it left (RAX counts the loops).
 *
 * Prints "kvmsmoke: ok N runs" or "kvmsmoke: FAIL ...". Built with the host's gcc, static glibc.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <asm/prctl.h>

static int fail(const char *what, unsigned long long got, unsigned long long want, int run) {
  printf("kvmsmoke: FAIL run %d: %s is 0x%llx, want 0x%llx\n", run, what, got, want);
  return 1;
}

static unsigned long getbase(int code) {
  unsigned long v = 0;
  syscall(SYS_arch_prctl, code, &v);
  return v;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 100;
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) { printf("kvmsmoke: FAIL no /dev/kvm\n"); return 1; }
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  uint8_t *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  /* 0x1000: out 0x10, al; hlt; inc ax; jmp 0x1000 */
  static const uint8_t code[] = { 0xe6, 0x10, 0xf4, 0x40, 0xeb, 0xfa };
  memcpy(mem + 0x1000, code, sizeof code);
  struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0, .memory_size = 0x10000, .userspace_addr = (uintptr_t)mem };
  if (vm < 0 || mem == MAP_FAILED || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) { printf("kvmsmoke: FAIL VM set-up\n"); return 1; }
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  struct kvm_sregs sregs;
  if (vcpu < 0 || run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) { printf("kvmsmoke: FAIL vCPU set-up\n"); return 1; }
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  ioctl(vcpu, KVM_SET_SREGS, &sregs);
  struct kvm_regs regs = { .rip = 0x1000, .rflags = 2, .rax = 0, .rbx = 0xb0b0, .rcx = 0xc1c1, .rdx = 0xd0d0,
                           .rsi = 0x5151, .rdi = 0xd1d1, .r8 = 0x8888, .r14 = 0x1414, .r15 = 0x1515 };
  ioctl(vcpu, KVM_SET_REGS, &regs);
  const unsigned long fs = getbase(ARCH_GET_FS);
  const pid_t pid = getpid();
  int io = 0, hlt = 0;
  for (int i = 0; i < runs; i++) {
    const unsigned long gs = 0x10000000ul + 0x1000ul * i;
    syscall(SYS_arch_prctl, ARCH_SET_GS, gs);
    if (ioctl(vcpu, KVM_RUN, 0) < 0) { printf("kvmsmoke: FAIL run %d: KVM_RUN failed\n", i); return 1; }
    unsigned long gs_now = getbase(ARCH_GET_GS), fs_now = getbase(ARCH_GET_FS);
    if (gs_now != gs) return fail("the VMM's GS base", gs_now, gs, i);
    if (fs_now != fs) return fail("the VMM's FS base", fs_now, fs, i);
    if (syscall(SYS_getpid) != pid) return fail("getpid()", syscall(SYS_getpid), pid, i);
    if (run->exit_reason == KVM_EXIT_IO) io++;
    else if (run->exit_reason == KVM_EXIT_HLT) hlt++;
    else { printf("kvmsmoke: FAIL run %d: exit reason %u\n", i, run->exit_reason); return 1; }
    struct kvm_regs r;
    ioctl(vcpu, KVM_GET_REGS, &r);
    if (r.rbx != regs.rbx) return fail("guest RBX", r.rbx, regs.rbx, i);
    if (r.rcx != regs.rcx) return fail("guest RCX", r.rcx, regs.rcx, i);
    if (r.rdx != regs.rdx || r.rsi != regs.rsi || r.rdi != regs.rdi) return fail("guest RDX/RSI/RDI", r.rdx, regs.rdx, i);
    if (r.r8 != regs.r8 || r.r14 != regs.r14 || r.r15 != regs.r15) return fail("guest R8/R14/R15", r.r15, regs.r15, i);
    if ((r.rax & 0xffff) != (unsigned)(i / 2)) return fail("guest RAX (loop count)", r.rax, i / 2, i);
  }
  printf("kvmsmoke: ok %d runs (%d port I/O exits, %d HLT exits)\n", runs, io, hlt);
  return 0;
}
