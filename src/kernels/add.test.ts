import { describe, expect, it } from 'vitest';
import { add } from './add.ts';
import { addRef } from '../reference/add.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

describe('add', () => {
  it('matches the reference on awkward shapes, full and broadcast', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1);
    for (const [rows, cols] of [[1, 1], [1, 257], [3, 7], [17, 1000], [5, 4096]]) {
      for (const broadcast of [false, true]) {
        const a = rng.f32(rows * cols);
        const b = rng.f32(broadcast ? cols : rows * cols);
        const ta = gpu.upload(a, [rows, cols]);
        const tb = gpu.upload(b, broadcast ? [cols] : [rows, cols]);
        const out = poisoned(gpu, [rows, cols]);
        gpu.run((rec) => add(gpu, rec, ta, tb, out));
        expectClose(await gpu.readF32(out), addRef(a, b), { atol: 0, rtol: 0 }, `add ${rows}x${cols}${broadcast ? ' bcast' : ''}`);
        for (const t of [ta, tb, out]) t.release();
      }
    }
  });

  it('refuses mismatched shapes and dtypes with typed errors', async () => {
    const gpu = await testGpu();
    const a = gpu.tensor([4, 6]);
    const b = gpu.tensor([5]);
    const out = gpu.tensor([4, 6]);
    expect(() => gpu.run((rec) => add(gpu, rec, a, b, out))).toThrow(ShapeError);
    const q = gpu.tensor([4, 32], 'Q8_0');
    expect(() => gpu.run((rec) => add(gpu, rec, q, b, out))).toThrow(UnsupportedDtypeError);
  });

  it('allocates nothing in steady state', async () => {
    const gpu = await testGpu();
    const a = gpu.upload(new Float32Array(1024).fill(1), [1024]);
    const out = gpu.tensor([1024]);
    gpu.run((rec) => add(gpu, rec, a, a, out));
    await gpu.readF32(out);
    const before = { ...gpu.counters, ...gpu.pool.stats() };
    for (let i = 0; i < 20; i++) gpu.run((rec) => add(gpu, rec, a, a, out));
    await gpu.readF32(out);
    const after = { ...gpu.counters, ...gpu.pool.stats() };
    expect(after.created).toBe(before.created);
    expect(after.bindGroupsCreated).toBe(before.bindGroupsCreated);
    expect(after.submits - before.submits).toBe(21);
  });
});

describe('Recorder.read', () => {
  it('reads a result back in the same submission as the work', async () => {
    const gpu = await testGpu();
    const a = gpu.upload(new Float32Array([1, 2, 3, 4]), [4]);
    const out = gpu.tensor([4]);
    const before = gpu.counters.submits;
    const rec = gpu.recorder();
    add(gpu, rec, a, a, out);
    const p = rec.read(out);
    rec.submit();
    const bytes = await p;
    expect(Array.from(new Float32Array(bytes.buffer))).toEqual([2, 4, 6, 8]);
    expect(gpu.counters.submits - before).toBe(1);
  });
});
