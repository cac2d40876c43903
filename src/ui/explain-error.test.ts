import { describe, expect, it } from 'vitest';
import { ApiError, invalidRequest } from '../api/errors.ts';
import { DeviceLimitError, DeviceLostError, GpuValidationError } from '../gpu/errors.ts';
import { ModelTooLargeError } from '../models/load.ts';
import { explainError } from './explain-error.ts';

// The page sees API errors (rebuilt from the worker's records, code kept) or their name and message.
const asApi = (e: Error & { name: string }) => new ApiError('device_error', `loadModel: ${e.message}`, { code: e.name });
const seen = (e: ApiError) => ({ name: e.name, message: e.message, code: e.code });

describe('explainError', () => {
  it('names an image sent to a text-only model, by code and by words alone', () => {
    const e = invalidRequest("messages[0].content[0] is an image_url part, but the loaded model 'x' has no vision encoder (load a vision model with its mmproj to send images or video)", 'messages[0].content[0]', 'model_has_no_vision');
    expect(explainError(seen(e)).title).toBe('This model reads text only');
    expect(explainError({ name: 'Error', message: e.message }).title).toBe('This model reads text only');
    expect(explainError(seen(e)).detail).toBe(e.message);
  });

  it('says which image the engine could not read', () => {
    const e = invalidRequest('messages[2].content[0]: PNG 64 x 48 could not be decoded: broken', 'messages[2].content[0]', 'invalid_image');
    const { title, detail } = explainError(seen(e));
    expect(title).toBe('An image could not be read');
    expect(detail).toMatch(/^messages\[2\]\.content\[0\]: PNG 64 x 48 could not be decoded: broken — it is not sent again/);
  });

  it('says a model does not fit the GPU for device limits and the memory budget', () => {
    const limit = asApi(new DeviceLimitError('maxStorageBufferBindingSize', 3e9, 2 ** 31, 'token_embd.weight, checked before loading'));
    const budget = asApi(new ModelTooLargeError(5e9, 4e9, { weights: 4.5e9, kvCache: 4e8, workspace: 1e8 }));
    for (const e of [limit, budget]) {
      expect(explainError(seen(e)).title).toBe('The model does not fit this GPU');
      expect(explainError({ name: e.name, message: e.message }).title).toBe('The model does not fit this GPU');
    }
  });

  it('names a lost device, an overfull context and GPU out-of-memory', () => {
    expect(explainError(seen(asApi(new DeviceLostError('destroyed', 'device.destroy() was called')))).title).toBe('The GPU device was lost');
    const ctx = invalidRequest('this request needs 5000 prompt tokens + 1 completion token(s) = 5001, more than the context of 4096', 'messages', 'context_length_exceeded');
    expect(explainError(seen(ctx)).title).toMatch(/no longer fits/);
    expect(explainError(seen(asApi(new GpuValidationError('out-of-memory', 'allocation failed')))).title).toBe('The GPU ran out of memory');
  });

  it('says a download was damaged when its sha256 is wrong', () => {
    const m = `https://huggingface.co/x/resolve/main/m.gguf: sha256 of the 10 downloaded bytes is ${'0'.repeat(64)}, expected ${'1'.repeat(64)}; the download was discarded`;
    expect(explainError({ name: 'ApiError', message: m }).title).toBe('The download was damaged');
    expect(explainError({ name: 'ApiError', message: 'x', code: 'ModelChecksumError' }).title).toBe('The download was damaged');
  });

  it('falls back to the caller\'s title with the message as it is', () => {
    expect(explainError({ name: 'ApiError', message: 'broken.gguf: bad magic' }, 'The model could not be loaded')).toEqual({ title: 'The model could not be loaded', detail: 'broken.gguf: bad magic' });
  });
});
