// Deliberately invalid WGSL: the runtime must report it as a ShaderCompileError, not swallow it.
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1)
fn main() {
  y[0] = undefined_function(1.0);
}
