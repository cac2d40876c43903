// The library build (npm run build:lib), run once per platform:
//   --mode browser -> dist/browser/: what bundlers and browsers import (the package's default condition)
//   --mode node    -> dist/node/:    what Node imports (the 'node' condition), plus the CLI
// Both are ES modules with the package's dependencies left as imports. The engine worker is its own file
// (dist/*/assets/engine-worker-*.js, self-contained) that index.js starts with
// `new Worker(new URL('./assets/engine-worker-*.js', import.meta.url))`: found beside the module at run
// time and by bundlers, never inlined as a data: or blob: URL, so pages with a strict CSP can start it.
// The browser build replaces src/api/node-platform.ts (node:fs paths, the directory model cache) with
// its browser stand-in, so no node:* import reaches a browser bundle.
import { defineConfig, type Plugin } from 'vite';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
const deps = Object.keys(pkg.dependencies ?? {});
const external = (id: string) => id.startsWith('node:') || deps.some((d) => id === d || id.startsWith(`${d}/`));

function browserPlatform(): Plugin {
  const nodeOnly = resolve(root, 'src/api/node-platform.ts');
  return {
    name: 'edgewise-browser-platform',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      const r = await this.resolve(source, importer, { ...options, skipSelf: true });
      if (r && r.id === nodeOnly) return resolve(root, 'src/api/node-platform.browser.ts');
      return r;
    },
  };
}

export default defineConfig(({ mode }) => {
  if (mode !== 'browser' && mode !== 'node') throw new Error(`vite.lib.config.ts: --mode browser or --mode node, got ${mode}`);
  const browser = mode === 'browser';
  const entry: Record<string, string> = { index: resolve(root, 'src/index.ts') };
  if (!browser) entry.cli = resolve(root, 'src/cli/main.ts');
  return {
    base: './',
    publicDir: false,
    plugins: browser ? [browserPlatform()] : [],
    worker: { format: 'es', plugins: () => (browser ? [browserPlatform()] : []) },
    build: {
      target: 'es2022',
      outDir: resolve(root, 'dist', mode),
      emptyOutDir: true,
      minify: false,
      sourcemap: true,
      lib: { entry, formats: ['es'] },
      rollupOptions: {
        external,
        // The node build keeps node:* imports on purpose; Vite's note that a browser could not load them is noise there.
        onLog(level, log, handler) {
          if (!browser && log.message.includes('externalized for browser compatibility')) return;
          handler(level, log);
        },
      },
    },
  };
});
