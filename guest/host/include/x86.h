/* Architectural constants and one-instruction helpers (AMD64 APM Vol. 2 and 3). */
#ifndef X86_H
#define X86_H
#include "layout.h"

#define CR0_PE (UL(1) << 0)
#define CR0_ET (UL(1) << 4)
#define CR0_WP (UL(1) << 16)
#define CR0_PG (UL(1) << 31)
#define CR4_PAE (UL(1) << 5)
#define CR4_PGE (UL(1) << 7)
#define CR4_FSGSBASE (UL(1) << 16)
#define EFER_SCE (UL(1) << 0)
#define EFER_LME (UL(1) << 8)
#define EFER_NXE (UL(1) << 11)
#define EFER_SVME (UL(1) << 12)
#define RFLAGS_IF (UL(1) << 9)
#define RFLAGS_TF (UL(1) << 8)
#define RFLAGS_DF (UL(1) << 10)
#define RFLAGS_AC (UL(1) << 18)

#define MSR_APIC_BASE 0x1b
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_PAT 0x277
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103
#define MSR_VM_CR 0xc0010114
#define MSR_VM_HSAVE_PA 0xc0010117

#define PTE_P (UL(1) << 0)
#define PTE_W (UL(1) << 1)
#define PTE_U (UL(1) << 2)
#define PTE_PWT (UL(1) << 3)
#define PTE_PCD (UL(1) << 4)
#define PTE_PS (UL(1) << 7)
#define PTE_G (UL(1) << 8)

#ifndef __ASSEMBLER__
#include "uapi.h"

static inline void outb(u16 port, u8 v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { asm volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u64 rdmsr(u32 msr) {
  u32 lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v) {
  asm volatile("wrmsr" :: "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}
static inline u64 rdtsc(void) {
  u32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((u64)hi << 32) | lo;
}
/* RDTSCP: the TSC, and TSC_AUX in *aux */
static inline u64 rdtscp(u32 *aux) {
  u32 lo, hi, c;
  asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(c));
  *aux = c;
  return ((u64)hi << 32) | lo;
}
static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d) {
  asm volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline u64 rdfsbase(void) { u64 v; asm volatile("rdfsbase %0" : "=r"(v)); return v; }
static inline u64 rdgsbase(void) { u64 v; asm volatile("rdgsbase %0" : "=r"(v)); return v; }
static inline void wrgsbase(u64 v) { asm volatile("wrgsbase %0" :: "r"(v) : "memory"); }
static inline void wrfsbase(u64 v) { asm volatile("wrfsbase %0" :: "r"(v) : "memory"); }
static inline void cli(void) { asm volatile("cli" ::: "memory"); }
static inline void sti(void) { asm volatile("sti" ::: "memory"); }
static inline u64 read_cr0(void) { u64 v; asm volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline u64 read_cr3(void) { u64 v; asm volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline u64 read_cr4(void) { u64 v; asm volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void write_cr4(u64 v) { asm volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }
static inline u16 read_fs(void) { u16 v; asm volatile("mov %%fs, %0" : "=r"(v)); return v; }
static inline u16 read_gs(void) { u16 v; asm volatile("mov %%gs, %0" : "=r"(v)); return v; }
static inline u16 sldt(void) { u16 v; asm volatile("sldt %0" : "=r"(v)); return v; }
static inline u16 str_sel(void) { u16 v; asm volatile("str %0" : "=r"(v)); return v; }
static inline void lldt(u16 sel) { asm volatile("lldt %0" :: "r"(sel)); }
static inline void load_fs(u16 sel) { asm volatile("mov %0, %%fs" :: "r"((u32)sel)); }
#endif
#endif
