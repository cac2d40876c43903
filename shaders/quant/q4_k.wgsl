// Q4_K: 144-byte super-blocks of 256 values. Words (a block is 36 whole u32s, so rows stay word-aligned):
//   0: d | dmin (f16 pair)   1-3: 12 bytes of 6-bit scales and mins   4-35: qs[128] nibbles.
// Value e is in sub-block j = e / 32: d * sc[j] * q - dmin * m[j]. Within each 64 values the first 32
// are the low nibbles of 32 bytes and the next 32 the high nibbles of the same bytes, so the eight values
// k..k+7 are one nibble of eight consecutive bytes: two words.
#include "quant/k_scale_min"

const W_BLOCK: u32 = 256u;
const W_BLOCK_BYTES: u32 = 144u;

/** Four nibbles (at bit `nib` of each byte) of a word, as floats. */
fn k4_nibbles(w: u32, nib: u32) -> vec4f {
  return vec4f((vec4u(w) >> (vec4u(0u, 8u, 16u, 24u) + nib)) & vec4u(15u));
}

fn w_load8(row_byte: u32, k: u32) -> array<vec4f, 2> {
  let b = (row_byte + (k >> 8u) * W_BLOCK_BYTES) >> 2u;
  let kk = k & 255u;
  let dm = unpack2x16float(W[b]);
  let sm = k_scale_min(kk >> 5u, W[b + 1u], W[b + 2u], W[b + 3u]);
  let scale = dm.x * sm.x;
  let offset = dm.y * sm.y;
  let q = b + 4u + (kk >> 6u) * 8u + ((kk & 31u) >> 2u);
  let nib = select(0u, 4u, (kk & 32u) != 0u);
  return array<vec4f, 2>(scale * k4_nibbles(W[q], nib) - offset, scale * k4_nibbles(W[q + 1u], nib) - offset);
}
