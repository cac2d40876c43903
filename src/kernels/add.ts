// Residual add (same shapes) and row-broadcast add (b is one row of a's last dimension).

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, grid } from './common.ts';

export function add(gpu: Gpu, rec: Recorder, a: Tensor, b: Tensor, out: Tensor): void {
  for (const [n, t] of [['a', a], ['b', b], ['out', out]] as const) expectDtype('add', n, t, ['F32']);
  if (out.numel !== a.numel) throw new ShapeError('add', `out has ${out.numel} elements, a has ${a.numel}`);
  if (b.numel === 0 || a.numel % b.numel !== 0) throw new ShapeError('add', `b (${b.numel} elements) does not broadcast over a (${a.numel})`);
  const k = gpu.kernel({ shader: 'add', params: ['n:u32', 'nb:u32'], bindings: ['read', 'read', 'write'] });
  rec.dispatch(k, { params: { n: a.numel, nb: b.numel }, buffers: [a, b, out], workgroups: grid(Math.ceil(a.numel / 256)) });
}
