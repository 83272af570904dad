#!/usr/bin/env node
/**
 * A static file server for the browser lab on 127.0.0.1: the page as vite built it
 * (build/web/, `npm run web:build`) at /, and the images it boots under /images/:
 *
 *   /images/host.elf            build/host/host.elf   (guest/host/build.sh, `npm run host`)
 *   /images/guest/NAME.elf      build/guest/NAME.elf  (guest/build.sh, `npm run guest`)
 *
 *   node web/serve.mjs [port]      (port 0 or absent: the OS picks one)
 *
 * The first line on stdout is the lab's URL. Only regular files inside those directories are
 * served; anything else (directories, paths resolving outside them) is 404.
 */

import { createServer } from 'node:http';
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
const PAGE = join(ROOT, 'build', 'web');

/** URL prefix -> directory, most specific first */
const MOUNTS = [
  ['/images/guest/', join(ROOT, 'build', 'guest')],
  ['/images/', join(ROOT, 'build', 'host')],
  ['/', PAGE],
];

const MIME = {
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

export function serve(port = 0) {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const file = fileFor(path);
    if (file === null) {
      const hint = path === '/' || path === '/index.html' ? 'the page is not built: npm run web:build\n' : 'not found\n';
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(hint);
      return;
    }
    res.writeHead(200, {
      'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': statSync(file).size,
      'Cache-Control': 'no-store',
    });
    if (req.method === 'HEAD') { res.end(); return; }
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok(server));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = process.argv[2] ?? process.env.PORT ?? '0';
  const port = Number(arg);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`serve.mjs: '${arg}' is not a port number\n`);
    process.exit(2);
  }
  const server = await serve(port);
  process.stdout.write(`http://127.0.0.1:${server.address().port}/\n`);
}
