// The public, OpenAI-shaped contract of edgewise: what `createEngine()` returns and what its requests,
// responses and stream chunks look like. The engine (in-thread or in a worker) implements it; the chat
// and benchmark pages and embedding apps use only this.

/** One content part of a chat message. */
export type ContentPart =
  | { type: 'text'; text: string }
  /** url: a data: URL, an http(s) URL, or a blob: URL. A Blob may be passed directly in the browser. */
  | { type: 'image_url'; image_url: { url: string | Blob; detail?: 'auto' | 'low' | 'high' } }
  /** A short clip; frames are sampled at `fps` (default 1) up to `max_frames` (default 16). */
  | { type: 'video_url'; video_url: { url: string | Blob; fps?: number; max_frames?: number } };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export type ChatMessage =
  | { role: 'system'; content: string | ContentPart[] }
  | { role: 'user'; content: string | ContentPart[] }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; content: string; tool_call_id: string };

/** Sampling and stopping, shared by chat and raw completions. temperature 0 is greedy. */
export interface SamplingParams {
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  seed?: number;
  /** Strings that end generation; the stop string is not part of the returned text. */
  stop?: string | string[];
  presence_penalty?: number;
  frequency_penalty?: number;
  /** llama.cpp's repeat penalty (1 = off). */
  repetition_penalty?: number;
  signal?: AbortSignal;
}

export interface ChatCompletionRequest extends SamplingParams {
  /** Optional; the loaded model answers regardless, an unknown id is an error. */
  model?: string;
  messages: ChatMessage[];
  stream?: boolean;
  tools?: ToolDefinition[];
}

export interface CompletionRequest extends SamplingParams {
  model?: string;
  prompt: string | number[];
  stream?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'abort';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** edgewise extras. */
  ttft_ms: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  /** Prompt tokens served from the KV cache of the previous request. */
  cached_prompt_tokens: number;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: 0; message: { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }; finish_reason: FinishReason }[];
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: 0; delta: { role?: 'assistant'; content?: string; tool_calls?: (Partial<ToolCall> & { index: number })[] }; finish_reason: FinishReason | null }[];
  /** Present on the last chunk only. */
  usage?: Usage;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: { index: 0; text: string; finish_reason: FinishReason; tokens: number[] }[];
  usage: Usage;
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion.chunk';
  created: number;
  model: string;
  choices: { index: 0; text: string; finish_reason: FinishReason | null; tokens: number[] }[];
  usage?: Usage;
}

/** Where a model comes from: `hf://owner/repo/file.gguf[@revision]`, an http(s) URL, a path (Node),
 *  or a File/Blob (browser). Split GGUFs: give the first part; the rest are found by name. */
export type ModelSource = string | Blob;

export interface LoadProgress {
  /** fetch: bytes downloaded into the model cache; cache: bytes read back from it (a resumed download's
   *  stored part, or a cached file checked against sha256); parse; upload: weight bytes on the GPU (the
   *  mmproj's first, with its file name, then the text model's). */
  stage: 'fetch' | 'cache' | 'parse' | 'upload' | 'compile' | 'ready';
  loadedBytes: number;
  totalBytes: number;
  /** The file the bytes belong to (text model or mmproj). */
  file?: string;
  fromCache?: boolean;
}

export interface LoadModelOptions {
  model: ModelSource;
  /** The vision encoder (llama.cpp's mmproj GGUF) for image parts: a path, URL, hf:// reference or Blob,
   *  opened and cached like `model` (fetch/cache progress carry its file name; its checksum is
   *  `mmprojSha256`). Projectors: see ModelInfo.visionProjector; an unknown one is a model_error. */
  mmproj?: ModelSource;
  /** Expected sha256 (hex) of the mmproj file, checked as `sha256` is for the model; a mismatch is a
   *  model_error with param 'mmproj'. */
  mmprojSha256?: string;
  /** Name reported in responses; defaults to the file name. */
  id?: string;
  contextLength?: number;
  /** Expected sha256 (hex) of the model file (one file, not a split model): a download is checked as
   *  it is stored and a cached copy before it is used (a mismatch is re-fetched once, then refused);
   *  a File/Blob or path is checked before it is parsed. */
  sha256?: string;
  /** Keep downloaded files so the next load reads no network (browser: Cache Storage; Node: a
   *  directory, `dir` or $EDGEWISE_CACHE_DIR or ~/.cache/edgewise). Default: on for hf:// and for URLs
   *  of another host than the page (or than localhost); off for the page's own server. */
  cache?: boolean | { dir?: string };
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** 'error' (default): a request that does not fit the context is refused; 'truncate': the oldest
   *  non-system turns are dropped until it fits. */
  contextOverflow?: 'error' | 'truncate';
}

export interface ModelInfo {
  id: string;
  architecture: string;
  parameters: number;
  contextLength: number;
  /** Bytes of the model's files (the mmproj included). */
  fileBytes: number;
  /** Takes image_url parts (an mmproj was loaded). */
  hasVision: boolean;
  /** The vision family has a video format of its own (Reka Edge: frames between <video> and </video>);
   *  the chat page offers clips only then. The API takes video_url parts for every vision model: a family
   *  without one gets the sampled frames as timestamped images (docs/video.md). */
  hasVideo: boolean;
  /** The mmproj's clip.projector_type (gemma3, ...), or null without one. */
  visionProjector: string | null;
  chatTemplate: boolean;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  features: string[];
  limits: Record<string, number>;
}

export interface Engine {
  loadModel(opts: LoadModelOptions): Promise<ModelInfo>;
  unloadModel(): Promise<void>;
  readonly chat: {
    completions: {
      create(req: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(req: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
      create(req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
    };
  };
  readonly completions: {
    create(req: CompletionRequest & { stream: true }): Promise<AsyncIterable<CompletionChunk>>;
    create(req: CompletionRequest & { stream?: false }): Promise<Completion>;
    create(req: CompletionRequest): Promise<Completion | AsyncIterable<CompletionChunk>>;
  };
  /** Forget the cached conversation (the next request prefills from scratch). */
  resetChat(): Promise<void>;
  adapter(): Promise<AdapterSummary>;
  modelInfo(): Promise<ModelInfo | null>;
  dispose(): Promise<void>;
}

/** Errors crossing the API carry an OpenAI-style shape as well as a typed class. */
export interface ApiErrorBody {
  error: { message: string; type: 'invalid_request_error' | 'model_error' | 'device_error' | 'aborted'; param?: string; code?: string };
}
