#!/usr/bin/env node
// The edgewise command: runs the TypeScript CLI (src/cli/main.ts) through tsx's loader, no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// Let piped stdout drain, then exit even if the GPU runtime keeps threads alive.
await new Promise((resolve) => process.stdout.write('', resolve));
process.exit(code);
