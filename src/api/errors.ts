// The one error class requests and model loads raise across the API: a typed EdgewiseError that also
// carries the OpenAI-style body ({ error: { message, type, param, code } }) an app would get from a
// server, so code written against OpenAI's error shape works unchanged.

import { EdgewiseError } from '../errors.ts';
import type { ApiErrorBody } from './types.ts';

export type ApiErrorType = ApiErrorBody['error']['type'];

export class ApiError extends EdgewiseError {
  override name = 'ApiError';
  readonly body: ApiErrorBody;

  constructor(type: ApiErrorType, message: string, opts: { param?: string; code?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, { type, param: opts.param, code: opts.code, ...opts.details }, { cause: opts.cause });
    const error: ApiErrorBody['error'] = { message, type };
    if (opts.param !== undefined) error.param = opts.param;
    if (opts.code !== undefined) error.code = opts.code;
    this.body = { error };
  }

  get type(): ApiErrorType {
    return this.body.error.type;
  }

  get param(): string | undefined {
    return this.body.error.param;
  }

  get code(): string | undefined {
    return this.body.error.code;
  }
}

/** A request's fault: bad field values, no model loaded, an unknown model id. */
export function invalidRequest(message: string, param?: string, code?: string, details?: Record<string, unknown>): ApiError {
  return new ApiError('invalid_request_error', message, { param, code, details });
}

/** The request was aborted through its signal before it produced anything. */
export function abortedError(what: string): ApiError {
  return new ApiError('aborted', `${what} was aborted`, { code: 'aborted' });
}
