// Rotary position embedding (ggml's rope_f32 with freq factors and YaRN), x [T, nHead, headDim] -> out.
//
// A workgroup takes one token and a group of heads. Each lane computes the rotation of one frequency
// pair once and applies it to several heads, so the angle math below is paid per (token, pair), not per
// element. That math is careful because f32 alone is not enough: at position 131071 the angle is ~1e5
// rad, where one f32 ulp of the frequency is already ~1e-2 rad and GPU sin/cos are only specified on
// [-pi, pi]. So the frequency (in turns per position) is built in double-float (hi + lo pairs), the
// product with the integer position is formed from exact partial products, reduced modulo one turn
// exactly, and sin/cos are evaluated by polynomial on [-pi/4, pi/4]. Every product that matters is
// exact, so a driver that contracts a*b+c into fma computes the same values.
//
// Defines: NEOX (pairs (i, i + nDims/2) instead of (2i, 2i+1)), POS_I32 (signed positions),
// FREQ_FACTORS (divide frequency i by ff[i]), YARN (ramp between interpolated and extrapolated
// frequency), INPLACE (x is read from out: one read-write binding), OUT_F16 (out is F16 for an F16 KV
// cache, written as packed u32 words with core pack2x16float, so no shader-f16 is needed; each lane
// owns whole words: two consecutive pairs, hence nDims % 4 == 0, even headDim and outOffset).
// X_F16 (shader-f16): x and out are F16 (X_T = OUT_T = f16), element by element on the F32 layout's
// path; the angle math and the rotation stay f32 and each output is rounded to f16 once.

#if X_F16
enable f16;
#endif

#if INPLACE
@group(0) @binding(1) var<storage, read> pos: array<{{POS_T}}>;
#if FREQ_FACTORS
@group(0) @binding(2) var<storage, read> ff: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<{{OUT_T}}>;
#else
@group(0) @binding(2) var<storage, read_write> out: array<{{OUT_T}}>;
#endif
#else
@group(0) @binding(1) var<storage, read> x: array<{{X_T}}>;
@group(0) @binding(2) var<storage, read> pos: array<{{POS_T}}>;
#if FREQ_FACTORS
@group(0) @binding(3) var<storage, read> ff: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<{{OUT_T}}>;
#else
@group(0) @binding(3) var<storage, read_write> out: array<{{OUT_T}}>;
#endif
#endif

const WG: u32 = 64u;

fn load(i: u32) -> f32 {
#if INPLACE
  return f32(out[i]);
#else
  return f32(x[i]);
#endif
}

// ---- double-float arithmetic: a value is vec2f(hi, lo) with |lo| <= ulp(hi)/2 ----------------

// hi keeps the top 12 significant bits, so products of two halves are exact in f32.
fn split(a: f32) -> vec2f {
  let hi = bitcast<f32>(bitcast<u32>(a) & 0xfffff000u);
  return vec2f(hi, a - hi);
}

fn twoSum(a: f32, b: f32) -> vec2f {
  let s = a + b;
  let bb = s - a;
  return vec2f(s, (a - (s - bb)) + (b - bb));
}

// |a| >= |b|
fn fastTwoSum(a: f32, b: f32) -> vec2f {
  let s = a + b;
  return vec2f(s, b - (s - a));
}

// a * b exactly, as a double-float
fn exactProd(a: f32, b: f32) -> vec2f {
  let x = split(a);
  let y = split(b);
  // four exact partial products; only the final sum of the small error terms rounds (~2^-48 relative)
  let s1 = twoSum(x.x * y.x, x.x * y.y);
  let s2 = twoSum(s1.x, x.y * y.x);
  let s3 = twoSum(s2.x, x.y * y.y);
  return fastTwoSum(s3.x, s1.y + s2.y + s3.y);
}

fn dfMul(a: vec2f, b: vec2f) -> vec2f {
  let p = exactProd(a.x, b.x);
  return fastTwoSum(p.x, p.y + (a.x * b.y + a.y * b.x));
}

fn dfAdd(a: vec2f, b: vec2f) -> vec2f {
  let s = twoSum(a.x, b.x);
  return fastTwoSum(s.x, s.y + a.y + b.y);
}

fn dfDivF(a: vec2f, d: f32) -> vec2f {
  let q = a.x / d;
  let p = exactProd(q, d);
  let r = ((a.x - p.x) - p.y) + a.y; // a.x - p.x is exact: the two are within a few ulps
  return fastTwoSum(q, r / d);
}

// ---- the rotation of pair i at position p -------------------------------------------------------

// Frequency of pair i in turns per position: base^(-2i/nDims) / (2 pi) / ff[i] * yarn mix.
fn turnsPerPos(i: u32) -> vec2f {
  var v = vec2f(P.invTwoPiHi, P.invTwoPiLo);
  var b = vec2f(P.thetaScaleHi, P.thetaScaleLo);
  var e = i;
  while (e != 0u) {
    if ((e & 1u) != 0u) { v = dfMul(v, b); }
    e = e >> 1u;
    if (e != 0u) { b = dfMul(b, b); }
  }
#if FREQ_FACTORS
  v = dfDivF(v, ff[i]);
#endif
  // theta = theta_extrap * (freqScale * (1 - mix) + mix) = theta_extrap * (freqScale + ramp * ext * (1 - freqScale));
  // without YaRN mix is 0. ext * (1 - freqScale) comes from the host as a double-float.
  var m = vec2f(P.freqScale, 0.0);
#if YARN
  // ggml's ramp 1 - clamp((i - low) / max(0.001, high - low), 0, 1) with integer corr dims, written as the
  // exact ratio (high - i) / (high - low): no error-free sum involves a compile-time constant, which some
  // shader optimizers (SwiftShader's) fold away.
  let fi = f32(i);
  if (fi <= P.corrLow) {
    m = dfAdd(m, vec2f(P.extOneMinusScaleHi, P.extOneMinusScaleLo));
  } else if (fi < P.corrHigh) {
    let ramp = dfDivF(vec2f(P.corrHigh - fi, 0.0), P.corrHigh - P.corrLow);
    m = dfAdd(m, dfMul(ramp, vec2f(P.extOneMinusScaleHi, P.extOneMinusScaleLo)));
  }
#endif
  return dfMul(v, m);
}

// p * v modulo one turn, in [-0.5, 0.5]. Exact partial products: p = ph*4096 + pl (12 bits each) and
// v.x = a + b (12 significant bits each), so ph*a, ph*b, pl*a, pl*b are exact and so are their fracts.
// Exact for p < 2^24.
fn reduceTurns(p: u32, v: vec2f) -> f32 {
  let ph = f32(p >> 12u) * 4096.0;
  let pl = f32(p & 4095u);
  let ab = split(v.x);
  let t1 = ph * ab.x;
  let t2 = ph * ab.y;
  let t3 = pl * ab.x;
  let t4 = pl * ab.y;
  let t5 = f32(p) * v.y;
  let s = fract(t1) + fract(t2) + fract(t3) + fract(t4) + fract(t5);
  return s - round(s);
}

// (cos, sin) of 2 pi f for f in [-0.5, 0.5]: quadrant from f, Taylor polynomials on [-pi/4, pi/4]
// (truncation error below 1e-9 there).
fn cosSinTurns(f: f32) -> vec2f {
  let q = round(f * 4.0);
  let r = (f - q * 0.25) * 6.2831853071795864;
  let r2 = r * r;
  let s = r * (1.0 + r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0)))));
  let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0 + r2 * (-1.0 / 3628800.0)))));
  switch (i32(q) & 3) {
    case 0: { return vec2f(c, s); }
    case 1: { return vec2f(-s, c); }
    case 2: { return vec2f(-c, -s); }
    default: { return vec2f(s, -c); }
  }
}

fn cosSin(i: u32, rawPos: {{POS_T}}) -> vec2f {
#if POS_I32
  let p = u32(abs(rawPos));
  let sign = select(1.0, -1.0, rawPos < 0);
#else
  let p = rawPos;
  let sign = 1.0;
#endif
  let cs = cosSinTurns(reduceTurns(p, turnsPerPos(i)));
  return vec2f(cs.x, sign * cs.y) * P.mscale;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = wg.x + wg.y * nwg.x;
  if (g >= P.nTok * P.groupsPerTok) { return; }
  let t = g / P.groupsPerTok;
  let h0 = (g % P.groupsPerTok) * P.headsPerGroup;
  let h1 = min(h0 + P.headsPerGroup, P.nHead);
  let half = P.nDims / 2u;
  let rawPos = pos[t];
  let tokBase = t * P.nHead * P.headDim;
#if OUT_F16
  // lane k: pairs (2u, 2u + 1) for u = k % (half / 2), so every u32 word of out has one writer
  let nUnits = half / 2u;
  for (var k = li; k < nUnits * P.hStride; k += WG) {
    let i = 2u * (k % nUnits);
    let c0 = cosSin(i, rawPos);
    let c1 = cosSin(i + 1u, rawPos);
    for (var h = h0 + k / nUnits; h < h1; h += P.hStride) {
      let row = tokBase + h * P.headDim;
#if NEOX
      let a = row + i; // pairs (a, a + half) and (a + 1, a + 1 + half)
      let x0 = load(a);
      let x1 = load(a + half);
      let x2 = load(a + 1u);
      let x3 = load(a + 1u + half);
      out[(P.outOffset + a) / 2u] = pack2x16float(vec2f(x0 * c0.x - x1 * c0.y, x2 * c1.x - x3 * c1.y));
      out[(P.outOffset + a + half) / 2u] = pack2x16float(vec2f(x0 * c0.y + x1 * c0.x, x2 * c1.y + x3 * c1.x));
#else
      let a = row + 2u * i; // pairs (a, a + 1) and (a + 2, a + 3)
      let x0 = load(a);
      let x1 = load(a + 1u);
      let x2 = load(a + 2u);
      let x3 = load(a + 3u);
      let w = (P.outOffset + a) / 2u;
      out[w] = pack2x16float(vec2f(x0 * c0.x - x1 * c0.y, x0 * c0.y + x1 * c0.x));
      out[w + 1u] = pack2x16float(vec2f(x2 * c1.x - x3 * c1.y, x2 * c1.y + x3 * c1.x));
#endif
    }
  }
  // dims past nDims pass through, a word (two elements) at a time
  let nTailWords = (P.headDim - P.nDims) / 2u;
  for (var k = li; k < nTailWords * (h1 - h0); k += WG) {
    let e = tokBase + (h0 + k / nTailWords) * P.headDim + P.nDims + 2u * (k % nTailWords);
    out[(P.outOffset + e) / 2u] = pack2x16float(vec2f(x[e], x[e + 1u]));
  }
#else
  // lane k: pair k % half, heads h0 + k / half, then every hStride-th head
  for (var k = li; k < half * P.hStride; k += WG) {
    let i = k % half;
    let cs = cosSin(i, rawPos);
    for (var h = h0 + k / half; h < h1; h += P.hStride) {
#if NEOX
      let a = tokBase + h * P.headDim + i;
      let b = a + half;
#else
      let a = tokBase + h * P.headDim + 2u * i;
      let b = a + 1u;
#endif
      let x0 = load(a);
      let x1 = load(b);
      out[P.outOffset + a] = {{OUT_T}}(x0 * cs.x - x1 * cs.y);
      out[P.outOffset + b] = {{OUT_T}}(x0 * cs.y + x1 * cs.x);
    }
  }
#if !INPLACE
  // dims past nDims pass through
  let nTail = P.headDim - P.nDims;
  for (var k = li; k < nTail * (h1 - h0); k += WG) {
    let e = tokBase + (h0 + k / nTail) * P.headDim + P.nDims + k % nTail;
    out[P.outOffset + e] = {{OUT_T}}(x[e]);
  }
#endif
#endif
}
