// The Node in-thread engine on an image, for e2e/engine-vision.test.mjs to compare the worker engine with:
//   tsx e2e/node-engine-vision.ts <out-dir> <max_tokens>
// writes the random-weight gemma3 text model (width 128, src/testing/mmproj.ts) and an opaque random PNG
// into out-dir, asks the engine (with ../shared/models/mmproj-tinygemma3.gguf) to describe the PNG
// greedily, and prints one JSON line { text, usage }. Dawn runs on SwiftShader when no Vulkan driver is chosen.

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) {
  process.env.VK_ICD_FILENAMES = SWIFTSHADER;
  process.env.NODEVICE_SELECT ??= '1';
}
const { createEngine } = await import('../src/index.ts');
const { gemma3TextModelBytes, TINY_MMPROJ } = await import('../src/testing/mmproj.ts');
const { PNG } = await import('pngjs');
const { Rng } = await import('../src/testing/rng.ts');

const [dir, n] = process.argv.slice(2);
if (!dir || !n) {
  process.stderr.write('usage: tsx e2e/node-engine-vision.ts <out-dir> <max_tokens>\n');
  process.exit(2);
}
const model = join(dir, 'gemma3-128.gguf');
writeFileSync(model, gemma3TextModelBytes());
const img = new PNG({ width: 40, height: 24 });
const rng = new Rng(9);
for (let i = 0; i < img.data.length; i++) img.data[i] = (i & 3) === 3 ? 255 : rng.int(0, 256);
const png = PNG.sync.write(img);
writeFileSync(join(dir, 'picture.png'), png);

const engine = createEngine({ worker: false });
try {
  await engine.loadModel({ model, mmproj: TINY_MMPROJ, contextLength: 512 });
  const r = await engine.chat.completions.create({
    messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } }, { type: 'text', text: 'describe' }] }],
    max_tokens: Number(n), temperature: 0,
  });
  process.stdout.write(`${JSON.stringify({ text: r.choices[0].message.content, usage: r.usage })}\n`);
} finally {
  await engine.dispose();
}
