// f16 <-> f32 by integer arithmetic: exact, the same on every device, no shader-f16 needed (used by
// activation's llama.cpp GELU table and by cast).

// f32 -> f16 bits, round to nearest even (ggml's FP32_TO_FP16), by integer arithmetic only.
fn f16_bits_rne(v: f32) -> u32 {
  let x = bitcast<u32>(v);
  let sign = (x >> 16u) & 0x8000u;
  let ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) { return sign | 0x7e00u | ((ax >> 13u) & 0x3ffu); } // NaN stays NaN
  if (ax >= 0x477ff000u) { return sign | 0x7c00u; }                        // >= 65520 rounds to inf
  if (ax < 0x38800000u) {                                                  // below 2^-14: subnormal or zero
    let e = ax >> 23u;
    if (e < 102u) { return sign; }                                         // below 2^-25: zero
    let m = (ax & 0x7fffffu) | 0x800000u;
    let sh = 126u - e;                                                     // 14..24
    var h = m >> sh;
    let rem = m & ((1u << sh) - 1u);
    let half = 1u << (sh - 1u);
    if (rem > half || (rem == half && (h & 1u) == 1u)) { h += 1u; }
    return sign | h;
  }
  var h = (ax >> 13u) - (112u << 10u);                                     // rebias 127 -> 15
  let rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) == 1u)) { h += 1u; }    // a carry into the exponent is right
  return sign | h;
}

// f16 bits -> f32, exact for subnormals too (unpack2x16float may flush them on some devices).
fn f16_bits_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    let mag = f32(m) * 5.9604644775390625e-8; // m * 2^-24, exact
    return bitcast<f32>(sign | bitcast<u32>(mag));
  }
  if (e == 31u) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}
