/*
 * The 32-bit test-kernel runtime (guest/legacy/): legacy protected mode, no long mode. It
 * prints and reports like the 64-bit runtime (lib/io.c is shared, built 32-bit), so a kernel
 * here is written like one in guest/tests/, with 32-bit types.
 *
 * Machine state between tests: 32-bit protected mode with paging off, flat segments, CPL 0,
 * IF = 0, the GDT below, an IDT of 32-bit interrupt gates (DPL 0, but #BP and VEC_SYSCALL at
 * DPL 3), a 32-bit TSS (ESP0/SS0 = kstack_top/KDS, an I/O-permission bitmap that denies every
 * port), LDTR null, CR4 = 0.
 *
 * Memory below LOW_END (the real-mode IVT at 0 included) is free for tests; the kernel loads at
 * 1 MiB and keeps everything below TEST_BASE.
 */
#ifndef RT32_H
#define RT32_H

/* GDT selectors. KCS, KDS, UCS, UDS in this order are what SYSENTER/SYSEXIT need
 * (APM Vol. 3 SYSENTER: SS = SYSENTER_CS + 8; SYSEXIT: CS = +16, SS = +24, RPL 3). */
#define KCS 0x08
#define KDS 0x10
#define UCS 0x18
#define UDS 0x20
#define TSS_SEL 0x28
#define CS16 0x30            /* 16-bit code, base 0, limit 0xffff, DPL 0 (real-mode switches) */
#define DS16 0x38            /* 16-bit data, base 0, limit 0xffff, DPL 0 */
#define GDT_FIXED 8          /* entries the runtime owns; the runner restores all the others */
#define GDT_ENTRIES 32
#define TEST_SEL(n) ((GDT_FIXED + (n)) * 8)   /* descriptors the tests fill in */

#define VEC_SYSCALL 0x80     /* DPL 3 gate: EAX = SYS_EXIT leaves user_call with EBX */
#define SYS_EXIT 0

#define TEST_BASE 0x00400000 /* with paging: 4 MiB through pt32 (4 KiB pages) */
#define TEST_PAGES 1024
#define LOW_END 0x00080000

#define CR0_PE 0x1
#define CR0_WP 0x10000
#define CR0_PG 0x80000000
#define CR4_PSE 0x10
#define CR4_PAE 0x20
#define EFL_CF 0x1
#define EFL_TF 0x100
#define EFL_IF 0x200
#define EFL_IOPL3 0x3000
#define EFL_NT 0x4000

#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_EFER 0xc0000080
#define EFER_NXE 0x800

#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_U 0x4
#define PTE_A 0x20
#define PTE_D 0x40
#define PTE_PS 0x80

#define PF_P 0x1
#define PF_W 0x2
#define PF_U 0x4
#define PF_RSV 0x8
#define PF_ID 0x10

#ifndef __ASSEMBLER__

typedef unsigned long long u64;
typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef __builtin_va_list va_list;
#define va_start __builtin_va_start
#define va_end __builtin_va_end
#define va_arg __builtin_va_arg
#define NULL ((void *)0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STR(x) #x
#define XSTR(x) STR(x)           /* a macro's value as a string, for top-level asm */

enum { DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8, TS = 10, NP = 11,
       SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18 };

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
#define DEF_CR(n)                                                                              \
  static inline u32 read_cr##n(void) { u32 v; asm volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
  static inline void write_cr##n(u32 v) { asm volatile("mov %0, %%cr" #n :: "r"(v) : "memory"); }
DEF_CR(0)
DEF_CR(2)
DEF_CR(3)
DEF_CR(4)
#undef DEF_CR
static inline void invlpg(u32 va) { asm volatile("invlpg (%0)" :: "r"(va) : "memory"); }
static inline void cli(void) { asm volatile("cli" ::: "memory"); }
static inline void sti(void) { asm volatile("sti" ::: "memory"); }
static inline u32 read_eflags(void) { u32 f; asm volatile("pushfl; popl %0" : "=r"(f)); return f; }
static inline void write_eflags(u32 f) { asm volatile("pushl %0; popfl" :: "r"(f) : "memory", "cc"); }
static inline u16 read_cs(void) { u16 v; asm volatile("mov %%cs, %0" : "=r"(v)); return v; }
static inline u16 read_ss(void) { u16 v; asm volatile("mov %%ss, %0" : "=r"(v)); return v; }
static inline u16 read_ds(void) { u16 v; asm volatile("mov %%ds, %0" : "=r"(v)); return v; }
static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d) {
  asm volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

/* ---- the runtime ---- */
struct frame {            /* what the trap stubs push (boot32.S); do not reorder */
  u32 edi, esi, ebp, esp_unused, ebx, edx, ecx, eax;
  u32 gs, fs, es, ds;
  u32 vector, error, eip, cs, eflags;
  u32 esp, ss;            /* only when the event came from an outer privilege level */
};

struct fault {            /* the last exception or interrupt the runtime saw */
  u32 vector, error, eip, cs, eflags, esp, ss, cr2, frame;
};
extern volatile struct fault last_fault;
extern volatile u32 trap_count[256];

typedef void (*trap_fn)(struct frame *f);
void set_trap_handler(int vec, trap_fn fn);
/* run fn(arg): -1 when it returns, or the vector of an exception that interrupted it (details
 * in last_fault; execution resumes after catch_run at CPL 0 with IF = 0 and KDS in every data
 * segment register) */
int catch_run(void (*fn)(void *), void *arg);
/* run fn(arg) at CPL 3 (UCS, UDS, user stack, EFLAGS = user_eflags) entered by IRET; its
 * return ends the call through INT VEC_SYSCALL; returns fn's value */
int user_call(int (*fn)(int), int arg);
/* user_call under catch_run: -1 (and *ret = fn's value) or the exception vector */
int catch_user(int (*fn)(int), int arg, int *ret);
extern u32 user_eflags;                 /* default 0x202 */
extern u8 user_stack[], user_stack_top[], kstack_top[];

/* descriptors */
extern u64 gdt[GDT_ENTRIES];
/* a code or data descriptor: type = access byte (P, DPL, S, type), flags = G, D/B, L, AVL */
u64 seg_desc(u32 base, u32 limit, u8 access, u8 flags);
/* a call, interrupt, trap or task gate: type = access byte; params = call-gate dword count */
u64 gate_desc(u16 sel, u32 off, u8 access, u8 params);
void gdt_set(u16 sel, u64 desc);
extern u64 idt[256];
void set_gate(int vec, u8 dpl, int trap);   /* to the runtime's stub for vec */
void idt_reset(void);
void tss_reload(void);                      /* mark the TSS available and LTR it again */

struct tss32 {
  u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp,
      esi, edi, es, cs, ss, ds, fs, gs, ldt;
  u16 trap, iomap;
  u8 iobitmap[8192];
  u8 iobitmap_end;        /* all ones: the byte after the bitmap (APM Vol. 2, 12.2.4) */
} __attribute__((packed));
extern struct tss32 tss;
#define TSS_LIMIT (sizeof(struct tss32) - 1)

/* paging: pd32 maps 0..4 GiB with 4 MiB pages (needs CR4.PSE) except TEST_BASE, which goes
 * through pt32; the PAE tables map 0..1 GiB with 2 MiB pages, TEST_BASE..+2 MiB through pae_pt.
 * Both are rebuilt before every test; paging is off until a test turns it on. */
extern volatile u32 pd32[1024], pt32[1024];
extern volatile u64 pae_pdpt[4], pae_pd[512], pae_pt[512];
static inline u32 test_page(int n) { return TEST_BASE + (u32)n * 4096; }
void paging32_on(int pse);                  /* CR3 = pd32, CR4.PSE, CR0.PG|WP */
void paging_pae_on(void);                   /* CR3 = pae_pdpt, CR4.PAE, CR0.PG|WP */
void paging_off(void);

/* output (lib/io.c) */
void putc(char c);
void puts(const char *s);
int printf(const char *fmt, ...);
int snprintf(char *buf, unsigned long size, const char *fmt, ...);
int vsnprintf(char *buf, unsigned long size, const char *fmt, va_list ap);
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
unsigned long strlen(const char *s);
int strncmp(const char *a, const char *b, unsigned long n);
void uart_init(void);
void pic_disable(void);

/* tests */
struct test { const char *name; void (*fn)(void); };
extern const struct test tests[];
extern const int ntests;
extern const char kernel_name[];
void kernel_setup(void);
void test_setup(void);
void t_fail(const char *fmt, ...);
void t_skip(const char *why);
int t_failed(void);
#define CHECK(cond, ...) do { if (!(cond)) t_fail(__VA_ARGS__); } while (0)
#define CHECK_EQ(got, want)                                                                      \
  do {                                                                                           \
    u32 g_ = (u32)(got), w_ = (u32)(want);                                                       \
    if (g_ != w_) t_fail("%s = %#x, want %#x", #got, g_, w_);                                    \
  } while (0)
void check_fault(int got, int vec, int err);   /* err -1: any error code */
const char *vector_name(u32 v);
void exit_status(u32 code) __attribute__((noreturn));
int has_nx(void);
int has_pse(void);
extern u32 mb_magic, mb_info;

#endif /* __ASSEMBLER__ */
#endif /* RT32_H */
