/**
 * Addresses of the real host for reports: a page walk of the kernel's own tables (the kernel
 * half is the same in every process's; read without touching accessed/dirty bits or the TLB),
 * disassembly at a kernel or module address, and "symbol+0x12 [module]" names.
 */

import type { PhysMem } from '../machine/memory.js';
import { TWO32 } from '../cpu/state.js';
import { Decoder } from '../x86/decoder.js';
import { disasm } from '../x86/disasm.js';
import { Insn, type Exec } from '../x86/insn.js';
import { INSNS } from '../x86/table.js';
import type { KernelSymbols } from './kmod.js';

/** the physical address of a linear one under 4-level paging with `cr3`, or null (not present) */
export function translateLinear(mem: PhysMem, cr3: number, lin: number): number | null {
  // the 48 low bits of the (canonical) address
  const low48 = ((lin % 2 ** 48) + 2 ** 48) % 2 ** 48;
  let table = Math.floor(cr3 / 4096) % 2 ** 40 * 4096;
  for (let level = 4; level >= 1; level--) {
    const shift = 12 + 9 * (level - 1);
    const idx = Math.floor(low48 / 2 ** shift) % 512;
    const at = table + idx * 8;
    if (at + 8 > mem.size) return null;
    const lo = mem.read32(at);
    const hi = mem.read32(at + 4);
    if ((lo & 1) === 0) return null;
    const addr = (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
    if (level === 1 || ((level === 2 || level === 3) && (lo & 0x80) !== 0)) {
      const size = 2 ** shift;
      return addr - (addr % size) + (low48 % size);
    }
    table = addr;
  }
  return null;
}

export function readLinear32(mem: PhysMem, cr3: number, lin: number): number | null {
  const pa = translateLinear(mem, cr3, lin);
  if (pa === null || pa + 4 > mem.size) return null;
  if ((pa & 0xfff) > 0xffc) {
    let v = 0;
    for (let k = 3; k >= 0; k--) {
      const b = translateLinear(mem, cr3, lin + k);
      if (b === null) return null;
      v = v * 256 + mem.read8(b);
    }
    return v;
  }
  return mem.read32(pa) >>> 0;
}

/** a 64-bit value at a linear address, as a canonical signed number (null: not mapped) */
export function readLinear64(mem: PhysMem, cr3: number, lin: number): number | null {
  const lo = readLinear32(mem, cr3, lin);
  const hi = readLinear32(mem, cr3, lin + 4);
  if (lo === null || hi === null) return null;
  return (hi | 0) * TWO32 + lo;
}

const noop: Exec = () => {};

export class LinuxDescriber {
  private readonly dec = new Decoder(INSNS.map(() => noop), noop);
  private readonly insn = new Insn(noop);
  private readonly buf = new Uint8Array(15);
  private readonly cache = new Map<string, string>();

  constructor(private readonly mem: PhysMem, private readonly cr3: number, private readonly syms: KernelSymbols) {}

  insnAt(rip: number, bits: number): string {
    const key = `${rip}/${bits}`;
    const have = this.cache.get(key);
    if (have !== undefined) return have;
    let text = '?';
    let ok = true;
    for (let k = 0; k < 15 && ok; k++) {
      const pa = translateLinear(this.mem, this.cr3, rip + k);
      if (pa === null) { ok = k > 0; for (let j = k; j < 15; j++) this.buf[j] = 0; break; }
      this.buf[k] = this.mem.read8(pa);
    }
    if (ok) {
      this.dec.decode(this.insn, this.buf, 0, 15, bits);
      text = disasm(this.insn, rip);
    }
    this.cache.set(key, text);
    return text;
  }

  where(rip: number, guest: boolean): string {
    if (guest) return `guest 0x${rip.toString(16)}`;
    const s = this.syms.table.at(rip);
    const d = this.syms.table.describe(rip);
    const mod = s !== undefined ? this.syms.moduleOf(s.name) : undefined;
    // a kernel symbol also named in a module: the module's only if the address is in the module area
    return mod !== undefined && rip >= -0x60000000 && rip < -0x1000000 ? `${d} [${mod}]` : rip < 0 ? d : `user 0x${rip.toString(16)}`;
  }
}
