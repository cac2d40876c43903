// Shared by the attention kernels: K/V loads for an F32 or packed-F16 cache, the mask and the logit
// transform. The including shader declares `kc` and `vc` (array<vec4f>, or array<vec2u> with F16KV) and
// has the params causal, window and softcap.
// ACT_F16 (shader-f16): q, and the output where the including shader says so, are F16 (vec4<f16>),
// read into and computed in f32; the cache stays F32 or packed F16 as above (F16KV).
#if ACT_F16
enable f16;
alias QV = vec4<f16>;
#else
alias QV = vec4f;
#endif

// Masked logits are a finite sentinel, not -inf: max() and exp() then never see inf - inf, and a row
// with no visible key ends with sum 0, which the kernels turn into an output of 0.
const NEG: f32 = -3.0e38;
const NEG_HALF: f32 = -1.0e38;

#if F16KV
// Two u32 words hold four halves; unpack2x16float is core WGSL, so this needs no shader-f16.
fn kv4(w: vec2u) -> vec4f {
  return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
}
fn load_k(i: u32) -> vec4f { return kv4(kc[i]); }
fn load_v(i: u32) -> vec4f { return kv4(vc[i]); }
#else
fn load_k(i: u32) -> vec4f { return kc[i]; }
fn load_v(i: u32) -> vec4f { return vc[i]; }
#endif

// Key j and a query at absolute position pos: causal needs j <= pos; a window needs pos - j < window
// (llama.cpp's standard SWA masks when pos - j >= n_swa).
fn visible(j: i32, pos: i32) -> bool {
  if (P.causal != 0u && j > pos) { return false; }
  if (P.window != 0u && pos - j >= i32(P.window)) { return false; }
  return true;
}

// `d` already carries the scale (divided by softcap when capping, as ggml folds it): gemma2's
// softcap * tanh(scale * qk / softcap). The clamp keeps tanh away from exp overflow in naive libms.
fn logit(d: f32) -> f32 {
  if (P.softcap > 0.0) { return P.softcap * tanh(clamp(d, -15.0, 15.0)); }
  return d;
}
