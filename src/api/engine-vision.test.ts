// Images through the in-thread engine (issues 4 and 5): mmproj-tinygemma3 with a random-weight gemma3
// text model of width 128. The engine's greedy tokens for a PNG equal the in-process path's (encoder +
// assembleGemma3Prompt + generateWithImages, what the CLI runs); a seeded sampled run repeats; two images
// in one message; an image turn then a text turn reuses the cached image positions; a different image at
// the same positions is not taken from the cache; overflow drops whole turns; bad images, URLs and
// mmproj files are OpenAI-style errors naming the part, and the engine keeps working with GPU buffers flat.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { gv, writeGguf } from '../formats/gguf-writer.ts';
import { bytesSource, openGguf } from '../formats/gguf.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { loadLanguageModel } from '../models/load.ts';
import { assembleGemma3Prompt, generateWithImages, MEDIA_MARKER } from '../runtime/multimodal.ts';
import { editMmproj, readMmproj, TINY_GEMMA3_VOCAB, TINY_MMPROJ } from '../testing/mmproj.ts';
import { testGpu } from '../testing/gpu.ts';
import { randomModelSpec } from '../testing/random-model.ts';
import { Rng } from '../testing/rng.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import { imageTokenCount } from '../vision/clip.ts';
import { VisionEncoder } from '../vision/encoder.ts';
import { preprocessImage } from '../vision/image.ts';
import { decodeImage } from '../vision/image-node.ts';
import { createInThreadEngine, type InThreadEngine } from './engine.ts';
import { ApiError } from './errors.ts';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage, ContentPart } from './types.ts';

/** An opaque PNG of random pixels (opaque so a browser canvas decodes it to the same bytes). */
export function randomPng(width: number, height: number, seed: number): Uint8Array {
  const img = new PNG({ width, height });
  const rng = new Rng(seed);
  for (let i = 0; i < img.data.length; i++) img.data[i] = (i & 3) === 3 ? 255 : rng.int(0, 256);
  return new Uint8Array(PNG.sync.write(img));
}

const dataUrl = (bytes: Uint8Array, type = 'image/png') => `data:${type};base64,${Buffer.from(bytes).toString('base64')}`;
const image = (url: string | Blob): ContentPart => ({ type: 'image_url', image_url: { url } });
const text = (t: string): ContentPart => ({ type: 'text', text: t });
const N = 6;

/** mmproj.ts's gemma3TextModelBytes with a context of 1024 (two 258-position images and some text). */
function textModelBytes(seed = 17): Uint8Array {
  const V = TINY_GEMMA3_VOCAB;
  const spec = randomModelSpec({ arch: 'gemma3', nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 256, vocab: V, ctx: 1024, weightType: 'F32', seed, slidingWindow: 8, swaPattern: 2 });
  const meta = spec.metadata as Map<string, unknown>;
  const tokens = meta.get('tokenizer.ggml.tokens') as string[];
  const types = (meta.get('tokenizer.ggml.token_type') as { value: { items: Int32Array } }).value.items;
  tokens[V - 2] = '<start_of_image>';
  tokens[V - 1] = '<end_of_image>';
  types[V - 2] = 3; // CONTROL
  types[V - 1] = 3;
  return writeGguf(spec);
}

let gpu: Gpu;
let dir: string, textModel: string;
let pngA: Uint8Array, pngB: Uint8Array;
let rows: number;
let engine: InThreadEngine;
let server: Server, base: string;

/** The in-process path (what `edgewise generate --image` runs): greedy tokens for one image and a prompt. */
async function reference(png: Uint8Array, prompt: string, n: number): Promise<number[]> {
  const gguf = await openGguf(bytesSource(textModelBytes(), 'gemma3.gguf'));
  const mm = await openGgufPath(TINY_MMPROJ);
  const enc = await VisionEncoder.load(gpu, mm);
  const tok = loadTokenizer(gguf);
  const loaded = await loadLanguageModel(gpu, gguf, { contextLength: 1024, maxBatch: Math.max(64, rows) });
  const emb = gpu.tensor([rows, enc.hp.outputWidth], 'F32', 'ref image');
  try {
    gpu.run((rec) => enc.record(rec, preprocessImage(decodeImage(png), enc.hp), emb));
    const chunks = assembleGemma3Prompt(tok, prompt, [rows]);
    const r = await generateWithImages(gpu, loaded.model, chunks, [emb], { maxTokens: n, stopTokens: [...tok.eog] });
    return r.tokens;
  } finally {
    emb.release(); enc.dispose(); loaded.model.dispose(); loaded.weights.destroy();
    await mm.close(); await gguf.close();
  }
}

async function chat(messages: ChatMessage[], extra: Record<string, unknown> = {}): Promise<ChatCompletion> {
  return engine.chat.completions.create({ messages, max_tokens: N, temperature: 0, ...extra }) as Promise<ChatCompletion>;
}

/** Test spies on the loaded model: the generated ids of each request, and how many images were encoded. */
function spies(): { tokens: number[][]; encodes: () => number } {
  const loaded = (engine as unknown as { loaded: { gen: { generate: (...a: unknown[]) => Promise<{ tokens: number[] }> }; vision: { image: (...a: unknown[]) => Promise<unknown> } } }).loaded;
  const tokens: number[][] = [];
  let encodes = 0;
  const gen = loaded.gen.generate.bind(loaded.gen);
  loaded.gen.generate = async (...a) => { const r = await gen(...a); tokens.push(r.tokens); return r; };
  const img = loaded.vision.image.bind(loaded.vision);
  loaded.vision.image = (...a) => { encodes++; return img(...a); };
  return { tokens, encodes: () => encodes };
}

async function apiError(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e, 'expected an ApiError').toBeInstanceOf(ApiError);
  return e as ApiError;
}

beforeAll(async () => {
  gpu = await testGpu();
  dir = mkdtempSync(join(tmpdir(), 'edgewise-engine-vision-'));
  textModel = join(dir, 'gemma3-128.gguf');
  writeFileSync(textModel, textModelBytes());
  pngA = randomPng(40, 24, 9);
  pngB = randomPng(20, 30, 10);
  const mm = await openGgufPath(TINY_MMPROJ);
  rows = imageTokenCount((await import('../vision/clip.ts')).readClipHparams(mm));
  await mm.close();
  server = createServer((req, res) => {
    if (req.url === '/a.png') { res.writeHead(200, { 'content-type': 'image/png' }); res.end(pngA); return; }
    res.writeHead(404); res.end('no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  engine = createInThreadEngine({ gpu });
});

afterAll(async () => {
  await engine?.dispose();
  server?.close();
});

const TWO_IMAGES = (): ChatMessage[] => [{ role: 'user', content: [image(dataUrl(pngB)), text('two'), image(dataUrl(pngA)), text('describe')] }];

describe('engine with an mmproj (gemma3)', () => {
  let tok: ReturnType<typeof loadTokenizer>;
  let spy: ReturnType<typeof spies>;
  let got: string;
  let wantTokens: number[];
  const describeLen = () => tok.encode('describe', { addSpecial: false }).length;

  it('loads, says it takes images, and gives the in-process path\'s greedy tokens (data URL, Blob, http)', { timeout: 900_000 }, async () => {
    tok = loadTokenizer(await openGguf(bytesSource(textModelBytes(), 'g.gguf')));
    const stages: string[] = [];
    const info = await engine.loadModel({ model: textModel, mmproj: TINY_MMPROJ, contextLength: 1024, onProgress: (p) => stages.push(`${p.stage}:${p.file}`) });
    expect(info).toMatchObject({ hasVision: true, hasVideo: false, visionProjector: 'gemma3', architecture: 'gemma3' });
    expect(stages).toContain('upload:mmproj-tinygemma3.gguf');
    expect(stages.at(-1)).toBe('ready:gemma3-128.gguf');
    spy = spies();

    const t0 = performance.now();
    wantTokens = await reference(pngA, `${MEDIA_MARKER}describe`, N);
    const t1 = performance.now();
    expect(wantTokens.length).toBeGreaterThan(0);
    // No chat template: the message texts in order, the image where its part is.
    const r = await chat([{ role: 'user', content: [image(dataUrl(pngA)), text('describe')] }]);
    const t2 = performance.now();
    expect(spy.tokens.at(-1)).toEqual(wantTokens);
    got = r.choices[0].message.content!;
    expect(got).toBe(tok.decode(wantTokens, { skipSpecial: true }));
    expect(r.usage.prompt_tokens).toBe(1 + rows + 2 + describeLen());
    expect(r.usage.completion_tokens).toBe(wantTokens.length);
    expect(spy.encodes()).toBe(1);
    // The same picture as a Blob and over http: every image position comes from the cache (no encode).
    const blob = await chat([{ role: 'user', content: [image(new Blob([pngA as Uint8Array<ArrayBuffer>])), text('describe')] }]);
    const http = await chat([{ role: 'user', content: [image(`${base}/a.png`), text('describe')] }]);
    expect(spy.tokens.slice(-2)).toEqual([wantTokens, wantTokens]);
    expect(blob.choices[0].message.content).toBe(got);
    expect(http.usage.cached_prompt_tokens).toBe(http.usage.prompt_tokens - 1);
    expect(spy.encodes()).toBe(1);
    console.log(`image prompt of ${r.usage.prompt_tokens} positions: reference ${(t1 - t0).toFixed(0)} ms, engine ${(t2 - t1).toFixed(0)} ms (SwiftShader)`);
  });

  it('streams, samples reproducibly with a seed, stops on a string and aborts within a token', { timeout: 600_000 }, async () => {
    const msgs: ChatMessage[] = [{ role: 'user', content: [image(dataUrl(pngA)), text('describe')] }];
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of await engine.chat.completions.create({ messages: msgs, max_tokens: N, temperature: 0, stream: true })) chunks.push(c);
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(got);
    expect(chunks.at(-1)!.usage!.prompt_tokens).toBe(1 + rows + 2 + describeLen());
    expect(chunks.slice(0, -1).every((c) => c.usage === undefined)).toBe(true);

    const sampled = { temperature: 1.5, top_k: 40, top_p: 0.95, min_p: 0.01, repetition_penalty: 1.1, seed: 1234, max_tokens: 12 };
    const s1 = await chat(msgs, sampled);
    const s2 = await chat(msgs, sampled);
    expect(spy.tokens.at(-1)).toEqual(spy.tokens.at(-2));
    expect(s2.choices[0].message.content).toBe(s1.choices[0].message.content);
    const other = await chat(msgs, { ...sampled, seed: 99 });
    void other;

    if (got.length > 2) {
      const stop = got.slice(1, 3);
      const stopped = await chat(msgs, { stop });
      expect(stopped.choices[0].finish_reason).toBe('stop');
      expect(stopped.choices[0].message.content).toBe(got.slice(0, got.indexOf(stop)));
    }

    const ac = new AbortController();
    let n = 0, last: ChatCompletionChunk | null = null;
    for await (const c of await engine.chat.completions.create({ messages: msgs, max_tokens: 40, temperature: 0, stream: true, signal: ac.signal })) {
      last = c;
      if (++n === 2) ac.abort();
    }
    expect(last!.choices[0].finish_reason).toBe('abort');
    expect(last!.usage!.completion_tokens).toBeLessThanOrEqual(2);
    expect(spy.encodes()).toBe(1);
  });

  it('an image turn then a text turn reuses the image positions; a different image at the same positions is encoded', { timeout: 900_000 }, async () => {
    const turn1: ChatMessage = { role: 'user', content: [image(dataUrl(pngA)), text('describe')] };
    const conv: ChatMessage[] = [turn1, { role: 'assistant', content: got }, { role: 'user', content: 'more' }];
    const before = spy.encodes();
    const second = await chat(conv);
    const turn1Positions = 1 + rows + 2 + describeLen();
    expect(second.usage.cached_prompt_tokens).toBeGreaterThanOrEqual(turn1Positions);
    expect(spy.encodes()).toBe(before);
    const reused = spy.tokens.at(-1);
    // From scratch: the same tokens.
    await engine.resetChat();
    const fresh = await chat(conv);
    expect(fresh.usage.cached_prompt_tokens).toBe(0);
    expect(spy.tokens.at(-1)).toEqual(reused);
    expect(spy.encodes()).toBe(before + 1);

    // B where A was: only the BOS before the image is reused, and B's tokens are B's.
    const onB = await chat([{ role: 'user', content: [image(dataUrl(pngB)), text('describe')] }]);
    expect(onB.usage.cached_prompt_tokens).toBe(1);
    expect(spy.encodes()).toBe(before + 2);
  });

  it('takes two images in one message, each where its part is (the first served from the cache)', { timeout: 900_000 }, async () => {
    const before = spy.encodes();
    // The cache holds [BOS, B, describe, ...] from the test before: B is reused, A is encoded.
    const r = await chat(TWO_IMAGES());
    expect(r.usage.prompt_tokens).toBe(1 + 2 * (rows + 2) + tok.encode('two', { addSpecial: false }).length + describeLen());
    expect(r.usage.cached_prompt_tokens).toBe(1 + rows + 2);
    expect(spy.encodes()).toBe(before + 1);
    expect(r.choices[0].finish_reason).toMatch(/stop|length/);
  });

  it('refuses bad images by part, stays usable, leaks no GPU buffers', { timeout: 600_000 }, async () => {
    const warm = await chat(TWO_IMAGES()); // all cached from the test before
    expect(warm.usage.cached_prompt_tokens).toBe(warm.usage.prompt_tokens - 1);
    const live = gpu.stats().liveBuffers;
    const truncated = pngA.subarray(0, pngA.length - 40);
    const header = (w: number, h: number) => { const b = pngA.slice(); new DataView(b.buffer).setUint32(16, w); new DataView(b.buffer).setUint32(20, h); return b; };
    const gif = new TextEncoder().encode('GIF89a\x01\x00\x01\x00');
    const cases: [ContentPart, string, RegExp][] = [
      [image(dataUrl(truncated)), 'invalid_image', /image corrupt/],
      [image(dataUrl(header(0, 24))), 'invalid_image', /image empty/],
      [image(dataUrl(header(20000, 20000))), 'invalid_image', /image too large.*400000000 pixels/],
      [image(dataUrl(gif, 'image/gif')), 'invalid_image', /unsupported format.*GIF/],
      [image(new Blob([])), 'invalid_image', /image empty/],
      [image(`${base}/missing.png`), 'image_fetch_failed', /404/],
      [image('http://127.0.0.1:9/nothing.png'), 'image_fetch_failed', /cannot fetch/],
    ];
    for (const [part, code, message] of cases) {
      const e = await apiError(chat([{ role: 'user', content: 'hello' }, { role: 'user', content: [text('see'), part] }]));
      expect(e.body.error).toMatchObject({ type: 'invalid_request_error', code, param: 'messages[1].content[1]' });
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/^messages\[1\]\.content\[1\]/);
    }
    const scheme = await apiError(chat([{ role: 'user', content: [image('file:///etc/passwd')] }]));
    expect(scheme.body.error).toMatchObject({ code: 'invalid_value', param: 'messages[0].content[0].image_url.url' });
    const video = await apiError(chat([{ role: 'user', content: [{ type: 'video_url', video_url: { url: dataUrl(pngA) } }] }]));
    expect(video.body.error).toMatchObject({ code: 'invalid_video', param: 'messages[0].content[0]' }); // a PNG is not a clip
    expect(gpu.stats().liveBuffers).toBe(live);
    const after = await chat(TWO_IMAGES());
    expect(after.choices[0].message.content).toBe(warm.choices[0].message.content);
    expect(gpu.stats().liveBuffers).toBe(live);
  });

  it('context overflow: refused by default (truncation: prompt.test.ts)', { timeout: 900_000 }, async () => {
    const conv: ChatMessage[] = [
      { role: 'user', content: [image(dataUrl(pngA)), text('x')] },
      { role: 'assistant', content: 'y' },
      { role: 'user', content: [image(dataUrl(pngB)), text('describe')] },
    ];
    const ctx = 2 * rows;
    await engine.loadModel({ model: textModel, mmproj: TINY_MMPROJ, contextLength: ctx });
    const e = await apiError(chat(conv));
    expect(e.body.error).toMatchObject({ code: 'context_length_exceeded', param: 'messages' });
    expect(e.message).toMatch(new RegExp(`needs ${1 + 2 * (rows + 2) + tok.encode('xy', { addSpecial: false }).length + describeLen()} prompt tokens`));
  });

  it('refuses images without an mmproj, and mmproj files that do not fit', { timeout: 600_000 }, async () => {
    const live = gpu.stats().liveBuffers;
    await engine.loadModel({ model: textModel, contextLength: 1024 });
    expect(await engine.modelInfo()).toMatchObject({ hasVision: false, hasVideo: false, visionProjector: null });
    const e = await apiError(chat([{ role: 'user', content: [text('see'), image(dataUrl(pngA))] }]));
    expect(e.body.error).toMatchObject({ code: 'model_has_no_vision', param: 'messages[0].content[1]' });

    const idefics = join(dir, 'mmproj-unknown.gguf');
    writeFileSync(idefics, editMmproj(await readMmproj(), { metadata: { 'clip.projector_type': gv.string('resampler-x') } }));
    const u = await apiError(engine.loadModel({ model: textModel, mmproj: idefics }));
    expect(u.body.error).toMatchObject({ type: 'model_error', code: 'UnsupportedProjectorError', param: 'mmproj' });
    expect(u.message).toMatch(/'resampler-x' is not supported \(supported: .*gemma3/);

    const narrow = join(dir, 'gemma3-64.gguf');
    writeFileSync(narrow, writeGguf(randomModelSpec({ arch: 'gemma3', nEmbd: 64, nLayer: 1, nHead: 2, nFf: 128, vocab: 270, ctx: 512, weightType: 'F32', seed: 2 })));
    const w = await apiError(engine.loadModel({ model: narrow, mmproj: TINY_MMPROJ }));
    expect(w.body.error).toMatchObject({ type: 'model_error', param: 'mmproj' });
    expect(w.message).toMatch(/width 128 but the text model's width is 64/);
    // The mmproj's checksum: a wrong one is refused before anything is uploaded, a malformed one or one
    // without an mmproj at once; the right one loads.
    const wrongSum = await apiError(engine.loadModel({ model: textModel, mmproj: TINY_MMPROJ, mmprojSha256: '0'.repeat(64) }));
    expect(wrongSum.body.error).toMatchObject({ type: 'model_error', code: 'ModelChecksumError', param: 'mmproj' });
    expect((await apiError(engine.loadModel({ model: textModel, mmproj: TINY_MMPROJ, mmprojSha256: 'xyz' }))).body.error).toMatchObject({ type: 'invalid_request_error', param: 'mmprojSha256' });
    expect((await apiError(engine.loadModel({ model: textModel, mmprojSha256: '0'.repeat(64) }))).body.error).toMatchObject({ type: 'invalid_request_error', param: 'mmprojSha256' });
    const rightSum = createHash('sha256').update(readFileSync(TINY_MMPROJ)).digest('hex');
    await engine.loadModel({ model: textModel, mmproj: TINY_MMPROJ, mmprojSha256: rightSum, contextLength: 512 });
    expect(await engine.modelInfo()).toMatchObject({ hasVision: true, visionProjector: 'gemma3' });

    const missing = await apiError(engine.loadModel({ model: textModel, mmproj: join(dir, 'nope.gguf') }));
    expect(missing.body.error.param).toBe('mmproj');
    expect(await engine.modelInfo()).toBeNull();
    await engine.unloadModel();
    expect(gpu.stats().liveBuffers).toBeLessThanOrEqual(live);
  });
});
