/**
 * Linux boot protocols and the firmware tables: the setup header of a bzImage, the zero page
 * and e820 map it gets, the ACPI tables parsed back from guest memory (found by the RSDP scan
 * Linux does), the PVH start info of a vmlinux, the cpio writer, and bad inputs (one line, a
 * non-zero exit). Synthetic images throughout; the real kernel's headers are checked when
 * `npm run linux` has cached it.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PhysMem } from '../src/machine/memory.js';
import { LoadError, loadKernel } from '../src/machine/loaders.js';
import { Machine } from '../src/machine/machine.js';
import { checkInitrd, parseSetupHeader, pvhEntry, XEN_HVM_START_MAGIC, Zp } from '../src/machine/linux.js';
import { parseCpio, writeCpio, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG } from '../src/machine/cpio.js';
import { checksum } from '../src/machine/firmware/acpi.js';
import { PM1A_CNT_BLK, PM1A_EVT_BLK, PM_TMR_BLK, SLP_TYP_S5 } from '../src/machine/firmware/platform.js';
import { Stop } from '../src/cpu/state.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'worldswitch.js');
const TMP = join(ROOT, 'build', 'linux-boot-test');
const CACHE = join(ROOT, '.cache', 'linux');
const MiB = 1 << 20;

interface BzOpts { version?: number; xloadflags?: number; initSize?: number; pref?: number; code?: number[]; initrdMax?: number; cmdlineSize?: number }

/** a bzImage with one setup sector and `code` at the 64-bit entry (load address + 0x200) */
function bzImage(o: BzOpts = {}): Uint8Array {
  const pm = new Uint8Array(0x1000);
  pm.set(o.code ?? [0xf4], 0x200);
  const f = new Uint8Array(1024 + pm.length);
  const dv = new DataView(f.buffer);
  f[0] = 0x4d; f[1] = 0x5a; // "MZ", as EFI-stub kernels start
  f[Zp.SetupSects] = 1;
  dv.setUint32(0x1f4, pm.length / 16, true); // syssize
  dv.setUint16(Zp.BootFlag, 0xaa55, true);
  f[0x200] = 0xeb; f[0x201] = 0x6a; // jmp: the header ends at 0x26c
  dv.setUint32(Zp.Header, 0x53726448, true);
  dv.setUint16(Zp.Version, o.version ?? 0x20f, true);
  f[Zp.LoadFlags] = 0x01;
  dv.setUint32(Zp.Code32Start, 0x100000, true);
  dv.setUint32(Zp.InitrdAddrMax, o.initrdMax ?? 0x7fffffff, true);
  dv.setUint32(Zp.KernelAlignment, 0x200000, true);
  f[Zp.RelocatableKernel] = 1;
  dv.setUint16(Zp.XLoadFlags, o.xloadflags ?? 0x3, true);
  dv.setUint32(Zp.CmdlineSize, o.cmdlineSize ?? 2047, true);
  dv.setUint32(Zp.PrefAddress, o.pref ?? 0x1000000, true);
  dv.setUint32(Zp.InitSize, o.initSize ?? 0x400000, true);
  f.set(pm, 1024);
  return f;
}

/** an ELF64 vmlinux: one PT_LOAD of `code` at paddr 0x1000000 and a PT_NOTE with the PVH entry */
function vmlinux(code: number[], entryOff = 0): Uint8Array {
  const f = new Uint8Array(0x2000);
  const dv = new DataView(f.buffer);
  f.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true); dv.setUint16(18, 62, true); dv.setUint32(20, 1, true);
  dv.setBigUint64(24, 0x1000000n, true);
  dv.setBigUint64(32, 64n, true);
  dv.setUint16(52, 64, true); dv.setUint16(54, 56, true); dv.setUint16(56, 2, true);
  const ph = (p: number, type: number, off: number, vaddr: bigint, paddr: number, sz: number, memsz: number) => {
    dv.setUint32(p, type, true); dv.setBigUint64(p + 8, BigInt(off), true); dv.setBigUint64(p + 16, vaddr, true);
    dv.setBigUint64(p + 24, BigInt(paddr), true); dv.setBigUint64(p + 32, BigInt(sz), true); dv.setBigUint64(p + 40, BigInt(memsz), true);
  };
  ph(64, 1, 0x1000, 0xffffffff81000000n, 0x1000000, 0x1000, 0x3000);
  // notes at 0x200: a GNU note first (skipped), then Xen type 18 with an 8-byte descriptor
  let n = 0x200;
  dv.setUint32(n, 4, true); dv.setUint32(n + 4, 4, true); dv.setUint32(n + 8, 3, true); f.set([0x47, 0x4e, 0x55, 0], n + 12); n += 20;
  dv.setUint32(n, 4, true); dv.setUint32(n + 4, 8, true); dv.setUint32(n + 8, 18, true); f.set([0x58, 0x65, 0x6e, 0], n + 12);
  dv.setBigUint64(n + 16, BigInt(0x1000000 + entryOff), true); n += 24;
  ph(120, 4, 0x200, 0n, 0, n - 0x200, n - 0x200);
  f.set(code, 0x1000);
  return f;
}

const cpio = () => writeCpio([{ type: 'dir', path: 'dev' }, { type: 'file', path: 'init', data: new Uint8Array([1, 2, 3]), mode: 0o755 }]);

function loadErr(fn: () => unknown): string {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(LoadError); return (e as Error).message; }
  throw new Error('no LoadError');
}

describe('bzImage setup header', () => {
  it('parses the fields the loader uses', () => {
    const h = parseSetupHeader(bzImage(), 'k');
    expect(h).toMatchObject({ setupSects: 1, version: 0x20f, prefAddress: 0x1000000, initSize: 0x400000, pmOffset: 1024, pmSize: 0x1000, headerEnd: 0x26c, relocatable: true, cmdlineSize: 2047 });
  });
  it('refuses protocols before 2.12, kernels without the 64-bit entry, truncated files', () => {
    expect(loadErr(() => parseSetupHeader(bzImage({ version: 0x20b }), 'k'))).toMatch(/boot protocol 2\.11 is older than 2\.12/);
    expect(loadErr(() => parseSetupHeader(bzImage({ xloadflags: 0 }), 'k'))).toMatch(/no 64-bit entry/);
    const f = bzImage();
    expect(loadErr(() => loadKernel(new PhysMem(64 * MiB), f.subarray(0, 3000), { name: 'k' }))).toMatch(/^k: truncated bzImage/);
    expect(loadErr(() => loadKernel(new PhysMem(64 * MiB), f.subarray(0, 0x100), { name: 'k' }))).toMatch(/^k: truncated bzImage/);
  });
});

/** the RSDP as Linux finds it: a 16-byte-aligned "RSD PTR " with a good checksum in 0xE0000..0xFFFFF */
function scanRsdp(mem: PhysMem): number {
  for (let a = 0xe0000; a < 0x100000; a += 16) {
    if (String.fromCharCode(...mem.u8.subarray(a, a + 8)) === 'RSD PTR ' && checksum(mem.u8, a, a + 20) === 0) return a;
  }
  return -1;
}

function tablesOf(mem: PhysMem, rsdp: number): Map<string, number> {
  const u8 = mem.u8;
  const xsdt = mem.read32(rsdp + 24);
  const m = new Map<string, number>();
  const n = (mem.read32(xsdt + 4) - 36) / 8;
  for (let k = 0; k < n; k++) {
    const t = mem.read32(xsdt + 36 + 8 * k);
    m.set(String.fromCharCode(...u8.subarray(t, t + 4)), t);
  }
  m.set('XSDT', xsdt);
  m.set('RSDT', mem.read32(rsdp + 16));
  return m;
}

describe('bzImage load: zero page, e820, ACPI', () => {
  const mem = new PhysMem(128 * MiB);
  const initrd = cpio();
  const r = loadKernel(mem, bzImage(), { name: 'k', cmdline: 'console=ttyS0 quiet', initrd, initrdName: 'init.cpio' });
  const zp = r.infoAddr;

  it('starts at load address + 0x200 in 64-bit mode with RSI = boot_params', () => {
    expect(r.kind).toBe('bzimage');
    expect(r.entry).toBe(0x1000200);
    expect(r.state.bits).toBe(64);
    expect(r.state.rsi).toBe(zp);
    expect(r.state.cs.sel).toBe(0x10);
    expect(r.state.data.sel).toBe(0x18);
    // the GDT has __BOOT_CS as 64-bit code and __BOOT_DS as data
    expect(mem.read32(r.state.gdtBase + 0x10 + 4)).toBe(0x00af9b00);
    expect(mem.read32(r.state.gdtBase + 0x18 + 4)).toBe(0x00cf9300);
  });

  it('copies the setup header and fills the loader fields', () => {
    expect(mem.read32(zp + Zp.Header)).toBe(0x53726448);
    expect(mem.read16(zp + Zp.Version)).toBe(0x20f);
    expect(mem.read8(zp + Zp.TypeOfLoader)).toBe(0xff);
    expect(mem.read32(zp + Zp.Code32Start)).toBe(0x1000000);
    expect(mem.read32(zp + Zp.HardwareSubarch)).toBe(0);
    const cmd = mem.read32(zp + Zp.CmdLinePtr);
    expect(new TextDecoder().decode(mem.u8.subarray(cmd, cmd + 20))).toBe('console=ttyS0 quiet\0');
    // the kernel's code is at the load address
    expect(mem.read8(0x1000200)).toBe(0xf4);
  });

  it('puts the initrd high, page-aligned, intact', () => {
    const at = mem.read32(zp + Zp.RamdiskImage);
    expect(mem.read32(zp + Zp.RamdiskSize)).toBe(initrd.length);
    expect(at % 4096).toBe(0);
    expect(at + initrd.length).toBeLessThanOrEqual(128 * MiB);
    expect(128 * MiB - (at + initrd.length)).toBeLessThan(4096);
    expect(Array.from(mem.u8.subarray(at, at + initrd.length))).toEqual(Array.from(initrd));
  });

  it('hands over the e820 map with the low hole, ACPI and APIC ranges', () => {
    const n = mem.read8(zp + Zp.E820Entries);
    const map = Array.from({ length: n }, (_, k) => {
      const a = zp + Zp.E820Table + 20 * k;
      return [(mem.read32(a) >>> 0) + mem.read32(a + 4) * 2 ** 32, mem.read32(a + 8) >>> 0, mem.read32(a + 16)];
    });
    expect(map).toEqual([
      [0, 0x9fc00, 1], [0x9fc00, 0x400, 2], [0xe0000, 0x10000, 3], [0xf0000, 0x10000, 2],
      [0x100000, 127 * MiB, 1], [0xfec00000, 0x1000, 2], [0xfee00000, 0x1000, 2],
    ]);
    // nothing usable in 0xA0000..0x100000, entries sorted and disjoint
    for (let k = 1; k < map.length; k++) expect(map[k][0]).toBeGreaterThanOrEqual(map[k - 1][0] + map[k - 1][1]);
  });

  it('has an RSDP that the BIOS-area scan finds, given in acpi_rsdp_addr too', () => {
    const rsdp = scanRsdp(mem);
    expect(rsdp).toBe(mem.read32(zp + Zp.AcpiRsdp));
    expect(checksum(mem.u8, rsdp, rsdp + 36)).toBe(0);
    expect(mem.read8(rsdp + 15)).toBe(2);
    expect(mem.read32(zp + Zp.AcpiRsdp + 4)).toBe(0);
  });

  it('has ACPI tables with valid checksums and the expected contents', () => {
    const t = tablesOf(mem, scanRsdp(mem));
    const fadt = t.get('FACP')!;
    const madt = t.get('APIC')!;
    const dsdt = mem.read32(fadt + 40);
    expect(mem.read32(fadt + 140)).toBe(dsdt); // X_DSDT
    t.set('DSDT', dsdt);
    for (const [sig, a] of t) {
      expect(String.fromCharCode(...mem.u8.subarray(a, a + 4))).toBe(sig);
      expect(checksum(mem.u8, a, a + mem.read32(a + 4)), sig).toBe(0);
    }
    // RSDT lists the same tables with 32-bit pointers
    const rsdt = t.get('RSDT')!;
    expect([mem.read32(rsdt + 36), mem.read32(rsdt + 40)]).toEqual([fadt, madt]);
    // FADT
    expect(mem.read16(fadt + 46)).toBe(9); // SCI_INT
    expect(mem.read32(fadt + 56)).toBe(PM1A_EVT_BLK);
    expect(mem.read32(fadt + 64)).toBe(PM1A_CNT_BLK);
    expect(mem.read32(fadt + 76)).toBe(PM_TMR_BLK);
    expect(mem.read8(fadt + 91)).toBe(4);
    expect(mem.read8(fadt + 108)).toBe(0x32); // century
    const flags = mem.read32(fadt + 112);
    expect(flags & (1 << 20)).toBe(0); // HW_REDUCED_ACPI off
    expect(flags & (1 << 10)).not.toBe(0); // RESET_REG_SUP
    expect([mem.read8(fadt + 116), mem.read8(fadt + 117), mem.read32(fadt + 120), mem.read8(fadt + 128)]).toEqual([1, 8, 0xcf9, 6]);
    const facs = mem.read32(fadt + 36);
    expect(facs % 64).toBe(0);
    expect(String.fromCharCode(...mem.u8.subarray(facs, facs + 4))).toBe('FACS');
    // DSDT: Name(\_S5_, Package(4){typ, typ, 0, 0})
    const aml = Array.from(mem.u8.subarray(dsdt + 36, dsdt + mem.read32(dsdt + 4)));
    expect(aml.slice(0, 7)).toEqual([0x08, 0x5c, 0x5f, 0x53, 0x35, 0x5f, 0x12]);
    expect(aml[8]).toBe(4);
    expect(aml[7]).toBe(aml.length - 7); // PkgLength covers the rest
    expect(aml[9]).toBe(SLP_TYP_S5);
    // MADT
    expect(mem.read32(madt + 36) >>> 0).toBe(0xfee00000);
    expect(mem.read32(madt + 40) & 1).toBe(1);
    const entries: number[][] = [];
    for (let a = madt + 44; a < madt + mem.read32(madt + 4); a += mem.read8(a + 1)) entries.push(Array.from(mem.u8.subarray(a, a + mem.read8(a + 1))));
    expect(entries).toEqual([
      [0, 8, 0, 0, 1, 0, 0, 0],
      [1, 12, 0, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0],
      [2, 10, 0, 0, 2, 0, 0, 0, 0, 0],
      [2, 10, 0, 9, 9, 0, 0, 0, 0x0d, 0],
      [4, 6, 0xff, 0, 0, 1],
    ]);
  });

  it('runs from the entry with the zero page in RSI', () => {
    const m = new Machine({ memSize: 64 * MiB });
    // mov eax, [rsi + 0x228] (cmd_line_ptr); shr eax, 12; out 0xf4, eax  -> exit status (0x20 << 1) | 1
    m.boot(bzImage({ code: [0x8b, 0x86, 0x28, 0x02, 0x00, 0x00, 0xc1, 0xe8, 0x0c, 0xe7, 0xf4] }), { cmdline: 'x' });
    const res = m.run(100);
    expect(res.reason).toBe(Stop.Exit);
    expect(res.exitStatus).toBe((0x20 << 1) | 1);
  });
});

describe('bad inputs', () => {
  const mem = () => new PhysMem(32 * MiB);
  it('refuses a kernel too large for the memory', () => {
    expect(loadErr(() => loadKernel(mem(), bzImage({ initSize: 0x2000000 }), { name: 'k' }))).toMatch(/^k: the kernel needs 0x2000000 bytes \(init_size\) at 0x1000000, past the end of RAM 0x2000000; give more --mem$/);
  });
  it('refuses an initrd that does not fit', () => {
    const big = writeCpio([{ type: 'file', path: 'big', data: new Uint8Array(20 * MiB) }]);
    expect(loadErr(() => loadKernel(mem(), bzImage(), { name: 'k', initrd: big, initrdName: 'big.cpio' }))).toMatch(/^k: initrd big\.cpio \(\d+ bytes\) does not fit/);
    // below initrd_addr_max too
    expect(loadErr(() => loadKernel(mem(), bzImage({ initrdMax: 0x1200000 }), { name: 'k', initrd: cpio() }))).toMatch(/does not fit/);
  });
  it('refuses a corrupt cpio', () => {
    const c = cpio();
    const bad = c.slice();
    bad[120] = 0x5a; // inside the second header's magic
    expect(() => checkInitrd(bad, 'i')).toThrow(/^i: corrupt initramfs: cpio: bad magic/);
    expect(() => checkInitrd(c.subarray(0, 130), 'i')).toThrow(/corrupt initramfs/);
    expect(() => checkInitrd(new Uint8Array([1, 2, 3, 4, 5, 6]), 'i')).toThrow(/neither a newc cpio/);
    expect(() => checkInitrd(new Uint8Array([0x1f, 0x8b, 8, 0]), 'i')).not.toThrow();
  });
  it('refuses a command line longer than cmdline_size, and --initrd for a multiboot kernel', () => {
    expect(loadErr(() => loadKernel(mem(), bzImage({ cmdlineSize: 8 }), { cmdline: '123456789' }))).toMatch(/longer than the kernel's 8/);
  });
  it('gives one line and a non-zero exit on the command line', () => {
    mkdirSync(TMP, { recursive: true });
    const k = join(TMP, 'bz'); writeFileSync(k, bzImage());
    const tr = join(TMP, 'trunc'); writeFileSync(tr, bzImage().subarray(0, 2000));
    const huge = join(TMP, 'huge'); writeFileSync(huge, bzImage({ initSize: 0x10000000 }));
    const badc = join(TMP, 'bad.cpio'); const c = cpio(); c[120] = 0; writeFileSync(badc, c);
    const bigc = join(TMP, 'big.cpio'); writeFileSync(bigc, writeCpio([{ type: 'file', path: 'b', data: new Uint8Array(8 * MiB) }]));
    const cases: [string[], RegExp][] = [
      [[tr], /truncated bzImage/],
      [[huge, '--mem', '64M'], /kernel needs .* give more --mem/],
      [[k, '--initrd', badc], /corrupt initramfs/],
      [[k, '--initrd', bigc, '--mem', '24M'], /does not fit/],
      [[k, '--initrd', join(TMP, 'missing.cpio')], /initrd .*missing\.cpio not found/],
    ];
    for (const [args, re] of cases) {
      const r = spawnSync(process.execPath, [BIN, 'run', ...args], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
  });
});

describe('PVH entry of a vmlinux', () => {
  it('finds the XEN_ELFNOTE_PHYS32_ENTRY note and fills hvm_start_info', () => {
    const f = vmlinux([0xf4], 0x10);
    expect(pvhEntry(f)).toBe(0x1000010);
    const mem = new PhysMem(64 * MiB);
    const initrd = cpio();
    const r = loadKernel(mem, f, { name: 'v', cmdline: 'console=ttyS0', initrd });
    expect(r.kind).toBe('pvh');
    expect(r.state.bits).toBe(32);
    expect(r.state.cr0 & 0x80000001).toBe(1); // PE on, PG off
    expect(r.state.rflags & 0x200).toBe(0);
    const si = r.state.rbx;
    expect(mem.read32(si)).toBe(XEN_HVM_START_MAGIC);
    expect(mem.read32(si + 4)).toBe(1);
    expect(mem.read32(si + 12)).toBe(1);
    const mod = mem.read32(si + 16);
    expect(mem.read32(mod + 8)).toBe(initrd.length);
    expect(Array.from(mem.u8.subarray(mem.read32(mod), mem.read32(mod) + initrd.length))).toEqual(Array.from(initrd));
    const cmd = mem.read32(si + 24);
    expect(new TextDecoder().decode(mem.u8.subarray(cmd, cmd + 14))).toBe('console=ttyS0\0');
    expect(mem.read32(si + 32)).toBe(scanRsdp(mem));
    const mm = mem.read32(si + 40);
    expect(mem.read32(si + 48)).toBe(7);
    expect([mem.read32(mm + 24 * 4), mem.read32(mm + 24 * 4 + 8), mem.read32(mm + 24 * 4 + 16)]).toEqual([0x100000, 63 * MiB, 1]);
    // BSS zeroed, code at the physical address
    expect(mem.read8(0x1000000)).toBe(0xf4);
  });
  it('an ELF64 without the note still loads as plain ELF64', () => {
    const f = vmlinux([0xf4]);
    new DataView(f.buffer).setUint32(120, 0, true); // PT_NULL instead of PT_NOTE
    expect(pvhEntry(f)).toBeNull();
  });
});

describe('newc cpio writer', () => {
  it('writes entries that parse back, 4-byte aligned, ending in a trailer', () => {
    const data = new TextEncoder().encode('hello\n');
    const a = writeCpio([
      { type: 'dir', path: 'dev' }, { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
      { type: 'file', path: '/init', data, mode: 0o755 }, { type: 'symlink', path: 'sh', target: 'busybox' },
    ]);
    expect(a.length % 512).toBe(0);
    const m = parseCpio(a);
    expect(m.map((e) => [e.name, e.mode, e.size])).toEqual([
      ['dev', S_IFDIR | 0o755, 0], ['dev/console', S_IFCHR | 0o600, 0], ['init', S_IFREG | 0o755, 6], ['sh', S_IFLNK | 0o777, 7],
    ]);
    for (const e of m) expect(e.offset % 4).toBe(0);
    expect(new TextDecoder().decode(a.subarray(m[2].offset, m[2].offset + 6))).toBe('hello\n');
    const hdr = new TextDecoder().decode(a.subarray(0, 110));
    expect(hdr.slice(0, 6)).toBe('070701');
    // rdevmajor/rdevminor of the console
    const con = new TextDecoder().decode(a.subarray(m[0].offset, m[0].offset + 110));
    expect(con.slice(6 + 8 * 9, 6 + 8 * 11)).toBe('0000000500000001');
    // two archives back to back parse as one initramfs
    expect(parseCpio(new Uint8Array([...a, ...a])).length).toBe(8);
  });
});

describe.skipIf(!existsSync(join(CACHE, 'vmlinuz')))('the cached Debian kernel (npm run linux)', () => {
  it('has a 2.15 setup header with the 64-bit entry and a PVH note at pvh_start_xen', () => {
    const h = parseSetupHeader(readFileSync(join(CACHE, 'vmlinuz')), 'vmlinuz');
    expect(h.version).toBeGreaterThanOrEqual(0x20f);
    expect(h.prefAddress).toBe(0x1000000);
    if (existsSync(join(CACHE, 'vmlinux'))) {
      const map = readFileSync(join(CACHE, 'System.map'), 'utf8');
      const sym = /^([0-9a-f]+) t pvh_start_xen$/m.exec(map);
      expect(sym).not.toBeNull();
      expect(pvhEntry(readFileSync(join(CACHE, 'vmlinux')))).toBe(Number(BigInt('0x' + sym![1]) - 0xffffffff80000000n));
    }
  });
});
