// Row normalization, one workgroup per row with a tree reduction in workgroup memory.
//   rmsnorm:   y = x * (1 / sqrt(mean(x^2) + eps))            (ggml_rms_norm)
//   layernorm: y = (x - mean) * (1 / sqrt(mean((x - mean)^2) + eps))   (ggml_norm: two passes, like ggml)
// then y *= w (or 1 + w with ADD_ONE) and y += b, as the separate ggml_mul / ggml_add would.
// Defines: LAYERNORM, VEC4 (row width % 4 == 0: the row is read as vec4f), INPLACE (y overwrites x),
// WEIGHT, ADD_ONE, BIAS, and the binding numbers B_W, B_B, B_Y of the optional buffers.
// Each element is read and written by the same invocation, so in-place needs no extra barrier.

#if VEC4
alias V = vec4f;
fn hsum(v: V) -> f32 { return (v.x + v.y) + (v.z + v.w); }
#else
alias V = f32;
fn hsum(v: V) -> f32 { return v; }
#endif

#if INPLACE
@group(0) @binding(1) var<storage, read_write> X: array<V>;
fn store(i: u32, v: V) { X[i] = v; }
#else
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding({{B_Y}}) var<storage, read_write> Y: array<V>;
fn store(i: u32, v: V) { Y[i] = v; }
#endif
#if WEIGHT
@group(0) @binding({{B_W}}) var<storage, read> Wt: array<V>;
#endif
#if BIAS
@group(0) @binding({{B_B}}) var<storage, read> Bs: array<V>;
#endif

const WG = 256u;
var<workgroup> red: array<f32, WG>;

// Sum of one value per invocation; every invocation gets the total. Must be called in uniform control flow.
fn workgroup_sum(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier(); // red is reused by the next reduction
  return total;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= P.rows) { return; } // the same for the whole workgroup
  let base = row * P.nv;          // P.nv: row width in V units; P.n: in elements
  let nf = f32(P.n);

#if LAYERNORM
  var acc = 0.0;
  for (var i = li; i < P.nv; i += WG) { acc += hsum(X[base + i]); }
  let mean = workgroup_sum(li, acc) / nf;
  var acc2 = 0.0;
  for (var i = li; i < P.nv; i += WG) {
    let d = X[base + i] - mean;
    acc2 += hsum(d * d);
  }
  let variance = workgroup_sum(li, acc2) / nf;
  let scale = 1.0 / sqrt(variance + P.eps);
#else
  var acc = 0.0;
  for (var i = li; i < P.nv; i += WG) {
    let v = X[base + i];
    acc += hsum(v * v);
  }
  let mean = 0.0;
  let scale = 1.0 / sqrt(workgroup_sum(li, acc) / nf + P.eps);
#endif

  for (var i = li; i < P.nv; i += WG) {
    var y = (X[base + i] - mean) * scale;
#if WEIGHT
#if ADD_ONE
    y = y * (1.0 + Wt[i]);
#else
    y = y * Wt[i];
#endif
#endif
#if BIAS
    y = y + Bs[i];
#endif
    store(base + i, y);
  }
}
