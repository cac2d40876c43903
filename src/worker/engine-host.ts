// The engine's host side: an in-thread engine exposed through Comlink with the protocol of
// protocol.ts, on any message endpoint (the dedicated worker's global scope in engine-worker.ts, a
// MessagePort in tests). Streams are pumped here as fast as the engine produces chunks; the page
// buffers them, so a slow reader never holds up the GPU.

import * as Comlink from 'comlink';
import type { InThreadEngine } from '../api/engine.ts';
import { envelope, serializeError, type EngineWorkerApi, type Envelope, type StreamCallbacks } from './protocol.ts';

export function exposeEngine(engine: InThreadEngine, endpoint: Comlink.Endpoint): EngineWorkerApi {
  /** The page's requests by abortId, while they run. */
  const controllers = new Map<number, AbortController>();

  const track = <T>(id: number, run: (signal: AbortSignal) => Promise<T>): Promise<Envelope<T>> => {
    const ac = new AbortController();
    controllers.set(id, ac);
    return envelope(() => run(ac.signal));
  };

  async function pump<C>(it: AsyncIterable<C>, cb: StreamCallbacks<C>, id: number): Promise<void> {
    try {
      // Not awaited: each call is one message, and messages keep their order.
      for await (const c of it) void cb.chunk(c);
      void cb.end(null);
    } catch (e) {
      void cb.end(serializeError(e));
    } finally {
      controllers.delete(id);
    }
  }

  /** A whole response (controller dropped when it is done) or an accepted stream (dropped when pumped). */
  function request<R, C>(id: number, stream: StreamCallbacks<C> | undefined,
    whole: (signal: AbortSignal) => Promise<R>, streamed: (signal: AbortSignal) => Promise<AsyncIterable<C>>): Promise<Envelope<R | null>> {
    if (!stream) return track<R | null>(id, whole).finally(() => controllers.delete(id));
    return track<R | null>(id, async (signal) => {
      void pump(await streamed(signal), stream, id);
      return null;
    }).then((r) => {
      if (!r.ok) controllers.delete(id);
      return r;
    });
  }

  const api: EngineWorkerApi = {
    loadModel: (opts, id, onProgress) =>
      track(id, (signal) => engine.loadModel({ ...opts, signal, onProgress: onProgress ? (p) => void onProgress(p) : undefined }))
        .finally(() => controllers.delete(id)),
    unloadModel: () => envelope(() => engine.unloadModel()),
    chat: (req, id, stream) => request(id, stream,
      (signal) => engine.chat.completions.create({ ...req, stream: false, signal }),
      (signal) => engine.chat.completions.create({ ...req, stream: true, signal })),
    completion: (req, id, stream) => request(id, stream,
      (signal) => engine.completions.create({ ...req, stream: false, signal }),
      (signal) => engine.completions.create({ ...req, stream: true, signal })),
    abort: (id) => controllers.get(id)?.abort(),
    resetChat: () => envelope(() => engine.resetChat()),
    adapter: () => envelope(() => engine.adapter()),
    modelInfo: () => envelope(() => engine.modelInfo()),
    dispose: () => envelope(() => engine.dispose()),
  };
  Comlink.expose(api, endpoint);
  return api;
}
