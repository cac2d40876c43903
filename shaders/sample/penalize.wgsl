// Repetition / frequency / presence penalties, llama.cpp semantics, applied in place to a copy of the
// logits. One thread per entry of the recent-token list; only the first occurrence of a token applies
// the penalty, with count = its occurrences in the list, so each token is penalised once:
//   logit <= 0 ? logit * repeat : logit / repeat;  logit -= count * freq + presence
// O(n^2) in the list length n per row, which is a few thousand compares for llama.cpp's default n = 64.
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read_write> work: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let j = wg.x * 256u + li;
  let row = wg.y;
  if (j >= P.n) { return; }
  let base = row * P.n * P.perRow;
  let t = tokens[base + j];
  if (t >= P.vocab) { return; }
  for (var i = 0u; i < j; i++) {
    if (tokens[base + i] == t) { return; }
  }
  var count = 1u;
  for (var i = j + 1u; i < P.n; i++) {
    if (tokens[base + i] == t) { count++; }
  }
  let at = row * P.vocab + t;
  var x = work[at];
  if (x <= 0.0) { x = x * P.repeat; } else { x = x / P.repeat; }
  work[at] = x - (f32(count) * P.freq + P.presence);
}
