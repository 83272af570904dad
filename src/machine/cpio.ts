/**
 * The "newc" cpio format (the Linux initramfs format, Documentation/driver-api/early-userspace/
 * buffer-format.rst): each entry is a 110-byte ASCII header, "070701" and thirteen 8-digit hex
 * fields (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
 * rdevminor, namesize including the NUL, check), then the name and its NUL padded to a multiple
 * of 4 bytes from the header's start, then the data padded to 4 bytes. "TRAILER!!!" ends the
 * archive. "070702" is the same with a checksum of the data's bytes in `check`.
 *
 * `writeCpio` builds an archive from a list of entries; `checkCpio` walks one and says what is
 * wrong with it (the loaders refuse a corrupt uncompressed initramfs before booting).
 */

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number };

const HEADER = 110;
const TRAILER = 'TRAILER!!!';

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** a newc archive of `entries` (paths without a leading '/'; parents are not added for you) */
export function writeCpio(entries: CpioEntry[], mtime = 0): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let total = 0;
  const push = (b: Uint8Array) => { parts.push(b); total += b.length; };
  const entry = (ino: number, mode: number, data: Uint8Array, name: string, rmaj = 0, rmin = 0) => {
    const nameBytes = enc.encode(name + '\0');
    const fields = [ino, mode, 0, 0, (mode & 0o170000) === S_IFDIR ? 2 : 1, mtime, data.length, 0, 0, rmaj, rmin, nameBytes.length, 0];
    push(enc.encode('070701' + fields.map(hex8).join('')));
    push(nameBytes);
    push(new Uint8Array(pad4(HEADER + nameBytes.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };
  entries.forEach((e, k) => {
    const path = e.path.replace(/^\/+/, '');
    if (path === '' || path === TRAILER) throw new Error(`cpio: bad path '${e.path}'`);
    const ino = k + 1;
    switch (e.type) {
      case 'dir': entry(ino, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0), path); break;
      case 'file': entry(ino, S_IFREG | (e.mode ?? 0o644), e.data, path); break;
      case 'symlink': entry(ino, S_IFLNK | 0o777, enc.encode(e.target), path); break;
      case 'chardev': entry(ino, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(0), path, e.major, e.minor); break;
    }
  });
  entry(0, 0, new Uint8Array(0), TRAILER);
  // the kernel reads the archive in 512-byte blocks from an initrd; pad like cpio does
  push(new Uint8Array(pad4(total) + ((512 - ((total + pad4(total)) % 512)) % 512)));
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

export interface CpioMember {
  name: string;
  mode: number;
  size: number;
  /** offset of the data in the archive */
  offset: number;
}

/** the first bytes of the compressed formats the kernel can unpack an initramfs from */
const COMPRESSED: [string, number[]][] = [
  ['gzip', [0x1f, 0x8b]], ['bzip2', [0x42, 0x5a, 0x68]], ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['lzma', [0x5d, 0x00, 0x00]], ['zstd', [0x28, 0xb5, 0x2f, 0xfd]], ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
];

export function compressionOf(b: Uint8Array): string | null {
  for (const [name, magic] of COMPRESSED) if (magic.every((v, k) => b[k] === v)) return name;
  return null;
}

export function isCpio(b: Uint8Array): boolean {
  return b.length >= 6 && String.fromCharCode(...b.subarray(0, 6)).match(/^07070[12]$/) !== null;
}

/**
 * Walk a newc archive (several may follow each other, separated by zero padding, as the kernel
 * accepts) and return its members; throws an Error with one line saying what is wrong.
 */
export function parseCpio(b: Uint8Array): CpioMember[] {
  const members: CpioMember[] = [];
  const dec = new TextDecoder();
  let off = 0;
  let sawTrailer = false;
  while (off < b.length) {
    if (b[off] === 0) { off++; continue; } // padding between archives
    if (sawTrailer && compressionOf(b.subarray(off)) !== null) break; // a compressed archive follows
    if (off + HEADER > b.length) throw new Error(`cpio: truncated header at offset ${off}`);
    const magic = dec.decode(b.subarray(off, off + 6));
    if (magic !== '070701' && magic !== '070702') throw new Error(`cpio: bad magic '${magic.replace(/[^\x20-\x7e]/g, '?')}' at offset ${off} (newc archives start with 070701)`);
    const field = (k: number) => {
      const s = dec.decode(b.subarray(off + 6 + 8 * k, off + 14 + 8 * k));
      if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new Error(`cpio: header field ${k} at offset ${off} is not hexadecimal`);
      return parseInt(s, 16);
    };
    const mode = field(1);
    const size = field(6);
    const namesize = field(11);
    if (namesize === 0) throw new Error(`cpio: empty name at offset ${off}`);
    const nameEnd = off + HEADER + namesize;
    if (nameEnd > b.length) throw new Error(`cpio: name at offset ${off} runs past the end`);
    if (b[nameEnd - 1] !== 0) throw new Error(`cpio: name at offset ${off} is not NUL-terminated`);
    const name = dec.decode(b.subarray(off + HEADER, nameEnd - 1));
    const data = nameEnd + pad4(HEADER + namesize);
    if (data + size > b.length) throw new Error(`cpio: member '${name}' (${size} bytes) runs past the end of the archive`);
    off = data + size + pad4(size);
    if (name === TRAILER) { sawTrailer = true; continue; }
    sawTrailer = false;
    members.push({ name, mode, size, offset: data });
  }
  if (!sawTrailer) throw new Error('cpio: no TRAILER!!! entry at the end (truncated archive?)');
  return members;
}
