// Errors from the engine put into words a user can act on: which kind of trouble it is (a text-only
// model sent an image, a model too big for the GPU, a lost device, a full context, a damaged download)
// from the API error's code when it crossed the worker with one, else from its message.

/** What went wrong, in words a user can act on, from an error's name and message. */
export function explainError(e: { name: string; message: string; code?: string }, fallbackTitle = 'The model could not answer'): { title: string; detail: string } {
  const m = e.message;
  const code = e.code ?? '';
  if (code === 'model_has_no_vision' || (/image|video|vision|mmproj|projector/i.test(m) && /text[- ]only|no (vision|projector|mmproj)|does not (accept|support|read)|cannot (see|read)|not a vision/i.test(m))) {
    return { title: 'This model reads text only', detail: /vision model/i.test(m) ? m : `${m} — load a vision model (SmolVLM, Gemma 3 with its projector) to ask about images.` };
  }
  if (code === 'invalid_image') {
    return { title: 'An image could not be read', detail: `${m} — it is not sent again; attach another copy (PNG or JPEG) to try once more.` };
  }
  if (code === 'DeviceLimitError' || code === 'ModelTooLargeError' || e.name === 'DeviceLimitError' ||
    /device limit|maxBufferSize|maxStorageBufferBindingSize|of GPU memory .* budget/i.test(m)) {
    return { title: 'The model does not fit this GPU', detail: m };
  }
  if (code === 'DeviceLostError' || e.name === 'DeviceLostError' || /device (was )?lost/i.test(m)) {
    return { title: 'The GPU device was lost', detail: `${m} — load the model again to continue.` };
  }
  if (code === 'context_length_exceeded' || /context of \d+/i.test(m)) {
    return { title: 'The conversation no longer fits the model’s context', detail: `${m} — clear the conversation or ask for fewer tokens.` };
  }
  if (code === 'ModelChecksumError' || /sha256 .* expected [0-9a-f]{64}/i.test(m)) {
    return { title: 'The download was damaged', detail: `${m} — load the model again to download it anew.` };
  }
  if (/out[- ]of[- ]memory/i.test(m)) return { title: 'The GPU ran out of memory', detail: m };
  return { title: fallbackTitle, detail: m };
}
