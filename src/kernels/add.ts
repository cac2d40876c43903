// Residual add (same shapes) and row-broadcast add (b is one row of a's last dimension). F32, or F16
// for all three where the device has shader-f16.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { grid } from './common.ts';
import { activationDtype, f16Defines } from './f16.ts';
import { expectNotAliased } from './aliasing.ts';

export function add(gpu: Gpu, rec: Recorder, a: Tensor, b: Tensor, out: Tensor): void {
  const dtype = activationDtype(gpu, 'add', { a, b, out });
  if (out.numel !== a.numel) throw new ShapeError('add', `out has ${out.numel} elements, a has ${a.numel}`);
  if (b.numel === 0 || a.numel % b.numel !== 0) throw new ShapeError('add', `b (${b.numel} elements) does not broadcast over a (${a.numel})`);
  expectNotAliased('add', out, { a, b });
  const k = gpu.kernel({ shader: 'add', label: dtype === 'F16' ? 'add_f16' : 'add', defines: f16Defines(dtype), params: ['n:u32', 'nb:u32'], bindings: ['read', 'read', 'write'] });
  rec.dispatch(k, { params: { n: a.numel, nb: b.numel }, buffers: [a, b, out], workgroups: grid(Math.ceil(a.numel / 256)) });
}
