/**
 * A machine snapshot as bytes and back, with no Node or DOM API: the format of the real host's
 * boot snapshot file (.cache/linux/snapshots/*.snap, written by snapshot-file.ts), which the
 * browser lab's worker decodes too, and of the snapshots verify hands to its worker threads.
 *
 *   "worldswitch-snap" (16 bytes ASCII), u32 version (2), u32 page count,
 *   the state as one tagged value (below), then per page: u32 page number, 4096 bytes.
 *
 * Values: u8 tag, then 0 undefined, 1 null, 2 false, 3 true, 4 f64, 5 string (u32 byte length,
 * UTF-8), 6 array (u32 count, values), 7 object (u32 count, then key string and value each),
 * 8 typed array (u8 kind, u32 byte length, the bytes in the host's byte order: little-endian on
 * every machine this runs on; the decoder refuses a big-endian host), 9 int32.
 * Integers are little-endian. Pages that are all zeros are left out by the caller (adopting a
 * snapshot zeroes the rest of RAM). Decoded pages are views into the given bytes (no copy).
 */

import { Snapshot } from './snapshot.js';

const MAGIC = 'worldswitch-snap';
const VERSION = 2;
const PAGE = 4096;

const enum Tag { Undef = 0, Null = 1, False = 2, True = 3, F64 = 4, Str = 5, Arr = 6, Obj = 7, Typed = 8, I32 = 9 }

type TypedCtor = { new (b: ArrayBuffer): ArrayBufferView; readonly BYTES_PER_ELEMENT: number; readonly name: string };
const KINDS: TypedCtor[] = [
  Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array,
  Uint8ClampedArray, BigInt64Array, BigUint64Array,
];

class Writer {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  u8(v: number): void { this.room(1); this.buf[this.len++] = v; }
  u32(v: number): void { this.room(4); this.dv.setUint32(this.len, v, true); this.len += 4; }
  i32(v: number): void { this.room(4); this.dv.setInt32(this.len, v, true); this.len += 4; }
  f64(v: number): void { this.room(8); this.dv.setFloat64(this.len, v, true); this.len += 8; }
  bytes(b: Uint8Array): void { this.room(b.length); this.buf.set(b, this.len); this.len += b.length; }
  result(): Uint8Array { return this.buf.subarray(0, this.len); }
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

function writeString(w: Writer, s: string): void {
  const b = enc.encode(s);
  w.u32(b.length);
  w.bytes(b);
}

function writeValue(w: Writer, v: unknown, path: string): void {
  if (v === undefined) w.u8(Tag.Undef);
  else if (v === null) w.u8(Tag.Null);
  else if (v === false) w.u8(Tag.False);
  else if (v === true) w.u8(Tag.True);
  else if (typeof v === 'number') {
    if ((v | 0) === v && !Object.is(v, -0)) { w.u8(Tag.I32); w.i32(v); } else { w.u8(Tag.F64); w.f64(v); }
  } else if (typeof v === 'string') { w.u8(Tag.Str); writeString(w, v); }
  else if (Array.isArray(v)) {
    w.u8(Tag.Arr);
    w.u32(v.length);
    for (let k = 0; k < v.length; k++) writeValue(w, v[k], `${path}[${k}]`);
  } else if (ArrayBuffer.isView(v)) {
    const kind = KINDS.findIndex((c) => v.constructor === c);
    if (kind < 0) throw new Error(`snapshot: ${path} is a ${v.constructor.name}, which the snapshot format does not hold`);
    w.u8(Tag.Typed);
    w.u8(kind);
    w.u32(v.byteLength);
    w.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  } else if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const keys = Object.keys(v);
    w.u8(Tag.Obj);
    w.u32(keys.length);
    for (const k of keys) { writeString(w, k); writeValue(w, (v as Record<string, unknown>)[k], `${path}.${k}`); }
  } else {
    throw new Error(`snapshot: ${path} (${typeof v}) is not plain data`);
  }
}

/** the snapshot as bytes; `pages` are the pages to keep (all of them unless the caller filters) */
export function encodeSnapshot(s: Snapshot, keep: (page: Uint8Array) => boolean = () => true): Uint8Array {
  const st = new Writer();
  writeValue(st, s.state, 'state');
  const state = st.result();
  const pages: [number, Uint8Array][] = [];
  for (const [p, page] of s.pages) {
    if (page.length !== PAGE) throw new Error(`snapshot: page ${p} is ${page.length} bytes`);
    if (keep(page)) pages.push([p, page]);
  }
  const out = new Uint8Array(MAGIC.length + 8 + state.length + pages.length * (4 + PAGE));
  const dv = new DataView(out.buffer);
  out.set(enc.encode(MAGIC), 0);
  let o = MAGIC.length;
  dv.setUint32(o, VERSION, true);
  dv.setUint32(o + 4, pages.length, true);
  o += 8;
  out.set(state, o);
  o += state.length;
  for (const [p, page] of pages) {
    dv.setUint32(o, p, true);
    out.set(page, o + 4);
    o += 4 + PAGE;
  }
  return out;
}

class Reader {
  private readonly dv: DataView;
  pos = 0;
  constructor(readonly b: Uint8Array) { this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength); }
  need(n: number): void { if (this.pos + n > this.b.length) throw new Error('snapshot: the file is truncated'); }
  u8(): number { this.need(1); return this.b[this.pos++]; }
  u32(): number { this.need(4); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  i32(): number { this.need(4); const v = this.dv.getInt32(this.pos, true); this.pos += 4; return v; }
  f64(): number { this.need(8); const v = this.dv.getFloat64(this.pos, true); this.pos += 8; return v; }
  view(n: number): Uint8Array { this.need(n); const v = this.b.subarray(this.pos, this.pos + n); this.pos += n; return v; }
  str(): string { return dec.decode(this.view(this.u32())); }
}

function readValue(r: Reader, depth: number): unknown {
  if (depth > 64) throw new Error('snapshot: values nested too deep');
  const tag = r.u8();
  switch (tag) {
    case Tag.Undef: return undefined;
    case Tag.Null: return null;
    case Tag.False: return false;
    case Tag.True: return true;
    case Tag.F64: return r.f64();
    case Tag.I32: return r.i32();
    case Tag.Str: return r.str();
    case Tag.Arr: {
      const n = r.u32();
      r.need(n); // at least a tag each: a damaged count fails here, not in a huge allocation
      const a: unknown[] = new Array(n);
      for (let k = 0; k < n; k++) a[k] = readValue(r, depth + 1);
      return a;
    }
    case Tag.Obj: {
      const n = r.u32();
      r.need(n * 5);
      const o: Record<string, unknown> = {};
      for (let k = 0; k < n; k++) {
        const key = r.str();
        const v = readValue(r, depth + 1);
        // own data properties only: a key such as "__proto__" must not reach the prototype
        Object.defineProperty(o, key, { value: v, writable: true, enumerable: true, configurable: true });
      }
      return o;
    }
    case Tag.Typed: {
      const kind = r.u8();
      const C = KINDS[kind];
      if (C === undefined) throw new Error(`snapshot: unknown typed array kind ${kind}`);
      const n = r.u32();
      if (n % C.BYTES_PER_ELEMENT !== 0) throw new Error(`snapshot: a ${C.name} of ${n} bytes`);
      // its own, aligned buffer (not .slice(): on a Node Buffer that is a view of the same memory)
      const copy = new Uint8Array(n);
      copy.set(r.view(n));
      return new C(copy.buffer);
    }
    default: throw new Error(`snapshot: unknown value tag ${tag} at byte ${r.pos - 1}`);
  }
}

/** a snapshot from `encodeSnapshot`'s bytes; throws on anything else (a damaged or foreign file) */
export function decodeSnapshot(b: Uint8Array): Snapshot {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('snapshot: the format is little-endian and this host is not');
  const r = new Reader(b);
  let magic = '';
  try { magic = new TextDecoder().decode(r.view(MAGIC.length)); } catch { /* too short: below */ }
  if (magic !== MAGIC) throw new Error('not a worldswitch snapshot');
  const version = r.u32();
  if (version !== VERSION) throw new Error(`a worldswitch snapshot of format ${version} (this build reads ${VERSION})`);
  const count = r.u32();
  const state = readValue(r, 0);
  if (state === null || typeof state !== 'object' || Array.isArray(state)) throw new Error('snapshot: the state is not an object');
  if (b.length - r.pos !== count * (4 + PAGE)) throw new Error(`snapshot: ${count} pages announced, ${b.length - r.pos} bytes left`);
  const pages = new Map<number, Uint8Array>();
  for (let k = 0; k < count; k++) {
    const p = r.u32();
    pages.set(p, r.view(PAGE));
  }
  return new Snapshot(state as Snapshot['state'], pages);
}
