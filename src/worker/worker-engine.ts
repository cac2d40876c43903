// The page's side of the worker engine: the same Engine interface, each call forwarded to the worker
// (engine-worker.ts) through Comlink. Streams arrive as callbacks and are handed to the caller as an
// async iterable; leaving it early, or the request's AbortSignal, aborts the request in the worker.

import * as Comlink from 'comlink';
import { Channel } from '../api/channel.ts';
import { invalidRequest } from '../api/errors.ts';
import type {
  AdapterSummary, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Completion, CompletionChunk, CompletionRequest,
  Engine, LoadModelOptions, ModelInfo,
} from '../api/types.ts';
import { deserializeError, type EngineWorkerApi, type Envelope, type SerializedError, type StreamCallbacks } from './protocol.ts';

function unwrap<T>(e: Envelope<T>): T {
  if (e.ok) return e.value;
  throw deserializeError(e.error);
}

/** Functions do not survive structured cloning; signals are forwarded by id instead. */
function withoutSignal<T extends { signal?: AbortSignal }>(req: T): Omit<T, 'signal'> {
  if (req === null || typeof req !== 'object') return req;
  const { signal: _signal, ...rest } = req;
  void _signal;
  return rest;
}

export class WorkerEngine implements Engine {
  private readonly remote: Comlink.Remote<EngineWorkerApi>;
  private nextId = 1;
  private disposed = false;

  /** `worker`: a Worker running engine-worker.ts, or any endpoint served by exposeEngine(). */
  constructor(private readonly worker: Comlink.Endpoint & { terminate?: () => void }) {
    this.remote = Comlink.wrap<EngineWorkerApi>(worker);
  }

  /** Forward the signal's abort to the worker for as long as the request runs. */
  private forwardAbort(signal: AbortSignal | undefined, id: number): () => void {
    if (!signal) return () => {};
    const onAbort = () => void this.remote.abort(id);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  }

  private checkAlive(): void {
    if (this.disposed) throw invalidRequest('this engine was disposed; create a new one', undefined, 'engine_disposed');
  }

  async loadModel(opts: LoadModelOptions): Promise<ModelInfo> {
    this.checkAlive();
    const id = this.nextId++;
    const { onProgress, signal, ...rest } = opts;
    const call = this.remote.loadModel(rest, id, onProgress ? Comlink.proxy(onProgress) : undefined);
    const stop = this.forwardAbort(signal, id);
    try {
      return unwrap(await call);
    } finally {
      stop();
    }
  }

  async unloadModel(): Promise<void> {
    this.checkAlive();
    unwrap(await this.remote.unloadModel());
  }

  /** One request: whole, or a stream fed by the worker's callbacks. */
  private async request<R, C>(
    send: (id: number, stream?: StreamCallbacks<C>) => Promise<Envelope<R | null>>,
    req: { stream?: boolean; signal?: AbortSignal },
  ): Promise<R | AsyncIterable<C>> {
    this.checkAlive();
    const id = this.nextId++;
    if (!req.stream) {
      const call = send(id);
      const stop = this.forwardAbort(req.signal, id);
      try {
        return unwrap(await call) as R;
      } finally {
        stop();
      }
    }
    const ch = new Channel<C>();
    let stop = () => {};
    const callbacks: StreamCallbacks<C> = {
      chunk: (c) => ch.push(c),
      end: (err: SerializedError | null) => {
        stop();
        if (err) ch.fail(deserializeError(err));
        else ch.end();
      },
    };
    ch.onCancel = () => void this.remote.abort(id);
    const call = send(id, Comlink.proxy(callbacks));
    stop = this.forwardAbort(req.signal, id);
    const accepted = await call;
    if (!accepted.ok) stop();
    unwrap(accepted);
    return ch;
  }

  readonly chat = {
    completions: {
      create: ((req: ChatCompletionRequest) => this.request<ChatCompletion, ChatCompletionChunk>(
        (id, stream) => this.remote.chat(withoutSignal(req), id, stream), req,
      )) as Engine['chat']['completions']['create'],
    },
  };

  readonly completions = {
    create: ((req: CompletionRequest) => this.request<Completion, CompletionChunk>(
      (id, stream) => this.remote.completion(withoutSignal(req), id, stream), req,
    )) as Engine['completions']['create'],
  };

  async resetChat(): Promise<void> {
    this.checkAlive();
    unwrap(await this.remote.resetChat());
  }

  async adapter(): Promise<AdapterSummary> {
    this.checkAlive();
    return unwrap(await this.remote.adapter());
  }

  async modelInfo(): Promise<ModelInfo | null> {
    this.checkAlive();
    return unwrap(await this.remote.modelInfo());
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      unwrap(await this.remote.dispose());
    } finally {
      this.remote[Comlink.releaseProxy]();
      this.worker.terminate?.();
    }
  }
}

/** A worker engine on a fresh dedicated worker running engine-worker.ts (or on the worker given). */
export function createWorkerEngine(worker?: Worker): WorkerEngine {
  if (typeof Worker === 'undefined' && !worker) {
    throw invalidRequest('Web Workers are not available here; use the in-thread engine (createEngine({ worker: false }))', 'worker', 'unsupported');
  }
  return new WorkerEngine(worker ?? new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'edgewise-engine' }));
}
