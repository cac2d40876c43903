// Buffer pool: storage buffers are recycled by size class so that steady-state work (a decode step, a
// repeated kernel call) creates no GPU buffers. Counters make leaks visible to tests and benchmarks.

export interface PoolStats {
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers kept for reuse. */
  freeBuffers: number;
  freeBytes: number;
  /** createBuffer calls made by the pool since it was made. */
  created: number;
}

/** Round up to a size class: 256 bytes minimum, then quarter steps between powers of two. */
export function sizeClass(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(p / 4, min);
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private live = new Map<GPUBuffer, string>();
  private stats_: PoolStats = { liveBuffers: 0, liveBytes: 0, freeBuffers: 0, freeBytes: 0, created: 0 };

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label = ''): GPUBuffer {
    const size = sizeClass(bytes);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    let buf = list?.pop();
    if (buf) {
      this.stats_.freeBuffers--;
      this.stats_.freeBytes -= size;
    } else {
      buf = this.device.createBuffer({ size, usage, label });
      this.stats_.created++;
    }
    this.live.set(buf, key);
    this.stats_.liveBuffers++;
    this.stats_.liveBytes += size;
    return buf;
  }

  releaseBuffer(buf: GPUBuffer): void {
    const key = this.live.get(buf);
    if (key === undefined) return;
    this.live.delete(buf);
    this.stats_.liveBuffers--;
    this.stats_.liveBytes -= buf.size;
    const list = this.free.get(key) ?? [];
    list.push(buf);
    this.free.set(key, list);
    this.stats_.freeBuffers++;
    this.stats_.freeBytes += buf.size;
  }

  /** Destroy every buffer kept for reuse (live ones stay with their owners). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.stats_.freeBuffers = 0;
    this.stats_.freeBytes = 0;
  }

  stats(): PoolStats {
    return { ...this.stats_ };
  }
}
