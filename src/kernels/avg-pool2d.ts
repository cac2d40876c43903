// Average pooling of a token grid (gemma3's projector shrinks 64 x 64 ViT patches to 16 x 16 soft tokens):
// x [H, W, C] channels last -> out [H / k, W / k, C], window and stride k, no padding. F32.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectShape, grid } from './common.ts';
import { expectNotAliased } from './aliasing.ts';

export function avgPool2d(gpu: Gpu, rec: Recorder, x: Tensor, out: Tensor, k: number): void {
  const op = 'avgPool2d';
  expectDtype(op, 'x', x, ['F32']);
  expectDtype(op, 'out', out, ['F32']);
  if (x.shape.length !== 3) throw new ShapeError(op, `x must be [H, W, C], got [${x.shape.join(', ')}]`, { x: x.shape });
  if (!Number.isInteger(k) || k < 1) throw new ShapeError(op, `kernel size ${k} must be a positive integer`, { k });
  const [H, W, C] = x.shape;
  if (H % k !== 0 || W % k !== 0) {
    // ggml would drop the ragged edge; a projector whose grid does not divide is misconfigured, so say so.
    throw new ShapeError(op, `grid ${H} x ${W} is not divisible by the kernel size ${k}`, { H, W, k });
  }
  expectShape(op, 'out', out, [H / k, W / k, C]);
  expectNotAliased(op, out, { x });
  const total = out.numel;
  if (total === 0) return;
  const kernel = gpu.kernel({ shader: 'avg_pool2d', params: ['total:u32', 'W:u32', 'C:u32', 'Wo:u32', 'k:u32'], bindings: ['read', 'write'] });
  rec.dispatch(kernel, { params: { total, W, C, Wo: W / k, k }, buffers: [x, out], workgroups: grid(Math.ceil(total / 256)) });
}
