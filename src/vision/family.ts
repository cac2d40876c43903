// The contract between the engine and a vision family (the mmproj's projector type: gemma3, yasa2, llava,
// idefics3). A family owns everything that differs between model families: preprocessing, tiling, the
// encoder, the projector and the tokens its text model expects around the media. The engine owns the rest:
// decoding files into pixels (worker or Node), sampling video frames, splicing the chunks into the token
// sequence, prefill, generation and the prefix cache.

import type { Tensor } from '../gpu/tensor.ts';
import type { RgbImage } from './image.ts';

/** One sampled video frame: decoded pixels and where it sits in the clip. */
export interface VideoFrame {
  image: RgbImage;
  /** Presentation time of the frame, in milliseconds from the start of the clip. */
  timeMs: number;
}

/**
 * A run of prompt positions. The engine splices chunks into the prompt in order:
 * - `tokens`: literal ids (a family's begin/end-of-image tokens);
 * - `text`: text the engine tokenizes with special tokens parsed and no BOS (e.g. a frame's timestamp);
 * - `embeddings`: F32 [rows, nEmbd] on the GPU, prefilled in one batch; `causal: false` lets the rows
 *   see each other (gemma3's bidirectional attention within one image). The engine releases the tensor
 *   once it has been prefilled.
 */
export type MediaChunk =
  | { kind: 'tokens'; ids: number[] }
  | { kind: 'text'; text: string }
  | { kind: 'embeddings'; embeddings: Tensor; causal: boolean };

export interface VisionFamily {
  /** The mmproj's `clip.projector_type`. */
  readonly projector: string;
  /** Width of the embeddings it produces; the engine refuses a text model of another width. */
  readonly outputWidth: number;
  /**
   * Most rows of one embeddings chunk this family produces, when it is known at load time (gemma3: the
   * soft tokens of every image). The engine sizes the text model's batch to hold it, since rows that see
   * each other (causal: false) must be prefilled in one batch. Absent: the engine's default batch (64).
   */
  readonly maxRows?: number;
  /** Positions one image of this size takes in the prompt (tokens and embedding rows), before encoding. */
  imagePositions(width: number, height: number): number;
  /** Preprocess, encode and wrap one decoded image. */
  image(img: RgbImage): Promise<MediaChunk[]>;
  /** Frame count a clip gets by default when the request does not say (e.g. Reka Edge: 6). */
  readonly defaultVideoFrames?: number;
  /**
   * Encode sampled frames one by one (each frame's pixels may be dropped once encoded, so memory stays
   * bounded) and wrap them as the family's video prompt. Absent: the family takes no video.
   */
  video?(frames: AsyncIterable<VideoFrame>): Promise<MediaChunk[]>;
  /** Free the encoder's GPU weights. */
  destroy(): void;
}
