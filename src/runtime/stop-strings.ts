// Stop strings on a stream of decoded text. Text is released as soon as it can no longer be the start
// of a stop string, so a caller that prints every released piece never prints any part of the stop
// text, even when the stop string arrives split over several tokens.

export interface StopScan {
  /** Text that is safe to emit now. */
  text: string;
  /** The stop string that ended the stream, if one did (the text before it is in `text`). */
  stopped: string | null;
}

export class StopStringMatcher {
  private held = '';
  private done = false;
  private readonly stops: string[];

  constructor(stops: readonly string[]) {
    // An empty stop string would match everywhere; callers validate, this only ignores it.
    this.stops = stops.filter((s) => s.length > 0);
  }

  get active(): boolean {
    return this.stops.length > 0;
  }

  /** Add newly decoded text; returns what may be emitted and whether a stop string was completed. */
  push(piece: string): StopScan {
    if (this.done) return { text: '', stopped: null };
    const text = this.held + piece;
    // The earliest match wins; on equal starts the longest stop string (it contains the others).
    let at = -1, which: string | null = null;
    for (const s of this.stops) {
      const i = text.indexOf(s);
      if (i >= 0 && (at < 0 || i < at || (i === at && s.length > which!.length))) { at = i; which = s; }
    }
    if (which !== null) {
      this.done = true;
      this.held = '';
      return { text: text.slice(0, at), stopped: which };
    }
    const keep = this.partialSuffix(text);
    this.held = text.slice(text.length - keep);
    return { text: text.slice(0, text.length - keep), stopped: null };
  }

  /** The end of the stream: whatever was held back is plain text after all. */
  flush(): string {
    const rest = this.done ? '' : this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  private partialSuffix(text: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
        if (text.endsWith(s.slice(0, n))) { best = n; break; }
      }
    }
    return best;
  }
}
