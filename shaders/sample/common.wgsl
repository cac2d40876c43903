// Shared by the token-selection kernels (argmax, sample/*).
// Vocabulary-wide passes give each workgroup a CHUNK of one row: thread li owns the 8 consecutive
// elements [chunk*CHUNK + 8*li, +8), read as two vec4 when rows are 16-byte aligned (VEC4). Keeping the
// same ownership in every pass lets the final pick kernel recompute a chunk's per-thread sums bit for bit.
// Values are compared through order keys (u32, larger key = larger float) so NaN handling never depends
// on how a compiler treats float NaN comparisons: NaN gets key 0, below every real value, meaning "absent".

const WG: u32 = 256u;
const CHUNK: u32 = 2048u;
const STATE: u32 = 16u; // u32 words of per-row state, see src/kernels/sample.ts

#if NO_INPUT
#elif VEC4
@group(0) @binding(1) var<storage, read> X: array<vec4f>;
#else
@group(0) @binding(1) var<storage, read> X: array<f32>;
#endif

#if !NO_INPUT
/** The 8 elements of row `row` starting at column i0, and their order keys in `keys`; columns at or
 *  past `vocab` get key 0 (absent) and value 0. */
fn load8(row: u32, i0: u32, vocab: u32, keys: ptr<function, array<u32, 8>>) -> array<f32, 8> {
  var v: array<f32, 8>;
  let base = row * vocab + i0;
#if VEC4
  // vocab % 4 == 0 here, so each vec4 is wholly inside or wholly outside the row.
  var a = vec4f(0.0);
  var b = vec4f(0.0);
  if (i0 + 4u <= vocab) { a = X[base / 4u]; }
  if (i0 + 8u <= vocab) { b = X[base / 4u + 1u]; }
  v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
  v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
#else
  for (var e = 0u; e < 8u; e++) {
    v[e] = 0.0;
    if (i0 + e < vocab) { v[e] = X[base + e]; }
  }
#endif
  for (var e = 0u; e < 8u; e++) {
    (*keys)[e] = select(0u, orderKey(v[e]), i0 + e < vocab);
  }
  return v;
}
#endif

/** Order-preserving key: -0 and +0 share a key, NaN maps to 0 (below -Inf, whose key is 0x007fffff). */
fn orderKey(x: f32) -> u32 {
  var b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0u; }
  if (b == 0x80000000u) { b = 0u; }
  if ((b & 0x80000000u) != 0u) { return ~b; }
  return b | 0x80000000u;
}

fn keyValue(k: u32) -> f32 {
  if ((k & 0x80000000u) != 0u) { return bitcast<f32>(k & 0x7fffffffu); }
  return bitcast<f32>(~k);
}

const KEY_POS_INF: u32 = 0xff800000u;
const KEY_NEG_INF: u32 = 0x007fffffu;

/** Is (k1, i1) before (k2, i2) in the selection order: larger value first, then lower index. */
fn before(k1: u32, i1: u32, k2: u32, i2: u32) -> bool {
  return k1 > k2 || (k1 == k2 && i1 < i2);
}

/** PCG output permutation used as a hash (same constants in src/reference/sample.ts). */
fn pcgHash(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

/** The draw in [0, 1) for (seed, step, row): 24 random bits, exactly representable in f32 and f64. */
fn uniformDraw(seed: u32, step: u32, row: u32) -> f32 {
  let h = pcgHash(pcgHash(pcgHash(seed) ^ step) ^ row);
  return f32(h >> 8u) * (1.0 / 16777216.0);
}

/** exp weight w in [0, 1] as a 64-bit fixed-point number in units of 2^-40: (lo, hi). Integer sums of
 *  these are exact, so histogram masses do not depend on the order atomics land in. */
fn fixed40(w: f32) -> vec2u {
  let t = clamp(w, 0.0, 1.0) * 256.0;
  let hi = u32(t);
  let lo = u32((t - f32(hi)) * 4294967296.0);
  return vec2u(lo, hi);
}

fn add64(a: vec2u, b: vec2u) -> vec2u {
  let lo = a.x + b.x;
  return vec2u(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn f64to32(a: vec2u) -> f32 {
  return f32(a.y) * 4294967296.0 + f32(a.x);
}

// Workgroup-wide sums and scans over one value per thread, as 16 groups of 16: a thread per group
// runs through its group, then one thread runs through the 16 group totals. Four barriers instead of
// the sixteen of a Hillis-Steele scan, and the same additions in the same order in every kernel, so
// a chunk total from the mass kernel equals the last element of the pick kernel's scan bit for bit.
var<workgroup> groupBase: array<f32, 16>;
var<workgroup> groupBaseU: array<u32, 16>;

/** In-place inclusive prefix sum of a[0..256). */
fn scan256(a: ptr<workgroup, array<f32, 256>>, li: u32) {
  workgroupBarrier();
  if (li < 16u) {
    var acc = 0.0;
    for (var j = 0u; j < 16u; j++) { acc += (*a)[li * 16u + j]; (*a)[li * 16u + j] = acc; }
  }
  workgroupBarrier();
  if (li == 0u) {
    var acc = 0.0;
    for (var g = 0u; g < 16u; g++) { groupBase[g] = acc; acc += (*a)[g * 16u + 15u]; }
  }
  workgroupBarrier();
  (*a)[li] = groupBase[li / 16u] + (*a)[li];
  workgroupBarrier();
}

fn scan256u(a: ptr<workgroup, array<u32, 256>>, li: u32) {
  workgroupBarrier();
  if (li < 16u) {
    var acc = 0u;
    for (var j = 0u; j < 16u; j++) { acc += (*a)[li * 16u + j]; (*a)[li * 16u + j] = acc; }
  }
  workgroupBarrier();
  if (li == 0u) {
    var acc = 0u;
    for (var g = 0u; g < 16u; g++) { groupBaseU[g] = acc; acc += (*a)[g * 16u + 15u]; }
  }
  workgroupBarrier();
  (*a)[li] = groupBaseU[li / 16u] + (*a)[li];
  workgroupBarrier();
}
