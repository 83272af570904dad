/**
 * Debian's Linux 6.1 cloud kernel (npm run linux) with the project's initramfs on a machine
 * with two CPUs: Linux finds both local APICs in the MADT, starts CPU 1 with INIT/SIPI
 * ("smp: Brought up 1 node, 2 CPUs"), runs /init and powers off; two runs to the bring-up give
 * the same console output and the same instruction counts on each CPU.
 *
 * What Linux reports and this test accepts: the CPUs run in turns of a fixed number of
 * instructions, each with its own cycle counter, so their TSCs differ by up to a turn and
 * Linux's TSC synchronisation check (arch/x86/kernel/tsc_sync.c) measures a warp and marks the
 * TSC unstable. Without the cached kernel the test is skipped.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootLinux, INIT_MARK, POWER_OFF_MARK } from '../src/lab/linuxboot.js';
import { Stop } from '../src/cpu/state.js';

const CACHE = join(import.meta.dirname, '..', '.cache', 'linux');
const KERNEL = join(CACHE, 'vmlinuz');
const INITRD = join(CACHE, 'init.cpio');
const CMDLINE = 'console=ttyS0 cryptomgr.notests';
const cached = existsSync(KERNEL) && existsSync(INITRD);
const TROUBLE = /WARNING:|Oops|BUG:|Call Trace|Kernel panic|\[Firmware Bug\]|unchecked MSR access|invalid opcode/;

describe.skipIf(!cached)('Linux with two CPUs', () => {
  const boot = (stopAt?: string) => bootLinux({ kernel: readFileSync(KERNEL), initrd: readFileSync(INITRD), cmdline: CMDLINE, maxInsns: 3_000_000_000, cpus: 2, stopAt });

  it('brings up CPU 1 and runs /init to power-off', () => {
    const a = boot();
    const log = a.log.replace(/\r/g, '');
    expect(log).toContain('smpboot: Allowing 2 CPUs, 0 hotplug CPUs');
    expect(log).toContain('smp: Brought up 1 node, 2 CPUs');
    expect(log).toContain(INIT_MARK);
    expect(log).toContain(POWER_OFF_MARK);
    expect(a.stop.reason).toBe(Stop.Exit);
    expect(a.stop.perCpu?.[1].icount ?? 0).toBeGreaterThan(1_000_000);
    // (the SRSO mitigation note appears with one CPU too, and on QEMU)
    expect(log.split('\n').filter((l) => TROUBLE.test(l) && !/Speculative Return Stack Overflow/.test(l))).toEqual([]);
  }, 900_000);

  it('is the same on two runs up to the bring-up of CPU 1', () => {
    const mark = 'smp: Brought up 1 node, 2 CPUs';
    const a = boot(mark);
    const b = boot(mark);
    expect(a.log).toContain(mark);
    expect(b.log).toBe(a.log);
    expect(b.stop.perCpu).toEqual(a.stop.perCpu);
  }, 900_000);
});
