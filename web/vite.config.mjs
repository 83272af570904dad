// The browser lab's bundle: web/index.html and its modules (web/src/, which import the lab, the
// machine and the CPU straight from src/), the workers bundled as ES modules, into build/web/.
// web/serve.mjs serves it with the host and test images from build/ (npm run web); the vite dev
// server (npx vite --config web/vite.config.mjs) serves the images the same way.
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { fileFor } from './files.mjs';

/** a Node built-in in the page's module graph is a mistake (it would be an empty stub): fail the build */
const noNodeBuiltins = {
  name: 'worldswitch-no-node-builtins',
  enforce: 'pre',
  resolveId(id, importer) {
    if (id.startsWith('node:')) this.error(`${importer ?? '?'} imports ${id}: the lab's modules must run in a browser`);
    return null;
  },
};

/** /images/... in the dev server, as web/serve.mjs serves them */
const images = {
  name: 'worldswitch-images',
  configureServer(server) {
    server.middlewares.use((req, res, next) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (!path.startsWith('/images/')) return next();
      const file = fileFor(path);
      if (file === null) { res.statusCode = 404; res.end('not found\n'); return; }
      res.setHeader('Content-Type', 'application/octet-stream');
      createReadStream(file).pipe(res);
    });
  },
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  plugins: [noNodeBuiltins, images],
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
