#!/usr/bin/env node
/**
 * A static file server for the browser lab: serves the repository root (dist/, build/, web/)
 * on 127.0.0.1 so web/index.html can import ../dist/*.js as ES modules and fetch the images.
 *
 *   node web/serve.mjs [port]      (port 0 or absent: the OS picks one)
 *
 * The first line on stdout is the lab's URL. Only regular files inside the repository are
 * served (/ and /web redirect to /web/, which is web/index.html); other directories and anything
 * resolving outside the repository are 404.
 */

import { createServer } from 'node:http';
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), '..'));

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

/** the file a request path names, or null when it is not a regular file inside ROOT */
function fileFor(urlPath) {
  let rel;
  try { rel = decodeURIComponent(urlPath); } catch { return null; }
  if (rel.includes('\0')) return null;
  if (rel === '/web/') rel = '/web/index.html';
  let real;
  try { real = realpathSync(join(ROOT, rel)); } catch { return null; }
  // symlinks are followed, so check the resolved path, not the requested one
  if (real !== ROOT && !real.startsWith(ROOT + sep)) return null;
  try { if (!statSync(real).isFile()) return null; } catch { return null; }
  return real;
}

export function serve(port = 0) {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    // the page's relative imports need its own URL, so / and /web redirect rather than serve
    if (path === '/' || path === '/web') {
      res.writeHead(302, { Location: '/web/' }).end();
      return;
    }
    const file = fileFor(path);
    if (file === null) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
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
  process.stdout.write(`http://127.0.0.1:${server.address().port}/web/index.html\n`);
}
