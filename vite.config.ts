import { defineConfig } from 'vite';
import { resolve } from 'node:path';
import { serveModels } from './scripts/serve-models.ts';

// Cross-origin isolation lets pages use SharedArrayBuffer and threads (wllama, the peer in the
// benchmark page) and gives precise timers.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  // Model weights (git-ignored) are served at /models/ from models/ and, when present, ../shared/models.
  plugins: [serveModels([resolve(__dirname, 'models'), resolve(__dirname, '../shared/models')])],
  server: { headers: isolation, fs: { allow: [resolve(__dirname), resolve(__dirname, '../shared')] } },
  preview: { headers: isolation },
  build: {
    target: 'es2022',
    rollupOptions: {
      input: {
        index: resolve(__dirname, 'index.html'),
        kernels: resolve(__dirname, 'kernels.html'),
        bench: resolve(__dirname, 'bench.html'),
      },
    },
  },
  worker: { format: 'es' },
});
