/** Helpers shared by the control-flow and string instruction tests. */
import { expect } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { getFlags } from '../src/cpu/flags.js';
import { Cr0, Fl, Stop } from '../src/cpu/state.js';
import { HANDLERS } from '../src/cpu/exec/registry.js';
import { writeCr0, writeCr3 } from '../src/cpu/exec/ctrl.js';

export const CODE = 0x1000;
export const STACK = 0x8000;

export function hex(s: string): Uint8Array {
  return Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));
}

export function mk(bits: 16 | 32 | 64, code: string): Cpu {
  const mem = new PhysMem(1 << 21);
  mem.load(CODE, hex(code));
  const c = new Cpu(mem);
  setFlatMode(c, bits);
  c.rip = CODE;
  c.rl[4] = STACK;
  return c;
}

/** run to the end marker (UD2), which must be at `at` if given */
export function runToUd(c: Cpu, at?: number, budget = 100000): void {
  const stop = c.run(budget);
  expect(stop).toBe(Stop.Exception);
  expect(c.lastFault.vector).toBe(6);
  if (at !== undefined) expect(c.lastFault.rip).toBe(at);
}

export function expectFault(c: Cpu, vector: number, rip: number, errorCode = 0): void {
  const stop = c.run(100000);
  expect(stop).toBe(Stop.Exception);
  expect(c.lastFault.vector).toBe(vector);
  expect(c.lastFault.errorCode).toBe(errorCode);
  expect(c.lastFault.rip).toBe(rip);
}

export function get64(c: Cpu, r: number): bigint {
  return (BigInt(c.rh[r] >>> 0) << 32n) | BigInt(c.rl[r] >>> 0);
}

export function set64(c: Cpu, r: number, v: bigint): void {
  const u = BigInt.asUintN(64, v);
  c.rl[r] = Number(u & 0xffffffffn) | 0;
  c.rh[r] = Number(u >> 32n) | 0;
}

export function dv(c: Cpu): DataView {
  return new DataView(c.mem.u8.buffer);
}
export const rd64 = (c: Cpu, a: number) => dv(c).getBigUint64(a, true);
export const rd32 = (c: Cpu, a: number) => dv(c).getUint32(a, true);
export const rd16 = (c: Cpu, a: number) => dv(c).getUint16(a, true);
export const wr64 = (c: Cpu, a: number, v: bigint) => dv(c).setBigUint64(a, BigInt.asUintN(64, v), true);
export const wr32 = (c: Cpu, a: number, v: number) => dv(c).setUint32(a, v >>> 0, true);
export const wr16 = (c: Cpu, a: number, v: number) => dv(c).setUint16(a, v, true);

export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;

