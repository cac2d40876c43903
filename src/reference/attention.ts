// Naive attention in double precision: the ground truth for the attention kernels.

export interface AttentionRefDims {
  T: number;
  nHead: number;
  nKvHead: number;
  headDim: number;
}

export interface AttentionRefOptions {
  kvLen: number;
  pos0: number;
  causal: boolean;
  scale?: number;
  slidingWindow?: number;
  softcap?: number;
}

/** q [T, nHead, headDim]; k, v caches [capacity, nKvHead, headDim] of which rows < kvLen are read.
 *  Query head h uses kv head floor(h / (nHead / nKvHead)). Row i is at position pos = pos0 + i and sees
 *  key j iff (not causal or j <= pos) and (no window or pos - j < window). logit = scale * q·k, then
 *  softcap * tanh(logit / softcap). A row that sees no key is 0. */
export function attentionRef(q: Float32Array, k: Float32Array, v: Float32Array, dims: AttentionRefDims, opts: AttentionRefOptions): Float32Array {
  const { T, nHead, nKvHead, headDim: D } = dims;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const window = opts.slidingWindow ?? 0;
  const softcap = opts.softcap ?? 0;
  const rep = nHead / nKvHead;
  const out = new Float32Array(T * nHead * D);
  const logits = new Float64Array(opts.kvLen);
  const seen = new Uint8Array(opts.kvLen);
  for (let i = 0; i < T; i++) {
    const pos = opts.pos0 + i;
    for (let h = 0; h < nHead; h++) {
      const kvh = Math.floor(h / rep);
      const qOff = (i * nHead + h) * D;
      let max = -Infinity;
      for (let j = 0; j < opts.kvLen; j++) {
        seen[j] = (!opts.causal || j <= pos) && (!window || pos - j < window) ? 1 : 0;
        if (!seen[j]) continue;
        const kOff = (j * nKvHead + kvh) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qOff + d] * k[kOff + d];
        let s = scale * dot;
        if (softcap) s = softcap * Math.tanh(s / softcap);
        logits[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      const acc = new Float64Array(D);
      for (let j = 0; j < opts.kvLen; j++) {
        if (!seen[j]) continue;
        const p = Math.exp(logits[j] - max);
        sum += p;
        const vOff = (j * nKvHead + kvh) * D;
        for (let d = 0; d < D; d++) acc[d] += p * v[vOff + d];
      }
      for (let d = 0; d < D; d++) out[qOff + d] = sum > 0 ? acc[d] / sum : 0;
    }
  }
  return out;
}
