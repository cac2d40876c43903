// Strided 2-D convolution as an implicit gemm: Y[m, n] = sum_k A[m, k] * W[n, k] (+ bias[n]), where
// m is an output pixel (oy * OW + ox), n an output channel and k = (ci * KH + ky) * KW + kx walks the
// weight's own OIHW layout, so W [Cout, Cin, KH, KW] is read as the [N, K] matrix it already is (F32 or
// F16 through the shaders/quant include). A is never built: each staged element is gathered from the
// input at (oy * S + ky - PAD, ox * S + kx - PAD), zero outside it. That keeps the memory of an im2col
// copy (16384 x 1408 floats for the first downsample of a 512 tile) out of the budget.
// Input layout: IN_CHW reads x [Cin, H, W] (a normalized image), otherwise x [H, W, Cin] (activations,
// channels last). The output is always channels last: Y [OH * OW, Cout].
// Tiling as matmul/gemm: 64 x 64 outputs per workgroup, K stepped by 8, 4 x 4 outputs per thread.
#include "quant/common"
#include "quant/{{WTYPE}}"

@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read> BIAS: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 8u;
const ROW: u32 = BK / 4u + 1u; // vec4s per staged row, one of padding (bank spread, as in gemm)

var<workgroup> xs: array<vec4f, BM * ROW>;
var<workgroup> ws: array<vec4f, BN * ROW>;

/** The input value that output pixel m sees at reduction index k (zero in the padding and past K). */
fn a_at(m: u32, k: u32) -> f32 {
  if (k >= P.K) { return 0.0; }
  let taps = P.KH * P.KW;
  let ci = k / taps;
  let r = k - ci * taps;
  let ky = r / P.KW;
  let kx = r - ky * P.KW;
  let oy = m / P.OW;
  let ox = m - oy * P.OW;
  let iy = i32(oy * P.S + ky) - i32(P.PAD);
  let ix = i32(ox * P.S + kx) - i32(P.PAD);
  if (iy < 0 || ix < 0 || iy >= i32(P.H) || ix >= i32(P.W)) { return 0.0; }
#if IN_CHW
  return X[(ci * P.H + u32(iy)) * P.W + u32(ix)];
#else
  return X[(u32(iy) * P.W + u32(ix)) * P.Cin + ci];
#endif
}

/** Weights k..k+7 of output channel row_byte's row, zero past K (F32/F16 rows can end mid-chunk). */
fn w_load8_masked(row_byte: u32, k: u32) -> array<vec4f, 2> {
  var w = w_load8(row_byte, k);
  if (k + 8u > P.K) {
    let kk = vec4u(k) + vec4u(0u, 1u, 2u, 3u);
    w[0] = select(vec4f(0.0), w[0], kk < vec4u(P.K));
    w[1] = select(vec4f(0.0), w[1], kk + vec4u(4u) < vec4u(P.K));
  }
  return w;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let n0 = wg.x * BN;
  let m0 = wg.y * BM;
  let tx = li % 16u;
  let ty = li / 16u;

  // Staging as in gemm: threads 0..127 gather four A values (row li / 2), threads 128..191 load eight
  // weights of one output channel. Rows past M or N stage zeros.
  let xm = li / 2u;
  let xk = (li % 2u) * 4u;
  let x_ok = li < 128u && m0 + xm < P.M;
  let wn = li - 128u;
  let w_ok = li >= 128u && li < 192u && n0 + wn < P.N;
  let row_byte = (n0 + wn) * P.K * W_BLOCK_BYTES;

  var acc: array<vec4f, 4>; // acc[i][j]: row ty + 16 i, column tx + 16 j
  for (var k0 = 0u; k0 < P.K; k0 += BK) {
    if (li < 128u) {
      var v = vec4f(0.0);
      if (x_ok) {
        let m = m0 + xm;
        let k = k0 + xk;
        v = vec4f(a_at(m, k), a_at(m, k + 1u), a_at(m, k + 2u), a_at(m, k + 3u));
      }
      xs[xm * ROW + xk / 4u] = v;
    } else if (li < 192u) {
      var w = array<vec4f, 2>(vec4f(0.0), vec4f(0.0));
      if (w_ok) { w = w_load8_masked(row_byte, k0); }
      ws[wn * ROW] = w[0];
      ws[wn * ROW + 1u] = w[1];
    }
    workgroupBarrier();
    for (var kq = 0u; kq < BK / 4u; kq++) {
      let a0 = xs[ty * ROW + kq];
      let a1 = xs[(ty + 16u) * ROW + kq];
      let a2 = xs[(ty + 32u) * ROW + kq];
      let a3 = xs[(ty + 48u) * ROW + kq];
      let b0 = ws[tx * ROW + kq];
      let b1 = ws[(tx + 16u) * ROW + kq];
      let b2 = ws[(tx + 32u) * ROW + kq];
      let b3 = ws[(tx + 48u) * ROW + kq];
      acc[0] += vec4f(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
      acc[1] += vec4f(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
      acc[2] += vec4f(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
      acc[3] += vec4f(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
    }
    workgroupBarrier();
  }

  store_row(m0 + ty, n0 + tx, acc[0]);
  store_row(m0 + ty + 16u, n0 + tx, acc[1]);
  store_row(m0 + ty + 32u, n0 + tx, acc[2]);
  store_row(m0 + ty + 48u, n0 + tx, acc[3]);
}

fn y_store(m: u32, n: u32, acc: f32) {
  var v = acc;
  if (P.has_bias != 0u) { v += BIAS[n]; }
  Y[m * P.N + n] = v;
}

/** Y[m, n + 16 j] = v[j] for the columns inside N. */
fn store_row(m: u32, n: u32, v: vec4f) {
  if (m >= P.M) { return; }
  if (n < P.N) { y_store(m, n, v.x); }
  if (n + 16u < P.N) { y_store(m, n + 16u, v.y); }
  if (n + 32u < P.N) { y_store(m, n + 32u, v.z); }
  if (n + 48u < P.N) { y_store(m, n + 48u, v.w); }
}
