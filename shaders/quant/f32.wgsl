// F32 weights: row_byte is a multiple of 4, so the eight values are eight whole words.
const W_BLOCK: u32 = 1u;
const W_BLOCK_BYTES: u32 = 4u;

fn w_load8(row_byte: u32, k: u32) -> array<vec4f, 2> {
  let i = (row_byte >> 2u) + k;
  return array<vec4f, 2>(
    bitcast<vec4f>(vec4u(W[i], W[i + 1u], W[i + 2u], W[i + 3u])),
    bitcast<vec4f>(vec4u(W[i + 4u], W[i + 5u], W[i + 6u], W[i + 7u])),
  );
}
