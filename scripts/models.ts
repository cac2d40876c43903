// `npm run models [id ...]`: places model files from models/registry.json in models/ (git-ignored), where
// the dev server serves them. With no ids, the default model. Each file is copied from ../shared/models
// when that folder has it, else downloaded from the Hugging Face hub; files with a known sha256 are
// checked, and a file already in place is kept when it checks out.
//   --list   print the registry and what is already in models/
// Environment: HF_ENDPOINT (a hub mirror, default https://huggingface.co); EDGEWISE_MODELS_DIR and
// EDGEWISE_SHARED_MODELS move models/ and ../shared/models (tests use them).

import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { hubUrl, localName, registry, type RegistryFile, type RegistryModel } from '../src/ui/registry.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = process.env.EDGEWISE_MODELS_DIR ?? join(root, 'models');
const sharedDir = process.env.EDGEWISE_SHARED_MODELS ?? join(root, '..', 'shared', 'models');
const hub = process.env.HF_ENDPOINT;

function mb(n: number): string {
  return `${(n / 1e6).toFixed(n < 1e7 ? 2 : 0)} MB`;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Whether the file at `path` is the registry's file (sha256 when known, exact size when known). */
async function matches(path: string, f: RegistryFile): Promise<boolean> {
  if (!existsSync(path)) return false;
  if (f.sha256) return (await sha256(path)) === f.sha256;
  if (f.checked === 'exact') return statSync(path).size === f.bytes;
  return statSync(path).size > 0;
}

async function download(url: string, dest: string): Promise<void> {
  const res = await fetch(url, { redirect: 'follow' });
  if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  let done = 0;
  let lastPrint = 0;
  const t0 = Date.now();
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (c: Buffer) => {
    done += c.length;
    const now = Date.now();
    if (process.stderr.isTTY && now - lastPrint > 250) {
      lastPrint = now;
      const rate = done / Math.max(0.001, (now - t0) / 1000);
      process.stderr.write(`\r  ${mb(done)}${total ? ` / ${mb(total)}` : ''} at ${mb(rate)}/s   `);
    }
  });
  const part = `${dest}.part`;
  try {
    await pipeline(body, createWriteStream(part));
  } catch (e) {
    rmSync(part, { force: true });
    throw e;
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  renameSync(part, dest);
}

async function place(f: RegistryFile): Promise<void> {
  const name = localName(f);
  const dest = join(modelsDir, name);
  if (await matches(dest, f)) {
    console.log(`  ${name}: already in models/`);
    return;
  }
  const shared = [join(sharedDir, name), join(sharedDir, f.path.slice(f.path.lastIndexOf('/') + 1))].find((p) => existsSync(p));
  if (shared && (await matches(shared, f))) {
    rmSync(dest, { force: true });
    copyFileSync(shared, dest);
    chmodSync(dest, 0o644);
    console.log(`  ${name}: copied from ${shared}`);
    return;
  }
  const url = hubUrl(f, hub);
  console.log(`  ${name}: downloading ${url} (${f.checked === 'exact' ? '' : 'about '}${mb(f.bytes)})`);
  await download(url, dest);
  if (f.sha256) {
    const got = await sha256(dest);
    if (got !== f.sha256) {
      rmSync(dest, { force: true });
      throw new Error(`${name}: sha256 ${got} is not the registry's ${f.sha256}; the download was removed`);
    }
  }
  console.log(`  ${name}: ${mb(statSync(dest).size)} in models/`);
}

function list(): void {
  for (const m of registry.models) {
    const files = [m.files.model, ...(m.files.mmproj ? [m.files.mmproj] : [])];
    const here = files.every((f) => existsSync(join(modelsDir, localName(f))) || existsSync(join(sharedDir, localName(f))));
    const def = m.id === registry.default ? ' (default)' : '';
    console.log(`${here ? '*' : ' '} ${m.id.padEnd(16)} ${m.label}${def}: ${files.map((f) => `${localName(f)} ${mb(f.bytes)} [${f.checked}]`).join(' + ')}`);
  }
  console.log('* = available to the dev server (models/ or ../shared/models)');
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--list')) {
    list();
    return 0;
  }
  const ids = argv.length ? argv : [registry.default];
  const picked: RegistryModel[] = [];
  for (const id of ids) {
    const m = registry.models.find((x) => x.id === id);
    if (!m) {
      console.error(`models: unknown model '${id}' (known: ${registry.models.map((x) => x.id).join(', ')})`);
      return 2;
    }
    picked.push(m);
  }
  mkdirSync(modelsDir, { recursive: true });
  let failed = 0;
  for (const m of picked) {
    console.log(`${m.label} (${m.id})`);
    for (const f of [m.files.model, ...(m.files.mmproj ? [m.files.mmproj] : [])]) {
      try {
        await place(f);
      } catch (e) {
        failed++;
        console.error(`  ${localName(f)}: ${(e as Error).message}`);
      }
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
