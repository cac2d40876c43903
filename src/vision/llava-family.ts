// LLaVA 1.5 (projector type 'mlp') as a vision family (family.ts): every image is letterboxed on LLaVA's
// background colour to the CLIP encoder's square input, so it always becomes the same number of rows
// (one per patch: 576 for CLIP ViT-L/14 at 336 px). llama.cpp's mtmd puts no tokens around LLaVA's
// embeddings (no begin/end-of-image markers: the prompt's own text, e.g. "USER: <image>\n...", frames
// them) and decodes them causally, like text. The encoder and projector are VisionEncoder's.

import type { Gpu } from '../gpu/gpu.ts';
import type { Gguf } from '../formats/gguf.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { checkProjectorWidth, imageTokenCount, readClipHparams, VisionConfigError } from './clip.ts';
import { VisionEncoder, type VisionLoadProgress } from './encoder.ts';
import type { MediaChunk, VisionFamily } from './family.ts';
import { checkImageSize, preprocessLlava, type RgbImage } from './image.ts';

export class LlavaFamily implements VisionFamily {
  readonly projector = 'mlp';
  readonly outputWidth: number;
  /** Rows of every image (the encoder input is always image_size²). */
  readonly rowsPerImage: number;
  readonly maxRows: number;

  private constructor(private readonly encoder: VisionEncoder) {
    this.outputWidth = encoder.hp.outputWidth;
    this.rowsPerImage = imageTokenCount(encoder.hp);
    this.maxRows = this.rowsPerImage;
  }

  /** Checks the mmproj and the text side's width before uploading anything. The tokenizer is not needed:
   *  LLaVA has no image tokens of its own. */
  static async load(gpu: Gpu, gguf: Gguf, text: { tokenizer?: TextTokenizer; width: number }, onProgress?: (p: VisionLoadProgress) => void): Promise<LlavaFamily> {
    const hp = readClipHparams(gguf);
    if (hp.projector !== 'mlp') throw new VisionConfigError(`clip.projector_type is '${hp.projector}', the LLaVA family runs 'mlp'`, { projector: hp.projector });
    checkProjectorWidth(hp, text.width);
    return new LlavaFamily(await VisionEncoder.load(gpu, gguf, onProgress));
  }

  imagePositions(width: number, height: number): number {
    checkImageSize(width, height, Infinity);
    return this.rowsPerImage;
  }

  async image(img: RgbImage): Promise<MediaChunk[]> {
    const { gpu, hp } = this.encoder;
    const pixels = preprocessLlava(img, hp);
    const out = gpu.tensor([this.rowsPerImage, hp.outputWidth], 'F32', 'llava image embeddings');
    try {
      gpu.run((rec) => this.encoder.record(rec, pixels, out), 'vision encode');
    } catch (e) {
      out.release();
      throw e;
    }
    return [{ kind: 'embeddings', embeddings: out, causal: true }];
  }

  destroy(): void {
    this.encoder.dispose();
  }
}
