// Q8_0: 34-byte blocks of 32 values, f16 scale d then 32 signed bytes; value = q * d.
const W_BLOCK: u32 = 32u;
const W_BLOCK_BYTES: u32 = 34u;

fn q8_sext4(v: u32) -> vec4f {
  return vec4f((vec4i(bitcast<i32>(v)) << vec4u(24u, 16u, 8u, 0u)) >> vec4u(24u));
}

fn w_load8(row_byte: u32, k: u32) -> array<vec4f, 2> {
  let blk = row_byte + (k >> 5u) * W_BLOCK_BYTES;
  let d = w_f16(blk);
  let q = blk + 2u + (k & 31u);
  return array<vec4f, 2>(q8_sext4(w_u32(q)) * d, q8_sext4(w_u32(q + 4u)) * d);
}
