// Tensor names and GGUF metadata keys of a yasa2 mmproj, in one place. They are llama.cpp's
// (tools/mtmd clip-impl.h TN_YASA_* and the Reka converter's mapping from the Hugging Face checkpoint):
//   v.patch_embd.{weight,bias}            embeddings.patch_embeddings     Conv2d(3, W0, 4, stride 4)
//   v.patch_ln.{weight,bias}              embeddings.layernorm            channels-first LayerNorm
//   v.stage.S.down.ln.{weight,bias}       stages.S.downsampling_layer.0   (stages 1..)
//   v.stage.S.down.conv.{weight,bias}     stages.S.downsampling_layer.1   Conv2d(W[S-1], W[S], 2, stride 2)
//   v.stage.S.blk.B.{dw,ln,pw1,grn,pw2}.{weight,bias}   stages.S.layers.B.{dwconv,layernorm,pwconv1,grn,pwconv2}
//   v.vision_pos_embed                    the 2-D sin-cos table the converter writes ([256, W_last])
//   mm.0 / mm.2 .{weight,bias}            language_projection.0 / .2 (Linear, GELU between)
// v.backbone_ln.* exists in the files but neither llama.cpp nor Reka's model applies it.

export const YASA2_PROJECTOR_TYPE = 'yasa2';

export const YASA2_TENSORS = {
  patchW: 'v.patch_embd.weight',
  patchB: 'v.patch_embd.bias',
  patchLnW: 'v.patch_ln.weight',
  patchLnB: 'v.patch_ln.bias',
  posEmbed: 'v.vision_pos_embed',
  backboneLnW: 'v.backbone_ln.weight',
  backboneLnB: 'v.backbone_ln.bias',
  mm0W: 'mm.0.weight',
  mm0B: 'mm.0.bias',
  mm2W: 'mm.2.weight',
  mm2B: 'mm.2.bias',
  downLn: (stage: number, wb: 'weight' | 'bias') => `v.stage.${stage}.down.ln.${wb}`,
  downConv: (stage: number, wb: 'weight' | 'bias') => `v.stage.${stage}.down.conv.${wb}`,
  block: (stage: number, block: number, part: Yasa2BlockPart, wb: 'weight' | 'bias') => `v.stage.${stage}.blk.${block}.${part}.${wb}`,
} as const;

export type Yasa2BlockPart = 'dw' | 'ln' | 'pw1' | 'grn' | 'pw2';
export const YASA2_BLOCK_PARTS: readonly Yasa2BlockPart[] = ['dw', 'ln', 'pw1', 'grn', 'pw2'];

/** GGUF metadata keys the converter writes (clip.* as for every mmproj). */
export const YASA2_KEYS = {
  projectorType: 'clip.projector_type',
  imageSize: 'clip.vision.image_size',
  patchSize: 'clip.vision.patch_size',
  embeddingLength: 'clip.vision.embedding_length',
  projectionDim: 'clip.vision.projection_dim',
  layerNormEps: 'clip.vision.attention.layer_norm_epsilon',
  imageMean: 'clip.vision.image_mean',
  imageStd: 'clip.vision.image_std',
} as const;
