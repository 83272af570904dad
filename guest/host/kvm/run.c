/*
 * KVM_RUN: vcpu_load, the run loop, vcpu_put; and the exit handlers.
 *
 * The run loop (Linux's vcpu_enter_guest) goes round while the exit is handled in the kernel:
 * the MMIO doorbell, VMMCALL, CPUID, and physical INTR and NMI (the host takes those itself
 * once GIF and IF allow). HLT, port I/O and MMIO nobody in the kernel claims return to the VMM
 * (KVM without an in-kernel interrupt controller: one VMRUN per HLT).
 *
 * Guest RIP is advanced by decoding the instruction (HLT 1 byte, CPUID 2, VMMCALL 3, MMIO
 * stores by their ModRM), as KVM does on CPUs without NRIPS; port I/O uses EXITINFO2, which
 * holds the next RIP (APM 15.10.2).
 */
#include "kvm.h"

static const u8 op_hlt[] = { 0xf4 };
static const u8 op_cpuid[] = { 0x0f, 0xa2 };
static const u8 op_vmmcall[] = { 0x0f, 0x01, 0xd9 };

static void skip(struct vcpu *v, u64 n) { VMCB64(v->vmcb, VMCB_RIP) += n; }

static int internal_error(struct vcpu *v, u64 code) {
  struct kvm_run *run = v->run;
  run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
  run->fail.exit_code = code;
  run->fail.info1 = VMCB64(v->vmcb, VMCB_EXITINFO1);
  run->fail.info2 = VMCB64(v->vmcb, VMCB_EXITINFO2);
  run->fail.rip = VMCB64(v->vmcb, VMCB_RIP);
  v->stat.other++;
  return 0;
}

static int handle_npf(struct vcpu *v) {
  u64 gpa = VMCB64(v->vmcb, VMCB_EXITINFO2);
  u64 err = VMCB64(v->vmcb, VMCB_EXITINFO1);
  struct mmio_insn m;
  /* an MMIO page (reserved-bit mark) or no page at all; guest RAM never faults */
  if (gpa >= v->mem_gpa && gpa < v->mem_gpa + v->mem_size) return internal_error(v, EXIT_NPF);
  if (decode_mmio(v, &m) < 0 || !m.is_write) return internal_error(v, EXIT_NPF);
  skip(v, (u64)m.len);
  if ((gpa & ~0xffful) == v->doorbell_gpa && (err & NPF_RSV)) {
    /* the doorbell (an ioeventfd): the write itself is the message */
    v->stat.doorbell++;
    return 1;
  }
  struct kvm_run *run = v->run;
  run->exit_reason = KVM_EXIT_MMIO;
  run->mmio.phys_addr = gpa;
  run->mmio.data = m.value;
  run->mmio.len = (u32)m.size;
  run->mmio.is_write = 1;
  v->stat.mmio_user++;
  return 0;
}

static int handle_ioio(struct vcpu *v) {
  u64 info1 = VMCB64(v->vmcb, VMCB_EXITINFO1);
  if (info1 & (IOIO_STR | IOIO_REP | IOIO_IN)) return internal_error(v, EXIT_IOIO);
  u32 size = (info1 >> IOIO_SIZE_SHIFT) & 7;   /* 1, 2 or 4: SZ8, SZ16, SZ32 */
  u64 bytes = size == 1 ? 1 : size == 2 ? 2 : 4;
  struct kvm_run *run = v->run;
  run->exit_reason = KVM_EXIT_IO;
  run->io.direction = KVM_EXIT_IO_OUT;
  run->io.size = (u8)bytes;
  run->io.port = (u16)(info1 >> 16);
  run->io.count = 1;
  run->io.data = VMCB64(v->vmcb, VMCB_RAX) & (bytes == 4 ? 0xffffffffu : bytes == 2 ? 0xffffu : 0xffu);
  VMCB64(v->vmcb, VMCB_RIP) = VMCB64(v->vmcb, VMCB_EXITINFO2);
  v->stat.io++;
  return 0;
}

/* returns 1 to enter the guest again, 0 to return to user space (run->exit_reason set) */
int handle_exit(struct vcpu *v) {
  u64 code = VMCB64(v->vmcb, VMCB_EXITCODE);
  struct kvm_run *run = v->run;
  switch (code) {
  case EXIT_INTR:
    v->stat.intr++;
    return 1;
  case EXIT_NMI:
    v->stat.nmi++;
    return 1;
  case EXIT_VMMCALL:
    if (!guest_insn_is(v, op_vmmcall, 3)) return internal_error(v, code);
    skip(v, 3);
    VMCB64(v->vmcb, VMCB_RAX) = 0;   /* hypercall result: nothing to do, success */
    v->stat.hypercall++;
    return 1;
  case EXIT_CPUID:
    if (!guest_insn_is(v, op_cpuid, 2)) return internal_error(v, code);
    kvm_emulate_cpuid(v);
    skip(v, 2);
    v->stat.cpuid++;
    return 1;
  case EXIT_NPF:
    return handle_npf(v);
  case EXIT_HLT:
    if (!guest_insn_is(v, op_hlt, 1)) return internal_error(v, code);
    skip(v, 1);
    run->exit_reason = KVM_EXIT_HLT;
    v->stat.hlt++;
    return 0;
  case EXIT_IOIO:
    return handle_ioio(v);
  case EXIT_SHUTDOWN:
    internal_error(v, code);
    run->exit_reason = KVM_EXIT_SHUTDOWN;
    return 0;
  case EXIT_INVALID:
    internal_error(v, code);
    run->exit_reason = KVM_EXIT_FAIL_ENTRY;
    return 0;
  default:
    return internal_error(v, code);
  }
}

/* the ioctl; `stack_protect`: its canary at %gs:40 is read on entry and checked on return, so
 * a world switch that leaves a wrong GS base behind does not go unnoticed */
__attribute__((stack_protect)) long kvm_run_ioctl(struct task *t) {
  struct vcpu *v = t->vcpu;
  if (!v) return -EINVAL;
  struct kvm_run *run = v->run;
  const struct kvm_design *d = kvm_design;
  u64 t_entry = rdtsc(), t_pre_first = 0, n = 0;
  int again;
  d->vcpu_load(v);
  do {
    if (d->prepare_guest_switch) d->prepare_guest_switch(v);
    cli();
    VMCB8(v->vmcb, VMCB_TLB_CONTROL) = v->flush_tlb ? 1 : 0;
    v->flush_tlb = 0;
    v->ctx.send_nmi = opt_nmi_period && (v->stat.vmruns + 1) % opt_nmi_period == 0;
    __svm_vcpu_run(&v->ctx);
    /* GIF = 1, IF = 0: a pending NMI has been taken; an interrupt waits for the STI */
    gs_check(0x200);
    v->stat.vmruns++;
    if (n++ == 0) t_pre_first = v->ctx.t_pre;
    sti();
    again = handle_exit(v);
  } while (again);
  d->vcpu_put(v);
  run->t_entry = t_entry;
  run->t_pre_first = t_pre_first;
  run->t_pre_last = v->ctx.t_pre;
  run->t_post_last = v->ctx.t_post;
  run->vmruns = n;
  run->stat = v->stat;
  run->t_exit = rdtsc();
  return 0;
}
