// yasa2 (Reka Edge vision encoder) benchmark: random weights of the real widths [352, 704, 1408, 2816]
// (pointwise and projector matrices Q8_0 as in the community mmproj, convolutions F16 as llama.cpp's
// converter stores them), one 512 x 512 tile through encodeYasa2Tile, timed after a warm-up run.
// Prints ms per tile, GMAC/s, and ms per full tile (depths [3, 3, 27, 3], ~600 GMAC) at that rate.
//
// The DEFAULT IS A REDUCED DEPTH, one block per stage ([1, 1, 1, 1], ~80 GMAC, every kernel at its
// real size): the full tile takes minutes on SwiftShader. The full-tile figure is then an estimate
// (measured GMAC/s applied to the full count; the blocks left out are the same shapes as the ones run).
// --depths 3,3,27,3 runs the real model.
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json NODEVICE_SELECT=1 \
//     npx tsx scripts/bench-yasa2.ts [--depths 1,1,1,1] [--linear Q8_0|F16|F32] [--reps 1] [--kernels]
// --kernels also times each convolution (and GRN, and the first pointwise matmul) at its real size
// per stage: ms and GMAC/s per op.
// (the ICD default below is applied when VK_ICD_FILENAMES is unset and SwiftShader is installed.)

import { existsSync } from 'node:fs';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;
process.env.NODEVICE_SELECT ??= '1';

const { Gpu } = await import('../src/gpu/gpu.ts');
const { f32ToF16Bits } = await import('../src/formats/f16.ts');
const { REKA_EDGE_YASA2, yasa2Macs } = await import('../src/vision/yasa2/config.ts');
const { uploadYasa2Weights } = await import('../src/vision/yasa2/weights.ts');
const { encodeYasa2Tile } = await import('../src/vision/yasa2/encoder.ts');
const { conv2d, conv2dMacs } = await import('../src/kernels/conv2d.ts');
const { dwconv2d } = await import('../src/kernels/dwconv2d.ts');
const { grn } = await import('../src/kernels/grn.ts');
const { matmul } = await import('../src/kernels/matmul.ts');
type HostTensor = import('../src/vision/yasa2/weights.ts').HostTensor;
type DType = import('../src/gpu/tensor.ts').DType;

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const depths = arg('--depths', '1,1,1,1').split(',').map(Number);
const linear = arg('--linear', 'Q8_0') as DType;
const reps = Number(arg('--reps', '1'));
const cfg = { ...REKA_EDGE_YASA2, depths, widths: [...REKA_EDGE_YASA2.widths] };
const full = yasa2Macs(REKA_EDGE_YASA2).total;
const macs = yasa2Macs(cfg).total;

// A fast seeded generator: the real widths mean ~700 M weights at full depth.
let state = 0x2545f491;
const next = () => { state ^= state << 13; state ^= state >>> 17; state ^= state << 5; return state >>> 0; };
const uniform = () => next() / 4294967296 * 2 - 1;

/** Random weights for a tensor, by its role (read off the name and shape). */
function host(name: string): HostTensor | undefined {
  const shape = shapeOf(name);
  if (!shape) return undefined;
  const n = shape.reduce((a, d) => a * d, 1);
  const isMatrix = /\.pw[12]\.weight$|^mm\.[02]\.weight$/.test(name);
  const isConv = /patch_embd\.weight|down\.conv\.weight|\.dw\.weight$/.test(name);
  const fanIn = isConv ? n / shape[0] : shape[shape.length - 1];
  const a = Math.sqrt(3 / fanIn) * (name.includes('pw2') ? 0.5 : 1);
  if (isMatrix && linear === 'Q8_0') {
    const bytes = new Uint8Array((n / 32) * 34);
    const d = f32ToF16Bits(a / 127);
    for (let b = 0; b < n / 32; b++) {
      bytes[b * 34] = d & 0xff; bytes[b * 34 + 1] = d >> 8;
      for (let i = 0; i < 32; i += 4) {
        const r = next();
        bytes[b * 34 + 2 + i] = r & 0xff; bytes[b * 34 + 3 + i] = (r >>> 8) & 0xff;
        bytes[b * 34 + 4 + i] = (r >>> 16) & 0xff; bytes[b * 34 + 5 + i] = r >>> 24;
      }
    }
    return { shape, dtype: 'Q8_0', bytes };
  }
  if (isConv || (isMatrix && linear === 'F16')) {
    const h = new Uint16Array(n);
    for (let i = 0; i < n; i++) h[i] = f32ToF16Bits(a * uniform());
    return { shape, dtype: 'F16', bytes: new Uint8Array(h.buffer) };
  }
  const v = new Float32Array(n);
  const isNormWeight = /(ln|patch_ln)\.weight$/.test(name);
  for (let i = 0; i < n; i++) v[i] = isMatrix ? a * uniform() : isNormWeight ? 1 + 0.1 * uniform() : 0.1 * uniform();
  return { shape, dtype: 'F32', bytes: new Uint8Array(v.buffer) };
}

function shapeOf(name: string): number[] | undefined {
  const W = cfg.widths;
  const last = W[W.length - 1];
  const fixed: Record<string, number[]> = {
    'v.patch_embd.weight': [W[0], 3, 4, 4], 'v.patch_embd.bias': [W[0]], 'v.patch_ln.weight': [W[0]], 'v.patch_ln.bias': [W[0]],
    'mm.0.weight': [cfg.projHidden, last], 'mm.0.bias': [cfg.projHidden], 'mm.2.weight': [cfg.projOut, cfg.projHidden], 'mm.2.bias': [cfg.projOut],
  };
  if (fixed[name]) return fixed[name];
  let m = /^v\.stage\.(\d+)\.down\.(ln|conv)\.(weight|bias)$/.exec(name);
  if (m) {
    const s = Number(m[1]);
    if (s === 0 || s >= depths.length) return undefined;
    return m[2] === 'ln' ? [W[s - 1]] : m[3] === 'weight' ? [W[s], W[s - 1], 2, 2] : [W[s]];
  }
  m = /^v\.stage\.(\d+)\.blk\.(\d+)\.(dw|ln|pw1|grn|pw2)\.(weight|bias)$/.exec(name);
  if (m) {
    const s = Number(m[1]), b = Number(m[2]), c = W[s];
    if (s >= depths.length || b >= depths[s]) return undefined;
    const part = m[3], wb = m[4];
    if (part === 'dw') return wb === 'weight' ? [c, 1, 7, 7] : [c];
    if (part === 'ln') return [c];
    if (part === 'pw1') return wb === 'weight' ? [4 * c, c] : [4 * c];
    if (part === 'grn') return [4 * c];
    return wb === 'weight' ? [c, 4 * c] : [c];
  }
  return undefined; // no stored position table: built on the CPU as for a file without one
}

const gpu = await Gpu.create({ label: 'bench-yasa2' });
console.log(`adapter: ${gpu.info.vendor} ${gpu.info.description} (${gpu.info.backend})`);
console.log(`yasa2 tile ${cfg.imageSize}x${cfg.imageSize}, widths [${cfg.widths}], depths [${depths}]${depths.join() === '3,3,27,3' ? ' (full)' : ' (REDUCED; full is 3,3,27,3)'}, matrices ${linear}, convs F16; ${(macs / 1e9).toFixed(1)} GMAC (full tile ${(full / 1e9).toFixed(1)})`);

const pixels = new Float32Array(3 * cfg.imageSize * cfg.imageSize);
for (let i = 0; i < pixels.length; i++) pixels[i] = uniform();
const tp = gpu.upload(pixels, [3, cfg.imageSize, cfg.imageSize]);
const out = gpu.tensor([64, cfg.projOut]);

// Warm-up on narrow widths (same image size, same weight types, so the same pipelines): compiles every
// shader without spending a second real-width run on SwiftShader.
let t0 = performance.now();
{
  const real = cfg.widths;
  cfg.widths = [32, 64, 96, 128];
  const narrow = uploadYasa2Weights(gpu, cfg, host);
  const o = gpu.tensor([64, cfg.projOut]);
  gpu.run((rec) => encodeYasa2Tile(gpu, rec, narrow, tp, o));
  await gpu.sync();
  narrow.destroy(); o.release();
  cfg.widths = real;
}
console.log(`warm-up on narrow widths (compiles pipelines): ${(performance.now() - t0).toFixed(0)} ms`);

t0 = performance.now();
let last: { name: string; t: HostTensor | undefined } = { name: '', t: undefined };
const weightsBefore = gpu.weightBytes;
const weights = uploadYasa2Weights(gpu, cfg, (name) => (last.name === name ? last.t : (last = { name, t: host(name) }).t));
await gpu.sync();
console.log(`weights: ${((gpu.weightBytes - weightsBefore) / 2 ** 20).toFixed(0)} MiB uploaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const times: number[] = [];
for (let r = 0; r < reps; r++) {
  t0 = performance.now();
  gpu.run((rec) => encodeYasa2Tile(gpu, rec, weights, tp, out));
  await gpu.sync();
  times.push(performance.now() - t0);
}
const check = await gpu.readF32(out);
if (!check.every(Number.isFinite)) throw new Error('yasa2 bench: non-finite output');
const best = Math.min(...times);
const rate = macs / (best / 1000) / 1e9;
console.log(`ms per tile: ${times.map((t) => t.toFixed(0)).join(', ')} (best ${best.toFixed(0)})`);
console.log(`GMAC/s: ${rate.toFixed(2)}`);
if (macs !== full) console.log(`full tile (${(full / 1e9).toFixed(0)} GMAC) at this rate: ~${(full / 1e9 / rate * 1000).toFixed(0)} ms (estimate)`);

if (args.includes('--kernels')) {
  type Rec = import('../src/gpu/recorder.ts').Recorder;
  const time = async (label: string, gmac: number, fn: (rec: Rec) => void) => {
    gpu.run(fn);
    await gpu.sync(); // warm-up: compile
    let bestMs = Infinity;
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      gpu.run(fn);
      await gpu.sync();
      bestMs = Math.min(bestMs, performance.now() - t);
    }
    console.log(`  ${label.padEnd(44)} ${bestMs.toFixed(1).padStart(9)} ms  ${gmac ? `${(gmac / (bestMs / 1000)).toFixed(2).padStart(8)} GMAC/s` : ''}`);
  };
  console.log('per op, best of', reps);
  const W = cfg.widths;
  let side = cfg.imageSize / 4;
  const stemOut = gpu.tensor([side, side, W[0]]);
  await time(`conv2d stem 4x4/4 3 -> ${W[0]} (${side}x${side})`, conv2dMacs(side, side, W[0], 3, 4, 4) / 1e9, (rec) => conv2d(gpu, rec, tp, weights.patchW, weights.patchB, stemOut, { stride: 4, layout: 'chw' }));
  stemOut.release();
  for (let s = 0; s < W.length; s++) {
    const c = W[s];
    if (s > 0) {
      const inp = gpu.tensor([side, side, W[s - 1]]);
      side /= 2;
      const o = gpu.tensor([side, side, c]);
      const d = weights.stages[s].down!;
      await time(`conv2d down 2x2/2 ${W[s - 1]} -> ${c} (${side}x${side})`, conv2dMacs(side, side, c, W[s - 1], 2, 2) / 1e9, (rec) => conv2d(gpu, rec, inp, d.convW, d.convB, o, { stride: 2 }));
      inp.release(); o.release();
    }
    const blk = weights.stages[s].blocks[0];
    const x = gpu.tensor([side, side, c]), y = gpu.tensor([side, side, c]), u = gpu.tensor([side * side, 4 * c]);
    gpu.poison(x, 0x3f000000); gpu.poison(u, 0x3f000000); // 0.5 everywhere: finite inputs
    await time(`dwconv2d 7x7 ${c} (${side}x${side})`, (side * side * c * 49) / 1e9, (rec) => dwconv2d(gpu, rec, x, blk.dwW, blk.dwB, y, { padding: 3 }));
    await time(`grn ${side * side} x ${4 * c}`, 0, (rec) => grn(gpu, rec, u, blk.grnW, blk.grnB, u));
    await time(`matmul pw1 ${side * side} x ${c} -> ${4 * c} (${linear})`, (side * side * c * 4 * c) / 1e9, (rec) => matmul(gpu, rec, y.reshape([side * side, c]), blk.pw1W, u, { bias: blk.pw1B }));
    x.release(); y.release(); u.release();
  }
}
weights.destroy();
gpu.destroy();
