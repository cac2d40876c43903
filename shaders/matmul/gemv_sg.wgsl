// Decode path with subgroups, one activation row (M = 1): y[n] = sum_k x[k] * W[n, k], no workgroup
// barrier. Each subgroup owns groups of RPS = 4 weight rows; its lanes stride over K and one subgroupAdd
// per group sums them. Every x load serves the four rows, which cuts the loads per weight from about 2
// to 1.25 where loads dominate (CPU drivers gather lane by lane).
// Which subgroup owns which rows only needs subgroups to be runs of consecutive invocation indices, as
// on every driver we know of; the subgroup size is read at run time: a workgroup always covers
// GROUPS = WG / SG_MIN row groups (SG_MIN the adapter's smallest size), each subgroup walking
// sg, sg + nsg, ... so a larger size just means more groups per subgroup.
// The inner loop is the format's w_load8 over chunks of 8 values, except Q4_0 and Q8_0, which read whole
// blocks as u32 words (their 18- and 34-byte blocks are 2-byte aligned: five or nine words hold one).
enable subgroups;
#include "quant/common"
#include "quant/{{WTYPE}}"
#include "matmul/common"

const WG: u32 = 64u;
const RPS: u32 = 4u;
const GROUPS: u32 = WG / {{SG_MIN}}u;

/** Four nibbles (at bit `sh` of each byte of w) minus 8, as floats. */
fn q4_nibbles(w: u32, sh: u32) -> vec4f {
  return vec4f((vec4u(w) >> (vec4u(0u, 8u, 16u, 24u) + sh)) & vec4u(15u)) - 8.0;
}

/** Four signed bytes of w as floats. */
fn q8_bytes(w: u32) -> vec4f {
  return vec4f((vec4i(bitcast<i32>(w)) << vec4u(24u, 16u, 8u, 0u)) >> vec4u(24u));
}

/** The word at byte offset 2 of the pair (a, b): blocks that start mid-word. */
fn funnel16(a: u32, b: u32, odd: bool) -> u32 {
  return select((a >> 16u) | (b << 16u), b, odd);
}

#if Q4_0_WORDS
/** d * sum_j (q_j - 8) * x_j over the Q4_0 block at byte `byte`; xa holds the block's 32 x values. */
fn block_dot(byte: u32, xa: array<vec4f, 8>) -> f32 {
  let i = byte >> 2u;
  let w0 = W[i]; let w1 = W[i + 1u]; let w2 = W[i + 2u]; let w3 = W[i + 3u]; let w4 = W[i + 4u];
  let odd = (byte & 2u) != 0u; // d is then the high half of w0 and the nibbles are w1..w4
  let d = unpack2x16float(select(w0, w0 >> 16u, odd)).x;
  let q0 = funnel16(w0, w1, odd);
  let q1 = funnel16(w1, w2, odd);
  let q2 = funnel16(w2, w3, odd);
  let q3 = funnel16(w3, w4, odd);
  // Byte j holds value j (low nibble) and value j + 16 (high nibble).
  var s = dot(q4_nibbles(q0, 0u), xa[0]) + dot(q4_nibbles(q1, 0u), xa[1]);
  s += dot(q4_nibbles(q2, 0u), xa[2]) + dot(q4_nibbles(q3, 0u), xa[3]);
  s += dot(q4_nibbles(q0, 4u), xa[4]) + dot(q4_nibbles(q1, 4u), xa[5]);
  s += dot(q4_nibbles(q2, 4u), xa[6]) + dot(q4_nibbles(q3, 4u), xa[7]);
  return d * s;
}
#elif Q8_0_WORDS
/** d * sum_j q_j * x_j over the Q8_0 block at byte `byte`. */
fn block_dot(byte: u32, xa: array<vec4f, 8>) -> f32 {
  let i = byte >> 2u;
  let odd = (byte & 2u) != 0u;
  let w0 = W[i];
  let d = unpack2x16float(select(w0, w0 >> 16u, odd)).x;
  let w1 = W[i + 1u]; let w2 = W[i + 2u]; let w3 = W[i + 3u]; let w4 = W[i + 4u];
  let w5 = W[i + 5u]; let w6 = W[i + 6u]; let w7 = W[i + 7u]; let w8 = W[i + 8u];
  var s = dot(q8_bytes(funnel16(w0, w1, odd)), xa[0]) + dot(q8_bytes(funnel16(w1, w2, odd)), xa[1]);
  s += dot(q8_bytes(funnel16(w2, w3, odd)), xa[2]) + dot(q8_bytes(funnel16(w3, w4, odd)), xa[3]);
  s += dot(q8_bytes(funnel16(w4, w5, odd)), xa[4]) + dot(q8_bytes(funnel16(w5, w6, odd)), xa[5]);
  s += dot(q8_bytes(funnel16(w6, w7, odd)), xa[6]) + dot(q8_bytes(funnel16(w7, w8, odd)), xa[7]);
  return d * s;
}
#endif

/** Partial dot products of rows n0..n0+3 (clamped to N - 1) with x, over this lane's share of K. */
fn rows_dot(n0: u32, lane: u32, lanes: u32) -> vec4f {
  let row_bytes = (P.K / W_BLOCK) * W_BLOCK_BYTES;
  let rb = vec4u(min(vec4u(n0) + vec4u(0u, 1u, 2u, 3u), vec4u(P.N - 1u))) * row_bytes;
  var acc = vec4f(0.0);
#if BLOCK_WORDS
  let nb = P.K / W_BLOCK;
  for (var b = lane; b < nb; b += lanes) {
    let xb = b * 8u;
    let xa = array<vec4f, 8>(X[xb], X[xb + 1u], X[xb + 2u], X[xb + 3u], X[xb + 4u], X[xb + 5u], X[xb + 6u], X[xb + 7u]);
    let off = b * W_BLOCK_BYTES;
    acc += vec4f(block_dot(rb.x + off, xa), block_dot(rb.y + off, xa), block_dot(rb.z + off, xa), block_dot(rb.w + off, xa));
  }
#else
  let chunks = (P.K + 7u) / 8u;
  for (var c = lane; c < chunks; c += lanes) {
    let k = c * 8u;
    let x0 = x_load4(0u, k);
    let x1 = x_load4(0u, k + 4u);
    let w0 = w_load8_masked(rb.x, k);
    let w1 = w_load8_masked(rb.y, k);
    let w2 = w_load8_masked(rb.z, k);
    let w3 = w_load8_masked(rb.w, k);
    acc += vec4f(dot(x0, w0[0]) + dot(x1, w0[1]), dot(x0, w1[0]) + dot(x1, w1[1]),
                 dot(x0, w2[0]) + dot(x1, w2[1]), dot(x0, w3[0]) + dot(x1, w3[1]));
  }
#endif
  return acc;
}

// The loop bound depends on the invocation index, which the uniformity analysis cannot see is the same
// across a subgroup (g = li / lanes is): hence the diagnostic.
@diagnostic(off, subgroup_uniformity)
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_size) sgs: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let first = (wg.x + wg.y * nwg.x) * GROUPS;
  // A subgroup larger than the workgroup runs partly filled: WG lanes, one subgroup.
  let lanes = min(sgs, WG);
  // g is the same on every lane of a subgroup, so subgroupAdd sees whole subgroups.
  for (var g = li / lanes; g < GROUPS; g += WG / lanes) {
    let n0 = (first + g) * RPS;
    if (n0 >= P.N) { break; }
    let s = subgroupAdd(rows_dot(n0, lane, lanes));
    if (lane == 0u) {
      y_store(0u, n0, s.x);
      if (n0 + 1u < P.N) { y_store(0u, n0 + 1u, s.y); }
      if (n0 + 2u < P.N) { y_store(0u, n0 + 2u, s.z); }
      if (n0 + 3u < P.N) { y_store(0u, n0 + 3u, s.w); }
    }
  }
}
