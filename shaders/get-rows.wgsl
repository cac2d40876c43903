// Embedding lookup: Y[t, :] = dequantize(W[ids[t], :]) * scale, for any weight format with a
// quant/<type> include (w_load8: eight values of a row). An id >= the table's row count writes a row of
// zeros: ids come from the GPU (sampling) or unchecked input, and must never read outside W.
// A table too large for one binding is looked up part by part: W then holds rows [id_base, id_base +
// vocab) of a table of `total` rows, and a token whose id falls in another part is left for that part's
// dispatch (ids >= total still get zeros).
// One invocation per eight output values; D % 8 == 0 and D % W_BLOCK == 0 (checked by the op).
// Y_F16 (shader-f16): Y is F16, the decoded and scaled f32 values rounded once on the store.

@group(0) @binding(1) var<storage, read> W: array<u32>;
#include "quant/common"
#include "quant/{{WTYPE}}"
@group(0) @binding(2) var<storage, read> ids: array<u32>;
#if Y_F16
enable f16;
alias S = vec4<f16>;
#else
alias S = vec4f;
#endif
@group(0) @binding(3) var<storage, read_write> Y: array<S>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = (wg.x + wg.y * nwg.x) * 256u + li; // which group of eight outputs
  let per_row = P.d >> 3u;
  if (g >= P.tokens * per_row) { return; }
  let t = g / per_row;
  let k = (g - t * per_row) * 8u;
  let id = ids[t];
  let o = (t * P.d + k) >> 2u;
  if (id >= P.total) {
    Y[o] = S(0.0);
    Y[o + 1u] = S(0.0);
    return;
  }
  if (id < P.id_base || id - P.id_base >= P.vocab) { return; }
  let w = w_load8((id - P.id_base) * ((P.d / W_BLOCK) * W_BLOCK_BYTES), k);
  Y[o] = S(w[0] * P.scale);
  Y[o + 1u] = S(w[1] * P.scale);
}
