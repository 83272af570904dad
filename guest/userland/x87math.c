/*
 * glibc's long double libm on the x87 transcendental instructions (F2XM1, FYL2X, FYL2XP1,
 * FPATAN; with FSCALE, FRNDINT, FPREM, FXTRACT, FSQRT around them), and those instructions
 * directly. One line per result: the name, the input, and the 80-bit result as sign+exponent
 * and significand in hex, so that test/userland.test.ts can measure how far two machines are
 * apart. Built gcc -O2 -static like fpprog.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

static void show(const char *name, long double x, long double r) {
  unsigned char b[16];
  unsigned long long m;
  unsigned short se;
  memcpy(b, &r, 10);
  memcpy(&m, b, 8);
  memcpy(&se, b + 8, 2);
  printf("%-8s %-12.6Lg %04x %016llx\n", name, x, se, m);
}

static volatile long double in[] = { 0.5L, 1.0L, 2.0L, 3.14159L, 10.0L, 0.001L, 100.25L, -0.75L, 1e-5L, 7.5L };

int main(void) {
  for (unsigned i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
    long double x = in[i], ax = fabsl(x), r;
    show("expl", x, expl(x));
    show("exp2l", x, exp2l(x));
    show("expm1l", x, expm1l(x));
    show("logl", x, logl(ax));
    show("log2l", x, log2l(ax));
    show("log10l", x, log10l(ax));
    show("log1pl", x, log1pl(ax));
    show("atanl", x, atanl(x));
    show("atan2l", x, atan2l(x, 1.25L));
    show("powl", x, powl(ax, 1.75L));
    show("sqrtl", x, sqrtl(ax));
    show("fmodl", x, fmodl(x * 1000, 0.7L));
    show("rintl", x, rintl(x * 3));
    show("logbl", x, logbl(x));
    /* the instructions themselves */
    if (ax < 1) {
      asm("f2xm1" : "=t"(r) : "0"(x));
      show("f2xm1", x, r);
    }
    asm("fyl2x" : "=t"(r) : "0"(ax), "u"(1.5L) : "st(1)");
    show("fyl2x", x, r);
    if (ax < 0.29L) {
      asm("fyl2xp1" : "=t"(r) : "0"(x), "u"(1.5L) : "st(1)");
      show("fyl2xp1", x, r);
    }
    asm("fpatan" : "=t"(r) : "0"(1.25L), "u"(x) : "st(1)");
    show("fpatan", x, r);
  }
  return 0;
}
