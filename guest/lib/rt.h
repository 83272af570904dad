/*
 * The test-kernel runtime: constants shared by assembly and C, and the C API.
 *
 * Memory map (identity, set up by boot.S): the first 4 GiB with 2 MiB pages, user-accessible
 * (U/S=1 at every level, so ring-3 test code can run anywhere in the image; tests make single
 * pages supervisor when they need to), except the 2 MiB at TEST_BASE, which is mapped with 4 KiB
 * pages through test_pt so that paging tests can edit single PTEs. 3..4 GiB (the MMIO hole with
 * the LAPIC at 0xFEE00000) is mapped cache-disabled.
 */
#ifndef RT_H
#define RT_H

/* GDT selectors. The order KCS, KDS and UCS32, UDS, UCS is what SYSCALL/SYSRET need
 * (APM Vol. 2, 6.1.1: SS = STAR.SYSCALL_CS + 8; SYSRET to 64-bit: CS = STAR.SYSRET_CS + 16,
 * SS = STAR.SYSRET_CS + 8). */
#define KCS 0x08
#define KDS 0x10
#define UCS32 0x18
#define UDS 0x20
#define UCS 0x28
#define TSS_SEL 0x30           /* 16-byte system descriptor: 0x30 and 0x38 */
#define SEL_DATA_NP 0x40       /* writable data, DPL 0, not present */
#define SEL_DATA_RO 0x48       /* read-only data, DPL 0 */
#define SEL_CODE_XO 0x50       /* 64-bit execute-only code, DPL 0 */
#define SEL_CODE_RX 0x58       /* 64-bit readable code, DPL 0 */
#define SEL_DATA_BASE 0x60     /* writable data, DPL 0, base DATA_SEG_BASE */
#define SEL_DATA_NA 0x68       /* writable data, DPL 0, accessed bit clear */
#define GDT_ENTRIES 14
#define DATA_SEG_BASE 0x00500000

#define TEST_BASE 0x00400000   /* 2 MiB of 4 KiB pages (test_pt) */
#define TEST_PAGES 512

/* per-cpu data reached through GS in the kernel (offsets for assembly) */
#define PC_SELF 0
#define PC_KSTACK 8
#define PC_USER_RSP 16
#define PC_SCRATCH 24

#define SYS_EXIT 0

/* LAPIC vectors the runtime uses */
#define VEC_TIMER 0x40
#define VEC_IPI 0x41
#define VEC_SPURIOUS 0xff

#ifdef __ASSEMBLER__
#define UL(x) x
#else
#define UL(x) x##ul
#endif

/* ---- architectural constants ---- */
#define CR0_PE (UL(1) << 0)
#define CR0_WP (UL(1) << 16)
#define CR0_PG (UL(1) << 31)
#define CR4_PAE (UL(1) << 5)
#define CR4_FSGSBASE (UL(1) << 16)
#define EFER_SCE (UL(1) << 0)
#define EFER_LME (UL(1) << 8)
#define EFER_LMA (UL(1) << 10)
#define EFER_NXE (UL(1) << 11)
#define RFLAGS_CF (UL(1) << 0)
#define RFLAGS_TF (UL(1) << 8)
#define RFLAGS_IF (UL(1) << 9)
#define RFLAGS_DF (UL(1) << 10)
#define RFLAGS_RF (UL(1) << 16)
#define RFLAGS_AC (UL(1) << 18)

#define MSR_APIC_BASE 0x1b
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102

#define PTE_P (UL(1) << 0)
#define PTE_W (UL(1) << 1)
#define PTE_U (UL(1) << 2)
#define PTE_PWT (UL(1) << 3)
#define PTE_PCD (UL(1) << 4)
#define PTE_A (UL(1) << 5)
#define PTE_D (UL(1) << 6)
#define PTE_PS (UL(1) << 7)
#define PTE_NX (UL(1) << 63)
#define PTE_ADDR UL(0x000ffffffffff000)

/* #PF error code bits (APM Vol. 2, 8.4.2) */
#define PF_P 0x1
#define PF_W 0x2
#define PF_U 0x4
#define PF_RSV 0x8
#define PF_ID 0x10

#ifndef __ASSEMBLER__

typedef unsigned long u64;
typedef long i64;
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

enum { DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8, TS = 10, NP = 11,
       SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18 };

/* ---- port and special-register access ---- */
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
  static inline u64 read_cr##n(void) { u64 v; asm volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
  static inline void write_cr##n(u64 v) { asm volatile("mov %0, %%cr" #n :: "r"(v) : "memory"); }
DEF_CR(0)
DEF_CR(2)
DEF_CR(3)
DEF_CR(4)
#undef DEF_CR

static inline void invlpg(u64 va) { asm volatile("invlpg (%0)" :: "r"(va) : "memory"); }
static inline void cli(void) { asm volatile("cli" ::: "memory"); }
static inline void sti(void) { asm volatile("sti" ::: "memory"); }
static inline u64 read_rflags(void) { u64 f; asm volatile("pushfq; popq %0" : "=r"(f)); return f; }
static inline u64 read_rsp(void) { u64 v; asm volatile("mov %%rsp, %0" : "=r"(v)); return v; }
static inline u16 read_cs(void) { u16 v; asm volatile("mov %%cs, %0" : "=r"(v)); return v; }
static inline u16 read_ss(void) { u16 v; asm volatile("mov %%ss, %0" : "=r"(v)); return v; }
static inline u16 read_ds(void) { u16 v; asm volatile("mov %%ds, %0" : "=r"(v)); return v; }
static inline u16 read_es(void) { u16 v; asm volatile("mov %%es, %0" : "=r"(v)); return v; }
static inline u16 read_fs(void) { u16 v; asm volatile("mov %%fs, %0" : "=r"(v)); return v; }
static inline u16 read_gs(void) { u16 v; asm volatile("mov %%gs, %0" : "=r"(v)); return v; }
static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d) {
  asm volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline u32 cpuid_max_ext(void) { u32 a, b, c, d; cpuid(0x80000000, 0, &a, &b, &c, &d); return a; }

/* ---- the runtime ---- */
struct frame {            /* what the trap and syscall stubs push; do not reorder (entry.S) */
  u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  u64 vector, error, rip, cs, rflags, rsp, ss;
};

struct fault {            /* the last exception or interrupt the runtime saw */
  u64 vector, error, rip, cs, rflags, rsp, ss, cr2, frame;
};
extern volatile struct fault last_fault;
extern volatile u32 trap_count[256];

struct percpu { u64 self, kstack, user_rsp, scratch; };
extern struct percpu percpu;

typedef void (*trap_fn)(struct frame *f);
/* a handler for one vector; it runs instead of the default (catch or report) */
void set_trap_handler(int vec, trap_fn fn);
/* run fn(arg); returns -1 when it returns, or the vector of an exception that interrupted it
 * (details in last_fault; execution resumes after catch_run at CPL 0, IF=0) */
long catch_run(void (*fn)(void *), void *arg);
/* run fn(arg) at CPL 3 on the user stack (entered by IRETQ, or SYSRETQ if via_sysret), until
 * it returns (the trampoline then makes the SYS_EXIT system call); returns its value */
long user_call(long (*fn)(long), long arg, int via_sysret);
/* user_call under catch_run: returns -1 (and *ret = fn's value) or the exception vector */
long catch_user_via(long (*fn)(long), long arg, long *ret, int via_sysret);
static inline long catch_user(long (*fn)(long), long arg, long *ret) { return catch_user_via(fn, arg, ret, 0); }
extern u64 user_rflags;                 /* RFLAGS for user_call's entry (default 0x202) */
extern u8 user_stack[], user_stack_top[];
extern u8 kstack_top[], ist1_top[], ist1_bottom[], ist2_top[], ist2_bottom[];
extern u8 user_trampoline[];
/* the kernel-side system-call handler; the default returns -1 for unknown numbers */
typedef long (*syscall_fn)(struct frame *f);
void set_syscall_handler(syscall_fn fn);

/* descriptors */
extern u64 gdt[GDT_ENTRIES];
extern u64 gdt_template[GDT_ENTRIES];
struct gate { u16 off0, sel; u8 ist, attr; u16 off1; u32 off2, zero; };
extern struct gate idt[256];
struct tss { u32 r0; u64 rsp0, rsp1, rsp2, r1; u64 ist[7]; u64 r2; u16 r3, iopb; } __attribute__((packed));
extern struct tss tss;
void set_gate(int vec, u8 ist, u8 dpl, int trap);   /* to the runtime's stub for vec */
void idt_reset(void);
void load_segments_default(void);

/* page tables (volatile: the processor writes accessed and dirty bits behind the compiler) */
extern volatile u64 pml4[512], pdpt[512], pd[4 * 512], test_pt[512];
static inline volatile u64 *test_pte(u64 va) { return &test_pt[(va - TEST_BASE) >> 12]; }
static inline u64 test_page(int n) { return TEST_BASE + (u64)n * 4096; }
void test_pt_reset(void);

/* output */
void uart_init(void);
void pic_disable(void);
void putc(char c);
void puts(const char *s);
int printf(const char *fmt, ...);
int vsnprintf(char *buf, u64 size, const char *fmt, va_list ap);
int snprintf(char *buf, u64 size, const char *fmt, ...);
void *memset(void *d, int c, u64 n);
void *memcpy(void *d, const void *s, u64 n);
int memcmp(const void *a, const void *b, u64 n);
u64 strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, u64 n);

/* tests: each kernel defines tests[], ntests and kernel_name, and may define the hooks */
struct test { const char *name; void (*fn)(void); };
extern const struct test tests[];
extern const int ntests;
extern const char kernel_name[];
void kernel_setup(void);            /* once, before the tests */
void test_setup(void);              /* before each test */
void t_fail(const char *fmt, ...);   /* the running test fails; the first detail is reported */
void t_skip(const char *why);        /* the running test is skipped */
int t_failed(void);
#define CHECK(cond, ...) do { if (!(cond)) t_fail(__VA_ARGS__); } while (0)
#define CHECK_EQ(got, want)                                                                      \
  do {                                                                                           \
    u64 g_ = (u64)(got), w_ = (u64)(want);                                                       \
    if (g_ != w_) t_fail("%s = %#lx, want %#lx", #got, g_, w_);                                  \
  } while (0)
/* the last exception was `vec` with error code `err` (pass -1 to ignore the error code) */
void check_fault(long got, int vec, long err);
const char *cmdline(void);
void exit_status(u32 code) __attribute__((noreturn));
extern u32 mb_magic, mb_info;

/* CPUID feature tests */
int has_fsgsbase(void);
int has_nx(void);
u32 max_phys_bits(void);

#endif /* __ASSEMBLER__ */
#endif /* RT_H */
