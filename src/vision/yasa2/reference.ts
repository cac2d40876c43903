// The whole yasa2 encoder in plain TypeScript, in double precision, written from the model's
// definition rather than from the GPU path: channels-first maps (C x H x W, as PyTorch holds them),
// convolutions as loops, LayerNorm over the channel axis with (var + eps), exact GELU, GRN with
// "+ 1e-6" on the mean, the position table built the way numpy does (a 50 x 50 meshgrid flattened,
// then sliced), adaptive pooling by window means. Slow; for tiny configs in tests.

import { erf } from '../../reference/activation.ts';
import type { Yasa2Config } from './config.ts';
import { YASA2_TENSORS as TN } from './names.ts';

type Values = (name: string) => Float32Array | undefined;

interface Map3 { c: number; h: number; w: number; d: Float64Array } // d[(c * h + y) * w + x]

export function yasa2Reference(cfg: Yasa2Config, values: Values, pixels: Float32Array): Float64Array {
  const need = (name: string): Float32Array => {
    const v = values(name);
    if (!v) throw new Error(`yasa2 reference: no tensor ${name}`);
    return v;
  };
  const S = cfg.imageSize;
  let x: Map3 = { c: 3, h: S, w: S, d: Float64Array.from(pixels) };
  x = conv(x, need(TN.patchW), need(TN.patchB), cfg.widths[0], cfg.patchSize, cfg.patchSize);
  x = layerNormChannels(x, need(TN.patchLnW), need(TN.patchLnB), cfg.eps);
  cfg.depths.forEach((depth, s) => {
    const c = cfg.widths[s];
    if (s > 0) {
      x = layerNormChannels(x, need(TN.downLn(s, 'weight')), need(TN.downLn(s, 'bias')), cfg.eps);
      x = conv(x, need(TN.downConv(s, 'weight')), need(TN.downConv(s, 'bias')), c, 2, 2);
    }
    for (let b = 0; b < depth; b++) {
      const v = (part: 'dw' | 'ln' | 'pw1' | 'grn' | 'pw2', wb: 'weight' | 'bias') => need(TN.block(s, b, part, wb));
      let t = depthwise7(x, v('dw', 'weight'), v('dw', 'bias'));
      t = layerNormChannels(t, v('ln', 'weight'), v('ln', 'bias'), cfg.eps);
      let u = pointwise(t, v('pw1', 'weight'), v('pw1', 'bias'), 4 * c);
      for (let i = 0; i < u.d.length; i++) u.d[i] = 0.5 * u.d[i] * (1 + erf(u.d[i] / Math.SQRT2));
      u = grn(u, v('grn', 'weight'), v('grn', 'bias'));
      const y = pointwise(u, v('pw2', 'weight'), v('pw2', 'bias'), c);
      for (let i = 0; i < x.d.length; i++) x.d[i] += y.d[i];
    }
  });

  // Tokens in row-major order of the final map; token t adds row t of the 50 x 50 table.
  const C = x.c, n = x.h * x.w;
  const table = numpyStylePositionTable(C, cfg.posGridSide);
  for (let t = 0; t < n; t++) for (let ch = 0; ch < C; ch++) x.d[ch * n + t] += table[t][ch];

  // Adaptive average pool to pooledSide x pooledSide (the sizes divide).
  const P = cfg.pooledSide, k = x.h / P;
  const tokens: Float64Array[] = [];
  for (let py = 0; py < P; py++) {
    for (let px = 0; px < P; px++) {
      const tok = new Float64Array(C);
      for (let ch = 0; ch < C; ch++) {
        let s = 0;
        for (let yy = 0; yy < k; yy++) for (let xx = 0; xx < k; xx++) s += x.d[(ch * x.h + py * k + yy) * x.w + px * k + xx];
        tok[ch] = s / (k * k);
      }
      tokens.push(tok);
    }
  }
  const out = new Float64Array(P * P * cfg.projOut);
  const w0 = need(TN.mm0W), b0 = values(TN.mm0B), w2 = need(TN.mm2W), b2 = values(TN.mm2B);
  tokens.forEach((tok, i) => {
    const h = new Float64Array(cfg.projHidden);
    for (let j = 0; j < cfg.projHidden; j++) {
      let s = b0 ? b0[j] : 0;
      for (let ch = 0; ch < C; ch++) s += w0[j * C + ch] * tok[ch];
      h[j] = 0.5 * s * (1 + erf(s / Math.SQRT2));
    }
    for (let j = 0; j < cfg.projOut; j++) {
      let s = b2 ? b2[j] : 0;
      for (let q = 0; q < cfg.projHidden; q++) s += w2[j * cfg.projHidden + q] * h[q];
      out[i * cfg.projOut + j] = s;
    }
  });
  return out;
}

/** Conv with kernel = stride = k, no padding, OIHW weights. */
function conv(x: Map3, w: Float32Array, b: Float32Array, cout: number, k: number, stride: number): Map3 {
  const h = Math.floor((x.h - k) / stride) + 1, wd = Math.floor((x.w - k) / stride) + 1;
  const d = new Float64Array(cout * h * wd);
  for (let o = 0; o < cout; o++) {
    for (let oy = 0; oy < h; oy++) {
      for (let ox = 0; ox < wd; ox++) {
        let s = b[o];
        for (let ci = 0; ci < x.c; ci++) {
          for (let ky = 0; ky < k; ky++) {
            for (let kx = 0; kx < k; kx++) s += w[((o * x.c + ci) * k + ky) * k + kx] * x.d[(ci * x.h + oy * stride + ky) * x.w + ox * stride + kx];
          }
        }
        d[(o * h + oy) * wd + ox] = s;
      }
    }
  }
  return { c: cout, h, w: wd, d };
}

function depthwise7(x: Map3, w: Float32Array, b: Float32Array): Map3 {
  const d = new Float64Array(x.d.length);
  for (let ch = 0; ch < x.c; ch++) {
    for (let y = 0; y < x.h; y++) {
      for (let xx = 0; xx < x.w; xx++) {
        let s = b[ch];
        for (let ky = 0; ky < 7; ky++) {
          const iy = y + ky - 3;
          if (iy < 0 || iy >= x.h) continue;
          for (let kx = 0; kx < 7; kx++) {
            const ix = xx + kx - 3;
            if (ix < 0 || ix >= x.w) continue;
            s += w[ch * 49 + ky * 7 + kx] * x.d[(ch * x.h + iy) * x.w + ix];
          }
        }
        d[(ch * x.h + y) * x.w + xx] = s;
      }
    }
  }
  return { ...x, d };
}

function layerNormChannels(x: Map3, w: Float32Array, b: Float32Array, eps: number): Map3 {
  const n = x.h * x.w;
  const d = new Float64Array(x.d.length);
  for (let p = 0; p < n; p++) {
    let mean = 0;
    for (let ch = 0; ch < x.c; ch++) mean += x.d[ch * n + p];
    mean /= x.c;
    let v = 0;
    for (let ch = 0; ch < x.c; ch++) v += (x.d[ch * n + p] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / x.c + eps);
    for (let ch = 0; ch < x.c; ch++) d[ch * n + p] = (x.d[ch * n + p] - mean) * inv * w[ch] + b[ch];
  }
  return { ...x, d };
}

/** Linear over channels at every pixel (a 1 x 1 conv): w [cout, cin]. */
function pointwise(x: Map3, w: Float32Array, b: Float32Array, cout: number): Map3 {
  const n = x.h * x.w;
  const d = new Float64Array(cout * n);
  for (let o = 0; o < cout; o++) {
    for (let p = 0; p < n; p++) d[o * n + p] = b[o];
    for (let ci = 0; ci < x.c; ci++) {
      const wv = w[o * x.c + ci];
      for (let p = 0; p < n; p++) d[o * n + p] += wv * x.d[ci * n + p];
    }
  }
  return { c: cout, h: x.h, w: x.w, d };
}

function grn(x: Map3, gamma: Float32Array, beta: Float32Array): Map3 {
  const n = x.h * x.w;
  const g = new Float64Array(x.c);
  for (let ch = 0; ch < x.c; ch++) {
    let s = 0;
    for (let p = 0; p < n; p++) s += x.d[ch * n + p] ** 2;
    g[ch] = Math.sqrt(s);
  }
  const mean = g.reduce((a, v) => a + v, 0) / x.c;
  const d = new Float64Array(x.d.length);
  for (let ch = 0; ch < x.c; ch++) {
    const nx = g[ch] / (mean + 1e-6);
    for (let p = 0; p < n; p++) {
      const v = x.d[ch * n + p];
      d[ch * n + p] = gamma[ch] * (v * nx) + beta[ch] + v;
    }
  }
  return { ...x, d };
}

/** MAE's table as numpy builds it: grid = meshgrid(w, h) (so grid[0] holds the column), emb_h from
 *  grid[0] and emb_w from grid[1] concatenated, flattened row-major over the side x side grid. */
function numpyStylePositionTable(dim: number, side: number): Float64Array[] {
  const oneD = (d: number, pos: number): number[] => {
    const omega = Array.from({ length: d / 2 }, (_, i) => 1 / 10000 ** (i / (d / 2)));
    return [...omega.map((o) => Math.sin(pos * o)), ...omega.map((o) => Math.cos(pos * o))];
  };
  const rows: Float64Array[] = [];
  for (let i = 0; i < side; i++) {
    for (let j = 0; j < side; j++) {
      const grid0 = j, grid1 = i; // np.meshgrid(grid_w, grid_h)[0][i][j] = grid_w[j]
      rows.push(Float64Array.from([...oneD(dim / 2, grid0), ...oneD(dim / 2, grid1)]));
    }
  }
  return rows;
}
