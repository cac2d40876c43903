// Q5_K: 176-byte super-blocks of 256 values. Words (44 per block, rows stay word-aligned):
//   0: d | dmin (f16 pair)   1-3: 6-bit scales and mins as in Q4_K   4-11: qh[32]   12-43: qs[128].
// The low 4 bits are laid out as in Q4_K; the fifth bit of value e (sub-block j = e / 32) is bit j of
// qh[e % 32]. Value = d * sc[j] * q - dmin * m[j].
#include "quant/k_scale_min"

const W_BLOCK: u32 = 256u;
const W_BLOCK_BYTES: u32 = 176u;

/** Four 5-bit values: nibbles at bit `nib` of the bytes of ql, fifth bits at bit j of the bytes of qh. */
fn k5_values(ql: u32, qh: u32, nib: u32, j: u32) -> vec4f {
  let bytes = vec4u(0u, 8u, 16u, 24u);
  let lo = (vec4u(ql) >> (bytes + nib)) & vec4u(15u);
  let hi = (vec4u(qh) >> (bytes + j)) & vec4u(1u);
  return vec4f(lo | (hi << vec4u(4u)));
}

fn w_load8(row_byte: u32, k: u32) -> array<vec4f, 2> {
  let b = (row_byte + (k >> 8u) * W_BLOCK_BYTES) >> 2u;
  let kk = k & 255u;
  let j = kk >> 5u;
  let dm = unpack2x16float(W[b]);
  let sm = k_scale_min(j, W[b + 1u], W[b + 2u], W[b + 3u]);
  let scale = dm.x * sm.x;
  let offset = dm.y * sm.y;
  let l = (kk & 31u) >> 2u;
  let h = b + 4u + l;
  let q = b + 12u + (kk >> 6u) * 8u + l;
  let nib = select(0u, 4u, (kk & 32u) != 0u);
  return array<vec4f, 2>(
    scale * k5_values(W[q], W[h], nib, j) - offset,
    scale * k5_values(W[q + 1u], W[h + 1u], nib, j) - offset,
  );
}
