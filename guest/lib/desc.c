/* Descriptor tables: the GDT (with the test descriptors), the TSS and the IDT. */
#include "rt.h"

/* The GDT boot.S enters long mode with; gdt_init keeps a copy of it to restore after tests.
 * Descriptors are built with the accessed bit set, except SEL_DATA_NA, so that loading them
 * does not write the GDT (APM Vol. 2, 4.7.1: the processor sets A when it loads a descriptor). */
u64 gdt[GDT_ENTRIES] __attribute__((aligned(16))) = {
  0,
  0x00af9b000000fffful,  /* KCS: 64-bit code, DPL 0 */
  0x00cf93000000fffful,  /* KDS: writable data, DPL 0 */
  0x00cffb000000fffful,  /* UCS32: 32-bit code, DPL 3 */
  0x00cff3000000fffful,  /* UDS: writable data, DPL 3 */
  0x00affb000000fffful,  /* UCS: 64-bit code, DPL 3 */
  0, 0,                  /* TSS, filled in */
  0x00cf13000000fffful,  /* SEL_DATA_NP: writable data, not present */
  0x00cf91000000fffful,  /* SEL_DATA_RO: read-only data */
  0x00af99000000fffful,  /* SEL_CODE_XO: execute-only code */
  0x00af9b000000fffful,  /* SEL_CODE_RX: readable code */
  0x00cf93000000fffful | ((u64)(DATA_SEG_BASE & 0xffffff) << 16) | ((u64)(DATA_SEG_BASE >> 24) << 56),
  0x00cf92000000fffful,  /* SEL_DATA_NA: writable data, A clear */
};

u64 gdt_template[GDT_ENTRIES];
struct tss tss __attribute__((aligned(16)));
struct gate idt[256] __attribute__((aligned(16)));
extern u8 trap_stubs[];
extern struct { u16 limit; u64 base; } __attribute__((packed)) gdt_ptr;

static void fill_tss_descriptor(void) {
  u64 base = (u64)&tss, limit = sizeof(tss) - 1;
  gdt[TSS_SEL / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ul << 40) |
                     (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
  gdt[TSS_SEL / 8 + 1] = base >> 32;
}

/* reload GDTR, CS (by a far return), DS/ES/SS, null FS/GS, and the FS/GS bases */
void load_segments_default(void) {
  asm volatile("lgdt %0" :: "m"(gdt_ptr));
  asm volatile("pushq %0\n\t"
               "leaq 1f(%%rip), %%rax\n\t"
               "pushq %%rax\n\t"
               "lretq\n"
               "1:\n\t"
               "mov %1, %%ds\n\t"
               "mov %1, %%es\n\t"
               "mov %1, %%ss\n\t"
               "mov %2, %%fs\n\t"
               "mov %2, %%gs"
               :: "i"(KCS), "r"(KDS), "r"(0) : "rax", "memory");
  /* loading a null selector may or may not clear the base (model-specific); set both */
  wrmsr(MSR_FS_BASE, 0);
  wrmsr(MSR_GS_BASE, (u64)&percpu);
}

void gdt_init(void) {
  memcpy(gdt_template, gdt, sizeof(gdt));
  fill_tss_descriptor();
  memset(&tss, 0, sizeof(tss));
  tss.rsp0 = (u64)kstack_top;
  tss.ist[0] = (u64)ist1_top;
  tss.ist[1] = (u64)ist2_top;
  tss.iopb = sizeof(tss);  /* no I/O permission bitmap: every port is denied at CPL 3 */
  load_segments_default();
  asm volatile("ltr %w0" :: "r"(TSS_SEL));
}

/* put the test descriptors back (the TSS descriptor keeps its busy bit) */
void gdt_restore(void) {
  for (int i = 0; i < GDT_ENTRIES; i++) {
    if (i != TSS_SEL / 8 && i != TSS_SEL / 8 + 1) gdt[i] = gdt_template[i];
  }
  load_segments_default();
}

void set_gate(int vec, u8 ist, u8 dpl, int trap) {
  u64 off = (u64)trap_stubs + 16 * (u64)vec;
  struct gate *g = &idt[vec];
  g->off0 = off & 0xffff;
  g->sel = KCS;
  g->ist = ist;
  g->attr = 0x80 | (dpl << 5) | (trap ? 0xf : 0xe);
  g->off1 = (off >> 16) & 0xffff;
  g->off2 = off >> 32;
  g->zero = 0;
}

/* interrupt gates at DPL 0, #BP at DPL 3 (INT3 from user mode), NMI on IST1, #DF on IST2 */
void idt_reset(void) {
  for (int v = 0; v < 256; v++) set_gate(v, 0, 0, 0);
  set_gate(BP, 0, 3, 0);
  set_gate(NMI, 1, 0, 0);
  set_gate(DF, 2, 0, 0);
  struct { u16 limit; u64 base; } __attribute__((packed)) p = { sizeof(idt) - 1, (u64)idt };
  asm volatile("lidt %0" :: "m"(p));
}
