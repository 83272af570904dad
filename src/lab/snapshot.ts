/**
 * Snapshots of a whole machine: CPU (with its SVM state and pending events), devices and RAM,
 * cheap enough to replay one KVM_RUN thousands of times (design.md §5).
 *
 * RAM: PhysMem marks every page written (`dirty`). A snapshot keeps a copy of every page ever
 * written up to it; restoring copies back only the pages written since, so a replay costs the
 * pages it touched. State: every plain-data field (numbers, booleans, strings, typed arrays,
 * arrays and plain objects of those) of the CPU and the devices is captured by walking the
 * objects, so a new field is included without a list to keep in step. References between
 * components (memory, buses, the scheduler's clock) and functions are left alone; decoded
 * instructions and TLB entries are dropped on restore and rebuilt on demand.
 */

import type { Machine } from '../machine/machine.js';
import type { Cpu } from '../cpu/cpu.js';
import type { TlbState } from '../cpu/paging.js';

type Plain = number | boolean | string | null | undefined | Plain[] | { [k: string]: Plain } | ArrayBufferView;

/** fields never captured: links to other components, caches rebuilt after a restore, and the
 * lab's hooks (a restore must not drop breakpoints or a delivery hook set after the snapshot) */
const SKIP = new Set([
  'mem', 'io', 'intc', 'paging', 'decoder', 'codeCache', 'fetchArr', 'fetchBase', 'fetchBuf', 'fetchCache',
  'scratchInsn', 'jit', 'costs', 'sched', 'cpu', 'lapic', 'uart', 'pic', 'debugExit', 'handlers',
  'msrReadCost', 'msrWriteCost', 'breakpoints', 'onDeliver', 'onGsAccess',
  // the PC devices, captured on their own below; `irq` (the router) and `clock` hold no state
  'pit', 'ioapic', 'irq', 'clock', 'rtc', 'acpi', 'sysctl', 'kbc',
  // more than one CPU: the CPUs and APICs are captured one by one below; the APIC bus links
  // and the APIC window (which follows the running CPU) are wiring
  'cpus', 'lapics', 'bus', 'apicDev', 'windowBase',
  // the port bus's routing (iobus.ts): set up with the machine, as the devices are
  'devices', 'widths', 'owner',
]);

function capture(v: unknown, depth: number): Plain {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (ArrayBuffer.isView(v)) return (v as unknown as { slice(): ArrayBufferView }).slice();
  if (depth > 6 || typeof v !== 'object') return undefined;
  if (Array.isArray(v)) {
    // arrays of components (a bus's devices) are wiring, not state
    if (v.some((x) => x !== null && typeof x === 'object' && !ArrayBuffer.isView(x) && Object.getPrototypeOf(x) !== Object.prototype && !Array.isArray(x))) return undefined;
    if (v.some((x) => typeof x === 'function')) return undefined;
    return v.map((x) => capture(x, depth + 1));
  }
  if (v instanceof Map) return { __map: [...v.entries()].map(([k, x]) => [k, capture(x, depth + 1)]) as unknown as Plain };
  const out: { [k: string]: Plain } = {};
  for (const k of Object.keys(v)) {
    if (SKIP.has(k)) continue;
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === 'function') continue;
    // only plain data and our own state classes (no cross-links: those are in SKIP)
    if (x !== null && typeof x === 'object' && !ArrayBuffer.isView(x) && !Array.isArray(x) && !(x instanceof Map)) {
      if (Object.getPrototypeOf(x) === Object.prototype || depth < 6) out[k] = capture(x, depth + 1);
      continue;
    }
    const cv = capture(x, depth + 1);
    if (cv !== undefined || x === undefined) out[k] = cv;
  }
  return out;
}

/** how restoreInto puts back each key of a saved object (worked out once per saved object) */
const enum Put { Value, View, Array, Map, Object }
interface Plan { keys: string[]; puts: Put[] }
const PLANS = new WeakMap<object, Plan>();

function planOf(saved: { [k: string]: Plain }): Plan {
  let plan = PLANS.get(saved);
  if (plan !== undefined) return plan;
  const keys = Object.keys(saved);
  const puts = keys.map((k) => {
    const s = saved[k];
    if (ArrayBuffer.isView(s)) return Put.View;
    if (Array.isArray(s)) return Put.Array;
    if (s !== null && typeof s === 'object') return (s as { __map?: unknown }).__map !== undefined ? Put.Map : Put.Object;
    return Put.Value;
  });
  plan = { keys, puts };
  PLANS.set(saved, plan);
  return plan;
}

function restoreInto(target: Record<string, unknown>, saved: { [k: string]: Plain }): void {
  const { keys, puts } = planOf(saved);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const s = saved[k];
    switch (puts[i]) {
      case Put.Value:
        target[k] = s;
        break;
      case Put.View:
        (target[k] as unknown as { set(a: ArrayBufferView): void }).set(s as unknown as ArrayBufferView);
        break;
      case Put.Array: {
        const t = target[k];
        const a = s as Plain[];
        if (Array.isArray(t)) { t.length = 0; for (let j = 0; j < a.length; j++) t.push(clonePlain(a[j])); } else target[k] = clonePlain(s);
        break;
      }
      case Put.Map: {
        const t = target[k];
        const m = (s as unknown as { __map: [unknown, Plain][] }).__map;
        if (t instanceof Map) {
          t.clear();
          for (let j = 0; j < m.length; j++) t.set(m[j][0], clonePlain(m[j][1]));
        } else if (t !== null && typeof t === 'object') restoreInto(t as Record<string, unknown>, s as { [k: string]: Plain });
        else target[k] = clonePlain(s);
        break;
      }
      default: {
        const t = target[k];
        if (t !== null && typeof t === 'object') restoreInto(t as Record<string, unknown>, s as { [k: string]: Plain });
        else target[k] = clonePlain(s);
      }
    }
  }
}

function clonePlain(x: Plain): Plain {
  if (ArrayBuffer.isView(x)) return (x as unknown as { slice(): ArrayBufferView }).slice();
  if (Array.isArray(x)) return x.map(clonePlain);
  if (x !== null && typeof x === 'object') {
    const o: { [k: string]: Plain } = {};
    for (const k of Object.keys(x)) o[k] = clonePlain((x as { [k: string]: Plain })[k]);
    return o;
  }
  return x;
}

export class Snapshot {
  constructor(
    readonly state: { [k: string]: Plain },
    /** page number -> its contents at snapshot time, for every page ever written */
    readonly pages: Map<number, Uint8Array>,
  ) {}
}

/** every page ever written before the current snapshot (kept across snapshots) */
const everWritten = new WeakMap<object, Uint8Array>();
/** the latest snapshot of each memory: only it can be restored (dirty bits are relative to it) */
const latest = new WeakMap<object, Snapshot>();

/** Take a snapshot of the machine as it is now. */
export function takeSnapshot(m: Machine): Snapshot {
  const mem = m.mem;
  let ever = everWritten.get(mem);
  if (ever === undefined) { ever = new Uint8Array(mem.dirty.length); everWritten.set(mem, ever); }
  const pages = new Map<number, Uint8Array>();
  const d = mem.dirty;
  for (let p = 0; p < d.length; p++) {
    if (d[p] !== 0) { ever[p] = 1; d[p] = 0; }
    if (ever[p] !== 0) pages.set(p, mem.u8.slice(p * 4096, p * 4096 + 4096));
  }
  const state = {
    cpu: capture(m.cpu, 0),
    machine: capture(m, 0),
    lapic: capture(m.lapic, 0),
    uart: capture(m.uart, 0),
    pic: capture(m.pic, 0),
    pit: capture(m.pit, 0),
    ioapic: capture(m.ioapic, 0),
    rtc: capture(m.rtc, 0),
    acpi: capture(m.acpi, 0),
    sysctl: capture(m.sysctl, 0),
    kbc: capture(m.kbc, 0),
    debugExit: capture(m.debugExit, 0),
    sched: capture(m.sched, 0),
    io: capture(m.io, 0),
    // the application processors and their APICs (CPU 0 and its APIC are above)
    aps: m.cpus.slice(1).map((c) => capture(c, 0)),
    apLapics: m.lapics.slice(1).map((l) => capture(l, 0)),
    // each CPU's TLB (derived state, but a restored run then translates as the original did)
    tlbs: m.cpus.map((c) => c.paging.saveTlb() as unknown as Plain),
  };
  const snap = new Snapshot(state as { [k: string]: Plain }, pages);
  latest.set(mem, snap);
  return snap;
}

/** Put the machine back in the state of `s` (taken from this machine). */
export function restoreSnapshot(m: Machine, s: Snapshot): void {
  const mem = m.mem;
  if (latest.get(mem) !== s) throw new Error('restoreSnapshot: only the latest snapshot of a machine can be restored');
  const d = mem.dirty;
  const ever = everWritten.get(mem)!;
  // the dirty marks four pages at a time where the array allows it (a replay dirties a few
  // pages of thousands)
  const words = d.byteOffset % 4 === 0 && d.length % 4 === 0 ? new Uint32Array(d.buffer, d.byteOffset, d.length >> 2) : null;
  for (let p = 0; p < d.length; p++) {
    if (words !== null && (p & 3) === 0 && words[p >> 2] === 0) { p += 3; continue; }
    if (d[p] === 0) continue;
    d[p] = 0;
    const page = s.pages.get(p);
    if (page !== undefined) mem.u8.set(page, p * 4096);
    else { mem.u8.fill(0, p * 4096, p * 4096 + 4096); ever[p] = 0; }
    if (mem.codePage[p]) mem.onCodeWrite(p);
  }
  applyState(m, s);
}

/** CPU k's TLB as the snapshot has it (flushed if the snapshot has none) */
function loadTlb(c: Cpu, k: number, s: Snapshot): void {
  const t = (s.state as unknown as { tlbs?: TlbState[] }).tlbs?.[k];
  if (t === undefined) c.paging.flushAll();
  else c.paging.loadTlb(t);
}

function applyState(m: Machine, s: Snapshot): void {
  const st = s.state as Record<string, { [k: string]: Plain }>;
  const watchBranches = m.cpu.perf.watchBranches;
  const apicBase = m.cpu.apicBase;
  restoreInto(m.cpu as unknown as Record<string, unknown>, st.cpu);
  restoreInto(m as unknown as Record<string, unknown>, st.machine);
  restoreInto(m.lapic as unknown as Record<string, unknown>, st.lapic);
  restoreInto(m.uart as unknown as Record<string, unknown>, st.uart);
  restoreInto(m.pic as unknown as Record<string, unknown>, st.pic);
  restoreInto(m.pit as unknown as Record<string, unknown>, st.pit);
  restoreInto(m.ioapic as unknown as Record<string, unknown>, st.ioapic);
  restoreInto(m.rtc as unknown as Record<string, unknown>, st.rtc);
  restoreInto(m.acpi as unknown as Record<string, unknown>, st.acpi);
  restoreInto(m.sysctl as unknown as Record<string, unknown>, st.sysctl);
  restoreInto(m.kbc as unknown as Record<string, unknown>, st.kbc);
  restoreInto(m.debugExit as unknown as Record<string, unknown>, st.debugExit);
  restoreInto(m.sched as unknown as Record<string, unknown>, st.sched);
  restoreInto(m.io as unknown as Record<string, unknown>, st.io);
  const aps = (s.state as unknown as { aps: { [k: string]: Plain }[]; apLapics: { [k: string]: Plain }[] });
  for (let k = 1; k < m.cpus.length; k++) {
    const ap = m.cpus[k];
    restoreInto(ap as unknown as Record<string, unknown>, aps.aps[k - 1]);
    restoreInto(m.lapics[k] as unknown as Record<string, unknown>, aps.apLapics[k - 1]);
    loadTlb(ap, k, s);
    ap.paging.asid = ap.guestMode ? ap.svm.asid : 0;
    ap.flushCodeCache();
    m.lapics[k].changed();
  }
  const c = m.cpu;
  loadTlb(c, 0, s);
  c.paging.asid = c.guestMode ? c.svm.asid : 0;
  c.flushFetch();
  // decoded branches carry the performance-counter wrappers or not (pmu.ts); the APIC window
  // follows APIC_BASE
  if (c.perf.watchBranches !== watchBranches) c.flushCodeCache();
  if (m.cpus.length > 1) m.placeApicFor(m.smp.current);
  else if (c.apicBase !== apicBase) m.placeApic();
}

/**
 * Make a snapshot taken on another machine (another process or worker: see snapshot-file.ts)
 * this machine's state. The machine must be built with the same options (RAM size, devices);
 * the snapshot becomes its latest, so restoreSnapshot works on it from then on.
 */
export function adoptSnapshot(m: Machine, s: Snapshot): void {
  const mem = m.mem;
  const pages = mem.dirty.length;
  for (const p of s.pages.keys()) if (p >= pages) throw new Error('adoptSnapshot: the snapshot is of a machine with more RAM');
  const ever = new Uint8Array(pages);
  mem.u8.fill(0);
  for (const [p, page] of s.pages) { mem.u8.set(page, p * 4096); ever[p] = 1; }
  mem.dirty.fill(0);
  for (let p = 0; p < pages; p++) if (mem.codePage[p]) mem.onCodeWrite(p);
  everWritten.set(mem, ever);
  latest.set(mem, s);
  applyState(m, s);
}

