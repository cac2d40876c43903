// Activation precision, decided in one place for every op: activations (x, out, q, ...) are F32
// everywhere, or F16 where the device has shader-f16 (`enable f16;` shader variants, half the bytes
// moved per element). Weights, norm parameters and logits keep their own dtypes. Ops call
// activationDtype() once and pass f16Defines() to their shader; the F32 path never changes.

import { UnsupportedDtypeError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';

export type ActDtype = 'F32' | 'F16';

/** How a device without shader-f16 lists F16 among the supported dtypes of an UnsupportedDtypeError. */
export const F16_NEEDS_FEATURE = 'F16 only with the shader-f16 feature, which this device lacks';

/** The common dtype of an op's activation tensors (absent ones skipped). Throws UnsupportedDtypeError
 *  for a dtype other than F32/F16, or for F16 on a device without shader-f16 (the message names the
 *  feature) or for tensors that disagree (the message names both). */
export function activationDtype(gpu: Gpu, op: string, tensors: Record<string, Tensor | null | undefined>): ActDtype {
  let dtype: ActDtype | null = null;
  let first = '';
  for (const [name, t] of Object.entries(tensors)) {
    if (!t) continue;
    if (t.dtype !== 'F32' && t.dtype !== 'F16') {
      throw new UnsupportedDtypeError(`${op} (${name})`, t.dtype, gpu.info.features.shaderF16 ? ['F32', 'F16'] : ['F32', F16_NEEDS_FEATURE]);
    }
    if (t.dtype === 'F16' && !gpu.info.features.shaderF16) {
      throw new UnsupportedDtypeError(`${op} (${name})`, t.dtype, ['F32', F16_NEEDS_FEATURE]);
    }
    if (dtype === null) {
      dtype = t.dtype;
      first = name;
    } else if (t.dtype !== dtype) {
      throw new UnsupportedDtypeError(`${op} (${name}, ${first} is ${dtype}; activations of one op share a dtype, cast at the boundary)`, t.dtype, [dtype]);
    }
  }
  return dtype ?? 'F32';
}

/** Shader defines for an activation dtype: F16 selects the `enable f16;` storage types. */
export function f16Defines(dtype: ActDtype): { F16: boolean } {
  return { F16: dtype === 'F16' };
}
