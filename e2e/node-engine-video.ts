// The Node in-thread engine on a clip, for e2e/engine-video.test.mjs to compare the worker engine with:
//   tsx e2e/node-engine-video.ts <out-dir> <max_tokens>
// writes the random-weight gemma3 text model (width 128, src/testing/mmproj.ts) into out-dir, sends the
// VP8 fixture clip (src/testing/fixtures/video/colours-vp8.webm, first frame only) as a video_url part
// with ../shared/models/mmproj-tinygemma3.gguf, and prints one JSON line { text, usage }.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) {
  process.env.VK_ICD_FILENAMES = SWIFTSHADER;
  process.env.NODEVICE_SELECT ??= '1';
}
const { createEngine } = await import('../src/index.ts');
const { gemma3TextModelBytes, TINY_MMPROJ } = await import('../src/testing/mmproj.ts');

const [dir, n] = process.argv.slice(2);
if (!dir || !n) {
  process.stderr.write('usage: tsx e2e/node-engine-video.ts <out-dir> <max_tokens>\n');
  process.exit(2);
}
const model = join(dir, 'gemma3-128.gguf');
writeFileSync(model, gemma3TextModelBytes());
const clip = readFileSync(new URL('../src/testing/fixtures/video/colours-vp8.webm', import.meta.url));

const engine = createEngine({ worker: false });
try {
  await engine.loadModel({ model, mmproj: TINY_MMPROJ, contextLength: 512 });
  const r = await engine.chat.completions.create({
    messages: [{ role: 'user', content: [{ type: 'video_url', video_url: { url: new Blob([clip]), max_frames: 1 } }, { type: 'text', text: 'what happens?' }] }],
    max_tokens: Number(n), temperature: 0,
  });
  process.stdout.write(`${JSON.stringify({ text: r.choices[0].message.content, usage: r.usage })}\n`);
} finally {
  await engine.dispose();
}
