/// <reference types="@webgpu/types" preserve="true" />
// The package entry: createEngine and the API's types.
//
// In a browser page the engine runs in a dedicated Web Worker by default (the page never stalls while
// a model loads or generates); in Node, and in code already inside a worker, it runs on the calling
// thread. Both have the same interface (Engine in api/types.ts).

import { createInThreadEngine, type InThreadEngineOptions } from './api/engine.ts';
import type { Engine } from './api/types.ts';
import { createWorkerEngine } from './worker/worker-engine.ts';

export interface CreateEngineOptions extends InThreadEngineOptions {
  /** true: a dedicated worker; a Worker: that worker (running edgewise's engine-worker); false: this
   *  thread. Default: a worker in a browser page, this thread elsewhere. */
  worker?: boolean | Worker;
}

function inPage(): boolean {
  const g = globalThis as { Worker?: unknown; document?: unknown };
  return typeof g.Worker === 'function' && typeof g.document === 'object' && g.document !== null;
}

export function createEngine(opts: CreateEngineOptions = {}): Engine {
  const w = opts.worker ?? inPage();
  if (w === false) return createInThreadEngine(opts);
  if (opts.gpu) throw new TypeError('createEngine: a gpu can only be given to the in-thread engine (worker: false)');
  return createWorkerEngine(w === true ? undefined : w);
}

export { createInThreadEngine, InThreadEngine, DEFAULT_CONTEXT_LENGTH } from './api/engine.ts';
export { WorkerEngine } from './worker/worker-engine.ts';
export { ApiError } from './api/errors.ts';
export { EdgewiseError } from './errors.ts';
export type * from './api/types.ts';
