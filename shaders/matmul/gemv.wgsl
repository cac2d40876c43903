// Decode path: Y[m, n] = sum_k X[m, k] * W[n, k] for a few rows m < M <= MR. MR is a compile-time bucket
// (1, 2, 4 or 8) so the per-row accumulators stay in registers; each weight is read once for all rows.
// A workgroup of 64 threads owns 2 weight rows; the 32 lanes of a row stride over K in chunks of 8
// (consecutive lanes read consecutive bytes), then one lane per m sums the 32 partials: a single barrier.
// Small workgroups keep the partials at 64 * MR floats (2 KiB at most) and give N / 2 workgroups to
// spread over the GPU.
#include "quant/common"
#include "quant/{{WTYPE}}"
#include "matmul/common"

const MR: u32 = {{MR}}u;
const LANES: u32 = 32u;
const ROWS: u32 = 2u;

var<workgroup> partial: array<f32, ROWS * MR * LANES>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let lane = li % LANES;
  let r = li / LANES;
  let n = (wg.x + wg.y * nwg.x) * ROWS + r;
  var acc: array<f32, MR>;
  if (n < P.N) {
    let row_byte = n * (P.K / W_BLOCK) * W_BLOCK_BYTES;
    let chunks = (P.K + 7u) / 8u;
    for (var c = lane; c < chunks; c += LANES) {
      let k = c * 8u;
      let w = w_load8_masked(row_byte, k);
      for (var m = 0u; m < MR; m++) {
        if (m < P.M) { acc[m] += dot(x_load4(m, k), w[0]) + dot(x_load4(m, k + 4u), w[1]); }
      }
    }
  }
  for (var m = 0u; m < MR; m++) { partial[(r * MR + m) * LANES + lane] = acc[m]; }
  workgroupBarrier();
  if (lane < P.M && n < P.N) {
    let base = (r * MR + lane) * LANES;
    var s = 0.0;
    for (var i = 0u; i < LANES; i++) { s += partial[base + i]; }
    y_store(lane, n, s);
  }
}
