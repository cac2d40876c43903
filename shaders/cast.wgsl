// F32 <-> F16 conversion at the boundaries of an F16 activation stream (and for F16 caches), one
// invocation per u32 word of the F16 side: two elements. Conversion is by integer arithmetic
// (f16_bits): round to nearest even, overflow to inf, exact subnormals, bit-exact with ggml's
// FP32_TO_FP16 / FP16_TO_FP32 on every device; it needs no shader-f16 (WGSL's own f32 -> f16 conversion
// may round either way and leaves out-of-range values indeterminate).
// TO_F16: X f32 -> Y f16 words; else X f16 words -> Y f32. For an odd count the last word of the F16
// side is shared with whatever follows the tensor: TO_F16 keeps its upper half.
#include "f16_bits"

#if TO_F16
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<u32>;
#else
@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let w = (wg.x + wg.y * nwg.x) * 256u + li;
  let i = 2u * w;
  if (i >= P.n) { return; }
  let pair = i + 1u < P.n;
#if TO_F16
  let lo = f16_bits_rne(X[i]);
  if (pair) {
    Y[w] = lo | (f16_bits_rne(X[i + 1u]) << 16u);
  } else {
    Y[w] = (Y[w] & 0xffff0000u) | lo;
  }
#else
  let h = X[w];
  Y[i] = f16_bits_to_f32(h & 0xffffu);
  if (pair) { Y[i + 1u] = f16_bits_to_f32(h >> 16u); }
#endif
}
