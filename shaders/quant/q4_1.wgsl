// Q4_1: 20-byte blocks of 32 values, f16 scale d, f16 offset m, then 16 bytes of nibbles laid out as in
// Q4_0; value = q * d + m.
const W_BLOCK: u32 = 32u;
const W_BLOCK_BYTES: u32 = 20u;

fn w_load8(row_byte: u32, k: u32) -> array<vec4f, 2> {
  let blk = row_byte + (k >> 5u) * W_BLOCK_BYTES;
  let dm = unpack2x16float(w_u32(blk));
  let j = k & 31u;
  let q = blk + 4u + (j & 15u);
  let sh = vec4u(0u, 8u, 16u, 24u) + select(0u, 4u, j >= 16u);
  let lo = vec4f((vec4u(w_u32(q)) >> sh) & vec4u(15u));
  let hi = vec4f((vec4u(w_u32(q + 4u)) >> sh) & vec4u(15u));
  return array<vec4f, 2>(lo * dm.x + dm.y, hi * dm.x + dm.y);
}
