// Every error edgewise raises for bad input is an EdgewiseError, whichever room raised it, so a caller
// can tell a refused input (with the values that were wrong in `details`) from a bug.
import { describe, expect, it } from 'vitest';
import { EdgewiseError } from './errors.ts';
import { EdgewiseError as GpuRoomEdgewiseError, DeviceLimitError } from './gpu/errors.ts';
import { GgufFormatError, GgufSourceError } from './formats/gguf.ts';
import { ModelConfigError, UnsupportedArchitectureError } from './models/hparams.ts';
import { ModelTooLargeError } from './models/load.ts';
import { TokenizerError } from './tokenizer/vocab.ts';
import { ChatTemplateError } from './tokenizer/chat-template.ts';

describe('typed errors', () => {
  it('all extend the one EdgewiseError (also re-exported from gpu/errors.ts) and carry their values', () => {
    expect(GpuRoomEdgewiseError).toBe(EdgewiseError);
    const cause = new SyntaxError('unexpected }');
    const errors: [EdgewiseError, string, Record<string, unknown>][] = [
      [new GgufFormatError('magic', 'not a GGUF file', { offset: 0, value: 7, source: 'x.gguf' }), 'GgufFormatError', { what: 'magic', offset: 0, value: 7, source: 'x.gguf' }],
      [new GgufSourceError('http', 'http://h/x.gguf', 'HTTP 404', 404), 'GgufSourceError', { what: 'http', status: 404 }],
      [new TokenizerError('model', "unknown tokenizer model 'x'", { model: 'x' }), 'TokenizerError', { what: 'model', model: 'x' }],
      [new ChatTemplateError('cannot parse', cause), 'ChatTemplateError', {}],
      [new ModelConfigError('bad', { key: 'k' }), 'ModelConfigError', { key: 'k' }],
      [new UnsupportedArchitectureError('mamba'), 'UnsupportedArchitectureError', { arch: 'mamba' }],
      [new ModelTooLargeError(10, 5, { weights: 8, kvCache: 1, workspace: 1 }), 'ModelTooLargeError', { needBytes: 10, budgetBytes: 5, weights: 8 }],
      [new DeviceLimitError('maxBufferSize', 10, 5), 'DeviceLimitError', { limit: 'maxBufferSize', required: 10, available: 5 }],
    ];
    for (const [e, name, details] of errors) {
      expect(e, name).toBeInstanceOf(EdgewiseError);
      expect(e, name).toBeInstanceOf(Error);
      expect(e.name).toBe(name);
      expect(e.details, name).toMatchObject(details);
    }
    expect((errors[3][0] as ChatTemplateError).cause).toBe(cause);
  });
});
