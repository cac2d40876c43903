#!/usr/bin/env node
// The edgewise command. In a checkout (src/ beside bin/) it runs the TypeScript CLI (src/cli/main.ts)
// through tsx's loader, no build step; in the installed package, which ships only dist/, it runs the
// built CLI (dist/node/cli.js, made by npm run build:lib).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/node/cli.js'));
}
const code = await main(process.argv.slice(2));
// Let piped stdout drain, then exit even if the GPU runtime keeps threads alive.
await new Promise((resolve) => process.stdout.write('', resolve));
process.exit(code);
