// Decode path with F16 activations, the shader-f16 sibling of matmul/gemv (same work split): MR rows
// (a compile-time bucket 1, 2, 4, 8), 64 threads owning 2 weight rows, the 32 lanes of a row striding
// over K in chunks of 8, one barrier to sum the lanes' partials. Weights go to f16 once per chunk and
// serve every row; see matmul/common_f16 for where f16 and f32 are used.
#include "quant/common"
#include "quant/{{WTYPE}}"
#include "matmul/common_f16"

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
      let w = w_load8h(row_byte, k);
      for (var m = 0u; m < MR; m++) {
        if (m < P.M) { acc[m] += f32(dot(x_load4(m, k), w[0])) + f32(dot(x_load4(m, k + 4u), w[1])); }
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
