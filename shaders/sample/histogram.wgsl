// One radix-select pass: histogram of the next 8 bits (at `shift`) of the order keys of the elements
// whose higher bits equal the prefix found so far (state word 2; mask selects the bits already fixed).
// With MASS each bin also sums exp(x - max) as exact 64-bit fixed point (see fixed40), so the top-p
// cut is found from masses that do not depend on the order of atomic adds.
#include "sample/common"
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;

var<workgroup> cnt: array<atomic<u32>, 256>;
#if MASS
var<workgroup> mlo: array<atomic<u32>, 256>;
var<workgroup> mhi: array<atomic<u32>, 256>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = wg.x;
  let row = wg.y;
  atomicStore(&cnt[li], 0u);
#if MASS
  atomicStore(&mlo[li], 0u);
  atomicStore(&mhi[li], 0u);
#endif
  workgroupBarrier();
  let s = row * STATE;
  let prefix = state[s + 2u] & P.mask;
  let m = keyValue(state[s + 1u]);
  var keys: array<u32, 8>;
  let v = load8(row, c * CHUNK + li * 8u, P.vocab, &keys);
  for (var e = 0u; e < 8u; e++) {
    let k = keys[e];
    if (k == 0u || (k & P.mask) != prefix) { continue; }
    let d = (k >> P.shift) & 255u;
    atomicAdd(&cnt[d], 1u);
#if MASS
    let q = fixed40(exp(v[e] - m));
    let old = atomicAdd(&mlo[d], q.x);
    let hi = q.y + select(0u, 1u, old + q.x < old);
    if (hi != 0u) { atomicAdd(&mhi[d], hi); }
#endif
  }
  workgroupBarrier();
  let n = atomicLoad(&cnt[li]);
  if (n == 0u) { return; }
  let g = (row * 256u + li) * 3u;
  atomicAdd(&hist[g], n);
#if MASS
  let lo = atomicLoad(&mlo[li]);
  let old = atomicAdd(&hist[g + 1u], lo);
  let hi = atomicLoad(&mhi[li]) + select(0u, 1u, old + lo < old);
  if (hi != 0u) { atomicAdd(&hist[g + 2u], hi); }
#endif
}
