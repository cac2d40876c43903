// Shared helpers for op modules: shape checks and dispatch grids.

import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import type { DType, Tensor } from '../gpu/tensor.ts';

/** Split `groups` workgroups over x and y so neither exceeds the per-dimension limit (65535 by spec).
 *  Shaders recover the linear index as `wg.x + wg.y * nwg.x`. */
export function grid(groups: number, maxPerDim = 65535): [number, number] {
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

export function expectShape(op: string, name: string, t: Tensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(op, `${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`, { name, got: t.shape, expected: shape });
  }
}

export function expectDtype(op: string, name: string, t: Tensor, allowed: readonly DType[]): void {
  if (!allowed.includes(t.dtype)) throw new UnsupportedDtypeError(`${op} (${name})`, t.dtype, allowed);
}

export function expectNumel(op: string, name: string, t: Tensor, n: number): void {
  if (t.numel !== n) throw new ShapeError(op, `${name} has ${t.numel} elements, expected ${n}`, { name, got: t.numel, expected: n });
}
