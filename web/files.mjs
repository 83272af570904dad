/**
 * What web/serve.mjs (and the vite dev server, web/vite.config.mjs) serve: the page vite built
 * (build/web/) at /, and the images it boots under /images/. Only regular files inside those
 * directories; anything else (directories, paths resolving outside them) is null.
 */

import { realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
const PAGE = join(ROOT, 'build', 'web');

/** URL prefix -> directory, most specific first */
const MOUNTS = [
  ['/images/guest/', join(ROOT, 'build', 'guest')],
  ['/images/', join(ROOT, 'build', 'host')],
  ['/', PAGE],
];

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

/** the file a request path names, or null when it is not a regular file inside its mount */
export function fileFor(urlPath) {
  let rel;
  try { rel = decodeURIComponent(urlPath); } catch { return null; }
  if (rel.includes('\0')) return null;
  if (rel === '/') rel = '/index.html';
  for (const [prefix, dir] of MOUNTS) {
    if (!rel.startsWith(prefix)) continue;
    let base;
    let real;
    try {
      base = realpathSync(dir);
      real = realpathSync(join(base, rel.slice(prefix.length)));
    } catch { return null; }
    // symlinks are followed, so check the resolved path, not the requested one
    if (!real.startsWith(base + sep)) return null;
    try { if (!statSync(real).isFile()) return null; } catch { return null; }
    return real;
  }
  return null;
}
