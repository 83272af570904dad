/**
 * Cost profiles from a file (`worldswitch bench --profile FILE`), as `worldswitch measure`
 * prints them (docs/measure.md): a base profile and the constants measured on a real part.
 *
 *   { "name": "ryzen-5950x", "description": "...", "from": "zen3",
 *     "costs": { "vmload": { "cycles": 112, "low": 96, "high": 128, "source": "measured: ..." }, ... },
 *     "segBaseSerializing": true }
 *
 * Names are those of costEntries (base, a cost class, rdmsr.CLASS, wrmsr.CLASS, serializing);
 * `rdmsr` and `wrmsr` alone set every MSR class. A constant given without a range gets
 * low = high = cycles. Unknown names are an error, so a typo is not silently ignored.
 */

import type { Cost, CostProfile } from './profile.js';
import { MSR_CLASSES } from './profile.js';
import { costEntries, getProfile } from './profiles.js';

export interface ProfileFile {
  name: string;
  description?: string;
  from?: string;
  costs: Record<string, { cycles: number; low?: number; high?: number; source?: string }>;
  segBaseSerializing?: boolean;
}

export function profileFromJson(text: string): CostProfile {
  let j: ProfileFile;
  try { j = JSON.parse(text) as ProfileFile; } catch (e) { throw new Error(`profile file: not JSON (${(e as Error).message})`); }
  if (typeof j !== 'object' || j === null || typeof j.name !== 'string' || typeof j.costs !== 'object' || j.costs === null) {
    throw new Error('profile file: expected { "name": ..., "costs": { ... } }');
  }
  const p = getProfile(j.from ?? 'zen3');
  p.name = j.name;
  p.description = j.description ?? `${j.name}: measured (from ${j.from ?? 'zen3'})`;
  const byName = new Map<string, Cost[]>(costEntries(p).map(([n, c]) => [n, [c]]));
  byName.set('rdmsr', MSR_CLASSES.map((k) => p.rdmsr[k]));
  byName.set('wrmsr', MSR_CLASSES.map((k) => p.wrmsr[k]));
  for (const [name, v] of Object.entries(j.costs)) {
    const targets = byName.get(name);
    if (targets === undefined) throw new Error(`profile file: unknown constant '${name}'`);
    if (typeof v?.cycles !== 'number' || !Number.isFinite(v.cycles) || v.cycles < 0) throw new Error(`profile file: ${name}.cycles must be a number >= 0`);
    const low = v.low ?? v.cycles;
    const high = v.high ?? v.cycles;
    if (!(low <= v.cycles && v.cycles <= high)) throw new Error(`profile file: ${name} needs low <= cycles <= high`);
    for (const c of targets) {
      c.cycles = Math.round(v.cycles * 64) / 64;
      c.low = low;
      c.high = high;
      c.source = v.source ?? `measured (${j.name})`;
      c.range = 'measured spread';
      c.confidence = 'H';
    }
  }
  if (j.segBaseSerializing !== undefined) {
    p.wrmsrSegBaseSerializing = j.segBaseSerializing;
    p.segBaseSerializingP = j.segBaseSerializing ? 1 : 0;
    p.segBaseSerializingSource = `measured (${j.name})`;
  }
  return p;
}
