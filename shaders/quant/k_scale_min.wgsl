// The 6-bit sub-block scales and mins of Q4_K and Q5_K, packed in 12 bytes (three words s1, s2, s3) as
// ggml's get_scale_min_k4 reads them: sub-blocks 0-3 are the low 6 bits of bytes j and j+4; sub-blocks
// 4-7 keep their low 4 bits in byte j+4 and their top 2 bits in the top bits of bytes j-4 and j.

/** (scale, min) of sub-block j as floats. */
fn k_scale_min(j: u32, s1: u32, s2: u32, s3: u32) -> vec2f {
  let sh = (j & 3u) * 8u;
  let a = (s1 >> sh) & 0xffu;
  let b = (s2 >> sh) & 0xffu;
  let c = (s3 >> sh) & 0xffu;
  let lo = vec2u(a & 63u, b & 63u);
  let hi = vec2u((c & 15u) | ((a >> 6u) << 4u), (c >> 4u) | ((b >> 6u) << 4u));
  return vec2f(select(lo, hi, j >= 4u));
}
