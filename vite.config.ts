import { defineConfig } from 'vite';
import { resolve } from 'node:path';

// Cross-origin isolation lets pages use SharedArrayBuffer and threads (wllama, the peer in the
// benchmark page) and gives precise timers.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  server: { headers: isolation, fs: { allow: [resolve(__dirname), resolve(__dirname, '../shared')] } },
  preview: { headers: isolation },
  build: {
    target: 'es2022',
    rollupOptions: {
      input: {
        index: resolve(__dirname, 'index.html'),
      },
    },
  },
  worker: { format: 'es' },
});
