// The shape of a yasa2 (ConvNeXt V2) vision encoder and its projector, declared rather than coded:
// the runner walks `depths` and `widths`, so Reka Edge's ConvNeXt V2-Huge and the tiny test fixtures
// differ only here.

import { ShapeError } from '../../gpu/errors.ts';

export interface Yasa2Config {
  /** Side of the square tile the encoder takes (512 for Reka Edge). */
  imageSize: number;
  /** Stem convolution kernel and stride (4). */
  patchSize: number;
  /** Blocks per stage ([3, 3, 27, 3]). */
  depths: readonly number[];
  /** Channels per stage ([352, 704, 1408, 2816]); stage s > 0 starts with a 2 x 2 / 2 downsampling conv. */
  widths: readonly number[];
  /** LayerNorm epsilon (clip.vision.attention.layer_norm_epsilon; the converter's default is 1e-6). */
  eps: number;
  /** Side of the grid the 2-D sin-cos table is built for (50): token t of the final map takes the
   *  table's row t, i.e. grid position (t / 50, t % 50), not its own (y, x). */
  posGridSide: number;
  /** Side of the pooled token grid (8: 64 tokens per tile). */
  pooledSide: number;
  /** Projector: Linear(widths[-1] -> projHidden), GELU, Linear(projHidden -> projOut). */
  projHidden: number;
  projOut: number;
}

/** Reka Edge's encoder (ConvNeXt V2-Huge, 512 x 512 tiles, projector to the 4096-wide decoder). */
export const REKA_EDGE_YASA2: Yasa2Config = {
  imageSize: 512, patchSize: 4, depths: [3, 3, 27, 3], widths: [352, 704, 1408, 2816], eps: 1e-6,
  posGridSide: 50, pooledSide: 8, projHidden: 4096, projOut: 4096,
};

/** Side of the map after stage s (stem: imageSize / patchSize, then halved per later stage). */
export function yasa2GridSide(cfg: Yasa2Config, stage: number): number {
  return cfg.imageSize / cfg.patchSize / 2 ** stage;
}

/** Checks that the sizes divide as the encoder needs; throws ShapeError naming the first that does not. */
export function validateYasa2Config(cfg: Yasa2Config): void {
  const bad = (msg: string, details: Record<string, unknown>) => { throw new ShapeError('yasa2 config', msg, details); };
  if (cfg.depths.length === 0 || cfg.depths.length !== cfg.widths.length) bad(`depths (${cfg.depths.length}) and widths (${cfg.widths.length}) must be non-empty and of one length`, { depths: cfg.depths, widths: cfg.widths });
  const last = yasa2GridSide(cfg, cfg.depths.length - 1);
  if (!Number.isInteger(last) || last < 1) bad(`image size ${cfg.imageSize} does not divide into patch ${cfg.patchSize} and ${cfg.depths.length - 1} halvings`, { imageSize: cfg.imageSize });
  if (last % cfg.pooledSide !== 0) bad(`final grid ${last} x ${last} does not pool evenly to ${cfg.pooledSide} x ${cfg.pooledSide}`, { last, pooledSide: cfg.pooledSide });
  if (last * last > cfg.posGridSide * cfg.posGridSide) bad(`final grid has ${last * last} tokens, the position table only ${cfg.posGridSide ** 2}`, { last });
  if (cfg.widths.some((w) => !Number.isInteger(w) || w < 1 || w % 2 !== 0)) bad(`widths must be positive even integers (the sin-cos table splits channels in halves), got [${cfg.widths.join(', ')}]`, { widths: cfg.widths });
  if (cfg.widths[cfg.widths.length - 1] % 4 !== 0) bad(`the last width ${cfg.widths[cfg.widths.length - 1]} must be a multiple of 4 (sin and cos of two axes)`, {});
}

/** Multiply-accumulates of one tile, by part (for the benchmark and the memory/time estimate). */
export function yasa2Macs(cfg: Yasa2Config): { stem: number; down: number; dw: number; pw: number; projector: number; total: number } {
  let side = yasa2GridSide(cfg, 0);
  const stem = side * side * cfg.widths[0] * 3 * cfg.patchSize * cfg.patchSize;
  let down = 0, dw = 0, pw = 0;
  cfg.depths.forEach((depth, s) => {
    const c = cfg.widths[s];
    if (s > 0) {
      side /= 2;
      down += side * side * c * cfg.widths[s - 1] * 4;
    }
    const t = side * side;
    dw += depth * t * c * 49;
    pw += depth * 2 * t * c * 4 * c;
  });
  const tokens = cfg.pooledSide * cfg.pooledSide;
  const projector = tokens * (cfg.widths[cfg.widths.length - 1] * cfg.projHidden + cfg.projHidden * cfg.projOut);
  return { stem, down, dw, pw, projector, total: stem + down + dw + pw + projector };
}

/**
 * Elements of the encoder's per-tile workspaces (all F32): x the running map and t the block input
 * (each the largest [side², C] of any stage, or the 4·C_prev-wide map a downsampling conv reads), u the
 * 4C-wide hidden of the largest stage, the projector's hidden rows and the pooled map.
 */
export function yasa2Workspace(cfg: Yasa2Config): { x: number; t: number; u: number; proj: number; pooled: number } {
  let maxXC = 0, maxU = 0;
  cfg.depths.forEach((_, s) => {
    const side = yasa2GridSide(cfg, s);
    maxXC = Math.max(maxXC, side * side * cfg.widths[s], s > 0 ? side * side * 4 * cfg.widths[s - 1] : 0);
    maxU = Math.max(maxU, side * side * 4 * cfg.widths[s]);
  });
  const tokens = cfg.pooledSide * cfg.pooledSide;
  return { x: maxXC, t: maxXC, u: maxU, proj: tokens * cfg.projHidden, pooled: tokens * cfg.widths[cfg.widths.length - 1] };
}
