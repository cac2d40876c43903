// 2-D average pooling over a grid of tokens, channels last: x [H, W, C] (token row-major, as a ViT
// leaves its patches), y [H / k, W / k, C] with a k x k window and stride k, no padding (ggml_pool_2d
// with GGML_OP_POOL_AVG, k0 = k1 = s0 = s1 = k, p = 0). One invocation per output value; the window is
// summed rows first, then columns, in f32, and divided by k * k once, as ggml's CPU loop does.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 256u + li;
  if (i >= P.total) { return; }
  let c = i % P.C;
  let cell = i / P.C;
  let ox = cell % P.Wo;
  let oy = cell / P.Wo;
  var sum = 0.0;
  for (var ky = 0u; ky < P.k; ky++) {
    let row = (oy * P.k + ky) * P.W;
    for (var kx = 0u; kx < P.k; kx++) {
      sum += x[(row + ox * P.k + kx) * P.C + c];
    }
  }
  y[i] = sum / f32(P.k * P.k);
}
