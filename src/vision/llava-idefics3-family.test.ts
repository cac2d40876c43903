// The LLaVA and idefics3 vision families: prompt layout as llama.cpp's mtmd builds it, token lookups in a
// real (toy, byte-level BPE) vocabulary, refusals, and image -> chunks -> embeddings against the torch
// oracle on tiny random-weight mmprojs.
import { describe, expect, it } from 'vitest';
import { bytesSource, openGguf } from '../formats/gguf.ts';
import { loadTokenizer, type TextTokenizer } from '../tokenizer/tokenizer.ts';
import { byteChars, toyVocabGguf } from '../tokenizer/toy-vocab.ts';
import { MultimodalPromptError } from '../runtime/multimodal.ts';
import { compareArrays } from '../testing/compare.ts';
import { testGpu } from '../testing/gpu.ts';
import { openMmprojBytes, tempFile, tinyMmprojBytes, torchEmbeddings, torchUnavailable } from '../testing/mmproj.ts';
import { ProjectorWidthError, readClipHparams, VisionConfigError } from './clip.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { MediaChunk } from './family.ts';
import { Idefics3Family, idefics3Tokens } from './idefics3-family.ts';
import { LlavaFamily } from './llava-family.ts';
import { normalizeRgb, preprocessLlava, splitIdefics3, type RgbImage } from './image.ts';

const TORCH_TOL = { atol: 1e-5, rtol: 1e-5 };
const SPECIALS = ['<fake_token_around_image>', '<global-img>', '<image>'];
for (let r = 1; r <= 3; r++) for (let c = 1; c <= 3; c++) SPECIALS.push(`<row_${r}_col_${c}>`);

/** A SmolVLM-like vocabulary: GPT-2 byte tokens, the merge "\n\n", and idefics3's special tokens. */
async function smolVocab(drop: string[] = []): Promise<TextTokenizer> {
  const chars = byteChars();
  const nl = chars[10];
  const extra = [...(drop.includes('\n\n') ? [] : [nl + nl]), ...SPECIALS.filter((t) => !drop.includes(t))];
  const tokens = [...chars, ...extra];
  const types = [...chars.map(() => 1), ...extra.map((t) => (t.startsWith('<') ? 3 : 1))];
  const bytes = toyVocabGguf({ model: 'gpt2', tokens, types, merges: drop.includes('\n\n') ? [] : [`${nl} ${nl}`] });
  return loadTokenizer(await openGguf(bytesSource(bytes, 'smol-vocab.gguf')));
}

function image(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(3 * width * height);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + seed * 101 + ((i * i) % 13)) & 255;
  return { width, height, channels: 3, data };
}

/** The chunks with embeddings replaced by their row counts, for layout checks. */
function layout(chunks: MediaChunk[]): (number[] | string)[] {
  return chunks.map((c) => (c.kind === 'tokens' ? c.ids : c.kind === 'text' ? c.text : `rows:${c.embeddings.shape[0]}${c.causal ? '' : ' non-causal'}`));
}

describe('idefics3 tokens', () => {
  it('looks up "\\n" and "\\n\\n" by their text and the markers as special tokens; refuses a vocabulary without them', async () => {
    const tok = await smolVocab();
    const t = idefics3Tokens(tok, 2, 3);
    const id = (s: string) => 257 + SPECIALS.indexOf(s);
    expect(t).toEqual({
      newline: 10, doubleNewline: 256, fakeAroundImage: id('<fake_token_around_image>'), globalImage: id('<global-img>'),
      tileStart: [[id('<row_1_col_1>'), id('<row_1_col_2>'), id('<row_1_col_3>')], [id('<row_2_col_1>'), id('<row_2_col_2>'), id('<row_2_col_3>')]],
    });
    expect(tok.decode([t.doubleNewline])).toBe('\n\n');
    await expect(smolVocab(['<global-img>']).then((v) => idefics3Tokens(v, 1, 1))).rejects.toThrow(MultimodalPromptError);
    await expect(smolVocab(['<global-img>']).then((v) => idefics3Tokens(v, 1, 1))).rejects.toThrow(/no '<global-img>' token/);
    await expect(smolVocab(['\n\n']).then((v) => idefics3Tokens(v, 1, 1))).rejects.toThrow(/no token whose text is "\\n\\n"/);
    await expect(smolVocab(['<row_2_col_1>']).then((v) => idefics3Tokens(v, 2, 2))).rejects.toThrow(/<row_2_col_1>/);
    expect(() => idefics3Tokens(tok, 4, 4)).toThrow(/<row_1_col_4>/);
  });
});

describe('LLaVA and idefics3 families on the GPU', () => {
  const skip = torchUnavailable();
  it('torch is available for the independent check', () => {
    expect(skip).toBeNull();
  });

  it.skipIf(skip !== null)('LLaVA: one letterboxed image -> one causal chunk of one row per patch, equal to torch; width checked before upload', { timeout: 600_000 }, async () => {
    const gpu = await testGpu();
    const bytes = tinyMmprojBytes({ projector: 'mlp', seed: 21 });
    const path = tempFile(bytes, 'tiny-llava.gguf');
    await expect(LlavaFamily.load(gpu, await openMmprojBytes(bytes), { width: 32 })).rejects.toThrow(ProjectorWidthError);
    await expect(LlavaFamily.load(gpu, await openMmprojBytes(tinyMmprojBytes({ projector: 'idefics3' })), { width: 24 })).rejects.toThrow(VisionConfigError);
    const fam = await LlavaFamily.load(gpu, await openMmprojBytes(bytes), { width: 24 });
    try {
      expect(fam.imagePositions(6, 4)).toBe(16);
      const img = image(6, 4, 1);
      const chunks = await fam.image(img);
      expect(layout(chunks)).toEqual(['rows:16']);
      const emb = chunks[0].kind === 'embeddings' ? chunks[0].embeddings : null;
      const ours = await gpu.readF32(emb!);
      emb!.release();
      const hp = readClipHparams(await openMmprojBytes(bytes));
      const r = compareArrays(ours, torchEmbeddings(path, preprocessLlava(img, hp)), TORCH_TOL, 'llava family image');
      expect(r.ok, r.message).toBe(true);
    } finally {
      fam.destroy();
    }
  });

  it.skipIf(skip !== null)('idefics3: tiles then the overview, wrapped as mtmd does; each tile equal to torch', { timeout: 600_000 }, async () => {
    const gpu = await testGpu();
    const tok = await smolVocab();
    const bytes = tinyMmprojBytes({ projector: 'idefics3', seed: 22, longestEdge: 16 });
    const path = tempFile(bytes, 'tiny-idefics3.gguf');
    await expect(Idefics3Family.load(gpu, await openMmprojBytes(bytes), { tokenizer: tok, width: 48 })).rejects.toThrow(ProjectorWidthError);
    // Longest edge 32 over 8px tiles needs <row_4_col_4>, which this vocabulary lacks.
    await expect(Idefics3Family.load(gpu, await openMmprojBytes(tinyMmprojBytes({ projector: 'idefics3', longestEdge: 32 })), { tokenizer: tok, width: 24 })).rejects.toThrow(/<row_1_col_4>/);
    const fam = await Idefics3Family.load(gpu, await openMmprojBytes(bytes), { tokenizer: tok, width: 24 });
    const t = fam.tokens;
    try {
      // 16x8 is already 2 x 1 tiles at longest edge 16.
      const wide = image(16, 8, 2);
      const chunks = await fam.image(wide);
      expect(layout(chunks)).toEqual([
        [t.fakeAroundImage, t.tileStart[0][0]], 'rows:4',
        [t.fakeAroundImage, t.tileStart[0][1]], 'rows:4',
        [t.doubleNewline, t.fakeAroundImage, t.globalImage], 'rows:4', [t.fakeAroundImage],
      ]);
      const positions = chunks.reduce((n, c) => n + (c.kind === 'tokens' ? c.ids.length : c.kind === 'embeddings' ? c.embeddings.shape[0] : 0), 0);
      expect(fam.imagePositions(16, 8)).toBe(positions);
      const hp = readClipHparams(await openMmprojBytes(bytes));
      const split = splitIdefics3(wide, 8, 16);
      const inputs = [...split.tiles, split.overview];
      const embs: Tensor[] = chunks.flatMap((c) => (c.kind === 'embeddings' ? [c.embeddings] : []));
      for (const [i, e] of embs.entries()) {
        const ours = await gpu.readF32(e);
        e.release();
        const r = compareArrays(ours, torchEmbeddings(path, normalizeRgb(inputs[i], 8, 8, hp.imageMean, hp.imageStd)), TORCH_TOL, `idefics3 ${i < 2 ? `tile ${i}` : 'overview'}`);
        expect(r.ok, r.message).toBe(true);
      }

      // A tall image: 1 x 2 tiles, a "\n" between the rows.
      const tall = await fam.image(image(4, 9, 3));
      expect(layout(tall)).toEqual([
        [t.fakeAroundImage, t.tileStart[0][0]], 'rows:4',
        [t.newline, t.fakeAroundImage, t.tileStart[1][0]], 'rows:4',
        [t.doubleNewline, t.fakeAroundImage, t.globalImage], 'rows:4', [t.fakeAroundImage],
      ]);
      expect(fam.imagePositions(4, 9)).toBe(2 * (2 + 4) + 1 + 3 + 4 + 1);
      for (const c of tall) if (c.kind === 'embeddings') c.embeddings.release();
    } finally {
      fam.destroy();
    }
  });
});
