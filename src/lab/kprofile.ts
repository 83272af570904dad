/**
 * A per-function cycle profile of single-stepped kernel execution, in the form `perf report
 * --children` prints: for every function, its self cycles (instructions inside it) and its
 * children cycles (everything while it was on the call chain, itself included), as a share of
 * the whole window.
 *
 * The call chain is a shadow stack kept from the stack pointer: reaching the first byte of a
 * function pushes a frame that lives while RSP stays below the slot its return address sits in
 * (so a tail call shares its caller's slot and both end together). A jump of the stack pointer
 * by more than a stack's size (an interrupt or NMI on another stack, the system-call entry's
 * switch) saves the chain and starts a new one, and coming back to the saved stack resumes it;
 * returning to user mode ends every chain. Time in guest mode is "[guest]", under the host
 * functions that ran VMRUN; time at CPL 3 is "[user]". This is exact for what it measures
 * (every instruction is accounted, no sampling), and approximate only where a chain is
 * rebuilt from RSP: code that switches stacks other than through events.
 */

import type { Cpu } from '../cpu/cpu.js';
import type { KernelSymbols } from './kmod.js';

export interface ProfileRow { name: string; module?: string; self: number; children: number }

interface Frame { fn: string; slot: number }
interface Chain { frames: Frame[]; rsp: number }

const STACK_JUMP = 0x8000; // larger than a kernel stack's working depth: another stack

export class FunctionProfile {
  readonly self = new Map<string, number>();
  readonly children = new Map<string, number>();
  total = 0;
  private frames: Frame[] = [];
  private saved: Chain[] = [];
  private lastRsp = 0;
  private readonly onChain = new Set<string>();

  constructor(private readonly syms: KernelSymbols | null) {}

  begin(c: Cpu): void {
    this.frames = [];
    this.saved = [];
    this.lastRsp = rspOf(c);
  }

  end(): void {
    this.frames = [];
    this.saved = [];
  }

  /** An instruction at `rip` (guest mode or not) cost `cycles`; the CPU is now after it. */
  account(c: Cpu, rip: number, guest: boolean, cycles: number): void {
    this.total += cycles;
    let fn: string;
    if (guest) fn = '[guest]';
    else if (rip >= 0) fn = '[user]';
    else fn = this.functionAt(rip);
    this.self.set(fn, (this.self.get(fn) ?? 0) + cycles);
    const seen = this.onChain;
    seen.clear();
    seen.add(fn);
    this.children.set(fn, (this.children.get(fn) ?? 0) + cycles);
    for (const f of this.frames) {
      if (seen.has(f.fn)) continue;
      seen.add(f.fn);
      this.children.set(f.fn, (this.children.get(f.fn) ?? 0) + cycles);
    }
    if (!guest) this.track(c);
  }

  /** keep the shadow stack in step with where the CPU is now (before its next instruction) */
  private track(c: Cpu): void {
    if (c.guestMode) return;
    const rsp = rspOf(c);
    const rip = c.ripLinear();
    if (c.cpl === 3) {
      this.frames = [];
      this.saved = [];
      this.lastRsp = rsp;
      return;
    }
    if (Math.abs(rsp - this.lastRsp) > STACK_JUMP) {
      const back = this.saved.findIndex((s) => Math.abs(s.rsp - rsp) <= STACK_JUMP);
      if (back >= 0) {
        this.frames = this.saved[back].frames;
        this.saved.length = back;
      } else {
        this.saved.push({ frames: this.frames, rsp: this.lastRsp });
        this.frames = [];
      }
    }
    this.lastRsp = rsp;
    while (this.frames.length > 0 && this.frames[this.frames.length - 1].slot <= rsp) this.frames.pop();
    if (this.syms !== null && rip < 0) {
      const s = this.syms.table.at(rip);
      if (s !== undefined && s.addr === rip) this.frames.push({ fn: this.label(s.name), slot: rsp + 8 });
    }
  }

  private label(name: string): string {
    const mod = this.syms?.moduleOf(name);
    return mod === undefined ? name : `${name} [${mod}]`;
  }

  private functionAt(rip: number): string {
    const s = this.syms?.table.at(rip);
    return s === undefined ? '[kernel]' : this.label(s.name);
  }

  /** rows by children cycles, largest first */
  rows(): ProfileRow[] {
    const out: ProfileRow[] = [];
    for (const [name, children] of this.children) out.push({ name, self: this.self.get(name) ?? 0, children });
    out.sort((a, b) => b.children - a.children || b.self - a.self || (a.name < b.name ? -1 : 1));
    return out;
  }

  /** a perf-report-like text table of the top `n` rows */
  format(n = 30): string {
    const pct = (v: number) => (this.total > 0 ? (100 * v / this.total).toFixed(2) : '0.00').padStart(6) + '%';
    const lines = ['  Children      Self  Symbol'];
    for (const r of this.rows().slice(0, n)) lines.push(`  ${pct(r.children)}  ${pct(r.self)}  ${r.name}`);
    return lines.join('\n');
  }

  /** children share (0..1) of a function, by its plain name */
  share(name: string, kind: 'self' | 'children' = 'children'): number {
    const map = kind === 'self' ? this.self : this.children;
    for (const [k, v] of map) if (k === name || k.startsWith(name + ' [')) return this.total > 0 ? v / this.total : 0;
    return 0;
  }
}

function rspOf(c: Cpu): number {
  return c.rh[4] * 4294967296 + (c.rl[4] >>> 0);
}
