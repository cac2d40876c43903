// gemma3 as a vision family (family.ts): every image is letterboxed to the encoder's square input, so it
// always takes the same number of soft tokens; the text model sees <start_of_image>, those embeddings
// with bidirectional attention among themselves (llama.cpp mtmd's non-causal decode for gemma3), then
// <end_of_image>. The encoder and projector are VisionEncoder's; this file only wraps them.

import type { Gpu } from '../gpu/gpu.ts';
import type { Gguf } from '../formats/gguf.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { gemma3ImageTokens } from '../runtime/multimodal.ts';
import { checkClipTensors, checkProjectorWidth, imageTokenCount, readClipHparams } from './clip.ts';
import { VisionEncoder, type VisionLoadProgress } from './encoder.ts';
import type { MediaChunk, VisionFamily } from './family.ts';
import { checkImageSize, preprocessImage, type RgbImage } from './image.ts';

export class Gemma3Family implements VisionFamily {
  readonly projector = 'gemma3';
  readonly outputWidth: number;
  /** Soft tokens of every image (the encoder input is always image_size²). */
  readonly rowsPerImage: number;
  readonly maxRows: number;

  private constructor(private readonly encoder: VisionEncoder, private readonly begin: number, private readonly end: number) {
    this.outputWidth = encoder.hp.outputWidth;
    this.rowsPerImage = imageTokenCount(encoder.hp);
    this.maxRows = this.rowsPerImage;
  }

  /** Checks the text side (width, image tokens) before uploading anything. */
  static async load(gpu: Gpu, gguf: Gguf, text: { tokenizer: TextTokenizer; width: number }, onProgress?: (p: VisionLoadProgress) => void): Promise<Gemma3Family> {
    const hp = readClipHparams(gguf);
    checkClipTensors(gguf, hp);
    checkProjectorWidth(hp, text.width);
    const { begin, end } = gemma3ImageTokens(text.tokenizer);
    return new Gemma3Family(await VisionEncoder.load(gpu, gguf, onProgress), begin, end);
  }

  imagePositions(width: number, height: number): number {
    checkImageSize(width, height, Infinity);
    return this.rowsPerImage + 2;
  }

  async image(img: RgbImage): Promise<MediaChunk[]> {
    const { gpu, hp } = this.encoder;
    const pixels = preprocessImage(img, hp);
    const out = gpu.tensor([this.rowsPerImage, hp.outputWidth], 'F32', 'gemma3 image embeddings');
    try {
      gpu.run((rec) => this.encoder.record(rec, pixels, out), 'vision encode');
    } catch (e) {
      out.release();
      throw e;
    }
    return [
      { kind: 'tokens', ids: [this.begin] },
      { kind: 'embeddings', embeddings: out, causal: false },
      { kind: 'tokens', ids: [this.end] },
    ];
  }

  destroy(): void {
    this.encoder.dispose();
  }
}
