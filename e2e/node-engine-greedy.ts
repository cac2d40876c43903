// The Node in-thread engine's greedy raw completion, for the browser tests to compare the worker engine with:
//   tsx e2e/node-engine-greedy.ts <model.gguf> <prompt> <max_tokens>
// prints one JSON line { tokens, text, usage }. Dawn runs on SwiftShader when no Vulkan driver is chosen.

import { existsSync } from 'node:fs';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) {
  process.env.VK_ICD_FILENAMES = SWIFTSHADER;
  process.env.NODEVICE_SELECT ??= '1';
}
const { createEngine } = await import('../src/index.ts');

const [model, prompt, n] = process.argv.slice(2);
if (!model || prompt === undefined || !n) {
  process.stderr.write('usage: tsx e2e/node-engine-greedy.ts <model.gguf> <prompt> <max_tokens>\n');
  process.exit(2);
}
const engine = createEngine({ worker: false });
try {
  await engine.loadModel({ model, contextLength: 256 });
  const r = await engine.completions.create({ prompt, max_tokens: Number(n), temperature: 0 });
  process.stdout.write(`${JSON.stringify({ tokens: r.choices[0].tokens, text: r.choices[0].text, usage: r.usage })}\n`);
} finally {
  await engine.dispose();
}
