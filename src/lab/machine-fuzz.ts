/**
 * The whole-machine fuzzer: random code run on a full machine (LAPIC, UART, scheduler,
 * architectural event delivery) in every mode the CPU has, with random descriptor tables,
 * random page-table permissions, random privilege levels, and SVM guests from random VMCBs.
 * Every stream must end in an architectural outcome (the budget, HLT, a shutdown, a reset or a
 * debug exit) within its budget: a JavaScript exception or a stream that runs past its
 * wall-clock limit is a failure, reported with the seed that reproduces it.
 *
 * A stream is a seed. The machine is built once, its fixed tables written and snapshotted;
 * each stream restores the snapshot (only the pages the previous stream wrote are copied back),
 * then draws its mode, tables and code from the seed. Used by `npm run fuzz`
 * (scripts/fuzz.mjs, 100,000 streams) and by test/machine-fuzz.test.ts (a smaller set).
 */

import { Machine } from '../machine/machine.js';
import { updateMode } from '../cpu/mode.js';
import { Stop } from '../cpu/state.js';
import { V } from '../svm/vmcb.js';
import { restoreSnapshot, takeSnapshot, type Snapshot } from './snapshot.js';

const MEM = 4 << 20;
const GDT = 0x1000;
const IDT = 0x2000;
const TSS = 0x3000;
const VMCB = 0x4000;
const HSAVE = 0x5000;
const MSRPM = 0x6000;
const IOPM = 0x8000;
/** 4-level tables (also the nested tables of SVM guests) */
const PML4 = 0x20000;
const PDPT = 0x21000;
const PD = 0x22000;
const PT = 0x23000; // two page tables: 0..4 MiB in 4 KiB pages
/** legacy paging: a 32-bit page directory and table, and a PAE PDPT (sharing PD/PT above) */
const PD32 = 0x26000;
const PT32 = 0x27000;
const PDPT_PAE = 0x28000;
const STACKS = 0x80000;
const CODE = 0x100000;
const HANDLERS = 0x101000;
const GUEST_CODE = 0x102000;
/** real mode: CS = 0x1000 (code at 0x10000) */
const REAL_CS = 0x1000;

/** selectors of the fixed GDT entries (the rest of the GDT is random per stream) */
const SEL = { code64: 0x08, data: 0x10, code32: 0x18, code64u: 0x23, datau: 0x2b, code32u: 0x33, tss: 0x40 };
/** attributes in the CPU's 12-bit form (descriptor bits 47:40 and 55:52) */
const ATTR = { code64: 0xa9b, data: 0xc93, code32: 0xc9b, code64u: 0xafb, datau: 0xcf3, code32u: 0xcfb, tss: 0x08b };

export type FuzzMode = 'long64' | 'compat' | 'prot32' | 'real' | 'svm';
export const FUZZ_MODES: readonly FuzzMode[] = ['long64', 'compat', 'prot32', 'real', 'svm'];

export interface StreamResult {
  seed: number;
  mode: FuzzMode;
  /** the machine's stop reason, or 'error' */
  outcome: string;
  icount: number;
  ms: number;
  error?: string;
}

export interface FuzzSummary {
  streams: number;
  errors: StreamResult[];
  /** streams that ran longer than the wall-clock limit */
  hangs: StreamResult[];
  outcomes: Map<string, number>;
  instructions: number;
  maxMs: number;
  ms: number;
}

function rng(seed: number): () => number {
  // xorshift32 mixed from the seed: deterministic per stream
  let s = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

export class MachineFuzzer {
  readonly m: Machine;
  private readonly base: Snapshot;

  constructor() {
    this.m = new Machine({ memSize: MEM, onUartByte: () => {} });
    writeFixed(this.m);
    this.base = takeSnapshot(this.m);
  }

  /** Run one stream: restore, draw everything from `seed`, run up to `budget` instructions. */
  stream(seed: number, budget = 3000, hangMs = 2000): StreamResult {
    const r = rng(seed);
    const mode = FUZZ_MODES[r() % FUZZ_MODES.length];
    const t0 = performance.now();
    const res: StreamResult = { seed, mode, outcome: '', icount: 0, ms: 0 };
    try {
      restoreSnapshot(this.m, this.base);
      setup(this.m, mode, r);
      const i0 = this.m.cpu.icount;
      const out = this.m.run(budget);
      res.icount = out.icount - i0;
      res.outcome = out.reason === Stop.Exit ? 'exit' : Stop[out.reason] ?? String(out.reason);
      if (this.m.cpu.guestMode) res.outcome += ' (in guest)';
    } catch (e) {
      res.outcome = 'error';
      res.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    res.ms = performance.now() - t0;
    if (res.ms > hangMs && res.outcome !== 'error') res.outcome = 'hang';
    return res;
  }
}

/** Run `count` streams from `firstSeed`; `onStream` sees each result (progress, logging). */
export function fuzzMachine(firstSeed: number, count: number, budget = 3000, hangMs = 2000, onStream?: (r: StreamResult) => void): FuzzSummary {
  const f = new MachineFuzzer();
  const sum: FuzzSummary = { streams: 0, errors: [], hangs: [], outcomes: new Map(), instructions: 0, maxMs: 0, ms: 0 };
  const t0 = performance.now();
  for (let k = 0; k < count; k++) {
    const res = f.stream(firstSeed + k, budget, hangMs);
    sum.streams++;
    sum.instructions += res.icount;
    sum.maxMs = Math.max(sum.maxMs, res.ms);
    const key = `${res.mode}: ${res.outcome}`;
    sum.outcomes.set(key, (sum.outcomes.get(key) ?? 0) + 1);
    if (res.outcome === 'error') sum.errors.push(res);
    if (res.outcome === 'hang') sum.hangs.push(res);
    onStream?.(res);
  }
  sum.ms = performance.now() - t0;
  return sum;
}

// ---- the fixed part: page tables, the valid GDT entries, the TSS ----

function w64(m: Machine, a: number, lo: number, hi: number): void {
  m.mem.write32(a, lo);
  m.mem.write32(a + 4, hi);
}

function writeFixed(m: Machine): void {
  // 4-level identity map of 0..4 MiB in 4 KiB pages, user and writable
  w64(m, PML4, PDPT | 7, 0);
  w64(m, PDPT, PD | 7, 0);
  w64(m, PD, (PT) | 7, 0);
  w64(m, PD + 8, (PT + 0x1000) | 7, 0);
  for (let k = 0; k < 1024; k++) w64(m, PT + k * 8, (k * 4096) | 7, 0);
  // 32-bit paging: one page table for 0..4 MiB
  m.mem.write32(PD32, PT32 | 7);
  for (let k = 0; k < 1024; k++) m.mem.write32(PT32 + k * 4, (k * 4096) | 7);
  // PAE: PDPT entry 0 -> PD (P only: RW/US are reserved in PAE PDPTEs)
  w64(m, PDPT_PAE, PD | 1, 0);
  // GDT: the fixed entries (descriptor words from the 12-bit attributes)
  const desc = (sel: number, attr: number) => {
    const hi = ((attr & 0xff) << 8) | ((attr & 0xf00) << 12) | 0x000f0000;
    w64(m, GDT + sel, 0x0000ffff, hi);
  };
  desc(SEL.code64, ATTR.code64); desc(SEL.data, ATTR.data); desc(SEL.code32, ATTR.code32);
  desc(SEL.code64u & ~3, ATTR.code64u); desc(SEL.datau & ~3, ATTR.datau); desc(SEL.code32u & ~3, ATTR.code32u);
  // 64-bit TSS descriptor (16 bytes) at 0x40: base TSS, limit 0x67 + I/O bitmap
  w64(m, GDT + SEL.tss, ((TSS & 0xffff) << 16) | 0x2067, ((TSS >>> 16) & 0xff) | 0x8b00);
  w64(m, GDT + SEL.tss + 8, 0, 0);
}

// ---- one stream ----

function setup(m: Machine, mode: FuzzMode, r: () => number): void {
  const c = m.cpu;
  const mem = m.mem;
  const bytes = (a: number, n: number) => { for (let k = 0; k < n; k++) mem.write8(a + k, r() & 0xff); };
  // random GDT entries 10..31 (after the TSS), often present
  for (let k = 10; k < 32; k++) w64(m, GDT + k * 8, r() | 0, ((r() | 0x8000) & ((r() & 3) === 0 ? 0xffffffff : 0xffff9fff)) | 0);
  // random page permissions: a few PTEs lose P, RW or US, or gain NX / reserved bits
  for (let k = 0; k < 12; k++) {
    const page = r() & 1023;
    const e = PT + page * 8;
    const lo = mem.read32(e);
    const what = r() & 7;
    if (what === 0) mem.write32(e, lo & ~1);
    else if (what === 1) mem.write32(e, lo & ~2);
    else if (what === 2) mem.write32(e, lo & ~4);
    else if (what === 3) mem.write32(e + 4, 0x80000000);
    else if (what === 4) mem.write32(e + 4, 1 << (r() % 20)); // reserved above MAXPHYADDR? maybe
    const e32 = PT32 + page * 4;
    if (what < 3) mem.write32(e32, mem.read32(e32) & ~(1 << what));
  }
  // code: the entry, the handlers and the guest code
  bytes(CODE, 256);
  for (let h = 0; h < 16; h++) bytes(HANDLERS + h * 0x100, 64);
  bytes(GUEST_CODE, 256);
  // TSS: RSP0-2 and IST1-7 on the stacks, sometimes anything; I/O bitmap offset random
  for (let k = 0; k < 10; k++) {
    const slot = k < 3 ? 4 + k * 8 : 0x24 + (k - 3) * 8;
    const good = (r() & 7) !== 0;
    w64(m, TSS + slot, good ? STACKS + ((r() & 0xf) + 1) * 0x1000 : r() | 0, good ? 0 : r() & 0xffff);
  }
  mem.write16(TSS + 0x66, (r() & 3) === 0 ? r() & 0xffff : 0x68);
  bytes(TSS + 0x68, 32);

  c.rl.fill(0);
  c.rh.fill(0);
  for (let k = 0; k < 16; k++) {
    const v = r();
    c.rl[k] = (v & 3) === 0 ? r() | 0 : STACKS + (v & 0x1fff0);
    c.rh[k] = (v & 0x30) === 0 ? r() | 0 : 0;
  }
  c.rl[4] = STACKS + 0x10000 + (r() & 0xff0);
  c.rh[4] = 0;
  c.flags = 0x2 | (r() & 0x8d5) | ((r() & 3) === 0 ? 0x200 : 0) | ((r() & 15) === 0 ? 0x100 : 0) | ((r() & 7) === 0 ? 0x40000 : 0);
  c.lazySize = 0;
  c.gdtrBase = GDT;
  c.gdtrLimit = 0xff;
  c.halted = false;
  c.intShadow = false;
  // TR: the 64-bit TSS (busy); in legacy modes the same bytes read as a 32-bit TSS
  c.segSel[7] = SEL.tss;
  c.segBase[7] = TSS;
  c.segLimit[7] = 0x67 + 32;
  c.segAttr[7] = ATTR.tss;

  const user = (r() & 3) === 0;
  const seg = (s: number, sel: number, attr: number, base = 0, limit = 0xffffffff) => {
    c.segSel[s] = sel; c.segAttr[s] = attr; c.segBase[s] = base; c.segLimit[s] = limit;
  };
  const setData = (sel: number, attr: number) => { for (const s of [0, 2, 3, 4, 5]) seg(s, sel, attr); };
  const cr4Extra = () => (r() & 0x1) * 0x80 /* PGE */ | ((r() & 1) << 20) /* SMEP */ | ((r() & 3) === 0 ? 1 << 21 : 0) /* SMAP */
    | ((r() & 1) << 16) /* FSGSBASE */ | ((r() & 1) << 8) /* PCE */ | ((r() & 1) << 3) /* DE */ | ((r() & 1) << 9) /* OSFXSR */;

  if (mode === 'real') {
    c.cr0 = 0x10;
    c.cr4 = 0;
    c.efer = 0;
    c.cpl = 0;
    for (const s of [0, 2, 3, 4, 5]) seg(s, REAL_CS, 0x93, REAL_CS * 16, 0xffff);
    seg(1, REAL_CS, 0x9b, REAL_CS * 16, 0xffff);
    // the IVT: random vectors into the handler area or anywhere
    c.idtrBase = 0;
    c.idtrLimit = 0x3ff;
    for (let v = 0; v < 256; v++) {
      const good = (r() & 3) !== 0;
      mem.write32(v * 4, good ? ((HANDLERS >>> 4) << 16) | ((r() & 15) * 0x100) : r() | 0);
    }
    bytes(REAL_CS * 16, 256);
    c.rip = 0;
    c.rl[4] &= 0xfff0;
  } else {
    const long = mode !== 'prot32';
    const is64 = mode === 'long64' || mode === 'svm';
    const u = user && mode !== 'svm';
    c.cpl = u ? 3 : 0;
    if (long) {
      c.cr0 = 0x80000031 | ((r() & 1) << 16); // PG PE ET NE, WP sometimes
      c.cr4 = 0x20 | cr4Extra();
      c.efer = 0x501 | ((r() & 1) << 11) | (mode === 'svm' ? 0x1000 : 0); // LME LMA SCE, NXE, SVME
      c.cr3 = PML4;
    } else {
      const pg = r() % 3; // 0 off, 1 32-bit paging, 2 PAE
      c.cr0 = 0x31 | (pg !== 0 ? 0x80000000 : 0) | ((r() & 1) << 16);
      c.cr4 = (pg === 2 ? 0x20 : 0) | ((r() & 1) << 4) /* PSE */ | cr4Extra();
      c.efer = (r() & 1) << 11;
      c.cr3 = pg === 2 ? PDPT_PAE : PD32;
    }
    if (is64) seg(1, u ? SEL.code64u : SEL.code64, u ? ATTR.code64u : ATTR.code64);
    else seg(1, u ? SEL.code32u : SEL.code32, u ? ATTR.code32u : ATTR.code32);
    setData(u ? SEL.datau : SEL.data, u ? ATTR.datau : ATTR.data);
    writeIdt(m, r, long);
    c.rip = CODE;
  }
  if (mode === 'svm') setupSvm(m, r);
  updateMode(c);
  c.paging.flushAll();
  c.flushCodeCache();
}

/** an IDT of random gates: most valid (to a handler, random IST and DPL), some garbage */
function writeIdt(m: Machine, r: () => number, long: boolean): void {
  const c = m.cpu;
  c.idtrBase = IDT;
  c.idtrLimit = (r() & 7) === 0 ? r() & 0xfff : long ? 0xfff : 0x7ff;
  const size = long ? 16 : 8;
  for (let v = 0; v < 256; v++) {
    const a = IDT + v * size;
    const kind = r() & 7;
    if (kind === 0) {
      for (let k = 0; k < size; k += 4) m.mem.write32(a + k, r() | 0);
      continue;
    }
    const target = HANDLERS + (r() & 15) * 0x100;
    const sel = (r() & 7) === 0 ? SEL.code64u & ~3 | (r() & 3) : long ? SEL.code64 : SEL.code32;
    const type = long ? ((r() & 1) !== 0 ? 0xe : 0xf) : ((r() & 1) !== 0 ? 0xe : 0xf);
    const dpl = (r() & 3) === 0 ? 3 : 0;
    const ist = long && (r() & 3) === 0 ? r() & 7 : 0;
    m.mem.write32(a, (sel << 16) | (target & 0xffff));
    m.mem.write32(a + 4, (target & 0xffff0000) | 0x8000 | (dpl << 13) | (type << 8) | ist);
    if (long) { m.mem.write32(a + 8, 0); m.mem.write32(a + 12, 0); }
  }
}

/**
 * A 64-bit host at CPL 0 that runs `mov rax, VMCB; vmrun` and then random host code, with a
 * VMCB built from a valid template and then mutated: random intercepts, guest mode (64-bit,
 * 32-bit, real), nested paging, event injection, permission maps, and random bytes anywhere.
 */
function setupSvm(m: Machine, r: () => number): void {
  const c = m.cpu;
  const mem = m.mem;
  c.vmHsavePa = HSAVE;
  mem.load(CODE, Uint8Array.from([0x48, 0xc7, 0xc0, VMCB & 0xff, (VMCB >> 8) & 0xff, 0, 0, 0x0f, 0x01, 0xd8]));
  for (let k = 0; k < 0x1000; k += 4) mem.write32(VMCB + k, 0);
  const w32 = (o: number, v: number) => mem.write32(VMCB + o, v);
  for (let k = 0; k < 5; k++) w32(k * 4, (r() & 1) !== 0 ? r() | 0 : 0);
  w32(V.INTERCEPT_MISC2, ((r() & 15) === 0 ? 0 : 1) | (r() & 0x3e));
  w32(V.ASID, (r() & 15) === 0 ? 0 : 1 + (r() & 3));
  w32(V.MSRPM_BASE_PA, MSRPM);
  w32(V.IOPM_BASE_PA, IOPM);
  for (let k = 0; k < 64; k++) mem.write8(MSRPM + (r() & 0x1fff), r() & 0xff);
  for (let k = 0; k < 64; k++) mem.write8(IOPM + (r() % 0x3000), r() & 0xff);
  const gmode = r() % 3; // 0: 64-bit, 1: 32-bit flat, 2: real
  const seg = (o: number, sel: number, attr: number, base: number, limit: number) => {
    w32(o, sel | (attr << 16)); w32(o + 4, limit); w32(o + 8, base); w32(o + 12, 0);
  };
  if (gmode === 0) {
    seg(V.CS, SEL.code64, ATTR.code64, 0, 0xffffffff);
    for (const o of [V.SS, V.DS, V.ES]) seg(o, SEL.data, ATTR.data, 0, 0xffffffff);
    w32(V.CR0, 0x80000031); w32(V.CR4, 0x20); w32(V.EFER, 0x1d01); w32(V.CR3, PML4);
  } else if (gmode === 1) {
    seg(V.CS, SEL.code32, ATTR.code32, 0, 0xffffffff);
    for (const o of [V.SS, V.DS, V.ES]) seg(o, SEL.data, ATTR.data, 0, 0xffffffff);
    w32(V.CR0, 0x11); w32(V.EFER, 0x1000);
  } else {
    seg(V.CS, 0, 0x9b, 0, 0xffff);
    for (const o of [V.SS, V.DS, V.ES]) seg(o, 0, 0x93, 0, 0xffff);
    w32(V.CR0, 0x10); w32(V.EFER, 0x1000);
  }
  w32(V.GDTR + 4, 0xff); w32(V.GDTR + 8, GDT);
  w32(V.IDTR + 4, gmode === 2 ? 0x3ff : 0xfff); w32(V.IDTR + 8, gmode === 2 ? 0 : IDT);
  w32(V.RFLAGS, 0x2 | (r() & 0x8d5) | ((r() & 1) << 9));
  w32(V.RIP, gmode === 2 ? GUEST_CODE & 0xffff : GUEST_CODE);
  if (gmode === 2) { w32(V.CS + 8, GUEST_CODE & ~0xffff); w32(V.CS, (GUEST_CODE >>> 4) & 0xf000 | (0x9b << 16)); }
  w32(V.RSP, STACKS + 0x8000);
  w32(V.DR6, 0xffff0ff0); w32(V.DR7, 0x400);
  w32(V.G_PAT, 0x00070406); w32(V.G_PAT + 4, 0x00070406);
  if ((r() & 1) !== 0) { w32(V.NP_ENABLE, 1); w32(V.N_CR3, PML4); }
  if ((r() & 3) === 0) w32(V.EVENTINJ, 0x80000000 | (r() & 0xfff));
  if ((r() & 3) === 0) { w32(V.INT_CTL, r() | 0); w32(V.INT_VECTOR, r() & 0xff); w32(V.INT_STATE, r() & 3); };
  // a few random bytes anywhere in the VMCB
  for (let k = (r() & 3) === 0 ? r() & 7 : 0; k > 0; k--) mem.write8(VMCB + (r() & 0xfff), r() & 0xff);
}
