// What the API needs from Node alone: GGUF files by path, the directory model cache and image decoding
// (pngjs needs node:zlib). model-source.ts and media.ts import this module dynamically, only in Node;
// the browser build of the library (vite.lib.config.ts) replaces it with node-platform.browser.ts so no
// node:* module reaches a browser bundle.

export { openGgufPath } from '../formats/gguf-node.ts';
export { DirectoryModelStore, defaultCacheDir } from './model-store-dir.ts';
export { decodeImage } from '../vision/image-node.ts';
