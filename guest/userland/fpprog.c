/*
 * An ordinary static Linux program (gcc -O2 -static, glibc) for test/userland.test.ts: it prints
 * a deterministic transcript of floating-point and string work, the same on the host, under the
 * userland kernel on QEMU and under the userland kernel on worldswitch.
 *
 * It exercises double and float arithmetic and libm (SSE2), long double (x87) arithmetic,
 * conversions and printing, printf/snprintf/strtod, integer <-> floating conversions under the
 * four rounding modes and the fenv exception flags, glibc's string functions (selected at
 * start-up by CPUID through IRELATIVE ifuncs: SSE2 versions without AVX) against byte-wise
 * references over many lengths and alignments, malloc (brk and mmap) and qsort.
 */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t seed = 0x243f6a8885a308d3ull;
static uint64_t rnd(void) {
  seed ^= seed << 13;
  seed ^= seed >> 7;
  seed ^= seed << 17;
  return seed;
}

/* FNV-1a over bytes: a checksum of a buffer */
static uint64_t fnv(const void *p, size_t n, uint64_t h) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* opaque values: the compiler may not fold what it cannot see */
static volatile double vd[] = { 0.1, 1.0 / 3.0, 2.5, -7.25, 1e300, 1e-300, 4.9406564584124654e-324, 123456.789 };
static volatile long double vl[] = { 0.1L, 3.0L, -2.5L, 1e4000L, 1.0L / 7 };

static void doubles(void) {
  printf("== double\n");
  double a = vd[0], b = vd[1], c = vd[2], d = vd[3];
  printf("add %.17g sub %.17g mul %.17g div %.17g\n", a + b, c - a, b * d, d / a);
  printf("%a %a %a %a\n", a + b, c - a, b * d, d / a);
  printf("big %.17g %.17g tiny %.17g %a\n", vd[4] * 10, vd[4] * vd[4], vd[5] * 1e-10, vd[6] / 2);
  const double xs[] = { 0.5, 1.0, 2.0, 3.14159, 10.0, 0.001, 100.25, 7e-5 };
  for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++) {
    volatile double x = xs[i];
    printf("x=%g sqrt %.17g sin %.17g cos %.17g exp %.17g log %.17g pow %.17g atan2 %.17g fma %.17g\n", x,
           sqrt(x), sin(x), cos(x), exp(x), log(x), pow(x, 1.5), atan2(x, 1.5), fma(x, x, -0.1));
  }
  printf("hypot %.17g cbrt %.17g tan %.17g log10 %.17g expm1 %.17g floor %g ceil %g trunc %g round %g\n",
         hypot(vd[2], vd[3]), cbrt(vd[7]), tan(vd[1]), log10(vd[7]), expm1(vd[5]), floor(vd[3]), ceil(vd[3]),
         trunc(vd[3]), round(vd[2]));
  printf("fmod %.17g remainder %.17g ldexp %g frexp", fmod(vd[7], vd[2]), remainder(vd[7], vd[2]), ldexp(vd[2], 40));
  int e;
  double m = frexp(vd[7], &e);
  printf(" %.17g %d nan %g %g inf %g %g\n", m, e, nan(""), -sqrt(-1.0 * vd[2]), vd[4] * vd[4], -vd[4] * vd[4]);
  /* sums with accumulated rounding */
  double s = 0;
  for (int i = 1; i <= 1000; i++) s += 1.0 / (double)i;
  printf("harmonic %.17g\n", s);
}

static void floats(void) {
  printf("== float\n");
  float a = (float)vd[0], b = (float)vd[1];
  printf("%.9g %.9g %.9g %.9g %a\n", a + b, a * b, a / b, sqrtf(b), (double)(a / b));
  printf("sinf %.9g expf %.9g logf %.9g powf %.9g\n", sinf(a), expf(b), logf(b), powf(b, a));
  float f = 0;
  for (int i = 0; i < 1000; i++) f += 0.1f;
  printf("sum %.9g %a\n", f, (double)f);
}

static void long_doubles(void) {
  printf("== long double\n");
  long double a = vl[0], b = vl[1], c = vl[2], d = vl[4];
  printf("%.21Lg %.21Lg %.21Lg %.21Lg\n", a + b, a - c, b * c, a / b);
  printf("%La %La %La\n", a + d, b / c, d);
  printf("sqrtl %.21Lg %La\n", sqrtl(b), sqrtl(b));
  printf("%Lf %Le %Lg %.30Lf\n", a * 1000, vl[3], d, d);
  printf("big %Lg mul %Lg\n", vl[3], vl[3] * vl[3] / vl[3]);
  long long ll = (long long)(b * 1e15L / d);
  long double from = (long double)-9007199254740993LL;
  printf("ll %lld from %.21Lg dbl %.17g\n", ll, from, (double)(a * 3));
  unsigned long long ull = (unsigned long long)(vl[1] * 6e18L);
  printf("ull %llu back %.21Lg\n", ull, (long double)ull);
  long double h = 0;
  for (int i = 1; i <= 200; i++) h += 1.0L / i;
  printf("harmonic %.21Lg fabsl %Lg\n", h, fabsl(c));
}

static void printing(void) {
  printf("== printf\n");
  const double v[] = { 0.0, -0.0, 1.0, 0.1, 1.5e-7, 123456789.125, 1e22, 1e23, 2.2250738585072014e-308,
                       DBL_MAX, 5e-324, 0.3, 2.0 / 3.0 };
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    volatile double x = v[i];
    printf("%f|%e|%g|%a|%.3f|%.0e|%10.4g|%-12.5g|%+.2f\n", x, x, x, x, x, x, x, x, x);
  }
  char buf[64];
  int n = snprintf(buf, sizeof(buf), "%.40f", vd[0]);
  printf("snprintf %d [%s]\n", n, buf);
  n = snprintf(buf, 8, "%g", vd[7]);
  printf("truncated %d [%s]\n", n, buf);
  printf("== strtod\n");
  const char *in[] = { "0.1", "1e-310", "0x1.8p3", "inf", "-nan", "1.7976931348623157e308", "1.8e308",
                       "2.2250738585072011e-308", "  -12.5e+3xyz", "4.9e-324", "2.4703282292062328e-324",
                       "0.000000000000000000000000000001", "123456789012345678901234567890" };
  for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
    char *end;
    double x = strtod(in[i], &end);
    float f = strtof(in[i], NULL);
    long double l = strtold(in[i], NULL);
    printf("%s -> %a %a %La rest [%s]\n", in[i], x, (double)f, l, end);
  }
}

static const char *const mode_names[] = { "nearest", "down", "up", "zero" };
static const int modes[] = { FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO };

static void conversions(void) {
  printf("== conversions\n");
  const double v[] = { 2.5, -2.5, 3.5, -0.5, 1e10 + 0.5, 9007199254740993.0, 1.9999999999999998 };
  for (int m = 0; m < 4; m++) {
    fesetround(modes[m]);
    printf("%s:", mode_names[m]);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
      volatile double x = v[i];
      printf(" %ld/%lld/%g/%g", lrint(x), llrint(x), rint(x), nearbyint(x));
    }
    volatile double one = 1, three = 3;
    volatile long double lone = 1, lthree = 3;
    volatile int64_t big = 0x7fffffffffffffffll;
    volatile uint64_t ubig = 0xfffffffffffffc01ull;
    printf(" | %a %La %a %a %a %a\n", one / three, lone / lthree, (double)big, (double)ubig, (double)(float)(one / three),
           sqrt(three));
    printf("  lrintl %ld cvt %a %.21Lg\n", lrintl(vl[2]), (double)vl[4], (long double)(one / three));
  }
  fesetround(FE_TONEAREST);
  volatile double x = -3.99, y = 4e9, z = 1.5e19;
  printf("trunc %d %ld %u %lu %lu\n", (int)x, (long)y, (unsigned)y, (unsigned long)z, (unsigned long)(x * -1e18));
  volatile int i32 = -7;
  volatile long i64 = -9007199254740993l;
  volatile unsigned long u64 = 18446744073709551615ul;
  printf("to fp %a %a %a %a %La\n", (double)i32, (double)i64, (double)u64, (double)(float)u64, (long double)u64);
}

static void exceptions(void) {
  printf("== fenv\n");
  struct { const char *name; int op; } ops[] = { { "1/0", 0 }, { "0/0", 1 }, { "max*2", 2 }, { "min/3", 3 },
                                                 { "1/3", 4 }, { "1+1", 5 }, { "sqrt-1", 6 }, { "ld 1/0", 7 },
                                                 { "ld 1/3", 8 }, { "cvt big", 9 } };
  for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
    feclearexcept(FE_ALL_EXCEPT);
    volatile double zero = 0, one = 1, three = 3, r = 0;
    volatile long double lz = 0, l1 = 1, l3 = 3, lr = 0;
    volatile int iv = 0;
    switch (ops[i].op) {
    case 0: r = one / zero; break;
    case 1: r = zero / zero; break;
    case 2: r = DBL_MAX * (one + one); break;
    case 3: r = DBL_MIN / three; break;
    case 4: r = one / three; break;
    case 5: r = one + one; break;
    case 6: r = sqrt(-one); break;
    case 7: lr = l1 / lz; break;
    case 8: lr = l1 / l3; break;
    case 9: iv = (int)(one * 3e9); break;
    }
    int f = fetestexcept(FE_ALL_EXCEPT);
    printf("%-8s %c%c%c%c%c %g %Lg %d\n", ops[i].name, f & FE_INVALID ? 'I' : '-', f & FE_DIVBYZERO ? 'Z' : '-',
           f & FE_OVERFLOW ? 'O' : '-', f & FE_UNDERFLOW ? 'U' : '-', f & FE_INEXACT ? 'P' : '-', r, lr, iv);
  }
  fenv_t env;
  fegetenv(&env);
  feraiseexcept(FE_OVERFLOW | FE_INEXACT);
  printf("raised %#x\n", fetestexcept(FE_ALL_EXCEPT));
  fesetenv(&env);
  printf("restored %#x round %d\n", fetestexcept(FE_ALL_EXCEPT), fegetround());
}

/* ---- string functions against byte-wise references ---- */
#define BUF 8192
static unsigned char *A, *B, *C;

/* nonzero pseudo-random bytes, eight from each rnd() */
static void fill(unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t r = rnd();
    for (size_t k = 0; k < 8 && i + k < n; k++, r >>= 8) p[i + k] = (unsigned char)((r & 0xff) % 255 + 1);
  }
}

static int ref_cmp(const unsigned char *a, const unsigned char *b, size_t n) {
  for (size_t i = 0; i < n; i++) if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}
static int sign(int v) { return (v > 0) - (v < 0); }

static const size_t lens[] = { 0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 95, 96,
                               97, 127, 128, 129, 200, 255, 256, 257, 511, 512, 1000, 2047, 4096 };
#define NLENS (sizeof(lens) / sizeof(lens[0]))
static const size_t aligns[] = { 0, 1, 3, 7, 8, 13, 15 };
#define NALIGNS (sizeof(aligns) / sizeof(aligns[0]))

static void strings(void) {
  printf("== strings\n");
  A = malloc(BUF + 64);
  B = malloc(BUF + 64);
  C = malloc(BUF + 64);
  unsigned long bad[10] = { 0 }, calls = 0;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t li = 0; li < NLENS; li++) {
    size_t n = *(volatile const size_t *)&lens[li];  /* opaque: no bogus bound warnings */
    for (size_t sa = 0; sa < NALIGNS; sa++) {
      for (size_t da = 0; da < NALIGNS; da += 2) {
        unsigned char *s = A + aligns[sa], *d = B + aligns[da];
        size_t span = n + 32;   /* the bytes a case can touch */
        calls++;
        /* memcpy: the bytes, and nothing beside them */
        fill(A, span);
        memset(B, 0xee, span);
        memcpy(d, s, n);
        if (ref_cmp(d, s, n) || (aligns[da] && d[-1] != 0xee) || d[n] != 0xee) bad[0]++;
        h = fnv(B, n + 16, h);
        /* memset */
        memset(d, (int)(n & 0xff), n);
        for (size_t k = 0; k < n; k++) if (d[k] != (unsigned char)n) { bad[1]++; break; }
        if (d[n] != 0xee) bad[1]++;
        /* memmove, overlapping both ways, against a copy */
        size_t sh = 1 + (n % 9);
        memcpy(C, A, span);
        memmove(A + aligns[sa] + sh, A + aligns[sa], n);
        if (ref_cmp(A + aligns[sa] + sh, C + aligns[sa], n)) bad[2]++;
        memcpy(C, A, span);
        memmove(A + aligns[sa], A + aligns[sa] + sh, n);
        if (ref_cmp(A + aligns[sa], C + aligns[sa] + sh, n)) bad[2]++;
        h = fnv(A, n + 16, h);
        /* strlen, strchr, strrchr, memchr, memcmp, strcmp on a string of length n in s */
        fill(A, span);
        s[n] = 0;
        if (strlen((char *)s) != n) bad[3]++;
        unsigned char want = n ? s[n / 2] : 1;
        size_t first = 0;
        while (first < n && s[first] != want) first++;
        char *got = strchr((char *)s, want);
        if (first < n ? got != (char *)s + first : got != NULL) bad[4]++;
        if (strchr((char *)s, 0) != (char *)s + n) bad[4]++;
        size_t last = n;
        for (size_t k = 0; k < n; k++) if (s[k] == want) last = k;
        got = strrchr((char *)s, want);
        if (last < n ? got != (char *)s + last : got != NULL) bad[5]++;
        void *mc = memchr(s, want, n);
        if (first < n ? mc != s + first : mc != NULL) bad[6]++;
        memcpy(d, s, n + 1);
        if (memcmp(d, s, n) != 0 || strcmp((char *)d, (char *)s) != 0) bad[7]++;
        if (n) {
          size_t k = rnd() % n;
          d[k] = (unsigned char)(d[k] == 255 ? 1 : d[k] + 1);
          if (sign(memcmp(d, s, n)) != ref_cmp(d, s, n)) bad[7]++;
          if (sign(strcmp((char *)d, (char *)s)) != ref_cmp(d, s, n)) bad[8]++;
          if (sign(strncmp((char *)d, (char *)s, k + 1)) != ref_cmp(d, s, k + 1)) bad[8]++;
        }
        /* strcpy and strcat */
        strcpy((char *)d, (char *)s);
        if (ref_cmp(d, s, n + 1)) bad[9]++;
        if (n < 1000) {
          strcat((char *)d, "tail");
          if (strlen((char *)d) != n + 4 || memcmp(d + n, "tail", 5)) bad[9]++;
        }
        h = fnv(d, n + 5, h);
      }
    }
  }
  static const char *const fn[10] = { "memcpy", "memset", "memmove", "strlen", "strchr", "strrchr",
                                      "memchr", "memcmp", "strcmp", "strcpy" };
  for (int i = 0; i < 10; i++) printf("%s %s ", fn[i], bad[i] ? "BAD" : "ok");
  printf("\ncases %lu checksum %016llx\n", calls, (unsigned long long)h);
  /* a large copy from the mmap path of malloc */
  size_t big = 3u << 20;
  unsigned char *p = malloc(big), *q = malloc(big);
  for (size_t i = 0; i < big; i += 4096) p[i] = (unsigned char)(i >> 12);
  memset(p + 1, 0x5a, 4095);
  memcpy(q, p, big);
  printf("big copy %s %016llx\n", memcmp(p, q, big) == 0 ? "same" : "DIFFERENT", (unsigned long long)fnv(q, 8192, 0));
  free(p);
  free(q);
  free(A);
  free(B);
  free(C);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void sorting(void) {
  printf("== qsort\n");
  enum { N = 500 };
  double *v = malloc(N * sizeof(double));
  for (int i = 0; i < N; i++) v[i] = (double)(int64_t)rnd() / 3.0e15 * ((i & 1) ? 1 : -1e-3);
  qsort(v, N, sizeof(double), cmp_double);
  int sorted = 1;
  for (int i = 1; i < N; i++) if (v[i - 1] > v[i]) sorted = 0;
  double sum = 0;
  for (int i = 0; i < N; i++) sum += v[i];
  printf("sorted %d first %.17g median %.17g last %.17g sum %a\n", sorted, v[0], v[N / 2], v[N - 1], sum);
  free(v);
}

/* with arguments, only the sections they name run (e.g. `fpprog strings`) */
int main(int argc, char **argv) {
  static const struct { const char *name; void (*fn)(void); } sections[] = {
    { "doubles", doubles }, { "floats", floats }, { "long_doubles", long_doubles }, { "printing", printing },
    { "conversions", conversions }, { "exceptions", exceptions }, { "strings", strings }, { "sorting", sorting },
  };
  printf("fpprog: gcc %d.%d, glibc %d.%d, FLT_EVAL_METHOD %d, LDBL_MANT_DIG %d\n", __GNUC__, __GNUC_MINOR__,
         __GLIBC__, __GLIBC_MINOR__, FLT_EVAL_METHOD, LDBL_MANT_DIG);
  for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
    int run = argc < 2;
    for (int k = 1; k < argc; k++) run |= strcmp(argv[k], sections[i].name) == 0;
    if (run) sections[i].fn();
  }
  printf("done\n");
  return 0;
}
