// Convolutions in plain TypeScript, summed in double and rounded to f32 once (the GPU sums in f32 in
// another order; tests allow for that). Weights are OIHW as PyTorch and GGUF store them.

/** Strided conv: x [Cin, H, W] ('chw') or [H, W, Cin] ('hwc'), w [Cout, Cin, KH, KW] -> [OH, OW, Cout]. */
export function conv2dRef(
  x: Float32Array, dims: { H: number; W: number; Cin: number; layout: 'chw' | 'hwc' },
  w: Float32Array, wdims: { Cout: number; KH: number; KW: number },
  bias: Float32Array | null, stride: number, padding: number,
): Float32Array {
  const { H, W, Cin, layout } = dims;
  const { Cout, KH, KW } = wdims;
  const OH = Math.floor((H + 2 * padding - KH) / stride) + 1;
  const OW = Math.floor((W + 2 * padding - KW) / stride) + 1;
  const at = layout === 'chw' ? (c: number, y: number, xx: number) => x[(c * H + y) * W + xx] : (c: number, y: number, xx: number) => x[(y * W + xx) * Cin + c];
  const out = new Float32Array(OH * OW * Cout);
  for (let oy = 0; oy < OH; oy++) {
    for (let ox = 0; ox < OW; ox++) {
      for (let co = 0; co < Cout; co++) {
        let s = bias ? bias[co] : 0;
        for (let ci = 0; ci < Cin; ci++) {
          for (let ky = 0; ky < KH; ky++) {
            const iy = oy * stride + ky - padding;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < KW; kx++) {
              const ix = ox * stride + kx - padding;
              if (ix < 0 || ix >= W) continue;
              s += w[((co * Cin + ci) * KH + ky) * KW + kx] * at(ci, iy, ix);
            }
          }
        }
        out[(oy * OW + ox) * Cout + co] = s;
      }
    }
  }
  return out;
}

/** Depthwise conv, stride 1, same size: x [H, W, C], w [C, 1, K, K], padding (K - 1) / 2 -> [H, W, C]. */
export function dwconv2dRef(x: Float32Array, H: number, W: number, C: number, w: Float32Array, K: number, bias: Float32Array | null): Float32Array {
  const pad = (K - 1) / 2;
  const out = new Float32Array(H * W * C);
  for (let oy = 0; oy < H; oy++) {
    for (let ox = 0; ox < W; ox++) {
      for (let c = 0; c < C; c++) {
        let s = bias ? bias[c] : 0;
        for (let ky = 0; ky < K; ky++) {
          const iy = oy + ky - pad;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < K; kx++) {
            const ix = ox + kx - pad;
            if (ix < 0 || ix >= W) continue;
            s += w[(c * K + ky) * K + kx] * x[(iy * W + ix) * C + c];
          }
        }
        out[(oy * W + ox) * C + c] = s;
      }
    }
  }
  return out;
}
