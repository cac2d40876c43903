// `edgewise generate --mmproj ... --image ...` as a user runs it (a child process): a PNG through
// mmproj-tinygemma3 into a random-weight gemma3 text model gives the tokens of the in-process path, and
// bad inputs (missing or corrupt images, a projector of another width, an unknown projector, flags that
// do not go together) are one stderr line with exit code 2, refused before the GPU starts.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { gv, writeGguf } from '../formats/gguf-writer.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import { randomModelSpec } from '../testing/random-model.ts';
import { editMmproj, gemma3TextModelBytes, readMmproj, TINY_MMPROJ } from '../testing/mmproj.ts';
import { testGpu } from '../testing/gpu.ts';
import { Rng } from '../testing/rng.ts';
import { loadLanguageModel } from '../models/load.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import { VisionEncoder } from '../vision/encoder.ts';
import { preprocessImage } from '../vision/image.ts';
import { loadImageFile } from '../vision/image-node.ts';
import { assembleGemma3Prompt, generateWithImages, MEDIA_MARKER } from '../runtime/multimodal.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run { code: number | null; stdout: string; stderr: string }

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/edgewise.mjs', 'generate', ...args], { cwd: ROOT, env: process.env });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let dir: string, textModel: string, narrowModel: string, png: string, corrupt: string, unknownProjector: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgewise-cli-image-'));
  textModel = join(dir, 'gemma3-128.gguf');
  writeFileSync(textModel, gemma3TextModelBytes());
  narrowModel = join(dir, 'gemma3-64.gguf');
  writeFileSync(narrowModel, writeGguf(randomModelSpec({ arch: 'gemma3', nEmbd: 64, nLayer: 1, nHead: 2, nFf: 128, vocab: 270, ctx: 512, weightType: 'F32', seed: 2 })));
  const img = new PNG({ width: 40, height: 24 });
  const rng = new Rng(9);
  for (let i = 0; i < img.data.length; i++) img.data[i] = rng.int(0, 256);
  png = join(dir, 'picture.png');
  const bytes = PNG.sync.write(img);
  writeFileSync(png, bytes);
  corrupt = join(dir, 'broken.png');
  writeFileSync(corrupt, bytes.subarray(0, bytes.length - 40));
  unknownProjector = join(dir, 'mmproj-resampler.gguf');
  writeFileSync(unknownProjector, editMmproj(await readMmproj(), { metadata: { 'clip.projector_type': gv.string('resampler') } }));
});

describe('edgewise generate --image', () => {
  it('bad input: one stderr line, exit 2, before any GPU work', async () => {
    const base = ['--model', textModel, '--prompt', `what is this?${MEDIA_MARKER}`, '--max-tokens', '2', '--temperature', '0'];
    const cases: [string[], RegExp][] = [
      [[...base, '--image', png], /--image needs --mmproj/],
      [[...base, '--mmproj', TINY_MMPROJ], /--mmproj needs at least one --image/],
      [[...base, '--mmproj', TINY_MMPROJ, '--image', join(dir, 'missing.png')], /image file not found/],
      [[...base, '--mmproj', TINY_MMPROJ, '--image', corrupt], /image corrupt: PNG 40 x 24 could not be decoded/],
      [[...base, '--mmproj', unknownProjector, '--image', png], /vision projector 'resampler' is not supported/],
      [['--model', narrowModel, '--prompt', 'x', '--mmproj', TINY_MMPROJ, '--image', png], /outputs embeddings of width 128 but the text model's width is 64/],
      [[...base, '--mmproj', TINY_MMPROJ, '--image', png, '--image', png], /1 image marker\(s\) '<__media__>' but 2 image\(s\)/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    runs.forEach((r, i) => {
      expect(r.code, `${cases[i][0].join(' ')}\n${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(cases[i][1]);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }, 300_000);

  it('a PNG into the decoder: the tokens of the in-process path, JSON with image token counts and timings', async () => {
    const prompt = `describe${MEDIA_MARKER}please`;
    const r = await cli(['--model', textModel, '--mmproj', TINY_MMPROJ, '--image', png, '--prompt', prompt, '--max-tokens', '3', '--temperature', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const j = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
    expect(j.image_tokens).toEqual([256]);
    expect(j.tokens).toHaveLength(3);
    expect(j.image_encode_ms_per_image as number).toBeGreaterThan(0);

    // The same inputs in process.
    const gpu = await testGpu();
    const text = await openGgufPath(textModel), mm = await openGgufPath(TINY_MMPROJ);
    const tok = loadTokenizer(text);
    const enc = await VisionEncoder.load(gpu, mm);
    const loaded = await loadLanguageModel(gpu, text, { contextLength: 512, maxBatch: 256 });
    const emb = gpu.tensor([256, 128]);
    const px = preprocessImage(await loadImageFile(png), enc.hp);
    gpu.run((rec) => enc.record(rec, px, emb));
    const chunks = assembleGemma3Prompt(tok, prompt, [256]);
    expect(j.prompt_positions).toBe(chunks.reduce((n, c) => n + (c.kind === 'tokens' ? c.ids.length : c.rows), 0));
    const want = await generateWithImages(gpu, loaded.model, chunks, [emb], { maxTokens: 3, stopTokens: [...tok.eog] });
    expect(j.tokens).toEqual(want.tokens);
    emb.release(); enc.dispose(); loaded.model.dispose(); loaded.weights.destroy();
    await text.close(); await mm.close();
  }, 900_000);
});
