// Random-weight yasa2 encoders for tests and benchmarks: every tensor the encoder reads, named and
// shaped as in a real mmproj (see src/vision/yasa2/names.ts), with scales that keep activations O(1)
// through many blocks. The same tensors serve as host tensors (upload), as GGUF tensors (writeGguf,
// for the loader), and as the values the GPU sees (after quantization) for the references.

import { dequantize, quantize } from '../formats/quantize.ts';
import { gv, writeGguf, type GgufWriterValue } from '../formats/gguf-writer.ts';
import type { GgmlTypeName } from '../formats/ggml-types.ts';
import type { Yasa2Config } from '../vision/yasa2/config.ts';
import { YASA2_KEYS, YASA2_PROJECTOR_TYPE, YASA2_TENSORS as TN } from '../vision/yasa2/names.ts';
import type { HostTensor, HostTensors } from '../vision/yasa2/weights.ts';
import { Rng } from './rng.ts';

export interface Yasa2FixtureOptions {
  /** Type of the pointwise and projector matrices (default F32). */
  linear?: GgmlTypeName;
  /** Type of the convolution weights (default F32). */
  conv?: 'F32' | 'F16';
  /** Store v.vision_pos_embed (as the converter does) instead of leaving it to be built (default false). */
  storePos?: Float32Array;
}

export interface Yasa2Fixture {
  tensors: { name: string; shape: number[]; type: GgmlTypeName; data: Uint8Array }[];
  /** Host tensors by name (for uploadYasa2Weights). */
  get: HostTensors;
  /** Values as the GPU reads them (quantized types dequantized), by name. */
  values: (name: string) => Float32Array | undefined;
  /** The fixture as a GGUF mmproj file. */
  gguf(): Uint8Array;
}

export function yasa2Fixture(cfg: Yasa2Config, seed: number, opts: Yasa2FixtureOptions = {}): Yasa2Fixture {
  const rng = new Rng(seed);
  const linear = opts.linear ?? 'F32';
  const conv = opts.conv ?? 'F32';
  const tensors: Yasa2Fixture['tensors'] = [];
  const vals = new Map<string, Float32Array>();
  const put = (name: string, shape: number[], type: GgmlTypeName, v: Float32Array) => {
    const data = quantize(type, v);
    tensors.push({ name, shape, type, data });
    vals.set(name, type === 'F32' ? v : dequantize(type, data, v.length));
  };
  const normal = (n: number, scale: number, mean = 0) => {
    const v = rng.f32(n, scale);
    if (mean) for (let i = 0; i < n; i++) v[i] += mean;
    return v;
  };
  const w0 = cfg.widths[0];
  put(TN.patchW, [w0, 3, cfg.patchSize, cfg.patchSize], conv, normal(w0 * 3 * cfg.patchSize ** 2, 1 / Math.sqrt(3 * cfg.patchSize ** 2)));
  put(TN.patchB, [w0], 'F32', normal(w0, 0.1));
  put(TN.patchLnW, [w0], 'F32', normal(w0, 0.1, 1));
  put(TN.patchLnB, [w0], 'F32', normal(w0, 0.1));
  cfg.depths.forEach((depth, s) => {
    const c = cfg.widths[s];
    if (s > 0) {
      const p = cfg.widths[s - 1];
      put(TN.downLn(s, 'weight'), [p], 'F32', normal(p, 0.1, 1));
      put(TN.downLn(s, 'bias'), [p], 'F32', normal(p, 0.1));
      put(TN.downConv(s, 'weight'), [c, p, 2, 2], conv, normal(c * p * 4, 1 / Math.sqrt(4 * p)));
      put(TN.downConv(s, 'bias'), [c], 'F32', normal(c, 0.1));
    }
    for (let b = 0; b < depth; b++) {
      put(TN.block(s, b, 'dw', 'weight'), [c, 1, 7, 7], conv, normal(c * 49, 1 / 7));
      put(TN.block(s, b, 'dw', 'bias'), [c], 'F32', normal(c, 0.1));
      put(TN.block(s, b, 'ln', 'weight'), [c], 'F32', normal(c, 0.1, 1));
      put(TN.block(s, b, 'ln', 'bias'), [c], 'F32', normal(c, 0.1));
      put(TN.block(s, b, 'pw1', 'weight'), [4 * c, c], linear, normal(4 * c * c, 1 / Math.sqrt(c)));
      put(TN.block(s, b, 'pw1', 'bias'), [4 * c], 'F32', normal(4 * c, 0.1));
      // Hugging Face's GRN parameters are (1, 1, 1, 4C); kept so the loader's loose shape check is exercised.
      put(TN.block(s, b, 'grn', 'weight'), [1, 1, 1, 4 * c], 'F32', normal(4 * c, 0.3));
      put(TN.block(s, b, 'grn', 'bias'), [1, 1, 1, 4 * c], 'F32', normal(4 * c, 0.1));
      // Residual branches scaled down so the running map does not grow block after block.
      put(TN.block(s, b, 'pw2', 'weight'), [c, 4 * c], linear, normal(4 * c * c, 0.5 / Math.sqrt(4 * c)));
      put(TN.block(s, b, 'pw2', 'bias'), [c], 'F32', normal(c, 0.1));
    }
  });
  const last = cfg.widths[cfg.widths.length - 1];
  if (opts.storePos) put(TN.posEmbed, [opts.storePos.length / last, last], 'F32', opts.storePos);
  put(TN.mm0W, [cfg.projHidden, last], linear, normal(cfg.projHidden * last, 1 / Math.sqrt(last)));
  put(TN.mm0B, [cfg.projHidden], 'F32', normal(cfg.projHidden, 0.1));
  put(TN.mm2W, [cfg.projOut, cfg.projHidden], linear, normal(cfg.projOut * cfg.projHidden, 1 / Math.sqrt(cfg.projHidden)));
  put(TN.mm2B, [cfg.projOut], 'F32', normal(cfg.projOut, 0.1));

  const byName = new Map<string, HostTensor>(tensors.map((t) => [t.name, { shape: t.shape, dtype: t.type, bytes: t.data }]));
  return {
    tensors,
    get: (name) => byName.get(name),
    values: (name) => vals.get(name),
    gguf: () => {
      const metadata: Record<string, GgufWriterValue> = {
        'general.architecture': gv.string('clip'),
        [YASA2_KEYS.projectorType]: gv.string(YASA2_PROJECTOR_TYPE),
        [YASA2_KEYS.imageSize]: gv.u32(cfg.imageSize),
        [YASA2_KEYS.patchSize]: gv.u32(cfg.patchSize),
        [YASA2_KEYS.embeddingLength]: gv.u32(last),
        [YASA2_KEYS.projectionDim]: gv.u32(cfg.projOut),
        [YASA2_KEYS.layerNormEps]: gv.f32(cfg.eps),
      };
      return writeGguf({ metadata, tensors: tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: t.data })) });
    },
  };
}
