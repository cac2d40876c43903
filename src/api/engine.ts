// The in-thread engine: the Engine contract of types.ts over one GPU device, one loaded model, its
// tokenizer and one Generator (one KV cache). Node uses it directly, and so does the browser worker
// (src/worker/engine-worker.ts), which only forwards calls to it.
//
// Requests are checked and tokenized when create() is called (so a bad request rejects create()),
// then wait in a FIFO queue for the one KV cache. The Generator keeps the tokens whose keys and values
// are cached, so a request that extends the previous conversation prefills only what is new
// (usage.cached_prompt_tokens says how much was reused). Streams are fed by the generation as it runs;
// leaving a stream early aborts its generation.
//
// Images (loadModel with an mmproj): the mmproj's vision family (src/vision/families.ts) is loaded with
// the text model; image parts are fetched, decoded and hashed when create() is called (media.ts), and
// each becomes a media segment of the prompt that the Generator encodes inside the queue, only when its
// positions are not already in the KV cache (keyed by the pixels' hash). Everything else (sampling, stop
// strings, streaming, usage, abort, overflow, the queue) is the text path's.
// Video parts: src/vision/video/media-video.ts's planVideo decodes the clip once when create() is called
// (positions and a frames' hash), and the segment's produce() decodes again and encodes in the queue.

import { EdgewiseError } from '../errors.ts';
import { Gpu } from '../gpu/gpu.ts';
import { loadLanguageModel, type LoadedModel } from '../models/load.ts';
import { Generator, type GenerateResult, type MediaSegment, type Prompt, type StopReason } from '../runtime/generate.ts';
import type { VisionFamily } from '../vision/family.ts';
import { loadVisionFamily } from '../vision/families.ts';
import { resolveImages, type ResolvedImage } from './media.ts';
import { planVideo, type PlannedVideo } from '../vision/video/media-video.ts';
import { loadTokenizer, type TextTokenizer } from '../tokenizer/tokenizer.ts';
import { Channel } from './channel.ts';
import { ToolCallStream, parseToolCalls, type ParsedToolCall, type ToolCallDelta } from '../runtime/tool-calls.ts';
import { abortedError, ApiError, invalidRequest } from './errors.ts';
import { checkSourceOptions, openModelSource } from './model-source.ts';
import { fitChat, fitChatSegments, fitRaw, type OverflowPolicy } from './prompt.ts';
import { RequestQueue } from './request-queue.ts';
import type {
  AdapterSummary, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, Completion, CompletionChunk,
  CompletionRequest, ContentPart, Engine, FinishReason, LoadModelOptions, ModelInfo, ToolCall, Usage,
} from './types.ts';
import { checkChatRequest, checkCompletionRequest, type CheckedSampling } from './validate.ts';

/** The KV cache length when loadModel is not given one: the model's own, at most this. */
export const DEFAULT_CONTEXT_LENGTH = 4096;

interface Loaded {
  info: ModelInfo;
  model: LoadedModel;
  tok: TextTokenizer;
  gen: Generator;
  overflow: OverflowPolicy;
  /** Token ids the embedding table has rows for. */
  vocabSize: number;
  /** The mmproj's vision family, when one was loaded. */
  vision: VisionFamily | null;
}

/** The text model's batch (most positions one forward call takes) when no vision family asks for more. */
const DEFAULT_MAX_BATCH = 64;

/** What one queued generation reports back as it runs. */
interface Sink {
  onStart?(): void;
  onText?(text: string): void;
  onToken?(id: number): void;
}

interface Outcome {
  result: GenerateResult;
  finish: FinishReason;
  usage: Usage;
}

const DEVICE_ERRORS = new Set(['WebGpuUnavailableError', 'DeviceLimitError', 'GpuValidationError', 'GpuOutOfMemoryError', 'DeviceLostError', 'ShaderCompileError']);

/** An mmproj that cannot be opened or loaded: a model_error naming the mmproj (param 'mmproj'). */
function mmprojError(e: unknown, during: string): unknown {
  if (e instanceof ApiError) {
    if (e.type === 'aborted') return e;
    return new ApiError(e.type, `mmproj: ${e.message}`, { param: 'mmproj', code: e.code, details: e.details, cause: e });
  }
  if (!(e instanceof EdgewiseError)) return e;
  const type = DEVICE_ERRORS.has(e.name) ? 'device_error' : 'model_error';
  return new ApiError(type, `${during}: ${e.message}`, { param: 'mmproj', code: e.name, details: e.details, cause: e });
}

/** An ApiError for anything a lower room raised (the original is the cause). */
function asApiError(e: unknown, during: string): unknown {
  if (e instanceof ApiError || !(e instanceof EdgewiseError)) return e;
  const type = DEVICE_ERRORS.has(e.name) ? 'device_error' : 'model_error';
  return new ApiError(type, `${during}: ${e.message}`, { code: e.name, details: e.details, cause: e });
}

function finishReason(stop: StopReason): FinishReason {
  switch (stop) {
    case 'stop_token': case 'stop_string': return 'stop';
    case 'abort': return 'abort';
    case 'max_tokens': case 'context_full': return 'length';
  }
}

function usageOf(r: GenerateResult): Usage {
  const prefilled = r.promptTokens - r.cachedPromptTokens;
  return {
    prompt_tokens: r.promptTokens,
    completion_tokens: r.tokens.length,
    total_tokens: r.promptTokens + r.tokens.length,
    ttft_ms: r.ttftMs,
    prefill_tokens_per_s: r.ttftMs > 0 ? prefilled / (r.ttftMs / 1000) : 0,
    decode_tokens_per_s: r.decodeSteps > 0 && r.decodeMs > 0 ? r.decodeSteps / (r.decodeMs / 1000) : 0,
    cached_prompt_tokens: r.cachedPromptTokens,
  };
}

function newId(prefix: string): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  const raw = c?.randomUUID ? c.randomUUID().replaceAll('-', '') : Math.random().toString(36).slice(2) + Date.now().toString(36);
  return `${prefix}-${raw.slice(0, 24)}`;
}

/** Image and video parts need a vision encoder; until one is loaded they are refused by name. */
function refuseMedia(messages: readonly ChatMessage[], info: ModelInfo): void {
  messages.forEach((m, i) => {
    if (typeof m.content === 'string' || m.content === null || !Array.isArray(m.content)) return;
    m.content.forEach((p, j) => {
      if (p.type === 'text' || info.hasVision) return;
      throw invalidRequest(
        `messages[${i}].content[${j}] is an ${p.type} part, but the loaded model '${info.id}' has no vision encoder (load a vision model with its mmproj to send images or video)`,
        `messages[${i}].content[${j}]`, 'model_has_no_vision', { part: p.type, model: info.id },
      );
    });
  });
}

export interface InThreadEngineOptions {
  /** A device to use instead of creating one (tests share theirs). Not destroyed by dispose(). */
  gpu?: Gpu;
}

export class InThreadEngine implements Engine {
  private gpu: Gpu | null;
  private ownsGpu: boolean;
  private loaded: Loaded | null = null;
  private readonly queue = new RequestQueue();
  private disposed = false;

  constructor(opts: InThreadEngineOptions = {}) {
    this.gpu = opts.gpu ?? null;
    this.ownsGpu = !opts.gpu;
  }

  private async device(): Promise<Gpu> {
    if (this.gpu?.lost) {
      // A lost device cannot come back. One the engine made is replaced by a fresh one (the model must
      // be loaded again); one the caller gave is theirs to replace.
      if (!this.ownsGpu) {
        throw new ApiError('device_error', 'the GPU device given to this engine was lost; create a new device and engine', { code: 'DeviceLostError' });
      }
      this.loaded = null;
      try { this.gpu.destroy(); } catch { /* already gone */ }
      this.gpu = null;
    }
    if (!this.gpu) {
      try {
        this.gpu = await Gpu.create({ label: 'edgewise-engine' });
      } catch (e) {
        throw asApiError(e, 'no GPU device');
      }
    }
    return this.gpu;
  }

  private checkAlive(): void {
    if (this.disposed) throw invalidRequest('this engine was disposed; create a new one', undefined, 'engine_disposed');
  }

  // ---- models ----------------------------------------------------------------------------------

  async loadModel(opts: LoadModelOptions): Promise<ModelInfo> {
    this.checkAlive();
    if (opts === null || typeof opts !== 'object') throw invalidRequest('loadModel needs an options object with a model', 'model', 'invalid_type');
    const policy = opts.contextOverflow ?? 'error';
    if (policy !== 'error' && policy !== 'truncate') throw invalidRequest(`contextOverflow must be 'error' or 'truncate', got ${JSON.stringify(policy)}`, 'contextOverflow', 'invalid_value');
    const ctx = opts.contextLength;
    if (ctx !== undefined && !(Number.isInteger(ctx) && ctx >= 1)) throw invalidRequest(`contextLength must be an integer >= 1, got ${ctx}`, 'contextLength', 'invalid_value');
    if (opts.mmproj !== undefined && opts.mmproj !== null) {
      const mm = opts.mmproj as unknown;
      if (!(typeof mm === 'string' && mm.length > 0) && !(typeof Blob !== 'undefined' && mm instanceof Blob)) {
        throw invalidRequest(`mmproj must be a path, URL, hf:// reference or Blob, got ${typeof mm}`, 'mmproj', 'invalid_type');
      }
    }
    checkSourceOptions(opts);
    if (opts.mmprojSha256 !== undefined) {
      if (opts.mmproj === undefined || opts.mmproj === null) throw invalidRequest('mmprojSha256 is given without an mmproj', 'mmprojSha256', 'invalid_value');
      checkSourceOptions({ model: opts.mmproj, cache: opts.cache, sha256: opts.mmprojSha256 }, 'mmprojSha256');
    }
    return this.queue.run(() => this.load(opts, policy), opts.signal, 'loadModel');
  }

  private async load(opts: LoadModelOptions, overflow: OverflowPolicy): Promise<ModelInfo> {
    this.unloadNow();
    const signal = opts.signal;
    const progress = opts.onProgress;
    const stopIfAborted = () => { if (signal?.aborted) throw abortedError('loadModel'); };
    const gpu = await this.device();
    let opened;
    try {
      opened = await openModelSource(opts.model, { cache: opts.cache, sha256: opts.sha256, onProgress: progress, signal });
    } catch (e) {
      throw asApiError(e, 'cannot open the model');
    }
    const { gguf, name, fileBytes } = opened;
    let mm: Awaited<ReturnType<typeof openModelSource>> | null = null;
    let model: LoadedModel | null = null;
    let vision: VisionFamily | null = null;
    try {
      if (opts.mmproj !== undefined && opts.mmproj !== null) {
        try {
          mm = await openModelSource(opts.mmproj, { cache: opts.cache, sha256: opts.mmprojSha256, onProgress: progress, signal });
        } catch (e) {
          throw mmprojError(e, 'cannot open the mmproj');
        }
      }
      stopIfAborted();
      progress?.({ stage: 'parse', loadedBytes: 0, totalBytes: fileBytes, file: name });
      const tok = loadTokenizer(gguf);
      const nCtxTrain = gguf.getU32(gguf.archKey('context_length'), DEFAULT_CONTEXT_LENGTH);
      const contextLength = Math.min(opts.contextLength ?? DEFAULT_CONTEXT_LENGTH, nCtxTrain);
      if (mm) {
        const mmName = mm.name;
        try {
          const width = gguf.getU32(gguf.archKey('embedding_length'));
          vision = await loadVisionFamily(gpu, mm.gguf, { tokenizer: tok, width }, (p) => {
            stopIfAborted();
            progress?.({ stage: 'upload', loadedBytes: p.loadedBytes, totalBytes: p.totalBytes, file: mmName });
          });
        } catch (e) {
          throw mmprojError(e, `cannot load the mmproj ${mmName}`);
        }
        stopIfAborted();
      }
      const maxBatch = Math.max(DEFAULT_MAX_BATCH, vision?.maxRows ?? 0);
      model = await loadLanguageModel(gpu, gguf, { contextLength, maxBatch }, (p) => {
        // Throwing here stops the upload between tensors; the loader frees what it made.
        stopIfAborted();
        progress?.({ stage: 'upload', loadedBytes: p.loadedBytes, totalBytes: p.totalBytes, file: name });
      });
      stopIfAborted();
      const gen = new Generator(gpu, model.model);
      const info: ModelInfo = {
        id: opts.id ?? name,
        architecture: model.hparams.arch.name,
        parameters: gguf.tensors.reduce((s, t) => s + t.numel, 0),
        contextLength: model.model.opts.contextLength,
        fileBytes: fileBytes + (mm?.fileBytes ?? 0),
        hasVision: vision !== null,
        hasVideo: typeof vision?.video === 'function',
        visionProjector: vision?.projector ?? null,
        chatTemplate: tok.chatTemplate !== null,
      };
      this.lostModel = null;
      this.loaded = { info, model, tok, gen, overflow, vocabSize: Math.min(tok.vocabSize, model.hparams.vocabSize), vision };
      progress?.({ stage: 'ready', loadedBytes: info.fileBytes, totalBytes: info.fileBytes, file: name });
      return { ...info };
    } catch (e) {
      if (model) { model.model.dispose(); model.weights.destroy(); }
      vision?.destroy();
      throw asApiError(e, `cannot load ${name}`);
    } finally {
      await gguf.close();
      await mm?.gguf.close();
    }
  }

  /** After device loss: the model's buffers went with the device; drop it so requests say so clearly
   *  and the next loadModel starts on a new device. */
  private forgetLostModel(): void {
    const m = this.loaded;
    this.loaded = null;
    this.lostModel = m?.info.id ?? null;
    try { m?.gen.dispose(); m?.model.model.dispose(); m?.model.weights.destroy(); m?.vision?.destroy(); } catch { /* the device is gone */ }
  }

  private lostModel: string | null = null;

  private unloadNow(): void {
    const m = this.loaded;
    this.loaded = null;
    if (!m) return;
    m.gen.dispose();
    m.model.model.dispose();
    m.model.weights.destroy();
    m.vision?.destroy();
  }

  unloadModel(): Promise<void> {
    return this.queue.run(async () => this.unloadNow(), undefined, 'unloadModel');
  }

  async modelInfo(): Promise<ModelInfo | null> {
    return this.loaded ? { ...this.loaded.info } : null;
  }

  resetChat(): Promise<void> {
    return this.queue.run(async () => this.loaded?.gen.reset(), undefined, 'resetChat');
  }

  async adapter(): Promise<AdapterSummary> {
    this.checkAlive();
    const gpu = await this.device();
    const i = gpu.info;
    const features = Object.entries(i.features).filter(([, on]) => on).map(([f]) => f);
    return { vendor: i.vendor, architecture: i.architecture, description: i.description || i.device, features, limits: { ...i.limits } };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.queue.run(async () => this.unloadNow(), undefined, 'dispose');
    this.disposed = true;
    if (this.ownsGpu) this.gpu?.destroy();
    this.gpu = null;
  }

  // ---- requests --------------------------------------------------------------------------------

  private requireModel(model: string | undefined): Loaded {
    this.checkAlive();
    const m = this.loaded;
    if (!m && this.lostModel) {
      throw new ApiError('device_error', `the GPU device was lost and the model '${this.lostModel}' with it; call loadModel() again`, { code: 'DeviceLostError', param: 'model' });
    }
    if (!m) throw invalidRequest('no model is loaded; call loadModel() first', 'model', 'model_not_loaded');
    if (model !== undefined && model !== m.info.id) {
      throw invalidRequest(`the model '${model}' does not exist here; the loaded model is '${m.info.id}'`, 'model', 'model_not_found', { model, loaded: m.info.id });
    }
    return m;
  }

  /** Queue one generation; it runs when the KV cache is free. */
  private generate(m: Loaded, prompt: Prompt, checked: CheckedSampling, signal: AbortSignal, sink: Sink, renderSpecial = false): Promise<Outcome> {
    return this.queue.run(async () => {
      if (this.loaded !== m) throw invalidRequest('the model this request was made for was unloaded before it ran', 'model', 'model_not_loaded');
      sink.onStart?.();
      let result: GenerateResult;
      try {
        result = await m.gen.generate(prompt, {
          maxTokens: checked.maxTokens ?? m.info.contextLength,
          sampling: checked.sampling,
          stopTokens: [...m.tok.eog],
          signal,
          onToken: sink.onToken,
          // With tools, special tokens are rendered: Reka Edge's <tool_call> markers are control tokens.
          text: { decoder: m.tok.decodeStream({ skipSpecial: !renderSpecial }), stop: checked.stop, onText: sink.onText },
        });
      } catch (e) {
        if (this.gpu?.lost) this.forgetLostModel();
        throw asApiError(e, 'generation failed');
      }
      return { result, finish: finishReason(result.stoppedBy), usage: usageOf(result) };
    }, signal);
  }

  /** An AbortSignal that fires with the request's signal or when a stream's reader leaves early. */
  private static linkedAbort(signal: AbortSignal | undefined): AbortController {
    const ac = new AbortController();
    if (signal?.aborted) ac.abort();
    else signal?.addEventListener('abort', () => ac.abort(), { once: true });
    return ac;
  }

  readonly chat = {
    completions: {
      create: ((req: ChatCompletionRequest) => this.createChat(req)) as Engine['chat']['completions']['create'],
    },
  };

  readonly completions = {
    create: ((req: CompletionRequest) => this.createCompletion(req)) as Engine['completions']['create'],
  };

  private async createChat(req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    const checked = checkChatRequest(req);
    const m = this.requireModel(req.model);
    refuseMedia(req.messages, m.info);
    const tokens = await this.chatPrompt(m, req, checked.maxTokens);
    const id = newId('chatcmpl');
    const created = Math.floor(Date.now() / 1000);
    const model = m.info.id;
    const ac = InThreadEngine.linkedAbort(req.signal);

    // With tools offered, Hermes-style <tool_call> blocks in the reply become tool_calls; malformed ones
    // stay in the content as text (model output is untrusted and must not break the response).
    const tools = !!req.tools?.length;
    const calls = tools ? new ToolCallStream() : null;
    const toolCall = (c: ParsedToolCall): ToolCall => ({ id: newId('call'), type: 'function', function: { name: c.name, arguments: c.arguments } });
    const finishWith = (finish: FinishReason, n: number): FinishReason => (n > 0 && finish === 'stop' ? 'tool_calls' : finish);

    if (!req.stream) {
      let text = '';
      const out = await this.generate(m, tokens, checked, ac.signal, { onText: (t) => { text += t; } }, tools);
      const parsed = calls ? parseToolCalls(text) : null;
      const toolCalls = parsed?.toolCalls.map(toolCall) ?? [];
      const content = parsed ? parsed.content : text;
      return {
        id, object: 'chat.completion', created, model,
        choices: [{
          index: 0,
          message: { role: 'assistant', content: toolCalls.length && !content.trim() ? null : content, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
          finish_reason: finishWith(out.finish, toolCalls.length),
        }],
        usage: out.usage,
      };
    }
    const ch = new Channel<ChatCompletionChunk>();
    ch.onCancel = () => ac.abort();
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null): ChatCompletionChunk =>
      ({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] });
    let nCalls = 0;
    const emit = (d: ToolCallDelta) => {
      if (d.content) ch.push(chunk({ content: d.content }, null));
      for (const c of d.toolCalls) {
        nCalls++;
        ch.push(chunk({ tool_calls: [{ index: c.index, ...toolCall(c) }] }, null));
      }
    };
    this.generate(m, tokens, checked, ac.signal, {
      onStart: () => ch.push(chunk({ role: 'assistant', content: '' }, null)),
      onText: (t) => (calls ? emit(calls.push(t)) : ch.push(chunk({ content: t }, null))),
    }, tools).then((out) => {
      if (calls) emit(calls.flush());
      ch.push({ ...chunk({}, finishWith(out.finish, nCalls)), usage: out.usage });
      ch.end();
    }, (e) => ch.fail(e));
    return ch;
  }

  /** Token ids, or with images the segments whose media the Generator encodes when they are not cached. */
  private async chatPrompt(m: Loaded, req: ChatCompletionRequest, maxTokens: number | null): Promise<Prompt> {
    const family = m.vision;
    const hasImages = family !== null && req.messages.some((msg) => Array.isArray(msg.content) && msg.content.some((p) => p.type !== 'text'));
    if (!hasImages) return fitChat(m.tok, req.messages, req.tools, m.info.contextLength, maxTokens, m.overflow).tokens;
    let images: Map<ContentPart, ResolvedImage>;
    let videos: Map<ContentPart, { where: string; plan: PlannedVideo }>;
    try {
      images = await resolveImages(req.messages, family, req.signal);
      videos = await this.planVideos(m, family, req);
    } catch (e) {
      if (req.signal?.aborted && !(e instanceof ApiError)) throw abortedError('the request');
      throw e;
    }
    const segment = (part: ContentPart): MediaSegment => {
      const v = videos.get(part);
      if (v) return { kind: 'media', key: v.plan.key, positions: v.plan.positions, produce: () => this.encodeVideo(m, v.where, v.plan) };
      const r = images.get(part) as ResolvedImage;
      return { kind: 'media', key: r.key, positions: r.positions, produce: () => this.encodeImage(m, family, r) };
    };
    return { segments: fitChatSegments(m.tok, req.messages, req.tools, segment, m.info.contextLength, maxTokens, m.overflow).segments };
  }

  /** Video parts (src/vision/video/): decoded once to size them before queuing; encoded in the queue. */
  private async planVideos(m: Loaded, family: VisionFamily, req: ChatCompletionRequest): Promise<Map<ContentPart, { where: string; plan: PlannedVideo }>> {
    const out = new Map<ContentPart, { where: string; plan: PlannedVideo }>();
    const countText = (t: string) => m.tok.encode(t, { addSpecial: false, parseSpecial: true }).length;
    for (const [i, msg] of req.messages.entries()) {
      if (!Array.isArray(msg.content)) continue;
      for (const [j, part] of (msg.content as ContentPart[]).entries()) {
        if (part.type !== 'video_url') continue;
        const where = `messages[${i}].content[${j}]`;
        const { url, fps, max_frames: maxFrames } = part.video_url;
        try {
          out.set(part, { where, plan: await planVideo(family, url, countText, { fps, maxFrames, maxPositions: m.info.contextLength, signal: req.signal }) });
        } catch (e) {
          if (e instanceof EdgewiseError && !DEVICE_ERRORS.has(e.name)) throw invalidRequest(`${where}: ${e.message}`, where, 'invalid_video', { ...e.details });
          throw e;
        }
      }
    }
    return out;
  }

  /** One clip through the family (inside the queue), its text chunks tokenized. */
  private async encodeVideo(m: Loaded, where: string, plan: PlannedVideo) {
    let chunks;
    try {
      chunks = await plan.produce();
    } catch (e) {
      if (e instanceof EdgewiseError && !DEVICE_ERRORS.has(e.name)) throw invalidRequest(`${where}: ${e.message}`, where, 'invalid_video', { ...e.details });
      throw e;
    }
    return chunks.map((c) => (c.kind === 'text' ? { kind: 'tokens' as const, ids: m.tok.encode(c.text, { addSpecial: false, parseSpecial: true }) } : c));
  }

  /** One image through the family (inside the queue), its text chunks tokenized. */
  private async encodeImage(m: Loaded, family: VisionFamily, r: ResolvedImage) {
    let chunks;
    try {
      chunks = await family.image(r.image);
    } catch (e) {
      if (e instanceof EdgewiseError && !DEVICE_ERRORS.has(e.name)) {
        throw invalidRequest(`${r.where}: the ${family.projector} vision encoder refused the image: ${e.message}`, r.where, 'invalid_image', { ...e.details });
      }
      throw e;
    }
    return chunks.map((c) => (c.kind === 'text' ? { kind: 'tokens' as const, ids: m.tok.encode(c.text, { addSpecial: false, parseSpecial: true }) } : c));
  }

  private async createCompletion(req: CompletionRequest): Promise<Completion | AsyncIterable<CompletionChunk>> {
    const checked = checkCompletionRequest(req);
    const m = this.requireModel(req.model);
    let ids: number[];
    if (typeof req.prompt === 'string') {
      // As llama.cpp's server and the CLI: BOS as the file says, special-token text parsed.
      ids = m.tok.encode(req.prompt, { addSpecial: true, parseSpecial: true });
    } else {
      ids = [...req.prompt];
      const bad = ids.findIndex((t) => t >= m.vocabSize);
      if (bad >= 0) throw invalidRequest(`prompt[${bad}] = ${ids[bad]} is outside the model's vocabulary of ${m.vocabSize}`, 'prompt', 'invalid_value');
    }
    if (ids.length === 0) throw invalidRequest('the prompt has no tokens (empty text and a vocabulary that adds no BOS)', 'prompt', 'empty_prompt');
    const { tokens } = fitRaw(ids, m.tok.bos, m.info.contextLength, checked.maxTokens, m.overflow);
    const id = newId('cmpl');
    const created = Math.floor(Date.now() / 1000);
    const model = m.info.id;
    const ac = InThreadEngine.linkedAbort(req.signal);

    if (!req.stream) {
      let text = '';
      const out = await this.generate(m, tokens, checked, ac.signal, { onText: (t) => { text += t; } });
      return {
        id, object: 'text_completion', created, model,
        choices: [{ index: 0, text, finish_reason: out.finish, tokens: out.result.tokens }],
        usage: out.usage,
      };
    }
    const ch = new Channel<CompletionChunk>();
    ch.onCancel = () => ac.abort();
    // A chunk carries the text released since the last one and the tokens that produced it (a token
    // whose text is held back, e.g. half a character or a possible stop string, rides with a later one).
    let pending: number[] = [];
    const chunk = (text: string, finish: FinishReason | null): CompletionChunk => {
      const toks = pending;
      pending = [];
      return { id, object: 'text_completion.chunk', created, model, choices: [{ index: 0, text, finish_reason: finish, tokens: toks }] };
    };
    this.generate(m, tokens, checked, ac.signal, {
      onToken: (t) => { pending.push(t); },
      onText: (t) => ch.push(chunk(t, null)),
    }).then((out) => {
      ch.push({ ...chunk('', out.finish), usage: out.usage });
      ch.end();
    }, (e) => ch.fail(e));
    return ch;
  }
}

/** The engine on this thread (Node, or code already inside a worker). */
export function createInThreadEngine(opts: InThreadEngineOptions = {}): InThreadEngine {
  return new InThreadEngine(opts);
}
