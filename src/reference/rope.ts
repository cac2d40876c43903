// Rotary position embedding as ggml defines it (ggml-cpu rope_f32, rope_yarn, ggml_rope_yarn_corr_dims),
// computed in double precision so it is the exact math the f32 kernel approximates. The op parameters
// are rounded to f32 first because ggml keeps them as floats in op_params.

export interface RopeYarnRef {
  extFactor: number;
  attnFactor: number;
  betaFast: number;
  betaSlow: number;
  nCtxOrig: number;
}

export interface RopeRefOptions {
  mode: 'norm' | 'neox';
  nDims: number;
  freqBase: number;
  freqScale?: number;
  /** Per-frequency divisors, at least nDims/2 of them. */
  freqFactors?: ArrayLike<number>;
  yarn?: RopeYarnRef;
}

const f32 = Math.fround;

/** The first and last pair index of YaRN's ramp (ggml_rope_yarn_corr_dims), in double precision. */
export function yarnCorrDimsRef(nDims: number, nCtxOrig: number, freqBase: number, betaFast: number, betaSlow: number): [number, number] {
  const corrDim = (nRot: number) => (nDims * Math.log(nCtxOrig / (nRot * 2 * Math.PI))) / (2 * Math.log(freqBase));
  return [Math.max(0, Math.floor(corrDim(betaFast))), Math.min(nDims - 1, Math.ceil(corrDim(betaSlow)))];
}

/** The rotation (cos, sin), already multiplied by the magnitude scale, of pair i at position pos. */
export function ropeAngleRef(pos: number, i: number, o: RopeRefOptions): { cos: number; sin: number } {
  const base = f32(o.freqBase);
  const freqScale = f32(o.freqScale ?? 1);
  const ff = o.freqFactors ? f32(o.freqFactors[i]) : 1;
  const thetaExtrap = (pos * Math.pow(base, (-2 * i) / o.nDims)) / ff;
  const thetaInterp = freqScale * thetaExtrap;
  let theta = thetaInterp;
  let mscale = o.yarn ? f32(o.yarn.attnFactor) : 1;
  const ext = o.yarn ? f32(o.yarn.extFactor) : 0;
  if (o.yarn && ext !== 0) {
    const [low, high] = yarnCorrDimsRef(o.nDims, o.yarn.nCtxOrig, base, f32(o.yarn.betaFast), f32(o.yarn.betaSlow));
    const y = (i - low) / Math.max(0.001, high - low);
    const rampMix = (1 - Math.min(1, Math.max(0, y))) * ext;
    theta = thetaInterp * (1 - rampMix) + thetaExtrap * rampMix;
    mscale *= 1 + 0.1 * Math.log(1 / freqScale);
  }
  return { cos: Math.cos(theta) * mscale, sin: Math.sin(theta) * mscale };
}

/** x is [T, nHead, headDim] row-major; positions has T entries. Dims from nDims on pass through. */
export function ropeRef(x: Float32Array, positions: ArrayLike<number>, nHead: number, headDim: number, o: RopeRefOptions): Float32Array {
  const T = positions.length;
  const out = new Float32Array(x);
  const half = o.nDims / 2;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const { cos, sin } = ropeAngleRef(positions[t], i, o);
      for (let h = 0; h < nHead; h++) {
        const row = (t * nHead + h) * headDim;
        // norm rotates adjacent pairs; neox rotates element i with element i + nDims/2
        const a = o.mode === 'norm' ? row + 2 * i : row + i;
        const b = o.mode === 'norm' ? a + 1 : a + half;
        const x0 = x[a], x1 = x[b];
        out[a] = x0 * cos - x1 * sin;
        out[b] = x0 * sin + x1 * cos;
      }
    }
  }
  return out;
}

/** The rope_freqs factors llama.cpp's converter writes for Llama-3.1/3.2 (rope_scaling type "llama3"). */
export function llama3FreqFactorsRef(factor: number, lowFreqFactor: number, highFreqFactor: number, oldContextLen: number, dim: number, base: number): number[] {
  const lowWavelen = oldContextLen / lowFreqFactor;
  const highWavelen = oldContextLen / highFreqFactor;
  const out: number[] = [];
  for (let k = 0; k < dim; k += 2) {
    const freq = 1 / Math.pow(base, k / dim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out.push(1);
    else if (wavelen > lowWavelen) out.push(factor);
    else {
      const smooth = (oldContextLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      out.push(1 / ((1 - smooth) / factor + smooth));
    }
  }
  return out;
}
