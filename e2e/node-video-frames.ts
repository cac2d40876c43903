// Prints the Node decoder's sampled frames of a clip as JSON (times, sizes, RGBA as base64), for
// e2e/video.test.mjs to compare with the browser's decode of the same file.
//   tsx e2e/node-video-frames.ts clip.webm '{"maxFrames": 3}'
import { readFileSync } from 'node:fs';
import { decodeVideoFramesNode } from '../src/vision/video/decode-node.ts';

const [file, options = '{}'] = process.argv.slice(2);
const frames = [];
for await (const f of decodeVideoFramesNode(readFileSync(file), JSON.parse(options))) {
  frames.push({ timeMs: f.timeMs, width: f.image.width, height: f.image.height, rgba: Buffer.from(f.image.data).toString('base64') });
}
process.stdout.write(JSON.stringify(frames));
