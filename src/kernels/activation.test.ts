import { describe, expect, it } from 'vitest';
import { geglu, gelu, silu, swiglu } from './activation.ts';
import { gegluRef, geluRef, siluRef, swigluRef, type GeluKind } from '../reference/activation.ts';
import { f16BitsToF32 } from '../formats/f16.ts';
import { Rng } from '../testing/rng.ts';
import { compareArrays, expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

// Tolerances (the reference mirrors ggml's float arithmetic; the GPU's exp is not correctly rounded, its
// error grows with |x|, and WGSL division allows 2.5 ulp):
// - silu: relative, exp's error carries straight into x / (1 + exp(-x)); measured <= 1.9e-6 over 200k values
//   with |x| up to 40, allowed 4e-6.
// - gelu tanh / erf: ggml forms 1 + tanh (1 + erf) in float, so for x << 0 its own result carries an absolute
//   error of ~|x| * 2^-25 that the GPU (evaluating without that cancellation) does not share, and relative
//   error is meaningless there. Measured <= 4.8e-7 absolute (1 ulp at |y| ~ 4); allowed 1e-6 + 1e-6 relative.
// - gelu quick: x / (1 + exp(-1.702 x)), silu's error with exp's argument scaled by 1.702; allowed 8e-6
//   relative (plus 1e-30 absolute for the underflow to -0 at x << 0).
// - the f16-table GELU: exact, bit for bit.
const SILU_TOL = { atol: 1e-30, rtol: 4e-6 };
const QUICK_TOL = { atol: 1e-30, rtol: 8e-6 };
const GELU_TOL = { atol: 1e-6, rtol: 1e-6 };
// Gated: the activation's absolute error is multiplied by up (~N(0, 2), |up| < 8 here).
const GLU_TOL = { silu: SILU_TOL, tanh: { atol: 8e-6, rtol: 1e-6 }, erf: { atol: 8e-6, rtol: 1e-6 }, table: { atol: 0, rtol: 0 } };
const TOL: Record<'silu' | GeluKind, { atol: number; rtol: number }> = { silu: SILU_TOL, tanh: GELU_TOL, erf: GELU_TOL, quick: QUICK_TOL, table: { atol: 0, rtol: 0 } };

const SHAPES: [number, number][] = [[1, 1], [3, 3], [5, 65], [1, 255], [7, 1000], [2, 4097], [4, 4096], [40, 12]];

/** N(0, 4) values with the awkward ones mixed in: zeros, large magnitudes, the GELU table's +-10 edges. */
function inputs(rng: Rng, n: number): Float32Array {
  const x = rng.f32(n, 4);
  const special = [0, -0, 10, -10, 9.999, -9.999, 30, -30, 40, -40, 1e-3, -1e-3];
  for (let i = 0; i < n; i += 7) x[i] = special[(i / 7) % special.length];
  return x;
}

describe('silu and gelu', () => {
  it('match ggml on awkward shapes (silu, gelu tanh, gelu erf, gelu quick, gelu f16 table)', async () => {
    const gpu = await testGpu();
    const rng = new Rng(31);
    for (const [rows, n] of SHAPES) {
      const x = inputs(rng, rows * n);
      const tx = gpu.upload(x, [rows, n]);
      for (const kind of ['silu', 'tanh', 'erf', 'quick', 'table'] as const) {
        const out = poisoned(gpu, [rows, n]);
        gpu.run((rec) => kind === 'silu' ? silu(gpu, rec, tx, out)
          : gelu(gpu, rec, tx, out, { approx: kind === 'table' ? 'tanh' : kind, llamaCppF16Table: kind === 'table' }));
        const exp = kind === 'silu' ? siluRef(x) : geluRef(x, kind);
        expectClose(await gpu.readF32(out), exp, TOL[kind], `${kind} ${rows}x${n}`);
        out.release();
      }
      tx.release();
    }
  });

  it('work in place', async () => {
    const gpu = await testGpu();
    const rng = new Rng(32);
    for (const n of [1003, 1024]) {
      const x = inputs(rng, n);
      const a = gpu.upload(x, [n]), b = gpu.upload(x, [n]);
      gpu.run((rec) => { silu(gpu, rec, a, a); gelu(gpu, rec, b, b); });
      expectClose(await gpu.readF32(a), siluRef(x), SILU_TOL, `silu in place ${n}`);
      expectClose(await gpu.readF32(b), geluRef(x), GELU_TOL, `gelu in place ${n}`);
      a.release(); b.release();
    }
  });

  it('llamaCppF16Table is bit-exact on every f16 value in (-10, 10), the midpoints (ties) between them and their neighbours', async () => {
    const gpu = await testGpu();
    const vals: number[] = [];
    const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
    const step = (v: number, d: number) => { f32[0] = v; u32[0] += d; return f32[0]; }; // next f32 away from / toward 0
    for (let h = 0; h < 0x4900; h++) { // 0x4900 is 10.0 in f16
      const lo = f16BitsToF32(h), hi = f16BitsToF32(h + 1);
      const mid = (lo + hi) / 2; // exact in f32: one more bit than f16 has
      for (const v of [lo, mid, mid > 0 ? step(mid, -1) : mid, step(mid, 1)]) vals.push(v, -v);
    }
    // the thresholds, f32 subnormals, the f16 subnormal/zero boundary, infinities
    vals.push(10, -10, step(10, -1), -step(10, -1), step(10, 1), -step(10, 1), 1e-40, -1e-40, 2 ** -25, -(2 ** -25),
      step(2 ** -25, 1), -step(2 ** -25, 1), 2 ** -24, 65504, -65504, 1e30, -1e30, Infinity, -Infinity);
    const x = Float32Array.from(vals);
    const tx = gpu.upload(x, [x.length]);
    const out = poisoned(gpu, [x.length]);
    gpu.run((rec) => gelu(gpu, rec, tx, out, { llamaCppF16Table: true }));
    const got = new Uint32Array((await gpu.readF32(out)).buffer);
    const exp = new Uint32Array(geluRef(x, 'table').buffer);
    let bad = 0;
    const first: string[] = [];
    for (let i = 0; i < x.length; i++) {
      if (got[i] !== exp[i]) {
        bad++;
        if (first.length < 5) first.push(`x=${x[i]}: got 0x${got[i].toString(16)}, expected 0x${exp[i].toString(16)}`);
      }
    }
    expect(bad, `${bad}/${x.length} differ: ${first.join('; ')}`).toBe(0);
    tx.release(); out.release();
  });
});

describe('swiglu and geglu', () => {
  it('match ggml from separate gate/up tensors and from one fused [rows, 2n] tensor', async () => {
    const gpu = await testGpu();
    const rng = new Rng(41);
    for (const [rows, n] of [[1, 1], [3, 5], [2, 64], [7, 255], [1, 4097], [4, 1024]] as const) {
      const g = inputs(rng, rows * n), u = rng.f32(rows * n, 2);
      const fused = new Float32Array(rows * 2 * n); // per row: the gate half (awkward values), then up ~N(0, 2)
      const fg = inputs(rng, rows * n), fu = rng.f32(rows * n, 2);
      for (let r = 0; r < rows; r++) {
        fused.set(fg.subarray(r * n, (r + 1) * n), r * 2 * n);
        fused.set(fu.subarray(r * n, (r + 1) * n), r * 2 * n + n);
      }
      const tg = gpu.upload(g, [rows, n]), tu = gpu.upload(u, [rows, n]), tf = gpu.upload(fused, [rows, 2 * n]);
      for (const kind of ['silu', 'tanh', 'erf', 'table'] as const) {
        const opts = { approx: kind === 'erf' ? 'erf' as const : 'tanh' as const, llamaCppF16Table: kind === 'table' };
        const o1 = poisoned(gpu, [rows, n]), o2 = poisoned(gpu, [rows, n]);
        gpu.run((rec) => {
          if (kind === 'silu') { swiglu(gpu, rec, tg, tu, o1); swiglu(gpu, rec, tf, null, o2); }
          else { geglu(gpu, rec, tg, tu, o1, opts); geglu(gpu, rec, tf, null, o2, opts); }
        });
        const e1 = kind === 'silu' ? swigluRef(g, u, n) : gegluRef(g, u, n, kind);
        const e2 = kind === 'silu' ? swigluRef(fused, null, n) : gegluRef(fused, null, n, kind);
        expectClose(await gpu.readF32(o1), e1, GLU_TOL[kind], `${kind} glu ${rows}x${n} separate`);
        expectClose(await gpu.readF32(o2), e2, GLU_TOL[kind], `${kind} glu ${rows}x${n} fused`);
        o1.release(); o2.release();
      }
      tg.release(); tu.release(); tf.release();
    }
  });

  it('fused input takes the gate from the first half (an up-first layout would fail)', async () => {
    const gpu = await testGpu();
    // gate half 1, up half 3: silu(1) * 3 = 2.19; the swapped reading silu(3) * 1 = 2.86 would fail
    const n = 8;
    const fused = new Float32Array(2 * n);
    fused.fill(1, 0, n).fill(3, n);
    const tf = gpu.upload(fused, [1, 2 * n]);
    const out = poisoned(gpu, [1, n]);
    gpu.run((rec) => swiglu(gpu, rec, tf, null, out));
    const got = await gpu.readF32(out);
    const siluOf1 = 1 / (1 + Math.exp(-1));
    expect(compareArrays(got, new Float32Array(n).fill(3 * siluOf1), SILU_TOL).ok).toBe(true);
    tf.release(); out.release();
  });

  it('geglu with the f16 table stores +0 for gate <= -10 even when up is negative', async () => {
    const gpu = await testGpu();
    const g = Float32Array.from([-10, -11, -1e30, -Infinity, -9.99, 10, 11, 0]);
    const u = Float32Array.from([-2, -3, -4, -5, -1, -1, 2, -1]);
    const tg = gpu.upload(g, [1, 8]), tu = gpu.upload(u, [1, 8]);
    const out = poisoned(gpu, [1, 8]);
    gpu.run((rec) => geglu(gpu, rec, tg, tu, out, { llamaCppF16Table: true }));
    const got = await gpu.readF32(out);
    const exp = gegluRef(g, u, 8, 'table');
    for (let i = 0; i < 8; i++) expect(Object.is(got[i], exp[i]), `x=${g[i]} up=${u[i]}: got ${got[i]}, expected ${exp[i]}`).toBe(true);
    expect(Object.is(got[0], 0)).toBe(true);
    tg.release(); tu.release(); out.release();
  });

  it('refuse mismatched shapes, an odd fused width, F16 inputs, an output aliasing an input, and table + erf', async () => {
    const gpu = await testGpu();
    const g = gpu.tensor([3, 8]), u = gpu.tensor([3, 9]), out = gpu.tensor([3, 8]);
    expect(() => gpu.run((rec) => swiglu(gpu, rec, g, u, out))).toThrow(/swiglu: up has shape \[3, 9\], expected \[3, 8\]/);
    expect(() => gpu.run((rec) => swiglu(gpu, rec, gpu.tensor([3, 7]), null, out))).toThrow(/odd last dimension 7/);
    expect(() => gpu.run((rec) => geglu(gpu, rec, gpu.tensor([3, 16]), null, gpu.tensor([3, 16])))).toThrow(/geglu: out has shape \[3, 16\], expected \[3, 8\]/);
    expect(() => gpu.run((rec) => geglu(gpu, rec, gpu.tensor([3, 8], 'F16'), null, out))).toThrow(UnsupportedDtypeError);
    expect(() => gpu.run((rec) => swiglu(gpu, rec, g, g, g))).toThrow(/out shares a GPU buffer with gate/);
    expect(() => gpu.run((rec) => silu(gpu, rec, g, gpu.tensor([8, 3])))).toThrow(ShapeError);
    expect(() => gpu.run((rec) => gelu(gpu, rec, g, out, { approx: 'erf', llamaCppF16Table: true }))).toThrow(/tanh form only/);
  });
});
