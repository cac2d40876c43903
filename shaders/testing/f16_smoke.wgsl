// Proves a device really computes in f16: doubling 65504 overflows only in half precision.
enable f16;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(4)
fn main(@builtin(local_invocation_index) i: u32) {
  let h = f16(x[i]) * 2.0h;
  y[i] = f32(h) / 2.0;
}
