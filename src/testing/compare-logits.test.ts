import { describe, expect, it } from 'vitest';
import { argmax, compareLogits, topK } from './compare-logits.ts';
import { Rng } from './rng.ts';

describe('topK / argmax', () => {
  it('orders by value and breaks ties toward the lower id', () => {
    expect(topK([1, 5, 5, 3, 9, 0, 9], 3)).toEqual([4, 6, 1]);
    expect(topK([2, 1], 5)).toEqual([0, 1]);
    expect(argmax([-3, -1, -1, -2])).toBe(1);
  });

  it('matches a full sort on random rows', () => {
    const rng = new Rng(7);
    for (let t = 0; t < 20; t++) {
      const row = Array.from({ length: 1 + rng.int(0, 300) }, () => Math.round(rng.normal() * 4) / 4); // many ties
      const sorted = row.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i);
      expect(topK(row, 5)).toEqual(sorted.slice(0, 5));
    }
  });
});

describe('compareLogits', () => {
  it('reports the largest difference, its row, and ranking agreement', () => {
    const a = [new Float32Array([0, 1, 2, 3, 4, 5, 6]), new Float32Array([6, 5, 4, 3, 2, 1, 0])];
    const b = [new Float32Array([0, 1, 2, 3, 4, 5, 6]), new Float32Array([6, 5, 4, 3, 2, 1, 7.5])];
    const c = compareLogits(a, b);
    expect(c.rows).toBe(2);
    expect(c.maxAbsDiff).toBe(7.5);
    expect(c.maxAbsDiffRow).toBe(1);
    expect(c.top1Agree).toBe(1); // row 1: 0 vs 6
    expect(c.minTop5Overlap).toBe(4); // row 1: {0,1,2,3,4} vs {6,0,1,2,3}
    expect(c.meanTop5Overlap).toBe(4.5);
    expect(c.message).toMatch(/top-1 agrees in 1\/2/);
  });

  it('treats NaN as an infinite difference and rejects mismatched shapes', () => {
    expect(compareLogits(new Float32Array([1, NaN]), new Float32Array([1, 2])).maxAbsDiff).toBe(Infinity);
    expect(() => compareLogits([new Float32Array(3)], [new Float32Array(4)])).toThrow(/row 0 has 3 logits vs 4/);
    expect(() => compareLogits([new Float32Array(3)], [])).toThrow(/1 rows vs 0/);
  });
});
