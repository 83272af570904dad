/*
 * The x87 FPU (APM Vol. 1 ch. 6, Vol. 5): FNINIT defaults, arithmetic in 80-bit extended
 * precision, rounding and precision control, compares into FSW and RFLAGS, FPREM quotient
 * bits, FXAM classes, FNSAVE/FRSTOR, the RC-rounded constants, and the exceptions: #NM with
 * CR0.TS, #MF at the next waiting instruction for an unmasked exception (CR0.NE = 1).
 * Kernels are built -mgeneral-regs-only, so every x87 operation is inline assembly.
 */
#include "rt.h"

const char kernel_name[] = "x87";

#define CR0_MP (UL(1) << 1)
#define CR0_EM (UL(1) << 2)
#define CR0_TS (UL(1) << 3)
#define CR0_NE (UL(1) << 5)

struct f80 { u64 sig; u16 se; } __attribute__((packed));

void test_setup(void) {
  write_cr0((read_cr0() | CR0_NE | CR0_MP) & ~(CR0_EM | CR0_TS));
  asm volatile("fninit");
}

static u16 fsw(void) { u16 v; asm volatile("fnstsw %0" : "=m"(v)); return v; }
static u16 fcw(void) { u16 v; asm volatile("fnstcw %0" : "=m"(v)); return v; }
static void set_fcw(u16 v) { asm volatile("fldcw %0" :: "m"(v)); }

static void cpuid_fpu(void) {
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  CHECK_EQ(d & 1, 1);
}

static void fninit_state(void) {
  u8 env[28];
  asm volatile("fninit; fnstenv %0" : "=m"(env));
  CHECK_EQ(*(u16 *)&env[0], 0x037f);
  CHECK_EQ(*(u16 *)&env[4], 0);
  CHECK_EQ(*(u16 *)&env[8], 0xffff);
  CHECK_EQ(fcw(), 0x037f);
}

static void integer_arithmetic(void) {
  i32 a = 7, b = 6, c = 3, d = 1, r;
  /* (7 * 6) / 3 - 1 = 13 */
  asm volatile("fildl %1; fimull %2; fidivl %3; fisubl %4; fistpl %0" : "=m"(r) : "m"(a), "m"(b), "m"(c), "m"(d));
  CHECK_EQ(r, 13);
  CHECK_EQ(fsw() & 0x3f, 0);
}

static void sqrt_and_store(void) {
  u64 x = 0x4002000000000000ul; /* 2.25 */
  u64 r;
  asm volatile("fldl %1; fsqrt; fstpl %0" : "=m"(r) : "m"(x));
  CHECK_EQ(r, 0x3ff8000000000000ul); /* 1.5 */
  u64 two = 0x4000000000000000ul;
  struct f80 s;
  asm volatile("fldl %1; fsqrt; fstpt %0" : "=m"(s) : "m"(two));
  CHECK_EQ(s.sig, 0xb504f333f9de6484ul); /* sqrt(2), 64 bits rounded to nearest */
  CHECK_EQ(s.se, 0x3fff);
  CHECK_EQ(fsw() & 0x20, 0x20);  /* inexact */
}

static i32 round_half(u16 rc, i32 n) {
  i32 two = 2, r;
  set_fcw(0x037f | (u16)(rc << 10));
  asm volatile("fildl %1; fidivl %2; fistpl %0" : "=m"(r) : "m"(n), "m"(two));
  return r;
}

static void rounding_control(void) {
  CHECK_EQ(round_half(0, 7), 4);   /* 3.5 to nearest even */
  CHECK_EQ(round_half(0, 5), 2);   /* 2.5 to nearest even */
  CHECK_EQ(round_half(1, 7), 3);   /* down */
  CHECK_EQ((u32)round_half(1, -7), (u32)-4);
  CHECK_EQ(round_half(2, 5), 3);   /* up */
  CHECK_EQ((u32)round_half(3, -7), (u32)-3); /* toward zero */
}

static void precision_control(void) {
  struct f80 r;
  set_fcw(0x007f); /* PC = 24 bits */
  asm volatile("fld1; fld1; fadd %%st(0), %%st; fadd %%st(1), %%st; fdivrp; fstpt %0" : "=m"(r));
  CHECK_EQ(r.sig, 0xaaaaab0000000000ul); /* 1/3 rounded to 24 bits */
  CHECK_EQ(r.se, 0x3ffd);
  set_fcw(0x027f); /* PC = 53 bits */
  asm volatile("fld1; fld1; fadd %%st(0), %%st; fadd %%st(1), %%st; fdivrp; fstpt %0" : "=m"(r));
  CHECK_EQ(r.sig, 0xaaaaaaaaaaaaa800ul);
}

static void compares(void) {
  u64 one = 0x3ff0000000000000ul, nan = 0x7ff8000000000000ul;
  u8 cf, zf, pf;
  asm volatile("fldl %3; fld1; fadd %%st(0), %%st; fcomip %%st(1); setc %0; setz %1; setp %2; fstp %%st(0)"
               : "=r"(cf), "=r"(zf), "=r"(pf) : "m"(one));
  CHECK_EQ(cf | zf | pf, 0); /* 2 > 1 */
  asm volatile("fldl %3; fld1; fucomip %%st(1); setc %0; setz %1; setp %2; fstp %%st(0)"
               : "=r"(cf), "=r"(zf), "=r"(pf) : "m"(nan));
  CHECK_EQ(cf + zf + pf, 3); /* unordered, QNaN: no IE for FUCOMI */
  CHECK_EQ(fsw() & 1, 0);
  asm volatile("fld1; fcoml %0; fstp %%st(0)" :: "m"(nan));
  CHECK_EQ(fsw() & 0x4701, 0x4501); /* FCOM: unordered and IE */
}

static void fprem_quotient(void) {
  i32 ten = 10, three = 3;
  struct f80 r;
  u16 s;
  asm volatile("fildl %3; fildl %2; fprem; fnstsw %1; fstpt %0; fstp %%st(0)" : "=m"(r), "=m"(s) : "m"(ten), "m"(three));
  CHECK_EQ(r.sig, 0x8000000000000000ul); /* 10 rem 3 = 1 */
  CHECK_EQ(r.se, 0x3fff);
  /* quotient 3: C3 = Q0 = 1, C1 = Q1 = 1, C0 = Q2 = 0, C2 = 0 (complete) */
  CHECK_EQ(s & 0x4700, 0x4200);
}

static void fxam_classes(void) {
  u16 s;
  asm volatile("fxam; fnstsw %0" : "=m"(s));
  CHECK_EQ(s & 0x4500, 0x4100); /* empty */
  asm volatile("fldz; fchs; fxam; fnstsw %0; fstp %%st(0)" : "=m"(s));
  CHECK_EQ(s & 0x4700, 0x4200); /* -0: zero, C1 sign */
  asm volatile("fldpi; fxam; fnstsw %0; fstp %%st(0)" : "=m"(s));
  CHECK_EQ(s & 0x4700, 0x0400); /* normal */
}

static void constants_follow_rc(void) {
  struct f80 p;
  asm volatile("fldpi; fstpt %0" : "=m"(p));
  CHECK_EQ(p.sig, 0xc90fdaa22168c235ul);
  set_fcw(0x077f); /* round down */
  asm volatile("fldpi; fstpt %0" : "=m"(p));
  CHECK_EQ(p.sig, 0xc90fdaa22168c234ul);
}

static void fsave_frstor(void) {
  u8 area[108];
  struct f80 a, b;
  asm volatile("fldpi; fld1; fnsave %0" : "=m"(area));
  CHECK_EQ(fsw(), 0);
  CHECK_EQ(fcw(), 0x037f);
  asm volatile("frstor %2; fstpt %0; fstpt %1" : "=m"(a), "=m"(b) : "m"(area));
  CHECK_EQ(a.sig, 0x8000000000000000ul);
  CHECK_EQ(b.sig, 0xc90fdaa22168c235ul);
}

static void nm_with_ts(void *arg) { (void)arg; asm volatile("fld1"); }

static void device_not_available(void) {
  write_cr0(read_cr0() | CR0_TS);
  check_fault(catch_run(nm_with_ts, NULL), NM, -1);
  asm volatile("clts");
}

static void fdiv_then_wait(void *arg) {
  (void)arg;
  asm volatile("fldz; fld1; fdiv %%st(1), %%st" ::: "memory");
  asm volatile("fwait" ::: "memory");
}

static void math_fault(void) {
  set_fcw(0x037b); /* ZE unmasked */
  check_fault(catch_run(fdiv_then_wait, NULL), MF, -1);
  CHECK_EQ(fsw() & 0x80bf, 0x8084); /* B, ES, ZE */
  asm volatile("fnclex");
  CHECK_EQ(fsw() & 0x80ff, 0);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(cpuid_fpu), T(fninit_state), T(integer_arithmetic), T(sqrt_and_store), T(rounding_control),
  T(precision_control), T(compares), T(fprem_quotient), T(fxam_classes), T(constants_follow_rc),
  T(fsave_frstor), T(device_not_available), T(math_fault),
};
const int ntests = ARRAY_SIZE(tests);
