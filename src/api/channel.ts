// A one-consumer async iterable fed by a producer that does not wait for it: generation runs at its
// own pace and parks chunks here, so a caller that reads slowly (or not at all) never stalls the
// request queue. Leaving the loop early (break, return()) calls onCancel, which aborts the generation.

export class Channel<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private ended = false;
  private failure: { error: unknown } | null = null;
  private wake: (() => void) | null = null;
  private iterating = false;
  onCancel: (() => void) | null = null;

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(error: unknown): void {
    if (this.ended) return;
    this.failure = { error };
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterating) throw new TypeError('this stream is already being read (a stream can be iterated once)');
    this.iterating = true;
    return {
      next: async (): Promise<IteratorResult<T>> => {
        for (;;) {
          if (this.items.length) return { value: this.items.shift()!, done: false };
          if (this.failure) {
            const e = this.failure.error;
            this.failure = null;
            throw e;
          }
          if (this.ended) return { value: undefined, done: true };
          await new Promise<void>((r) => { this.wake = r; });
        }
      },
      return: async (): Promise<IteratorResult<T>> => {
        if (!this.ended) {
          this.ended = true;
          this.items = [];
          this.onCancel?.();
        }
        return { value: undefined, done: true };
      },
    };
  }
}
