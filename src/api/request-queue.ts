// Requests take the engine one at a time, in the order they arrived: one KV cache serves one
// conversation at a time, so two generations must never interleave their forward passes. A request
// aborted while it waits leaves the queue at once and never runs.

import { abortedError } from './errors.ts';

export class RequestQueue {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  /** Requests queued or running. */
  get length(): number {
    return this.waiting;
  }

  run<T>(job: () => Promise<T>, signal?: AbortSignal, what = 'the request'): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => { release = r; });
    this.waiting++;
    const done = () => { this.waiting--; release(); };
    return new Promise<T>((resolve, reject) => {
      let gaveUp = false;
      const onAbort = () => { gaveUp = true; reject(abortedError(what)); };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      void prev.then(async () => {
        signal?.removeEventListener('abort', onAbort);
        if (gaveUp) { done(); return; }
        try {
          resolve(await job());
        } catch (e) {
          reject(e);
        } finally {
          done();
        }
      });
    });
  }
}
