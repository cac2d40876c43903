// Draw one token per row by inverse transform in vocabulary order: u = uniformDraw(seed, step, row),
// target = u * (total kept mass), token = first kept index whose inclusive running mass exceeds the
// target. Thread 0 walks the chunk masses from the mass kernel to find the chunk; the workgroup then
// scans that chunk (tie ranks first, then masses) and the one thread whose range holds the target
// walks its 8 elements. Rows whose maximum is +-Inf or NaN-only fall back to the argmax in state.
#include "sample/common"
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read> partials: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;

var<workgroup> scanF: array<f32, 256>;
var<workgroup> scanU: array<u32, 256>;
var<workgroup> sChunk: u32;
var<workgroup> sTarget: f32;
var<workgroup> sTieBase: u32;
var<workgroup> sMode: u32;     // 0: draw, 1: argmax
var<workgroup> sFound: atomic<u32>;
var<workgroup> sLast: atomic<u32>;

fn tieWeight(m: f32, minKey: u32, t: u32) -> f32 {
  if (t < minKey) { return 0.0; }
  return exp((keyValue(t) - m) / P.temp);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wg.x + wg.y * nwg.x;
  let s = row * STATE;
  let live = row < P.rows;
  var maxKey = 0u;
  var hasCut = false;
  var t = 0u;
  var keep = 0u;
  if (live) {
    maxKey = state[s + 1u];
    hasCut = state[s + 9u] != 0u;
    t = select(0u, state[s + 7u], hasCut);
    keep = state[s + 8u];
  }
  let m = keyValue(maxKey);
  let minKey = select(1u, max(orderKey(m + P.logMinP), 1u), P.minPOn != 0u);
  let wt = select(0.0, tieWeight(m, minKey, t), hasCut);
  if (li == 0u) {
    atomicStore(&sFound, 0u);
    atomicStore(&sLast, 0u);
    sMode = 1u;
    if (live && maxKey > KEY_NEG_INF && maxKey < KEY_POS_INF) {
      var total = 0.0;
      var tiesSeen = 0u;
      for (var c = 0u; c < P.nChunks; c++) {
        let o = (row * P.nChunks + c) * 2u;
        let kept = min(partials[o + 1u], keep - min(keep, tiesSeen));
        tiesSeen += partials[o + 1u];
        total += bitcast<f32>(partials[o]) + f32(kept) * wt;
      }
      let goal = uniformDraw(P.seed, P.step, row) * total;
      var cum = 0.0;
      tiesSeen = 0u;
      var lastChunk = 0xffffffffu;
      var lastTies = 0u;
      for (var c = 0u; c < P.nChunks; c++) {
        let o = (row * P.nChunks + c) * 2u;
        let kept = min(partials[o + 1u], keep - min(keep, tiesSeen));
        let mc = bitcast<f32>(partials[o]) + f32(kept) * wt;
        if (mc > 0.0) { lastChunk = c; lastTies = tiesSeen; }
        if (cum + mc > goal) { sMode = 0u; sChunk = c; sTarget = goal - cum; sTieBase = tiesSeen; break; }
        cum += mc;
        tiesSeen += partials[o + 1u];
      }
      if (sMode == 1u && lastChunk != 0xffffffffu) {
        // Rounding left the target at or past the last boundary: take the last kept token.
        sMode = 0u; sChunk = lastChunk; sTarget = 3.4e38; sTieBase = lastTies;
      }
    }
  }
  let mode = workgroupUniformLoad(&sMode);
  if (mode == 1u) {
    if (li == 0u && live) { out[row] = state[s]; }
    return;
  }
  let c = sChunk;
  let goal = sTarget;
  let i0 = c * CHUNK + li * 8u;
  var keys: array<u32, 8>;
  let v = load8(row, i0, P.vocab, &keys);
  var eq = 0u;
  for (var e = 0u; e < 8u; e++) {
    if (hasCut && keys[e] == t && keys[e] >= minKey) { eq++; }
  }
  // Exclusive prefix of tie counts gives each tie its rank in vocabulary order.
  scanU[li] = eq;
  scan256u(&scanU, li);
  var rank = sTieBase + scanU[li] - eq;
  var w: array<f32, 8>;
  var sum = 0.0;
  for (var e = 0u; e < 8u; e++) {
    let k = keys[e];
    var we = 0.0;
    if (k >= minKey && k >= t) {
      if (hasCut && k == t) {
        if (rank < keep) { we = wt; }
        rank++;
      } else {
        we = exp((v[e] - m) / P.temp);
      }
    }
    w[e] = we;
    sum += we;
  }
  if (sum > 0.0) { atomicMax(&sLast, li + 1u); }
  scanF[li] = sum;
  scan256(&scanF, li);
  var prev = 0.0;
  if (li > 0u) { prev = scanF[li - 1u]; }
  var lastPos = 0xffffffffu;
  for (var e = 0u; e < 8u; e++) { if (w[e] > 0.0) { lastPos = e; } }
  if (prev <= goal && goal < scanF[li]) {
    atomicStore(&sFound, 1u);
    var cum = prev;
    var pick = lastPos;
    for (var e = 0u; e < 8u; e++) {
      if (w[e] > 0.0) {
        cum += w[e];
        if (cum > goal) { pick = e; break; }
      }
    }
    out[row] = i0 + pick;
  }
  workgroupBarrier();
  if (atomicLoad(&sFound) == 0u && atomicLoad(&sLast) == li + 1u) {
    out[row] = i0 + lastPos;
  }
}
