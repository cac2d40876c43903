import { describe, expect, it } from 'vitest';
import { ACT_QUANT_BLOCK, actQuantModeFor, fakeQuantAct, type ActQuantMode } from './act-quant.ts';
import { fakeQuantActRef } from '../reference/act-quant.ts';
import { Rng } from '../testing/rng.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import { roundF16 } from '../formats/f16.ts';

/** Rows of normal values at mixed scales, with blocks that exercise the corners: all zeros, a tie for the
 *  largest magnitude between +a and -a (the first wins the sign of max), exact halfway points after
 *  scaling (amax 127 gives d = 1, so 2.5 must round to even, 2, in both q8 modes), a q8_0 block whose
 *  127 / amax and 1 / (amax / 127) differ in the last bit, and values around the f16 limits. */
function inputs(rng: Rng, rows: number, cols: number, block: number): Float32Array {
  const x = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const scale = 10 ** rng.int(-3, 3);
    for (let c = 0; c < cols; c++) x[r * cols + c] = scale * rng.normal();
  }
  const blocks = x.length / Math.max(block, 32);
  const len = Math.max(block, 32);
  const put = (b: number, vals: number[]) => {
    x.fill(0, b * len, (b + 1) * len);
    vals.forEach((v, j) => { x[b * len + j] = v; });
  };
  if (blocks > 1) put(1, []);
  if (blocks > 2) put(2, [3, -3, 1, 2]);
  if (blocks > 3) put(3, [-3, 3, 1, 2]);
  if (blocks > 4) put(4, [127, 2.5, -2.5, 0.5, -0.5, 1.5, 126.5, -126.5]);
  if (blocks > 5) put(5, [-127, 2.5, -2.5, 0.5, -0.5, 3.5]);
  // amax 1 + 2^-19: 127 / amax = 126.999755859375, 1 / (amax / 127) = 126.99976348876953; the second
  // value scales to 5.4999995 with the first id (q 5) and to exactly 5.5 with the second (q 6).
  if (blocks > 7) put(7, [1 + 2 ** -19, 0.043307166546583176]);
  if (blocks > 6) put(6, [65504, 65519, 65520, -70000, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 3 * 2 ** -25, -(2 ** -26), 5e-6]);
  return x;
}

async function check(mode: ActQuantMode, rows: number, cols: number, seed: number, inPlace = false): Promise<void> {
  const gpu = await testGpu();
  const x = inputs(new Rng(seed), rows, cols, ACT_QUANT_BLOCK[mode]);
  const tx = gpu.upload(x, [rows, cols]);
  const out = inPlace ? tx : poisoned(gpu, [rows, cols]);
  gpu.run((rec) => fakeQuantAct(gpu, rec, tx, out, mode));
  const got = await gpu.readF32(out);
  const { out: want, scaled } = fakeQuantActRef(x, mode);
  // Exact equality of every value (=== : +0 and -0 count as equal, the sign of a zero being meaningless
  // once llama.cpp holds q as an integer). The one allowed difference: a q8 value whose scaled x / d sits
  // within 2^-20 of a halfway point may land on the neighbouring integer, when a GPU's scale differs from
  // the C code's in the last bit; it must then be exactly one step away. f16 rounding has no such slack.
  let nearTie = 0;
  const bad: string[] = [];
  for (let i = 0; i < x.length; i++) {
    if (got[i] === want[i]) continue;
    const s = scaled[i];
    const frac = Math.abs(s - Math.trunc(s));
    const step = Math.abs(x[i] / s); // the block's d, up to the f16 rounding of q8_0's scale
    if (mode !== 'f16' && Math.abs(frac - 0.5) < 2 ** -20 * Math.max(1, Math.abs(s)) && Math.abs(Math.abs(got[i] - want[i]) - step) <= step * 2 ** -8) {
      nearTie++;
      continue;
    }
    if (bad.length < 5) bad.push(`[${i}] x=${x[i]} got ${got[i]}, expected ${want[i]}`);
  }
  expect(bad, `${mode} ${rows}x${cols}${inPlace ? ' in place' : ''}`).toEqual([]);
  expect(nearTie).toBeLessThanOrEqual(x.length / 1000);
  if (!inPlace) out.release();
  tx.release();
}

describe('fakeQuantAct', () => {
  it('q8_0 matches the reference exactly (id = 127 / amax, ties to even, f16 scale)', async () => {
    for (const [rows, cols, seed] of [[1, 32, 1], [3, 96, 2], [7, 1024, 3], [2, 4128, 4]]) await check('q8_0', rows, cols, seed);
  });

  it('q8_K matches the reference exactly (signed max, ties to even, MIN(127), f32 scale)', async () => {
    for (const [rows, cols, seed] of [[1, 256, 5], [3, 512, 6], [5, 2304, 7]]) await check('q8_K', rows, cols, seed);
  });

  it('f16 matches the reference exactly (ties to even, subnormals, overflow to infinity)', async () => {
    for (const [rows, cols, seed] of [[1, 1, 8], [3, 37, 9], [7, 1000, 10]]) await check('f16', rows, cols, seed);
  });

  it('works in place', async () => {
    await check('q8_0', 2, 256, 11, true);
    await check('q8_K', 1, 2048, 12, true);
    await check('f16', 3, 33, 13, true);
  });

  it('rounds the corner blocks as llama.cpp does', async () => {
    // One row, blocks laid out by inputs(): check the few values whose rounding rule matters.
    const x = inputs(new Rng(14), 1, 256 * 8, 256);
    const k = fakeQuantActRef(x, 'q8_K').out;
    // Block 2 starts 3, -3: max = +3, iscale = -127/3, so -3 -> 127 * (3/127) and 3 -> -127 * (-3/127).
    expect(k[512]).toBeCloseTo(3, 5);
    expect(k[513]).toBeCloseTo(-3, 5);
    // Block 4 has amax 127: d = -1 in q8_K; 2.5 -> nearest even 2 (then times |d|).
    expect(Math.abs(k[1025])).toBe(2);
    const x0 = inputs(new Rng(14), 1, 32 * 8, 32);
    const q = fakeQuantActRef(x0, 'q8_0').out;
    // q8_0 block 4: d = 127/127 = 1; halfway points go to even as ggml's x86 quantize_row_q8_0 rounds
    // them (_MM_ROUND_NEAREST), not away from zero as the scalar _ref's roundf would (3, -3, 1, -1, 127).
    const want4 = [2, -2, 0, 0, 2, 126];
    const pick = (v: Float32Array) => [129, 130, 131, 132, 133, 134].map((i) => v[i] + 0); // -0 -> 0
    expect(pick(q)).toEqual(want4);
    // q8_0 block 7: id = 127 / amax (x86) puts x at 5.4999995 -> q 5; 1 / d (the _ref, ARM) would give 6.
    const d7 = roundF16(Math.fround(Math.fround(1 + 2 ** -19) / 127));
    expect(q[225]).toBe(5 * d7);
    const gpu = await testGpu();
    const tx = gpu.upload(x0, [1, 256]);
    const out = poisoned(gpu, [1, 256]);
    gpu.run((rec) => fakeQuantAct(gpu, rec, tx, out, 'q8_0'));
    const got = await gpu.readF32(out);
    expect(pick(got)).toEqual(want4);
    expect(got[225]).toBe(5 * d7);
    tx.release(); out.release();
  });

  it('maps weight types to the activation rounding llama.cpp uses', () => {
    expect(actQuantModeFor('F32')).toBeNull();
    expect(actQuantModeFor('F16')).toBe('f16');
    for (const t of ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'] as const) expect(actQuantModeFor(t)).toBe('q8_0');
    for (const t of ['Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'] as const) expect(actQuantModeFor(t)).toBe('q8_K');
    expect(() => actQuantModeFor('BF16')).toThrow(UnsupportedDtypeError);
  });

  it('refuses bad shapes and dtypes with typed errors', async () => {
    const gpu = await testGpu();
    const run = (fn: Parameters<typeof gpu.run>[0]) => () => gpu.run(fn);
    const x = gpu.tensor([2, 48]);
    expect(run((rec) => fakeQuantAct(gpu, rec, x, gpu.tensor([2, 48]), 'q8_0'))).toThrow(/rows of 48 values are not a whole number of q8_0 blocks of 32/);
    const x2 = gpu.tensor([2, 288]);
    expect(run((rec) => fakeQuantAct(gpu, rec, x2, gpu.tensor([2, 288]), 'q8_K'))).toThrow(ShapeError);
    expect(run((rec) => fakeQuantAct(gpu, rec, x2, gpu.tensor([2, 256]), 'q8_0'))).toThrow(/out has 512 elements, x has 576/);
    expect(run((rec) => fakeQuantAct(gpu, rec, gpu.tensor([2, 32], 'F16'), gpu.tensor([2, 32]), 'f16'))).toThrow(UnsupportedDtypeError);
    expect(run((rec) => fakeQuantAct(gpu, rec, x2, gpu.tensor([2, 288]), 'q4' as ActQuantMode))).toThrow(UnsupportedDtypeError);
  });
});
