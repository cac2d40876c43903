// add with F16 tensors (shader-f16) on lavapipe.
import { afterAll, describe, expect, it } from 'vitest';
import { add } from './add.ts';
import { addRef } from '../reference/add.ts';
import { Rng } from '../testing/rng.ts';
import { testGpu } from '../testing/gpu.ts';
import { F16_EPS, expectWithin, poisonedF16, readF16, reportF16Margins, roundedOnceBound, uploadF16 } from '../testing/f16.ts';
import { UnsupportedDtypeError } from '../gpu/errors.ts';

afterAll(() => reportF16Margins('add'));

describe('add, F16', () => {
  it('matches the reference on f16-rounded inputs, full and broadcast', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1611);
    for (const [rows, cols] of [[1, 1], [3, 7], [17, 1000], [2, 4097]]) {
      for (const broadcast of [false, true]) {
        const a = uploadF16(gpu, rng.f32(rows * cols, 100), [rows, cols], 'a');
        const b = uploadF16(gpu, rng.f32(broadcast ? cols : rows * cols), broadcast ? [cols] : [rows, cols], 'b');
        const out = poisonedF16(gpu, [rows, cols]);
        gpu.run((rec) => add(gpu, rec, a.t, b.t, out));
        // One f16 addition of two f16 values, correctly rounded by WGSL's rules: within u |y|.
        const ref = addRef(a.v, b.v);
        expectWithin(await readF16(gpu, out), ref, roundedOnceBound(ref, { atol: 0, rtol: 0 }, F16_EPS), `add ${rows}x${cols}${broadcast ? ' bcast' : ''}`);
        for (const t of [a.t, b.t, out]) t.release();
      }
    }
  });

  it('refuses an F16 tensor mixed with F32 ones', async () => {
    const gpu = await testGpu();
    const run = (fn: Parameters<typeof gpu.run>[0]) => () => gpu.run(fn);
    expect(run((rec) => add(gpu, rec, gpu.tensor([4, 6], 'F16'), gpu.tensor([6]), gpu.tensor([4, 6], 'F16')))).toThrow(UnsupportedDtypeError);
    expect(run((rec) => add(gpu, rec, gpu.tensor([4, 6], 'F16'), gpu.tensor([6]), gpu.tensor([4, 6], 'F16')))).toThrow(/add \(b, a is F16/);
  });
});
