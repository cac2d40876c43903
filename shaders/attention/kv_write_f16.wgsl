// Appends F32 rows to a packed-F16 KV cache: four floats in, two u32 words out, each half rounded to
// nearest even (ggml's FP32_TO_FP16). Done with integer ops on the bits because WGSL lets
// pack2x16float round either way, and reading the source as u32 keeps subnormals and NaN payloads intact.
@group(0) @binding(1) var<storage, read> src: array<vec4u>;
@group(0) @binding(2) var<storage, read_write> cache: array<vec2u>;

fn f16_bits(b: u32) -> u32 {
  let sign = (b >> 16u) & 0x8000u;
  let e = i32((b >> 23u) & 0xffu);
  var mant = b & 0x7fffffu;
  if (e == 255) { return sign | 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u); }
  let he = e - 112;   // rebias 127 -> 15
  if (he >= 31) { return sign | 0x7c00u; }
  if (he <= 0) {      // f16 subnormal or zero
    if (he < -10) { return sign; }
    mant |= 0x800000u;
    let shift = u32(14 - he);
    var h = mant >> shift;
    let rem = mant & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u) == 1u)) { h += 1u; }
    return sign | h;
  }
  var h = (u32(he) << 10u) | (mant >> 13u);
  let rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) == 1u)) { h += 1u; }   // a carry into the exponent is right
  return sign | h;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 256u + li;
  if (i >= P.n4) { return; }
  let x = src[i];
  cache[P.dst + i] = vec2u(f16_bits(x.x) | (f16_bits(x.y) << 16u), f16_bits(x.z) | (f16_bits(x.w) << 16u));
}
