/*
 * An intentional triple fault (APM Vol. 2, 8.2.9: a fault while delivering #DF shuts the
 * processor down). With an empty IDT, UD2 raises #UD, whose delivery raises #GP (vector beyond
 * the IDT limit), whose delivery raises #GP again: contributory on contributory is #DF, and
 * delivering #DF fails as well.
 *
 * Expected outcome: the marker line below, then a shutdown and nothing more on COM1. QEMU with
 * -no-reboot exits with status 0 and no output of its own; a machine that keeps running prints
 * the FAIL line.
 */
#include "rt.h"

const char kernel_name[] = "triple";

void kernel_setup(void) {
  printf("TRIPLE: expecting a shutdown\n");
  struct { u16 limit; u64 base; } __attribute__((packed)) p = { 0, 0 };
  asm volatile("lidt %0\n\tud2" :: "m"(p));
  printf("FAIL: triple_fault (still running after the triple fault)\n");
  printf("SUMMARY: 1 tests, 1 unexpected failures, 0 skipped\n");
  exit_status(3);
}

const struct test tests[] = { { "triple_fault", NULL } };
const int ntests = 0;
