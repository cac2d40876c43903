// Argmax stage 2: one workgroup per row reduces the per-chunk (key, index) pairs of stage 1.
// A row with nothing but NaN yields index 0.
#include "sample/common"
@group(0) @binding(1) var<storage, read> partials: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

var<workgroup> bestK: array<u32, 256>;
var<workgroup> bestI: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= P.rows) { return; }
  var k = 0u;
  var idx = 0xffffffffu;
  for (var c = li; c < P.nChunks; c += WG) {
    let o = (row * P.nChunks + c) * 2u;
    if (before(partials[o], partials[o + 1u], k, idx)) { k = partials[o]; idx = partials[o + 1u]; }
  }
  bestK[li] = k;
  bestI[li] = idx;
  // 16 x 16 reduction: a thread per group of 16, then thread 0 over the group winners.
  workgroupBarrier();
  if (li < 16u) {
    for (var j = 1u; j < 16u; j++) {
      let o = li * 16u + j;
      if (before(bestK[o], bestI[o], bestK[li * 16u], bestI[li * 16u])) { bestK[li * 16u] = bestK[o]; bestI[li * 16u] = bestI[o]; }
    }
  }
  workgroupBarrier();
  if (li != 0u) { return; }
  for (var g = 1u; g < 16u; g++) {
    if (before(bestK[g * 16u], bestI[g * 16u], bestK[0], bestI[0])) { bestK[0] = bestK[g * 16u]; bestI[0] = bestI[g * 16u]; }
  }
  dst[row * P.outStride] = select(bestI[0], 0u, bestI[0] == 0xffffffffu);
#if STATS
  dst[row * P.outStride + 1u] = bestK[0];
  dst[row * P.outStride + 9u] = 0u;
#endif
}
