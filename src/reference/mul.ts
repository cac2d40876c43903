// ggml_mul with a broadcast row and ggml_scale: one float multiply per element.

/** out[i] = x[i] * w[i % w.length] */
export function mulRef(x: Float32Array, w: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.fround(x[i] * w[i % w.length]);
  return out;
}

/** out[i] = x[i] * s, with s rounded to float as ggml stores it in op params. */
export function scaleRef(x: Float32Array, s: number): Float32Array {
  const sf = Math.fround(s);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.fround(x[i] * sf);
  return out;
}
