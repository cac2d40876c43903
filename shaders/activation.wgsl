// Activations, plain (y = act(x)) and gated (y = act(gate) * up), elementwise over rows.
//   ACT_SILU        silu(x) = x / (1 + exp(-x))
//   ACT_GELU_TANH   0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))), evaluated as x / (1 + exp(-2u)),
//                   the same function without the cancellation of 1 + tanh for x << 0
//   ACT_GELU_ERF    0.5 x (1 + erf(x / sqrt 2)), with 1 + erf(z) = erfc(-z) from a rational-exponential fit
//   ACT_GELU_QUICK  x sigmoid(1.702 x) = x / (1 + exp(-1.702 x)) (ggml_gelu_quick; CLIP's quick_gelu)
//   ACT_GELU_TABLE  llama.cpp's CPU GELU: x <= -10 -> 0, x >= 10 -> x, else the f16 table entry at the
//                   f16 rounding of x (table T: 65536 f16 values, two per u32), bit-exact without shader-f16
// GATED: gate at X[row * g_stride + g_off + col], up at U[row * u_stride + u_off + col] (two tensors, or one
// fused [rows, 2n] tensor bound twice: gate half first, then up, as ggml_glu without swap).
// VEC4: all of n, strides and offsets are multiples of 4 and counted in vec4s. INPLACE (plain only): y over x.
// B_U, B_T, B_Y: binding numbers of the optional buffers.
// F16 (shader-f16): x, up and y are stored as f16 (S); every activation is still evaluated in f32 (V)
// and rounded to f16 once on the store.

#if VEC4
alias V = vec4f;
#if F16
alias S = vec4<f16>;
#endif
#else
alias V = f32;
#if F16
alias S = f16;
#endif
#endif
#if F16
enable f16;
#else
alias S = V;
#endif

#if INPLACE
@group(0) @binding(1) var<storage, read_write> X: array<S>;
#else
@group(0) @binding(1) var<storage, read> X: array<S>;
@group(0) @binding({{B_Y}}) var<storage, read_write> Y: array<S>;
#endif
#if GATED
@group(0) @binding({{B_U}}) var<storage, read> U: array<S>;
#endif
#if ACT_GELU_TABLE
@group(0) @binding({{B_T}}) var<storage, read> T: array<u32>;
#endif

const SQRT_2_OVER_PI = 0.79788456080286535587989211986876;
const GELU_COEF_A = 0.044715;
const SQRT_1_2 = 0.70710678118654752440084436210484;

fn silu1(x: f32) -> f32 {
  return x / (1.0 + exp(-x));
}

// 0.5 x (1 + tanh(u)) == x / (1 + exp(-2u)); exp overflowing to +inf for x << 0 gives -0 as ggml does.
fn gelu_tanh1(x: f32) -> f32 {
  let u = SQRT_2_OVER_PI * x * (1.0 + GELU_COEF_A * x * x);
  return x / (1.0 + exp(-2.0 * u));
}

// erfc(a) for a >= 0: t exp(-a^2 + P(t)), t = 1 / (1 + a/2), a Chebyshev fit with relative error < 1.2e-7.
fn erfc_pos(a: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * a);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
        + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-a * a + p);
}

fn gelu_erf1(x: f32) -> f32 {
  let z = x * SQRT_1_2;
  // 1 + erf(z): erfc(-z) for z < 0 keeps its relative accuracy; 2 - erfc(z) for z >= 0.
  let e = erfc_pos(abs(z));
  let one_plus_erf = select(2.0 - e, e, z < 0.0);
  return 0.5 * x * one_plus_erf;
}

// exp overflowing to +inf for x << 0 gives -0, as ggml's x * (1 / (1 + expf(-1.702 x))) does.
fn gelu_quick1(x: f32) -> f32 {
  return x / (1.0 + exp(-1.702 * x));
}

#include "f16_bits"

#if ACT_GELU_TABLE
fn gelu_table1(x: f32) -> f32 {
  if (x <= -10.0) { return 0.0; }
  if (x >= 10.0) { return x; }
  let h = f16_bits_rne(x);
  return f16_bits_to_f32((T[h >> 1u] >> ((h & 1u) * 16u)) & 0xffffu);
}
#endif

fn act1(x: f32) -> f32 {
#if ACT_SILU
  return silu1(x);
#elif ACT_GELU_TANH
  return gelu_tanh1(x);
#elif ACT_GELU_ERF
  return gelu_erf1(x);
#elif ACT_GELU_QUICK
  return gelu_quick1(x);
#elif ACT_GELU_TABLE
  return gelu_table1(x);
#endif
}

#if VEC4
fn act(v: V) -> V { return vec4f(act1(v.x), act1(v.y), act1(v.z), act1(v.w)); }
#else
fn act(v: V) -> V { return act1(v); }
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 256u + li;
  if (i >= P.total) { return; }
#if GATED
  let row = i / P.n;
  let col = i - row * P.n;
  let g = V(X[row * P.g_stride + P.g_off + col]);
  var y = act(g) * V(U[row * P.u_stride + P.u_off + col]);
#if ACT_GELU_TABLE
  y = select(y, V(0.0), g <= V(-10.0)); // ggml stores +0 there whatever up is, not 0 * up
#endif
#else
  let y = act(V(X[i]));
#endif
#if INPLACE
  X[i] = S(y);
#else
  Y[i] = S(y);
#endif
}
