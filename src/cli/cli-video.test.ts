// `edgewise generate --mmproj ... --video clip.webm` as a user runs it: the clip's frames (decoded in Node
// by libav.js) go into the prompt as "mm:ss.t: " and the image, giving the same tokens as the same frames
// passed as --image PNGs with that text; bad video input is one stderr line with exit code 2.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { gemma3TextModelBytes, TINY_MMPROJ } from '../testing/mmproj.ts';
import { MEDIA_MARKER } from '../runtime/multimodal.ts';
import { decodeVideoFramesNode } from '../vision/video/decode-node.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../testing/fixtures/video/', import.meta.url));

interface Run { code: number | null; stdout: string; stderr: string }

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/edgewise.mjs', 'generate', ...args], { cwd: ROOT, env: process.env });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let dir: string, textModel: string, clip: string, truncated: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgewise-cli-video-'));
  textModel = join(dir, 'gemma3-128.gguf');
  writeFileSync(textModel, gemma3TextModelBytes(17, 1024)); // two frames of 258 positions and text
  clip = join(FIXTURES, 'colours-vp8.webm');
  const bytes = readFileSync(clip);
  truncated = join(dir, 'cut.webm');
  writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
});

describe('edgewise generate --video', () => {
  it('bad input: one stderr line, exit 2, before any GPU work', async () => {
    const base = ['--model', textModel, '--prompt', 'what happens?', '--max-tokens', '2', '--temperature', '0'];
    const cases: [string[], RegExp][] = [
      [[...base, '--video', clip], /--video needs --mmproj/],
      [[...base, '--mmproj', TINY_MMPROJ, '--video', join(dir, 'missing.webm')], /video file not found/],
      [[...base, '--mmproj', TINY_MMPROJ, '--video', truncated], /video corrupt: the frames stop at/],
      [[...base, '--mmproj', TINY_MMPROJ, '--video', join(FIXTURES, 'colours-avc.mp4')], /video unsupported codec: this platform cannot decode avc video/],
      [[...base, '--mmproj', TINY_MMPROJ, '--video', clip, '--video-fps', '0'], /--video-fps "0": must be > 0/],
      [[...base, '--mmproj', TINY_MMPROJ, '--video-max-frames', '3'], /go with --video/],
      [['--model', textModel, '--prompt', `a${MEDIA_MARKER}b${MEDIA_MARKER}`, '--mmproj', TINY_MMPROJ, '--video', clip, '--temperature', '0'], /2 <__media__> marker\(s\) for 0 image\(s\) and a video/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    runs.forEach((r, i) => {
      expect(r.code, `${cases[i][0].join(' ')}\n${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(cases[i][1]);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }, 300_000);

  it('a clip gives the tokens of its frames sent as images with their timestamps', async () => {
    const frames = [];
    for await (const f of decodeVideoFramesNode(readFileSync(clip), { maxFrames: 2 })) frames.push(f);
    expect(frames.map((f) => f.timeMs)).toEqual([0, 2000]);
    const pngs = frames.map((f, i) => {
      const png = new PNG({ width: f.image.width, height: f.image.height });
      png.data.set(f.image.data);
      const path = join(dir, `frame${i}.png`);
      writeFileSync(path, PNG.sync.write(png));
      return path;
    });
    const [video, images] = await Promise.all([
      cli(['--model', textModel, '--mmproj', TINY_MMPROJ, '--video', clip, '--video-max-frames', '2', '--prompt', `clip: ${MEDIA_MARKER} what changes?`, '--max-tokens', '3', '--temperature', '0', '--json']),
      cli(['--model', textModel, '--mmproj', TINY_MMPROJ, '--image', pngs[0], '--image', pngs[1], '--prompt', `clip: 00:00.0: ${MEDIA_MARKER}\n00:02.0: ${MEDIA_MARKER} what changes?`, '--max-tokens', '3', '--temperature', '0', '--json']),
    ]);
    expect(video.code, video.stderr).toBe(0);
    expect(images.code, images.stderr).toBe(0);
    const last = (r: Run) => JSON.parse(r.stdout.trimEnd().split('\n').pop()!) as { tokens: number[]; image_tokens: number[]; prompt_positions: number };
    const v = last(video), im = last(images);
    expect(v.image_tokens).toEqual([256, 256]);
    expect(v.prompt_positions).toBe(im.prompt_positions);
    expect(v.tokens).toHaveLength(3);
    expect(v.tokens).toEqual(im.tokens);
  }, 900_000);
});
