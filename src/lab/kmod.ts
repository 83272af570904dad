/**
 * Symbols of a loaded Linux kernel module. A .ko is a relocatable ELF64: each symbol's value is
 * an offset into its section (st_shndx), and the kernel places every section somewhere of its
 * own choosing when it loads the module. /sys/module/<name>/sections/<section> says where
 * (the real host's VMM prints those as MODSECT lines); with them the module's functions get
 * their run-time addresses, the way a debugger's "add-symbol-file" does.
 */

import { SymbolTable } from './symbols.js';

export interface ModuleSymbol { name: string; section: string; offset: number; size: number; func: boolean }

/** The symbols of a relocatable ELF64 module with their sections (section and file symbols left out). */
export function moduleSymbols(ko: Uint8Array): ModuleSymbol[] {
  const dv = new DataView(ko.buffer, ko.byteOffset, ko.byteLength);
  if (ko.length < 64 || dv.getUint32(0, false) !== 0x7f454c46 || ko[4] !== 2) throw new Error('not an ELF64 module');
  if (dv.getUint16(16, true) !== 1) throw new Error('not a relocatable ELF (ET_REL) module');
  const shoff = Number(dv.getBigUint64(0x28, true));
  const shentsize = dv.getUint16(0x3a, true);
  const shnum = dv.getUint16(0x3c, true);
  const shstrndx = dv.getUint16(0x3e, true);
  const sec = (k: number) => {
    const o = shoff + k * shentsize;
    return {
      name: dv.getUint32(o, true), type: dv.getUint32(o + 4, true), offset: Number(dv.getBigUint64(o + 0x18, true)),
      size: Number(dv.getBigUint64(o + 0x20, true)), link: dv.getUint32(o + 0x28, true), entsize: Number(dv.getBigUint64(o + 0x38, true)),
    };
  };
  const dec = new TextDecoder();
  const cstr = (at: number) => {
    let end = at;
    while (end < ko.length && ko[end] !== 0) end++;
    return dec.decode(ko.subarray(at, end));
  };
  const names: string[] = [];
  const shstr = sec(shstrndx);
  for (let k = 0; k < shnum; k++) names.push(cstr(shstr.offset + sec(k).name));
  const out: ModuleSymbol[] = [];
  for (let k = 0; k < shnum; k++) {
    const s = sec(k);
    if (s.type !== 2) continue; // SHT_SYMTAB
    const str = sec(s.link);
    const n = s.entsize > 0 ? Math.floor(s.size / s.entsize) : 0;
    for (let j = 1; j < n; j++) {
      const o = s.offset + j * s.entsize;
      const type = ko[o + 4] & 0xf;
      if (type === 3 || type === 4) continue; // STT_SECTION, STT_FILE
      const shndx = dv.getUint16(o + 6, true);
      if (shndx === 0 || shndx >= 0xff00) continue; // undefined, absolute, common
      const name = cstr(str.offset + dv.getUint32(o, true));
      if (name === '') continue;
      out.push({ name, section: names[shndx], offset: Number(dv.getBigUint64(o + 8, true)), size: Number(dv.getBigUint64(o + 16, true)), func: type === 2 });
    }
  }
  return out;
}

/** "MODSECT <module> <section> <address>" lines -> module -> section -> address (canonical, signed) */
export function parseModuleSections(text: string): Map<string, Map<string, number>> {
  const r = new Map<string, Map<string, number>>();
  for (const m of text.matchAll(/^MODSECT (\S+) (\S+) 0x([0-9a-fA-F]+)\s*$/gm)) {
    let s = r.get(m[1]);
    if (s === undefined) { s = new Map(); r.set(m[1], s); }
    s.set(m[2], Number(BigInt.asIntN(64, BigInt('0x' + m[3]))));
  }
  return r;
}

export interface LoadedModule { name: string; ko: Uint8Array }

/**
 * One symbol table for a running kernel: the kernel's own (System.map, addresses as loaded:
 * boot with nokaslr) and each loaded module's, at the addresses its sections got. `moduleOf`
 * names the module a function belongs to (perf and /proc/kallsyms show "name [module]").
 */
export interface KernelSymbols { table: SymbolTable; moduleOf: (name: string) => string | undefined }

export function kernelSymbols(kernel: SymbolTable, modules: LoadedModule[], sections: Map<string, Map<string, number>>): KernelSymbols {
  const entries: [string, number, number, boolean][] = kernel.all().map((s) => [s.name, s.addr, s.size, s.func]);
  const owner = new Map<string, string>();
  for (const mod of modules) {
    const secs = sections.get(mod.name);
    if (secs === undefined) throw new Error(`no section addresses for module ${mod.name}`);
    for (const s of moduleSymbols(mod.ko)) {
      const base = secs.get(s.section);
      if (base === undefined) continue; // a section the kernel did not keep (.init.* after load)
      entries.push([s.name, base + s.offset, s.size, s.func]);
      if (!owner.has(s.name)) owner.set(s.name, mod.name);
    }
  }
  return { table: new SymbolTable(entries), moduleOf: (name) => owner.get(name) };
}
