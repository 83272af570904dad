/**
 * What web/serve.mjs (and the vite dev server, web/vite.config.mjs) serve: the page vite built
 * (build/web/) at /, the images it boots under /images/, and the real Linux host's files from
 * .cache/ (npm run linux) under /linux/, read-only and only these names:
 *
 *   /linux/manifest.json                 what is there (linuxManifest below), made per request
 *   /linux/System.map                    .cache/linux/System.map (the kernel's symbols)
 *   /linux/snapshots/kvmhost-HEX.snap    a boot snapshot (.cache/linux/snapshots/)
 *   /linux/kvm/DESIGN/kvm.ko             a design's modules (.cache/kvm/DESIGN/), for their
 *   /linux/kvm/DESIGN/kvm-amd.ko         symbols and section layout
 *
 * Only regular files; anything else (directories, other names, paths resolving outside their
 * directory) is null. Under / and /images/ the resolved file must be inside its directory's
 * resolved path; under /linux/ only the names above exist (a design is one checked path
 * component), and symlinks are followed (a worktree's .cache may link to another checkout's).
 */

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
const PAGE = join(ROOT, 'build', 'web');
/** the checkout's .cache/, or another (WORLDSWITCH_CACHE: a copy, or an empty one in a test) */
const CACHE = process.env.WORLDSWITCH_CACHE ? resolve(process.env.WORLDSWITCH_CACHE) : join(ROOT, '.cache');
const LINUX_DIR = join(CACHE, 'linux');
const SNAP_DIR = join(LINUX_DIR, 'snapshots');
const KVM_DIR = join(CACHE, 'kvm');

/** URL prefix -> directory, most specific first */
const MOUNTS = [
  ['/images/guest/', join(ROOT, 'build', 'guest')],
  ['/images/', join(ROOT, 'build', 'host')],
];

const isFile = (p) => { try { return statSync(p).isFile(); } catch { return false; } };

const DESIGN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const SNAPSHOT = /^kvmhost-[0-9a-f]{8,64}\.snap$/;

/** /linux/... path -> [directory, name inside it], or null: the known names only */
function linuxPath(rel) {
  if (rel === '/linux/System.map') return [LINUX_DIR, 'System.map'];
  let m = /^\/linux\/snapshots\/([^/]+)$/.exec(rel);
  if (m !== null) return SNAPSHOT.test(m[1]) ? [SNAP_DIR, m[1]] : null;
  m = /^\/linux\/kvm\/([^/]+)\/(kvm\.ko|kvm-amd\.ko)$/.exec(rel);
  if (m !== null) return DESIGN.test(m[1]) ? [KVM_DIR, join(m[1], m[2])] : null;
  return null;
}

export const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
  '.elf': 'application/octet-stream',
  '.elf64': 'application/octet-stream',
};

/** the Content-Type of a served file */
export function mimeOf(file) {
  if (basename(file) === 'System.map') return 'text/plain; charset=utf-8';
  const dot = basename(file).lastIndexOf('.');
  return (dot > 0 ? MIME[basename(file).slice(dot).toLowerCase()] : undefined) ?? 'application/octet-stream';
}

/** `name` inside `dir` when it is a regular file there (after symlinks), else null */
function inside(dir, name) {
  let base;
  let real;
  try {
    base = realpathSync(dir);
    real = realpathSync(join(base, name));
  } catch { return null; }
  // symlinks are followed, so check the resolved path, not the requested one
  if (!real.startsWith(base + sep)) return null;
  try { if (!statSync(real).isFile()) return null; } catch { return null; }
  return real;
}

/** the file a request path names, or null when it is not a regular file inside its mount */
export function fileFor(urlPath) {
  let rel;
  try { rel = decodeURIComponent(urlPath); } catch { return null; }
  if (rel.includes('\0')) return null;
  if (rel === '/') rel = '/index.html';
  if (rel.startsWith('/linux/')) {
    // the names are fixed or checked (a design is one path component, no "..": DESIGN), so
    // nothing in the URL can leave the directory; the files themselves may be symlinks (a
    // worktree's .cache links to the main checkout's), which are followed
    const l = linuxPath(rel);
    if (l === null) return null;
    const p = join(l[0], l[1]);
    return isFile(p) ? p : null;
  }
  for (const [prefix, dir] of MOUNTS) if (rel.startsWith(prefix)) return inside(dir, rel.slice(prefix.length));
  return inside(PAGE, rel.slice(1));
}

const hashes = new Map();

/** sha256 of a file, kept while its size and mtime stay the same */
function fileSha(p) {
  let st;
  try { st = statSync(p); } catch { return null; }
  const key = `${st.size} ${st.mtimeMs}`;
  const had = hashes.get(p);
  if (had !== undefined && had.key === key) return had.sha;
  const sha = createHash('sha256').update(readFileSync(p)).digest('hex');
  hashes.set(p, { key, sha });
  return sha;
}


/**
 * What the real-Linux view needs to know, as JSON: which of the host's files are there, the
 * boot snapshots with what they were taken from (src/lab/linuxhost.ts writes a .json beside
 * each: the emulator's source hash, the kernel's and the initramfs's sha256, the command line
 * and RAM size), whether they match the kernel and initramfs in .cache/linux now, and the
 * designs (module sets) built. `missing` says what is absent and which command makes it.
 */
export function linuxManifest() {
  const kernel = join(LINUX_DIR, 'vmlinuz');
  const initrd = join(LINUX_DIR, 'kvmhost.cpio');
  const systemMap = join(LINUX_DIR, 'System.map');
  const kernelSha = fileSha(kernel);
  const initrdSha = fileSha(initrd);
  const snapshots = [];
  let names = [];
  try { names = readdirSync(SNAP_DIR).filter((n) => SNAPSHOT.test(n)).sort(); } catch { /* none */ }
  for (const name of names) {
    const file = inside(SNAP_DIR, name);
    if (file === null) continue;
    let meta = {};
    try { meta = JSON.parse(readFileSync(`${file}.json`, 'utf8')); } catch { /* no description: not usable */ }
    snapshots.push({
      name, url: `/linux/snapshots/${name}`, bytes: statSync(file).size,
      bootInsns: meta.bootInsns ?? null, bootMs: meta.bootMs ?? null, source: meta.source ?? null, cmdline: meta.cmdline ?? null,
      memSize: meta.memSize ?? null, cpus: meta.cpus ?? 1, current: kernelSha !== null && meta.kernel === kernelSha && initrdSha !== null && meta.initrd === initrdSha,
    });
  }
  let designs = [];
  try {
    designs = readdirSync(KVM_DIR).filter((d) => DESIGN.test(d) && isFile(join(KVM_DIR, d, 'kvm.ko')) && isFile(join(KVM_DIR, d, 'kvm-amd.ko'))).sort();
  } catch { /* none built */ }
  let missing = null;
  if (!isFile(systemMap) || kernelSha === null || initrdSha === null) missing = 'the real host\'s kernel, System.map or initramfs is not in .cache/linux/: run npm run linux';
  else if (designs.length === 0) missing = 'no kvm.ko/kvm-amd.ko in .cache/kvm/<design>/: run npm run linux (it builds the modules)';
  else if (!snapshots.some((s) => s.current)) missing = 'no boot snapshot of this kernel and initramfs in .cache/linux/snapshots/: run npx worldswitch bench --host linux --designs vmload --iterations 4 (after npm run build) to take one';
  return { missing, systemMap: isFile(systemMap) ? '/linux/System.map' : null, snapshots, designs };
}

/** src/ of the emulator as src/lab/snapshot-file.ts's emulatorSourceHash walks it (a test compares them) */
const SOURCE_DIRS = ['x86', 'cpu', 'svm', 'machine', 'cost'];
const SOURCE_FILES = ['lab/snapshot.ts', 'lab/snapshot-codec.ts'];

/** the same hash as emulatorSourceHash() (src/lab/snapshot-file.ts), for the page's build */
export function emulatorSourceHash() {
  const src = join(ROOT, 'src');
  if (!existsSync(join(src, 'cpu'))) return null;
  const h = createHash('sha256');
  const walk = (dir, rel) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p, `${rel}${name}/`);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) { h.update(`${rel}${name}\n`); h.update(readFileSync(p)); }
    }
  };
  for (const d of SOURCE_DIRS) walk(join(src, d), `${d}/`);
  for (const f of SOURCE_FILES) { h.update(`${f}\n`); h.update(readFileSync(join(src, f))); }
  return h.digest('hex');
}
