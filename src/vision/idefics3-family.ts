// idefics3 / SmolVLM as a vision family (family.ts). An image is resized so its longer side is the
// preprocessor's longest edge, rounded up to whole tiles of image_size and cut into rows x cols tiles,
// plus one image_size² overview of the whole image (image.ts: splitIdefics3). Each tile and the overview
// go through the SigLIP encoder and the pixel-shuffle projector on their own (image_size² inputs only).
//
// Prompt layout, as llama.cpp's mtmd lays it out for idefics3 (after transformers' Idefics3Processor,
// where each tile's embeddings stand in for its run of <image> tokens):
//   <fake_token_around_image><row_1_col_1> (tile) <fake_token_around_image><row_1_col_2> (tile) ... \n
//   ...                                                        (a \n after every row but the last)
//   \n\n <fake_token_around_image><global-img> (overview) <fake_token_around_image>
// "\n" and "\n\n" are the vocabulary's first tokens whose text is exactly that (mtmd's lookup_token);
// the row/col markers are tokenized from text with special tokens parsed. A vocabulary without these
// tokens is refused at load. Attention over the rows is causal, as for text (mtmd's non-causal decode is
// for gemma3 only).

import type { Gpu } from '../gpu/gpu.ts';
import type { Gguf } from '../formats/gguf.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { MultimodalPromptError } from '../runtime/multimodal.ts';
import { checkProjectorWidth, imageTokenCount, readClipHparams, VisionConfigError } from './clip.ts';
import { VisionEncoder, type VisionLoadProgress } from './encoder.ts';
import type { MediaChunk, VisionFamily } from './family.ts';
import { idefics3Grid, normalizeRgb, splitIdefics3, type RgbImage } from './image.ts';

export interface Idefics3Tokens {
  newline: number;
  doubleNewline: number;
  fakeAroundImage: number;
  globalImage: number;
  /** The ids of `<fake_token_around_image><row_{r+1}_col_{c+1}>` at [r][c], up to the largest grid. */
  tileStart: number[][];
}

/** The ids of the first tokens whose text (control tokens rendered) is exactly each of `texts`. */
function firstTokensWithText(tok: TextTokenizer, texts: readonly string[]): Map<string, number> {
  const want = new Set(texts), found = new Map<string, number>();
  for (let id = 0; id < tok.vocabSize && found.size < want.size; id++) {
    const piece = tok.decode([id]);
    if (want.has(piece) && !found.has(piece)) found.set(piece, id);
  }
  return found;
}

/** The tokens idefics3's layout needs for grids up to maxRows x maxCols; MultimodalPromptError when the
 *  vocabulary lacks one (the text model is not SmolVLM's / Idefics3's). */
export function idefics3Tokens(tok: TextTokenizer, maxRows: number, maxCols: number): Idefics3Tokens {
  const refuse = (what: string, details: Record<string, unknown>) =>
    new MultimodalPromptError(`the vocabulary has no ${what}; this text model does not take idefics3 (SmolVLM) images`, details);
  const special = (text: string): number => {
    const ids = tok.encode(text, { parseSpecial: true });
    if (ids.length !== 1 || tok.tokenText(ids[0]) !== text) throw refuse(`'${text}' token (it tokenizes to [${ids.join(', ')}])`, { token: text, ids });
    return ids[0];
  };
  const fakeAroundImage = special('<fake_token_around_image>');
  const globalImage = special('<global-img>');
  const lines = firstTokensWithText(tok, ['\n', '\n\n']);
  for (const t of ['\n', '\n\n']) if (!lines.has(t)) throw refuse(`token whose text is ${JSON.stringify(t)}`, { token: t });
  const tileStart: number[][] = [];
  for (let r = 1; r <= maxRows; r++) {
    const row: number[] = [];
    for (let c = 1; c <= maxCols; c++) {
      // mtmd tokenizes the marker text with special tokens parsed: it must come out as these two tokens.
      const marker = `<row_${r}_col_${c}>`;
      const ids = tok.encode(`<fake_token_around_image>${marker}`, { parseSpecial: true });
      if (ids.length !== 2 || ids[0] !== fakeAroundImage || tok.tokenText(ids[1]) !== marker) {
        throw refuse(`'${marker}' token (after <fake_token_around_image> it tokenizes to [${ids.join(', ')}])`, { token: marker, ids });
      }
      row.push(ids[1]);
    }
    tileStart.push(row);
  }
  return { newline: lines.get('\n')!, doubleNewline: lines.get('\n\n')!, fakeAroundImage, globalImage, tileStart };
}

export class Idefics3Family implements VisionFamily {
  readonly projector = 'idefics3';
  readonly outputWidth: number;
  /** Rows of one tile (and of the overview). */
  readonly rowsPerTile: number;
  readonly maxRows: number;

  private constructor(private readonly encoder: VisionEncoder, readonly tokens: Idefics3Tokens) {
    this.outputWidth = encoder.hp.outputWidth;
    this.rowsPerTile = imageTokenCount(encoder.hp);
    this.maxRows = this.rowsPerTile;
  }

  /** Checks the mmproj, the text side's width and its tokens before uploading anything. */
  static async load(gpu: Gpu, gguf: Gguf, text: { tokenizer: TextTokenizer; width: number }, onProgress?: (p: VisionLoadProgress) => void): Promise<Idefics3Family> {
    const hp = readClipHparams(gguf);
    if (hp.projector !== 'idefics3') throw new VisionConfigError(`clip.projector_type is '${hp.projector}', the idefics3 family runs 'idefics3'`, { projector: hp.projector });
    checkProjectorWidth(hp, text.width);
    const maxSide = Math.ceil(hp.imageLongestEdge / hp.imageSize);
    const tokens = idefics3Tokens(text.tokenizer, maxSide, maxSide);
    return new Idefics3Family(await VisionEncoder.load(gpu, gguf, onProgress), tokens);
  }

  /** The grid an image of this size is cut into. */
  grid(width: number, height: number): { rows: number; cols: number } {
    const { imageSize, imageLongestEdge } = this.encoder.hp;
    const g = idefics3Grid(width, height, imageSize, imageLongestEdge);
    return { rows: g.rows, cols: g.cols };
  }

  imagePositions(width: number, height: number): number {
    const { rows, cols } = this.grid(width, height);
    // Per tile: <fake><row_r_col_c> + rows; a \n between rows; \n\n <fake><global-img> + rows + <fake>.
    return rows * cols * (2 + this.rowsPerTile) + (rows - 1) + 3 + this.rowsPerTile + 1;
  }

  async image(img: RgbImage): Promise<MediaChunk[]> {
    const { gpu, hp } = this.encoder;
    const split = splitIdefics3(img, hp.imageSize, hp.imageLongestEdge);
    const { rows, cols } = split.grid;
    const t = this.tokens;
    if (rows > t.tileStart.length || cols > t.tileStart[0].length) {
      throw new VisionConfigError(`image cut into ${rows} x ${cols} tiles, more than the ${t.tileStart.length} x ${t.tileStart[0]?.length ?? 0} the longest edge allows`, { rows, cols });
    }
    const made: Tensor[] = [];
    const encode = (rgb: Uint8Array): Tensor => {
      const pixels = normalizeRgb(rgb, hp.imageSize, hp.imageSize, hp.imageMean, hp.imageStd);
      const out = gpu.tensor([this.rowsPerTile, hp.outputWidth], 'F32', 'idefics3 tile embeddings');
      made.push(out);
      gpu.run((rec) => this.encoder.record(rec, pixels, out), 'vision encode');
      return out;
    };
    const chunks: MediaChunk[] = [];
    const tokens = (ids: number[]) => {
      const last = chunks[chunks.length - 1];
      if (last?.kind === 'tokens') last.ids.push(...ids);
      else chunks.push({ kind: 'tokens', ids: [...ids] });
    };
    try {
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          tokens([t.fakeAroundImage, t.tileStart[r][c]]);
          chunks.push({ kind: 'embeddings', embeddings: encode(split.tiles[r * cols + c]), causal: true });
        }
        if (r !== rows - 1) tokens([t.newline]);
      }
      tokens([t.doubleNewline, t.fakeAroundImage, t.globalImage]);
      chunks.push({ kind: 'embeddings', embeddings: encode(split.overview), causal: true });
      tokens([t.fakeAroundImage]);
    } catch (e) {
      for (const m of made) m.release();
      throw e;
    }
    return chunks;
  }

  destroy(): void {
    this.encoder.dispose();
  }
}
