// Images into the gemma3 decoder: embeddings as decoder input, bidirectional attention within an image,
// prompt assembly around gemma3's image tokens, and the whole PNG -> preprocess -> mmproj-tinygemma3
// encoder -> random-weight gemma3 text model -> greedy tokens path. llama.cpp's multimodal path (mtmd) is
// not reachable from node-llama-cpp, so the decoder side is checked by identities (embedding input equals
// token input, one-row batches are the same either way) rather than against llama.cpp.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { bytesSource, openGguf, type Gguf } from '../formats/gguf.ts';
import { writeGguf } from '../formats/gguf-writer.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import { randomModelSpec } from '../testing/random-model.ts';
import { testGpu } from '../testing/gpu.ts';
import { compareArrays } from '../testing/compare.ts';
import { Rng } from '../testing/rng.ts';
import { gemma3TextModelBytes, TINY_GEMMA3_VOCAB, TINY_MMPROJ } from '../testing/mmproj.ts';
import { loadLanguageModel, type LoadedModel } from '../models/load.ts';
import { loadTokenizer, type TextTokenizer } from '../tokenizer/tokenizer.ts';
import { VisionEncoder } from '../vision/encoder.ts';
import { checkProjectorWidth, ProjectorWidthError } from '../vision/clip.ts';
import { preprocessImage } from '../vision/image.ts';
import { decodeImage } from '../vision/image-node.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { assembleGemma3Prompt, generateWithImages, MEDIA_MARKER, MultimodalPromptError, promptLength } from './multimodal.ts';

const D = 128; // mmproj-tinygemma3's output width
const VOCAB = TINY_GEMMA3_VOCAB;
const SOI = VOCAB - 2, EOI = VOCAB - 1;

function textModelBytes(): Uint8Array {
  return gemma3TextModelBytes();
}

async function readLogits(gpu: Gpu, m: LoadedModel, record: (rec: ReturnType<Gpu['recorder']>) => void): Promise<Float32Array> {
  const rec = gpu.recorder('test');
  record(rec);
  rec.submit();
  return gpu.readF32(m.model.logits);
}

function pngOf(width: number, height: number, seed: number): Uint8Array {
  const png = new PNG({ width, height });
  const rng = new Rng(seed);
  for (let i = 0; i < png.data.length; i++) png.data[i] = rng.int(0, 256);
  return new Uint8Array(PNG.sync.write(png));
}

let gpu: Gpu;
let gguf: Gguf;
let loaded: LoadedModel;
let tok: TextTokenizer;
let tokenEmbd: Float32Array;

beforeAll(async () => {
  gpu = await testGpu();
  gguf = await openGguf(bytesSource(textModelBytes(), 'gemma3-random-128.gguf'));
  loaded = await loadLanguageModel(gpu, gguf, { contextLength: 512, maxBatch: 256 });
  tok = loadTokenizer(gguf);
  const info = gguf.requireTensor('token_embd.weight');
  const b = await gguf.readTensorBytes(info);
  tokenEmbd = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
});

afterAll(() => {
  loaded?.model.dispose();
  loaded?.weights.destroy();
});

describe('gemma3 decoder with embeddings as input', () => {
  it('embeddings equal to the scaled token embeddings give the logits of the tokens themselves', async () => {
    const ids = [1, 5, 9, 40, 77, 123];
    const s = Math.sqrt(D);
    const rows = new Float32Array(ids.length * D);
    ids.forEach((id, r) => { for (let k = 0; k < D; k++) rows[r * D + k] = tokenEmbd[id * D + k] * s; });
    const emb = gpu.upload(rows, [ids.length, D]);
    const byTokens = await readLogits(gpu, loaded, (rec) => loaded.model.forward(rec, ids, 0));
    const byEmbeddings = await readLogits(gpu, loaded, (rec) => loaded.model.forwardEmbeddings(rec, emb, 0, { causal: true }));
    // Only the rounding of the sqrt(D) multiply (CPU here, GPU there) differs.
    const r = compareArrays(byEmbeddings, byTokens, { atol: 1e-5, rtol: 1e-5 }, 'embeddings vs tokens');
    expect(r.ok, r.message).toBe(true);
    emb.release();
  });

  it('bidirectional within the batch: one row is the same either way, several rows see each other', async () => {
    const rng = new Rng(5);
    const prefix = [1, 30, 31];
    const image = gpu.upload(rng.f32(6 * D, 1), [6, D]);
    const one = gpu.upload(rng.f32(D, 1), [1, D]);
    const run = async (t: typeof image, causal: boolean) => {
      await readLogits(gpu, loaded, (rec) => loaded.model.forward(rec, prefix, 0));
      return readLogits(gpu, loaded, (rec) => loaded.model.forwardEmbeddings(rec, t, prefix.length, { causal }));
    };
    expect(Array.from(await run(one, false))).toEqual(Array.from(await run(one, true)));
    const causal = await run(image, true), bidirectional = await run(image, false);
    const diff = compareArrays(bidirectional, causal, { atol: 1e-3, rtol: 0 });
    expect(diff.ok, 'the last image row must change when earlier rows see later ones').toBe(false);
    expect(diff.maxAbs).toBeGreaterThan(1e-2);
    // and it is deterministic
    expect(Array.from(await run(image, false))).toEqual(Array.from(bidirectional));
    image.release(); one.release();
  });

  it('refuses embeddings of the wrong width or a batch past the context, and stays usable', async () => {
    const bad = gpu.tensor([4, D + 4]);
    expect(() => loaded.model.forwardEmbeddings(gpu.recorder(), bad, 0, { causal: false })).toThrow(/expected F32\[T, 128\]/);
    const ok = gpu.tensor([4, D]);
    expect(() => loaded.model.forwardEmbeddings(gpu.recorder(), ok, 510, { causal: false })).toThrow(/exceed the context length 512/);
    bad.release(); ok.release();
    const logits = await readLogits(gpu, loaded, (rec) => loaded.model.forward(rec, [1, 2, 3], 0));
    expect(logits.every(Number.isFinite)).toBe(true);
  });
});

describe('gemma3 image prompts', () => {
  it('wraps each image in <start_of_image> ... <end_of_image> at its marker, BOS once', () => {
    const chunks = assembleGemma3Prompt(tok, `look${MEDIA_MARKER} and${MEDIA_MARKER}!`, [64, 16]);
    expect(chunks.map((c) => c.kind)).toEqual(['tokens', 'image', 'tokens', 'image', 'tokens']);
    const t = chunks.filter((c) => c.kind === 'tokens').map((c) => c.ids);
    expect(t[0][0]).toBe(tok.bos);
    expect(t[0][t[0].length - 1]).toBe(SOI);
    expect(t[1][0]).toBe(EOI);
    expect(t[1][t[1].length - 1]).toBe(SOI);
    expect(t[2][0]).toBe(EOI);
    expect(t.flat().filter((id) => id === tok.bos)).toHaveLength(1);
    expect(tok.decode(t[0].slice(1, -1))).toBe(tok.decode(tok.encode('look')));
    expect(promptLength(chunks)).toBe(t.flat().length + 80);
    expect(() => assembleGemma3Prompt(tok, `one ${MEDIA_MARKER}`, [64, 64])).toThrow(MultimodalPromptError);
    expect(() => assembleGemma3Prompt(tok, 'no image', [64])).toThrow(/0 image marker\(s\)/);
  });

  it('refuses a vocabulary without gemma3 image tokens', async () => {
    const plain = await openGguf(bytesSource(writeGguf(randomModelSpec({ arch: 'gemma3', nEmbd: 32, nLayer: 1, nHead: 2, nFf: 64, vocab: 270, ctx: 64, weightType: 'F32', seed: 1 })), 'plain.gguf'));
    expect(() => assembleGemma3Prompt(loadTokenizer(plain), `x${MEDIA_MARKER}`, [4])).toThrow(/no '<start_of_image>' token/);
  });
});

describe('image to tokens: PNG -> mmproj-tinygemma3 -> gemma3 decoder', () => {
  let enc: VisionEncoder;
  beforeAll(async () => {
    const g = await openGgufPath(TINY_MMPROJ);
    enc = await VisionEncoder.load(gpu, g);
    await g.close();
  }, 300_000);
  afterAll(() => enc?.dispose());

  it('greedy tokens are deterministic, depend on the image, and a second prompt after an error still runs', async () => {
    checkProjectorWidth(enc.hp, loaded.hparams.nEmbd);
    expect(() => checkProjectorWidth(enc.hp, 2560)).toThrow(ProjectorWidthError);
    const embed = async (png: Uint8Array) => {
      const px = preprocessImage(decodeImage(png), enc.hp);
      const out = gpu.tensor([enc.tokenCount(px), enc.hp.outputWidth], 'F32', 'image embeddings');
      gpu.run((rec) => enc.record(rec, px, out));
      return out;
    };
    const t0 = performance.now();
    const a = await embed(pngOf(40, 24, 1)), b = await embed(pngOf(40, 24, 2));
    const t1 = performance.now();
    expect(a.shape).toEqual([256, D]);
    const chunks = assembleGemma3Prompt(tok, `describe${MEDIA_MARKER}please`, [256]);
    // The prompt's last logits (maxTokens 1 stops right after the prefill's argmax).
    const lastLogits = async (img: typeof a) => {
      const r = await generateWithImages(gpu, loaded.model, chunks, [img], { maxTokens: 1 });
      return { first: r.tokens[0], logits: await gpu.readF32(loaded.model.logits) };
    };
    const la = await lastLogits(a), lb = await lastLogits(b);
    // A different picture reaches the logits (compared as logits: a random model may keep its argmax).
    expect(compareArrays(lb.logits, la.logits, { atol: 1e-3, rtol: 0 }).ok).toBe(false);
    expect(la.first).toBe(la.logits.indexOf(Math.max(...la.logits)));
    const full = await generateWithImages(gpu, loaded.model, chunks, [a], { maxTokens: 4 });
    expect(full.tokens).toHaveLength(4);
    expect(full.tokens[0]).toBe(la.first);
    expect(full.promptPositions).toBe(promptLength(chunks));
    await expect(generateWithImages(gpu, loaded.model, chunks, [], { maxTokens: 2 })).rejects.toThrow(/image 0 has no embeddings/);
    await expect(generateWithImages(gpu, loaded.model, assembleGemma3Prompt(tok, `x${MEDIA_MARKER}`, [300]), [a], { maxTokens: 2 })).rejects.toThrow(MultimodalPromptError);
    // Still usable, and deterministic: the same prompt gives the same tokens.
    expect((await generateWithImages(gpu, loaded.model, chunks, [a], { maxTokens: 4 })).tokens).toEqual(full.tokens);
    console.log(`image encode ${((t1 - t0) / 2).toFixed(0)} ms/image; prefill of ${full.promptPositions} positions ${full.prefillMs.toFixed(0)} ms, ${full.tokens.length - 1} decode steps ${full.decodeMs.toFixed(0)} ms (SwiftShader)`);
    a.release(); b.release();
  }, 600_000);
});
