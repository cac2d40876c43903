import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeYasa2Tile } from './encoder.ts';
import { yasa2Reference } from './reference.ts';
import { yasa2PositionTable } from './position.ts';
import { REKA_EDGE_YASA2, validateYasa2Config, yasa2Macs, type Yasa2Config } from './config.ts';
import { loadYasa2Weights, uploadYasa2Weights, Yasa2WeightError } from './weights.ts';
import { YASA2_TENSORS as TN } from './names.ts';
import { yasa2Fixture } from '../../testing/yasa2-fixture.ts';
import { Rng } from '../../testing/rng.ts';
import { compareArrays, expectClose } from '../../testing/compare.ts';
import { poisoned, testGpu } from '../../testing/gpu.ts';
import { bytesSource, openGguf } from '../../formats/gguf.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { tempFile, torchUnavailable } from '../../testing/mmproj.ts';

/** Debian's interpreter, which has python3-torch and python3-numpy (scripts/setup.sh installs them). */
const PYTHON = '/usr/bin/python3';
const ORACLE = fileURLToPath(new URL('../../testing/yasa2_torch_oracle.py', import.meta.url));

// Two tiny encoders whose final map is 16 x 16 (256 tokens, as a real 512 tile's), so the position
// table's 50-wide rows and the 2 x 2 pool are those of the real model.
const TWO_STAGES: Yasa2Config = {
  imageSize: 128, patchSize: 4, depths: [1, 2], widths: [8, 12], eps: 1e-6,
  posGridSide: 50, pooledSide: 8, projHidden: 24, projOut: 20,
};
const QUANTIZED: Yasa2Config = { ...TWO_STAGES, depths: [2, 1], widths: [32, 64], projHidden: 64, projOut: 32 };

// f32 on the GPU against double in the reference, through the stem, 3 blocks, pool and projector:
// measured max abs error 4.1e-7 (F32 weights) and 5.0e-7 (Q8_0/F16, both sides reading the same
// dequantized values) on outputs up to ~2. Allowed 1e-5 + 1e-5 relative; a wrong layout, token order
// or position row moves outputs by O(0.1) (checked below for the position row).
const TOL = { atol: 1e-5, rtol: 1e-5 };

function pixels(cfg: Yasa2Config, seed: number): Float32Array {
  return new Rng(seed).f32(3 * cfg.imageSize * cfg.imageSize);
}

describe('yasa2 position table', () => {
  it('gives token t grid position (t / 50, t % 50): column half first, then row half', () => {
    const dim = 8, quarter = 2;
    const table = yasa2PositionTable(dim, 50, 256);
    const row = (t: number) => table.subarray(t * dim, (t + 1) * dim);
    // token 50: grid (1, 0), not (3, 2) as it would be on the 16 x 16 map
    expect([...row(50)]).toEqual([0, 0, 1, 1, Math.fround(Math.sin(1)), Math.fround(Math.sin(1 / 100)), Math.fround(Math.cos(1)), Math.fround(Math.cos(1 / 100))]);
    // token 17: grid (0, 17)
    expect(row(17)[0]).toBe(Math.fround(Math.sin(17)));
    expect(row(17)[quarter * 2]).toBe(0);
  });

  it('equals the table llama.cpp\'s Reka converter writes (numpy, float32)', () => {
    const dim = 64;
    // The converter's formula, run by numpy (float32 as it computes it).
    const py = `
import numpy as np, sys
D=${dim}
def one(d, pos):
    omega = np.arange(d // 2, dtype=np.float32); omega /= d / 2.0; omega = 1.0 / (10000.0**omega)
    out = np.einsum("hw,d->hwd", pos, omega); return np.concatenate([np.sin(out), np.cos(out)], axis=-1)
g = np.arange(50, dtype=np.float32); grid = np.stack(np.meshgrid(g, g), axis=0)
pos = np.concatenate([one(D // 2, grid[0]), one(D // 2, grid[1])], axis=-1).reshape(2500, D)[:256].astype(np.float32)
sys.stdout.buffer.write(pos.tobytes())`;
    let out: Buffer;
    try {
      out = execFileSync(PYTHON, ['-c', py]);
    } catch (e) {
      throw new Error(`${PYTHON} with numpy is needed for this check (scripts/setup.sh installs python3-torch, which brings it): ${(e as Error).message}`);
    }
    const numpy = new Float32Array(out.buffer, out.byteOffset, out.byteLength / 4);
    // numpy works in float32 (omega and the products rounded), we in double: arguments up to 49 differ
    // by ~49 * 2^-24, so entries by a few 1e-6.
    expectClose(yasa2PositionTable(dim, 50, 256), numpy, { atol: 1e-5, rtol: 0 }, 'position table vs numpy');
  });
});

describe('yasa2 encoder', () => {
  it('matches the float64 reference of the whole encoder (F32 weights, table built on the CPU)', async () => {
    const gpu = await testGpu();
    const fx = yasa2Fixture(TWO_STAGES, 61);
    const w = uploadYasa2Weights(gpu, TWO_STAGES, fx.get);
    const px = pixels(TWO_STAGES, 62);
    const tp = gpu.upload(px, [3, 128, 128]);
    const out = poisoned(gpu, [64, TWO_STAGES.projOut]);
    gpu.run((rec) => encodeYasa2Tile(gpu, rec, w, tp, out));
    const got = await gpu.readF32(out);
    const exp = yasa2Reference(TWO_STAGES, fx.values, px);
    expectClose(got, exp, TOL, 'yasa2 tile vs float64 reference');
    // The reference must be sensitive to the position quirk: with each token's own (y, x) instead the
    // outputs move far outside the tolerance.
    const ownGrid = { ...TWO_STAGES, posGridSide: 16 };
    expect(compareArrays(got, yasa2Reference(ownGrid, fx.values, px), TOL).ok).toBe(false);
    tp.release(); out.release(); w.destroy();
  });

  it('matches the reference with Q8_0 matrices, F16 convolutions and a stored position table', async () => {
    const gpu = await testGpu();
    const table = yasa2PositionTable(64, 50, 256);
    const fx = yasa2Fixture(QUANTIZED, 71, { linear: 'Q8_0', conv: 'F16', storePos: table });
    const w = uploadYasa2Weights(gpu, QUANTIZED, fx.get);
    const px = pixels(QUANTIZED, 72);
    const tp = gpu.upload(px, [3, 128, 128]);
    const out = poisoned(gpu, [64, QUANTIZED.projOut]);
    gpu.run((rec) => encodeYasa2Tile(gpu, rec, w, tp, out, { flushPerBlock: false }));
    expectClose(await gpu.readF32(out), yasa2Reference(QUANTIZED, fx.values, px), TOL, 'yasa2 Q8_0/F16 tile vs reference');
    tp.release(); out.release(); w.destroy();
  });

  it('loads a GGUF mmproj: config from the tensors, same output as the direct upload', async () => {
    const gpu = await testGpu();
    const fx = yasa2Fixture(TWO_STAGES, 81);
    const gguf = await openGguf(bytesSource(fx.gguf(), 'yasa2-fixture.gguf'));
    const w = await loadYasa2Weights(gpu, gguf);
    expect(w.config).toEqual({ ...TWO_STAGES, eps: Math.fround(1e-6) }); // eps comes back as the file's f32
    const direct = uploadYasa2Weights(gpu, TWO_STAGES, fx.get);
    const tp = gpu.upload(pixels(TWO_STAGES, 82), [3, 128, 128]);
    const a = poisoned(gpu, [64, 20]), b = poisoned(gpu, [64, 20]);
    gpu.run((rec) => { encodeYasa2Tile(gpu, rec, w, tp, a); encodeYasa2Tile(gpu, rec, direct, tp, b); });
    expect(await gpu.readF32(a)).toEqual(await gpu.readF32(b));
    for (const t of [tp, a, b]) t.release();
    w.destroy(); direct.destroy();
  });

  it('refuses a weight of the wrong shape or type, and a config that does not divide, with typed errors', async () => {
    const gpu = await testGpu();
    const fx = yasa2Fixture(TWO_STAGES, 91);
    const wrongShape = (name: string) => name === TN.block(1, 0, 'pw1', 'weight') ? { ...fx.get(name)!, shape: [40, 12] } : fx.get(name);
    expect(() => uploadYasa2Weights(gpu, TWO_STAGES, wrongShape)).toThrow(/v\.stage\.1\.blk\.0\.pw1\.weight: has shape \[40, 12\], expected \[48, 12\]/);
    const missing = (name: string) => name === TN.downConv(1, 'bias') ? undefined : fx.get(name);
    expect(() => uploadYasa2Weights(gpu, TWO_STAGES, missing)).toThrow(Yasa2WeightError);
    expect(() => validateYasa2Config({ ...TWO_STAGES, imageSize: 96 })).toThrow(ShapeError);
    const tp = gpu.tensor([3, 64, 64]);
    const w = uploadYasa2Weights(gpu, TWO_STAGES, fx.get);
    expect(() => gpu.run((rec) => encodeYasa2Tile(gpu, rec, w, tp, gpu.tensor([64, 20])))).toThrow(/pixels has shape \[3, 64, 64\], expected \[3, 128, 128\]/);
    w.destroy();
  });

  it('matches PyTorch\'s own conv2d / layer_norm / gelu / avg_pool2d on the same GGUF (yasa2_torch_oracle.py)', async () => {
    // Not a skip: CI installs python3-torch in scripts/setup.sh, so its absence is a setup failure.
    expect(torchUnavailable()).toBeNull();
    const gpu = await testGpu();
    const fx = yasa2Fixture(TWO_STAGES, 101, { conv: 'F16' });
    const path = tempFile(fx.gguf(), 'yasa2-fixture.gguf');
    const px = pixels(TWO_STAGES, 102);
    const pixPath = tempFile(new Uint8Array(px.buffer), 'pixels.f32');
    const outPath = pixPath.replace(/pixels\.f32$/, 'torch.f32');
    const r = spawnSync(PYTHON, [ORACLE, path, pixPath, outPath], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`yasa2 torch oracle failed (exit ${r.status}): ${r.stderr || r.error?.message}`);
    const bytes = readFileSync(outPath);
    const torch = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));

    const w = await loadYasa2Weights(gpu, await openGguf(bytesSource(fx.gguf(), 'yasa2-fixture.gguf')));
    const tp = gpu.upload(px, [3, 128, 128]);
    const out = poisoned(gpu, [64, TWO_STAGES.projOut]);
    gpu.run((rec) => encodeYasa2Tile(gpu, rec, w, tp, out));
    // torch runs in float64 on the file's values; the F16 convolution weights are the same numbers on both sides.
    expectClose(await gpu.readF32(out), torch, TOL, 'yasa2 tile vs torch');
    tp.release(); out.release(); w.destroy();
  });

  it('counts about 600 GMAC for a Reka Edge tile', () => {
    const macs = yasa2Macs(REKA_EDGE_YASA2);
    expect(macs.total / 1e9).toBeGreaterThan(590);
    expect(macs.total / 1e9).toBeLessThan(610);
  });
});
