// out[i] = a[i] + b[i % nb]: residual add, and bias add when b is one row broadcast over rows.
// F16: all three tensors are F16 (shader-f16); the sum is one correctly rounded f16 addition.
#if F16
enable f16;
alias T = f16;
#else
alias T = f32;
#endif
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 256u + li;
  if (i >= P.n) { return; }
  out[i] = a[i] + b[i % P.nb];
}
