// F16 weights, unpacked two at a time with unpack2x16float (no shader-f16 needed). A row starts on a
// 2-byte boundary when K is odd; w_u32 handles that case.
const W_BLOCK: u32 = 1u;
const W_BLOCK_BYTES: u32 = 2u;

fn w_load8(row_byte: u32, k: u32) -> array<vec4f, 2> {
  let b = row_byte + 2u * k;
  return array<vec4f, 2>(
    vec4f(unpack2x16float(w_u32(b)), unpack2x16float(w_u32(b + 4u))),
    vec4f(unpack2x16float(w_u32(b + 8u)), unpack2x16float(w_u32(b + 12u))),
  );
}
