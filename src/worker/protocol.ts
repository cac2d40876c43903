// What crosses between the page and the engine worker. Comlink carries the calls; what it cannot carry
// is made explicit here: errors travel as plain records (a structured clone would keep only the
// message), AbortSignals become ids the worker maps to its own controllers, and streams become
// chunk and end callbacks proxied back to the page.

import { ApiError } from '../api/errors.ts';
import { EdgewiseError } from '../errors.ts';
import type {
  AdapterSummary, ApiErrorBody, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Completion, CompletionChunk,
  CompletionRequest, LoadModelOptions, LoadProgress, ModelInfo,
} from '../api/types.ts';

export interface SerializedError {
  name: string;
  message: string;
  body?: ApiErrorBody;
  details?: Record<string, unknown>;
}

export type Envelope<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

/** Structured-cloneable detail values only (a cause or a tensor would not survive postMessage). */
function plainDetails(d: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d)) {
    if (v === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof v)) out[k] = v;
    else if (Array.isArray(v) && v.every((x) => ['string', 'number', 'boolean'].includes(typeof x))) out[k] = [...v];
  }
  return out;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof ApiError) return { name: e.name, message: e.message, body: e.body, details: plainDetails(e.details) };
  if (e instanceof EdgewiseError) return { name: e.name, message: e.message, details: plainDetails(e.details) };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** The page-side error for a serialized one: ApiError when it had a body, else an EdgewiseError by name. */
export function deserializeError(s: SerializedError): Error {
  if (s.body) {
    const { type, param, code } = s.body.error;
    return new ApiError(type, s.message, { param, code, details: s.details });
  }
  const e = new EdgewiseError(s.message, s.details ?? {});
  e.name = s.name;
  return e;
}

export async function envelope<T>(run: () => Promise<T>): Promise<Envelope<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (e) {
    return { ok: false, error: serializeError(e) };
  }
}

export type WorkerLoadOptions = Omit<LoadModelOptions, 'onProgress' | 'signal'>;
export type WorkerChatRequest = Omit<ChatCompletionRequest, 'signal'>;
export type WorkerCompletionRequest = Omit<CompletionRequest, 'signal'>;

export interface StreamCallbacks<C> {
  chunk(c: C): void;
  end(error: SerializedError | null): void;
}

/** The worker's surface (Comlink.expose). `abortId` names a request the page may abort(). */
export interface EngineWorkerApi {
  loadModel(opts: WorkerLoadOptions, abortId: number, onProgress?: (p: LoadProgress) => void): Promise<Envelope<ModelInfo>>;
  unloadModel(): Promise<Envelope<void>>;
  /** stream false: the completion; stream true: resolves once the request is accepted, then calls back. */
  chat(req: WorkerChatRequest, abortId: number, stream?: StreamCallbacks<ChatCompletionChunk>): Promise<Envelope<ChatCompletion | null>>;
  completion(req: WorkerCompletionRequest, abortId: number, stream?: StreamCallbacks<CompletionChunk>): Promise<Envelope<Completion | null>>;
  abort(abortId: number): void;
  resetChat(): Promise<Envelope<void>>;
  adapter(): Promise<Envelope<AdapterSummary>>;
  modelInfo(): Promise<Envelope<ModelInfo | null>>;
  dispose(): Promise<Envelope<void>>;
}
