// silu/gelu and the gated swiglu/geglu with F16 tensors (shader-f16) on lavapipe.
import { afterAll, describe, expect, it } from 'vitest';
import { geglu, gelu, silu, swiglu } from './activation.ts';
import { gegluRef, geluRef, siluRef, swigluRef } from '../reference/activation.ts';
import { Rng } from '../testing/rng.ts';
import { testGpu } from '../testing/gpu.ts';
import { expectWithin, poisonedF16, readF16, reportF16Margins, roundedOnceBound, uploadF16 } from '../testing/f16.ts';

afterAll(() => reportF16Margins('activation'));

// The activation is evaluated in f32 exactly as the F32 path does, so its error is the F32 tests'
// tolerance (GPU exp is not correctly rounded; see activation.test.ts), and the result is rounded to
// f16 once: one f16 ulp (F16_CONVERT) more. Gated: the activation's absolute error is scaled by |up| < 8.
const SILU = { atol: 1e-30, rtol: 4e-6 };
const GELU = { atol: 1e-6, rtol: 1e-6 };
const GATED = { atol: 8e-6, rtol: 4e-6 };

function inputs(rng: Rng, n: number): Float32Array {
  const x = rng.f32(n, 4);
  const special = [0, -0, 10, -10, 9.999, -9.999, 30, -30, 1e-3, -1e-3];
  for (let i = 0; i < n; i += 7) x[i] = special[(i / 7) % special.length];
  return x;
}

describe('activations, F16', () => {
  it('silu and gelu (tanh, erf, llama.cpp table) on awkward shapes, and in place', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1631);
    // Scalar rows for silu and the table GELU, vec4 rows for all four (a pipeline each: lavapipe
    // compiles each for seconds).
    for (const [rows, n] of [[1, 1], [5, 65], [2, 4097], [4, 1024]]) {
      const x = uploadF16(gpu, inputs(rng, rows * n), [rows, n], 'x');
      for (const kind of n % 4 ? ['silu', 'table'] as const : ['silu', 'tanh', 'erf', 'table'] as const) {
        const out = poisonedF16(gpu, [rows, n]);
        gpu.run((rec) => kind === 'silu' ? silu(gpu, rec, x.t, out)
          : gelu(gpu, rec, x.t, out, { approx: kind === 'erf' ? 'erf' : 'tanh', llamaCppF16Table: kind === 'table' }));
        const ref = kind === 'silu' ? siluRef(x.v) : geluRef(x.v, kind);
        expectWithin(await readF16(gpu, out), ref, roundedOnceBound(ref, kind === 'silu' ? SILU : GELU), `${kind === 'silu' ? 'silu' : 'gelu'} ${kind} ${rows}x${n}`);
        out.release();
      }
      x.t.release();
    }
    const x = uploadF16(gpu, inputs(rng, 1024), [1024], 'x');
    gpu.run((rec) => silu(gpu, rec, x.t, x.t));
    const ref = siluRef(x.v);
    expectWithin(await readF16(gpu, x.t), ref, roundedOnceBound(ref, SILU), 'silu in place 1024');
    x.t.release();
  });

  it('swiglu and geglu from separate gate/up tensors and from one fused [rows, 2n] tensor', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1632);
    for (const [rows, n] of [[1, 3], [3, 64], [2, 1000]]) {
      const g = uploadF16(gpu, inputs(rng, rows * n), [rows, n], 'gate');
      const u = uploadF16(gpu, rng.f32(rows * n, 2), [rows, n], 'up');
      const fused = uploadF16(gpu, inputs(rng, rows * 2 * n), [rows, 2 * n], 'gate_up');
      for (const kind of n % 4 ? ['silu'] as const : ['silu', 'tanh', 'table'] as const) {
        const o1 = poisonedF16(gpu, [rows, n]), o2 = poisonedF16(gpu, [rows, n]);
        gpu.run((rec) => {
          if (kind === 'silu') { swiglu(gpu, rec, g.t, u.t, o1); swiglu(gpu, rec, fused.t, null, o2); }
          else { const o = { llamaCppF16Table: kind === 'table' }; geglu(gpu, rec, g.t, u.t, o1, o); geglu(gpu, rec, fused.t, null, o2, o); }
        });
        const e1 = kind === 'silu' ? swigluRef(g.v, u.v, n) : gegluRef(g.v, u.v, n, kind);
        const e2 = kind === 'silu' ? swigluRef(fused.v, null, n) : gegluRef(fused.v, null, n, kind);
        const op = kind === 'silu' ? 'swiglu' : 'geglu';
        expectWithin(await readF16(gpu, o1), e1, roundedOnceBound(e1, GATED), `${op} ${kind} ${rows}x${n}`);
        expectWithin(await readF16(gpu, o2), e2, roundedOnceBound(e2, GATED), `${op} ${kind} fused ${rows}x${n}`);
        o1.release(); o2.release();
      }
      for (const t of [g.t, u.t, fused.t]) t.release();
    }
  });

  it('refuses a gate and up of different dtypes', async () => {
    const gpu = await testGpu();
    expect(() => gpu.run((rec) => swiglu(gpu, rec, gpu.tensor([2, 8], 'F16'), gpu.tensor([2, 8]), gpu.tensor([2, 8], 'F16'))))
      .toThrow(/swiglu \(up, gate is F16.*dtype F32 is not supported \(supported: F16\)/);
  });
});
