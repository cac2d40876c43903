// GPU timestamp profiling. When enabled (and the device has 'timestamp-query'), every dispatch gets a
// compute pass of its own with begin/end timestamps; times are summed per kernel label.

export interface KernelTime {
  label: string;
  count: number;
  totalMs: number;
}

export class Profiler {
  readonly capacity = 2048; // dispatches per submit that get timestamps
  private querySet: GPUQuerySet | null = null;
  private resolveBuf: GPUBuffer | null = null;
  private readBufs: GPUBuffer[] = [];
  private pending: Promise<void>[] = [];
  private totals = new Map<string, KernelTime>();
  enabled = false;

  constructor(private readonly device: GPUDevice, readonly supported: boolean) {}

  enable(on = true): void {
    if (on && !this.supported) throw new Error("profiling needs the 'timestamp-query' feature, which this device lacks");
    this.enabled = on;
    if (on && !this.querySet) {
      this.querySet = this.device.createQuerySet({ type: 'timestamp', count: this.capacity * 2, label: 'profiler' });
      this.resolveBuf = this.device.createBuffer({ size: this.capacity * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profiler-resolve' });
    }
  }

  /** timestampWrites for the i-th dispatch of a recorder, or undefined past capacity / when disabled. */
  writesFor(i: number): GPUComputePassTimestampWrites | undefined {
    if (!this.enabled || !this.querySet || i >= this.capacity) return undefined;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Called by a recorder before finishing its encoder: resolve and copy out `labels.length` timings. */
  resolve(encoder: GPUCommandEncoder, labels: string[]): (() => void) | undefined {
    const n = Math.min(labels.length, this.capacity);
    if (!this.enabled || !this.querySet || !this.resolveBuf || n === 0) return undefined;
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    const read = this.readBufs.pop() ?? this.device.createBuffer({ size: this.capacity * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profiler-read' });
    encoder.copyBufferToBuffer(this.resolveBuf, 0, read, 0, 16 * n);
    const taken = labels.slice(0, n);
    // After the submit: map and accumulate.
    return () => {
      this.pending.push(read.mapAsync(GPUMapMode.READ, 0, 16 * n).then(() => {
        const t = new BigInt64Array(read.getMappedRange(0, 16 * n));
        for (let i = 0; i < n; i++) {
          const ns = Number(t[2 * i + 1] - t[2 * i]);
          const k = this.totals.get(taken[i]) ?? { label: taken[i], count: 0, totalMs: 0 };
          k.count++;
          k.totalMs += Math.max(0, ns) / 1e6;
          this.totals.set(taken[i], k);
        }
        read.unmap();
        this.readBufs.push(read);
      }));
    };
  }

  /** Wait for outstanding timings and return per-label totals, largest first. */
  async collect(reset = true): Promise<KernelTime[]> {
    await Promise.all(this.pending);
    this.pending = [];
    const out = [...this.totals.values()].sort((a, b) => b.totalMs - a.totalMs);
    if (reset) this.totals.clear();
    return out;
  }
}
