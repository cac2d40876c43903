// Q4_0: 18-byte blocks of 32 values, f16 scale d then 16 bytes of nibbles; value = (q - 8) * d.
// Element j of a block is the low nibble of byte j, element j + 16 the high nibble, so the eight values
// k..k+7 (k % 8 == 0) are one nibble of eight consecutive bytes.
const W_BLOCK: u32 = 32u;
const W_BLOCK_BYTES: u32 = 18u;

fn w_load8(row_byte: u32, k: u32) -> array<vec4f, 2> {
  let blk = row_byte + (k >> 5u) * W_BLOCK_BYTES;
  let d = w_f16(blk);
  let j = k & 31u;
  let q = blk + 2u + (j & 15u);
  let sh = vec4u(0u, 8u, 16u, 24u) + select(0u, 4u, j >= 16u);
  let lo = vec4f((vec4u(w_u32(q)) >> sh) & vec4u(15u));
  let hi = vec4f((vec4u(w_u32(q + 4u)) >> sh) & vec4u(15u));
  return array<vec4f, 2>((lo - 8.0) * d, (hi - 8.0) * d);
}
