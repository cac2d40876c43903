// One GPU device per test file, created lazily. In Node it is Dawn over whatever Vulkan driver the
// environment selects (CI uses SwiftShader through VK_ICD_FILENAMES).

import { Gpu } from '../gpu/gpu.ts';
import type { DType, Tensor } from '../gpu/tensor.ts';

let shared: Promise<Gpu> | null = null;

export function testGpu(): Promise<Gpu> {
  shared ??= Gpu.create({ label: 'test' });
  return shared;
}

/** A pooled output tensor filled with NaN so an element the kernel never writes fails the comparison. */
export function poisoned(gpu: Gpu, shape: readonly number[], dtype: DType = 'F32', label = 'out'): Tensor {
  const t = gpu.tensor(shape, dtype, label);
  gpu.poison(t);
  return t;
}
