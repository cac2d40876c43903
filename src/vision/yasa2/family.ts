// Reka Edge's vision half as a VisionFamily (projector type 'yasa2'): preprocessing and tiling
// (./preprocess.ts), the ConvNeXt V2 encoder one tile at a time (./encoder.ts), and the prompt tokens
// Reka's model expects around the embeddings.
//
// Prompt layout (Reka's vLLM plugin; llama.cpp's mtmd wraps its single tile the same way):
//   image:  <image> (100279), 64 embedding rows per tile (the whole image first, then the cells), </image> (100280)
//   video:  <video> (100284), 64 rows per frame (one tile each, no cutting), </video> (100285)
// The rows sit where Reka's prompt has <REKA_IMG_TOKEN> (100278) placeholders; nothing separates tiles
// or frames, and no timestamp text is added (the plugin passes timestamps beside the prompt, not in
// it). Attention over the rows is causal like the text: neither Reka's model nor llama.cpp (whose
// non-causal decode is for gemma3-style projectors only) lets image rows see later ones.
//
// Each tile (or frame) is its own embeddings chunk of 64 rows: with causal attention, prefilling them
// one after another is the same as one batch, and a tile's pixels and output are released as soon as
// the engine has consumed them.

import type { Gguf } from '../../formats/gguf.ts';
import type { Gpu } from '../../gpu/gpu.ts';
import type { TextTokenizer } from '../../tokenizer/tokenizer.ts';
import { REKA_EDGE_TOKENS } from '../../models/reka-edge.ts';
import { MultimodalPromptError } from '../../runtime/multimodal.ts';
import { ProjectorWidthError } from '../clip.ts';
import type { MediaChunk, VideoFrame, VisionFamily } from '../family.ts';
import type { RgbImage } from '../image.ts';
import { encodeYasa2Tile } from './encoder.ts';
import { YASA2_KEYS, YASA2_PROJECTOR_TYPE } from './names.ts';
import {
  IMAGENET_MEAN, IMAGENET_STD, REKA_EDGE_PREPROCESS, yasa2FrameTile, yasa2Normalize, yasa2TilePlan, yasa2Tiles,
  type Yasa2PreprocessConfig,
} from './preprocess.ts';
import { loadYasa2Weights, type Yasa2Weights } from './weights.ts';

/** Frames a clip gets when the request does not say (the model card's video_preprocessor_config). */
export const YASA2_DEFAULT_VIDEO_FRAMES = 6;

/** The ids that wrap media in Reka's prompt. */
export interface Yasa2MediaTokens {
  imageStart: number;
  imageEnd: number;
  videoStart: number;
  videoEnd: number;
}

export const REKA_EDGE_MEDIA_TOKENS: Yasa2MediaTokens = {
  imageStart: REKA_EDGE_TOKENS.imageStart,
  imageEnd: REKA_EDGE_TOKENS.imageEnd,
  videoStart: REKA_EDGE_TOKENS.videoStart,
  videoEnd: REKA_EDGE_TOKENS.videoEnd,
};

/**
 * Looks the media tokens up by their text in the text model's vocabulary, as llama.cpp's mtmd does;
 * each must be one token. A vocabulary without them is not Reka Edge's: MultimodalPromptError.
 */
export function yasa2MediaTokens(tok: TextTokenizer): Yasa2MediaTokens {
  const one = (text: string): number => {
    const ids = tok.encode(text, { parseSpecial: true });
    if (ids.length !== 1 || tok.tokenText(ids[0]) !== text) {
      throw new MultimodalPromptError(`the vocabulary has no '${text}' token (it tokenizes to [${ids.join(', ')}]); this text model does not take yasa2 (Reka Edge) media`, { token: text, ids });
    }
    return ids[0];
  };
  return { imageStart: one('<image>'), imageEnd: one('</image>'), videoStart: one('<video>'), videoEnd: one('</video>') };
}

export interface Yasa2FamilyOptions {
  /** Most cuts per image before the whole-image tile (Reka Edge: 4). */
  maxTiles?: number;
  /** Tokens around media; default: looked up in `tokenizer` when given, else Reka Edge's ids. */
  tokens?: Yasa2MediaTokens;
  /** The text model's embedding width: a projector of another width is refused (ProjectorWidthError). */
  textWidth?: number;
}

/** The family, with the count the engine's video planner asks families with their own clip format for. */
export type Yasa2Family = VisionFamily & {
  /** Positions a clip of these frame sizes takes: <video>, 64 rows per frame, </video>. */
  videoPositions(sizes: readonly { width: number; height: number }[]): number;
};

/** A VisionFamily over uploaded yasa2 weights. Takes ownership of `weights` (destroy() frees them). */
export function createYasa2Family(gpu: Gpu, weights: Yasa2Weights, pre: Yasa2PreprocessConfig, tokens: Yasa2MediaTokens = REKA_EDGE_MEDIA_TOKENS): Yasa2Family {
  const cfg = weights.config;
  if (pre.imageSize !== cfg.imageSize) throw new RangeError(`yasa2 family: preprocessing makes ${pre.imageSize}-pixel tiles, the encoder takes ${cfg.imageSize}`);
  if (!(Number.isInteger(pre.maxTiles) && pre.maxTiles >= 1)) throw new RangeError(`yasa2 family: maxTiles must be a positive integer, got ${pre.maxTiles}`);
  const rows = cfg.pooledSide * cfg.pooledSide;
  const S = cfg.imageSize;
  let destroyed = false;

  const encode = async (tile: RgbImage): Promise<MediaChunk> => {
    if (destroyed) throw new Error('yasa2 family: used after destroy()');
    const px = gpu.upload(yasa2Normalize(tile, pre), [3, S, S], 'F32', 'yasa2-pixels');
    const out = gpu.tensor([rows, cfg.projOut], 'F32', 'yasa2-tile');
    try {
      gpu.run((rec) => {
        encodeYasa2Tile(gpu, rec, weights, px, out);
        rec.onSubmitted(() => px.release());
      }, 'yasa2 tile');
    } catch (e) {
      px.release();
      out.release();
      throw e;
    }
    // One tile in flight at a time: the queue never holds more than a tile's work, and a worker gets
    // to answer messages between tiles.
    await gpu.sync();
    return { kind: 'embeddings', embeddings: out, causal: true };
  };

  return {
    projector: YASA2_PROJECTOR_TYPE,
    outputWidth: cfg.projOut,
    defaultVideoFrames: YASA2_DEFAULT_VIDEO_FRAMES,
    // Every embeddings chunk is one tile's 64 rows (and causal, so chunks need no common batch).
    maxRows: rows,

    imagePositions(width: number, height: number): number {
      return yasa2TilePlan(width, height, pre).tiles * rows + 2;
    },

    videoPositions(sizes: readonly { width: number; height: number }[]): number {
      return sizes.length * rows + 2;
    },

    async image(img: RgbImage): Promise<MediaChunk[]> {
      const tiles = yasa2Tiles(img, pre);
      const chunks: MediaChunk[] = [{ kind: 'tokens', ids: [tokens.imageStart] }];
      try {
        for (const t of tiles) chunks.push(await encode(t));
      } catch (e) {
        releaseChunks(chunks);
        throw e;
      }
      chunks.push({ kind: 'tokens', ids: [tokens.imageEnd] });
      return chunks;
    },

    async video(frames: AsyncIterable<VideoFrame>): Promise<MediaChunk[]> {
      const chunks: MediaChunk[] = [{ kind: 'tokens', ids: [tokens.videoStart] }];
      try {
        for await (const f of frames) chunks.push(await encode(yasa2FrameTile(f.image, pre)));
      } catch (e) {
        releaseChunks(chunks);
        throw e;
      }
      chunks.push({ kind: 'tokens', ids: [tokens.videoEnd] });
      return chunks;
    },

    destroy(): void {
      if (destroyed) return;
      destroyed = true;
      weights.destroy();
    },
  };
}

function releaseChunks(chunks: MediaChunk[]): void {
  for (const c of chunks) if (c.kind === 'embeddings') c.embeddings.release();
}

/** mean / std from the mmproj when it has them (as llama.cpp reads them), else ImageNet's. */
function meanStd(gguf: Gguf, key: string, fallback: readonly [number, number, number]): readonly [number, number, number] {
  const v = gguf.get(key);
  if (v?.type === 'array' && v.value.items.length === 3) {
    const xs = Array.from(v.value.items as ArrayLike<unknown>, Number);
    if (xs.every((x) => Number.isFinite(x))) return xs as [number, number, number];
  }
  return fallback;
}

/**
 * Reads a yasa2 mmproj: the encoder's weights on the GPU, the preprocessing from its metadata, the
 * media tokens from the text model's vocabulary when a tokenizer is given.
 */
export async function loadYasa2Family(gpu: Gpu, gguf: Gguf, tokenizer?: TextTokenizer, opts: Yasa2FamilyOptions = {}): Promise<Yasa2Family> {
  const tokens = opts.tokens ?? (tokenizer ? yasa2MediaTokens(tokenizer) : REKA_EDGE_MEDIA_TOKENS);
  const weights = await loadYasa2Weights(gpu, gguf);
  if (opts.textWidth !== undefined && weights.config.projOut !== opts.textWidth) {
    weights.destroy();
    throw new ProjectorWidthError(weights.config.projOut, opts.textWidth);
  }
  const pre: Yasa2PreprocessConfig = {
    ...REKA_EDGE_PREPROCESS,
    imageSize: weights.config.imageSize,
    patchSize: weights.config.patchSize,
    maxTiles: opts.maxTiles ?? REKA_EDGE_PREPROCESS.maxTiles,
    mean: meanStd(gguf, YASA2_KEYS.imageMean, IMAGENET_MEAN),
    std: meanStd(gguf, YASA2_KEYS.imageStd, IMAGENET_STD),
  };
  return createYasa2Family(gpu, weights, pre, tokens);
}
