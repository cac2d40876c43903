// out[n, k] = W[n, k] as f32, for any weight format with a shaders/quant/ include (WTYPE): one thread
// per eight values, through the same w_load8 the matmul kernels use, so this also checks the includes.
#include "quant/common"
#include "quant/{{WTYPE}}"

@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = (wg.x + wg.y * nwg.x) * 256u + li;
  let chunks = P.K >> 3u; // eight values per thread; K % 8 == 0
  if (t >= P.N * chunks) { return; }
  let n = t / chunks;
  let k = (t - n * chunks) * 8u;
  let w = w_load8(n * (P.K / W_BLOCK) * W_BLOCK_BYTES, k);
  let o = (n * P.K + k) >> 2u;
  out[o] = w[0];
  out[o + 1u] = w[1];
}
