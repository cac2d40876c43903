// cast: F32 <-> F16, where an F16 activation stream begins and ends (embeddings in, logits out) and for
// F16 caches. Bit-exact with ggml's conversions and needs no shader-f16: the F16 side is handled as
// packed u32 words by integer arithmetic (shaders/cast.wgsl).

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectShape, grid } from './common.ts';

const OP = 'cast';

/** out = x converted to out's dtype: F32 -> F16 or F16 -> F32, same shape, separate buffers. */
export function cast(gpu: Gpu, rec: Recorder, x: Tensor, out: Tensor): void {
  expectDtype(OP, 'x', x, ['F32', 'F16']);
  const to = x.dtype === 'F32' ? 'F16' : 'F32';
  if (out.dtype !== to) throw new UnsupportedDtypeError(`${OP} (out, x is ${x.dtype})`, out.dtype, [to]);
  expectShape(OP, 'out', out, x.shape);
  // Different sizes per element: in place is impossible, and WebGPU refuses one buffer bound twice.
  if (out.buffer === x.buffer) throw new ShapeError(OP, 'out shares a GPU buffer with x; a cast needs separate buffers', { x: x.shape });
  const n = x.numel;
  if (n === 0) return;
  const toF16 = to === 'F16';
  const k = gpu.kernel({
    shader: 'cast', label: toF16 ? 'cast_f32_f16' : 'cast_f16_f32', defines: { TO_F16: toF16 },
    params: ['n:u32'], bindings: ['read', 'write'],
  });
  rec.dispatch(k, { params: { n }, buffers: [x, out], workgroups: grid(Math.ceil(n / 2 / 256)) });
}
