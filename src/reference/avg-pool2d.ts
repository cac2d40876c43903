// 2-D average pooling as ggml's CPU backend computes it for GGML_OP_POOL_AVG with kernel = stride = k and
// no padding: an f32 running sum over the window (rows, then columns), divided by k * k.

const f = Math.fround;

/** x [H, W, C] (channels last) -> [floor(H / k), floor(W / k), C]. */
export function avgPool2dRef(x: Float32Array, H: number, W: number, C: number, k: number): Float32Array {
  const Ho = Math.floor(H / k), Wo = Math.floor(W / k);
  const out = new Float32Array(Ho * Wo * C);
  const kk = f(k * k);
  for (let oy = 0; oy < Ho; oy++) {
    for (let ox = 0; ox < Wo; ox++) {
      for (let c = 0; c < C; c++) {
        let sum = 0;
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) sum = f(sum + x[((oy * k + ky) * W + ox * k + kx) * C + c]);
        }
        out[(oy * Wo + ox) * C + c] = f(sum / kk);
      }
    }
  }
  return out;
}
