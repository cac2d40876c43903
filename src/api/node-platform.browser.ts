// The browser build's stand-in for node-platform.ts (see there): same names, and any use says why it
// cannot work here. model-source.ts only reaches it in Node, so in a browser this is never called.

import type { Gguf } from '../formats/gguf.ts';
import type { ModelStore } from './model-cache.ts';

function nodeOnly(what: string): never {
  throw new Error(`${what} needs Node; this is edgewise's browser build (import it under Node's 'node' export condition)`);
}

export function openGgufPath(path: string): Promise<Gguf> {
  return nodeOnly(`opening ${path} by path`);
}

export class DirectoryModelStore {
  constructor(dir?: string) {
    nodeOnly(`a model cache directory${dir ? ` (${dir})` : ''}`);
  }
}

export function defaultCacheDir(): string {
  return nodeOnly('the model cache directory');
}

export type { ModelStore };

export function decodeImage(): never {
  return nodeOnly('decoding images with pngjs / jpeg-js');
}
