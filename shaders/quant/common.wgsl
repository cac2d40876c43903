// Byte-level reads from the weight array W (array<u32>), which the including shader declares.
// GGUF blocks are 18, 20, 34, 210 bytes...: not 4-byte aligned, so every field is read by byte address.

fn w_u8(b: u32) -> u32 {
  return (W[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
}

fn w_u16(b: u32) -> u32 {
  if ((b & 3u) == 3u) { return w_u8(b) | (w_u8(b + 1u) << 8u); }
  return (W[b >> 2u] >> ((b & 3u) * 8u)) & 0xffffu;
}

/** Four bytes starting at byte b, little-endian. */
fn w_u32(b: u32) -> u32 {
  let s = (b & 3u) * 8u;
  let i = b >> 2u;
  if (s == 0u) { return W[i]; }
  return (W[i] >> s) | (W[i + 1u] << (32u - s));
}

fn w_f16(b: u32) -> f32 {
  return unpack2x16float(w_u16(b)).x;
}
