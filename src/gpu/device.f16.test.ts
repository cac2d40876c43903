// Runs on Mesa lavapipe (vitest.f16.config.ts): a device with shader-f16 and a 128 MiB binding limit.
import { describe, expect, it } from 'vitest';
import { testGpu } from '../testing/gpu.ts';

describe('the shader-f16 test device', () => {
  it('has shader-f16 and the small binding limit real devices have', async () => {
    const gpu = await testGpu();
    expect(gpu.info.features.shaderF16).toBe(true);
    expect(gpu.limits.maxStorageBufferBindingSize).toBeLessThanOrEqual(256 * 2 ** 20);
  });

  it('runs f16 arithmetic in a shader', async () => {
    const gpu = await testGpu();
    const k = gpu.kernel({ shader: 'testing/f16_smoke', bindings: ['read', 'write'] });
    const x = gpu.upload(new Float32Array([1, 2.5, -3, 65504]), [4]);
    const out = gpu.tensor([4]);
    gpu.run((rec) => rec.dispatch(k, { buffers: [x, out], workgroups: 1 }));
    // (x * 2 as f16) / 2: 65504 * 2 overflows f16 to infinity
    expect(Array.from(await gpu.readF32(out))).toEqual([1, 2.5, -3, Infinity]);
  });
});
