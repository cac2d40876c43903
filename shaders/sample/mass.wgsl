// Per-chunk mass of the kept tokens at temperature T: sum of exp((x - max) / T) over tokens that pass
// min-p (key >= minKey) and lie strictly before the cut key t, plus the count of tokens whose key is
// exactly t (their rank decides whether they are kept, which only the pick kernel can know).
#include "sample/common"
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<u32>;

var<workgroup> sums: array<f32, 256>;
var<workgroup> ties: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = wg.x;
  let row = wg.y;
  let s = row * STATE;
  let m = keyValue(state[s + 1u]);
  let minKey = select(1u, max(orderKey(m + P.logMinP), 1u), P.minPOn != 0u);
  let hasCut = state[s + 9u] != 0u;
  let t = select(0u, state[s + 7u], hasCut);
  var keys: array<u32, 8>;
  let v = load8(row, c * CHUNK + li * 8u, P.vocab, &keys);
  var sum = 0.0;
  var eq = 0u;
  for (var e = 0u; e < 8u; e++) {
    let k = keys[e];
    if (k < minKey || k < t) { continue; }
    if (hasCut && k == t) { eq++; continue; }
    sum += exp((v[e] - m) / P.temp);
  }
  sums[li] = sum;
  ties[li] = eq;
  scan256(&sums, li);
  scan256u(&ties, li);
  if (li == 255u) {
    let o = (row * P.nChunks + c) * 2u;
    partials[o] = bitcast<u32>(sums[255]);
    partials[o + 1u] = ties[255];
  }
}
