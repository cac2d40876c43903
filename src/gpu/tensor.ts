// A tensor is a typed view of a range of a GPU buffer: shape, element type and where its bytes are.
// Shapes are row-major with the last dimension contiguous (ggml's ne0 is our last dimension).

import { GGML_BLOCK, type GgmlTypeName } from '../formats/ggml-types.ts';

/** Element types: the GGML storage types plus U32 for indices and token ids. */
export type DType = GgmlTypeName | 'U32';

export function dtypeByteSize(dtype: DType, count: number): number {
  if (dtype === 'U32') return count * 4;
  const b = GGML_BLOCK[dtype];
  if (!b) throw new Error(`no block layout for ${dtype}`);
  return Math.ceil(count / b.blockSize) * b.blockBytes;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export interface TensorOwner {
  releaseBuffer(buffer: GPUBuffer): void;
}

export class Tensor {
  private released = false;
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    /** Byte offset into buffer (a multiple of minStorageBufferOffsetAlignment when bound). */
    readonly offset = 0,
    /** Bytes the tensor's data occupies. */
    readonly byteLength = dtypeByteSize(dtype, numel(shape)),
    readonly label = '',
    private readonly owner?: TensorOwner,
  ) {}

  get numel(): number {
    return numel(this.shape);
  }

  /** A tensor over the same bytes with another shape (same element count). */
  reshape(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.numel) throw new Error(`reshape ${this.shape} -> ${shape}: element count differs`);
    return new Tensor(this.buffer, shape, this.dtype, this.offset, this.byteLength, this.label);
  }

  /** A tensor over the first numel(shape) elements of this one's bytes (e.g. the rows used by a
   *  shorter batch in a workspace sized for the longest). Not released separately. */
  view(shape: readonly number[]): Tensor {
    const bytes = dtypeByteSize(this.dtype, numel(shape));
    if (bytes > this.byteLength) throw new Error(`view [${shape}] of ${this.dtype} needs ${bytes} bytes, ${this} has ${this.byteLength}`);
    return new Tensor(this.buffer, shape, this.dtype, this.offset, bytes, this.label);
  }

  /** Give a pooled buffer back. Views made by reshape() share the buffer and must not be released. */
  release(): void {
    if (this.released || !this.owner) return;
    this.released = true;
    this.owner.releaseBuffer(this.buffer);
  }

  toString(): string {
    return `Tensor(${this.label || '?'} ${this.dtype}[${this.shape.join(',')}])`;
  }
}
