// Depthwise 2-D convolution, stride 1, channels last: y[oy, ox, c] = bias[c] +
//   sum over ky, kx of w[c, 0, ky, kx] * x[oy + ky - PAD, ox + kx - PAD, c]   (zero outside the image).
// x and y are [H, W, C] with the same H and W (ConvNeXt's 7 x 7, padding 3); w is the weight as stored,
// [C, 1, KH, KW] in F32 or F16 (W_F16: two halves per word, no shader-f16 needed).
// One invocation per output element: neighbouring invocations take neighbouring channels, so the input
// reads of a workgroup are contiguous runs of C; the 49 taps of one channel are reused from cache.
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Wt: array<u32>;
@group(0) @binding(3) var<storage, read> BIAS: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

fn w_at(i: u32) -> f32 {
#if W_F16
  return unpack2x16float(Wt[i >> 1u])[i & 1u];
#else
  return bitcast<f32>(Wt[i]);
#endif
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 256u + li;
  if (i >= P.total) { return; }
  let c = i % P.C;
  let p = i / P.C;
  let oy = p / P.W;
  let ox = p - oy * P.W;
  var acc = 0.0;
  let wbase = c * P.KH * P.KW;
  for (var ky = 0u; ky < P.KH; ky++) {
    let iy = i32(oy + ky) - i32(P.PAD);
    if (iy < 0 || iy >= i32(P.H)) { continue; }
    for (var kx = 0u; kx < P.KW; kx++) {
      let ix = i32(ox + kx) - i32(P.PAD);
      if (ix < 0 || ix >= i32(P.W)) { continue; }
      acc += w_at(wbase + ky * P.KW + kx) * X[(u32(iy) * P.W + u32(ix)) * P.C + c];
    }
  }
  if (P.has_bias != 0u) { acc += BIAS[c]; }
  Y[i] = acc;
}
