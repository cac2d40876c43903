// Prefill path with F16 activations, the shader-f16 sibling of matmul/gemm (same 64 x 64 tiles, K
// stepped by 8, a 4 x 4 block of Y per thread from rows ty + 16 i and columns tx + 16 j). X and the
// dequantized W are staged as vec4<f16>: half the workgroup memory (3 KiB) and half the shared-memory
// traffic of the f32 kernel. Products are f16 dots of four, accumulated in f32 (see matmul/common_f16).
#include "quant/common"
#include "quant/{{WTYPE}}"
#include "matmul/common_f16"

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 8u;
const ROW: u32 = BK / 4u + 1u; // vec4s per staged row, one of padding

var<workgroup> xs: array<vec4<f16>, BM * ROW>;
var<workgroup> ws: array<vec4<f16>, BN * ROW>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let n0 = wg.x * BN;
  let m0 = wg.y * BM;
  let tx = li % 16u;
  let ty = li / 16u;

  // Staging: threads 0..127 load one vec4 of X each (row li / 2), threads 128..191 dequantize the 8
  // weights of one W row each. Rows past M or N stage zeros.
  let xm = li / 2u;
  let xk = (li % 2u) * 4u;
  let x_ok = li < 128u && m0 + xm < P.M;
  let wn = li - 128u;
  let w_ok = li >= 128u && li < 192u && n0 + wn < P.N;
  let row_byte = (n0 + wn) * (P.K / W_BLOCK) * W_BLOCK_BYTES;

  var acc: array<vec4f, 4>; // acc[i][j]: row ty + 16 i, column tx + 16 j
  for (var k0 = 0u; k0 < P.K; k0 += BK) {
    if (li < 128u) {
      var v = vec4<f16>(0.0h);
      if (x_ok) { v = x_load4(m0 + xm, k0 + xk); }
      xs[xm * ROW + xk / 4u] = v;
    } else if (li < 192u) {
      var w = array<vec4<f16>, 2>(vec4<f16>(0.0h), vec4<f16>(0.0h));
      if (w_ok) { w = w_load8h(row_byte, k0); }
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
      acc[0] += vec4f(vec4<f16>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3)));
      acc[1] += vec4f(vec4<f16>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3)));
      acc[2] += vec4f(vec4<f16>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3)));
      acc[3] += vec4f(vec4<f16>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3)));
    }
    workgroupBarrier();
  }

  store_row(m0 + ty, n0 + tx, acc[0]);
  store_row(m0 + ty + 16u, n0 + tx, acc[1]);
  store_row(m0 + ty + 32u, n0 + tx, acc[2]);
  store_row(m0 + ty + 48u, n0 + tx, acc[3]);
}

/** Y[m, n + 16 j] = v[j] for the columns inside N. */
fn store_row(m: u32, n: u32, v: vec4f) {
  if (m >= P.M) { return; }
  if (n < P.N) { y_store(m, n, v.x); }
  if (n + 16u < P.N) { y_store(m, n + 16u, v.y); }
  if (n + 32u < P.N) { y_store(m, n + 32u, v.z); }
  if (n + 48u < P.N) { y_store(m, n + 48u, v.w); }
}
