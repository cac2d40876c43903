// The command line: `edgewise generate --model <path|url> (--prompt TEXT | --prompt-tokens 1,2,3) ...`.
// Text streams to stdout as it is generated; with --json the last stdout line is one JSON object.
// Bad input (unknown flags, a missing model file, bad token ids) is one line on stderr and exit code 2;
// a failure while running is one line and exit code 1.
//
// In Node the GPU is Dawn over the system's Vulkan drivers. When none gives an adapter and
// VK_ICD_FILENAMES is unset, the command runs again on Chromium's SwiftShader (a CPU Vulkan driver),
// and says so on stderr.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GgufFormatError, GgufSourceError, openGgufUrl, type Gguf } from '../formats/gguf.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import { WebGpuUnavailableError } from '../gpu/errors.ts';
import { Gpu } from '../gpu/gpu.ts';
import { ModelConfigError, UnsupportedArchitectureError } from '../models/hparams.ts';
import { loadLanguageModel, ModelTooLargeError } from '../models/load.ts';
import { Generator, type PromptSegment, type SamplingOptions } from '../runtime/generate.ts';
import { chatPrompt, ChatTemplateError } from '../tokenizer/chat-template.ts';
import { loadTokenizer, TokenizerError, type TextTokenizer } from '../tokenizer/tokenizer.ts';
import { checkClipTensors, checkProjectorWidth, imageTokenCount, ProjectorWidthError, readClipHparams, UnsupportedProjectorError, VisionConfigError } from '../vision/clip.ts';
import { VisionEncoder } from '../vision/encoder.ts';
import { ImageDecodeError, preprocessImage } from '../vision/image.ts';
import { loadImageFile } from '../vision/image-node.ts';
import { DEFAULT_VIDEO_LIMITS } from '../vision/video/limits.ts';
import { DEFAULT_VIDEO_MAX_FRAMES, formatTimestamp, VideoDecodeError } from '../vision/video/sample.ts';
import { assembleGemma3Prompt, MEDIA_MARKER, MultimodalPromptError, promptLength } from '../runtime/multimodal.ts';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const USAGE = `usage: edgewise generate --model <path|url> (--prompt TEXT | --prompt-tokens 1,2,3) [options]

  --model PATH|URL      GGUF model file (or http(s) URL, read by ranges)
  --prompt TEXT         prompt text, tokenized as llama.cpp does (BOS as the file says, special tokens parsed)
  --prompt-tokens IDS   prompt token ids, comma-separated, used as given
  --chat                wrap --prompt as a user message in the model's chat template
  --max-tokens N        tokens to generate (default 128)
  --temperature T       0: greedy (default 0.8)
  --top-k K             default 40 (0: off)
  --top-p P             default 0.95 (1: off)
  --min-p P             default 0.05 (0: off)
  --seed S              sampling seed (default: random)
  --repeat-penalty P    llama.cpp's repeat penalty over the last --repeat-last-n tokens (default 1: off)
  --presence-penalty P  subtracted once from each recent token's logit (default 0: off)
  --frequency-penalty P subtracted once per occurrence among the recent tokens (default 0: off)
  --repeat-last-n N     recent tokens (prompt and generated) the penalties count (default 64)
  --stop TEXT           end generation at this text, which is not printed (repeatable)
  --ctx-size N          context length (default: prompt + max tokens, at most the model's)
  --mmproj PATH         vision encoder GGUF (llama.cpp's mmproj; gemma3 projector) for --image
  --image PATH          PNG or JPEG placed at each ${MEDIA_MARKER} in --prompt, or before the text when it
                        has none (repeatable; needs --mmproj; sampled, stopped and streamed as text prompts are)
  --video PATH          a WebM or MP4 clip (VP8/VP9; needs --mmproj and the optional package
                        @libav.js/variant-webm-vp9): frames sampled at --video-fps, at most
                        --video-max-frames spread over the clip, each as "mm:ss.t: " and the image; it takes
                        the ${MEDIA_MARKER} after the images' (or goes after them, before the text)
  --video-fps N         frames per second of clip (default 1)
  --video-max-frames N  at most this many frames (default ${DEFAULT_VIDEO_MAX_FRAMES})
  --json                print one JSON object as the last stdout line instead of streaming text
  -h, --help            this text`;

/** Bad input: exit code 2. */
class UsageError extends Error {}

/** No adapter here; run again with SwiftShader. */
class RetryOnSwiftShader extends Error {}

interface GenerateArgs {
  model: string;
  prompt: string | null;
  promptTokens: number[] | null;
  chat: boolean;
  maxTokens: number;
  sampling: SamplingOptions;
  ctxSize: number | null;
  stop: string[];
  json: boolean;
  mmproj: string | null;
  images: string[];
  video: { path: string; fps: number; maxFrames: number } | null;
}

function num(name: string, v: string | undefined, fallback: number, check: (x: number) => boolean, what: string): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new UsageError(`--${name} ${JSON.stringify(v)}: ${what}`);
  return x;
}

function parseTokenIds(s: string): number[] {
  const parts = s.split(',').map((p) => p.trim());
  return parts.map((p) => {
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(Number(p))) throw new UsageError(`--prompt-tokens: ${JSON.stringify(p)} is not a token id (expected comma-separated non-negative integers)`);
    return Number(p);
  });
}

function parseGenerateArgs(argv: string[]): GenerateArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' }, prompt: { type: 'string' }, 'prompt-tokens': { type: 'string' }, chat: { type: 'boolean' },
        'max-tokens': { type: 'string' }, temperature: { type: 'string' }, 'top-k': { type: 'string' }, 'top-p': { type: 'string' },
        'min-p': { type: 'string' }, seed: { type: 'string' }, 'ctx-size': { type: 'string' }, json: { type: 'boolean' },
        'repeat-penalty': { type: 'string' }, 'presence-penalty': { type: 'string' }, 'frequency-penalty': { type: 'string' },
        'repeat-last-n': { type: 'string' }, stop: { type: 'string', multiple: true },
        mmproj: { type: 'string' }, image: { type: 'string', multiple: true },
        video: { type: 'string' }, 'video-fps': { type: 'string' }, 'video-max-frames': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
  if (values.help) return 'help';
  if (!values.model) throw new UsageError('--model is required');
  if ((values.prompt === undefined) === (values['prompt-tokens'] === undefined)) throw new UsageError('give exactly one of --prompt and --prompt-tokens');
  if (values.chat && values.prompt === undefined) throw new UsageError('--chat needs --prompt');
  if (values.image?.length && !values.mmproj) throw new UsageError('--image needs --mmproj (the vision encoder GGUF)');
  if (values.video && !values.mmproj) throw new UsageError('--video needs --mmproj (the vision encoder GGUF)');
  if (values.video && values.prompt === undefined) throw new UsageError('--video needs --prompt');
  if ((values['video-fps'] !== undefined || values['video-max-frames'] !== undefined) && !values.video) throw new UsageError('--video-fps and --video-max-frames go with --video');
  if (values.mmproj && !values.image?.length && !values.video) throw new UsageError('--mmproj needs at least one --image or a --video');
  if (values.image?.length && values.prompt === undefined) throw new UsageError('--image needs --prompt (text, where each image goes at a ' + MEDIA_MARKER + ')');
  const int = (x: number) => Number.isInteger(x) && x >= 0;
  return {
    model: values.model,
    prompt: values.prompt ?? null,
    promptTokens: values['prompt-tokens'] !== undefined ? parseTokenIds(values['prompt-tokens']) : null,
    chat: values.chat ?? false,
    maxTokens: num('max-tokens', values['max-tokens'], 128, (x) => int(x) && x >= 1, 'must be an integer >= 1'),
    sampling: {
      temperature: num('temperature', values.temperature, 0.8, (x) => x >= 0, 'must be >= 0'),
      topK: num('top-k', values['top-k'], 40, int, 'must be an integer >= 0'),
      topP: num('top-p', values['top-p'], 0.95, (x) => x > 0 && x <= 1, 'must be in (0, 1]'),
      minP: num('min-p', values['min-p'], 0.05, (x) => x >= 0 && x <= 1, 'must be in [0, 1]'),
      seed: num('seed', values.seed, Math.floor(Math.random() * 2 ** 32), (x) => int(x) && x < 2 ** 32, 'must be an integer in [0, 2^32)'),
      repetitionPenalty: num('repeat-penalty', values['repeat-penalty'], 1, (x) => x > 0, 'must be > 0'),
      presencePenalty: num('presence-penalty', values['presence-penalty'], 0, () => true, 'must be a number'),
      frequencyPenalty: num('frequency-penalty', values['frequency-penalty'], 0, () => true, 'must be a number'),
      penaltyLastN: num('repeat-last-n', values['repeat-last-n'], 64, int, 'must be an integer >= 0'),
    },
    stop: (values.stop ?? []).map((s) => {
      if (s === '') throw new UsageError('--stop needs a non-empty text');
      return s;
    }),
    ctxSize: values['ctx-size'] !== undefined ? num('ctx-size', values['ctx-size'], 0, (x) => int(x) && x >= 1, 'must be an integer >= 1') : null,
    json: values.json ?? false,
    mmproj: values.mmproj ?? null,
    images: values.image ?? [],
    video: values.video ? {
      path: values.video,
      fps: num('video-fps', values['video-fps'], 1, (x) => x > 0, 'must be > 0'),
      maxFrames: num('video-max-frames', values['video-max-frames'], DEFAULT_VIDEO_MAX_FRAMES, (x) => int(x) && x >= 1, 'must be an integer >= 1'),
    } : null,
  };
}

async function openModel(model: string): Promise<Gguf> {
  if (/^https?:\/\//i.test(model)) return openGgufUrl(model);
  if (!existsSync(model)) throw new UsageError(`model file not found: ${model}`);
  return openGgufPath(model);
}

function promptIds(args: GenerateArgs, tok: TextTokenizer, vocabSize: number): number[] {
  let ids: number[];
  if (args.promptTokens) {
    ids = args.promptTokens;
    const bad = ids.find((id) => id >= vocabSize);
    if (bad !== undefined) throw new UsageError(`--prompt-tokens: token id ${bad} is outside the model's vocabulary of ${vocabSize}`);
  } else {
    const text = args.chat ? chatPrompt(tok, [{ role: 'user', content: args.prompt! }]) : args.prompt!;
    ids = tok.encode(text, { addSpecial: true, parseSpecial: true });
  }
  if (ids.length === 0) throw new UsageError('the prompt has no tokens (an empty prompt and a vocabulary that adds no BOS)');
  return ids;
}

async function createGpu(): Promise<Gpu> {
  try {
    return await Gpu.create({ label: 'edgewise-cli' });
  } catch (e) {
    if (e instanceof WebGpuUnavailableError && !process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) throw new RetryOnSwiftShader();
    throw e;
  }
}

async function generate(args: GenerateArgs): Promise<number> {
  if (args.images.length || args.video) return generateWithImageFiles(args);
  const gguf = await openModel(args.model);
  let gen: Generator | null = null;
  let release = () => {};
  try {
    const tok = loadTokenizer(gguf);
    const embd = gguf.tensor('token_embd.weight');
    const vocabSize = Math.min(tok.vocabSize, embd ? embd.shape[0] : tok.vocabSize);
    const prompt = promptIds(args, tok, vocabSize);
    const gpu = await createGpu();
    const nCtxTrain = gguf.getU32(gguf.archKey('context_length'), Infinity);
    const contextLength = Math.min(nCtxTrain, args.ctxSize ?? prompt.length + args.maxTokens);
    if (prompt.length >= contextLength) throw new UsageError(`the prompt (${prompt.length} tokens) does not fit the context of ${contextLength}`);
    const loaded = await loadLanguageModel(gpu, gguf, { contextLength });
    release = () => { loaded.model.dispose(); loaded.weights.destroy(); };
    gen = new Generator(gpu, loaded.model);

    const result = await gen.generate(prompt, {
      maxTokens: args.maxTokens,
      sampling: args.sampling,
      stopTokens: [...tok.eog],
      text: {
        decoder: tok.decodeStream(),
        stop: args.stop,
        onText: (piece) => { if (!args.json) process.stdout.write(piece); },
      },
    });
    const text = result.text;
    const prefillTps = result.promptTokens / (result.ttftMs / 1000);
    const decodeTps = result.decodeSteps > 0 ? result.decodeSteps / (result.decodeMs / 1000) : 0;
    if (args.json) {
      process.stdout.write(`${JSON.stringify({
        prompt_tokens: prompt, tokens: result.tokens, text, stopped_by: result.stoppedBy,
        ttft_ms: round(result.ttftMs), prefill_tokens_per_s: round(prefillTps), decode_tokens_per_s: round(decodeTps),
        seed: args.sampling.seed, device: gpu.info.description || gpu.info.device,
      })}\n`);
    } else {
      process.stdout.write('\n');
      process.stderr.write(`edgewise: ${prompt.length} prompt tokens at ${prefillTps.toFixed(1)} tok/s, ${result.tokens.length} generated at ${decodeTps.toFixed(1)} tok/s (${result.stoppedBy})\n`);
    }
    return 0;
  } finally {
    gen?.dispose();
    release();
    await gguf.close();
  }
}

/**
 * --image: every input is read and checked before the GPU starts (files, image headers and pixels, the
 * mmproj's projector and width against the text model, the prompt's markers), then the images are
 * encoded, placed in the prompt, and the continuation generated by the Generator as text prompts are
 * (sampling, --stop, streamed text).
 */
async function generateWithImageFiles(args: GenerateArgs): Promise<number> {
  if (!existsSync(args.mmproj!)) throw new UsageError(`mmproj file not found: ${args.mmproj}`);
  for (const p of args.images) if (!existsSync(p)) throw new UsageError(`image file not found: ${p}`);
  if (args.video && !existsSync(args.video.path)) throw new UsageError(`video file not found: ${args.video.path}`);
  const gguf = await openModel(args.model);
  const mm = await openGgufPath(args.mmproj!);
  let release = () => {};
  try {
    if (gguf.arch !== 'gemma3') throw new UsageError(`images are supported for gemma3 text models; --model is ${gguf.arch}`);
    const tok = loadTokenizer(gguf);
    const hp = readClipHparams(mm);
    checkClipTensors(mm, hp);
    checkProjectorWidth(hp, gguf.getU32(gguf.archKey('embedding_length')));
    const pixels = [];
    for (const p of args.images) pixels.push(preprocessImage(await loadImageFile(p), hp));
    // The clip's frames are decoded one at a time and kept only as encoder input; the video's marker
    // becomes "00:00.0: <marker>\n00:01.0: <marker>..." (the engine's generic video prompt).
    let videoText = '';
    if (args.video) {
      const { path, fps, maxFrames } = args.video;
      const bytes = statSync(path).size;
      if (bytes > DEFAULT_VIDEO_LIMITS.maxBytes) throw new VideoDecodeError('too large', `the file is ${bytes} bytes, above the limit of ${DEFAULT_VIDEO_LIMITS.maxBytes}`, { bytes });
      const times: number[] = [];
      // Loaded here: mediabunny and libav.js are only read when a clip is given.
      const { decodeVideoFramesNode } = await import('../vision/video/decode-node.ts');
      for await (const f of decodeVideoFramesNode(readFileSync(path), { fps, maxFrames })) {
        pixels.push(preprocessImage(f.image, hp));
        times.push(f.timeMs);
      }
      videoText = times.map((t, i) => `${i ? '\n' : ''}${formatTimestamp(t)}: ${MEDIA_MARKER}`).join('');
    }
    let text = args.prompt!;
    if (!text.includes(MEDIA_MARKER)) text = MEDIA_MARKER.repeat(args.images.length) + videoText + text;
    else if (args.video) {
      const at = text.split(MEDIA_MARKER);
      if (at.length - 1 !== args.images.length + 1) throw new UsageError(`the prompt has ${at.length - 1} ${MEDIA_MARKER} marker(s) for ${args.images.length} image(s) and a video`);
      text = at.slice(0, args.images.length + 1).join(MEDIA_MARKER) + videoText + at[args.images.length + 1];
    }
    if (args.chat) text = chatPrompt(tok, [{ role: 'user', content: text }]);
    const rows = pixels.map(() => imageTokenCount(hp));
    const chunks = assembleGemma3Prompt(tok, text, rows);
    const positions = promptLength(chunks);
    const nCtxTrain = gguf.getU32(gguf.archKey('context_length'), Infinity);
    const contextLength = Math.min(nCtxTrain, args.ctxSize ?? positions + args.maxTokens);
    if (positions >= contextLength) throw new UsageError(`the prompt (${positions} positions with its images) does not fit the context of ${contextLength}`);

    const gpu = await createGpu();
    const encoder = await VisionEncoder.load(gpu, mm);
    const loaded = await loadLanguageModel(gpu, gguf, { contextLength, maxBatch: Math.max(64, ...rows) });
    const embeddings = pixels.map((_, i) => gpu.tensor([rows[i], hp.outputWidth], 'F32', `image ${i}`));
    release = () => { for (const t of embeddings) t.release(); encoder.dispose(); loaded.model.dispose(); loaded.weights.destroy(); };
    const t0 = performance.now();
    pixels.forEach((px, i) => gpu.run((rec) => encoder.record(rec, px, embeddings[i]), 'image encode'));
    await gpu.sync();
    const encodeMs = performance.now() - t0;

    // The shared generation path: each image is a media segment whose embeddings are already encoded.
    const segments: PromptSegment[] = chunks.map((c) => (c.kind === 'tokens' ? c : {
      kind: 'media', key: `cli-image-${c.image}`, positions: c.rows,
      produce: async () => [{ kind: 'embeddings', embeddings: embeddings[c.image], causal: false }],
    }));
    const gen = new Generator(gpu, loaded.model);
    let result;
    try {
      result = await gen.generate({ segments }, {
        maxTokens: args.maxTokens,
        sampling: args.sampling,
        stopTokens: [...tok.eog],
        text: { decoder: tok.decodeStream(), stop: args.stop, onText: (piece) => { if (!args.json) process.stdout.write(piece); } },
      });
    } finally {
      gen.dispose();
    }
    const out = result.text;
    const stoppedBy = result.stoppedBy;
    if (args.json) {
      process.stdout.write(`${JSON.stringify({
        prompt_positions: positions, image_tokens: rows, tokens: result.tokens, text: out, stopped_by: stoppedBy,
        image_encode_ms_per_image: round(encodeMs / pixels.length), prefill_ms: round(result.prefillMs), decode_ms: round(result.decodeMs),
        seed: args.sampling.seed, device: gpu.info.description || gpu.info.device,
      })}\n`);
    } else {
      process.stdout.write('\n');
      process.stderr.write(`edgewise: ${pixels.length} image(s) encoded at ${(encodeMs / pixels.length).toFixed(0)} ms/image, ${positions} prompt positions, ${result.tokens.length} generated (${stoppedBy})\n`);
    }
    return 0;
  } finally {
    release();
    await mm.close();
    await gguf.close();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function rerunOnSwiftShader(): number {
  process.stderr.write(`edgewise: no WebGPU adapter found; running again on SwiftShader (VK_ICD_FILENAMES=${SWIFTSHADER_ICD})\n`);
  const env = { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD, NODEVICE_SELECT: process.env.NODEVICE_SELECT ?? '1' };
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
  return r.status ?? 1;
}

/** Runs the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    if (command !== 'generate') throw new UsageError(`unknown command '${command}' (try: edgewise generate --help)`);
    const args = parseGenerateArgs(rest);
    if (args === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    return await generate(args);
  } catch (e) {
    if (e instanceof RetryOnSwiftShader) return rerunOnSwiftShader();
    const input = e instanceof UsageError || e instanceof TokenizerError || e instanceof GgufFormatError ||
      e instanceof GgufSourceError || e instanceof ModelConfigError || e instanceof ChatTemplateError ||
      e instanceof UnsupportedArchitectureError || e instanceof ModelTooLargeError || e instanceof ImageDecodeError ||
      e instanceof VisionConfigError || e instanceof UnsupportedProjectorError || e instanceof ProjectorWidthError ||
      e instanceof MultimodalPromptError || e instanceof VideoDecodeError;
    const msg = (e as Error).message.split('\n')[0];
    process.stderr.write(`edgewise: ${input ? '' : 'error: '}${msg}\n`);
    return input ? 2 : 1;
  }
}
