// Kernel definitions and the pipeline cache. A kernel names its shader, its defines and override
// constants, its uniform parameters and its storage bindings; the runtime generates the Params struct
// (binding 0, a dynamic-offset uniform) and an explicit bind group layout, so bind groups can be cached
// and the per-dispatch parameters live in one uniform arena written once per submit.

import { ShaderCompileError } from './errors.ts';
import { preprocess, type Defines } from './wgsl.ts';

/** A uniform parameter: `name:u32`, `name:i32` or `name:f32`. */
export type ParamField = `${string}:${'u32' | 'i32' | 'f32'}`;
/** Storage bindings 1..n: read-only or read-write. */
export type BindingKind = 'read' | 'write';

export interface KernelDef {
  /** Shader file under shaders/ without the .wgsl suffix, e.g. 'rmsnorm' or 'matmul/gemv_q4_0'. */
  shader: string;
  entryPoint?: string;
  defines?: Defines;
  /** WGSL `override` constants. */
  constants?: Record<string, number>;
  /** Fields of the generated `struct Params`, bound as `var<uniform> P: Params` at binding 0. */
  params?: readonly ParamField[];
  /** Storage buffers declared by the shader at @group(0) @binding(1..n), in order. */
  bindings: readonly BindingKind[];
  /** Label for profiling and errors; defaults to the shader name. */
  label?: string;
}

export interface Kernel {
  readonly def: KernelDef;
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** Byte size of the Params block (0 when there are no params). */
  readonly paramBytes: number;
  readonly paramNames: readonly string[];
  readonly paramTypes: readonly ('u32' | 'i32' | 'f32')[];
  readonly source: string;
}

export function kernelKey(def: KernelDef): string {
  return JSON.stringify([def.shader, def.entryPoint ?? 'main', def.defines ?? {}, def.constants ?? {}, def.params ?? [], def.bindings]);
}

export function kernelSource(def: KernelDef): string {
  const body = preprocess(def.shader, def.defines);
  if (!def.params?.length) return body;
  const fields = def.params.map((p) => {
    const [n, t] = p.split(':');
    return `  ${n}: ${t},`;
  });
  const struct = `struct Params {\n${fields.join('\n')}\n}\n@group(0) @binding(0) var<uniform> P: Params;\n`;
  // enable directives were hoisted to the top by preprocess(); the struct goes right after them.
  const lines = body.split('\n');
  let i = 0;
  while (i < lines.length && /^\s*enable\s/.test(lines[i])) i++;
  return [...lines.slice(0, i), struct, ...lines.slice(i)].join('\n');
}

export class PipelineCache {
  private cache = new Map<string, Kernel>();
  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.cache.size;
  }

  get(def: KernelDef): Kernel {
    const key = kernelKey(def);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const k = this.build(def);
    this.cache.set(key, k);
    return k;
  }

  private build(def: KernelDef): Kernel {
    const label = def.label ?? def.shader;
    const source = kernelSource(def);
    const entries: GPUBindGroupLayoutEntry[] = [];
    const params = def.params ?? [];
    const paramBytes = params.length ? Math.ceil((params.length * 4) / 16) * 16 : 0;
    if (params.length) {
      entries.push({ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: paramBytes } });
    }
    def.bindings.forEach((b, i) => {
      entries.push({ binding: i + 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: b === 'read' ? 'read-only-storage' : 'storage' } });
    });
    const device = this.device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code: source, label });
    const layout = device.createBindGroupLayout({ entries, label });
    const pipeline = device.createComputePipeline({
      label,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout], label }),
      compute: { module, entryPoint: def.entryPoint ?? 'main', constants: def.constants },
    });
    // Compilation errors come back asynchronously; report them with the shader's own messages.
    const check = device.popErrorScope().then(async (err) => {
      if (!err) return;
      const info = await module.getCompilationInfo();
      const msgs = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
      this.onError?.(new ShaderCompileError(label, msgs.length ? msgs.join('; ') : err.message));
    });
    this.pending.add(check);
    void check.finally(() => this.pending.delete(check));
    return {
      def, label, pipeline, layout, paramBytes, source,
      paramNames: params.map((p) => p.split(':')[0]),
      paramTypes: params.map((p) => p.split(':')[1] as 'u32' | 'i32' | 'f32'),
    };
  }

  private pending = new Set<Promise<void>>();

  /** Resolves once every pipeline built so far has been checked for compile errors. */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Set by the Gpu so compile errors surface as typed errors on the next check. */
  onError?: (e: Error) => void;
}
