// The GPU runtime: one way to get a device in the browser (navigator.gpu) and in Node (Dawn through the
// `webgpu` package), what the adapter offers, buffers, kernels, submission and error reporting.

import {
  DeviceLimitError, DeviceLostError, GpuOutOfMemoryError, GpuValidationError, ShaderCompileError, WebGpuUnavailableError,
} from './errors.ts';
import { PipelineCache, type Kernel, type KernelDef } from './kernel.ts';
import { BufferPool, type PoolStats } from './pool.ts';
import { Profiler } from './profiler.ts';
import { Recorder, UniformArena } from './recorder.ts';
import { Tensor, dtypeByteSize, numel, type DType } from './tensor.ts';

export interface GpuFeatures {
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
}

export interface GpuInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: 'browser' | 'dawn-node';
  features: GpuFeatures;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  limits: Record<string, number>;
}

export interface GpuOptions {
  powerPreference?: GPUPowerPreference;
  /** Limits the work needs; a DeviceLimitError names the first the adapter cannot give. */
  requiredLimits?: Partial<Record<string, number>>;
  /** Ask for shader-f16 when the adapter has it (default true). */
  f16?: boolean;
  /** Ask for subgroups when the adapter has it (default true). */
  subgroups?: boolean;
  label?: string;
}

// Limits raised to the adapter's maximum: model weights and activations want the largest bindings.
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
  'maxDynamicUniformBuffersPerPipelineLayout',
] as const;

let nodeGpu: Promise<GPU> | null = null;

/** navigator.gpu in a browser or worker; Dawn in Node. */
export async function getWebGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (proc?.versions?.node) {
    nodeGpu ??= (async () => {
      const spec = 'webgpu';
      let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
      try {
        mod = await import(/* @vite-ignore */ spec);
      } catch (e) {
        throw new WebGpuUnavailableError(`could not load the 'webgpu' package (Dawn for Node): ${(e as Error).message}`);
      }
      Object.assign(globalThis, mod.globals);
      return mod.create([]);
    })();
    return nodeGpu;
  }
  throw new WebGpuUnavailableError('WebGPU is not available: navigator.gpu is missing (use a browser with WebGPU enabled)');
}

export class Gpu {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly profiler: Profiler;
  readonly limits: GPUSupportedLimits;
  readonly counters = { dispatches: 0, submits: 0, bindGroupsCreated: 0, readbacks: 0 };
  private arenas: UniformArena[] = [];
  private bindGroups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private errors: Error[] = [];
  private lostError: DeviceLostError | null = null;

  private constructor(readonly device: GPUDevice, readonly info: GpuInfo) {
    this.limits = device.limits;
    this.pool = new BufferPool(device);
    this.pipelines = new PipelineCache(device);
    this.pipelines.onError = (e) => this.errors.push(e);
    this.profiler = new Profiler(device, info.features.timestampQuery);
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(new GpuValidationError(kindOf(err), err.message));
    });
    void device.lost.then((info) => {
      this.lostError = new DeviceLostError(info.reason ?? 'unknown', info.message || 'no message');
    });
  }

  static async create(opts: GpuOptions = {}): Promise<Gpu> {
    const api = await getWebGpu();
    const adapter = await api.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    if (!adapter) throw new WebGpuUnavailableError('no WebGPU adapter was found (is a GPU or a Vulkan/Metal/D3D12 driver available?)');
    const requiredLimits: Record<string, number> = {};
    const al = adapter.limits as unknown as Record<string, number>;
    for (const name of RAISED_LIMITS) if (typeof al[name] === 'number') requiredLimits[name] = al[name];
    for (const [name, need] of Object.entries(opts.requiredLimits ?? {})) {
      if (need === undefined) continue;
      const have = al[name];
      if (have === undefined) throw new DeviceLimitError(name, need, 'unknown limit');
      const isAlignment = name.endsWith('Alignment');
      if (isAlignment ? need < have : need > have) throw new DeviceLimitError(name, need, have);
      requiredLimits[name] = isAlignment ? Math.max(need, requiredLimits[name] ?? 0) : Math.max(need, requiredLimits[name] ?? 0);
    }
    const want: GPUFeatureName[] = [];
    const has = (f: string) => adapter.features.has(f);
    if (opts.f16 !== false && has('shader-f16')) want.push('shader-f16');
    if (opts.subgroups !== false && has('subgroups')) want.push('subgroups' as GPUFeatureName);
    if (has('timestamp-query')) want.push('timestamp-query');
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ requiredFeatures: want, requiredLimits, label: opts.label ?? 'edgewise' });
    } catch (e) {
      throw new WebGpuUnavailableError(`requestDevice failed: ${(e as Error).message}`, { requiredLimits, features: want });
    }
    const ai = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    const limits: Record<string, number> = {};
    const dl = device.limits as unknown as Record<string, number>;
    for (const k in dl) if (typeof dl[k] === 'number') limits[k] = dl[k];
    const info: GpuInfo = {
      vendor: ai?.vendor ?? '', architecture: ai?.architecture ?? '', device: ai?.device ?? '', description: ai?.description ?? '',
      backend: (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu ? 'browser' : 'dawn-node',
      features: {
        shaderF16: device.features.has('shader-f16'),
        subgroups: device.features.has('subgroups'),
        timestampQuery: device.features.has('timestamp-query'),
      },
      subgroupMinSize: ai?.subgroupMinSize, subgroupMaxSize: ai?.subgroupMaxSize,
      limits,
    };
    return new Gpu(device, info);
  }

  // ---- kernels and submission -------------------------------------------------------------

  kernel(def: KernelDef): Kernel {
    return this.pipelines.get(def);
  }

  recorder(label = ''): Recorder {
    this.throwIfBroken();
    return new Recorder(this, label);
  }

  /** Record with `fn`, submit, and return what fn returned. */
  run<T>(fn: (rec: Recorder) => T, label = ''): T {
    const rec = this.recorder(label);
    const out = fn(rec);
    rec.submit();
    return out;
  }

  /** @internal used by Recorder */
  takeArena(): UniformArena {
    return this.arenas.pop() ?? new UniformArena(this.device);
  }
  /** @internal */
  returnArena(a: UniformArena): void {
    this.arenas.push(a);
  }

  /** @internal Finish and submit inside error scopes, so validation errors are tied to the work that
   *  caused them and surface (typed) at the next sync or read, never as uncaught events. */
  submit(encoder: GPUCommandEncoder, label: string): void {
    if (this.lostError) throw this.lostError;
    const d = this.device;
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    d.queue.submit([encoder.finish()]);
    this.counters.submits++;
    void d.popErrorScope().then((e) => { if (e) this.errors.push(new GpuValidationError('validation', e.message, label)); });
    void d.popErrorScope().then((e) => { if (e) this.errors.push(new GpuValidationError('out-of-memory', e.message, label)); });
  }

  /** @internal A cached bind group for this kernel, arena and bindings. */
  bindGroup(kernel: Kernel, arena: GPUBuffer, bindings: { buffer: GPUBuffer; offset: number; size: number }[]): GPUBindGroup {
    const id = (b: GPUBuffer) => {
      let v = this.bufferIds.get(b);
      if (v === undefined) this.bufferIds.set(b, (v = this.nextBufferId++));
      return v;
    };
    let key = `${kernel.label}|${kernel.source.length}|${kernel.paramBytes ? id(arena) : 0}`;
    for (const b of bindings) key += `|${id(b.buffer)}:${b.offset}:${b.size}`;
    const k2 = this.kernelIds.get(kernel) ?? (this.kernelIds.set(kernel, this.kernelIds.size + 1), this.kernelIds.size);
    key = `${k2}#${key}`;
    let bg = this.bindGroups.get(key);
    if (bg) return bg;
    const entries: GPUBindGroupEntry[] = [];
    if (kernel.paramBytes) entries.push({ binding: 0, resource: { buffer: arena, offset: 0, size: kernel.paramBytes } });
    bindings.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b.buffer, offset: b.offset, size: b.size } }));
    bg = this.device.createBindGroup({ layout: kernel.layout, entries, label: kernel.label });
    this.counters.bindGroupsCreated++;
    if (this.bindGroups.size > 16384) this.bindGroups.clear();
    this.bindGroups.set(key, bg);
    return bg;
  }
  private kernelIds = new Map<Kernel, number>();

  // ---- tensors ------------------------------------------------------------------------------

  /** A pooled storage tensor. Contents are undefined until written (use poison in tests). */
  tensor(shape: readonly number[], dtype: DType = 'F32', label = ''): Tensor {
    const bytes = dtypeByteSize(dtype, numel(shape));
    this.checkBindingSize(label || 'tensor', bytes);
    const buf = this.pool.acquire(Math.max(4, bytes), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label);
    return new Tensor(buf, shape, dtype, 0, bytes, label, this.pool);
  }

  /** A pooled tensor holding `data` (raw bytes for quantized types). */
  upload(data: ArrayBufferView, shape: readonly number[], dtype: DType = 'F32', label = ''): Tensor {
    const t = this.tensor(shape, dtype, label);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength !== t.byteLength) {
      t.release();
      throw new RangeError(`upload ${label}: ${bytes.byteLength} bytes given for ${dtype}[${shape}] which needs ${t.byteLength}`);
    }
    this.write(t, bytes);
    return t;
  }

  /** A tensor in a buffer of its own, sized exactly (weights: no size-class rounding, never pooled).
   *  Released by destroy() on the tensor's buffer, or with the device. */
  uploadWeight(bytes: Uint8Array, shape: readonly number[], dtype: DType, label = ''): Tensor {
    const need = dtypeByteSize(dtype, numel(shape));
    if (bytes.byteLength !== need) throw new RangeError(`weight ${label}: ${bytes.byteLength} bytes given for ${dtype}[${shape}] which needs ${need}`);
    const t = this.createWeight(shape, dtype, label);
    this.write(t, bytes);
    return t;
  }

  /** An unwritten weight tensor in a buffer of its own, sized exactly; the loader streams it in with
   *  write() piece by piece so a large tensor never sits whole in CPU memory. */
  createWeight(shape: readonly number[], dtype: DType, label = ''): Tensor {
    const need = dtypeByteSize(dtype, numel(shape));
    this.checkBindingSize(label || 'weight', need);
    const buffer = this.device.createBuffer({ size: Math.max(4, Math.ceil(need / 4) * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, label });
    // Weight buffers are destroyed by their owners (model, encoder); count them out when they are.
    this.weightBuffers.add(buffer);
    this.weightBytes_ += buffer.size;
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      if (this.weightBuffers.delete(buffer)) this.weightBytes_ -= buffer.size;
      destroy();
    };
    return new Tensor(buffer, shape, dtype, 0, need, label);
  }
  private weightBuffers = new Set<GPUBuffer>();
  private weightBytes_ = 0;
  /** Bytes held by weight buffers (createWeight / uploadWeight) not yet destroyed. */
  get weightBytes(): number {
    return this.weightBytes_;
  }
  /** Weight buffers not yet destroyed (a leak check after a failed load). */
  get weightBufferCount(): number {
    return this.weightBuffers.size;
  }

  /**
   * createWeight inside an out-of-memory error scope that is awaited before anything is written, so a
   * device without the memory is caught at the tensor that did not fit (WebGPU hands back an invalid
   * buffer and reports the error asynchronously). Throws GpuOutOfMemoryError, the buffer destroyed.
   */
  async allocateWeight(shape: readonly number[], dtype: DType, label = ''): Promise<Tensor> {
    const d = this.device;
    d.pushErrorScope('out-of-memory');
    let t: Tensor;
    try {
      t = this.createWeight(shape, dtype, label);
    } catch (e) {
      void d.popErrorScope().catch(() => undefined);
      throw e;
    }
    const err = await d.popErrorScope();
    if (err) {
      t.buffer.destroy();
      throw new GpuOutOfMemoryError(label || 'weight', t.byteLength, err.message);
    }
    return t;
  }

  /**
   * Run `make` (which allocates pooled buffers and may write them) inside out-of-memory and validation
   * scopes, awaited. On an out-of-memory error `undo` gets the result, the pool's free buffers are
   * destroyed and GpuOutOfMemoryError is thrown; a validation error is undone and thrown the same way.
   */
  async checkedAllocation<T>(what: string, bytes: number, make: () => T, undo: (made: T) => void): Promise<T> {
    const d = this.device;
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    let made: T;
    try {
      made = make();
    } catch (e) {
      void d.popErrorScope().catch(() => undefined);
      void d.popErrorScope().catch(() => undefined);
      throw e;
    }
    const [invalid, oom] = await Promise.all([d.popErrorScope(), d.popErrorScope()]);
    if (oom || invalid) {
      undo(made);
      this.pool.trim();
      // Writes into a buffer that could not be allocated fail validation too: out-of-memory is the cause.
      if (oom) throw new GpuOutOfMemoryError(what, bytes, oom.message);
      throw new GpuValidationError('validation', invalid!.message, what);
    }
    return made;
  }

  /** Write bytes to a tensor (padded to a multiple of 4 bytes as WebGPU requires). */
  write(t: Tensor, bytes: Uint8Array, byteOffset = 0): void {
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(t.buffer, t.offset + byteOffset, bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(t.buffer, t.offset + byteOffset, padded);
    }
  }

  /** Fill a tensor's bytes with a 32-bit pattern (default a quiet NaN) so unwritten outputs show. */
  poison(t: Tensor, pattern = 0x7fc0dead): void {
    const words = new Uint32Array(Math.ceil(t.byteLength / 4)).fill(pattern);
    this.device.queue.writeBuffer(t.buffer, t.offset, words);
  }

  /** Copy a tensor (or byte range) back to the CPU. */
  async readBytes(t: Tensor, byteLength = t.byteLength, byteOffset = 0): Promise<Uint8Array> {
    this.throwIfBroken();
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.pool.acquire(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    const enc = this.device.createCommandEncoder({ label: 'readback' });
    enc.copyBufferToBuffer(t.buffer, t.offset + byteOffset, staging, 0, size);
    this.submit(enc, 'readback');
    this.counters.readbacks++;
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, size);
    } catch (e) {
      this.throwIfBroken();
      throw new GpuValidationError('unknown', (e as Error).message, 'readback');
    }
    const out = new Uint8Array(staging.getMappedRange(0, size).slice(0, byteLength));
    staging.unmap();
    this.pool.releaseBuffer(staging);
    this.throwIfBroken();
    return out;
  }

  async readF32(t: Tensor): Promise<Float32Array> {
    const b = await this.readBytes(t);
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  }

  async readU32(t: Tensor): Promise<Uint32Array> {
    const b = await this.readBytes(t);
    return new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  }

  // ---- limits and errors ----------------------------------------------------------------------

  checkBindingSize(what: string, bytes: number): void {
    const max = this.limits.maxStorageBufferBindingSize;
    if (bytes > max) throw new DeviceLimitError('maxStorageBufferBindingSize', bytes, max, what);
    const maxBuf = this.limits.maxBufferSize;
    if (bytes > maxBuf) throw new DeviceLimitError('maxBufferSize', bytes, maxBuf, what);
  }

  /** Wait for submitted work, then raise the first error it produced. */
  async sync(): Promise<void> {
    if (this.lostError) throw this.lostError;
    await this.device.queue.onSubmittedWorkDone();
    await this.pipelines.settled();
    // Error scopes resolve after the work; give their callbacks a turn.
    await new Promise((r) => setTimeout(r, 0));
    this.throwIfBroken();
  }

  /** Raise a pending device-lost or validation error (each error is raised once). */
  throwIfBroken(): void {
    if (this.lostError) throw this.lostError;
    // A shader that failed to compile also fails every dispatch that uses it: report the cause.
    const e = this.errors.find((x) => x instanceof ShaderCompileError) ?? this.errors[0];
    if (e) {
      this.errors = [];
      throw e;
    }
  }

  get lost(): boolean {
    return this.lostError !== null;
  }

  stats(): PoolStats & { pipelines: number; bindGroups: number } {
    return { ...this.pool.stats(), pipelines: this.pipelines.size, bindGroups: this.bindGroups.size };
  }

  destroy(): void {
    this.bindGroups.clear();
    this.pool.trim();
    this.device.destroy();
  }
}

function kindOf(err: GPUError): 'validation' | 'out-of-memory' | 'internal' | 'unknown' {
  const n = err.constructor?.name ?? '';
  if (n.includes('Validation')) return 'validation';
  if (n.includes('OutOfMemory')) return 'out-of-memory';
  if (n.includes('Internal')) return 'internal';
  return 'unknown';
}
