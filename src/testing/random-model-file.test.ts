// The streamed random-model file: a GGUF the reader takes, every tensor where its info says, block-written
// matrices decoding to finite values of the planned spread, and the same bytes for the same seed.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGgufPath } from '../formats/gguf-node.ts';
import { dequantize } from '../formats/quantize.ts';
import { randomModelPlan, type RandomModelOptions } from './random-model.ts';
import { writeRandomModelFile } from './random-model-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgewise-rmf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: Omit<RandomModelOptions, 'weightType'> = {
  arch: 'qwen2', nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 512, vocab: 300, ctx: 64, seed: 11, tied: true,
};

describe('writeRandomModelFile', () => {
  for (const weightType of ['Q4_0', 'Q8_0', 'Q4_K', 'F16'] as const) {
    it(`${weightType}: a readable GGUF whose matrices have the planned spread`, async () => {
      const o = { ...base, weightType };
      const path = join(dir, `m-${weightType}.gguf`);
      let last = 0;
      const res = await writeRandomModelFile(path, o, (written, total) => {
        expect(written).toBeLessThanOrEqual(total);
        last = written;
      });
      expect(last).toBe(res.bytes);
      const gguf = await openGgufPath(path);
      try {
        const plan = randomModelPlan(o);
        expect(gguf.tensors.map((t) => t.name)).toEqual(plan.tensors.map((t) => t.name));
        expect(gguf.get('qwen2.block_count')?.value).toBe(2);
        const end = Math.max(...gguf.tensors.map((t) => t.offset + t.byteLength));
        expect(end).toBeLessThanOrEqual(res.bytes);
        for (const name of ['token_embd.weight', 'blk.1.ffn_down.weight', 'blk.0.attn_q.bias']) {
          const info = gguf.tensor(name)!;
          const want = plan.tensors.find((t) => t.name === name)!;
          const x = dequantize(info.type, await gguf.readTensorBytes(info), info.numel);
          expect(x.every(Number.isFinite), name).toBe(true);
          const mean = x.reduce((s, v) => s + v, 0) / x.length;
          const std = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length);
          expect(std / want.std, name).toBeGreaterThan(0.85);
          expect(std / want.std, name).toBeLessThan(1.15);
          // Q4_0's levels run -8..7: its mean is -d/2, about 0.11 std.
          expect(Math.abs(mean), name).toBeLessThan(0.15 * want.std + (want.role === 'bias' ? 0.2 : 0));
        }
      } finally {
        await gguf.close();
      }
    });
  }

  it('is a pure function of the options', async () => {
    const a = join(dir, 'a.gguf'), b = join(dir, 'b.gguf'), c = join(dir, 'c.gguf');
    await writeRandomModelFile(a, { ...base, weightType: 'Q4_K' });
    await writeRandomModelFile(b, { ...base, weightType: 'Q4_K' });
    await writeRandomModelFile(c, { ...base, weightType: 'Q4_K', seed: 12 });
    expect(Buffer.compare(readFileSync(a), readFileSync(b))).toBe(0);
    expect(Buffer.compare(readFileSync(a), readFileSync(c))).not.toBe(0);
  });
});
