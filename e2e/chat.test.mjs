// The chat page in headless Chromium (WebGPU on SwiftShader here): the default model loads from the dev
// server, a prompt streams exactly llama.cpp's greedy continuation, stop works mid-stream, regenerate
// gives the same greedy text, the conversation survives a reload, hostile model output renders inert
// under the page's CSP, a text-only model explains why nothing attaches, a vision model loaded from disk
// (GGUF + mmproj) takes images and a clip by button, drop and paste and answers an image as the Node
// engine does, and a browser without WebGPU gets a page that says so. No console errors anywhere.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, root, screenshot, startServer } from './harness.mjs';

const PROMPT = 'Once upon a time';
const MODEL_FILE = ['models/stories260K.gguf', '../shared/models/stories260K.gguf'].map((p) => join(root, p)).find((p) => existsSync(p));
const LOAD_TIMEOUT = 300_000;
const REPLY_TIMEOUT = 300_000;

/** llama.cpp's greedy continuation (see llama-greedy.ts). */
function llamaGreedy(prompt, n) {
  const out = execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'e2e/llama-greedy.ts'), MODEL_FILE, prompt, String(n)], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1));
}

describe('chat page', { timeout: 1_800_000 }, () => {
  let server;
  let url;
  let browser;
  let context;
  let page;
  const consoleErrors = [];
  const dialogs = [];
  const outsideRequests = [];
  const cspViolations = [];

  function watch(p) {
    p.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${p.url()}: ${m.text()}`); });
    p.on('pageerror', (e) => consoleErrors.push(`${p.url()}: ${String(e)}`));
    p.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
    p.on('request', (r) => { if (!r.url().startsWith(url) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) outsideRequests.push(r.url()); });
  }

  before(async () => {
    assert.ok(MODEL_FILE, 'stories260K.gguf in models/ or ../shared/models (run: npm run models)');
    ({ server, url } = await startServer());
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    // CSP violations the pages report (there should be none in normal use).
    await context.exposeFunction('__cspReport', (s) => cspViolations.push(s));
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => window.__cspReport(`${e.violatedDirective} ${e.blockedURI}`));
    });
    page = await context.newPage();
    watch(page);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function waitModel(state = 'ready') {
    await page.waitForFunction((s) => document.body.dataset.model === s || document.body.dataset.model === 'error', state, { timeout: LOAD_TIMEOUT });
    const got = await page.evaluate(() => ({ state: document.body.dataset.model, error: document.getElementById('load-error').textContent }));
    assert.equal(got.state, state, `model state (load error: ${got.error})`);
  }

  async function setSettings(temperature, maxTokens) {
    await page.fill('#temperature', String(temperature));
    await page.dispatchEvent('#temperature', 'change');
    await page.fill('#max-tokens', String(maxTokens));
    await page.dispatchEvent('#max-tokens', 'change');
  }

  const lastReply = () => page.locator('#messages article.msg.assistant').last();
  /** Clear, when there is anything to clear (the button is disabled on an empty conversation). */
  const clearChat = async () => {
    if (await page.isEnabled('#clear-btn')) await page.click('#clear-btn');
    assert.equal(await page.locator('#messages article').count(), 0);
  };
  const savedTurns = () => page.evaluate(() => JSON.parse(localStorage.getItem('edgewise.chat.v1') ?? '{"turns":[]}').turns);

  /** Waits for the newest reply to finish, recording the lengths its text went through while streaming. */
  async function followReply() {
    return page.evaluate(async (timeout) => {
      const t0 = performance.now();
      const lengths = [];
      for (;;) {
        const arts = document.querySelectorAll('#messages article.msg.assistant');
        const art = arts[arts.length - 1];
        const state = art?.dataset.state;
        const len = art?.querySelector('.body').textContent.length ?? 0;
        if (state === 'streaming' && len > 0 && lengths.at(-1) !== len) lengths.push(len);
        if (state && state !== 'streaming') return { state, lengths };
        if (performance.now() - t0 > timeout) return { state: 'timeout', lengths };
        await new Promise((r) => setTimeout(r, 25));
      }
    }, REPLY_TIMEOUT);
  }

  test('loads the default model and streams llama.cpp\'s greedy continuation', async () => {
    const expected = llamaGreedy(PROMPT, 40);
    await page.goto(`${url}/`);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await waitModel('ready');
    assert.match(await page.textContent('#model-info'), /stories260K|TinyStories/);
    assert.match(await page.textContent('#adapter-name'), /\S/);

    // Enter sends, Shift+Enter is a newline.
    await page.click('#prompt');
    await page.keyboard.type('first line');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('second line');
    assert.equal(await page.inputValue('#prompt'), 'first line\nsecond line');
    assert.equal(await page.locator('#messages article').count(), 0, 'Shift+Enter sent the message');
    await page.fill('#prompt', '');

    await setSettings(0, 40);
    await page.fill('#prompt', PROMPT);
    await page.press('#prompt', 'Enter');
    const { state, lengths } = await followReply();
    assert.equal(state, 'done');
    const turns = await savedTurns();
    assert.equal(turns.length, 2);
    assert.equal(turns[0].text, PROMPT);
    assert.equal(turns[1].text, expected.text, 'the reply is llama.cpp\'s greedy continuation');
    assert.equal(turns[1].stats.completionTokens, expected.tokens.length);
    assert.equal((await lastReply().locator('.body').textContent()).trim(), expected.text.trim());
    assert.ok(lengths.length >= 3, `the reply streamed (text lengths seen while streaming: ${lengths.join(', ')})`);
    const stats = await lastReply().locator('.stats').textContent();
    assert.match(stats, /40 tokens · [\d.]+ tok\/s · first token/);
    console.log(`greedy reply: ${JSON.stringify(turns[1].text)}; ${stats}; streamed through ${lengths.length} lengths`);
    await screenshot(page, 'chat');
  });

  test('stop ends a reply mid-stream; regenerate gives the greedy text again', async () => {
    const long = llamaGreedy(PROMPT, 200);
    await page.click('#clear-btn');
    assert.equal(await page.locator('#messages article').count(), 0);
    await setSettings(0, 200);
    await page.fill('#prompt', PROMPT);
    await page.press('#prompt', 'Enter');
    await page.waitForFunction(() => {
      const arts = document.querySelectorAll('#messages article.msg.assistant');
      return arts.length && arts[arts.length - 1].querySelector('.body').textContent.length > 25;
    }, null, { timeout: REPLY_TIMEOUT });
    assert.equal(await page.isVisible('#stop-btn'), true);
    const t0 = Date.now();
    await page.click('#stop-btn');
    const { state } = await followReply();
    const stopMs = Date.now() - t0;
    assert.equal(state, 'stopped');
    const turns = await savedTurns();
    const partial = turns[1].text;
    assert.ok(partial.length > 0 && partial.length < long.text.length, `partial reply of ${partial.length} chars (full: ${long.text.length})`);
    assert.ok(long.text.startsWith(partial), `the stopped reply is a prefix of the greedy continuation: ${JSON.stringify(partial)}`);
    assert.equal(turns[1].stats.finish, 'abort');
    assert.ok(stopMs < 15_000, `stopped ${stopMs} ms after the click`);
    assert.match(await lastReply().locator('.meta').textContent(), /stopped/);
    console.log(`stopped after ${turns[1].stats.completionTokens} tokens, ${stopMs} ms after the click`);
    await screenshot(page, 'chat-stopped');

    // The engine stays usable: regenerate the stopped reply with 40 tokens.
    await setSettings(0, 40);
    await lastReply().locator('button.regenerate').click();
    const again = await followReply();
    assert.equal(again.state, 'done');
    const short = llamaGreedy(PROMPT, 40);
    assert.equal((await savedTurns())[1].text, short.text);
  });

  test('a reload keeps the conversation and loads the model again', async () => {
    const before = await savedTurns();
    const shown = await page.locator('#messages article .body').allTextContents();
    await page.reload();
    await waitModel('ready');
    assert.deepEqual(await savedTurns(), before);
    assert.deepEqual(await page.locator('#messages article .body').allTextContents(), shown);
    assert.equal(await page.inputValue('#max-tokens'), '40');
    await screenshot(page, 'chat-reload');
  });

  test('the load progress bar shows bytes, rate and time left', async () => {
    // Slow every model read down so the progress of a 1 MB file can be watched.
    await page.route('**/models/stories260K.gguf', async (route) => {
      await new Promise((r) => setTimeout(r, 400));
      await route.continue();
    });
    try {
      await page.click('#load-btn');
      await page.waitForFunction(() => /\/s · .* left/.test(document.getElementById('progress-text').textContent), null, { timeout: 60_000 });
      const text = await page.textContent('#progress-text');
      assert.match(text, /[\d.]+ (kB|MB) \/ 1\.\d\d MB · [\d.]+ (B|kB|MB)\/s · [\d.]+ (ms|s|min) .*left/);
      const width = await page.evaluate(() => parseFloat(document.getElementById('progress-fill').style.width));
      assert.ok(width > 0 && width <= 100, `bar at ${width}%`);
      await screenshot(page, 'chat-loading');
      console.log(`progress: ${text}`);
      await waitModel('ready');
      assert.equal(await page.isHidden('#progress'), true);
    } finally {
      await page.unroute('**/models/stories260K.gguf');
    }
  });

  test('hostile model output renders inert under the CSP', async () => {
    const hostile = [
      'A **bold** claim and a [click me](javascript:window.__pwned=1) link.',
      '',
      '<script>window.__pwned = 2</script>',
      '',
      '<img src="x" onerror="window.__pwned = 3">',
      '',
      '![tracker](https://tracker.invalid/pixel.png?leak=conversation)',
      '',
      '<a href="javascript:window.__pwned=4">raw anchor</a> and <iframe src="javascript:window.__pwned=5"></iframe>',
      '',
      '[a real link](https://example.org/docs) and `inline <b>code</b>`',
      '',
      '```html',
      '<script>window.__pwned = 6</script>',
      '```',
    ].join('\n');
    await page.evaluate((text) => {
      const chat = JSON.parse(localStorage.getItem('edgewise.chat.v1'));
      chat.turns = [
        { id: 'u1', role: 'user', text: 'say something <b>nasty</b> <img src=x onerror="window.__pwned=7">' },
        { id: 'a1', role: 'assistant', text, model: 'hostile' },
      ];
      localStorage.setItem('edgewise.chat.v1', JSON.stringify(chat));
    }, hostile);
    await page.reload();
    await page.waitForSelector('#messages article.msg.assistant');
    await page.waitForTimeout(500);
    const r = await page.evaluate(() => {
      const box = document.getElementById('messages');
      return {
        pwned: window.__pwned ?? null,
        scripts: box.querySelectorAll('script').length,
        iframes: box.querySelectorAll('iframe, object, embed').length,
        imgs: [...box.querySelectorAll('.body img')].length,
        handlers: [...box.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith('on')).map((a) => a.name)),
        hrefs: [...box.querySelectorAll('a')].map((a) => a.getAttribute('href')),
        rels: [...box.querySelectorAll('a[href]')].map((a) => a.rel),
        reply: box.querySelector('article.msg.assistant .body').textContent,
        user: box.querySelector('article.msg.user .body').textContent,
        strong: box.querySelector('article.msg.assistant .body strong')?.textContent ?? null,
        csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]').content,
      };
    });
    assert.equal(r.pwned, null, 'no payload ran');
    assert.equal(r.scripts, 0);
    assert.equal(r.iframes, 0);
    assert.equal(r.imgs, 0, 'no image from model output is loaded');
    assert.deepEqual(r.handlers, []);
    assert.ok(r.hrefs.every((h) => h === null || /^https?:|^mailto:/.test(h)), `links: ${JSON.stringify(r.hrefs)}`);
    assert.ok(r.hrefs.includes('https://example.org/docs'));
    assert.ok(r.rels.every((x) => x.includes('noopener')));
    assert.equal(r.strong, 'bold', 'markdown still renders');
    assert.ok(r.reply.includes('<script>window.__pwned = 2</script>'), 'raw HTML is shown as text');
    assert.ok(r.user.includes('<img src=x onerror="window.__pwned=7">'), 'user text is shown as typed');
    assert.doesNotMatch(r.csp, /unsafe-eval|unsafe-inline/);
    // Even injected into the page, inline script and string evaluation are refused by the CSP. (Playwright's
    // own evaluate is exempt, so the attempts are made the way a payload would: a script element, a timer.)
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true';
      document.body.append(s);
      setTimeout('window.__evalRan = true', 0);
    });
    await page.waitForTimeout(300);
    const ran = await page.evaluate(() => ({ inline: window.__inlineRan ?? false, evaluated: window.__evalRan ?? false }));
    assert.deepEqual(ran, { inline: false, evaluated: false });
    // Those two refusals were this test's doing: take their reports and console lines out of the later check.
    for (const what of [/^script-src-elem inline/, /^script-src eval/]) {
      const i = cspViolations.findIndex((v) => what.test(v));
      assert.ok(i >= 0, `the CSP reported ${what} (${JSON.stringify(cspViolations)})`);
      cspViolations.splice(i, 1);
    }
    for (const what of [/inline script/, /a string as JavaScript/]) {
      const i = consoleErrors.findIndex((l) => what.test(l));
      if (i >= 0) consoleErrors.splice(i, 1);
    }
    assert.deepEqual(outsideRequests.filter((u) => u.includes('tracker.invalid')), []);
    assert.deepEqual(dialogs, []);
    await screenshot(page, 'chat-hostile');
  });

  /** A PNG and a short VP8 WebM clip made in the page (base64), for the attach paths. */
  const pageMedia = () => page.evaluate(async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 96; canvas.height = 64;
    const ctx = canvas.getContext('2d');
    const toB64 = async (blob) => {
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let bin = '';
      for (const b of bytes) bin += String.fromCharCode(b);
      return btoa(bin);
    };
    ctx.fillStyle = '#30c080'; ctx.fillRect(0, 0, 96, 64);
    const png = await toB64(await new Promise((r) => canvas.toBlob(r, 'image/png')));
    const rec = new MediaRecorder(canvas.captureStream(20), { mimeType: 'video/webm;codecs=vp8' });
    const parts = [];
    rec.ondataavailable = (e) => parts.push(e.data);
    const done = new Promise((r) => { rec.onstop = r; });
    rec.start();
    for (let i = 0; i < 24; i++) {
      ctx.fillStyle = `hsl(${i * 15}, 70%, 50%)`; ctx.fillRect(0, 0, 96, 64);
      await new Promise((r) => setTimeout(r, 50));
    }
    rec.stop();
    await done;
    return { png, webm: await toB64(new Blob(parts, { type: 'video/webm' })) };
  });

  /** Dispatches a drop (with the drag-over state checked first) or a paste of files given as base64. */
  const dropOrPaste = (how, files) => page.evaluate(({ how, files }) => {
    const dt = new DataTransfer();
    for (const f of files) {
      const bin = atob(f.b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      dt.items.add(new File([bytes], f.name, { type: f.type }));
    }
    if (how === 'paste') {
      document.getElementById('prompt').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      return null;
    }
    const conv = document.getElementById('conversation');
    conv.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true }));
    const hint = { shown: !document.getElementById('drop-hint').hidden, text: document.getElementById('drop-hint').textContent, composerMarked: document.body.classList.contains('dragging') };
    conv.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    return hint;
  }, { how, files });

  test('a text-only model explains why nothing attaches', async () => {
    await clearChat();
    await waitModel('ready');
    assert.equal(await page.getAttribute('#attach-btn', 'aria-disabled'), 'true');
    assert.match(await page.getAttribute('#attach-btn', 'title'), /reads text only/);
    // aria-disabled, which Playwright's click waits out; a person's click still lands and is answered.
    await page.click('#attach-btn', { force: true });
    assert.match(await page.textContent('#composer-error'), /TinyStories 260K reads text only: it has no vision encoder\. Load a vision model/);
    const { png } = await pageMedia();
    const hint = await dropOrPaste('drop', [{ name: 'drop.png', type: 'image/png', b64: png }]);
    assert.equal(hint.shown, true, 'dragging files over the page shows the drop state');
    assert.match(hint.text, /reads text only/, 'the drop state already says the model cannot take them');
    await dropOrPaste('paste', [{ name: 'paste.png', type: 'image/png', b64: png }]);
    assert.match(await page.textContent('#composer-error'), /reads text only/);
    assert.equal(await page.locator('#thumbs .thumb').count(), 0);
    assert.equal(await page.isHidden('#drop-hint'), true);
    await screenshot(page, 'chat-attach-text-only');
  });

  test('a vision model from disk (GGUF + mmproj): images attach by button, drop and paste, a clip is refused in words; the image is answered as the Node engine answers it; a reload keeps it; a damaged image the engine refuses is named and left out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-vision-'));
    const question = 'What is in this picture?';
    try {
      // The expectation first: the same text model, projector, PNG and question through the Node engine,
      // greedy. One image: an image is 256 soft tokens and the tiny text model's context is 512.
      const expected = JSON.parse(execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'e2e/chat-vision-expect.ts'), dir, question, '8'], { cwd: root, encoding: 'utf8' }).trim().split('\n').at(-1));
      assert.ok(expected.text.length > 0 && expected.completionTokens > 0, `the Node engine answered: ${JSON.stringify(expected)}`);

      await clearChat();
      await page.evaluate(() => { document.getElementById('local-files').open = true; });
      await page.setInputFiles('#local-model', expected.model);
      await page.setInputFiles('#local-mmproj', expected.mmproj);
      await page.click('#load-local-btn');
      await waitModel('ready');
      const info = await page.textContent('#model-info');
      assert.match(info, /tinygemma3-text\.gguf/);
      assert.match(info, /imagesyes \(gemma3 projector, mmproj-tinygemma3\.gguf\)/);
      assert.match(info, /videono \(images only\)/);
      assert.equal(await page.getAttribute('#attach-btn', 'aria-disabled'), 'false');
      await setSettings(0, 8);

      // Drop and paste (a page-made PNG), a damaged paste, then the button: the fixture PNG and a clip.
      const made = await pageMedia();
      // The drop state while files are dragged over the page (the drop below ends it).
      await page.evaluate(() => {
        const dt = new DataTransfer();
        dt.items.add(new File(['x'], 'a.png', { type: 'image/png' }));
        document.getElementById('prompt').dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true }));
      });
      await screenshot(page, 'chat-drop');
      const hint = await dropOrPaste('drop', [{ name: 'drop.png', type: 'image/png', b64: made.png }]);
      assert.deepEqual(hint, { shown: true, text: 'Drop to attach images (tinygemma3-text.gguf reads no video)', composerMarked: true });
      await page.waitForFunction(() => document.querySelectorAll('#thumbs .thumb').length === 1);
      assert.equal(await page.isHidden('#drop-hint'), true);
      assert.equal(await page.evaluate(() => document.body.classList.contains('dragging')), false);
      await dropOrPaste('paste', [{ name: 'broken.png', type: 'image/png', b64: Buffer.from('not a png at all').toString('base64') }]);
      await page.waitForFunction(() => !document.getElementById('composer-error').hidden);
      assert.match(await page.textContent('#composer-error'), /broken\.png: the browser could not decode this image/);
      await dropOrPaste('paste', [{ name: 'pasted.png', type: 'image/png', b64: readFileSync(expected.image).toString('base64') }]);
      await page.waitForFunction(() => document.querySelectorAll('#thumbs .thumb').length === 2);
      // gemma3 has no clip path: the clip is refused in words, the picture beside it attaches.
      writeFileSync(join(dir, 'clip.webm'), Buffer.from(made.webm, 'base64'));
      await page.setInputFiles('#attach-input', [expected.image, join(dir, 'clip.webm')]);
      await page.waitForFunction(() => document.querySelectorAll('#thumbs .thumb').length === 3, null, { timeout: 30_000 });
      assert.match(await page.textContent('#composer-error'), /clip\.webm: tinygemma3-text\.gguf reads images but not video/);
      assert.deepEqual(await page.locator('#thumbs .thumb').evaluateAll((els) => els.map((e) => e.dataset.kind)), ['image', 'image', 'image']);
      assert.match(await page.getAttribute('#thumbs .thumb:nth-child(3) img', 'title'), /picture\.png · 64x48/);
      await screenshot(page, 'chat-attach');
      // No model this page can load takes clips yet, so the clip's side of attaching (poster frame, length,
      // the thumbnail's label) is checked through the page's own attachment reader.
      const clip = await page.evaluate(async (b64) => {
        const { readAttachment } = await import('/src/ui/attachments.ts');
        const { mediaThumb } = await import('/src/ui/chat-view.ts');
        const bin = atob(b64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        const a = await readAttachment(new File([bytes], 'clip.webm', { type: 'video/webm' }));
        const thumb = mediaThumb(a, 'thumb');
        return { kind: a.kind, width: a.width, height: a.height, durationS: a.durationS, thumb: a.thumbUrl.slice(0, 23), blob: a.blob.size, label: thumb.querySelector('.kind').textContent, title: thumb.querySelector('img').title };
      }, made.webm);
      assert.equal(clip.kind, 'video');
      assert.deepEqual([clip.width, clip.height, clip.blob], [96, 64, Buffer.from(made.webm, 'base64').length]);
      assert.ok(clip.durationS > 0.5 && clip.durationS < 3, `the recorded clip's length was found: ${clip.durationS} s`);
      assert.equal(clip.thumb, 'data:image/jpeg;base64,');
      assert.match(clip.label, /^▶ 0:0[1-2]$/);
      assert.match(clip.title, /clip\.webm \(video, 0:0[1-2] · 96x64\)/);

      // Send the fixture as the button attached it: the drop and the paste come off.
      await page.click('#thumbs .thumb:nth-child(1) button');
      await page.click('#thumbs .thumb:nth-child(1) button');
      assert.deepEqual(await page.locator('#thumbs .thumb img').evaluateAll((els) => els.map((e) => e.alt)), ['picture.png']);
      await page.fill('#prompt', question);
      await page.press('#prompt', 'Enter');
      assert.equal(await page.locator('#thumbs .thumb').count(), 0, 'sending empties the composer');
      const { state, lengths } = await followReply();
      const turns = await savedTurns();
      assert.equal(state, 'done', JSON.stringify(turns[1]?.error));
      assert.equal(turns[1].text, expected.text, 'the page\'s answer is the Node engine\'s');
      assert.equal(turns[1].stats.completionTokens, expected.completionTokens);
      assert.ok(lengths.length >= 1, 'the answer streamed');
      assert.equal(await page.locator('#messages article.msg.user .attachments img').count(), 1);
      // What localStorage keeps: thumbnails and keys, not the images.
      const saved = await page.evaluate(() => localStorage.getItem('edgewise.chat.v1'));
      assert.ok(saved.length < 40_000, `the saved conversation is ${saved.length} chars`);
      assert.deepEqual(turns[0].attachments.map((a) => [a.name, a.kind, a.width, a.height, typeof a.mediaKey, 'dataUrl' in a]), [['picture.png', 'image', 64, 48, 'string', false]]);
      console.log(`vision answer: ${JSON.stringify(turns[1].text)} (${turns[1].stats.completionTokens} tokens; saved conversation ${saved.length} chars)`);
      await screenshot(page, 'chat-vision');

      // A reload keeps the conversation and its images (the local model is not reloaded: the last
      // registry model, text only, loads instead).
      const shown = await page.locator('#messages article .body').allTextContents();
      await page.reload();
      await waitModel('ready');
      assert.deepEqual(await page.locator('#messages article .body').allTextContents(), shown);
      assert.equal(await page.locator('#messages article.msg.user .attachments img').count(), 1);
      assert.equal(await page.locator('#messages article.msg.user .attachments .missing').count(), 0, 'the images came back from IndexedDB');
      const stored = await page.evaluate(() => new Promise((resolve, reject) => {
        const r = indexedDB.open('edgewise-media');
        r.onsuccess = () => {
          const q = r.result.transaction('media').objectStore('media').getAll();
          q.onsuccess = () => resolve(q.result.map((b) => [b.type, b.size]));
          q.onerror = () => reject(q.error);
        };
        r.onerror = () => reject(r.error);
      }));
      const size = readFileSync(expected.image).length;
      assert.deepEqual(stored, [['image/png', size]], 'the image is kept as the file was');
      await screenshot(page, 'chat-vision-reload');

      // A clip is kept for its session only: after a reload its turn says the model no longer sees it. A
      // conversation saved before the media store (the image inline as a data: URL) moves into IndexedDB;
      // this one is damaged (a PNG's header, then noise), for the engine to refuse below.
      const png = readFileSync(expected.image);
      const legacy = `data:image/png;base64,${Buffer.concat([png.subarray(0, 33), Buffer.alloc(200, 0x5a)]).toString('base64')}`;
      await page.evaluate(({ legacy, thumb }) => {
        const chat = JSON.parse(localStorage.getItem('edgewise.chat.v1'));
        chat.turns.push(
          { id: 'clip', role: 'user', text: 'and this clip?', attachments: [{ kind: 'video', name: 'clip.webm', thumbUrl: thumb, mediaKey: 'clip/0', durationS: 1.2 }] },
          { id: 'old', role: 'user', text: 'an old one', attachments: [{ kind: 'image', name: 'old.png', dataUrl: legacy, thumbUrl: thumb }] },
        );
        localStorage.setItem('edgewise.chat.v1', JSON.stringify(chat));
      }, { legacy, thumb: turns[0].attachments[0].thumbUrl });
      await page.reload();
      await waitModel('ready');
      const clipTurn = page.locator('#messages article.msg.user').nth(1);
      assert.equal(await clipTurn.locator('.att.missing').count(), 1);
      assert.match(await clipTurn.locator('.note').textContent(), /this clip is kept for one session only: the model no longer sees it/);
      assert.match(await clipTurn.locator('.kind').textContent(), /▶ 0:01/);
      const oldTurn = (await savedTurns()).find((t) => t.id === 'old');
      assert.deepEqual([oldTurn.attachments[0].mediaKey, 'dataUrl' in oldTurn.attachments[0]], ['old/0', false]);
      assert.equal(await page.locator('#messages article.msg.user').nth(2).locator('.missing').count(), 0);
      await screenshot(page, 'chat-clip-gone');

      // The vision model again: the damaged image is refused by the engine, in words, and left out after
      // that, so the conversation goes on.
      await page.evaluate(() => { document.getElementById('local-files').open = true; });
      await page.setInputFiles('#local-model', expected.model);
      await page.setInputFiles('#local-mmproj', expected.mmproj);
      await page.click('#load-local-btn');
      await waitModel('ready');
      await page.fill('#prompt', 'and now?');
      await page.press('#prompt', 'Enter');
      assert.equal((await followReply()).state, 'error');
      const refusal = await lastReply().locator('.turn-error').textContent();
      assert.match(refusal, /An image could not be read/);
      assert.match(refusal, /messages\[\d+\]\.content\[0\]: .*it is not sent again/);
      const oldView = page.locator('#messages article.msg.user').nth(2);
      assert.equal(await oldView.locator('.att.refused').count(), 1);
      assert.match(await oldView.locator('.note.refused').textContent(), /^old\.png was not read \(.+\); it is not sent again$/);
      assert.ok((await savedTurns()).find((t) => t.id === 'old').attachments[0].refused, 'the refusal is saved');
      await screenshot(page, 'chat-image-refused');
      await lastReply().locator('button.regenerate').click();
      const retry = await followReply();
      assert.equal(retry.state, 'done', await lastReply().textContent());
      assert.ok((await savedTurns()).at(-1).text.length > 0, 'the conversation goes on without the damaged image');
      // Leave the file pickers as the next test expects them: no projector chosen.
      await page.setInputFiles('#local-mmproj', []);
      await page.evaluate(() => { document.getElementById('local-files').open = false; });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a GGUF from disk loads and answers the same; a broken file is refused in words and the engine recovers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-e2e-'));
    try {
      await clearChat();
      await setSettings(0, 40);
      await page.click('#local-files summary');
      await page.setInputFiles('#local-model', MODEL_FILE);
      await page.click('#load-local-btn');
      await waitModel('ready');
      assert.match(await page.textContent('#model-info'), /stories260K\.gguf/);
      await page.fill('#prompt', PROMPT);
      await page.press('#prompt', 'Enter');
      assert.equal((await followReply()).state, 'done');
      assert.equal((await savedTurns())[1].text, llamaGreedy(PROMPT, 40).text);

      // A header that promises 2^40 tensors.
      const bad = join(dir, 'broken.gguf');
      const b = Buffer.alloc(64);
      b.write('GGUF', 0, 'latin1');
      b.writeUInt32LE(3, 4);
      b.writeBigUInt64LE(1n << 40n, 8);
      writeFileSync(bad, b);
      await page.setInputFiles('#local-model', bad);
      await page.click('#load-local-btn');
      await waitModel('error');
      assert.equal(await page.isVisible('#load-error'), true);
      const err = await page.textContent('#load-error');
      assert.match(err, /The model could not be loaded/);
      assert.match(err, /broken\.gguf|tensor/i);
      await screenshot(page, 'chat-load-error');
      await page.click('#model-list li[data-id="stories260k"]');
      await page.click('#load-btn');
      await waitModel('ready');
      assert.equal(await page.isHidden('#load-error'), true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a model larger than the GPU allows is refused with a page that says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-big-'));
    try {
      const limit = await page.evaluate(async () => {
        const a = await navigator.gpu.requestAdapter();
        return Math.max(a.limits.maxStorageBufferBindingSize, a.limits.maxBufferSize);
      });
      const big = join(dir, 'too-big.gguf');
      const made = JSON.parse(execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'e2e/oversized-model.ts'), big, String(limit)], { cwd: root, encoding: 'utf8' }).trim().split('\n').at(-1));
      assert.ok(made.tensorBytes > limit);
      await page.setInputFiles('#local-model', big);
      await page.click('#load-local-btn');
      await waitModel('error');
      const err = await page.textContent('#load-error');
      assert.match(err, /The model does not fit this GPU/);
      assert.match(err, new RegExp(made.tensor.replaceAll('.', '\\.')));
      assert.match(err, /smaller model/);
      console.log(`refused: ${made.tensor} of ${made.tensorBytes} bytes over the adapter's ${limit}`);
      await screenshot(page, 'chat-too-big');
      await page.click('#load-btn');
      await waitModel('ready');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a model from the hub is downloaded, refused when its sha256 is wrong, cached and marked when right, and loads from the cache after a reload', async () => {
    // This machine has no internet: a stand-in answers for the hub (with CORS, as the hub does), and
    // the dev server's model list is emptied so the page has to fetch the default model from there.
    const hubUrl = 'https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf';
    const good = readFileSync(MODEL_FILE);
    const corrupt = Buffer.from(good);
    corrupt[good.length - 100] ^= 0xff;
    let bytes = corrupt;
    const hubRequests = [];
    const p = await context.newPage();
    watch(p);
    await context.route('**/models/index.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: '[]' }));
    await context.route('https://huggingface.co/**', async (route) => {
      const req = route.request();
      hubRequests.push(`${req.method()} ${req.url()} ${req.headers().range ?? ''}`);
      if (req.url() !== hubUrl) return route.fulfill({ status: 404, body: 'not here' });
      const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges, ETag', 'Accept-Ranges': 'bytes', ETag: '"stories"' };
      if (req.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: { ...cors, 'Access-Control-Allow-Headers': '*', 'Access-Control-Allow-Methods': 'GET, HEAD' } });
      const m = /bytes=(\d+)-(\d*)/.exec(req.headers().range ?? '');
      if (m) {
        const start = Number(m[1]);
        const end = m[2] ? Math.min(Number(m[2]), bytes.length - 1) : bytes.length - 1;
        return route.fulfill({ status: 206, headers: { ...cors, 'Content-Range': `bytes ${start}-${end}/${bytes.length}` }, body: bytes.subarray(start, end + 1) });
      }
      return route.fulfill({ status: 200, headers: cors, body: bytes });
    });
    try {
      await p.goto(`${url}/`);
      await p.evaluate(() => caches.delete('edgewise-models'));
      await p.reload();
      await p.waitForFunction(() => /press Load/.test(document.getElementById('model-status').textContent), null, { timeout: 60_000 });
      assert.match(await p.textContent('#model-list li[data-id="stories260k"]'), /download/);
      await p.click('#model-list li[data-id="stories260k"]');
      // First the hub sends a damaged file: the registry's sha256 refuses it.
      await p.click('#load-btn');
      await p.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.model), null, { timeout: LOAD_TIMEOUT });
      assert.equal(await p.evaluate(() => document.body.dataset.model), 'error');
      assert.match(await p.textContent('#load-error'), /The download was damaged.*sha256/s);
      assert.match(await p.textContent('#model-list li[data-id="stories260k"]'), /download/);
      await screenshot(p, 'chat-checksum');
      bytes = good;
      await p.click('#load-btn');
      await p.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.model), null, { timeout: LOAD_TIMEOUT });
      assert.equal(await p.evaluate(() => document.body.dataset.model), 'ready', await p.textContent('#load-error'));
      assert.ok(hubRequests.length > 0, 'the model came from the (stand-in) hub');
      assert.match(await p.textContent('#model-list li[data-id="stories260k"]'), /cached/);
      assert.equal(await p.evaluate((u) => caches.match(u).then((r) => !!r), hubUrl), true, 'Cache Storage holds the file at its URL');

      const before = hubRequests.length;
      await p.reload();
      await p.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.model), null, { timeout: LOAD_TIMEOUT });
      assert.equal(await p.evaluate(() => document.body.dataset.model), 'ready', await p.textContent('#load-error'));
      assert.match(await p.textContent('#model-list li[data-id="stories260k"]'), /cached/);
      assert.deepEqual(hubRequests.slice(before), [], 'a cached model loads without the network');
      await screenshot(p, 'chat-cached');
      console.log(`hub requests for the first load: ${before}; after the reload: ${hubRequests.length - before}`);
    } finally {
      await context.unroute('**/models/index.json');
      await context.unroute('https://huggingface.co/**');
      await p.evaluate(() => caches.delete('edgewise-models')).catch(() => {});
      await p.close();
    }
  });

  test('a browser without WebGPU gets a page that says so', async () => {
    const p = await context.newPage();
    watch(p);
    await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
    await p.goto(`${url}/`);
    await p.waitForFunction(() => document.body.dataset.model === 'no-webgpu', null, { timeout: 60_000 });
    assert.equal(await p.isVisible('#no-webgpu'), true);
    assert.equal(await p.isHidden('#app'), true);
    assert.match(await p.textContent('#no-webgpu'), /WebGPU is not available/);
    await screenshot(p, 'chat-no-webgpu');
    await p.close();
  });

  test('no console errors and no CSP violations', async () => {
    assert.deepEqual(cspViolations, [], 'CSP violations');
    assert.deepEqual(consoleErrors, []);
  });
});
