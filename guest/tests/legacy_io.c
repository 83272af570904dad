/*
 * I/O privilege in legacy protected mode: what POPF and IRET may change at CPL 3 (IF only when
 * CPL <= IOPL, IOPL only at CPL 0, no fault either way; APM Vol. 3 POPF, IRET), CLI/STI
 * (#GP(0) when CPL > IOPL), and IN/OUT/OUTS: allowed at CPL <= IOPL, else by the TSS
 * I/O-permission bitmap, every byte of the access, bytes beyond the TSS limit counting as set
 * (APM Vol. 2, 12.2.4 I/O-Permission Bitmap).
 *
 * The port is COM1's scratch register (0x3ff), which reads back what was written.
 */
#include "rt32.h"

const char kernel_name[] = "legacy_io";

#define PORT 0x3ff
#define EFL_IOPL 0x3000

static void allow_port(u32 port) { tss.iobitmap[port >> 3] &= ~(1 << (port & 7)); }

/* load EFLAGS from the argument by POPF, return what EFLAGS became */
int u_popf(int v);
int u_iret(int v);
asm(".text\n"
    ".globl u_popf, u_iret\n"
    "u_popf:\n\t"
    "pushl 4(%esp)\n\t"
    "popf\n\t"
    "pushf\n\t"
    "pop %eax\n\t"
    "ret\n"
    /* the same through IRET to the same privilege */
    "u_iret:\n\t"
    "pushl 4(%esp)\n\t"
    "push %cs\n\t"
    "push $1f\n\t"
    "iret\n"
    "1:\tpushf\n\t"
    "pop %eax\n\t"
    "ret\n");

/* IOPL 0 at CPL 3: IF and IOPL keep their values, the arithmetic flags change */
static void popf_cpl3_iopl0(void) {
  int v = 0;
  CHECK_EQ(catch_user(u_popf, EFL_IOPL | EFL_CF | 0x2, &v), -1);
  CHECK_EQ(v & (EFL_IF | EFL_IOPL | EFL_CF), EFL_IF | EFL_CF);
}

/* IOPL 3 at CPL 3: IF follows the popped value, IOPL still cannot change */
static void popf_cpl3_iopl3(void) {
  int v = 0;
  user_eflags = 0x3202;
  CHECK_EQ(catch_user(u_popf, 0x2, &v), -1);
  CHECK_EQ(v & (EFL_IF | EFL_IOPL), EFL_IOPL);
}

static void popf_cpl0_iopl(void) {
  u32 old = read_eflags();
  write_eflags(0x3002);
  u32 now = read_eflags();
  write_eflags(old);
  CHECK_EQ(now & (EFL_IF | EFL_IOPL), EFL_IOPL);
}

static void iret_cpl3_flags(void) {
  int v = 0;
  CHECK_EQ(catch_user(u_iret, EFL_IOPL | EFL_CF | 0x2, &v), -1);
  CHECK_EQ(v & (EFL_IF | EFL_IOPL | EFL_CF), EFL_IF | EFL_CF);
  user_eflags = 0x1202;                  /* IOPL 1: CPL 3 is still above it */
  CHECK_EQ(catch_user(u_iret, 0x2, &v), -1);
  CHECK_EQ(v & (EFL_IF | EFL_IOPL), EFL_IF | 0x1000);
  user_eflags = 0x3202;
  CHECK_EQ(catch_user(u_iret, 0x2, &v), -1);
  CHECK_EQ(v & (EFL_IF | EFL_IOPL), EFL_IOPL);
}

static int u_cli(int a) { (void)a; cli(); return (int)read_eflags(); }
static int u_sti(int a) { (void)a; sti(); return (int)read_eflags(); }

static void cli_sti_cpl3(void) {
  int v = 0;
  user_eflags = 0x1202;
  check_fault(catch_user(u_cli, 0, NULL), GP, 0);
  check_fault(catch_user(u_sti, 0, NULL), GP, 0);
  user_eflags = 0x3202;
  CHECK_EQ(catch_user(u_cli, 0, &v), -1);
  CHECK_EQ(v & EFL_IF, 0);
  user_eflags = 0x3002;
  CHECK_EQ(catch_user(u_sti, 0, &v), -1);
  CHECK_EQ(v & EFL_IF, EFL_IF);
}

/* ---- ports ---- */

static int u_inb(int port) { return inb((u16)port); }
static int u_outb(int port) { outb((u16)port, 0xa5); return 0; }
static int u_outb_inb(int port) { outb((u16)port, 0x3c); return inb((u16)port); }
static int u_inw(int port) { u16 v; asm volatile("inw %w1, %0" : "=a"(v) : "Nd"((u16)port)); return v; }
static int u_inl(int port) { u32 v; asm volatile("inl %w1, %0" : "=a"(v) : "Nd"((u16)port)); return (int)v; }
static const u8 outs_src[4] = { 0x42, 0x43, 0x44, 0x45 };
static int u_outsb(int port) {
  const u8 *p = outs_src;
  u32 n = 2;
  asm volatile("rep outsb" : "+S"(p), "+c"(n) : "d"((u16)port) : "memory");
  return (int)n;
}

static void io_cpl0_ignores_bitmap(void) {
  outb(PORT, 0x5a);
  CHECK_EQ(inb(PORT), 0x5a);
}

static void io_cpl3_iopl3(void) {
  int v = 0;
  user_eflags = 0x3202;
  CHECK_EQ(catch_user(u_outb_inb, PORT, &v), -1);
  CHECK_EQ(v, 0x3c);
}

static void io_cpl3_denied(void) {
  outb(PORT, 0x11);
  check_fault(catch_user(u_inb, PORT, NULL), GP, 0);
  check_fault(catch_user(u_outb, PORT, NULL), GP, 0);
  CHECK_EQ(inb(PORT), 0x11);             /* the denied OUT wrote nothing */
  user_eflags = 0x2202;                  /* IOPL 2 < CPL 3 */
  check_fault(catch_user(u_inb, PORT, NULL), GP, 0);
}

static void io_bitmap_allows(void) {
  int v = 0;
  allow_port(PORT);
  CHECK_EQ(catch_user(u_outb_inb, PORT, &v), -1);
  CHECK_EQ(v, 0x3c);
  check_fault(catch_user(u_inb, PORT - 1, NULL), GP, 0);
  outb(PORT, 0x77);
  CHECK_EQ(catch_user(u_outsb, PORT, &v), -1);
  CHECK_EQ(inb(PORT), 0x43);
}

/* every byte of a word or doubleword access needs its bit clear */
static void io_bitmap_multibyte(void) {
  allow_port(PORT);
  check_fault(catch_user(u_inw, PORT - 1, NULL), GP, 0);
  allow_port(PORT - 1);
  CHECK_EQ(catch_user(u_inw, PORT - 1, NULL), -1);
  allow_port(PORT - 2);
  check_fault(catch_user(u_inl, PORT - 3, NULL), GP, 0);
}

/* the byte after the bitmap (all ones) covers an access that runs past port 0xffff's bit */
static void io_bitmap_last_port(void) {
  allow_port(0xffff);
  CHECK_EQ(catch_user(u_inb, 0xffff, NULL), -1);
  check_fault(catch_user(u_inw, 0xffff, NULL), GP, 0);
}

/* bitmap bytes beyond the TSS limit count as all ones (the limit here ends one byte after the
 * one for PORT, as a processor may read the bitmap two bytes at a time) */
static void io_bitmap_beyond_limit(void) {
  u32 map = __builtin_offsetof(struct tss32, iobitmap);
  memset(tss.iobitmap, 0, 0x100);
  gdt_set(TSS_SEL, seg_desc((u32)&tss, map + (PORT >> 3) + 1, 0x89, 0));
  asm volatile("ltr %w0" :: "r"(TSS_SEL));
  CHECK_EQ(catch_user(u_inb, PORT, NULL), -1);
  check_fault(catch_user(u_inb, 0x408, NULL), GP, 0);
  check_fault(catch_user(u_inw, 0x407, NULL), GP, 0);
  tss.iomap = 0xe000;                                /* the whole bitmap outside */
  check_fault(catch_user(u_inb, PORT, NULL), GP, 0);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(popf_cpl3_iopl0), T(popf_cpl3_iopl3), T(popf_cpl0_iopl), T(iret_cpl3_flags), T(cli_sti_cpl3),
  T(io_cpl0_ignores_bitmap), T(io_cpl3_iopl3), T(io_cpl3_denied), T(io_bitmap_allows),
  T(io_bitmap_multibyte), T(io_bitmap_last_port), T(io_bitmap_beyond_limit),
};
const int ntests = ARRAY_SIZE(tests);
