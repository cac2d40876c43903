// RMSNorm and LayerNorm as ggml's CPU backend computes them: sums in double (ggml_float), everything
// else in float (Math.fround after each step), then the weight multiply and bias add as separate ops.

const f = Math.fround;

/** ggml_rms_norm then ggml_mul by w (or 1 + w): rows of x [rows, n]. */
export function rmsNormRef(x: Float32Array, n: number, weight: Float32Array | null, eps: number, addOne = false): Float32Array {
  const out = new Float32Array(x.length);
  const epsF = f(eps);
  for (let r = 0; r * n < x.length; r++) {
    const o = r * n;
    let sum = 0; // double, like ggml_float
    for (let i = 0; i < n; i++) sum += f(x[o + i] * x[o + i]);
    const mean = f(sum / n);
    const scale = f(1 / f(Math.sqrt(f(mean + epsF))));
    for (let i = 0; i < n; i++) {
      let y = f(x[o + i] * scale);
      if (weight) y = f(y * (addOne ? f(1 + weight[i]) : weight[i]));
      out[o + i] = y;
    }
  }
  return out;
}

/** ggml_norm then ggml_mul by w and ggml_add of b: rows of x [rows, n]. */
export function layerNormRef(x: Float32Array, n: number, weight: Float32Array | null, bias: Float32Array | null, eps: number): Float32Array {
  const out = new Float32Array(x.length);
  const epsF = f(eps);
  for (let r = 0; r * n < x.length; r++) {
    const o = r * n;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += x[o + i];
    const mean = f(f(sum) / n); // ggml_vec_sum_f32 returns a float, divided in float
    let sum2 = 0;
    for (let i = 0; i < n; i++) {
      const v = f(x[o + i] - mean);
      sum2 += f(v * v);
    }
    const variance = f(sum2 / n);
    const scale = f(1 / f(Math.sqrt(f(variance + epsF))));
    for (let i = 0; i < n; i++) {
      let y = f(f(x[o + i] - mean) * scale);
      if (weight) y = f(y * weight[i]);
      if (bias) y = f(y + bias[i]);
      out[o + i] = y;
    }
  }
  return out;
}
