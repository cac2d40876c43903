// Typed errors for the GPU runtime and the kernels. Each carries the values that were wrong so a caller
// (or a bug report) can tell what happened without re-running.

import { EdgewiseError } from '../errors.ts';

// The base class sits in src/errors.ts so the rooms before gpu (formats) can extend it too.
export { EdgewiseError };

/** WebGPU is not available at all (no navigator.gpu, no Dawn, no adapter). */
export class WebGpuUnavailableError extends EdgewiseError {
  override name = 'WebGpuUnavailableError';
}

/** The adapter cannot give a limit or feature the work needs. */
export class DeviceLimitError extends EdgewiseError {
  override name = 'DeviceLimitError';
  constructor(readonly limit: string, readonly required: number | string, readonly available: number | string, context = '') {
    super(`device limit ${limit}: need ${required}, adapter allows ${available}${context ? ` (${context})` : ''}`, { limit, required, available });
  }
}

/** A WebGPU validation / out-of-memory / internal error reported by the implementation. */
export class GpuValidationError extends EdgewiseError {
  override name = 'GpuValidationError';
  constructor(readonly kind: 'validation' | 'out-of-memory' | 'internal' | 'unknown', message: string, readonly where = '') {
    super(`GPU ${kind} error${where ? ` in ${where}` : ''}: ${message}`, { kind, where });
  }
}

/** A byte count for messages: 512 B, 2.0 KiB, 3.5 MiB, 4.75 GiB. */
export function byteSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 2 ** 30) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 2 ** 30).toFixed(2)} GiB`;
}

/** The implementation could not allocate GPU memory for `what` (`bytes` asked for). */
export class GpuOutOfMemoryError extends GpuValidationError {
  override name = 'GpuOutOfMemoryError';
  /** `reported`: the implementation's own message. */
  constructor(readonly what: string, readonly bytes: number, readonly reported: string, readonly context = '') {
    super('out-of-memory', `${reported || 'allocation failed'} (${byteSize(bytes)} asked for)${context ? `; ${context}` : ''}`, what);
    Object.assign(this.details, { bytes, what });
  }
}

/** WGSL failed to compile or a pipeline could not be created. */
export class ShaderCompileError extends EdgewiseError {
  override name = 'ShaderCompileError';
  constructor(readonly shader: string, message: string) {
    super(`shader ${shader} failed to compile: ${message}`, { shader });
  }
}

/** The device was lost (driver reset, destroy(), out of memory at the OS level). */
export class DeviceLostError extends EdgewiseError {
  override name = 'DeviceLostError';
  constructor(readonly reason: string, message: string) {
    super(`GPU device lost (${reason}): ${message}`, { reason });
  }
}

/** An op was called with shapes that do not fit together. */
export class ShapeError extends EdgewiseError {
  override name = 'ShapeError';
  constructor(readonly op: string, message: string, details: Record<string, unknown> = {}) {
    super(`${op}: ${message}`, { op, ...details });
  }
}

/** An op was called with a dtype it does not implement. */
export class UnsupportedDtypeError extends EdgewiseError {
  override name = 'UnsupportedDtypeError';
  constructor(readonly op: string, readonly dtype: string, readonly supported: readonly string[]) {
    super(`${op}: dtype ${dtype} is not supported (supported: ${supported.join(', ')})`, { op, dtype, supported });
  }
}
