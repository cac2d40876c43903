// The benchmark page in headless Chromium (WebGPU on SwiftShader here): a short run on stories260K from
// the dev server with both engines — edgewise on the page's device and wllama (llama.cpp in
// WebAssembly) — shows finite positive speeds for both and their ratios, a per-kernel chart with bars,
// a bandwidth fraction, and a JSON download holding the same numbers. No console errors, no CSP reports.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, root, screenshot, startServer } from './harness.mjs';

const MODEL_FILE = ['models/stories260K.gguf', '../shared/models/stories260K.gguf'].map((p) => join(root, p)).find((p) => existsSync(p));
const Q4_FILE = join(root, '../shared/models/stories260K-q4_0.gguf');
const RUN_TIMEOUT = 600_000;

const positive = (x, what) => assert.ok(Number.isFinite(x) && x > 0, `${what} = ${x}`);
const summaryOk = (s, what) => {
  positive(s.median, `${what} median`);
  assert.ok(s.min <= s.median && s.median <= s.max, `${what}: min ${s.min} <= median ${s.median} <= max ${s.max}`);
};

describe('benchmark page', { timeout: 1_200_000 }, () => {
  let server, url, browser, context, page;
  const consoleErrors = [];
  const cspViolations = [];

  before(async () => {
    assert.ok(MODEL_FILE, 'stories260K.gguf in models/ or ../shared/models (run: npm run models)');
    ({ server, url } = await startServer());
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    await context.exposeFunction('__cspReport', (s) => cspViolations.push(s));
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => window.__cspReport(`${e.violatedDirective} ${e.blockedURI}`));
    });
    page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function openBench() {
    await page.goto(`${url}/bench.html`);
    await page.waitForFunction(() => document.body.dataset.bench !== 'starting', null, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.bench), 'idle');
  }

  test('a short run on stories260K: both engines, ratios, kernel chart, bandwidth, JSON export', async () => {
    await openBench();
    assert.match(await page.textContent('#adapter-name'), /\S/);
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true, 'the page is cross-origin isolated (wllama threads)');
    // The default model is picked and the dev server has it.
    await page.waitForSelector('#model-list li.selected[data-id=stories260k] .badge.ok');

    await page.fill('#prompt-tokens', '16');
    await page.fill('#gen-tokens', '12');
    await page.fill('#reps', '2');
    await page.click('#run-btn');
    await page.waitForFunction(() => ['done', 'error', 'stopped'].includes(document.body.dataset.bench), null, { timeout: RUN_TIMEOUT });
    const state = await page.evaluate(() => ({ s: document.body.dataset.bench, err: document.getElementById('run-error').textContent, log: document.getElementById('log').textContent }));
    assert.equal(state.s, 'done', `run ended ${state.s}: ${state.err}\n${state.log}`);
    assert.equal(await page.isVisible('#run-error'), false, `error box: ${state.err}`);

    // The table: finite positive numbers for both engines and a ratio for prefill and decode.
    const cells = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#speed tbody tr')].map((tr) => [tr.dataset.row, {
      e: tr.querySelector('td.e .big')?.textContent ?? tr.querySelector('td.e').textContent,
      p: tr.querySelector('td.p .big')?.textContent ?? tr.querySelector('td.p').textContent,
      r: tr.querySelector('td.r').textContent,
    }])));
    const value = (s) => Number(String(s).replace(/[^\d.]/g, ''));
    for (const row of ['prefill', 'decode']) {
      positive(value(cells[row].e), `edgewise ${row} shown`);
      positive(value(cells[row].p), `wllama ${row} shown`);
      assert.match(cells[row].r, /^[\d.]+×$/, `${row} ratio shown`);
    }
    assert.match(cells.ttft.e, /\d+(\.\d)? (ms|s)/);
    assert.match(cells.ttft.p, /\d+(\.\d)? (ms|s)/);

    // The chart: two SVG charts (decode per token, prefill), bars with positive widths.
    const chart = await page.evaluate(() => [...document.querySelectorAll('#kernel-charts figure')].map((f) => ({
      caption: f.querySelector('figcaption').textContent,
      bars: [...f.querySelectorAll('rect.bar')].map((r) => Number(r.getAttribute('width'))),
      kernels: [...f.querySelectorAll('g[data-kernel]')].map((g) => g.dataset.kernel),
    })));
    assert.equal(chart.length, 2, 'decode and prefill charts');
    for (const c of chart) {
      assert.ok(c.bars.length >= 3, `${c.caption}: ${c.bars.length} bars`);
      for (const w of c.bars) positive(w, `${c.caption} bar width`);
      assert.ok(c.kernels.some((k) => /matmul|gemv/i.test(k)), `${c.caption}: a matmul among ${c.kernels.join(', ')}`);
    }
    assert.match(await page.textContent('#gauge-text'), /^[\d.]+% of copy bandwidth$/);

    // The JSON download carries the same numbers.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-btn')]);
    assert.match(download.suggestedFilename(), /^edgewise-bench-stories260K-.*\.json$/);
    const json = JSON.parse(readFileSync(await download.path(), 'utf8'));
    assert.equal(json.settings.promptTokens, 16);
    assert.equal(json.settings.genTokens, 12);
    assert.equal(json.promptIds.length, 16);
    assert.equal(json.edgewise.runs.length, 2);
    for (const r of json.edgewise.runs) assert.equal(r.decodeSteps, 11);
    summaryOk(json.edgewise.prefillTokensPerS, 'edgewise prefill');
    summaryOk(json.edgewise.decodeTokensPerS, 'edgewise decode');
    summaryOk(json.edgewise.ttftMs, 'edgewise ttft');
    assert.ok(json.wllama, `wllama result (error: ${json.wllamaError})`);
    assert.equal(json.wllama.runs.length, 2);
    for (const r of json.wllama.runs) {
      assert.equal(r.promptTokens, 16);
      assert.equal(r.predictedTokens, 12);
    }
    summaryOk(json.wllama.prefillTokensPerS, 'wllama prefill');
    summaryOk(json.wllama.decodeTokensPerS, 'wllama decode');
    summaryOk(json.wllama.ttftMs, 'wllama ttft');
    positive(json.ratio.prefill, 'prefill ratio');
    positive(json.ratio.decode, 'decode ratio');
    assert.ok(Math.abs(json.ratio.decode - json.edgewise.decodeTokensPerS.median / json.wllama.decodeTokensPerS.median) < 1e-9);
    positive(json.copyBandwidth.gbPerS, 'copy bandwidth');
    positive(json.edgewise.weightBytesPerToken, 'weight bytes per token');
    positive(json.edgewise.fractionOfCopy, 'fraction of copy bandwidth');
    assert.ok(json.edgewise.perToken.submits > 0 && json.edgewise.perToken.dispatches > 0);
    assert.ok(json.edgewise.kernels.decode.length >= 3 && json.edgewise.kernels.prefill.length >= 3);
    assert.equal(json.model.architecture, 'llama');
    console.log(`bench page, stories260K F32, prompt 16, gen 12, 2 reps: ` +
      `edgewise prefill ${json.edgewise.prefillTokensPerS.median.toFixed(1)} tok/s, decode ${json.edgewise.decodeTokensPerS.median.toFixed(1)} tok/s, ttft ${json.edgewise.ttftMs.median.toFixed(0)} ms; ` +
      `wllama (${json.wllama.threads} threads) prefill ${json.wllama.prefillTokensPerS.median.toFixed(1)} tok/s, decode ${json.wllama.decodeTokensPerS.median.toFixed(1)} tok/s, ttft ${json.wllama.ttftMs.median.toFixed(0)} ms; ` +
      `ratio prefill ${json.ratio.prefill.toFixed(2)}x decode ${json.ratio.decode.toFixed(2)}x; copy ${json.copyBandwidth.gbPerS.toFixed(2)} GB/s, decode ${json.edgewise.achievedGbPerS.toFixed(3)} GB/s (${(100 * json.edgewise.fractionOfCopy).toFixed(2)}%)`);

    await screenshot(page, 'bench');
    assert.deepEqual(consoleErrors, [], 'console errors on the benchmark page');
    assert.deepEqual(cspViolations, [], 'CSP violations on the benchmark page');
  });

  test('a GGUF from disk, edgewise alone, no kernel split: the peer column says it was not run', async () => {
    assert.ok(existsSync(Q4_FILE), Q4_FILE);
    await openBench();
    await page.setInputFiles('#local-model', Q4_FILE);
    assert.match(await page.textContent('#local-chosen'), /stories260K-q4_0\.gguf/);
    assert.equal(await page.evaluate(() => document.getElementById('model-list').classList.contains('overridden')), true);
    await page.fill('#prompt-tokens', '5');
    await page.fill('#gen-tokens', '4');
    await page.fill('#reps', '1');
    await page.uncheck('#peer');
    await page.uncheck('#profile');
    await page.click('#run-btn');
    await page.waitForFunction(() => ['done', 'error', 'stopped'].includes(document.body.dataset.bench), null, { timeout: RUN_TIMEOUT });
    assert.equal(await page.evaluate(() => document.body.dataset.bench), 'done', await page.textContent('#log'));
    assert.match(await page.textContent('#speed-note'), /stories260K-q4_0\.gguf · 5-token prompt, 4 tokens generated, 1 repetitions/);
    assert.match(await page.textContent('#peer-head'), /not run/);
    assert.equal((await page.textContent('#speed tr[data-row=decode] td.p')).trim(), '–');
    assert.equal((await page.textContent('#speed tr[data-row=decode] td.r')).trim(), '–');
    assert.ok(Number((await page.textContent('#speed tr[data-row=decode] td.e .big')).replace(/[^\d.]/g, '')) > 0);
    assert.match(await page.textContent('#kernel-charts'), /not asked for/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-btn')]);
    const json = JSON.parse(readFileSync(await download.path(), 'utf8'));
    assert.equal(json.wllama, null);
    assert.equal(json.ratio, null);
    assert.equal(json.edgewise.kernels, null);
    assert.equal(json.model.tensorTypes.Q4_0 > 0, true);
    assert.equal(json.promptIds.length, 5);
    // Back to the list: the file is forgotten.
    await page.click('#local-clear');
    assert.equal(await page.isVisible('#local-chosen'), false);
    assert.equal(await page.inputValue('#local-model'), '');
    assert.deepEqual(consoleErrors, [], 'console errors on the benchmark page');
  });

  test('Stop ends a run at the next forward pass; the page is ready for the next one', async () => {
    await openBench();
    await page.uncheck('#peer');
    await page.fill('#prompt-tokens', '8');
    await page.fill('#gen-tokens', '2000');
    await page.fill('#reps', '3');
    await page.click('#run-btn');
    // Stopped while generating (2000 tokens take minutes here), after the model loaded.
    await page.waitForFunction(() => document.getElementById('log').textContent.includes('edgewise: warm-up and repetitions'), null, { timeout: RUN_TIMEOUT });
    assert.equal(await page.isVisible('#stop-btn'), true);
    const t0 = Date.now();
    await page.click('#stop-btn');
    await page.waitForFunction(() => document.body.dataset.bench !== 'running', null, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.bench), 'stopped');
    console.log(`stopped ${Date.now() - t0} ms after the click`);
    assert.equal(await page.isEnabled('#run-btn'), true);
    assert.equal(await page.isVisible('#stop-btn'), false);
    assert.equal(await page.isVisible('#run-error'), false);
    assert.deepEqual(consoleErrors, [], 'console errors on the benchmark page');
  });

  test('a browser without WebGPU gets a page that says so', async () => {
    const p = await context.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
    await p.goto(`${url}/bench.html`);
    await p.waitForFunction(() => document.body.dataset.bench === 'no-webgpu', null, { timeout: 60_000 });
    assert.equal(await p.isVisible('#no-webgpu'), true);
    assert.equal(await p.isHidden('#app'), true);
    assert.match(await p.textContent('#no-webgpu'), /WebGPU is not available[\s\S]*navigator\.gpu is missing/);
    await screenshot(p, 'bench-no-webgpu');
    assert.deepEqual(errors, []);
    await p.close();
  });
});
