/**
 * Recently fetched code pages, for the run loop's fetch off the current page (Cpu.fetchSlow:
 * calls and returns across pages, about 21 M of them in the Linux boot): the linear page, the
 * physical page it was translated to and that page's decoded instructions, so a return to a
 * recent page skips the decoded-page map, the RAM test and the code-page mark.
 *
 * An entry is used only when the TLB still holds the same translation with execute permission
 * for the current privilege (Paging.probe: exactly the hit `translate` would take, which has
 * no side effect), or with paging off the address is its own physical address, and the page
 * lies below every MMIO region (so it is RAM). The decoded page an entry names stays the one
 * the page map holds until the page is written or the map flushed, and the CPU clears this
 * cache at both (Cpu.invalidateCodePage, flushCodeCache) and at flushFetch (CR3, paging, CS
 * and mode changes, a snapshot's restore). Not machine state: a snapshot skips it.
 */

import type { Insn } from '../x86/insn.js';

/**
 * entries, direct-mapped by linear page number (the boot's fetches off the current page find
 * their page in a 4-entry round-robin cache 75 % of the time, 16 entries 95 %, 64 direct-mapped
 * 97 %, 256 direct-mapped 99 %)
 */
const FETCH_WAYS = 256;

export class FetchCache {
  /** linear address of each entry's page (NaN: empty; never equal to anything) */
  readonly lin = new Float64Array(FETCH_WAYS).fill(NaN);
  /** physical address of the page */
  readonly phys = new Float64Array(FETCH_WAYS);
  /** its decoded instructions (the page map's array) */
  readonly arr: (Insn | undefined)[][] = [];

  constructor(empty: (Insn | undefined)[]) {
    for (let k = 0; k < FETCH_WAYS; k++) this.arr.push(empty);
  }

  clear(): void {
    this.lin.fill(NaN);
  }

  /** the entry for linear page address `base` (a multiple of 4096), or -1 */
  find(base: number): number {
    const k = (base / 4096) & (FETCH_WAYS - 1);
    return this.lin[k] === base ? k : -1;
  }

  /** remember that linear page `base` is physical page `phys`, decoded in `arr` */
  add(base: number, phys: number, arr: (Insn | undefined)[]): void {
    const k = (base / 4096) & (FETCH_WAYS - 1);
    this.lin[k] = base;
    this.phys[k] = phys;
    this.arr[k] = arr;
  }
}
