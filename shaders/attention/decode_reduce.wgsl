// Combines flash-decoding partials: out = Σ_s e^(m_s - m) acc_s / Σ_s e^(m_s - m) l_s over the chunks s,
// m the largest chunk max. A thread per output vec4; a row whose chunks saw no visible key gets 0.
// `part` is attention/decode's scratch: partials, then (max, sum, -, -) from vec4 index statsAt.
@group(0) @binding(1) var<storage, read> part: array<vec4f>;
// OUT_F16 (shader-f16): out is F16, the combined f32 result rounded once.
#if OUT_F16
enable f16;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f16>>;
#else
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;
#endif

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * nwg.x) * 64u + li;
  if (i >= P.nRows * P.d4) { return; }
  let row = i / P.d4;
  var m = -3.0e38;
  for (var s = 0u; s < P.nSplit; s++) { m = max(m, part[P.statsAt + s * P.nRows + row].x); }
  var a = vec4f(0.0);
  var l = 0.0;
  for (var s = 0u; s < P.nSplit; s++) {
    let st = part[P.statsAt + s * P.nRows + row];
    let w = exp(st.x - m);
    a += w * part[s * P.nRows * P.d4 + i];
    l += w * st.y;
  }
#if OUT_F16
  out[i] = vec4<f16>(select(vec4f(0.0), a / l, l > 0.0));
#else
  out[i] = select(vec4f(0.0), a / l, l > 0.0);
#endif
}
