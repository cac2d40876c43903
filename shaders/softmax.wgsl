// Numerically stable softmax over rows: y = exp(s x - max) / sum(exp(s x - max)).
// Each invocation keeps a running (max, sum) over its elements (online softmax: the sum is rescaled when
// the max grows), and the workgroup merges those pairs with a tree. Three variants by define:
//   (none)          one workgroup per row: one pass for (max, sum), one to write.        rows of any width
//   SPLIT_PARTIALS  workgroup (row, chunk) writes the (max, sum) of its chunk to S.      wide rows (vocab):
//   SPLIT_FINISH    workgroup (row, chunk) merges the row's pairs from S, writes its chunk.  all of the GPU
//                                                                                          works on one row
// VEC4: row width % 4 == 0, counts in vec4s. INPLACE: y overwrites x. B_Y: binding of y.

#if VEC4
alias V = vec4f;
#else
alias V = f32;
#endif

#if SPLIT_PARTIALS
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding(2) var<storage, read_write> S: array<vec2f>;
#else
#if INPLACE
@group(0) @binding(1) var<storage, read_write> X: array<V>;
fn store(i: u32, v: V) { X[i] = v; }
#else
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding({{B_Y}}) var<storage, read_write> Y: array<V>;
fn store(i: u32, v: V) { Y[i] = v; }
#endif
#if SPLIT_FINISH
@group(0) @binding(2) var<storage, read> S: array<vec2f>;
#endif
#endif

const WG = 256u;
// Lowest finite f32 instead of -inf: exp(NEG - NEG) is 1, not NaN, when merging two empty states.
const NEG = -3.40282346638528859812e38;
var<workgroup> red: array<vec2f, WG>;

/** (max, sum) of two sets: each sum rescaled to the common max. */
fn merge(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

fn accumulate(st: vec2f, v: V) -> vec2f {
#if VEC4
  let m = max(st.x, max(max(v.x, v.y), max(v.z, v.w)));
  let e = exp(v - m);
  return vec2f(m, st.y * exp(st.x - m) + ((e.x + e.y) + (e.z + e.w)));
#else
  if (v > st.x) { return vec2f(v, st.y * exp(st.x - v) + 1.0); }
  return vec2f(st.x, st.y + exp(v - st.x));
#endif
}

// Merge one state per invocation; every invocation gets the result. Call in uniform control flow.
fn workgroup_merge(li: u32, st: vec2f) -> vec2f {
  red[li] = st;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] = merge(red[li], red[li + s]); }
    workgroupBarrier();
  }
  return red[0];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let id = wg.x + wg.y * nwg.x;
  let row = id / P.chunks;
  let chunk = id - row * P.chunks;
  if (row >= P.rows) { return; } // the same for the whole workgroup
  let base = row * P.nv;
  let start = chunk * P.chunk_v;
  let end = min(start + P.chunk_v, P.nv);

#if SPLIT_FINISH
  var st = vec2f(NEG, 0.0);
  for (var c = li; c < P.chunks; c += WG) { st = merge(st, S[row * P.chunks + c]); }
  let total = workgroup_merge(li, st);
#else
  var st = vec2f(NEG, 0.0);
  for (var i = start + li; i < end; i += WG) { st = accumulate(st, X[base + i] * P.scale); }
  let total = workgroup_merge(li, st);
#endif

#if SPLIT_PARTIALS
  if (li == 0u) { S[row * P.chunks + chunk] = total; }
#else
  let inv = 1.0 / total.y;
  for (var i = start + li; i < end; i += WG) { store(base + i, exp(X[base + i] * P.scale - total.x) * inv); }
#endif
}
