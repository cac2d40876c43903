// Shared by gemv_f16 and gemm_f16, the shader-f16 siblings of matmul/common: X [M, K] is F16 (vec4<f16>
// when K % 4 == 0, X_VEC4), Y [M, N] is F16 (Y_F16) or F32 (logits stay F32 for softmax and sampling),
// W [N, K] any shaders/quant/ type, bias [N] F32. Params and flags as in matmul/common.
//
// Precision: weights are dequantized (in f32, by the shared quant includes) and rounded to f16, products
// are formed in f16 four at a time (dot of two vec4<f16>: packed half math, twice the f32 rate on most
// GPUs), and those partial sums are accumulated in f32. Accumulating in f16 would lose about log2(K / 4)
// bits over a row (K runs to 14336 in 8B models) and overflow past 65504; the f32 accumulator keeps the
// error at a few f16 roundings per product, independent of K.
enable f16;

@group(0) @binding(1) var<storage, read> X: array<{{X_ELEM}}>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
#if Y_F16
@group(0) @binding(3) var<storage, read_write> Y: array<f16>;
#else
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
#endif
@group(0) @binding(4) var<storage, read> BIAS: array<f32>;

const FLAG_BIAS: u32 = 1u;
const FLAG_ACCUMULATE: u32 = 2u;

/** x[m, k..k+3], zero past the end of the row. Callers keep m < M. */
fn x_load4(m: u32, k: u32) -> vec4<f16> {
#if X_VEC4
  if (k >= P.K) { return vec4<f16>(0.0h); }
  return X[(m * P.K + k) >> 2u];
#else
  let base = m * P.K;
  let end = base + P.K - 1u;
  let i = vec4u(base + k) + vec4u(0u, 1u, 2u, 3u);
  let v = vec4<f16>(X[min(i.x, end)], X[min(i.y, end)], X[min(i.z, end)], X[min(i.w, end)]);
  return select(vec4<f16>(0.0h), v, vec4u(k) + vec4u(0u, 1u, 2u, 3u) < vec4u(P.K));
#endif
}

/** Weights k..k+7 of the row at row_byte as f16, zero past K (masked in f32, before the rounding, so
 *  nothing past the row's end leaks in, NaN included). */
fn w_load8h(row_byte: u32, k: u32) -> array<vec4<f16>, 2> {
  var w = w_load8(row_byte, k);
  if (k + 8u > P.K) {
    let kk = vec4u(k) + vec4u(0u, 1u, 2u, 3u);
    w[0] = select(vec4f(0.0), w[0], kk < vec4u(P.K));
    w[1] = select(vec4f(0.0), w[1], kk + vec4u(4u) < vec4u(P.K));
  }
  return array<vec4<f16>, 2>(vec4<f16>(w[0]), vec4<f16>(w[1]));
}

/** y[m, n] = acc (+ bias[n]) (+ the y[m, n] already there), summed in f32, stored in Y's type. */
fn y_store(m: u32, n: u32, acc: f32) {
  var v = acc;
  if ((P.flags & FLAG_BIAS) != 0u) { v += BIAS[n]; }
  let i = m * P.N + n;
#if Y_F16
  if ((P.flags & FLAG_ACCUMULATE) != 0u) { v += f32(Y[i]); }
  Y[i] = f16(v);
#else
  if ((P.flags & FLAG_ACCUMULATE) != 0u) { v += Y[i]; }
  Y[i] = v;
#endif
}
