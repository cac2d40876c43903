// The vision fixtures for the chat page's browser test, and what the Node in-thread engine answers with
// them, for the test to compare the page (the worker engine) with:
//   tsx e2e/chat-vision-expect.ts <dir> <prompt> <max_tokens>
// writes <dir>/tinygemma3-text.gguf (a random gemma3 text model of width 128, matching
// ../shared/models/mmproj-tinygemma3.gguf) and <dir>/picture.png (an opaque 64x48 pattern), then asks the
// engine, greedily, the chat question the page sends: the image, then the prompt, as one user turn. Prints
// one JSON line { model, mmproj, image, text, completionTokens }.

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) {
  process.env.VK_ICD_FILENAMES = SWIFTSHADER;
  process.env.NODEVICE_SELECT ??= '1';
}
const { createEngine } = await import('../src/index.ts');
const { gemma3TextModelBytes, TINY_MMPROJ } = await import('../src/testing/mmproj.ts');

const [dir, prompt, n] = process.argv.slice(2);
if (!dir || prompt === undefined || !n) {
  process.stderr.write('usage: tsx e2e/chat-vision-expect.ts <dir> <prompt> <max_tokens>\n');
  process.exit(2);
}

/** Opaque (alpha 255), so no decoder's alpha handling can change the pixels the encoder sees. */
function picture(width: number, height: number): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const inside = x >= 16 && x < 48 && y >= 12 && y < 36;
      png.data[i] = inside ? 64 : 224;
      png.data[i + 1] = inside ? 160 : (x * 4) & 255;
      png.data[i + 2] = inside ? 224 : (y * 5) & 255;
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

const model = join(dir, 'tinygemma3-text.gguf');
const image = join(dir, 'picture.png');
writeFileSync(model, gemma3TextModelBytes());
const png = picture(64, 48);
writeFileSync(image, png);

const engine = createEngine({ worker: false });
try {
  await engine.loadModel({ model, mmproj: TINY_MMPROJ });
  const r = await engine.chat.completions.create({
    messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } }, { type: 'text', text: prompt }] }],
    max_tokens: Number(n),
    temperature: 0,
  });
  const out = { model, mmproj: TINY_MMPROJ, image, text: r.choices[0].message.content ?? '', completionTokens: r.usage.completion_tokens };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  await engine.dispose();
}
