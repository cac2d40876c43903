// Opening a model from what loadModel was given: an hf:// reference, an http(s) URL (read by Range
// requests), a blob: or data: URL, a Blob/File, or (Node only) a path. Split GGUFs: the first part
// names the rest (URLs and paths; Blobs are one file each).

import { openGgufBlobs, openGgufUrl, type Gguf } from '../formats/gguf.ts';
import { invalidRequest } from './errors.ts';
import type { ModelSource } from './types.ts';

export interface OpenedModel {
  gguf: Gguf;
  /** File name for the default model id. */
  name: string;
  /** Bytes of all its files. */
  fileBytes: number;
}

const HF = /^hf:\/\/([^/@]+)\/([^/@]+)\/([^@]+?)(?:@([^/]+))?$/;

/** hf://owner/repo/path/file.gguf[@revision] -> the hub's resolve URL (revision default main). */
export function resolveHfUrl(ref: string): string {
  const m = HF.exec(ref);
  if (!m) throw invalidRequest(`${ref} is not an hf:// model reference (expected hf://owner/repo/file.gguf[@revision])`, 'model', 'invalid_value');
  const [, owner, repo, file, rev] = m;
  return `https://huggingface.co/${owner}/${repo}/resolve/${encodeURIComponent(rev ?? 'main')}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

function baseName(s: string): string {
  const clean = s.split(/[?#]/)[0];
  return decodeURIComponent(clean.slice(clean.lastIndexOf('/') + 1)) || s;
}

function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}

function bytesOf(gguf: Gguf): number {
  return gguf.files.reduce((s, f) => s + f.source.size, 0);
}

export async function openModelSource(src: ModelSource): Promise<OpenedModel> {
  if (typeof Blob !== 'undefined' && src instanceof Blob) {
    const gguf = await openGgufBlobs([src]);
    return { gguf, name: (src as { name?: string }).name || 'model.gguf', fileBytes: bytesOf(gguf) };
  }
  if (typeof src !== 'string' || src.length === 0) {
    throw invalidRequest(`model must be a path, URL, hf:// reference or Blob, got ${src === null ? 'null' : typeof src}`, 'model', 'invalid_type');
  }
  if (src.startsWith('hf://')) {
    const gguf = await openGgufUrl(resolveHfUrl(src));
    return { gguf, name: baseName(src.replace(/@[^/]+$/, '')), fileBytes: bytesOf(gguf) };
  }
  if (/^https?:\/\//i.test(src)) {
    const gguf = await openGgufUrl(src);
    return { gguf, name: baseName(src), fileBytes: bytesOf(gguf) };
  }
  if (/^(blob|data):/i.test(src)) {
    // Object and data URLs answer no Range requests; they are local bytes anyway.
    const blob = await (await fetch(src)).blob();
    const gguf = await openGgufBlobs([blob]);
    return { gguf, name: src.startsWith('blob:') ? 'blob.gguf' : 'data.gguf', fileBytes: bytesOf(gguf) };
  }
  if (!isNode()) {
    throw invalidRequest(`${src}: a path can only be opened in Node; in the browser give a URL or a File/Blob`, 'model', 'invalid_value');
  }
  // Kept out of browser bundles' static graph: gguf-node.ts imports node:fs.
  const { openGgufPath } = await import('../formats/gguf-node.ts');
  const gguf = await openGgufPath(src);
  return { gguf, name: baseName(src.replaceAll('\\', '/')), fileBytes: bytesOf(gguf) };
}
