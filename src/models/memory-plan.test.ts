import { describe, expect, it } from 'vitest';
import { planModelMemory, planVisionMemory } from './memory-plan.ts';
import { ModelTooLargeError } from './load.ts';
import { DeviceLimitError } from '../gpu/errors.ts';
import { bytesSource, openGguf, type Gguf } from '../formats/gguf.ts';
import type { ByteSource } from '../formats/gguf-source.ts';
import { ggufHeader, gv, type GgufTensorLayout, type GgufWriterValue } from '../formats/gguf-writer.ts';
import type { GgmlTypeName } from '../formats/ggml-types.ts';
import { randomModelPlan, writeRandomModel } from '../testing/random-model.ts';
import { yasa2Fixture } from '../testing/yasa2-fixture.ts';
import { testGpu } from '../testing/gpu.ts';
import { REKA_EDGE_YASA2, type Yasa2Config } from '../vision/yasa2/config.ts';
import { YASA2_KEYS, YASA2_TENSORS as TN } from '../vision/yasa2/names.ts';
import { uploadYasa2Weights } from '../vision/yasa2/weights.ts';

const MiB = 2 ** 20;

/**
 * A GGUF whose header is real and whose tensor data does not exist (reads past the header get zeros, as
 * a reader's read-ahead may ask for them): what planning from a URL's header sees before any download.
 */
async function headerOnly(metadata: Map<string, GgufWriterValue> | Record<string, GgufWriterValue>, tensors: GgufTensorLayout[], name: string): Promise<Gguf> {
  const { header, dataBytes, padding } = ggufHeader({ metadata, tensors });
  const size = header.length + dataBytes.reduce((a, b, i) => a + b + padding[i], 0);
  const source: ByteSource = {
    name, size,
    async read(offset, length) {
      if (length > 64 * MiB) throw new Error(`${name}: a read of ${length} bytes (the plan must not read tensor data)`);
      const out = new Uint8Array(length);
      if (offset < header.length) out.set(header.subarray(offset, Math.min(header.length, offset + length)));
      return out;
    },
  };
  return openGguf(source);
}

/** Every tensor of a yasa2 mmproj of config cfg: convolutions F16, matrices Q8_0, the rest F32. */
function yasa2Layout(cfg: Yasa2Config): GgufTensorLayout[] {
  const out: GgufTensorLayout[] = [];
  const t = (name: string, shape: number[], type: GgmlTypeName = 'F32') => out.push({ name, shape, type });
  const w0 = cfg.widths[0];
  t(TN.patchW, [w0, 3, cfg.patchSize, cfg.patchSize], 'F16'); t(TN.patchB, [w0]); t(TN.patchLnW, [w0]); t(TN.patchLnB, [w0]);
  cfg.depths.forEach((depth, s) => {
    const c = cfg.widths[s];
    if (s > 0) {
      const p = cfg.widths[s - 1];
      t(TN.downLn(s, 'weight'), [p]); t(TN.downLn(s, 'bias'), [p]); t(TN.downConv(s, 'weight'), [c, p, 2, 2], 'F16'); t(TN.downConv(s, 'bias'), [c]);
    }
    for (let b = 0; b < depth; b++) {
      t(TN.block(s, b, 'dw', 'weight'), [c, 1, 7, 7], 'F16'); t(TN.block(s, b, 'dw', 'bias'), [c]);
      t(TN.block(s, b, 'ln', 'weight'), [c]); t(TN.block(s, b, 'ln', 'bias'), [c]);
      t(TN.block(s, b, 'pw1', 'weight'), [4 * c, c], 'Q8_0'); t(TN.block(s, b, 'pw1', 'bias'), [4 * c]);
      t(TN.block(s, b, 'grn', 'weight'), [1, 1, 1, 4 * c]); t(TN.block(s, b, 'grn', 'bias'), [1, 1, 1, 4 * c]);
      t(TN.block(s, b, 'pw2', 'weight'), [c, 4 * c], 'Q8_0'); t(TN.block(s, b, 'pw2', 'bias'), [c]);
    }
  });
  const last = cfg.widths[cfg.widths.length - 1];
  t(TN.posEmbed, [256, last]); t(TN.backboneLnW, [last]); t(TN.backboneLnB, [last]);
  t(TN.mm0W, [cfg.projHidden, last], 'Q8_0'); t(TN.mm0B, [cfg.projHidden]); t(TN.mm2W, [cfg.projOut, cfg.projHidden], 'Q8_0'); t(TN.mm2B, [cfg.projOut]);
  return out;
}

function yasa2Meta(cfg: Yasa2Config): Record<string, GgufWriterValue> {
  return {
    'general.architecture': 'clip', [YASA2_KEYS.projectorType]: 'yasa2', [YASA2_KEYS.imageSize]: gv.u32(cfg.imageSize),
    [YASA2_KEYS.patchSize]: gv.u32(cfg.patchSize), [YASA2_KEYS.projectionDim]: gv.u32(cfg.projOut),
  };
}

describe('planModelMemory: text + mmproj from headers, against the device', () => {
  it('counts the yasa2 weights as the encoder uploads them (F16 -> F32 norms, quantized matrices kept)', async () => {
    const gpu = await testGpu();
    const cfg: Yasa2Config = { imageSize: 128, patchSize: 4, depths: [2, 1], widths: [32, 64], eps: 1e-6, posGridSide: 50, pooledSide: 8, projHidden: 64, projOut: 32 };
    const fx = yasa2Fixture(cfg, 3, { linear: 'Q8_0', conv: 'F16' });
    const mmproj = await openGguf(bytesSource(fx.gguf()));
    const plan = planVisionMemory(mmproj, gpu.limits);
    const before = gpu.weightBytes;
    const w = uploadYasa2Weights(gpu, cfg, fx.get);
    const uploaded = gpu.weightBytes - before;
    w.destroy();
    expect(plan.exact).toBe(true);
    expect(plan.weights).toBe(uploaded); // the position table is built on the GPU side: counted too
    // Workspaces: x, t (16384 x 32), u (1024 x 128) ... as encoder.ts allocates them, plus pixels and 5 tiles.
    expect(plan.workspace).toBe(4 * (2 * 32 * 32 * 32 + 32 * 32 * 128 + 64 * 64 + 64 * 64 + 3 * 128 * 128 + 5 * 64 * 32));
    expect(plan.largest.label).toBe('yasa2-u');
  });

  it('a tiny text model + mmproj: total, summary, and a budget or binding limit refused with typed errors naming the buffer', async () => {
    const text = await openGguf(bytesSource(writeRandomModel({ arch: 'llama', weightType: 'Q8_0', seed: 9, vocab: 512, nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, ctx: 64 })));
    const cfg: Yasa2Config = { imageSize: 128, patchSize: 4, depths: [1, 1], widths: [32, 64], eps: 1e-6, posGridSide: 50, pooledSide: 8, projHidden: 32, projOut: 64 };
    const mmproj = await headerOnly(yasa2Meta(cfg), yasa2Layout(cfg), 'tiny-mmproj.gguf');
    const limits = { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB };
    const llm = { contextLength: 64, maxBatch: 8 };
    const plan = planModelMemory({ text, mmproj }, limits, { llm });
    expect(plan.total).toBe(plan.text.total + plan.vision!.total);
    expect(plan.summary).toMatch(/^The model needs [\d.]+ MiB of GPU memory: text [\d.]+ MiB \(weights .*\); vision [\d.]+ MiB \(yasa2 weights .*, workspaces .*\)\. Its largest buffer is .* the device allows 128\.0 MiB per binding and 256\.0 MiB per buffer\.$/);
    expect(() => planModelMemory({ text, mmproj }, limits, { llm, memoryBudget: plan.total - 1 })).toThrow(ModelTooLargeError);
    expect(() => planModelMemory({ text, mmproj }, limits, { llm, memoryBudget: plan.total })).not.toThrow();
    // The encoder's 4C-wide hidden of stage 0 (32 x 32 x 128 floats = 512 KiB) over a 400 KiB binding.
    const small = { maxStorageBufferBindingSize: 400 << 10, maxBufferSize: 256 * MiB };
    expect(() => planModelMemory({ text, mmproj }, small, { llm })).toThrow(DeviceLimitError);
    expect(() => planModelMemory({ text, mmproj }, small, { llm })).toThrow(/yasa2-u, checked before loading/);
  });

  it('Reka Edge (7B Q4_K text + ConvNeXt V2-Huge mmproj) from headers only: what it needs, and what a 128 MiB-binding device allows', { timeout: 120_000 }, async () => {
    const spec = randomModelPlan({ arch: 'llama', weightType: 'Q4_K', seed: 1, vocab: 100352, nEmbd: 4096, nLayer: 32, nHead: 32, nHeadKv: 8, nFf: 14336, ctx: 4096 });
    const layout = spec.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.name === 'output.weight' ? 'Q6_K' as const : t.type }));
    const text = await headerOnly(spec.metadata, layout, 'reka-edge-shaped.gguf');
    const mmproj = await headerOnly(yasa2Meta(REKA_EDGE_YASA2), yasa2Layout(REKA_EDGE_YASA2), 'reka-edge-mmproj-shaped.gguf');
    const limits = { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB };
    const plan = planModelMemory({ text, mmproj }, limits, { llm: { contextLength: 4096, maxBatch: 64 } });
    // The 100352-row Q6_K output (~337 MB) goes in row parts under the binding limit.
    expect(plan.text.largest.bytes).toBeLessThanOrEqual(128 * MiB);
    expect(plan.text.weights / 1e9).toBeGreaterThan(4.3);
    expect(plan.text.weights / 1e9).toBeLessThan(4.8);
    // Vision: ~0.7 GB of weights as uploaded; the largest buffer is stage 0's hidden, 128² x 1408 floats.
    expect(plan.vision!.weights / 1e9).toBeGreaterThan(0.6);
    expect(plan.vision!.weights / 1e9).toBeLessThan(0.9);
    expect(plan.vision!.largest).toEqual({ label: 'yasa2-u', bytes: 128 * 128 * 1408 * 4 });
    expect(plan.summary).toContain('yasa2 weights');
    // A device with 64 MiB bindings cannot hold that hidden map in one binding: refused, naming it.
    expect(() => planModelMemory({ text, mmproj }, { ...limits, maxStorageBufferBindingSize: 64 * MiB }, { llm: { contextLength: 4096, maxBatch: 64 } })).toThrow(/yasa2-u, checked before loading/);
    // A 4 GiB budget is refused with the breakdown.
    expect(() => planModelMemory({ text, mmproj }, limits, { llm: { contextLength: 4096, maxBatch: 64 }, memoryBudget: 4 * 2 ** 30 })).toThrow(/the model needs [\d.]+ MiB of GPU memory/);
  });
});
