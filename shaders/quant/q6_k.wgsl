// Q6_K: 210-byte super-blocks of 256 values: ql[128] @0, qh[64] @128, int8 scales[16] @192, d f16 @208.
// Each half of 128 values: quarter t = 0..3 of it (32 values, index l) takes the low (t < 2) or high
// nibble of ql[64*half + 32*(t%2) + l] and bits 2t..2t+1 of qh[32*half + l]; sub-block (16 values) scale
// scales[8*half + 2t + l/16]. Value = d * scale * (q - 32).
// 210 is 2 mod 4, so a block starts on a 2-byte boundary in every other block of a row (and rows of an
// odd number of blocks alternate too); eight bytes at an even address are three words, shifted.
const W_BLOCK: u32 = 256u;
const W_BLOCK_BYTES: u32 = 210u;

/** Eight bytes at even byte address a, as two little-endian words. */
fn q6_bytes8(a: u32) -> vec2u {
  let i = a >> 2u;
  let w0 = W[i];
  let w1 = W[i + 1u];
  let w2 = W[i + 2u]; // still inside the block for every ql/qh read below
  return select(vec2u(w0, w1), vec2u((w0 >> 16u) | (w1 << 16u), (w1 >> 16u) | (w2 << 16u)), (a & 2u) != 0u);
}

fn q6_values(ql: u32, qh: u32, nib: u32, hsh: u32) -> vec4f {
  let bytes = vec4u(0u, 8u, 16u, 24u);
  let lo = (vec4u(ql) >> (bytes + nib)) & vec4u(15u);
  let hi = (vec4u(qh) >> (bytes + hsh)) & vec4u(3u);
  return vec4f(vec4i(lo | (hi << vec4u(4u))) - vec4i(32));
}

fn w_load8(row_byte: u32, k: u32) -> array<vec4f, 2> {
  let blk = row_byte + (k >> 8u) * W_BLOCK_BYTES;
  let kk = k & 255u;
  let hb = kk >> 7u; // which half of the block
  let t = (kk >> 5u) & 3u;
  let l = kk & 31u;
  let ql = q6_bytes8(blk + 64u * hb + 32u * (t & 1u) + l);
  let qh = q6_bytes8(blk + 128u + 32u * hb + l);
  let sc = bitcast<i32>(w_u8(blk + 192u + 8u * hb + 2u * t + (l >> 4u)) << 24u) >> 24u;
  // d * scale first, as ggml does: that product is exact, so the one rounding is the same as on the CPU.
  let scale = w_f16(blk + 208u) * f32(sc);
  let nib = select(0u, 4u, t >= 2u);
  return array<vec4f, 2>(scale * q6_values(ql.x, qh.x, nib, 2u * t), scale * q6_values(ql.y, qh.y, nib, 2u * t));
}
