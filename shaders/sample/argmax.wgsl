// Argmax stage 1: each workgroup reduces one CHUNK of one row to (key, index) of its best element
// (largest value, lowest index on ties, NaN never). With FINAL the chunk is the whole row and the result
// is written straight to dst; otherwise to partials for argmax_merge. With STATS, dst is the sampler's
// per-row state: index, max key, and the cut flag cleared for this call.
#include "sample/common"
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

var<workgroup> bestK: array<u32, 256>;
var<workgroup> bestI: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = wg.x;
  let row = wg.y;
  let i0 = c * CHUNK + li * 8u;
  var keys: array<u32, 8>;
  load8(row, i0, P.vocab, &keys);
  var k = 0u;
  var idx = 0xffffffffu;
  for (var e = 0u; e < 8u; e++) {
    if (i0 + e < P.vocab && before(keys[e], i0 + e, k, idx)) { k = keys[e]; idx = i0 + e; }
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
#if FINAL
  dst[row * P.outStride] = bestI[0];
#if STATS
  dst[row * P.outStride + 1u] = bestK[0];
  dst[row * P.outStride + 9u] = 0u;
#endif
#else
  let o = (row * P.nChunks + c) * 2u;
  dst[o] = bestK[0];
  dst[o + 1u] = bestI[0];
#endif
}
