// GGUF files on a Node file system: a ByteSource over an fs file handle (reads only the ranges asked
// for, never the whole file) and openGgufPath, which finds the sibling files of a split model.
// Kept apart from gguf.ts so browser bundles never import node:fs.

import { open, stat } from 'node:fs/promises';
import { GgufFormatError, ggufSplitNames, openGgufSplits, type Gguf, type GgufReadOptions } from './gguf.ts';
import { checkRange, GgufSourceError, type ByteSource } from './gguf-source.ts';

export interface FileSource extends ByteSource {
  /** Total bytes read so far (tests check that only the header was read). */
  readonly bytesRead: number;
}

export async function fileSource(path: string): Promise<FileSource> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new GgufSourceError('io', path, `cannot open: ${(e as Error).message}`);
  }
  const { size } = await handle.stat();
  let bytesRead = 0;
  return {
    name: path,
    size,
    get bytesRead() {
      return bytesRead;
    },
    async read(offset, length) {
      checkRange(path, size, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead: n } = await handle.read(out, done, length - done, offset + done);
        if (n === 0) throw new GgufSourceError('short-read', path, `file ended at ${offset + done} while reading ${length} bytes at ${offset} (changed on disk?)`);
        done += n;
      }
      bytesRead += length;
      return out;
    },
    close: () => handle.close(),
  };
}

/**
 * Open a model from a path. A split name (`model-00001-of-00003.gguf`, any of its parts) opens every
 * sibling; a missing sibling is a GgufFormatError('split') naming it.
 */
export async function openGgufPath(path: string, opts: GgufReadOptions = {}): Promise<Gguf> {
  const names = ggufSplitNames(path);
  if (names.length > 1) {
    for (const name of names) {
      try {
        await stat(name);
      } catch {
        throw new GgufFormatError('split', `split file ${name} is missing (model has ${names.length} parts)`, { value: name, source: path });
      }
    }
  }
  const sources: FileSource[] = [];
  try {
    for (const name of names) sources.push(await fileSource(name));
    return await openGgufSplits(sources, opts);
  } catch (e) {
    await Promise.all(sources.map((s) => s.close?.()));
    throw e;
  }
}
