// The browser lab's bundle: web/index.html and its modules (web/src/, which import the lab, the
// machine and the CPU straight from src/), the workers bundled as ES modules, into build/web/.
// web/serve.mjs serves it with the host and test images from build/ and the real Linux host's
// files from .cache/ (npm run web); the vite dev server (npx vite --config web/vite.config.mjs)
// serves the images and those files the same way (web/files.mjs).
import { createReadStream, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { emulatorSourceHash, fileFor, linuxManifest, mimeOf } from './files.mjs';

/** a Node built-in in the page's module graph is a mistake (it would be an empty stub): fail the build */
const noNodeBuiltins = {
  name: 'worldswitch-no-node-builtins',
  enforce: 'pre',
  resolveId(id, importer) {
    if (id.startsWith('node:')) this.error(`${importer ?? '?'} imports ${id}: the lab's modules must run in a browser`);
    return null;
  },
};

/** /images/... and /linux/... in the dev server, as web/serve.mjs serves them */
const images = {
  name: 'worldswitch-images',
  configureServer(server) {
    server.middlewares.use((req, res, next) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (!path.startsWith('/images/') && !path.startsWith('/linux/')) return next();
      if (path === '/linux/manifest.json') {
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.end(JSON.stringify(linuxManifest()));
        return;
      }
      const file = fileFor(path);
      if (file === null) { res.statusCode = 404; res.end('not found\n'); return; }
      res.setHeader('Content-Type', mimeOf(file));
      res.setHeader('Content-Length', String(statSync(file).size));
      createReadStream(file).pipe(res);
    });
  },
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  plugins: [noNodeBuiltins, images],
  // the emulator's sources this bundle holds: the real-Linux view uses a boot snapshot only if
  // the same sources took it (its .json says which: src/lab/linuxhost-cache.ts)
  define: { __WS_EMULATOR_SOURCE__: JSON.stringify(emulatorSourceHash()) },
  build: {
    outDir: fileURLToPath(new URL('../build/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // vega and vega-lite are most of the bundle; one chunk is fine for a local lab
    chunkSizeWarningLimit: 4096,
    sourcemap: true,
  },
  worker: { format: 'es', plugins: () => [noNodeBuiltins] },
});
