/*
 * The little instruction decoding the exit handlers need (no NRIPS: the length of the
 * intercepted instruction comes from its bytes), and the CPUID the guest sees.
 *
 * The guest runs in 32-bit protected mode without paging and with flat segments, so CS.base +
 * RIP is a guest-physical address, and guest RAM is mapped at the same host address.
 */
#include "kvm.h"

static const u8 *guest_bytes(struct vcpu *v, u64 n) {
  u64 gpa = VMCB64(v->vmcb, VMCB_CS + SEG_BASE) + VMCB64(v->vmcb, VMCB_RIP);
  if (gpa < v->mem_gpa || gpa + n > v->mem_gpa + v->mem_size) return NULL;
  return (const u8 *)gpa;
}

int guest_insn_is(struct vcpu *v, const u8 *op, int n) {
  const u8 *p = guest_bytes(v, (u64)n);
  return p && memcmp(p, op, (u64)n) == 0;
}

/* 32-bit register r (0 EAX .. 7 EDI) of the guest */
static u64 greg(struct vcpu *v, int r) {
  switch (r) {
  case 0: return VMCB64(v->vmcb, VMCB_RAX);
  case 1: return v->ctx.rcx;
  case 2: return v->ctx.rdx;
  case 3: return v->ctx.rbx;
  case 4: return VMCB64(v->vmcb, VMCB_RSP);
  case 5: return v->ctx.rbp;
  case 6: return v->ctx.rsi;
  default: return v->ctx.rdi;
  }
}

/* bytes taken by a 32-bit ModRM memory operand (ModRM, SIB, displacement); -1 for a register */
static int modrm_len(const u8 *p) {
  u8 modrm = p[0], mod = modrm >> 6, rm = modrm & 7;
  if (mod == 3) return -1;
  int n = 1;
  if (rm == 4) {
    n++;
    if (mod == 0 && (p[1] & 7) == 5) n += 4;
  } else if (mod == 0 && rm == 5) {
    n += 4;
  }
  if (mod == 1) n += 1;
  if (mod == 2) n += 4;
  return n;
}

/*
 * The MMIO stores the guests use: MOV r/m, r (88, 89), MOV r/m, imm (C6 /0, C7 /0), MOV moffs,
 * AL/eAX (A2, A3), with an optional operand-size prefix.
 */
int decode_mmio(struct vcpu *v, struct mmio_insn *m) {
  const u8 *p = guest_bytes(v, 15);
  if (!p) return -1;
  int pre = 0, osz = 4;
  if (p[0] == 0x66) { pre = 1; osz = 2; }
  const u8 *q = p + pre;
  u8 op = q[0];
  int n;
  m->is_write = 1;
  switch (op) {
  case 0x88: case 0x89:
    if ((n = modrm_len(q + 1)) < 0) return -1;
    m->size = op == 0x88 ? 1 : osz;
    {
      int r = (q[1] >> 3) & 7;
      /* byte registers 4..7 are AH, CH, DH, BH */
      m->value = m->size == 1 && r >= 4 ? (greg(v, r - 4) >> 8) & 0xff : greg(v, r);
    }
    m->len = pre + 1 + n;
    break;
  case 0xc6: case 0xc7: {
    if ((q[1] & 0x38) != 0 || (n = modrm_len(q + 1)) < 0) return -1;
    m->size = op == 0xc6 ? 1 : osz;
    const u8 *imm = q + 1 + n;
    m->value = m->size == 1 ? imm[0] : m->size == 2 ? (u64)(imm[0] | imm[1] << 8)
                                                   : (u64)(imm[0] | imm[1] << 8 | imm[2] << 16 | (u32)imm[3] << 24);
    m->len = pre + 1 + n + m->size;
    break;
  }
  case 0xa2: case 0xa3:
    m->size = op == 0xa2 ? 1 : osz;
    m->value = greg(v, 0);
    m->len = pre + 1 + 4;
    break;
  default:
    return -1;
  }
  m->value &= m->size == 1 ? 0xff : m->size == 2 ? 0xffff : 0xffffffff;
  return 0;
}

/*
 * CPUID for the guest: the host's leaves, less what this kvm does not virtualize, plus the
 * hypervisor leaves. Leaves not in the table read as zeros (what AMD processors return).
 *   1           ECX[31] hypervisor set; EBX[31:24] APIC ID = the vcpu's (0)
 *   8000_0001   ECX[2] SVM clear (no nested virtualization)
 *   8000_0000   EAX = 8000_0008: no SVM leaf 8000_000A
 *   4000_0000   "KVMKVMKVM\0\0\0", EAX = 4000_0001; 4000_0001: no paravirtual features
 */
static void add(struct vcpu *v, u32 leaf, u32 a, u32 b, u32 c, u32 d) {
  if (v->ncpuid >= MAX_CPUID) return;
  v->cpuid[v->ncpuid++] = (struct cpuid_entry){ leaf, a, b, c, d };
}

void kvm_cpuid_init(struct vcpu *v) {
  static const u32 leaves[] = { 0, 1, 7, 0x80000000, 0x80000001, 0x80000002, 0x80000003, 0x80000004, 0x80000008 };
  u32 a, b, c, d, maxstd;
  cpuid(0, 0, &maxstd, &b, &c, &d);
  for (u64 i = 0; i < ARRAY_SIZE(leaves); i++) {
    u32 leaf = leaves[i];
    if (leaf < 0x80000000 && leaf > maxstd) continue;
    cpuid(leaf, 0, &a, &b, &c, &d);
    switch (leaf) {
    case 0: a = a < 7 ? a : 7; break;
    case 1: c |= 1u << 31; b &= 0x00ffffff; break;
    case 0x80000000: a = 0x80000008; break;
    case 0x80000001: c &= ~(1u << 2); break;
    default: break;
    }
    add(v, leaf, a, b, c, d);
  }
  add(v, 0x40000000, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x0000004d);   /* "KVMK" "VMKV" "M" */
  add(v, 0x40000001, 0, 0, 0, 0);
}

void kvm_emulate_cpuid(struct vcpu *v) {
  u32 leaf = (u32)VMCB64(v->vmcb, VMCB_RAX);
  u32 a = 0, b = 0, c = 0, d = 0;
  for (int i = 0; i < v->ncpuid; i++) {
    if (v->cpuid[i].leaf == leaf) {
      a = v->cpuid[i].eax; b = v->cpuid[i].ebx; c = v->cpuid[i].ecx; d = v->cpuid[i].edx;
      break;
    }
  }
  VMCB64(v->vmcb, VMCB_RAX) = a;
  v->ctx.rbx = b;
  v->ctx.rcx = c;
  v->ctx.rdx = d;
}
