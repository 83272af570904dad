/**
 * A Linux System.map ("ffffffff81000000 T _text" lines) as a SymbolTable. Addresses are kept
 * in the CPU's form for 64-bit linear addresses: canonical, the upper half negative, so that a
 * RIP looks up exactly (numbers above 2^53 would lose their low bits).
 */

import { SymbolTable } from './symbols.js';

export function parseSystemMap(text: string): SymbolTable {
  const entries: [string, number, number, boolean][] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{1,16}) (\w) (\S+)/.exec(line);
    if (m === null) continue;
    const v = BigInt.asIntN(64, BigInt('0x' + m[1]));
    entries.push([m[3], Number(v), 0, m[2] === 'T' || m[2] === 't']);
  }
  return new SymbolTable(entries);
}
