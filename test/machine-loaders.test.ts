import { describe, expect, it } from 'vitest';
import { PhysMem } from '../src/machine/memory.js';
import {
  LoadError, loadElf64, loadKernel, loadMultiboot, readModules, MULTIBOOT_BOOTLOADER_MAGIC, type ModuleSpec,
} from '../src/machine/loaders.js';
import { Machine } from '../src/machine/machine.js';
import { Stop } from '../src/cpu/state.js';

// ---- image builders ----

interface Seg {
  paddr: number;
  vaddr?: number;
  data: number[] | Uint8Array;
  memsz?: number;
  type?: number;
}

const MiB = 1024 * 1024;
const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

function elf(cls: 32 | 64, entry: number, segs: Seg[], opts: { machine?: number; type?: number } = {}): Uint8Array {
  const eh = cls === 32 ? 52 : 64;
  const ph = cls === 32 ? 32 : 56;
  let off = alignUp(eh + ph * segs.length, 16);
  const offsets = segs.map((s) => { const o = off; off = alignUp(off + s.data.length, 16); return o; });
  const end = segs.reduce((m, s, k) => Math.max(m, offsets[k] + s.data.length), eh + ph * segs.length);
  const file = new Uint8Array(end);
  const dv = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, cls === 32 ? 1 : 2, 1, 1]);
  dv.setUint16(16, opts.type ?? 2, true);
  dv.setUint16(18, opts.machine ?? (cls === 32 ? 3 : 62), true);
  dv.setUint32(20, 1, true);
  const u64 = (o: number, v: number) => dv.setBigUint64(o, BigInt.asUintN(64, BigInt(v)), true);
  if (cls === 32) {
    dv.setUint32(24, entry >>> 0, true);
    dv.setUint32(28, eh, true);
    dv.setUint16(40, eh, true);
    dv.setUint16(42, ph, true);
    dv.setUint16(44, segs.length, true);
  } else {
    u64(24, entry);
    u64(32, eh);
    dv.setUint16(52, eh, true);
    dv.setUint16(54, ph, true);
    dv.setUint16(56, segs.length, true);
  }
  segs.forEach((s, k) => {
    const p = eh + k * ph;
    const vaddr = s.vaddr ?? s.paddr;
    const memsz = s.memsz ?? s.data.length;
    dv.setUint32(p, s.type ?? 1, true);
    if (cls === 32) {
      dv.setUint32(p + 4, offsets[k], true);
      dv.setUint32(p + 8, vaddr >>> 0, true);
      dv.setUint32(p + 12, s.paddr, true);
      dv.setUint32(p + 16, s.data.length, true);
      dv.setUint32(p + 20, memsz, true);
    } else {
      u64(p + 8, offsets[k]);
      u64(p + 16, vaddr);
      u64(p + 24, s.paddr);
      u64(p + 32, s.data.length);
      u64(p + 40, memsz);
    }
    file.set(s.data, offsets[k]);
  });
  return file;
}

/** a multiboot header: magic, flags, checksum and, with the kludge, the address fields */
function mbHeader(flags: number, addr: number[] = [], checksumDelta = 0): number[] {
  const words = [0x1badb002, flags >>> 0, (-(0x1badb002 + flags) - checksumDelta) >>> 0, ...addr];
  const out: number[] = [];
  for (const w of words) out.push(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24);
  return out;
}

function cstr(mem: PhysMem, a: number): string {
  let s = '';
  while (mem.u8[a] !== 0) s += String.fromCharCode(mem.u8[a++]);
  return s;
}

const r32 = (mem: PhysMem, a: number) => mem.read32(a) >>> 0;

function expectLoadError(fn: () => unknown, re: RegExp): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(LoadError);
  const msg = (err as Error).message;
  expect(msg).toMatch(re);
  expect(msg).not.toMatch(/\n/);
}

// ---- multiboot ----

describe('multiboot loader', () => {
  /** a higher-half ELF32 kernel: text at 1 MiB (virtual 0xC0100000) and data + BSS */
  function kernel32(): Uint8Array {
    const text = [...mbHeader(0x3), 0x90, 0x90, 0x90, 0x90, 0xf4];
    return elf(32, 0xc0100000 + 12 + 4, [
      { paddr: 0x100000, vaddr: 0xc0100000, data: text },
      { paddr: 0x102000, vaddr: 0xc0102000, data: [1, 2, 3, 4], memsz: 0x2000 },
    ]);
  }

  it('loads ELF32 segments by physical address and builds the information block', () => {
    const mem = new PhysMem(256 * MiB);
    mem.u8.fill(0xaa, 0x102000, 0x104000);
    const mods: ModuleSpec[] = [
      { name: 'initrd', data: new Uint8Array(5000).fill(7), cmdline: 'initrd a=b' },
      { name: 'tiny', data: Uint8Array.of(9, 8, 7), cmdline: 'tiny' },
    ];
    const r = loadMultiboot(mem, kernel32(), { cmdline: 'console=ttyS0 quiet', modules: mods });
    expect(r.kind).toBe('multiboot');
    expect(r.entry).toBe(0x100010);
    expect(r.eax).toBe(MULTIBOOT_BOOTLOADER_MAGIC);
    expect(r.kernelStart).toBe(0x100000);
    expect(r.kernelEnd).toBe(0x104000);
    expect(mem.u8[0x10000c]).toBe(0x90);
    expect(mem.u8[0x100010]).toBe(0xf4);
    expect(Array.from(mem.u8.subarray(0x102000, 0x102006))).toEqual([1, 2, 3, 4, 0, 0]);
    expect(mem.u8.subarray(0x102004, 0x104000).every((b) => b === 0)).toBe(true);
    expect(mem.u8[0x104000 - 0x2000 - 1]).toBe(0); // untouched RAM

    // modules page-aligned after the kernel, then the information block
    expect(r.modules).toEqual([
      { start: 0x104000, end: 0x104000 + 5000, cmdline: 'initrd a=b' },
      { start: 0x106000, end: 0x106003, cmdline: 'tiny' },
    ]);
    expect(mem.u8[0x104000 + 4999]).toBe(7);
    expect(Array.from(mem.u8.subarray(0x106000, 0x106003))).toEqual([9, 8, 7]);
    const info = r.ebx;
    expect(info).toBe(0x107000);
    expect(r.infoAddr).toBe(info);

    expect(r32(mem, info)).toBe((1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
    expect(r32(mem, info + 4)).toBe(639);
    expect(r32(mem, info + 8)).toBe((256 - 1) * 1024);
    expect(cstr(mem, r32(mem, info + 16))).toBe('console=ttyS0 quiet');
    expect(r32(mem, info + 20)).toBe(2);
    const mods0 = r32(mem, info + 24);
    expect([r32(mem, mods0), r32(mem, mods0 + 4), r32(mem, mods0 + 12)]).toEqual([0x104000, 0x104000 + 5000, 0]);
    expect(cstr(mem, r32(mem, mods0 + 8))).toBe('initrd a=b');
    expect([r32(mem, mods0 + 16), r32(mem, mods0 + 20)]).toEqual([0x106000, 0x106003]);
    expect(cstr(mem, r32(mem, mods0 + 24))).toBe('tiny');
    expect(cstr(mem, r32(mem, info + 64))).toBe('worldswitch');

    const mmapLen = r32(mem, info + 44);
    const mmapAddr = r32(mem, info + 48);
    expect(mmapLen).toBe(72);
    const entries: number[][] = [];
    for (let a = mmapAddr; a < mmapAddr + mmapLen; a += r32(mem, a) + 4) {
      entries.push([r32(mem, a), r32(mem, a + 4), r32(mem, a + 8), r32(mem, a + 12), r32(mem, a + 16), r32(mem, a + 20)]);
    }
    expect(entries).toEqual([
      [20, 0, 0, 0x9fc00, 0, 1],
      [20, 0x9fc00, 0, 0x100000 - 0x9fc00, 0, 2],
      [20, 0x100000, 0, 256 * MiB - 0x100000, 0, 1],
    ]);
    // nothing of the information block overlaps the kernel or the modules
    for (const a of [info, mods0, mmapAddr, r32(mem, info + 16), r32(mem, info + 64), r.state.gdtBase]) {
      expect(a).toBeGreaterThanOrEqual(0x106003);
    }

    // the initial state the spec asks for
    const st = r.state;
    expect(st.bits).toBe(32);
    expect([st.rip, st.rax, st.rbx]).toEqual([0x100010, 0x2badb002, info]);
    expect(st.cr0 & 0x80000001).toBe(1);
    expect(st.rflags & 0x20200).toBe(0);
    expect(st.cs).toEqual({ sel: 0x08, base: 0, limit: 0xffffffff, attr: 0xc9b });
    expect(st.data).toEqual({ sel: 0x10, base: 0, limit: 0xffffffff, attr: 0xc93 });
    expect([r32(mem, st.gdtBase + 8), r32(mem, st.gdtBase + 12)]).toEqual([0xffff, 0x00cf9b00]);
    expect([r32(mem, st.gdtBase + 16), r32(mem, st.gdtBase + 20)]).toEqual([0xffff, 0x00cf9300]);
  });

  it('reports RAM size in mem_upper and the memory map for other sizes', () => {
    const mem = new PhysMem(16 * MiB);
    const r = loadMultiboot(mem, kernel32());
    expect(r32(mem, r.ebx + 8)).toBe(15 * 1024);
    expect(r32(mem, r.ebx + 20)).toBe(0);
    expect(cstr(mem, r32(mem, r.ebx + 16))).toBe('');
    const mmap = r32(mem, r.ebx + 48);
    expect(r32(mem, mmap + 48 + 12)).toBe(15 * MiB);
  });

  it('loads through the a.out kludge: file from the header offset, BSS, entry', () => {
    // file: 0x20 bytes of code, then the header at offset 0x20, then more code
    const prefix = new Array(0x20).fill(0x90);
    const loadAddr = 0x200000;
    const hdr = mbHeader(0x10001, [loadAddr + 0x20, loadAddr, 0, loadAddr + 0x1000, loadAddr + 4]);
    const file = Uint8Array.from([...prefix, ...hdr, 0xcc, 0xcc]);
    const mem = new PhysMem(16 * MiB);
    mem.u8.fill(0x55, loadAddr, loadAddr + 0x2000);
    const r = loadMultiboot(mem, file);
    expect(r.entry).toBe(loadAddr + 4);
    expect(Array.from(mem.u8.subarray(loadAddr + 0x20, loadAddr + 0x24))).toEqual([0x02, 0xb0, 0xad, 0x1b]);
    expect(mem.u8[loadAddr + 0x40]).toBe(0xcc);
    expect(mem.u8.subarray(loadAddr + file.length, loadAddr + 0x1000).every((b) => b === 0)).toBe(true);
    expect(r.kernelEnd).toBe(loadAddr + 0x1000);
    expect(r.ebx).toBe(loadAddr + 0x1000);
  });

  it('honours load_end_addr and a header found past a non-zero load offset', () => {
    // 0x100 bytes of junk the image does not load, then the image (header at image offset 8)
    const loadAddr = 0x300000;
    const image = [0xeb, 0x06, 0, 0, 0, 0, 0, 0, ...mbHeader(0x10000, [loadAddr + 8, loadAddr, loadAddr + 0x40, 0, loadAddr])];
    const file = Uint8Array.from([...new Array(0x100).fill(0xee), ...image, ...new Array(0x100).fill(0x77)]);
    const mem = new PhysMem(16 * MiB);
    const r = loadMultiboot(mem, file);
    expect(r.entry).toBe(loadAddr);
    expect(mem.u8[loadAddr]).toBe(0xeb);
    expect(mem.u8[loadAddr + 0x3f]).toBe(0x77);
    expect(mem.u8[loadAddr + 0x40]).toBe(0);
    expect(r.kernelEnd).toBe(loadAddr + 0x40);
  });

  it('boots on the machine: EAX has the magic and EBX the information block', () => {
    // mov ecx, eax ; mov eax, [ebx+4] ; out 0xf4, eax
    const code = [0x89, 0xc1, 0x8b, 0x43, 0x04, 0xe7, 0xf4];
    const file = elf(32, 0x100000 + 12, [{ paddr: 0x100000, data: [...mbHeader(0), ...code] }]);
    const m = new Machine({ memSize: 32 * MiB });
    m.boot(file);
    const res = m.run(100);
    expect(res.reason).toBe(Stop.Exit);
    expect(res.exitStatus).toBe(639 * 2 + 1);
    expect(m.cpu.rl[1] >>> 0).toBe(0x2badb002);
    expect(m.cpu.bits).toBe(32);
  });
});

// ---- ELF64 ----

describe('ELF64 loader', () => {
  // mov al, 'A' ; mov dx, 0x3f8 ; out dx, al ; mov eax, 7 ; out 0xf4, eax
  const code = [0xb0, 0x41, 0x66, 0xba, 0xf8, 0x03, 0xee, 0xb8, 0x07, 0, 0, 0, 0xe7, 0xf4];

  it('loads PT_LOAD segments by physical address and writes identity page tables', () => {
    const mem = new PhysMem(64 * MiB);
    mem.u8.fill(0xaa, 0x400000, 0x402000);
    const file = elf(64, 0x200004, [
      { paddr: 0x200000, data: [0, 0, 0, 0, ...code] },
      { paddr: 0x400000, data: [5], memsz: 0x2000 },
    ]);
    const r = loadElf64(mem, file);
    expect(r.kind).toBe('elf64');
    expect(r.entry).toBe(0x200004);
    expect(mem.u8[0x200004]).toBe(0xb0);
    expect(mem.u8[0x400000]).toBe(5);
    expect(mem.u8.subarray(0x400001, 0x402000).every((b) => b === 0)).toBe(true);
    const st = r.state;
    expect(st.bits).toBe(64);
    expect([st.cr0 >>> 0, st.cr3, st.cr4, st.efer]).toEqual([0x80000011, 0x8000, 0x20, 0x500]);
    expect(st.cs.attr & 0x200).toBe(0x200); // L
    expect(st.cs.sel).toBe(0x18);
    // PML4[0] -> PDPT; PDPT[3] -> fourth directory; PD entries are 2 MiB pages
    expect(r32(mem, 0x8000)).toBe(0x9003);
    expect(r32(mem, 0x8000 + 511 * 8)).toBe(0xe003);
    expect(r32(mem, 0x9000 + 3 * 8)).toBe(0xd003);
    expect(r32(mem, 0xa000)).toBe(0x83);
    expect(r32(mem, 0xa008)).toBe(0x200083);
    expect(r32(mem, 0xd000 + 511 * 8)).toBe(0xffe00083);
    expect(r32(mem, 0xd000 + 511 * 8 + 4)).toBe(0);
    expect(r32(mem, 0xe000 + 510 * 8)).toBe(0xa003);
    expect([r32(mem, 0xf018), r32(mem, 0xf01c)]).toEqual([0xffff, 0x00af9b00]);
  });

  it('runs on the machine through the page tables, also from the higher half', () => {
    for (const vbase of [0x200000, -0x80000000 + 0x200000]) {
      const file = elf(64, vbase, [{ paddr: 0x200000, vaddr: vbase, data: code }]);
      const m = new Machine({ memSize: 64 * MiB });
      const r = m.boot(file);
      expect(r.entry).toBe(vbase);
      expect(m.cpu.bits).toBe(64);
      expect(m.cpu.pagingOn).toBe(true);
      const res = m.run(100);
      expect(res.reason).toBe(Stop.Exit);
      expect(res.exitStatus).toBe(15);
      expect(m.uart.output()).toBe('A');
      expect(res.rip).toBe(vbase + code.length);
    }
  });

  it('is what loadKernel picks for ELF64 files', () => {
    const mem = new PhysMem(16 * MiB);
    const r = loadKernel(mem, elf(64, 0x100000, [{ paddr: 0x100000, data: code }]));
    expect(r.kind).toBe('elf64');
  });
});

// ---- malformed inputs ----

describe('loader errors', () => {
  const mem = () => new PhysMem(16 * MiB);
  const ok32 = () => elf(32, 0x100000 + 12, [{ paddr: 0x100000, data: [...mbHeader(0), 0xf4, 0, 0, 0, 0, 0, 0, 0] }]);
  const ok64 = () => elf(64, 0x100000, [{ paddr: 0x100000, data: [0xf4, 0, 0, 0] }]);

  it('rejects truncated files', () => {
    expectLoadError(() => loadMultiboot(mem(), Uint8Array.of(1, 2, 3)), /truncated file/);
    expectLoadError(() => loadElf64(mem(), ok64().subarray(0, 40)), /truncated file.*ELF header/);
    const f = ok32();
    expectLoadError(() => loadMultiboot(mem(), f.subarray(0, f.length - 4)), /truncated file.*segment 0 data/);
    const g = ok32();
    new DataView(g.buffer).setUint16(44, 40, true); // 40 program headers
    expectLoadError(() => loadMultiboot(mem(), g), /truncated file.*program header table/);
    const h = ok64();
    new DataView(h.buffer).setUint16(56, 9, true);
    expectLoadError(() => loadElf64(mem(), h), /truncated file.*program header table/);
    // the a.out kludge: address fields cut off, and load_end_addr past the end of the file
    const hdr = mbHeader(0x10000, [0x100000, 0x100000, 0, 0, 0x100000]);
    expectLoadError(() => loadMultiboot(mem(), Uint8Array.from(hdr.slice(0, 20))), /truncated file.*address fields/);
    const long = Uint8Array.from(mbHeader(0x10000, [0x100000, 0x100000, 0x101000, 0, 0x100000]));
    expectLoadError(() => loadMultiboot(mem(), long), /truncated file.*load_end_addr/);
  });

  it('rejects files with no header or the wrong magic', () => {
    expectLoadError(() => loadMultiboot(mem(), new Uint8Array(4096).fill(0x90)), /no multiboot header/);
    expectLoadError(() => loadKernel(mem(), new Uint8Array(100)), /no multiboot header/);
    expectLoadError(() => loadElf64(mem(), new Uint8Array(100)), /not an ELF file/);
    // a header past the first 8192 bytes does not count
    const late = elf(32, 0x100000 + 0x3000, [{ paddr: 0x100000, data: [...new Array(0x3000).fill(0x90), ...mbHeader(0)] }]);
    expectLoadError(() => loadMultiboot(mem(), late), /no multiboot header.*8192/);
    // multiboot header without the kludge in a file that is not ELF
    expectLoadError(() => loadMultiboot(mem(), Uint8Array.from([...mbHeader(0), 0, 0, 0, 0])), /not an ELF file/);
  });

  it('rejects a bad checksum', () => {
    const f = Uint8Array.from([0, 0, 0, 0, ...mbHeader(0x10000, [0, 0, 0, 0, 0], 1)]);
    expectLoadError(() => loadMultiboot(mem(), f), /offset 0x4 has a bad checksum/);
  });

  it('rejects requirement flags it cannot honour', () => {
    expectLoadError(() => loadMultiboot(mem(), Uint8Array.from(mbHeader(0x4))), /video mode/);
    expectLoadError(() => loadMultiboot(mem(), Uint8Array.from(mbHeader(0x100))), /unknown requirement bits/);
  });

  it('rejects ELF files of the wrong kind', () => {
    const bad64 = elf(64, 0x100000, [{ paddr: 0x100000, data: [...mbHeader(0), 0xf4] }]);
    expectLoadError(() => loadMultiboot(mem(), bad64), /multiboot v1 loads ELF32/);
    expectLoadError(() => loadElf64(mem(), ok32()), /ELF class 1 where ELF64/);
    const arm = elf(64, 0x100000, [{ paddr: 0x100000, data: [0] }], { machine: 183 });
    expectLoadError(() => loadElf64(mem(), arm), /ELF machine 183/);
    const dyn = elf(64, 0x100000, [{ paddr: 0x100000, data: [0] }], { type: 3 });
    expectLoadError(() => loadElf64(mem(), dyn), /not an executable/);
    const none = elf(64, 0x100000, [{ paddr: 0x100000, data: [0], type: 4 }]);
    expectLoadError(() => loadElf64(mem(), none), /no loadable/);
    const big = elf(64, 0x100000, [{ paddr: 0x100000, data: [0, 0, 0, 0], memsz: 2 }]);
    expectLoadError(() => loadElf64(mem(), big), /file size 0x4 above its memory size 0x2/);
    const f = ok64();
    f[32 + 7] = 0xff; // phoff beyond 2^53
    expectLoadError(() => loadElf64(mem(), f), /program header offset .* too large/);
    const nc = elf(64, 0, [{ paddr: 0x100000, data: [0] }]);
    new DataView(nc.buffer).setUint32(28, 0x00800000, true); // entry 0x0080_0000_0000_0000
    expectLoadError(() => loadElf64(mem(), nc), /entry point 0x80000000000000 is not canonical/);
  });

  it('rejects segments outside RAM or overlapping', () => {
    const out = elf(32, 0xfff000 + 12, [{ paddr: 0xfff000, data: [...mbHeader(0), 0xf4], memsz: 0x2000 }]);
    expectLoadError(() => loadMultiboot(mem(), out), /segment 0 at 0xfff000\.\.0x1001000 is outside RAM/);
    const over = elf(32, 0x100000 + 12, [
      { paddr: 0x100000, data: [...mbHeader(0), 0xf4], memsz: 0x1000 },
      { paddr: 0x100800, data: [1] },
    ]);
    expectLoadError(() => loadMultiboot(mem(), over), /segment 1 .* overlaps segment 0/);
    const pt = elf(64, 0x9000, [{ paddr: 0x9000, data: [0xf4] }]);
    expectLoadError(() => loadElf64(mem(), pt), /overlaps initial page tables/);
    const aout = Uint8Array.from(mbHeader(0x10000, [0x2000000, 0x2000000, 0, 0, 0x2000000]));
    expectLoadError(() => loadMultiboot(mem(), aout), /kernel image .* outside RAM/);
  });

  it('rejects entry points outside the loaded segments', () => {
    const e32 = elf(32, 0x200000, [{ paddr: 0x100000, data: [...mbHeader(0), 0xf4] }]);
    expectLoadError(() => loadMultiboot(mem(), e32), /entry point 0x200000 is outside the loaded segments/);
    const aout = Uint8Array.from(mbHeader(0x10000, [0x100000, 0x100000, 0, 0x101000, 0x101000]));
    expectLoadError(() => loadMultiboot(mem(), aout), /entry point 0x101000 is outside the loaded image/);
    const e64 = elf(64, 0x300000, [{ paddr: 0x100000, data: [0xf4] }]);
    expectLoadError(() => loadElf64(mem(), e64), /entry point 0x300000 is outside/);
    // in a segment, but the initial page tables do not map it there
    const unmapped = elf(64, 0x7f0000000000, [{ paddr: 0x100000, vaddr: 0x7f0000000000, data: [0xf4] }]);
    expectLoadError(() => loadElf64(mem(), unmapped), /not mapped there by the initial page tables/);
  });

  it('rejects missing module files and modules that do not fit', () => {
    expectLoadError(() => loadMultiboot(mem(), ok32(), { modules: [{ name: 'initrd.img', data: undefined, cmdline: 'initrd.img' }] }),
      /module 0 \(initrd\.img\): file is missing/);
    const enoent = (p: string): Uint8Array => { throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' }); };
    expectLoadError(() => readModules(['nofile.bin arg'], enoent), /module file nofile\.bin is missing/);
    const eacces = (): Uint8Array => { throw Object.assign(new Error('EACCES: permission denied\nmore'), { code: 'EACCES' }); };
    expectLoadError(() => readModules(['x.bin'], eacces), /cannot read module file x\.bin: EACCES/);
    expect(readModules(['a.bin  one two'], () => Uint8Array.of(1))).toEqual([{ name: 'a.bin', data: Uint8Array.of(1), cmdline: 'a.bin  one two' }]);
    const small = new PhysMem(2 * MiB);
    expectLoadError(() => loadMultiboot(small, ok32(), { modules: [{ name: 'big', data: new Uint8Array(MiB), cmdline: 'big' }] }),
      /no room for module 0 \(big\)/);
    expectLoadError(() => loadElf64(mem(), ok64(), { modules: [{ name: 'm', data: Uint8Array.of(1), cmdline: 'm' }] }), /need a multiboot kernel/);
  });
});
