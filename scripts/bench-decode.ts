// Decode benchmark: loads a stories260K GGUF, generates 128 tokens greedily with the Generator (one
// submission per token) and prints tokens/s, dispatches/token and submits/token; with --profile, where
// the device has timestamp queries, GPU time per kernel label over a profiled second run.
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json NODEVICE_SELECT=1 \
//     npx tsx scripts/bench-decode.ts [--model stories260K-q4_0.gguf] [--tokens 128] [--reps 3] [--profile] [--rounding]
// (the ICD default below is applied when VK_ICD_FILENAMES is unset and SwiftShader is installed.)

import { existsSync } from 'node:fs';
import { join } from 'node:path';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;
process.env.NODEVICE_SELECT ??= '1';

const { Gpu } = await import('../src/gpu/gpu.ts');
const { openGgufPath } = await import('../src/formats/gguf-node.ts');
const { loadLanguageModel } = await import('../src/models/load.ts');
const { Generator } = await import('../src/runtime/generate.ts');

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const models = arg('--model', 'stories260K.gguf,stories260K-q8_0.gguf,stories260K-q4_0.gguf').split(',');
const nTokens = Number(arg('--tokens', '128'));
const reps = Number(arg('--reps', '3'));
const profile = args.includes('--profile');
const rounding = args.includes('--rounding');
const dir = join(import.meta.dirname, '../../shared/models');

const gpu = await Gpu.create({ label: 'bench-decode' });
console.log(`adapter: ${gpu.info.vendor} ${gpu.info.description} (${gpu.info.backend}); subgroups ${gpu.info.features.subgroups}; ${nTokens} tokens x ${reps} runs${rounding ? '; llama.cpp activation rounding' : ''}`);

for (const file of models) {
  const gguf = await openGgufPath(join(dir, file));
  const { model, weights } = await loadLanguageModel(gpu, gguf, { contextLength: nTokens + 8, maxBatch: 8, llamaCppActivationRounding: rounding });
  await gguf.close();
  const gen = new Generator(gpu, model);
  const prompt = [1]; // BOS: the prompt costs one forward, every other token is a decode step
  await gen.generate(prompt, { maxTokens: 8 }); // warm-up: pipelines compiled, bind groups cached
  await gpu.sync();
  const rates: number[] = [];
  let perToken = { dispatches: 0, submits: 0 };
  let text: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = { ...gpu.counters };
    const res = await gen.generate(prompt, { maxTokens: nTokens });
    const steps = res.tokens.length - 1; // the first token comes from the prompt's forward
    rates.push(steps / (res.decodeMs / 1e3));
    // The counters cover the prompt's forward and the decode steps: one forward per returned token.
    perToken = {
      dispatches: (gpu.counters.dispatches - c0.dispatches) / res.tokens.length,
      submits: (gpu.counters.submits - c0.submits) / res.tokens.length,
    };
    text = res.tokens;
  }
  rates.sort((a, b) => a - b);
  const med = rates[Math.floor(rates.length / 2)];
  console.log(`${file.padEnd(24)} ${med.toFixed(1).padStart(7)} tok/s (runs: ${rates.map((r) => r.toFixed(1)).join(', ')})  ` +
    `${perToken.dispatches.toFixed(1)} dispatches/token, ${perToken.submits.toFixed(2)} submits/token; first ids ${text.slice(0, 8).join(' ')}`);
  if (profile && gpu.profiler.supported) {
    gpu.profiler.enable(true);
    const res = await gen.generate(prompt, { maxTokens: Math.min(nTokens, 32) });
    const times = await gpu.profiler.collect();
    gpu.profiler.enable(false);
    const total = times.reduce((s, t) => s + t.totalMs, 0);
    console.log(`  GPU time per token by kernel (profiled run, each dispatch in its own pass): ${(total / res.tokens.length).toFixed(3)} ms`);
    for (const t of times.sort((a, b) => b.totalMs - a.totalMs).slice(0, 12)) {
      console.log(`    ${t.label.padEnd(36)} ${(t.totalMs / res.tokens.length).toFixed(3).padStart(8)} ms/token  ${(t.count / res.tokens.length).toFixed(1)} calls/token`);
    }
  }
  gen.dispose();
  model.dispose();
  weights.destroy();
}
gpu.destroy();
process.exit(0);
