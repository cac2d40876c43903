// The vision half of a multimodal model as llama.cpp's mtmd tools store it: an "mmproj" GGUF with
// general.architecture = 'clip', `clip.vision.*` hyperparameters, `v.*` ViT tensors and `mm.*` projector
// tensors. This file reads and checks them (no GPU); encoder.ts runs them.
//
// Projectors are small declarative entries in PROJECTORS:
// - gemma3: average pooling of the square patch grid by `clip.vision.projector.scale_factor` (default 4, as
//   llama.cpp), RMSNorm with mm.soft_emb_norm, then mm.input_projection — stored [vision width, text width]
//   (ggml ne [text, vision]), which llama.cpp multiplies transposed.
// - mlp (LLaVA 1.5): a CLIP ViT with a class embedding (v.class_embd), then mm.0 (linear + bias), GELU,
//   mm.2 (linear + bias). The legacy converter already dropped the ViT's last block (LLaVA reads the
//   second-to-last hidden state), so every stored block runs; see encoder.ts for how this differs from
//   llama.cpp's graph.
// - idefics3 (SmolVLM): a SigLIP ViT, pixel shuffle of the patch grid by scale_factor (s x s neighbours
//   side by side in one row), then mm.model.fc (linear, no bias).

import { EdgewiseError } from '../errors.ts';
import type { Gguf, GgufTensorInfo } from '../formats/gguf.ts';

/** The mmproj file is not a vision encoder this engine can run, or its tensors disagree with its metadata. */
export class VisionConfigError extends EdgewiseError {
  override name = 'VisionConfigError';
}

/** `clip.projector_type` names a projector this engine does not implement (or is missing). */
export class UnsupportedProjectorError extends EdgewiseError {
  override name = 'UnsupportedProjectorError';
  constructor(readonly projector: string) {
    super(`vision projector '${projector}' is not supported (supported: ${Object.keys(PROJECTORS).join(', ')})`, { projector, supported: Object.keys(PROJECTORS) });
  }
}

/** The projector writes embeddings of one width and the text model takes another. */
export class ProjectorWidthError extends EdgewiseError {
  override name = 'ProjectorWidthError';
  constructor(readonly projectorWidth: number, readonly textWidth: number) {
    super(`the vision projector outputs embeddings of width ${projectorWidth} but the text model's width is ${textWidth}; this mmproj belongs to another model`, { projectorWidth, textWidth });
  }
}

export type ProjectorType = 'gemma3' | 'mlp' | 'idefics3';

interface ProjectorSpec {
  /** Tensors beyond the ViT, with their shapes from the hyperparameters (and the output width). */
  tensors(hp: { nEmbd: number; mergeFactor: number; projHidden: number }, outWidth: number): Map<string, number[]>;
  /** The text width the projector writes, read from its tensors. */
  outputWidth(gguf: Gguf): number;
  /** Patch-grid merge factor per side (gemma3: the pooling kernel; idefics3: the pixel shuffle). */
  mergeFactor(gguf: Gguf, nEmbd: number): number;
  /** Width between the projector's two linears (mlp), 0 for one-matrix projectors. */
  projHidden(gguf: Gguf): number;
  /** The ViT carries a class token (v.class_embd) whose output row the projector drops (CLIP). */
  classEmbedding: boolean;
}

const PROJECTORS: Record<ProjectorType, ProjectorSpec> = {
  gemma3: {
    tensors: (hp, out) => new Map([
      ['mm.input_projection.weight', [hp.nEmbd, out]],
      ['mm.soft_emb_norm.weight', [hp.nEmbd]],
    ]),
    outputWidth: (gguf) => requireTensor(gguf, 'mm.input_projection.weight').shape[1],
    mergeFactor: (gguf) => gguf.getU32('clip.vision.projector.scale_factor', 4),
    projHidden: () => 0,
    classEmbedding: false,
  },
  mlp: {
    // llama.cpp's names: mm.0 = linear_1, mm.2 = linear_2 (mm.1 is the GELU in LLaVA's nn.Sequential).
    tensors: (hp, out) => new Map([
      ['mm.0.weight', [hp.projHidden, hp.nEmbd]],
      ['mm.0.bias', [hp.projHidden]],
      ['mm.2.weight', [out, hp.projHidden]],
      ['mm.2.bias', [out]],
    ]),
    outputWidth: (gguf) => requireTensor(gguf, 'mm.2.weight').shape[0],
    mergeFactor: () => 1,
    projHidden: (gguf) => requireTensor(gguf, 'mm.0.weight').shape[0],
    classEmbedding: true,
  },
  idefics3: {
    tensors: (hp, out) => new Map([['mm.model.fc.weight', [out, hp.nEmbd * hp.mergeFactor * hp.mergeFactor]]]),
    outputWidth: (gguf) => requireTensor(gguf, 'mm.model.fc.weight').shape[0],
    // The converter writes scale_factor; a file without it gets the factor its projection's width implies.
    mergeFactor: (gguf, nEmbd) => gguf.getU32('clip.vision.projector.scale_factor', Math.round(Math.sqrt(requireTensor(gguf, 'mm.model.fc.weight').shape[1] / nEmbd))),
    projHidden: () => 0,
    classEmbedding: false,
  },
};

/** The most idefics3 tiles per side an mmproj may ask for. */
const MAX_TILES_PER_SIDE = 16;

export interface ClipHparams {
  projector: ProjectorType;
  /** Square input side in pixels the encoder was trained at (images are resized to it). */
  imageSize: number;
  patchSize: number;
  nEmbd: number;
  nFf: number;
  nLayer: number;
  nHead: number;
  headDim: number;
  /** LayerNorm epsilon of the ViT, also the projector's RMSNorm epsilon (as llama.cpp uses it). */
  eps: number;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  /** FFN activation: llama.cpp's FFN_GELU (tanh form) when clip.use_gelu is set, else FFN_GELU_QUICK
   *  (x sigmoid(1.702 x), CLIP's quick_gelu); clip.use_silu is refused. */
  ffnAct: 'gelu' | 'quick-gelu';
  /** Patches per side are merged by this factor (gemma3: pooled; idefics3: pixel-shuffled; mlp: 1). */
  mergeFactor: number;
  /** Width between the mlp projector's two linears (0 for the others). */
  projHidden: number;
  /** A class token (v.class_embd) joins the patches in the ViT; its output row is dropped (mlp). */
  hasClassEmbedding: boolean;
  /**
   * ffn_up and ffn_down are stored under each other's names (older converters; llama.cpp swaps them back
   * when ffn_down's rows are n_embd long, i.e. its ggml ne[0] is n_embd).
   */
  ffnSwapped: boolean;
  /** idefics3: the longest side an image is resized to before it is split into tiles
   *  (clip.vision.preproc_image_size; the tile size when absent). 0 for the others. */
  imageLongestEdge: number;
  /** Width of the embeddings handed to the text model. */
  outputWidth: number;
  /** Position embeddings stored (a square grid of this many per side). */
  posGridSide: number;
  hasPreNorm: boolean;
  hasPostNorm: boolean;
  hasPatchBias: boolean;
}

function requireTensor(gguf: Gguf, name: string): GgufTensorInfo {
  const t = gguf.tensor(name);
  if (!t) throw new VisionConfigError(`tensor '${name}' is missing from the mmproj file`, { tensor: name });
  return t;
}

function rgb(gguf: Gguf, key: string): [number, number, number] {
  const a = gguf.getArray(key, 'f32').items;
  if (a.length !== 3 || !Array.from(a).every(Number.isFinite)) {
    throw new VisionConfigError(`'${key}' must hold 3 finite values (R, G, B), found [${Array.from(a).join(', ')}]`, { key, value: Array.from(a) });
  }
  return [a[0], a[1], a[2]];
}

/** Hyperparameters of the vision encoder and projector in an mmproj GGUF; throws typed errors, touches no GPU. */
export function readClipHparams(gguf: Gguf): ClipHparams {
  const arch = gguf.getString('general.architecture');
  if (arch !== 'clip') throw new VisionConfigError(`general.architecture is '${arch}', an mmproj file has 'clip'`, { arch });
  if (!gguf.getBool('clip.has_vision_encoder', false)) {
    throw new VisionConfigError('clip.has_vision_encoder is not set: this mmproj has no vision encoder (audio-only?)', { key: 'clip.has_vision_encoder' });
  }
  const projector = gguf.getString('clip.projector_type', gguf.getString('clip.vision.projector_type', 'mlp'));
  // Own keys only: `in` would find Object.prototype's 'constructor' or 'toString' as a projector.
  if (!Object.hasOwn(PROJECTORS, projector)) throw new UnsupportedProjectorError(projector);
  const spec = PROJECTORS[projector as ProjectorType];

  const u = (k: string) => gguf.getU32(`clip.vision.${k}`);
  const imageSize = u('image_size'), patchSize = u('patch_size'), nEmbd = u('embedding_length');
  const nFf = u('feed_forward_length'), nLayer = u('block_count'), nHead = u('attention.head_count');
  const eps = gguf.getF32('clip.vision.attention.layer_norm_epsilon');
  const useGelu = gguf.getBool('clip.use_gelu', false), useSilu = gguf.getBool('clip.use_silu', false);
  // llama.cpp: gelu if use_gelu, silu if use_silu, else quick-gelu. A plain (ungated) silu FFN is refused.
  if (useGelu && useSilu) throw new VisionConfigError('clip.use_gelu and clip.use_silu are both set', { useGelu, useSilu });
  if (useSilu) throw new VisionConfigError('the ViT FFN activation is silu (clip.use_silu); only GELU and quick-GELU encoders are supported', { useGelu, useSilu });
  // Granite-style feature layers (several hidden states concatenated) are not implemented.
  if (gguf.metadata.has('clip.vision.feature_layer')) {
    throw new VisionConfigError('clip.vision.feature_layer is set (features from several ViT layers, as Granite Vision); only the last stored layer is supported', { key: 'clip.vision.feature_layer' });
  }
  if (gguf.metadata.has('clip.vision.image_grid_pinpoints')) {
    throw new VisionConfigError('clip.vision.image_grid_pinpoints is set (LLaVA 1.6 "anyres" tiling); only fixed-size LLaVA 1.5 inputs are supported', { key: 'clip.vision.image_grid_pinpoints' });
  }
  for (const [k, v] of Object.entries({ imageSize, patchSize, nEmbd, nFf, nLayer, nHead })) {
    if (v < 1) throw new VisionConfigError(`clip.vision ${k} is ${v}`, { [k]: v });
  }
  // Every block has tensors of its own; a corrupt count (2^30) must be refused before the per-block
  // tensor list is built, not after building it (found by the GGUF fuzzer: a hang, then out of memory).
  if (nLayer > gguf.tensors.length) {
    throw new VisionConfigError(`clip.vision.block_count is ${nLayer} but the file holds only ${gguf.tensors.length} tensors`, { nLayer, tensors: gguf.tensors.length });
  }
  if (imageSize % patchSize !== 0) throw new VisionConfigError(`image size ${imageSize} is not a multiple of the patch size ${patchSize}`, { imageSize, patchSize });
  if (nEmbd % nHead !== 0) throw new VisionConfigError(`width ${nEmbd} is not a multiple of ${nHead} heads`, { nEmbd, nHead });
  if (!(eps > 0)) throw new VisionConfigError(`layer_norm_epsilon ${eps} must be positive`, { eps });

  const mergeFactor = spec.mergeFactor(gguf, nEmbd);
  const side = imageSize / patchSize;
  if (!Number.isInteger(mergeFactor) || mergeFactor < 1 || side % mergeFactor !== 0) {
    throw new VisionConfigError(`${side} patches per side do not pool by the projector's scale factor ${mergeFactor}`, { side, mergeFactor });
  }
  // A class token takes position 0; the patches' grid follows it.
  const hasClassEmbedding = spec.classEmbedding;
  const pos = requireTensor(gguf, 'v.position_embd.weight');
  const nGrid = pos.shape[0] - (hasClassEmbedding ? 1 : 0);
  const posGridSide = Math.round(Math.sqrt(nGrid));
  if (pos.shape.length !== 2 || posGridSide * posGridSide !== nGrid) {
    throw new VisionConfigError(`v.position_embd.weight has shape [${pos.shape.join(', ')}]; a square grid of positions${hasClassEmbedding ? ' after the class position' : ''} is expected`, { shape: pos.shape });
  }
  if (hasClassEmbedding && posGridSide !== side) {
    throw new VisionConfigError(`v.position_embd.weight holds a ${posGridSide}x${posGridSide} grid but the ${imageSize}px input makes ${side}x${side} patches`, { posGridSide, side });
  }
  const down = gguf.tensor('v.blk.0.ffn_down.weight');
  const ffnSwapped = !!down && down.shape.length === 2 && down.shape[1] === nEmbd;
  const imageLongestEdge = projector === 'idefics3' ? gguf.getU32('clip.vision.preproc_image_size', imageSize) : 0;
  if (projector === 'idefics3' && imageLongestEdge < imageSize) {
    throw new VisionConfigError(`clip.vision.preproc_image_size ${imageLongestEdge} is below the tile size ${imageSize}`, { imageLongestEdge, imageSize });
  }
  // Every tile is one encoder pass and the vocabulary needs a <row_r_col_c> per grid cell: a corrupt
  // longest edge would ask for millions of them. Idefics3 and SmolVLM use 4 or 5 tiles per side.
  if (projector === 'idefics3' && imageLongestEdge > MAX_TILES_PER_SIDE * imageSize) {
    throw new VisionConfigError(`clip.vision.preproc_image_size ${imageLongestEdge} makes more than ${MAX_TILES_PER_SIDE} tiles of ${imageSize} per side`, { imageLongestEdge, imageSize });
  }
  return {
    projector: projector as ProjectorType,
    imageSize, patchSize, nEmbd, nFf, nLayer, nHead, headDim: nEmbd / nHead, eps,
    imageMean: rgb(gguf, 'clip.vision.image_mean'), imageStd: rgb(gguf, 'clip.vision.image_std'),
    ffnAct: useGelu ? 'gelu' : 'quick-gelu', mergeFactor, projHidden: spec.projHidden(gguf),
    outputWidth: spec.outputWidth(gguf), posGridSide,
    hasPreNorm: !!gguf.tensor('v.pre_ln.weight'), hasPostNorm: !!gguf.tensor('v.post_ln.weight'),
    hasPatchBias: !!gguf.tensor('v.patch_embd.bias'), hasClassEmbedding, ffnSwapped, imageLongestEdge,
  };
}

/** Every tensor the encoder reads, by name, with the shape the metadata implies (row-major). */
export function clipTensorShapes(hp: ClipHparams): Map<string, number[]> {
  const { nEmbd: D, nFf: F, patchSize: p } = hp;
  const m = new Map<string, number[]>([
    ['v.patch_embd.weight', [D, 3, p, p]],
    ['v.position_embd.weight', [hp.posGridSide * hp.posGridSide + (hp.hasClassEmbedding ? 1 : 0), D]],
  ]);
  if (hp.hasPatchBias) m.set('v.patch_embd.bias', [D]);
  if (hp.hasClassEmbedding) m.set('v.class_embd', [D]);
  for (const n of [...(hp.hasPreNorm ? ['pre_ln'] : []), ...(hp.hasPostNorm ? ['post_ln'] : [])]) {
    m.set(`v.${n}.weight`, [D]);
    m.set(`v.${n}.bias`, [D]);
  }
  for (let l = 0; l < hp.nLayer; l++) {
    const b = `v.blk.${l}.`;
    for (const n of ['ln1', 'ln2']) { m.set(`${b}${n}.weight`, [D]); m.set(`${b}${n}.bias`, [D]); }
    for (const n of ['attn_q', 'attn_k', 'attn_v', 'attn_out']) { m.set(`${b}${n}.weight`, [D, D]); m.set(`${b}${n}.bias`, [D]); }
    // Stored swapped: ffn_down holds the up projection and ffn_up the down one.
    const [up, down] = hp.ffnSwapped ? ['ffn_down', 'ffn_up'] : ['ffn_up', 'ffn_down'];
    m.set(`${b}${up}.weight`, [F, D]); m.set(`${b}${up}.bias`, [F]);
    m.set(`${b}${down}.weight`, [D, F]); m.set(`${b}${down}.bias`, [D]);
  }
  for (const [k, v] of PROJECTORS[hp.projector].tensors(hp, hp.outputWidth)) m.set(k, v);
  return m;
}

/**
 * The file holds exactly the tensors the encoder reads, in the shapes the metadata implies, with 1-D
 * tensors in F32; a leftover tensor (a gate, a class embedding, q/k norms) would be silently ignored, so
 * it is refused instead. Throws VisionConfigError.
 */
export function checkClipTensors(gguf: Gguf, hp: ClipHparams): void {
  const shapes = clipTensorShapes(hp);
  for (const [name, shape] of shapes) {
    const t = requireTensor(gguf, name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new VisionConfigError(`tensor '${name}' has shape [${t.shape.join(', ')}], the metadata implies [${shape.join(', ')}]`, { tensor: name, shape: t.shape, expected: shape });
    }
    if (shape.length === 1 && t.type !== 'F32') {
      throw new VisionConfigError(`tensor '${name}' is ${t.type}; norm weights and biases must be F32`, { tensor: name, type: t.type });
    }
  }
  const unused = gguf.tensors.filter((t) => !shapes.has(t.name)).map((t) => t.name);
  if (unused.length) {
    throw new VisionConfigError(`${unused.length} tensor(s) this engine's ${hp.projector} vision encoder does not use: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''}`, { unused });
  }
}

/** Refuse an mmproj whose output width is not the text model's embedding width. */
export function checkProjectorWidth(hp: ClipHparams, textWidth: number): void {
  if (hp.outputWidth !== textWidth) throw new ProjectorWidthError(hp.outputWidth, textWidth);
}

/** The names the up and down projections of block `l` are stored under (swapped in older files). */
export function ffnNames(hp: ClipHparams, l: number): { up: string; down: string } {
  const b = `v.blk.${l}.`;
  return hp.ffnSwapped ? { up: `${b}ffn_down`, down: `${b}ffn_up` } : { up: `${b}ffn_up`, down: `${b}ffn_down` };
}

/** Soft tokens one image (or one tile) becomes: the patch grid after the projector's merge. */
export function imageTokenCount(hp: ClipHparams, imageSize = hp.imageSize): number {
  const side = imageSize / hp.patchSize / hp.mergeFactor;
  return side * side;
}
