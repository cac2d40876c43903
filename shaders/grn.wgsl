// Global response normalization (ConvNeXt V2) over channels-last x [T, C] (T = H * W pixels):
//   G[c] = sqrt(sum_t x[t, c]^2),  N[c] = G[c] / (mean_c G + EPS),  y = gamma[c] * (x * N[c]) + beta[c] + x
// in three passes chosen by one define each:
//   SUMSQ: partial[chunk, c] = sum of x[t, c]^2 over the chunk's rows (a 64-channel x 4-row workgroup,
//          one chunk of rows per workgroup row, so a 16384-pixel map still spreads over many workgroups);
//   SCALE: one workgroup sums the chunks, takes the root and the channel mean, and writes
//          s[c] = gamma[c] * N[c];
//   APPLY: y[t, c] = x[t, c] * s[c] + beta[c] + x[t, c]  (may run in place: each element is read and
//          written by the same invocation).
// All arithmetic is f32.

#if SUMSQ
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> PART: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wg.x * 64u + lid.x;
  let chunk = wg.y;
  let t0 = chunk * P.rows_per_chunk;
  let t1 = min(t0 + P.rows_per_chunk, P.T);
  var acc = 0.0;
  if (c < P.C) {
    for (var t = t0 + lid.y; t < t1; t += 4u) {
      let v = X[t * P.C + c];
      acc += v * v;
    }
  }
  red[lid.y * 64u + lid.x] = acc;
  workgroupBarrier();
  if (lid.y == 0u && c < P.C) {
    PART[chunk * P.C + c] = (red[lid.x] + red[64u + lid.x]) + (red[128u + lid.x] + red[192u + lid.x]);
  }
}
#endif

#if SCALE
@group(0) @binding(1) var<storage, read> PART: array<f32>;
@group(0) @binding(2) var<storage, read> GAMMA: array<f32>;
@group(0) @binding(3) var<storage, read_write> S: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  // First pass: G[c] into S (this workgroup is the only writer), and the sum of G for the mean.
  var acc = 0.0;
  for (var c = li; c < P.C; c += 256u) {
    var s = 0.0;
    for (var k = 0u; k < P.chunks; k++) { s += PART[k * P.C + c]; }
    let g = sqrt(s);
    S[c] = g;
    acc += g;
  }
  red[li] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let denom = red[0] / f32(P.C) + P.eps;
  for (var c = li; c < P.C; c += 256u) {
    S[c] = GAMMA[c] * (S[c] / denom);
  }
}
#endif

#if APPLY
#if INPLACE
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
#else
@group(0) @binding(1) var<storage, read> X: array<f32>;
#endif
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<storage, read> BETA: array<f32>;
#if !INPLACE
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 256u + li;
  if (i >= P.total) { return; }
  let c = i % P.C;
  let x = X[i];
  let y = (x * S[c] + BETA[c]) + x;
#if INPLACE
  X[i] = y;
#else
  Y[i] = y;
#endif
}
#endif
