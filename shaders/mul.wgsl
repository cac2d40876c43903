// y = x * w[i % nw] (mul: w broadcast over rows, or the same shape as x) or y = x * s (SCALAR: scale).
// VEC4: every count is in vec4s (total and nw multiples of 4). INPLACE: y overwrites x.
// F16 (shader-f16): x and y are F16, and W_F16 says whether w is too (norm weights stay F32); the
// product is formed in f32 and rounded to f16 once.
// B_W, B_Y: binding numbers of the optional buffers.

#if VEC4
alias V = vec4f;
#if F16
alias S = vec4<f16>;
#endif
#else
alias V = f32;
#if F16
alias S = f16;
#endif
#endif
#if F16
enable f16;
#else
alias S = V;
#endif
#if W_F16
alias SW = S;
#else
alias SW = V;
#endif

#if INPLACE
@group(0) @binding(1) var<storage, read_write> X: array<S>;
#else
@group(0) @binding(1) var<storage, read> X: array<S>;
@group(0) @binding({{B_Y}}) var<storage, read_write> Y: array<S>;
#endif
#if !SCALAR
@group(0) @binding({{B_W}}) var<storage, read> Wm: array<SW>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 256u + li;
  if (i >= P.total) { return; }
#if SCALAR
  let y = V(X[i]) * P.s;
#else
  let y = V(X[i]) * V(Wm[i % P.nw]);
#endif
#if INPLACE
  X[i] = S(y);
#else
  Y[i] = S(y);
#endif
}
