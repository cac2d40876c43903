// y = x * w[i % nw] (mul: w broadcast over rows, or the same shape as x) or y = x * s (SCALAR: scale).
// VEC4: every count is in vec4s (total and nw multiples of 4). INPLACE: y overwrites x.
// B_W, B_Y: binding numbers of the optional buffers.

#if VEC4
alias V = vec4f;
#else
alias V = f32;
#endif

#if INPLACE
@group(0) @binding(1) var<storage, read_write> X: array<V>;
#else
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding({{B_Y}}) var<storage, read_write> Y: array<V>;
#endif
#if !SCALAR
@group(0) @binding({{B_W}}) var<storage, read> Wm: array<V>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 256u + li;
  if (i >= P.total) { return; }
#if SCALAR
  let y = X[i] * P.s;
#else
  let y = X[i] * Wm[i % P.nw];
#endif
#if INPLACE
  X[i] = y;
#else
  Y[i] = y;
#endif
}
