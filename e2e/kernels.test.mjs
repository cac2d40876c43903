// Runs the kernel self-checks inside headless Chromium: the browser path (navigator.gpu) computes what
// the plain TypeScript references compute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, screenshot, startServer } from './harness.mjs';

test('kernels pass their reference checks in Chromium (WebGPU)', { timeout: 600_000 }, async () => {
  const { server, url } = await startServer();
  const browser = await launchBrowser();
  try {
    const { page, errors } = await openPage(browser, `${url}/kernels.html`);
    await page.waitForFunction(() => window.__results || window.__error, null, { timeout: 540_000 });
    const { results, error } = await page.evaluate(() => ({ results: window.__results, error: window.__error }));
    await screenshot(page, 'kernel-checks');
    assert.equal(error, undefined, `page error: ${error}`);
    const failed = results.filter((r) => !r.ok);
    console.log(`browser kernel checks: ${results.length - failed.length}/${results.length} passed`);
    for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.ms.toFixed(0)} ms) ${r.ok ? '' : r.message}`);
    assert.deepEqual(failed, []);
    assert.ok(results.length >= 1);
    assert.deepEqual(errors, [], 'console errors on the page');
  } finally {
    await browser.close();
    await server.close();
  }
});
