/* The GDT (with a 64-bit TSS and the CPUNODE descriptor), the TSS with its IST stacks, the IDT. */
#include "kernel.h"

u64 gdt[GDT_ENTRIES] __attribute__((aligned(16))) = {
  0,
  0x00af9b000000fffful,  /* KCS: 64-bit code, DPL 0 */
  0x00cf93000000fffful,  /* KDS: data, DPL 0 */
  0x00cffb000000fffful,  /* UCS32: 32-bit code, DPL 3 (SYSRET's base) */
  0x00cff3000000fffful,  /* UDS: data, DPL 3 */
  0x00affb000000fffful,  /* UCS: 64-bit code, DPL 3 */
  0, 0,                  /* TSS */
  0x0040f50000000000ul,  /* CPUNODE: read-only data, DPL 3, limit = CPU number (0), byte granular */
};

struct tss tss __attribute__((aligned(16)));
struct gate { u16 off0, sel; u8 ist, attr; u16 off1; u32 off2, zero; };
static struct gate idt[256] __attribute__((aligned(16)));
extern u8 trap_stubs[];

static u8 kstack[16384] __attribute__((aligned(4096)));
static u8 nmi_stack[8192] __attribute__((aligned(4096)));
static u8 df_stack[8192] __attribute__((aligned(4096)));

static void set_gate(int vec, u8 ist) {
  u64 off = (u64)trap_stubs + 16 * (u64)vec;
  struct gate *g = &idt[vec];
  g->off0 = off & 0xffff;
  g->sel = KCS;
  g->ist = ist;
  g->attr = 0x8e;   /* present 64-bit interrupt gate, DPL 0 */
  g->off1 = (off >> 16) & 0xffff;
  g->off2 = off >> 32;
  g->zero = 0;
}

u64 kstack_top(void) { return (u64)kstack + sizeof(kstack); }

void desc_init(void) {
  u64 base = (u64)&tss, limit = sizeof(tss) - 1;
  gdt[TSS_SEL / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ul << 40) |
                     (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
  gdt[TSS_SEL / 8 + 1] = base >> 32;
  memset(&tss, 0, sizeof(tss));
  tss.rsp0 = kstack_top();
  tss.ist[0] = (u64)nmi_stack + sizeof(nmi_stack);   /* IST1: NMI */
  tss.ist[1] = (u64)df_stack + sizeof(df_stack);     /* IST2: #DF */
  tss.iopb = sizeof(tss);                             /* no I/O bitmap: ring 3 has no ports */
  asm volatile("ltr %w0" :: "r"(TSS_SEL));
  for (int v = 0; v < 256; v++) set_gate(v, 0);
  set_gate(2, 1);
  set_gate(8, 2);
  struct { u16 limit; u64 base; } __attribute__((packed)) p = { sizeof(idt) - 1, (u64)idt };
  asm volatile("lidt %0" :: "m"(p));
}

/* ---- CPU 1 (started for migrate=N, smp.c): its own GDT, TSS and stacks; the IDT is shared ---- */
u64 gdt_ap[GDT_ENTRIES] __attribute__((aligned(16)));
struct tss tss_ap __attribute__((aligned(16)));
static u8 kstack_ap[16384] __attribute__((aligned(4096)));
static u8 nmi_stack_ap[8192] __attribute__((aligned(4096)));
static u8 df_stack_ap[8192] __attribute__((aligned(4096)));

u64 kstack_top_ap(void) { return (u64)kstack_ap + sizeof(kstack_ap); }

void desc_init_ap(void) {
  memcpy(gdt_ap, gdt, sizeof(gdt_ap));
  u64 base = (u64)&tss_ap, limit = sizeof(tss_ap) - 1;
  gdt_ap[TSS_SEL / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ul << 40) |
                        (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
  gdt_ap[TSS_SEL / 8 + 1] = base >> 32;
  gdt_ap[CPUNODE_SEL / 8] = 0x0040f50000000000ul | 1;   /* limit = CPU number 1 */
  struct { u16 limit; u64 base; } __attribute__((packed)) g = { sizeof(gdt_ap) - 1, (u64)gdt_ap };
  asm volatile("lgdt %0" :: "m"(g));
  memset(&tss_ap, 0, sizeof(tss_ap));
  tss_ap.rsp0 = kstack_top_ap();
  tss_ap.ist[0] = (u64)nmi_stack_ap + sizeof(nmi_stack_ap);
  tss_ap.ist[1] = (u64)df_stack_ap + sizeof(df_stack_ap);
  tss_ap.iopb = sizeof(tss_ap);
  asm volatile("ltr %w0" :: "r"(TSS_SEL));
  struct { u16 limit; u64 base; } __attribute__((packed)) p = { sizeof(idt) - 1, (u64)idt };
  asm volatile("lidt %0" :: "m"(p));
}

int on_nmi_stack(u64 cpu, u64 p) {
  u64 lo = cpu == 0 ? (u64)nmi_stack : (u64)nmi_stack_ap;
  return p >= lo && p < lo + sizeof(nmi_stack);
}
