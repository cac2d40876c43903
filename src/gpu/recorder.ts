// A Recorder collects dispatches into one command buffer and submits them together: one submit per
// decoded token is the goal. Kernel parameters go into a uniform arena (one writeBuffer per submit) and
// bind groups are cached, so repeating the same work allocates nothing.

import { ShapeError } from './errors.ts';
import type { Kernel } from './kernel.ts';
import { Tensor } from './tensor.ts';
import type { Gpu } from './gpu.ts';

export type Binding = Tensor | GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };
export type Workgroups = number | readonly [number, number?, number?];

export interface DispatchArgs {
  params?: Record<string, number>;
  buffers: readonly Binding[];
  workgroups: Workgroups;
}

export const ARENA_BYTES = 1 << 20;
const SLOT = 256; // minUniformBufferOffsetAlignment is at most 256 by spec

export class UniformArena {
  readonly buffer: GPUBuffer;
  readonly cpu = new ArrayBuffer(ARENA_BYTES);
  readonly view = new DataView(this.cpu);
  used = 0;
  constructor(device: GPUDevice) {
    this.buffer = device.createBuffer({ size: ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniform-arena' });
  }
}

function resolveBinding(b: Binding): { buffer: GPUBuffer; offset: number; size: number } {
  if (b instanceof Tensor) return { buffer: b.buffer, offset: b.offset, size: Math.ceil(b.byteLength / 4) * 4 };
  if ('buffer' in b) {
    const s = b as { buffer: GPUBuffer; offset?: number; size?: number };
    return { buffer: s.buffer, offset: s.offset ?? 0, size: s.size ?? s.buffer.size - (s.offset ?? 0) };
  }
  const buf = b as GPUBuffer;
  return { buffer: buf, offset: 0, size: buf.size };
}

export class Recorder {
  private encoder: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | null = null;
  private arena: UniformArena;
  private labels: string[] = [];
  private afterSubmit: (() => void)[] = [];
  /** Dispatches recorded since the recorder was made (across automatic flushes). */
  dispatches = 0;
  /** Queue submissions made by this recorder. */
  submits = 0;
  private closed = false;

  constructor(private readonly gpu: Gpu, readonly label = '') {
    this.encoder = gpu.device.createCommandEncoder({ label });
    this.arena = gpu.takeArena();
  }

  get commandEncoder(): GPUCommandEncoder {
    this.endPass();
    return this.encoder;
  }

  dispatch(kernel: Kernel, args: DispatchArgs): void {
    if (this.closed) throw new Error('recorder already submitted');
    const profiling = this.gpu.profiler.enabled;
    const cap = profiling ? this.gpu.profiler.capacity : Infinity;
    if (this.arena.used + SLOT > ARENA_BYTES || this.labels.length >= cap) this.flush();

    const [x, y = 1, z = 1] = typeof args.workgroups === 'number' ? [args.workgroups] : args.workgroups;
    const maxWg = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new ShapeError(kernel.label, `dispatch of ${x}x${y}x${z} workgroups exceeds maxComputeWorkgroupsPerDimension ${maxWg}`);
    }
    if (x === 0 || y === 0 || z === 0) return;

    const offsets: number[] = [];
    if (kernel.paramBytes) {
      const off = this.arena.used;
      const v = this.arena.view;
      kernel.paramNames.forEach((name, i) => {
        const val = args.params?.[name];
        if (val === undefined || Number.isNaN(val) && kernel.paramTypes[i] !== 'f32') {
          throw new ShapeError(kernel.label, `missing or invalid parameter ${name}`, { params: args.params });
        }
        const t = kernel.paramTypes[i];
        if (t === 'u32') v.setUint32(off + 4 * i, val >>> 0, true);
        else if (t === 'i32') v.setInt32(off + 4 * i, val | 0, true);
        else v.setFloat32(off + 4 * i, val, true);
      });
      offsets.push(off);
      this.arena.used += SLOT;
    }
    if (args.buffers.length !== kernel.def.bindings.length) {
      throw new ShapeError(kernel.label, `expected ${kernel.def.bindings.length} buffers, got ${args.buffers.length}`);
    }
    const bindGroup = this.gpu.bindGroup(kernel, this.arena.buffer, args.buffers.map(resolveBinding));

    const writes = profiling ? this.gpu.profiler.writesFor(this.labels.length) : undefined;
    if (writes) {
      this.endPass();
      this.pass = this.encoder.beginComputePass({ timestampWrites: writes, label: kernel.label });
    } else if (!this.pass) {
      this.pass = this.encoder.beginComputePass({ label: this.label });
    }
    this.pass.setPipeline(kernel.pipeline);
    this.pass.setBindGroup(0, bindGroup, offsets);
    this.pass.dispatchWorkgroups(x, y, z);
    if (writes) this.endPass();
    this.labels.push(kernel.label);
    this.dispatches++;
    this.gpu.counters.dispatches++;
  }

  copy(src: Binding, dst: Binding, bytes?: number): void {
    const s = resolveBinding(src);
    const d = resolveBinding(dst);
    this.endPass();
    this.encoder.copyBufferToBuffer(s.buffer, s.offset, d.buffer, d.offset, bytes ?? Math.min(s.size, d.size));
  }

  /** Copy a tensor's bytes out as part of this recorder's work; resolves after submit() once mapped.
   *  Lets a decode step read its token id without a second submission. */
  read(t: Tensor, byteLength = t.byteLength): Promise<Uint8Array> {
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.gpu.pool.acquire(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    this.endPass();
    this.encoder.copyBufferToBuffer(t.buffer, t.offset, staging, 0, size);
    this.gpu.counters.readbacks++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.onSubmitted(() => {
        staging.mapAsync(GPUMapMode.READ, 0, size).then(() => {
          const out = new Uint8Array(staging.getMappedRange(0, size).slice(0, byteLength));
          staging.unmap();
          this.gpu.pool.releaseBuffer(staging);
          resolve(out);
        }, (e: unknown) => {
          this.gpu.pool.releaseBuffer(staging);
          try { this.gpu.throwIfBroken(); } catch (lost) { reject(lost); return; }
          reject(e);
        });
      });
    });
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Submit what is recorded so far and keep recording into a fresh encoder. */
  flush(): void {
    this.submitEncoder();
    this.encoder = this.gpu.device.createCommandEncoder({ label: this.label });
    this.arena = this.gpu.takeArena();
  }

  /** Run a callback after the next submit (e.g. start a mapAsync on a buffer this submit writes). */
  onSubmitted(fn: () => void): void {
    this.afterSubmit.push(fn);
  }

  private submitEncoder(): void {
    this.endPass();
    const after = this.gpu.profiler.resolve(this.encoder, this.labels);
    if (this.arena.used) this.gpu.device.queue.writeBuffer(this.arena.buffer, 0, this.arena.cpu, 0, this.arena.used);
    this.gpu.submit(this.encoder, this.label);
    this.submits++;
    this.arena.used = 0;
    this.gpu.returnArena(this.arena);
    this.labels = [];
    after?.();
    const fns = this.afterSubmit;
    this.afterSubmit = [];
    for (const f of fns) f();
  }

  submit(): void {
    if (this.closed) throw new Error('recorder already submitted');
    this.submitEncoder();
    this.closed = true;
  }
}
