// Shared by gemv and gemm: the activation X [M, K] (f32), the weight W [N, K] (any shaders/quant/ type),
// the output Y [M, N] and a bias [N]. X is bound as vec4 when K % 4 == 0 (X_VEC4), else as scalars.
// Params: M, N, K and flags (FLAG_BIAS, FLAG_ACCUMULATE): runtime switches, uniform across the dispatch,
// so the four bias/accumulate combinations share one pipeline (the caller binds any f32 buffer as the
// bias when there is none).
@group(0) @binding(1) var<storage, read> X: array<{{X_ELEM}}>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read> BIAS: array<f32>;

const FLAG_BIAS: u32 = 1u;
const FLAG_ACCUMULATE: u32 = 2u;

/** x[m, k..k+3], zero past the end of the row. Callers keep m < M. */
fn x_load4(m: u32, k: u32) -> vec4f {
#if X_VEC4
  if (k >= P.K) { return vec4f(0.0); }
  return X[(m * P.K + k) >> 2u];
#else
  let base = m * P.K;
  let end = base + P.K - 1u;
  let i = vec4u(base + k) + vec4u(0u, 1u, 2u, 3u);
  let v = vec4f(X[min(i.x, end)], X[min(i.y, end)], X[min(i.z, end)], X[min(i.w, end)]);
  return select(vec4f(0.0), v, vec4u(k) + vec4u(0u, 1u, 2u, 3u) < vec4u(P.K));
#endif
}

/** Weights k..k+7 of the row at row_byte, zero past K: only F32/F16 rows (block 1) can end mid-chunk,
 *  and what lies past the row's end (the next row, or nothing) must not leak in, NaN included. */
fn w_load8_masked(row_byte: u32, k: u32) -> array<vec4f, 2> {
  var w = w_load8(row_byte, k);
  if (k + 8u > P.K) {
    let kk = vec4u(k) + vec4u(0u, 1u, 2u, 3u);
    w[0] = select(vec4f(0.0), w[0], kk < vec4u(P.K));
    w[1] = select(vec4f(0.0), w[1], kk + vec4u(4u) < vec4u(P.K));
  }
  return w;
}

/** y[m, n] = acc (+ bias[n]) (+ the y[m, n] already there). */
fn y_store(m: u32, n: u32, acc: f32) {
  var v = acc;
  if ((P.flags & FLAG_BIAS) != 0u) { v += BIAS[n]; }
  let i = m * P.N + n;
  if ((P.flags & FLAG_ACCUMULATE) != 0u) { v += Y[i]; }
  Y[i] = v;
}
