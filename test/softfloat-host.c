/*
 * Host-CPU oracle for test/softfloat.test.ts: reads "op ctl a b" lines (hex operands; f80 as
 * 20 hex digits sign|exponent then significand), runs the one SSE or x87 instruction with the
 * requested rounding mode / DAZ / FTZ / precision control (all exceptions masked) and prints
 * "result flags c1". Built with gcc at test time; x86-64 only.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

typedef struct __attribute__((packed)) { uint64_t sig; uint16_t se; } f80;

static unsigned mx(unsigned ctl) {
  return 0x1f80 | ((ctl & 3) << 13) | ((ctl & 4) ? 0x40 : 0) | ((ctl & 8) ? 0x8000 : 0);
}
static uint16_t cw(unsigned ctl) { return (0x037f & ~0x0f00) | ((ctl & 3) << 10) | (((ctl >> 4) & 3) << 8); }

#define SSE2(insn, mov)                                                                   \
  do {                                                                                    \
    unsigned m = mx(ctl), m2;                                                             \
    asm volatile("ldmxcsr %[m]\n\t" mov " %[a], %%xmm0\n\t" mov " %[b], %%xmm1\n\t" insn \
                 " %%xmm1, %%xmm0\n\t" mov " %%xmm0, %[r]\n\tstmxcsr %[m2]"               \
                 : [r] "=r"(r), [m2] "=m"(m2)                                             \
                 : [a] "r"(a), [b] "r"(b), [m] "m"(m)                                     \
                 : "xmm0", "xmm1");                                                       \
    fl = m2 & 0x3f;                                                                       \
  } while (0)

#define SSEC(insn, mov, outreg)                                                           \
  do {                                                                                    \
    unsigned m = mx(ctl), m2;                                                             \
    asm volatile("ldmxcsr %[m]\n\t" mov " %[a], %%xmm0\n\t" insn " %%xmm0, %" outreg     \
                 "[r]\n\tstmxcsr %[m2]"                                                   \
                 : [r] "=r"(r), [m2] "=m"(m2)                                             \
                 : [a] "r"(a), [m] "m"(m)                                                 \
                 : "xmm0");                                                               \
    fl = m2 & 0x3f;                                                                       \
  } while (0)

#define SSECMP(insn, mov)                                                                 \
  do {                                                                                    \
    unsigned m = mx(ctl), m2;                                                             \
    uint8_t z, p, c;                                                                      \
    asm volatile("ldmxcsr %[m]\n\t" mov " %[a], %%xmm0\n\t" mov " %[b], %%xmm1\n\t" insn \
                 " %%xmm1, %%xmm0\n\tsetz %[z]\n\tsetp %[p]\n\tsetc %[c]\n\tstmxcsr %[m2]"    \
                 : [z] "=r"(z), [p] "=r"(p), [c] "=r"(c), [m2] "=m"(m2)                     \
                 : [a] "r"(a), [b] "r"(b), [m] "m"(m)                                     \
                 : "xmm0", "xmm1", "cc");                                                 \
    fl = m2 & 0x3f;                                                                       \
    r = p ? 3 : z ? 1 : c ? 0 : 2;                                                        \
  } while (0)

#define X87BIN(insn)                                                                  \
  do {                                                                                \
    uint16_t c = cw(ctl), sw;                                                         \
    asm volatile("fninit\n\tfldcw %[c]\n\tfldt %[b]\n\tfldt %[a]\n\t" insn            \
                 "\n\tfnstsw %[sw]\n\tfstpt %[r]\n\tfstp %%st(0)"                     \
                 : [r] "=m"(rx), [sw] "=m"(sw)                                        \
                 : [a] "m"(xa), [b] "m"(xb), [c] "m"(c));                            \
    fl = sw & 0x3f; c1 = (sw >> 9) & 1;                                               \
  } while (0)

#define X87CMP(insn)                                                                  \
  do {                                                                                \
    uint16_t c = cw(ctl), sw;                                                         \
    asm volatile("fninit\n\tfldcw %[c]\n\tfldt %[b]\n\tfldt %[a]\n\t" insn            \
                 "\n\tfnstsw %[sw]\n\tfstp %%st(0)\n\tfstp %%st(0)"                   \
                 : [sw] "=m"(sw)                                                      \
                 : [a] "m"(xa), [b] "m"(xb), [c] "m"(c));                            \
    fl = sw & 0x3f; c1 = 0;                                                           \
    int c0 = (sw >> 8) & 1, c2 = (sw >> 10) & 1, c3 = (sw >> 14) & 1;                 \
    r = c2 ? 3 : c3 ? 1 : c0 ? 0 : 2;                                                 \
  } while (0)

#define X87UN(ld, insn, st, out)                                                      \
  do {                                                                                \
    uint16_t c = cw(ctl), sw;                                                         \
    asm volatile("fninit\n\tfldcw %[c]\n\t" ld " %[a]\n\t" insn "\n\t" st " %[r]\n\t" \
                 "fnstsw %[sw]"                                                       \
                 : [r] "=m"(out), [sw] "=m"(sw)                                       \
                 : [a] "m"(in), [c] "m"(c));                                         \
    fl = sw & 0x3f; c1 = (sw >> 9) & 1;                                               \
  } while (0)

static f80 rd80(const char *s) {
  f80 v; char h[5]; memcpy(h, s, 4); h[4] = 0;
  unsigned se; sscanf(h, "%x", &se); v.se = se;
  unsigned long long sig; sscanf(s + 4, "%16llx", &sig); v.sig = sig;
  return v;
}

int main(void) {
  char op[16], sa[64], sb[64];
  unsigned ctl;
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  while (scanf("%15s %x %63s %63s", op, &ctl, sa, sb) == 4) {
    unsigned long long a = 0, b = 0, r = 0;
    unsigned fl = 0, c1 = 0;
    f80 xa = {0, 0}, xb = {0, 0}, rx = {0, 0};
    int out80 = 0;
    if (op[0] == 'x') { xa = rd80(sa); xb = rd80(sb); } else { sscanf(sa, "%llx", &a); sscanf(sb, "%llx", &b); }
    if (!strcmp(op, "s.add")) SSE2("addss", "movd");
    else if (!strcmp(op, "s.sub")) SSE2("subss", "movd");
    else if (!strcmp(op, "s.mul")) SSE2("mulss", "movd");
    else if (!strcmp(op, "s.div")) SSE2("divss", "movd");
    else if (!strcmp(op, "s.sqrt")) SSE2("sqrtss", "movd");
    else if (!strcmp(op, "s.tod")) SSE2("cvtss2sd", "movq");
    else if (!strcmp(op, "s.i32")) { SSEC("cvtss2si", "movd", "k"); r &= 0xffffffffu; }
    else if (!strcmp(op, "s.i64")) SSEC("cvtss2si", "movd", "q");
    else if (!strcmp(op, "s.ti32")) { SSEC("cvttss2si", "movd", "k"); r &= 0xffffffffu; }
    else if (!strcmp(op, "s.ti64")) SSEC("cvttss2si", "movd", "q");
    else if (!strcmp(op, "s.cmp")) SSECMP("comiss", "movd");
    else if (!strcmp(op, "s.ucmp")) SSECMP("ucomiss", "movd");
    else if (!strcmp(op, "d.add")) SSE2("addsd", "movq");
    else if (!strcmp(op, "d.sub")) SSE2("subsd", "movq");
    else if (!strcmp(op, "d.mul")) SSE2("mulsd", "movq");
    else if (!strcmp(op, "d.div")) SSE2("divsd", "movq");
    else if (!strcmp(op, "d.sqrt")) SSE2("sqrtsd", "movq");
    else if (!strcmp(op, "d.tos")) { SSE2("cvtsd2ss", "movq"); r &= 0xffffffffu; }
    else if (!strcmp(op, "d.i32")) { SSEC("cvtsd2si", "movq", "k"); r &= 0xffffffffu; }
    else if (!strcmp(op, "d.i64")) SSEC("cvtsd2si", "movq", "q");
    else if (!strcmp(op, "d.ti32")) { SSEC("cvttsd2si", "movq", "k"); r &= 0xffffffffu; }
    else if (!strcmp(op, "d.ti64")) SSEC("cvttsd2si", "movq", "q");
    else if (!strcmp(op, "d.cmp")) SSECMP("comisd", "movq");
    else if (!strcmp(op, "d.ucmp")) SSECMP("ucomisd", "movq");
    else if (!strcmp(op, "i.s32") || !strcmp(op, "i.s64") || !strcmp(op, "i.d32") || !strcmp(op, "i.d64")) {
      unsigned m = mx(ctl), m2;
      if (op[2] == 's' && op[3] == '3') { int v = (int)a; asm volatile("ldmxcsr %[m]\n\tcvtsi2ssl %[a], %%xmm0\n\tmovd %%xmm0, %k[r]\n\tstmxcsr %[m2]" : [r] "=r"(r), [m2] "=m"(m2) : [a] "r"(v), [m] "m"(m) : "xmm0"); }
      else if (op[2] == 's') asm volatile("ldmxcsr %[m]\n\tcvtsi2ssq %[a], %%xmm0\n\tmovd %%xmm0, %k[r]\n\tstmxcsr %[m2]" : [r] "=r"(r), [m2] "=m"(m2) : [a] "r"(a), [m] "m"(m) : "xmm0");
      else if (op[3] == '3') { int v = (int)a; asm volatile("ldmxcsr %[m]\n\tcvtsi2sdl %[a], %%xmm0\n\tmovq %%xmm0, %[r]\n\tstmxcsr %[m2]" : [r] "=r"(r), [m2] "=m"(m2) : [a] "r"(v), [m] "m"(m) : "xmm0"); }
      else asm volatile("ldmxcsr %[m]\n\tcvtsi2sdq %[a], %%xmm0\n\tmovq %%xmm0, %[r]\n\tstmxcsr %[m2]" : [r] "=r"(r), [m2] "=m"(m2) : [a] "r"(a), [m] "m"(m) : "xmm0");
      if (op[2] == 's') r &= 0xffffffffu;
      fl = m2 & 0x3f;
    }
    else if (!strcmp(op, "x.add")) { X87BIN("fadd %%st(1), %%st"); out80 = 1; }
    else if (!strcmp(op, "x.sub")) { X87BIN("fsub %%st(1), %%st"); out80 = 1; }
    else if (!strcmp(op, "x.mul")) { X87BIN("fmul %%st(1), %%st"); out80 = 1; }
    else if (!strcmp(op, "x.div")) { X87BIN("fdiv %%st(1), %%st"); out80 = 1; }
    else if (!strcmp(op, "x.sqrt")) { X87BIN("fsqrt"); out80 = 1; }
    else if (!strcmp(op, "x.rnd")) { X87BIN("fld %%st(0)\n\tfadd %%st(2), %%st\n\tfstp %%st(1)"); out80 = 1; }
    else if (!strcmp(op, "x.cmp")) X87CMP("fcom %%st(1)");
    else if (!strcmp(op, "x.ucmp")) X87CMP("fucom %%st(1)");
    else if (!strcmp(op, "x.st32")) { f80 in = xa; uint32_t o; X87UN("fldt", "", "fstps", o); r = o; }
    else if (!strcmp(op, "x.st64")) { f80 in = xa; uint64_t o; X87UN("fldt", "", "fstpl", o); r = o; }
    else if (!strcmp(op, "x.i16")) { f80 in = xa; uint16_t o; X87UN("fldt", "", "fistps", o); r = o; }
    else if (!strcmp(op, "x.i32")) { f80 in = xa; uint32_t o; X87UN("fldt", "", "fistpl", o); r = o; }
    else if (!strcmp(op, "x.i64")) { f80 in = xa; uint64_t o; X87UN("fldt", "", "fistpll", o); r = o; }
    else if (!strcmp(op, "x.ti16")) { f80 in = xa; uint16_t o; X87UN("fldt", "", "fisttps", o); r = o; }
    else if (!strcmp(op, "x.ti32")) { f80 in = xa; uint32_t o; X87UN("fldt", "", "fisttpl", o); r = o; }
    else if (!strcmp(op, "x.ti64")) { f80 in = xa; uint64_t o; X87UN("fldt", "", "fisttpll", o); r = o; }
    else if (!strcmp(op, "x.ld32")) { uint32_t in = (uint32_t)xa.sig; X87UN("flds", "", "fstpt", rx); out80 = 1; }
    else if (!strcmp(op, "x.ld64")) { uint64_t in = xa.sig; X87UN("fldl", "", "fstpt", rx); out80 = 1; }
    else { printf("?\n"); continue; }
    if (out80) printf("%04x%016llx %x %x\n", rx.se, (unsigned long long)rx.sig, fl, c1);
    else printf("%llx %x %x\n", r, fl, c1);
  }
  return 0;
}
