#!/usr/bin/env node
/**
 * A static file server for the browser lab on 127.0.0.1: the page as vite built it
 * (build/web/, `npm run web:build`) at /, and the images it boots under /images/:
 *
 *   /images/host.elf            build/host/host.elf   (guest/host/build.sh, `npm run host`)
 *   /images/guest/NAME.elf      build/guest/NAME.elf  (guest/build.sh, `npm run guest`)
 *   /linux/...                  the real Linux host's files from .cache/ (`npm run linux`):
 *                               manifest.json, System.map, boot snapshots, modules (files.mjs)
 *
 *   node web/serve.mjs [port]      (port 0 or absent: the OS picks one)
 *   WORLDSWITCH_CACHE=DIR          the real host's files from DIR instead of .cache/
 *
 * The first line on stdout is the lab's URL. Only regular files inside those directories are
 * served; anything else (directories, paths resolving outside them) is 404.
 */

import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileFor, linuxManifest, mimeOf } from './files.mjs';

export function serve(port = 0) {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/linux/manifest.json') {
      const body = JSON.stringify(linuxManifest());
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const file = fileFor(path);
    if (file === null) {
      const hint = path === '/' || path === '/index.html' ? 'the page is not built: npm run web:build\n' : 'not found\n';
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(hint);
      return;
    }
    res.writeHead(200, {
      'Content-Type': mimeOf(file),
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
