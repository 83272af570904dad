/**
 * An instruction form (one encoding template at one operand size and operand kind) and the
 * helpers the form lists share.
 */

import type { CB } from './gen.js';
import type { Family } from './masks.js';

export type Feature = 'popcnt' | 'lzcnt' | 'bmi1' | 'cx16' | 'lahf' | 'sse3' | 'ssse3' | 'sse41';

export interface FormDef {
  name: string;
  /** undefined-flag family (masks.ts) */
  family: Family;
  /** operand size in bytes, for the masks */
  size: number;
  /** CPUID feature the host needs to run it */
  feature?: Feature;
  /** fill one case: registers, memory, flags, code; may set cb.count, cb.undef, ignores */
  gen: (cb: CB) => void;
}

export const SIZES = [1, 2, 4, 8] as const;
export const VSIZES = [2, 4, 8] as const;

export function bits(size: number): number {
  return size * 8;
}

export function kind(mem: boolean): string {
  return mem ? 'mem' : 'reg';
}

/** immediate bytes for an Iz operand at `size` */
export function izBytes(size: number): number {
  return size === 1 ? 1 : size === 2 ? 2 : 4;
}

/** the register-operand name at a size */
export function rn(size: number): string {
  return `r${bits(size)}`;
}

export function rmn(size: number): string {
  return `r/m${bits(size)}`;
}
