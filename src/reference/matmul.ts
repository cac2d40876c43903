// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]) (+ prev[m, n]) over already-dequantized weights,
// summed in double precision so the only difference from a GPU result is the GPU's own f32 rounding.

export interface MatmulRefOptions {
  bias?: Float32Array;
  /** The output's previous contents, for accumulate (out += x · Wᵀ). */
  prev?: Float32Array;
}

export function matmulRef(x: Float32Array, w: Float32Array, M: number, N: number, K: number, opts: MatmulRefOptions = {}): Float32Array {
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      if (opts.bias) s += opts.bias[n];
      if (opts.prev) s += opts.prev[m * N + n];
      out[m * N + n] = s;
    }
  }
  return out;
}
