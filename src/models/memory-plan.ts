// What a model needs on the GPU, from its GGUF headers alone (a URL source reads only the header by Range
// requests, so this runs before anything is downloaded), set against what the device allows: every
// buffer against maxStorageBufferBindingSize and maxBufferSize, the total against an optional budget.
// The text model's part is load.ts's planGpuMemory (vocabulary tables in row parts where they exceed a
// binding); the vision part is the mmproj's weights as the encoder uploads them plus its per-tile
// workspaces (exact for yasa2; weights only, as stored, for the other projectors).

import { DeviceLimitError } from '../gpu/errors.ts';
import type { Gguf } from '../formats/gguf.ts';
import { YASA2_PROJECTOR_TYPE, YASA2_TENSORS as TN } from '../vision/yasa2/names.ts';
import { yasa2Workspace } from '../vision/yasa2/config.ts';
import { yasa2ConfigFromTensors, type HostTensors } from '../vision/yasa2/weights.ts';
import { checkLanguageModel, ModelTooLargeError, planGpuMemory, type GpuMemoryPlan } from './load.ts';
import type { LlmOptions } from './llm.ts';

export interface DeviceMemoryLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

export interface VisionMemoryPlan {
  projector: string;
  weights: number;
  /** Per-tile workspaces, the pixels of one tile and the embeddings of one image's tiles. */
  workspace: number;
  total: number;
  largest: { label: string; bytes: number };
  /** False where only the stored weights are counted (projectors other than yasa2). */
  exact: boolean;
}

export interface ModelMemoryPlan {
  text: GpuMemoryPlan;
  vision: VisionMemoryPlan | null;
  total: number;
  largest: { label: string; bytes: number };
  limits: DeviceMemoryLimits;
  budget?: number;
  /** One paragraph for the user: what the model needs and what the device allows. */
  summary: string;
}

export interface PlanModelMemoryOptions {
  llm: LlmOptions;
  /** Refuse (ModelTooLargeError) when the total is over this many bytes. */
  memoryBudget?: number;
  /** Cap on a weight part below the device's binding limit (tests). */
  maxWeightPartBytes?: number;
  /** Tiles of one image the vision workspace holds embeddings for (yasa2: 4 cuts + the whole image). */
  tilesPerImage?: number;
}

const mib = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);

function checker(limits: DeviceMemoryLimits, largest: { label: string; bytes: number }) {
  return (label: string, bytes: number) => {
    if (bytes > limits.maxStorageBufferBindingSize) throw new DeviceLimitError('maxStorageBufferBindingSize', bytes, limits.maxStorageBufferBindingSize, `${label}, checked before loading`);
    if (bytes > limits.maxBufferSize) throw new DeviceLimitError('maxBufferSize', bytes, limits.maxBufferSize, `${label}, checked before loading`);
    if (bytes > largest.bytes) { largest.label = label; largest.bytes = bytes; }
  };
}

/** The mmproj's GPU memory, every buffer checked against the device's limits (DeviceLimitError). */
export function planVisionMemory(mmproj: Gguf, limits: DeviceMemoryLimits, tilesPerImage = 5): VisionMemoryPlan {
  const projector = mmproj.getString('clip.projector_type', '');
  const largest = { label: '', bytes: 0 };
  const check = checker(limits, largest);
  const tensors = mmproj.tensors.filter((t) => t.name.startsWith('v.') || t.name.startsWith('mm.'));
  if (projector !== YASA2_PROJECTOR_TYPE) {
    let weights = 0;
    for (const t of tensors) { check(t.name, t.byteLength); weights += t.byteLength; }
    return { projector, weights, workspace: 0, total: weights, largest, exact: false };
  }
  // yasa2: convolution and matmul weights keep their stored type; norms, biases and the position table
  // become F32 (weights.ts); v.backbone_ln is never uploaded.
  const keepsType = new Set<string>([TN.patchW, TN.mm0W, TN.mm2W]);
  const isKept = (name: string) => keepsType.has(name) || /^v\.stage\.\d+\.down\.conv\.weight$/.test(name) || /^v\.stage\.\d+\.blk\.\d+\.(dw|pw1|pw2)\.weight$/.test(name);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const get: HostTensors = (name) => {
    const t = byName.get(name);
    return t ? { shape: t.shape, dtype: t.type, bytes: new Uint8Array(0) } : undefined;
  };
  const patch = byName.get(TN.patchW);
  const cfg = yasa2ConfigFromTensors(get, {
    imageSize: mmproj.getU32('clip.vision.image_size', 512),
    patchSize: patch ? patch.shape[3] : mmproj.getU32('clip.vision.patch_size', 4),
    eps: 1e-6, posGridSide: 50, pooledSide: 8,
  });
  let weights = 0;
  for (const t of tensors) {
    if (t.name.startsWith(TN.backboneLnW.slice(0, -'weight'.length))) continue;
    const bytes = isKept(t.name) ? t.byteLength : t.numel * 4;
    check(t.name, bytes);
    weights += bytes;
  }
  const last = cfg.widths[cfg.widths.length - 1];
  const tokens = cfg.pooledSide * cfg.pooledSide;
  if (!byName.has(TN.posEmbed)) {
    const side = cfg.imageSize / cfg.patchSize / 2 ** (cfg.depths.length - 1);
    check(TN.posEmbed, side * side * last * 4);
    weights += side * side * last * 4;
  }
  const ws = yasa2Workspace(cfg);
  const buffers: [string, number][] = [
    ['yasa2-x', ws.x * 4], ['yasa2-t', ws.t * 4], ['yasa2-u', ws.u * 4], ['yasa2-proj', ws.proj * 4], ['yasa2-pooled', ws.pooled * 4],
    ['yasa2-pixels', 3 * cfg.imageSize * cfg.imageSize * 4],
  ];
  for (let i = 0; i < tilesPerImage; i++) buffers.push([`yasa2-tile ${i}`, tokens * cfg.projOut * 4]);
  let workspace = 0;
  for (const [label, bytes] of buffers) { check(label, bytes); workspace += bytes; }
  return { projector, weights, workspace, total: weights + workspace, largest, exact: true };
}

/**
 * Plans a text model and, optionally, its mmproj from their headers. Refuses with DeviceLimitError (a
 * buffer over a device limit, named) or ModelTooLargeError (the total over `memoryBudget`), before any
 * weight is read. The summary says what was needed and what the device allows.
 */
export function planModelMemory(files: { text: Gguf; mmproj?: Gguf }, limits: DeviceMemoryLimits, opts: PlanModelMemoryOptions): ModelMemoryPlan {
  const hp = checkLanguageModel(files.text);
  const text = planGpuMemory(files.text, hp, opts.llm, limits, undefined, opts.maxWeightPartBytes);
  const vision = files.mmproj ? planVisionMemory(files.mmproj, limits, opts.tilesPerImage) : null;
  const total = text.total + (vision?.total ?? 0);
  const largest = vision && vision.largest.bytes > text.largest.bytes ? vision.largest : text.largest;
  const parts = [`text ${mib(text.total)} (weights ${mib(text.weights)}, KV cache ${mib(text.kvCache)}, workspaces ${mib(text.workspace)})`];
  if (vision) parts.push(`vision ${mib(vision.total)} (${vision.projector} weights ${mib(vision.weights)}${vision.exact ? `, workspaces ${mib(vision.workspace)}` : ', workspaces not counted'})`);
  const allows = `the device allows ${mib(limits.maxStorageBufferBindingSize)} per binding and ${mib(limits.maxBufferSize)} per buffer`;
  const budget = opts.memoryBudget !== undefined ? `, and the budget is ${mib(opts.memoryBudget)}` : '';
  const summary = `The model needs ${mib(total)} of GPU memory: ${parts.join('; ')}. Its largest buffer is ${largest.label} at ${mib(largest.bytes)}; ${allows}${budget}.`;
  if (opts.memoryBudget !== undefined && total > opts.memoryBudget) {
    throw new ModelTooLargeError(total, opts.memoryBudget, {
      weights: text.weights + (vision?.weights ?? 0), kvCache: text.kvCache, workspace: text.workspace + (vision?.workspace ?? 0),
    });
  }
  return { text, vision, total, largest, limits, budget: opts.memoryBudget, summary };
}
