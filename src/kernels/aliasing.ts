// Output/input aliasing for elementwise and row ops. WebGPU refuses a dispatch that binds one buffer as
// both read-only and writable storage, so "in place" is a shader variant with a single read-write binding,
// chosen here when out is exactly the input's bytes; any other overlap is refused with a typed error.

import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';

/** True when out is the same bytes as input (use the in-place variant); false when they share no buffer. */
export function isInPlace(op: string, input: Tensor, out: Tensor, inputName = 'x'): boolean {
  if (input.buffer !== out.buffer) return false;
  if (input.offset === out.offset && input.byteLength === out.byteLength) return true;
  throw new ShapeError(op, `out shares a GPU buffer with ${inputName} but not the same bytes (out at ${out.offset}+${out.byteLength}, ${inputName} at ${input.offset}+${input.byteLength}); pass the same tensor for in-place or separate buffers`, {
    outOffset: out.offset, outBytes: out.byteLength, inputOffset: input.offset, inputBytes: input.byteLength,
  });
}

/** Read-only inputs (weights, biases, the up half) must not share a buffer with the output. */
export function expectNotAliased(op: string, out: Tensor, inputs: Record<string, Tensor | null | undefined>): void {
  for (const [name, t] of Object.entries(inputs)) {
    if (t && t.buffer === out.buffer) {
      throw new ShapeError(op, `out shares a GPU buffer with ${name}; a read-only input cannot also be the output`, { name });
    }
  }
}

/** Last dimension and number of rows of a row-major tensor (a scalar shape [] counts as one row of one). */
export function rowsOf(t: Tensor): { rows: number; n: number } {
  const n = t.shape.length ? t.shape[t.shape.length - 1] : 1;
  return { rows: n === 0 ? 0 : t.numel / n, n };
}
