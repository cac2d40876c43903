// ConvNeXt V2's global response normalization in plain TypeScript (double sums, f32 result):
//   G[c] = sqrt(sum_t x[t, c]^2), N[c] = G[c] / (mean_c G + eps), y = gamma[c] * (x * N[c]) + beta[c] + x
// over channels-last x [T, C], all T rows pixels of one image.

export function grnRef(x: Float32Array, C: number, gamma: Float32Array, beta: Float32Array, eps = 1e-6): Float32Array {
  const T = x.length / C;
  const g = new Float64Array(C);
  for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) g[c] += x[t * C + c] * x[t * C + c];
  let mean = 0;
  for (let c = 0; c < C; c++) {
    g[c] = Math.sqrt(g[c]);
    mean += g[c];
  }
  mean /= C;
  const out = new Float32Array(x.length);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) {
      const v = x[t * C + c];
      out[t * C + c] = gamma[c] * (v * (g[c] / (mean + eps))) + beta[c] + v;
    }
  }
  return out;
}
