// The root of every typed error edgewise throws. It lives in the first room (before formats) so the
// GGUF reader, the GPU runtime, the tokenizer and the models can all extend it, and a caller can tell
// "the engine refused this input" (an EdgewiseError carrying the values that were wrong) from a bug.

export class EdgewiseError extends Error {
  override name = 'EdgewiseError';
  constructor(message: string, readonly details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
  }
}
