import { defineConfig } from 'vite';

export default defineConfig({
  // The engine's worker file sits beside edgewise's module; the dev server's dependency pre-bundling
  // would move the module away from it, so edgewise is served as it is installed.
  optimizeDeps: { exclude: ['edgewise'] },
  build: { target: 'es2022' },
  worker: { format: 'es' },
});
