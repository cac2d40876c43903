export * from './errors.ts';
export * from './gpu.ts';
export * from './kernel.ts';
export * from './pool.ts';
export * from './profiler.ts';
export * from './recorder.ts';
export * from './tensor.ts';
