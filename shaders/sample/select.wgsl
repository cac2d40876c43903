// One radix-select step per row: walk the 256 bins of the histogram from the largest key down and find
// the bin holding the cut, then fix those 8 bits of the prefix. The cut is either the k-th element
// (count target, top-k) or the first element at which the mass of everything before it and itself
// reaches p * Z (mass target, top-p; Z is the mass of the top-k survivors, or of the whole row). On the
// last pass the prefix is the exact key t of the cut and `keep` says how many of the elements with key
// t are kept (lowest indices first). Thread 0 walks; all threads then clear the histogram for the next
// pass. Per-row state words: see src/kernels/sample.ts.
#include "sample/common"
@group(0) @binding(1) var<storage, read_write> hist: array<u32>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= P.rows) { return; }
  let s = row * STATE;
  let h = row * 256u * 3u;
  if (li == 0u) {
    if (P.first != 0u) {
      state[s + 2u] = 0u;
      state[s + 3u] = 0u;
      state[s + 4u] = 0u;
      state[s + 5u] = 0u;
      state[s + 6u] = 1u;
      if (P.zTotal != 0u) {
        var total = vec2u(0u);
        for (var d = 0u; d < 256u; d++) { total = add64(total, vec2u(hist[h + d * 3u + 1u], hist[h + d * 3u + 2u])); }
        state[s + 10u] = bitcast<u32>(f64to32(total));
      }
    }
    if (state[s + 6u] != 0u) {
      let goal = P.p * bitcast<f32>(state[s + 10u]);
      var above = state[s + 3u];
      var massAbove = vec2u(state[s + 4u], state[s + 5u]);
      var found = false;
      var bin = 0u;
      for (var i = 0u; i < 256u; i++) {
        let d = 255u - i;
        let n = hist[h + d * 3u];
        if (n == 0u) { continue; }
        let m = vec2u(hist[h + d * 3u + 1u], hist[h + d * 3u + 2u]);
        var hit: bool;
        if (P.massTarget != 0u) { hit = f64to32(add64(massAbove, m)) >= goal; } else { hit = above + n >= P.k; }
        if (hit) { found = true; bin = d; break; }
        above += n;
        massAbove = add64(massAbove, m);
      }
      state[s + 3u] = above;
      state[s + 4u] = massAbove.x;
      state[s + 5u] = massAbove.y;
      if (!found) {
        state[s + 6u] = 0u; // fewer elements than k, or rounding left the mass short of p * Z: no cut
      } else {
        let t = state[s + 2u] | (bin << P.shift);
        state[s + 2u] = t;
        if (P.last != 0u) {
          let n = hist[h + bin * 3u];
          let m = keyValue(state[s + 1u]);
          let qt = f64to32(fixed40(exp(keyValue(t) - m)));
          var keep: u32;
          if (P.massTarget != 0u) {
            let base = f64to32(massAbove);
            keep = 1u;
            if (goal > base && qt > 0.0) { keep = u32(clamp(ceil((goal - base) / qt), 1.0, f32(n))); }
            keep = min(keep, n);
          } else {
            keep = P.k - above;
          }
          // A second search (top-p after top-k) may only tighten the cut.
          let hadCut = state[s + 9u] != 0u;
          let tighter = !hadCut || t > state[s + 7u] || (t == state[s + 7u] && keep < state[s + 8u]);
          if (tighter) {
            state[s + 7u] = t;
            state[s + 8u] = keep;
            state[s + 9u] = 1u;
          }
          if (P.zCut != 0u) { state[s + 10u] = bitcast<u32>(f64to32(massAbove) + f32(keep) * qt); }
        }
      }
    }
  }
  workgroupBarrier();
  for (var i = li; i < 256u * 3u; i += WG) { hist[h + i] = 0u; }
}
