// Flash-decoding. One workgroup per (kv chunk, kv head, query set): the query set is up to M queries
// that share the kv head (the heads of a GQA group, for one or a few rows), so each K/V row is read once
// for all of them. Keys go by in tiles of WG with online softmax. With one chunk (nSplit 1) the
// workgroup writes the normalised output to `dst`; otherwise `dst` is scratch that takes an unnormalised
// partial per (chunk, query) and, from vec4 index statsAt on, (max, sum, -, -) per (chunk, query) for
// attention/decode_reduce to combine. Both cases are one pipeline (the branch is uniform).
// ACT_F16: q is F16; DST_F16 (with one chunk only): dst is the F16 output. Partials stay f32.
#include "attention/common"

#if F16KV
@group(0) @binding(2) var<storage, read> kc: array<vec2u>;
@group(0) @binding(3) var<storage, read> vc: array<vec2u>;
#else
@group(0) @binding(2) var<storage, read> kc: array<vec4f>;
@group(0) @binding(3) var<storage, read> vc: array<vec4f>;
#endif
@group(0) @binding(1) var<storage, read> q: array<QV>;
#if DST_F16
@group(0) @binding(4) var<storage, read_write> dst: array<vec4<f16>>;
#else
@group(0) @binding(4) var<storage, read_write> dst: array<vec4f>;
#endif

const WG: u32 = 64u;            // threads, and keys per tile
const M: u32 = {{M}}u;          // queries per workgroup

// Queries during the tiles, then the per-group partial outputs (groups * d4 <= WG).
var<workgroup> buf: array<vec4f, WG * M>;
// Scores, then probabilities, of the current tile; at the end the per-group sums.
var<workgroup> sc: array<f32, WG * M>;
var<workgroup> mx: array<f32, M>;    // running max per query
var<workgroup> cr: array<f32, M>;    // this tile's rescale of the running sums

// Query qi of a kv head's T * nRep queries: row qi / nRep, head kvh * nRep + qi % nRep.
fn q_row(qi: u32, kvh: u32) -> u32 {
  return (qi / P.nRep) * P.nHead + kvh * P.nRep + qi % P.nRep;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let wid = wg.x + wg.y * nwg.x;
  if (wid >= P.nSplit * P.nKvHead * P.nQSets) { return; }
  let split = wid % P.nSplit;
  let kvh = (wid / P.nSplit) % P.nKvHead;
  let q0 = (wid / (P.nSplit * P.nKvHead)) * M;
  let nq = P.T * P.nRep;
  // The head dim is a runtime value (one pipeline serves every model's head dim); d4 <= WG.
  let d4 = P.d4;
  let groups = WG / d4;          // key groups in the P·V phase (thread = group * d4 + lane)
  let kStart = P.lo + split * P.chunk;
  let kEnd = min(kStart + P.chunk, P.hi);

  for (var i = li; i < M * d4; i += WG) {
    let qi = q0 + i / d4;
    var v = vec4f(0.0);
    if (qi < nq) { v = vec4f(q[q_row(qi, kvh) * d4 + i % d4]) * P.scale; }
    buf[i] = v;
  }
  if (li < M) { mx[li] = NEG; }
  workgroupBarrier();

  let lane = li % d4;
  let grp = li / d4;
  var acc: array<vec4f, M>;
  var lsum: array<f32, M>;

  for (var k0 = kStart; k0 < kEnd; k0 += WG) {
    let n = min(WG, kEnd - k0);
    // Scores: a thread per key, every query of the set against it.
    if (li < n) {
      let j = k0 + li;
      let base = (j * P.nKvHead + kvh) * d4;
      // Zeroed by hand: SwiftShader was seen to keep the previous tile's sums in a loop-body var.
      var d: array<f32, M>;
      for (var m = 0u; m < M; m++) { d[m] = 0.0; }
      for (var c = 0u; c < d4; c++) {
        let k = load_k(base + c);
        for (var m = 0u; m < M; m++) { d[m] += dot(buf[m * d4 + c], k); }
      }
      for (var m = 0u; m < M; m++) {
        let qi = q0 + m;
        let ok = qi < nq && visible(i32(j), i32(P.pos0 + qi / P.nRep));
        sc[m * WG + li] = select(NEG, logit(d[m]), ok);
      }
    }
    workgroupBarrier();
    if (li < M) {
      let old = mx[li];
      var mt = old;
      for (var t = 0u; t < n; t++) { mt = max(mt, sc[li * WG + t]); }
      cr[li] = exp(old - mt);
      mx[li] = mt;
    }
    workgroupBarrier();
    if (li < n) {
      for (var m = 0u; m < M; m++) {
        let s = sc[m * WG + li];
        sc[m * WG + li] = select(0.0, exp(s - mx[m]), s > NEG_HALF);
      }
    }
    workgroupBarrier();
    // P·V: lanes over the head dim (coalesced V rows), groups over the tile's keys.
    if (grp < groups) {
      for (var m = 0u; m < M; m++) {
        acc[m] *= cr[m];
        lsum[m] *= cr[m];
      }
      for (var t = grp; t < n; t += groups) {
        let v = load_v(((k0 + t) * P.nKvHead + kvh) * d4 + lane);
        for (var m = 0u; m < M; m++) {
          let p = sc[m * WG + t];
          acc[m] += p * v;
          lsum[m] += p;
        }
      }
    }
    workgroupBarrier();
  }

  // Sum the key groups' partials (buf no longer holds queries: the last barrier is behind every read).
  if (grp < groups) {
    for (var m = 0u; m < M; m++) {
      buf[(grp * M + m) * d4 + lane] = acc[m];
      if (lane == 0u) { sc[grp * M + m] = lsum[m]; }
    }
  }
  workgroupBarrier();
  for (var i = li; i < M * d4; i += WG) {
    let m = i / d4;
    let c = i % d4;
    let qi = q0 + m;
    if (qi >= nq) { continue; }
    var a = vec4f(0.0);
    var l = 0.0;
    for (var g = 0u; g < groups; g++) {
      a += buf[(g * M + m) * d4 + c];
      l += sc[g * M + m];
    }
    let row = q_row(qi, kvh);
#if DST_F16
    dst[row * d4 + c] = vec4<f16>(select(vec4f(0.0), a / l, l > 0.0)); // the op keeps nSplit at 1
#else
    if (P.nSplit == 1u) {
      dst[row * d4 + c] = select(vec4f(0.0), a / l, l > 0.0);
    } else {
      let pr = split * P.T * P.nHead + row;
      dst[pr * d4 + c] = a;
      if (c == 0u) { dst[P.statsAt + pr] = vec4f(mx[m], l, 0.0, 0.0); }
    }
#endif
  }
}
