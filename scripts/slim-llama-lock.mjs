// Keeps node-llama-cpp's install slim and `npm ci` offline-safe by editing package-lock.json.
//
// node-llama-cpp (our test oracle) lists every prebuilt llama.cpp flavour as an optional dependency.
// Left alone, `npm ci` on linux-x64 would fetch ~640 MB of them (CUDA, CUDA-ext, Vulkan, and the arm64
// and armv7l builds, which declare `cpu: [arm*, x64]`), and it refuses to run at all because eight of
// 3.22.1's flavours were never published: npm resolves them to nothing, writes no lock entry, and then
// reports them "Missing from lock file". The oracle only ever runs llama.cpp's CPU backend
// (`gpu: false`), so this script rewrites the lock entries of those optional packages:
//   - unpublished flavours get an entry with their real os/cpu, so npm skips them by platform and never
//     asks the registry for them;
//   - CPU flavours keep only their own cpu (linux-arm64 installs on arm64 machines, not on x64);
//   - GPU flavours (cuda, cuda-ext, vulkan, metal) get `os: ["none"]`, so npm never installs them.
// Run it after any `npm install` that re-resolves node-llama-cpp: `node scripts/slim-llama-lock.mjs`.
// It is idempotent and prints what it changed.

import { readFileSync, writeFileSync } from 'node:fs';

const lockUrl = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockUrl, 'utf8'));
const packages = lock.packages;
const oracle = packages['node_modules/node-llama-cpp'];
if (!oracle) throw new Error('slim-llama-lock: node-llama-cpp is not in package-lock.json');

const OS = { linux: 'linux', mac: 'darwin', win: 'win32' };
const CPU = { x64: 'x64', arm64: 'arm64', armv7l: 'arm', riscv64: 'riscv64' };

const changes = [];
for (const [name, version] of Object.entries(oracle.optionalDependencies ?? {})) {
  const flavour = name.replace('@node-llama-cpp/', '');
  const [osPart, cpuPart, ...gpuPart] = flavour.split('-');
  const os = OS[osPart], cpu = CPU[cpuPart];
  if (!os || !cpu) throw new Error(`slim-llama-lock: unknown flavour ${name}`);
  const key = `node_modules/${name}`;
  const before = JSON.stringify(packages[key] ?? null);
  // Keys in npm's own order (version, integrity, cpu, ..., optional, os), so a later install leaves no diff.
  const entry = packages[key] ?? { version, cpu: [], optional: true, os: [] };
  entry.cpu = [cpu];
  entry.optional = true;
  entry.os = gpuPart.length > 0 ? ['none'] : [os];
  packages[key] = entry;
  if (JSON.stringify(packages[key]) !== before) changes.push(`${flavour}: os ${entry.os}, cpu ${entry.cpu}${before === 'null' ? ' (new entry: not published)' : ''}`);
}

// npm writes the packages map sorted by path; keep that so a later `npm install` leaves no diff.
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b, 'en'))));
writeFileSync(lockUrl, JSON.stringify(lock, null, 2) + '\n');
console.log(changes.length ? `slim-llama-lock: ${changes.length} entries rewritten\n  ${changes.join('\n  ')}` : 'slim-llama-lock: already slim');
