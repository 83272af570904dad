/**
 * Debian's Linux 6.1 cloud kernel (npm run linux) with the project's initramfs, booted on QEMU
 * TCG and on worldswitch: QEMU validates the /init and the cpio; worldswitch must find the same
 * platform devices, print no warning or oops that QEMU does not, and show /proc/cpuinfo flags
 * that match what its CPUID advertises.
 *
 * Without the cached kernel the tests are skipped with a message, and fail under CI=true. The
 * worldswitch boot runs only once the CPU advertises what Linux refuses to boot without (FPU,
 * FXSR, SSE, SSE2: arch/x86/include/asm/required-features.h and fpu__init_system).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootLinux, INIT_MARK, POWER_OFF_MARK } from '../src/lab/linuxboot.js';
import { parseSystemMap } from '../src/lab/sysmap.js';
import { cpuidLeaf } from '../src/cpu/cpuid.js';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { Stop } from '../src/cpu/state.js';

const ROOT = join(import.meta.dirname, '..');
const CACHE = join(ROOT, '.cache', 'linux');
const KERNEL = join(CACHE, 'vmlinuz');
const INITRD = join(CACHE, 'init.cpio');
const CMDLINE = 'console=ttyS0 cryptomgr.notests';
const cached = existsSync(KERNEL) && existsSync(INITRD);
const haveQemu = spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;

if (!cached) {
  const msg = `linux-boot: ${KERNEL} or ${INITRD} is missing; run npm run linux`;
  if (process.env.CI === 'true') {
    describe('linux boot', () => { it('needs the cached kernel under CI', () => { throw new Error(msg); }); });
  } else {
    console.warn(`${msg} (tests skipped)`);
  }
}

/** CPUID.1 EDX bits Linux cannot boot without on x86-64: FPU 0, FXSR 24, SSE 25, SSE2 26 */
function cpuHasLinuxBaseline(): boolean {
  const out = new Int32Array(4);
  cpuidLeaf(new Cpu(new PhysMem(1 << 20)), 1, 0, out);
  const need = (1 << 0) | (1 << 24) | (1 << 25) | (1 << 26);
  return ((out[3] & need) >>> 0) === need >>> 0;
}

/** the console lines without timestamps */
const lines = (log: string) => log.replace(/\r/g, '').split('\n').map((l) => l.replace(/^\[\s*\d+\.\d+\] /, ''));

/** platform devices as the kernel reports finding them; QEMU's PCI devices are not compared */
const DEVICES: [string, RegExp][] = [
  // through ACPI PNP devices (QEMU's DSDT) or the legacy probes (worldswitch's)
  ['8250 UART on COM1', /ttyS0 at I\/O 0x3f8 \(irq = 4/],
  ['CMOS RTC', /^rtc_cmos \S+: registered as rtc0/],
  ['ACPI PM timer', /^ACPI: PM-Timer IO Port: 0x/],
  ['ACPI PM timer clocksource', /^clocksource: acpi_pm:/],
  ['IOAPIC', /^IOAPIC\[0\]: apic_id \d+, version \d+, address 0xfec00000, GSI 0-23/],
  ['i8042', /^serio: i8042 KBD port at 0x60,0x64/],
  ['ACPI S5', /^ACPI: PM: \(supports S0.*S5\)/],
];
/**
 * Devices QEMU's log shows that worldswitch does not have yet, with the reason; the test checks
 * they are still missing, so that one that appears is moved to DEVICES.
 */
const KNOWN_MISSING: [string, RegExp, string][] = [
  ['PS/2 keyboard', /^input: AT Translated Set 2 keyboard/,
    'the 8042 has no keyboard behind it: atkbd\'s probe commands time out, which also holds the power-off about 1.4 s of simulated time'],
];
if (cached && !cpuHasLinuxBaseline()) {
  console.warn('linux-boot: worldswitch boot skipped: CPUID.1 EDX does not advertise FPU, FXSR, SSE and SSE2, without which Linux stops in fpu__init_system');
}

const TROUBLE = /WARNING:|Oops|BUG:|Call Trace|Kernel panic|\[Firmware Bug\]|unchecked MSR access|invalid opcode/;

function qemuBoot(): string {
  const r = spawnSync('qemu-system-x86_64', [
    '-M', 'pc', '-m', '256M', '-cpu', 'EPYC', '-accel', 'tcg', '-nographic', '-no-reboot',
    '-kernel', KERNEL, '-initrd', INITRD, '-append', CMDLINE,
  ], { encoding: 'utf8', timeout: 120_000 });
  return r.stdout ?? '';
}

describe.skipIf(!cached || !haveQemu)('Linux on QEMU TCG (reference)', () => {
  it('runs the project /init to power-off', () => {
    const log = qemuBoot();
    expect(log).toContain(INIT_MARK);
    expect(log).toMatch(/init: uname Linux 6\.1\.\d+-\d+-cloud-amd64/);
    expect(log).toMatch(/init: cpuinfo flags\s*: .*\bsse2\b/);
    expect(log).toContain(POWER_OFF_MARK);
  }, 150_000);
});

describe.skipIf(!cached || !haveQemu || !cpuHasLinuxBaseline())('Linux on worldswitch against QEMU', () => {
  it('runs /init to power-off, finds the same devices, warns no more than QEMU, and shows its CPUID flags', () => {
    const ref = lines(qemuBoot());
    const r = bootLinux({ kernel: readFileSync(KERNEL), initrd: readFileSync(INITRD), cmdline: CMDLINE, maxInsns: 2_000_000_000 });
    const got = lines(r.log);
    if (r.powerOffInsns < 0) {
      const map = existsSync(join(CACHE, 'System.map')) ? parseSystemMap(readFileSync(join(CACHE, 'System.map'), 'utf8')) : null;
      throw new Error(`worldswitch did not power off: stop ${r.stop.reason} at RIP ${map?.describe(r.machine.cpu.rip) ?? r.machine.cpu.rip}\n${got.slice(-15).join('\n')}`);
    }
    for (const [name, re] of DEVICES) {
      if (ref.some((l) => re.test(l))) expect(got.some((l) => re.test(l)), name).toBe(true);
    }
    for (const [name, re, why] of KNOWN_MISSING) {
      expect(ref.some((l) => re.test(l)), `QEMU shows ${name}`).toBe(true);
      expect(got.some((l) => re.test(l)), `${name} is no longer missing (${why}): move it to DEVICES`).toBe(false);
    }
    const refTrouble = new Set(ref.filter((l) => TROUBLE.test(l)));
    expect(got.filter((l) => TROUBLE.test(l) && !refTrouble.has(l))).toEqual([]);
    const flags = got.find((l) => l.startsWith('init: cpuinfo flags'))?.split(':')[2]?.trim().split(/\s+/) ?? [];
    // the power-off is ACPI S5 through PM1_CNT: the machine stops itself
    expect(r.stop.reason).toBe(Stop.Exit);
    expect(r.machine.stopCause).toBe('power-off (ACPI S5)');
    for (const f of ['fpu', 'tsc', 'msr', 'pae', 'cx8', 'apic', 'fxsr', 'sse', 'sse2', 'syscall', 'nx', 'lm', 'svm']) expect(flags, f).toContain(f);
  }, 600_000);
});
