// yasa2 weights on the GPU, from named host tensors (a GGUF mmproj, or the random fixtures of the
// tests and the benchmark): the config is read off the tensor shapes (widths from the depthwise
// weights, depths by counting blocks), every shape is checked against it, norm parameters and biases
// become F32 (the kernels read them as f32), the linear weights keep their format (any matmul type),
// convolution weights F32 or F16, and the position table is the stored one or built on the CPU.

import { EdgewiseError } from '../../errors.ts';
import type { Gpu } from '../../gpu/gpu.ts';
import { numel, type DType, type Tensor } from '../../gpu/tensor.ts';
import type { Gguf } from '../../formats/gguf.ts';
import { f16BitsToF32 } from '../../formats/f16.ts';
import { MATMUL_WEIGHT_TYPES } from '../../kernels/matmul.ts';
import { CONV2D_WEIGHT_TYPES } from '../../kernels/conv2d.ts';
import { validateYasa2Config, yasa2GridSide, type Yasa2Config } from './config.ts';
import { YASA2_KEYS, YASA2_PROJECTOR_TYPE, YASA2_TENSORS as TN } from './names.ts';
import { yasa2PositionTable } from './position.ts';

/** A tensor's bytes on the host, shape row-major (ggml's ne reversed). */
export interface HostTensor {
  shape: readonly number[];
  dtype: DType;
  bytes: Uint8Array;
}

/** Looks a tensor up by its GGUF name; undefined when the file has none. */
export type HostTensors = (name: string) => HostTensor | undefined;

/** A yasa2 mmproj that does not have the tensors, shapes or types the encoder needs. */
export class Yasa2WeightError extends EdgewiseError {
  override name = 'Yasa2WeightError';
  constructor(readonly tensor: string, message: string, details: Record<string, unknown> = {}) {
    super(`yasa2 weights: ${tensor}: ${message}`, { tensor, ...details });
  }
}

export interface Yasa2Block {
  dwW: Tensor; dwB: Tensor; lnW: Tensor; lnB: Tensor;
  pw1W: Tensor; pw1B: Tensor; grnW: Tensor; grnB: Tensor; pw2W: Tensor; pw2B: Tensor;
}

export interface Yasa2Stage {
  down: { lnW: Tensor; lnB: Tensor; convW: Tensor; convB: Tensor } | null;
  blocks: Yasa2Block[];
}

export interface Yasa2Weights {
  config: Yasa2Config;
  patchW: Tensor; patchB: Tensor; patchLnW: Tensor; patchLnB: Tensor;
  stages: Yasa2Stage[];
  /** [tokens of the final map, widths[-1]] F32. */
  pos: Tensor;
  mm0W: Tensor; mm0B: Tensor | null; mm2W: Tensor; mm2B: Tensor | null;
  /** Frees every buffer. */
  destroy(): void;
}

/** Reads depths and widths off the tensor names and shapes; the rest comes from `base`. */
export function yasa2ConfigFromTensors(get: HostTensors, base: Omit<Yasa2Config, 'depths' | 'widths' | 'projHidden' | 'projOut'>): Yasa2Config {
  const depths: number[] = [], widths: number[] = [];
  for (let s = 0; ; s++) {
    let b = 0;
    while (get(TN.block(s, b, 'dw', 'weight'))) b++;
    if (b === 0) break;
    depths.push(b);
    widths.push(get(TN.block(s, 0, 'dw', 'weight'))!.shape[0]);
  }
  if (depths.length === 0) throw new Yasa2WeightError(TN.block(0, 0, 'dw', 'weight'), 'no ConvNeXt blocks found');
  const mm0 = get(TN.mm0W), mm2 = get(TN.mm2W);
  if (!mm0) throw new Yasa2WeightError(TN.mm0W, 'missing');
  if (!mm2) throw new Yasa2WeightError(TN.mm2W, 'missing');
  const cfg = { ...base, depths, widths, projHidden: mm0.shape[0], projOut: mm2.shape[0] };
  validateYasa2Config(cfg);
  return cfg;
}

/** Uploads every tensor the encoder reads, checking shapes against cfg. */
export function uploadYasa2Weights(gpu: Gpu, cfg: Yasa2Config, get: HostTensors): Yasa2Weights {
  validateYasa2Config(cfg);
  const owned: Tensor[] = [];
  const take = (name: string, shape: readonly number[], types: readonly DType[], opts: { looseShape?: boolean } = {}): Tensor => {
    const t = get(name);
    if (!t) throw new Yasa2WeightError(name, 'missing');
    const same = opts.looseShape ? numel(t.shape) === numel(shape) : t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
    if (!same) throw new Yasa2WeightError(name, `has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`, { got: t.shape, expected: shape });
    if (!types.includes(t.dtype)) throw new Yasa2WeightError(name, `has type ${t.dtype}, expected one of ${types.join(', ')}`, { dtype: t.dtype });
    const g = gpu.uploadWeight(t.bytes, shape, t.dtype, name);
    owned.push(g);
    return g;
  };
  // Norm weights, biases and the position table: F32 on the GPU whatever the file holds.
  const f32 = (name: string, shape: readonly number[], opts: { optional?: boolean; looseShape?: boolean } = {}): Tensor => {
    const t = get(name);
    if (!t) {
      if (opts.optional) return null as unknown as Tensor;
      throw new Yasa2WeightError(name, 'missing');
    }
    const g = take(name, shape, ['F32', 'F16'], opts);
    if (t.dtype === 'F32') return g;
    owned.pop();
    g.buffer.destroy();
    const v = toF32(t);
    const g32 = gpu.uploadWeight(new Uint8Array(v.buffer), shape, 'F32', name);
    owned.push(g32);
    return g32;
  };
  const linear = Object.keys(MATMUL_WEIGHT_TYPES) as DType[];
  const conv = CONV2D_WEIGHT_TYPES as readonly DType[];
  try {
    const w0 = cfg.widths[0];
    const patchW = take(TN.patchW, [w0, 3, cfg.patchSize, cfg.patchSize], conv);
    const patchB = f32(TN.patchB, [w0]);
    const patchLnW = f32(TN.patchLnW, [w0]);
    const patchLnB = f32(TN.patchLnB, [w0]);
    const stages: Yasa2Stage[] = cfg.depths.map((depth, s) => {
      const c = cfg.widths[s];
      const down = s === 0 ? null : {
        lnW: f32(TN.downLn(s, 'weight'), [cfg.widths[s - 1]]),
        lnB: f32(TN.downLn(s, 'bias'), [cfg.widths[s - 1]]),
        convW: take(TN.downConv(s, 'weight'), [c, cfg.widths[s - 1], 2, 2], conv),
        convB: f32(TN.downConv(s, 'bias'), [c]),
      };
      const blocks = Array.from({ length: depth }, (_, b): Yasa2Block => ({
        dwW: take(TN.block(s, b, 'dw', 'weight'), [c, 1, 7, 7], conv),
        dwB: f32(TN.block(s, b, 'dw', 'bias'), [c]),
        lnW: f32(TN.block(s, b, 'ln', 'weight'), [c]),
        lnB: f32(TN.block(s, b, 'ln', 'bias'), [c]),
        pw1W: take(TN.block(s, b, 'pw1', 'weight'), [4 * c, c], linear),
        pw1B: f32(TN.block(s, b, 'pw1', 'bias'), [4 * c]),
        // Hugging Face stores GRN's parameters as (1, 1, 1, 4C): any shape of 4C elements is accepted.
        grnW: f32(TN.block(s, b, 'grn', 'weight'), [4 * c], { looseShape: true }),
        grnB: f32(TN.block(s, b, 'grn', 'bias'), [4 * c], { looseShape: true }),
        pw2W: take(TN.block(s, b, 'pw2', 'weight'), [c, 4 * c], linear),
        pw2B: f32(TN.block(s, b, 'pw2', 'bias'), [c]),
      }));
      return { down, blocks };
    });
    const last = cfg.widths[cfg.widths.length - 1];
    const side = yasa2GridSide(cfg, cfg.depths.length - 1);
    const tokens = side * side;
    let pos: Tensor;
    if (get(TN.posEmbed)) {
      pos = f32(TN.posEmbed, [tokens, last]);
    } else {
      const table = yasa2PositionTable(last, cfg.posGridSide, tokens);
      pos = gpu.uploadWeight(new Uint8Array(table.buffer), [tokens, last], 'F32', TN.posEmbed);
      owned.push(pos);
    }
    const mm0W = take(TN.mm0W, [cfg.projHidden, last], linear);
    const mm0B = f32(TN.mm0B, [cfg.projHidden], { optional: true });
    const mm2W = take(TN.mm2W, [cfg.projOut, cfg.projHidden], linear);
    const mm2B = f32(TN.mm2B, [cfg.projOut], { optional: true });
    return {
      config: cfg, patchW, patchB, patchLnW, patchLnB, stages, pos, mm0W, mm0B, mm2W, mm2B,
      destroy: () => { for (const t of owned) t.buffer.destroy(); },
    };
  } catch (e) {
    for (const t of owned) t.buffer.destroy();
    throw e;
  }
}

function toF32(t: HostTensor): Float32Array {
  if (t.dtype === 'F32') return new Float32Array(t.bytes.slice().buffer);
  const h = new Uint16Array(t.bytes.slice().buffer);
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = f16BitsToF32(h[i]);
  return out;
}

/** Reads a yasa2 mmproj GGUF: checks the projector type, derives the config, uploads the weights. */
export async function loadYasa2Weights(gpu: Gpu, gguf: Gguf): Promise<Yasa2Weights> {
  const type = gguf.getString(YASA2_KEYS.projectorType, '');
  if (type !== YASA2_PROJECTOR_TYPE) throw new Yasa2WeightError(YASA2_KEYS.projectorType, `is '${type}', expected '${YASA2_PROJECTOR_TYPE}'`, { type });
  const host = new Map<string, HostTensor>();
  for (const info of gguf.tensors) {
    if (!info.name.startsWith('v.') && !info.name.startsWith('mm.')) continue;
    if (info.name.startsWith(TN.backboneLnW.slice(0, -'weight'.length))) continue; // present, never applied
    host.set(info.name, { shape: info.shape, dtype: info.type, bytes: await gguf.readTensorBytes(info) });
  }
  const get: HostTensors = (name) => host.get(name);
  const patch = get(TN.patchW);
  const cfg = yasa2ConfigFromTensors(get, {
    imageSize: gguf.getU32(YASA2_KEYS.imageSize, 512),
    patchSize: patch ? patch.shape[3] : gguf.getU32(YASA2_KEYS.patchSize, 4),
    eps: gguf.getF32(YASA2_KEYS.layerNormEps, 1e-6),
    posGridSide: 50,
    pooledSide: 8,
  });
  return uploadYasa2Weights(gpu, cfg, get);
}
