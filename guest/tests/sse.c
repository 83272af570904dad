/*
 * SSE/SSE2/SSE3/SSSE3 as gcc -O2 emits them (this file is built without -mgeneral-regs-only,
 * see guest/build.sh): scalar float/double arithmetic and conversions, vectorized integer
 * loops, MXCSR rounding modes, #XM and #UD for unmasked SIMD exceptions (CR4.OSXMMEXCPT),
 * #UD without CR4.OSFXSR and #NM with CR0.TS, FXSAVE/FXRSTOR, XSAVE/XRSTOR with XGETBV/XSETBV
 * (APM Vol. 1 ch. 4, Vol. 2 11.3-11.5, Vol. 4). Results are compared as bit patterns.
 */
#include "rt.h"

const char kernel_name[] = "sse";

#define CR0_MP (UL(1) << 1)
#define CR0_EM (UL(1) << 2)
#define CR0_TS (UL(1) << 3)
#define CR0_NE (UL(1) << 5)
#define CR4_OSFXSR (UL(1) << 9)
#define CR4_OSXMMEXCPT (UL(1) << 10)
#define CR4_OSXSAVE (UL(1) << 18)

/* SSE on as an operating system turns it on; the runner resets CR0/CR4 after each test */
static void sse_on(void) {
  write_cr0((read_cr0() & ~(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
  write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
  u32 m = 0x1f80;
  asm volatile("ldmxcsr %0" :: "m"(m));
}

static u64 dbits(double d) { u64 v; memcpy(&v, &d, 8); return v; }
static u32 fbits(float f) { u32 v; memcpy(&v, &f, 4); return v; }

static volatile double vd[4] = { 0.1, 0.2, 2.0, -2.75 };
static volatile float vf[4] = { 1.0f, 3.0f, 16777216.0f, -0.5f };
static volatile long vl = -123456789012345l;

__attribute__((noinline)) static void fp_scalar(void) {
  sse_on();
  CHECK_EQ(dbits(vd[0] + vd[1]), 0x3fd3333333333334ul);
  CHECK_EQ(dbits(vd[0] * vd[1]), 0x3f947ae147ae147cul);
  double r2 = vd[2];
  asm("sqrtsd %1, %0" : "=x"(r2) : "x"(r2));
  CHECK_EQ(dbits(r2), 0x3ff6a09e667f3bcdul);
  CHECK_EQ(fbits(vf[0] / vf[1]), 0x3eaaaaabu);
  CHECK_EQ(fbits(vf[2] + vf[0]), 0x4b800000u); /* 2^24 + 1 rounds to even */
  CHECK_EQ((u64)(long)vd[3], (u64)-2l);          /* CVTTSD2SI */
  CHECK_EQ(dbits((double)vl), 0xc2dc12218377de40ul); /* CVTSI2SD r64 */
  CHECK_EQ(fbits((float)vd[0]), 0x3dcccccdu);    /* CVTSD2SS */
  CHECK_EQ(dbits((double)vf[3]), 0xbfe0000000000000ul); /* CVTSS2SD */
  CHECK(vd[1] > vd[0] && !(vd[0] > vd[1]), "COMISD order");
  double p = vd[2], q = vd[3];
  CHECK_EQ(dbits(p < q ? p : q), dbits(-2.75)); /* MINSD */
}

static u32 a32[1024], b32[1024];
static u8 bytes[512];

__attribute__((noinline)) static void vector_loops(void) {
  sse_on();
  for (int i = 0; i < 1024; i++) { a32[i] = (u32)i * 3u; b32[i] = 1024u - (u32)i; }
  u32 sum = 0;
  for (int i = 0; i < 1024; i++) sum += a32[i] + b32[i];          /* PADDD, PSHUFD, ... */
  CHECK_EQ(sum, 3u * 523776u + 1024u * 1024u - 523776u);
  u64 mx = 0;
  for (int i = 0; i < 1024; i++) { u32 v = a32[i] ^ (b32[i] << 3); if (v > mx) mx = v; }
  u64 want = 0;
  for (volatile int i = 0; i < 1024; i++) { u32 v = a32[i] ^ (b32[i] << 3); if (v > want) want = v; }
  CHECK_EQ(mx, want);
  for (int i = 0; i < 512; i++) bytes[i] = (u8)(i * 7);
  int n = 0;
  for (int i = 0; i < 512; i++) n += bytes[i] > 100;                /* PCMPGTB / PSUBB, ... */
  int m = 0;
  for (volatile int i = 0; i < 512; i++) m += bytes[i] > 100;
  CHECK_EQ(n, m);
}

/* 2 / 3 under rounding mode rc: one asm block, so the compiler cannot move the division
 * across the MXCSR loads */
static double div_rc(u32 rc) {
  u32 m = 0x1f80 | (rc << 13), d = 0x1f80;
  double r = vd[2], three = 3.0;
  asm volatile("ldmxcsr %2\n\tdivsd %1, %0\n\tldmxcsr %3" : "+x"(r) : "x"(three), "m"(m), "m"(d));
  return r;
}

__attribute__((noinline)) static void mxcsr_rounding(void) {
  sse_on();
  u64 n = dbits(div_rc(0)), d = dbits(div_rc(1)), u = dbits(div_rc(2)), z = dbits(div_rc(3));
  CHECK_EQ(n, 0x3fe5555555555555ul);
  CHECK_EQ(d, 0x3fe5555555555555ul);
  CHECK_EQ(u, 0x3fe5555555555556ul);
  CHECK_EQ(z, 0x3fe5555555555555ul);
  /* PE from an inexact division, in the same asm block as the division */
  u32 st, m = 0x1f80;
  double r = vd[2], three = 3.0;
  asm volatile("ldmxcsr %3\n\tdivsd %2, %0\n\tstmxcsr %1" : "+x"(r), "=m"(st) : "x"(three), "m"(m));
  CHECK_EQ(st & 0x3f, 0x20);
}

static void divide_by_zero(void *arg) {
  (void)arg;
  u32 m = 0x1f80 & ~0x200u; /* ZM clear */
  asm volatile("ldmxcsr %0" :: "m"(m));
  double r;
  asm volatile("movsd %1, %%xmm0\n\tdivsd %2, %%xmm0\n\tmovsd %%xmm0, %0"
               : "=m"(r) : "m"(vd[2]), "m"(*(const double *)&(const u64){0}) : "xmm0");
  (void)r;
}

__attribute__((noinline)) static void unmasked_xm(void) {
  sse_on();
  check_fault(catch_run(divide_by_zero, 0), 19, -1);
  u32 st;
  asm volatile("stmxcsr %0" : "=m"(st));
  CHECK_EQ(st & 0x3f, 0x4);
  write_cr4(read_cr4() & ~CR4_OSXMMEXCPT);
  check_fault(catch_run(divide_by_zero, 0), UD, -1);
}

static void addps(void *arg) { (void)arg; asm volatile("addps %%xmm1, %%xmm0" ::: "xmm0"); }

__attribute__((noinline)) static void control_checks(void) {
  sse_on();
  CHECK_EQ(catch_run(addps, 0), -1);
  write_cr4(read_cr4() & ~CR4_OSFXSR);
  check_fault(catch_run(addps, 0), UD, -1);
  write_cr4(read_cr4() | CR4_OSFXSR);
  write_cr0(read_cr0() | CR0_TS);
  check_fault(catch_run(addps, 0), NM, -1);
  asm volatile("clts");
  CHECK_EQ(catch_run(addps, 0), -1);
}

static u8 area[1024] __attribute__((aligned(64)));

__attribute__((noinline)) static void fxsave_roundtrip(void) {
  sse_on();
  u64 a[2] = { 0x1122334455667788ul, 0x99aabbccddeeff00ul }, b[2];
  asm volatile("movdqu %1, %%xmm7\n\tfxsave64 %0" : "=m"(*(u8(*)[512])area) : "m"(a) : "xmm7");
  CHECK_EQ(*(u32 *)(area + 24), 0x1f80u);
  CHECK_EQ(*(u64 *)(area + 160 + 7 * 16), a[0]);
  asm volatile("pxor %%xmm7, %%xmm7\n\tfxrstor64 %1\n\tmovdqu %%xmm7, %0" : "=m"(b) : "m"(*(u8(*)[512])area) : "xmm7");
  CHECK_EQ(b[0], a[0]);
  CHECK_EQ(b[1], a[1]);
}

__attribute__((noinline)) static void xsave_xgetbv(void) {
  u32 ea, eb, ec, ed;
  cpuid(1, 0, &ea, &eb, &ec, &ed);
  if (!(ec & (1u << 26))) { t_skip("no XSAVE"); return; }
  sse_on();
  write_cr4(read_cr4() | CR4_OSXSAVE);
  cpuid(1, 0, &ea, &eb, &ec, &ed);
  CHECK(ec & (1u << 27), "OSXSAVE in CPUID 1 ECX");
  asm volatile("xsetbv" :: "a"(3), "d"(0), "c"(0));
  u32 lo, hi;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  CHECK_EQ(lo, 3);
  memset(area, 0, sizeof area);
  u64 a[2] = { 0x0102030405060708ul, 0x1112131415161718ul }, b[2];
  asm volatile("movdqu %1, %%xmm3\n\txsave %0" : "=m"(*(u8(*)[576])area) : "m"(a), "a"(3), "d"(0) : "xmm3");
  CHECK_EQ(area[512] & 3, 3);
  CHECK_EQ(*(u64 *)(area + 160 + 3 * 16), a[0]);
  asm volatile("pxor %%xmm3, %%xmm3\n\txrstor %1\n\tmovdqu %%xmm3, %0" : "=m"(b) : "m"(*(u8(*)[576])area), "a"(3), "d"(0) : "xmm3");
  CHECK_EQ(b[1], a[1]);
}

__attribute__((target("ssse3"), noinline)) static void ssse3_shuffle(void) {
  u32 ea, eb, ec, ed;
  cpuid(1, 0, &ea, &eb, &ec, &ed);
  if (!(ec & (1u << 9))) { t_skip("no SSSE3"); return; }
  sse_on();
  u8 src[16], idx[16], out[16];
  for (int i = 0; i < 16; i++) { src[i] = (u8)(0x40 + i); idx[i] = (u8)(15 - i); }
  idx[3] = 0x80;
  asm volatile("movdqu %1, %%xmm0\n\tmovdqu %2, %%xmm1\n\tpshufb %%xmm1, %%xmm0\n\tmovdqu %%xmm0, %0"
               : "=m"(out) : "m"(src), "m"(idx) : "xmm0", "xmm1");
  CHECK_EQ(out[0], 0x4f);
  CHECK_EQ(out[3], 0);
  CHECK_EQ(out[15], 0x40);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(fp_scalar), T(vector_loops), T(mxcsr_rounding), T(unmasked_xm), T(control_checks),
  T(fxsave_roundtrip), T(xsave_xgetbv), T(ssse3_shuffle),
};
const int ntests = ARRAY_SIZE(tests);
