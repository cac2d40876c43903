// The published package, as a user gets it: `npm run build:lib`, `npm pack`, the tarball's file list,
// then a scratch consumer project that installs the tarball (offline) and
//   - typechecks a .ts file that imports 'edgewise' (createEngine, request/response types) with our tsc
//     and skipLibCheck off, so the shipped declarations themselves must check;
//   - runs it in Node: the in-thread engine streams a greedy chat completion from stories260K;
//   - runs `npx edgewise generate` from the tarball (the built CLI, no tsx, no src/);
//   - builds examples/vanilla with Vite against the installed package, serves the build, and runs it in
//     headless Chromium under its CSP: the model comes over HTTP, the story streams into the page; then
//     the page reloads with the model URL aborted by Playwright and loads the model from Cache Storage
//     (the server sees no second request) and writes the same story.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, relative } from 'node:path';
import { launchBrowser, root } from './harness.mjs';

const MODEL_FILE = ['models/stories260K.gguf', '../shared/models/stories260K.gguf'].map((p) => join(root, p)).find((p) => existsSync(p));
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
const gpuEnv = { ...process.env, NODEVICE_SELECT: '1', ...(!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER) ? { VK_ICD_FILENAMES: SWIFTSHADER } : {}) };
const npm = (args, cwd, env = process.env) => execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Install the tarball like a user; where npm's offline cache lacks a dependency, unpack it and link ours. */
function install(consumer, tarball, deps) {
  try {
    npm(['install', tarball, '--offline', '--ignore-scripts', '--no-package-lock'], consumer);
    return 'npm install --offline';
  } catch (e) {
    if (!/ENOTCACHED|ETARGET|offline/i.test(String(e.stderr ?? e))) throw e;
  }
  const dest = join(consumer, 'node_modules', 'edgewise');
  mkdirSync(dest, { recursive: true });
  execFileSync('tar', ['xzf', tarball, '-C', dest, '--strip-components=1']);
  for (const d of deps) link(consumer, d);
  // What npm does for the package's bin.
  mkdirSync(join(consumer, 'node_modules/.bin'), { recursive: true });
  symlinkSync('../edgewise/bin/edgewise.mjs', join(consumer, 'node_modules/.bin/edgewise'));
  return 'unpacked, dependencies linked (npm cache lacked them)';
}

function link(consumer, name) {
  const target = join(consumer, 'node_modules', name);
  if (existsSync(target)) return;
  mkdirSync(join(target, '..'), { recursive: true });
  symlinkSync(join(root, 'node_modules', name), target, 'dir');
}

const CONSUMER_TS = `
import { createEngine, ApiError, type ChatCompletionChunk, type ChatCompletionRequest, type Engine, type LoadModelOptions, type ModelInfo, type Usage } from 'edgewise';

const engine: Engine = createEngine();
const stages: string[] = [];
const load: LoadModelOptions = { model: process.argv[2], contextLength: 64, onProgress: (p) => { stages.push(p.stage); } };
const info: ModelInfo = await engine.loadModel(load);
const req: ChatCompletionRequest & { stream: true } = { messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 8, temperature: 0, stream: true };
let text = '';
let usage: Usage | undefined;
for await (const chunk of await engine.chat.completions.create(req)) {
  const c: ChatCompletionChunk = chunk;
  text += c.choices[0].delta.content ?? '';
  usage = c.usage ?? usage;
}
const err = await engine.chat.completions.create({ messages: [] }).catch((e: unknown) => e);
console.log(JSON.stringify({ id: info.id, stages, text, usage, inThread: engine.constructor.name, apiError: err instanceof ApiError ? err.body.error.code : null }));
await engine.dispose();
`;

/** A static server for the built example plus the model, counting model requests. */
async function serve(dir, modelFile) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };
  const counts = { model: 0 };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path === '/models/stories260K.gguf') {
      counts.model++;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(modelFile).size });
      res.end(readFileSync(modelFile));
      return;
    }
    const file = join(dir, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dir) || !existsSync(file) || statSync(file).isDirectory()) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, counts, url: `http://127.0.0.1:${server.address().port}` };
}

test('the packed package installs, typechecks, runs in Node and from its CLI, and builds and runs the example', { timeout: 1_500_000 }, async () => {
  assert.ok(MODEL_FILE, 'stories260K.gguf not found in models/ or ../shared/models');
  const work = mkdtempSync(join(tmpdir(), 'edgewise-package-'));
  try {
    // ---- build and pack --------------------------------------------------------------------------
    npm(['run', 'build:lib'], root);
    const browserJs = walk(join(root, 'dist/browser')).filter((f) => f.endsWith('.js'));
    for (const f of browserJs) {
      assert.doesNotMatch(readFileSync(f, 'utf8'), /from\s*["']node:|import\(\s*["']node:/, `${relative(root, f)} imports a node: module`);
    }
    const index = readFileSync(join(root, 'dist/browser/index.js'), 'utf8');
    const worker = /new Worker\(new URL\(\s*(?:\/\*[^*]*\*\/\s*)?new URL\("(assets\/engine-worker-[\w-]+\.js)", import\.meta\.url\)/.exec(index);
    assert.ok(worker, 'dist/browser/index.js starts the worker from a file beside it');
    assert.ok(existsSync(join(root, 'dist/browser', worker[1])), `${worker[1]} is in dist/browser`);
    assert.doesNotMatch(index, /data:text\/javascript|new Blob\(\[[^\]]*\], \{ type: ["']text\/javascript/, 'no inlined worker');

    const packed = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], root))[0];
    const files = packed.files.map((f) => f.path);
    const tarball = join(work, packed.filename);
    console.log(`tarball ${packed.filename}: ${files.length} files, ${(packed.size / 1e6).toFixed(2)} MB packed, ${(packed.unpackedSize / 1e6).toFixed(2)} MB unpacked`);
    for (const need of ['package.json', 'bin/edgewise.mjs', 'dist/browser/index.js', 'dist/node/index.js', 'dist/node/cli.js', 'dist/types/index.d.ts', 'dist/types/api/types.d.ts', `dist/browser/${worker[1]}`]) {
      assert.ok(files.includes(need), `tarball lacks ${need}`);
    }
    const unwanted = files.filter((f) => /\.test\.|^(src|e2e|models|scripts|shaders|examples)\/|(^|\/)testing\/|\.gguf$|\.part$|\.py$/.test(f));
    assert.deepEqual(unwanted, [], 'tests, sources, test helpers or weights in the tarball');
    assert.ok(packed.size < 4e6, `tarball is ${packed.size} bytes`);

    // ---- consumer project ------------------------------------------------------------------------
    const consumer = join(work, 'consumer');
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'edgewise-consumer', private: true, type: 'module' }));
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const how = install(consumer, tarball, Object.keys(pkg.dependencies));
    console.log(`installed by: ${how}`);
    // The optional peer (Dawn for Node) and Node's types, from our node_modules.
    link(consumer, 'webgpu');
    link(consumer, '@types/node');
    writeFileSync(join(consumer, 'main.ts'), CONSUMER_TS);
    writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false,
        lib: ['ES2023', 'DOM'], types: ['node'], outDir: 'out',
      },
      files: ['main.ts'],
    }));
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: consumer, encoding: 'utf8' });
    } catch (e) {
      assert.fail(`the consumer does not typecheck:\n${e.stdout}`);
    }
    const ran = execFileSync(process.execPath, ['out/main.js', MODEL_FILE], { cwd: consumer, encoding: 'utf8', env: gpuEnv });
    const r = JSON.parse(ran.trim().split('\n').at(-1));
    assert.equal(r.id, 'stories260K.gguf');
    assert.equal(r.inThread, 'InThreadEngine');
    assert.equal(r.stages.at(-1), 'ready');
    assert.equal(r.usage.completion_tokens, 8);
    assert.ok(r.text.length > 0);
    assert.equal(r.apiError, 'empty_array');

    // The CLI from the tarball: the built one (there is no src/ or tsx in the consumer).
    assert.equal(existsSync(join(consumer, 'node_modules/edgewise/src')), false);
    const cli = execFileSync(join(consumer, 'node_modules/.bin/edgewise'), ['generate', '--model', MODEL_FILE, '--prompt', 'Once upon a time', '--max-tokens', '8', '--temperature', '0', '--json'], { cwd: consumer, encoding: 'utf8', env: gpuEnv });
    const c = JSON.parse(cli.trim().split('\n').at(-1));
    assert.equal(c.tokens.length, 8);
    assert.equal(c.text, r.text, 'the CLI and the library give the same greedy text');

    // ---- the example app, built against the installed package -------------------------------------
    const example = join(consumer, 'example');
    cpSync(join(root, 'examples/vanilla'), example, { recursive: true, filter: (f) => !/node_modules|dist/.test(relative(join(root, 'examples/vanilla'), f)) });
    link(consumer, 'vite'); // the example's dev dependency
    const { build } = await import(join(root, 'node_modules/vite/dist/node/index.js'));
    await build({ root: example, configFile: join(example, 'vite.config.ts'), logLevel: 'error', build: { outDir: join(example, 'dist'), emptyOutDir: true } });
    const built = walk(join(example, 'dist')).map((f) => relative(join(example, 'dist'), f));
    assert.ok(built.includes('index.html'), `example build: ${built.join(', ')}`);
    const workerAsset = built.find((f) => /engine-worker.*\.js$/.test(f));
    assert.ok(workerAsset, `the engine worker is a file of the example build: ${built.join(', ')}`);
    console.log(`example build: ${built.filter((f) => f.endsWith('.js')).join(', ')}`);

    const { server, counts, url } = await serve(join(example, 'dist'), MODEL_FILE);
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(String(e)));
      const pageUrl = `${url}/?model=${encodeURIComponent(`${url}/models/stories260K.gguf`)}&autostart`;
      const story = async () => {
        await page.waitForFunction(() => document.body.dataset.done === 'true' || document.body.dataset.error, null, { timeout: 600_000 });
        return page.evaluate(() => ({ error: document.body.dataset.error ?? null, source: document.body.dataset.modelSource, text: document.getElementById('out').textContent, status: document.getElementById('status').textContent }));
      };
      await page.goto(pageUrl);
      const first = await story();
      assert.equal(first.error, null);
      assert.equal(first.source, 'network');
      assert.equal(counts.model, 1);
      assert.ok(first.text.startsWith(`Once upon a time${r.text}`), `page: ${JSON.stringify(first.text.slice(0, 80))}, node: ${JSON.stringify(r.text)}`);

      // Reload with the model's URL blocked: it must come from Cache Storage.
      let blocked = 0;
      await context.route('**/models/**', (route) => { blocked++; return route.abort(); });
      const control = await page.evaluate(async (u) => fetch(u, { cache: 'no-store' }).then(() => 'fetched', () => 'blocked'), `${url}/models/stories260K.gguf`);
      assert.equal(control, 'blocked', 'the route blocks the model URL');
      assert.deepEqual(errors, ['Failed to load resource: net::ERR_FAILED'], 'only the blocked control fetch is an error so far');
      errors.length = 0;
      await page.reload();
      const second = await story();
      console.log(`example: "${second.text.slice(0, 60)}…"; ${second.status}; model requests: ${counts.model}, blocked by the route: ${blocked}`);
      assert.equal(second.error, null);
      assert.equal(second.source, 'cache');
      assert.equal(second.text, first.text);
      assert.equal(counts.model, 1, 'no model request reached the server after the reload');
      assert.deepEqual(errors, [], 'console errors (a CSP violation would be one)');
    } finally {
      await browser.close();
      server.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
