// The browser lab's bundle: web/index.html and its modules (web/src/, which import the lab, the
// machine and the CPU straight from src/), the workers bundled as ES modules, into build/web/.
// web/serve.mjs serves it with the host and test images from build/.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../build/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // vega and vega-lite are most of the bundle; one chunk is fine for a local lab
    chunkSizeWarningLimit: 4096,
    sourcemap: true,
  },
  worker: { format: 'es' },
});
