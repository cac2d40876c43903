// Tiled attention for many query rows (prefill, or a vision encoder with causal off). One workgroup
// per (tile of BR query rows, head); keys go by in tiles of BC held in workgroup memory (K, then V in
// the same buffer), with online softmax. A workgroup visits only the keys some row of its tile can see:
// tiles that are fully masked (past the causal diagonal, before the window) are never loaded.
// Thread (r, c): row r of the tile, lane c of NS over the head dim in the P·V phase.
// ACT_F16 (shader-f16): q and out are F16, everything in between f32.
#include "attention/common"

#if F16KV
@group(0) @binding(2) var<storage, read> kc: array<vec2u>;
@group(0) @binding(3) var<storage, read> vc: array<vec2u>;
#else
@group(0) @binding(2) var<storage, read> kc: array<vec4f>;
@group(0) @binding(3) var<storage, read> vc: array<vec4f>;
#endif
@group(0) @binding(1) var<storage, read> q: array<QV>;
@group(0) @binding(4) var<storage, read_write> out: array<QV>;

const BR: u32 = {{BR}}u;        // query rows per workgroup
const BC: u32 = {{BC}}u;        // keys per tile
const NS: u32 = {{NS}}u;        // threads per row
const D4MAX: u32 = {{D4MAX}}u;  // largest head dim / 4 of this tile shape; P.d4 is the actual one
const WG: u32 = BR * NS;
const NACC: u32 = D4MAX / NS;   // output vec4s per thread

var<workgroup> qs: array<vec4f, BR * D4MAX>;
var<workgroup> kv: array<vec4f, BC * D4MAX>;
var<workgroup> sc: array<f32, BR * BC>;   // scores
var<workgroup> pr: array<f32, BR * BC>;   // probabilities (separate: other lanes still read scores)

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let wid = wg.x + wg.y * nwg.x;
  let nTiles = (P.T + BR - 1u) / BR;
  if (wid >= nTiles * P.nHead) { return; }
  // Heads of one GQA group are neighbours in dispatch order, so they meet the same K/V in cache.
  let h = wid % P.nHead;
  let r0 = (wid / P.nHead) * BR;
  let kvh = h / P.nRep;
  let d4 = P.d4;

  for (var i = li; i < BR * d4; i += WG) {
    let r = r0 + i / d4;
    var v = vec4f(0.0);
    if (r < P.T) { v = vec4f(q[(r * P.nHead + h) * d4 + i % d4]) * P.scale; }
    qs[i] = v;
  }

  // Keys any row of the tile can see: [lo, hi).
  let rLast = min(r0 + BR, P.T) - 1u;
  var hi = P.kvLen;
  if (P.causal != 0u) { hi = min(hi, P.pos0 + rLast + 1u); }
  var lo = 0u;
  if (P.window != 0u && P.pos0 + r0 + 1u > P.window) { lo = P.pos0 + r0 + 1u - P.window; }

  let r = li / NS;
  let c = li % NS;
  var m = NEG;
  var l = 0.0;
  var acc: array<vec4f, NACC>;
  workgroupBarrier();

  for (var k0 = lo; k0 < hi; k0 += BC) {
    let n = min(BC, hi - k0);
    for (var i = li; i < BC * d4; i += WG) {
      let j = i / d4;
      var v = vec4f(0.0);
      if (j < n) { v = load_k(((k0 + j) * P.nKvHead + kvh) * d4 + i % d4); }
      kv[i] = v;
    }
    workgroupBarrier();
    for (var i = li; i < BR * BC; i += WG) {
      let rr = i / BC;
      let jj = i % BC;
      var d = 0.0;
      for (var cc = 0u; cc < d4; cc++) { d += dot(qs[rr * d4 + cc], kv[jj * d4 + cc]); }
      let ok = jj < n && visible(i32(k0 + jj), i32(P.pos0 + r0 + rr));
      sc[i] = select(NEG, logit(d), ok);
    }
    workgroupBarrier();
    // Every lane of a row finds the row's new max itself (BC reads, no extra barrier); the lanes
    // share the exps. Meanwhile V replaces K in workgroup memory.
    var mt = m;
    for (var jj = 0u; jj < BC; jj++) { mt = max(mt, sc[r * BC + jj]); }
    for (var jj = c; jj < BC; jj += NS) {
      let s = sc[r * BC + jj];
      pr[r * BC + jj] = select(0.0, exp(s - mt), s > NEG_HALF);
    }
    for (var i = li; i < BC * d4; i += WG) {
      let j = i / d4;
      var v = vec4f(0.0);
      if (j < n) { v = load_v(((k0 + j) * P.nKvHead + kvh) * d4 + i % d4); }
      kv[i] = v;
    }
    workgroupBarrier();
    let corr = exp(m - mt);
    m = mt;
    l *= corr;
    for (var a = 0u; a < NACC; a++) { acc[a] *= corr; }
    for (var jj = 0u; jj < n; jj++) {
      let p = pr[r * BC + jj];
      l += p;
      for (var a = 0u; a < NACC; a++) {
        let cc = c + a * NS;
        if (cc < d4) { acc[a] += p * kv[jj * d4 + cc]; }
      }
    }
    workgroupBarrier();
  }

  let row = r0 + r;
  if (row < P.T) {
    for (var a = 0u; a < NACC; a++) {
      let cc = c + a * NS;
      if (cc < d4) { out[(row * P.nHead + h) * d4 + cc] = QV(select(vec4f(0.0), acc[a] / l, l > 0.0)); }
    }
  }
}
