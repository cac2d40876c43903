// Row normalization, one workgroup per row with a tree reduction in workgroup memory.
//   rmsnorm:   y = x * (1 / sqrt(mean(x^2) + eps))            (ggml_rms_norm)
//   layernorm: y = (x - mean) * (1 / sqrt(mean((x - mean)^2) + eps))   (ggml_norm: two passes, like ggml)
// then y *= w (P.w_mode 1) or 1 + w (P.w_mode 2), and y += b (P.has_b), as the separate ggml_mul / ggml_add
// would. Weight and bias are always bound (a dummy when absent) and chosen by uniform parameters: a
// uniform branch costs nothing, and one pipeline instead of six saves compile time at startup.
// Defines: LAYERNORM, VEC4 (row width % 4 == 0: the row is read as vec4f), INPLACE (y overwrites x),
// and B_Y, B_W, B_B, the binding numbers after x.
// F16 (shader-f16): x and y are stored as f16 (S), weight and bias stay F32; sums, scale and the
// products are f32 (V), and each output is rounded to f16 once.
// Each element is read and written by the same invocation, so in-place needs no extra barrier.

#if VEC4
alias V = vec4f;
fn hsum(v: V) -> f32 { return (v.x + v.y) + (v.z + v.w); }
#if F16
alias S = vec4<f16>;
#endif
#else
alias V = f32;
fn hsum(v: V) -> f32 { return v; }
#if F16
alias S = f16;
#endif
#endif
#if F16
enable f16;
#else
alias S = V;
#endif

#if INPLACE
@group(0) @binding(1) var<storage, read_write> X: array<S>;
fn store(i: u32, v: V) { X[i] = S(v); }
#else
@group(0) @binding(1) var<storage, read> X: array<S>;
@group(0) @binding({{B_Y}}) var<storage, read_write> Y: array<S>;
fn store(i: u32, v: V) { Y[i] = S(v); }
#endif
fn load(i: u32) -> V { return V(X[i]); }
@group(0) @binding({{B_W}}) var<storage, read> Wt: array<V>;
@group(0) @binding({{B_B}}) var<storage, read> Bs: array<V>;

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
  for (var i = li; i < P.nv; i += WG) { acc += hsum(load(base + i)); }
  let mean = workgroup_sum(li, acc) / nf;
  var acc2 = 0.0;
  for (var i = li; i < P.nv; i += WG) {
    let d = load(base + i) - mean;
    acc2 += hsum(d * d);
  }
  let variance = workgroup_sum(li, acc2) / nf;
  let scale = 1.0 / sqrt(variance + P.eps);
#else
  var acc = 0.0;
  for (var i = li; i < P.nv; i += WG) {
    let v = load(base + i);
    acc += hsum(v * v);
  }
  let mean = 0.0;
  let scale = 1.0 / sqrt(workgroup_sum(li, acc) / nf + P.eps);
#endif

  for (var i = li; i < P.nv; i += WG) {
    var y = (load(base + i) - mean) * scale;
    if (P.w_mode == 1u) {
      y = y * Wt[i];
    } else if (P.w_mode == 2u) {
      y = y * (1.0 + Wt[i]);
    }
    if (P.has_b != 0u) { y = y + Bs[i]; }
    store(base + i, y);
  }
}
