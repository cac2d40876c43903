// Activation rounding as llama.cpp's CPU matmul applies it before a dot product with quantized or F16
// weights: each value becomes what the quantized activation decodes to, written back as f32.
//   MODE_Q8_0: blocks of 32, d = amax / 127 (stored as f16), id = 127 / amax,
//              q = nearest-even(x * id)                                       -> q * f16(d)
//              (ggml-cpu's x86 quantize_row_q8_0, AVX/AVX2: not the scalar _ref's 1 / d and roundf)
//   MODE_Q8_K: blocks of 256, max = the first value of largest |x|, iscale = -127 / max,
//              q = MIN(127, nearest-even(iscale * x)), d = 1 / iscale (f32)     -> q * d
//   MODE_F16:  x rounded to the nearest f16 (ties to even; overflow to infinity)
// The q8 modes give each block BLOCK / 4 threads, one vec4 each, and find (amax, max) with a tree over
// workgroup memory. Params: n (values; a multiple of BLOCK in the q8 modes).
#if IN_PLACE
@group(0) @binding(1) var<storage, read_write> Y: array<{{ELEM}}>;
#else
@group(0) @binding(1) var<storage, read> X: array<{{ELEM}}>;
@group(0) @binding(2) var<storage, read_write> Y: array<{{ELEM}}>;
#endif

fn load(i: u32) -> {{ELEM}} {
#if IN_PLACE
  return Y[i];
#else
  return X[i];
#endif
}

/** f32 -> nearest f16 (ties to even) -> f32, without shader-f16 and without relying on how a driver
 *  rounds in pack2x16float. */
fn round_f16(x: f32) -> f32 {
  let a = abs(x);
  var r: f32;
  if (a >= 65520.0) {
    // Past the largest half, 65504: infinity (built from a's bits, as WGSL has no infinite constants).
    r = bitcast<f32>(0x7f800000u | (bitcast<u32>(a) & 0x80000000u));
  } else if (a >= 6.103515625e-5) {
    // Normal halves keep 10 of f32's 23 mantissa bits: round the low 13 to nearest even in the bits.
    let b = bitcast<u32>(a);
    r = bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & ~0x1fffu);
  } else {
    // Subnormal halves are multiples of 2^-24; both scalings are exact and round() ties to even.
    r = round(a * 16777216.0) / 16777216.0;
  }
  return select(r, -r, x < 0.0);
}

/** The rounding error of p = a * b (a * b - p exactly), by Veltkamp splitting: needs only correctly
 *  rounded multiplies and adds, not a fused fma (drivers may lower fma to a multiply and an add). */
fn mul_err(a: f32, b: f32, p: f32) -> f32 {
  let ca = 4097.0 * a;
  let ah = ca - (ca - a);
  let al = a - ah;
  let cb = 4097.0 * b;
  let bh = cb - (cb - b);
  let bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

/** a / b rounded as C rounds it: WGSL allows division 2.5 ulp, so the quotient gets one correction
 *  from its exact residual a - q * b. (Scales here stay far from overflow in the split.) */
fn div_rn(a: f32, b: f32) -> f32 {
  let q = a / b;
  let p = q * b;
  let r = (a - p) - mul_err(q, b, p);
  return q + r / b;
}

#if MODE_F16
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 256u + li;
  if (i >= P.n) { return; }
  Y[i] = round_f16(load(i));
}
#else
const BLOCK: u32 = {{BLOCK}}u;
const TPB: u32 = BLOCK / 4u; // threads per block

// (|value|, value, index) of the block's running winner: largest |value|, the first one on ties.
var<workgroup> red_abs: array<f32, 64>;
var<workgroup> red_val: array<f32, 64>;
var<workgroup> red_idx: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let v4 = (wg.x + wg.y * nwg.x) * 64u + li; // this thread's vec4
  let live = v4 * 4u < P.n;
  var x = vec4f(0.0);
  if (live) { x = load(v4); }
  var best_abs = abs(x.x);
  var best_val = x.x;
  var best_idx = v4 * 4u;
  for (var j = 1u; j < 4u; j++) {
    if (abs(x[j]) > best_abs) { best_abs = abs(x[j]); best_val = x[j]; best_idx = v4 * 4u + j; }
  }
  red_abs[li] = best_abs;
  red_val[li] = best_val;
  red_idx[li] = best_idx;
  let t = li % TPB;
  for (var s = TPB / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (t < s) {
      let o = li + s;
      if (red_abs[o] > red_abs[li] || (red_abs[o] == red_abs[li] && red_idx[o] < red_idx[li])) {
        red_abs[li] = red_abs[o];
        red_val[li] = red_val[o];
        red_idx[li] = red_idx[o];
      }
    }
  }
  workgroupBarrier();
  if (!live) { return; }
  let lead = li - t;
  let amax = red_abs[lead];
#if MODE_Q8_0
  // WGSL's round() goes to even, as _mm256_round_ps(_MM_ROUND_NEAREST) does.
  let d = div_rn(amax, 127.0);
  let id = select(0.0, div_rn(127.0, amax), amax != 0.0);
  Y[v4] = round(x * id) * round_f16(d);
#else
  if (amax == 0.0) { Y[v4] = vec4f(0.0); return; }
  let iscale = div_rn(-127.0, red_val[lead]);
  let d = div_rn(1.0, iscale);
  Y[v4] = min(round(iscale * x), vec4f(127.0)) * d;
#endif
}
#endif
