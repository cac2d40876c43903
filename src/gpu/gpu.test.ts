// The runtime's own contract: limits, typed errors, profiling, device loss.
import { describe, expect, it } from 'vitest';
import { Gpu } from './gpu.ts';
import { DeviceLimitError, DeviceLostError, ShaderCompileError } from './errors.ts';
import { add } from '../kernels/add.ts';
import { testGpu } from '../testing/gpu.ts';

describe('Gpu', () => {
  it('records adapter info, features and limits', async () => {
    const gpu = await testGpu();
    expect(gpu.info.backend).toBe('dawn-node');
    expect(typeof gpu.info.features.shaderF16).toBe('boolean');
    expect(gpu.info.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
  });

  it('refuses a required limit the adapter cannot give, naming it', async () => {
    const err = await Gpu.create({ requiredLimits: { maxStorageBufferBindingSize: 2 ** 45 } }).catch((e) => e);
    expect(err).toBeInstanceOf(DeviceLimitError);
    expect(err.limit).toBe('maxStorageBufferBindingSize');
    expect(err.message).toContain(String(2 ** 45));
  });

  it('refuses a tensor larger than a binding allows before allocating', async () => {
    const gpu = await testGpu();
    const before = gpu.pool.stats().created;
    expect(() => gpu.tensor([gpu.limits.maxStorageBufferBindingSize / 4 + 1])).toThrow(DeviceLimitError);
    expect(gpu.pool.stats().created).toBe(before);
  });

  it('surfaces a WGSL compile error as a typed error with the shader name', async () => {
    const gpu = await Gpu.create({ label: 'compile-error' });
    const k = gpu.kernel({ shader: 'testing/broken', bindings: ['write'] });
    const y = gpu.tensor([4]);
    let err: unknown;
    try {
      gpu.run((rec) => rec.dispatch(k, { buffers: [y], workgroups: 1 }));
      await gpu.sync();
    } catch (e) {
      err = e;
    }
    expect(err, String(err)).toBeInstanceOf(ShaderCompileError);
    expect((err as ShaderCompileError).shader).toBe('testing/broken');
    gpu.destroy();
  });

  it('times kernels with timestamp queries when profiling is on', async () => {
    const gpu = await testGpu();
    if (!gpu.info.features.timestampQuery) throw new Error('the test device should have timestamp-query');
    const a = gpu.upload(new Float32Array(4096).fill(1), [4096]);
    const mid = gpu.tensor([4096]);
    const out = gpu.tensor([4096]);
    gpu.profiler.enable(true);
    gpu.run((rec) => { add(gpu, rec, a, a, mid); add(gpu, rec, mid, a, out); });
    const times = await gpu.profiler.collect();
    gpu.profiler.enable(false);
    const t = times.find((k) => k.label === 'add');
    expect(t?.count).toBe(2);
    expect(t!.totalMs).toBeGreaterThanOrEqual(0);
    expect(Array.from((await gpu.readF32(out)).slice(0, 2))).toEqual([3, 3]);
  });

  it('reports device loss as a typed error and refuses further work', async () => {
    const gpu = await Gpu.create({ label: 'lost' });
    const t = gpu.tensor([4]);
    gpu.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(gpu.lost).toBe(true);
    expect(() => gpu.recorder()).toThrow(DeviceLostError);
    await expect(gpu.readF32(t)).rejects.toBeInstanceOf(DeviceLostError);
  });
});
