// The yasa2 vision encoder (Reka Edge): one 512 x 512 tile in, 64 embeddings of the decoder's width
// out. ConvNeXt V2 over channels-last maps ([H, W, C], so every per-pixel op is a row op):
//   stem      conv 4 x 4 / 4 (image CHW -> [H/4, W/4, C0]), LayerNorm over channels
//   stage s   (s > 0) LayerNorm, conv 2 x 2 / 2; then per block, with x the stage's running map:
//             t = dwconv7x7(x) ; t = LN(t) ; u = gelu_erf(t W1ᵀ + b1) ; u = GRN(u) ; x += u W2ᵀ + b2
//   then      x + position table (row t for token t), 2 x 2 average pool to 8 x 8,
//             projector Linear -> GELU (erf) -> Linear.
// The residual add rides on the second pointwise matmul (accumulate), so a block is seven dispatches
// (GRN is three). Each block is flushed to the queue on its own so no single submission runs for the
// whole tile (browsers reset a GPU that stays busy too long on one submit).

import type { Gpu } from '../../gpu/gpu.ts';
import { ShapeError } from '../../gpu/errors.ts';
import type { Recorder } from '../../gpu/recorder.ts';
import type { Tensor } from '../../gpu/tensor.ts';
import { add } from '../../kernels/add.ts';
import { avgPool2d } from '../../kernels/avg-pool2d.ts';
import { gelu } from '../../kernels/activation.ts';
import { conv2d } from '../../kernels/conv2d.ts';
import { dwconv2d } from '../../kernels/dwconv2d.ts';
import { expectDtype, expectShape } from '../../kernels/common.ts';
import { grn } from '../../kernels/grn.ts';
import { matmul } from '../../kernels/matmul.ts';
import { layernorm } from '../../kernels/norm.ts';
import { yasa2GridSide, yasa2Workspace } from './config.ts';
import type { Yasa2Block, Yasa2Weights } from './weights.ts';

export interface Yasa2EncodeOptions {
  /** Stop after this many blocks of each stage (benchmarks of a reduced depth); default all. */
  maxBlocksPerStage?: number;
  /** Submit after every block (default true). */
  flushPerBlock?: boolean;
}

/** Encodes one tile: pixels F32 [3, S, S] (normalized, CHW) -> out F32 [pooledSide², projOut]. */
export function encodeYasa2Tile(gpu: Gpu, rec: Recorder, w: Yasa2Weights, pixels: Tensor, out: Tensor, opts: Yasa2EncodeOptions = {}): void {
  const cfg = w.config;
  const op = 'yasa2';
  expectDtype(op, 'pixels', pixels, ['F32']);
  expectShape(op, 'pixels', pixels, [3, cfg.imageSize, cfg.imageSize]);
  const tokens = cfg.pooledSide * cfg.pooledSide;
  expectShape(op, 'out', out, [tokens, cfg.projOut]);
  const flush = opts.flushPerBlock ?? true;
  const maxBlocks = opts.maxBlocksPerStage ?? Infinity;
  if (!(maxBlocks >= 0)) throw new ShapeError(op, `maxBlocksPerStage must be >= 0, got ${maxBlocks}`);

  // Workspaces sized for the largest stage: x (running map), t (block input after dwconv / the
  // downsampling LN), u (the 4C-wide hidden). Released once everything using them is submitted.
  const ws = yasa2Workspace(cfg);
  const xBuf = gpu.tensor([ws.x], 'F32', 'yasa2-x');
  const tBuf = gpu.tensor([ws.t], 'F32', 'yasa2-t');
  const uBuf = gpu.tensor([ws.u], 'F32', 'yasa2-u');
  const last = cfg.widths[cfg.widths.length - 1];
  const hid = gpu.tensor([tokens, cfg.projHidden], 'F32', 'yasa2-proj');
  const pooled = gpu.tensor([cfg.pooledSide, cfg.pooledSide, last], 'F32', 'yasa2-pooled');

  // Stem.
  let side = yasa2GridSide(cfg, 0);
  let x = xBuf.view([side, side, cfg.widths[0]]);
  conv2d(gpu, rec, pixels, w.patchW, w.patchB, x, { stride: cfg.patchSize, layout: 'chw' });
  layernorm(gpu, rec, rows(x), w.patchLnW, w.patchLnB, rows(x), { eps: cfg.eps });

  cfg.depths.forEach((_, s) => {
    const stage = w.stages[s];
    const c = cfg.widths[s];
    if (stage.down) {
      const prev = cfg.widths[s - 1];
      const t = tBuf.view([side, side, prev]);
      layernorm(gpu, rec, rows(x), stage.down.lnW, stage.down.lnB, rows(t), { eps: cfg.eps });
      side /= 2;
      x = xBuf.view([side, side, c]);
      conv2d(gpu, rec, t, stage.down.convW, stage.down.convB, x, { stride: 2 });
    }
    const blocks = stage.blocks.slice(0, maxBlocks);
    for (const blk of blocks) {
      block(gpu, rec, blk, x, tBuf.view([side, side, c]), uBuf.view([side * side, 4 * c]), cfg.eps);
      if (flush) rec.flush();
    }
  });

  // Position table (row t for token t: the table's own 50-wide grid, not the map's), pool, project.
  const withPos = tBuf.view([side * side, last]);
  add(gpu, rec, rows(x), w.pos, withPos);
  avgPool2d(gpu, rec, withPos.reshape([side, side, last]), pooled, side / cfg.pooledSide);
  matmul(gpu, rec, pooled.reshape([tokens, last]), w.mm0W, hid, w.mm0B ? { bias: w.mm0B } : {});
  gelu(gpu, rec, hid, hid, { approx: 'erf' });
  matmul(gpu, rec, hid, w.mm2W, out, w.mm2B ? { bias: w.mm2B } : {});

  rec.onSubmitted(() => { for (const b of [xBuf, tBuf, uBuf, hid, pooled]) b.release(); });
}

/** One ConvNeXt V2 block on the running map x [side, side, C] (updated in place). */
function block(gpu: Gpu, rec: Recorder, b: Yasa2Block, x: Tensor, t: Tensor, u: Tensor, eps: number): void {
  dwconv2d(gpu, rec, x, b.dwW, b.dwB, t, { padding: 3 });
  layernorm(gpu, rec, rows(t), b.lnW, b.lnB, rows(t), { eps });
  matmul(gpu, rec, rows(t), b.pw1W, u, { bias: b.pw1B });
  gelu(gpu, rec, u, u, { approx: 'erf' });
  grn(gpu, rec, u, b.grnW, b.grnB, u);
  matmul(gpu, rec, u, b.pw2W, rows(x), { bias: b.pw2B, accumulate: true });
}

/** A channels-last map [H, W, C] seen as rows of pixels [H * W, C]. */
function rows(t: Tensor): Tensor {
  const c = t.shape[t.shape.length - 1];
  return t.reshape([t.numel / c, c]);
}
