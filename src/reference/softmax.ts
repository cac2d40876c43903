// ggml_soft_max_ext (no mask) on the CPU: x scaled in float, max in float, exp in float, the sum in double,
// then every value multiplied by the float rounding of 1/sum.

const f = Math.fround;

export function softmaxRef(x: Float32Array, n: number, scale = 1): Float32Array {
  const out = new Float32Array(x.length);
  const s = f(scale);
  for (let o = 0; o < x.length; o += n) {
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, f(x[o + i] * s));
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = f(Math.exp(f(f(x[o + i] * s) - max)));
      out[o + i] = e;
      sum += e;
    }
    const inv = f(1 / sum);
    for (let i = 0; i < n; i++) out[o + i] = f(out[o + i] * inv);
  }
  return out;
}
