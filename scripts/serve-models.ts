// A Vite plugin that serves model files at /models/<name> from models/ and, when present,
// ../shared/models (the first folder that has the file wins), with HTTP Range support so the engine can
// read a GGUF header and its tensors by ranges. /models/index.json lists what is there, so the chat page
// can mark models that load without the network.

import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Connect, Plugin } from 'vite';

/** A satisfiable byte range [start, end] (inclusive), 'unsatisfiable' (416), or null for the whole file. */
export type ByteRange = { start: number; end: number } | 'unsatisfiable' | null;

/**
 * Parses a Range header against a file of `size` bytes. One range only (what fetch-by-range clients
 * send); a multi-range or malformed header is ignored (whole file, as RFC 9110 allows).
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    // Suffix range: the last n bytes.
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/** Only plain file names: no folders, no dot files, nothing that could walk out of the model folders. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ModelFileEntry {
  name: string;
  bytes: number;
  /** Which folder serves it. */
  folder: string;
}

export function listModelFiles(folders: readonly string[]): ModelFileEntry[] {
  const seen = new Map<string, ModelFileEntry>();
  for (const folder of folders) {
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder)) {
      if (!name.endsWith('.gguf') || !SAFE_NAME.test(name) || seen.has(name)) continue;
      const st = statSync(join(folder, name));
      if (st.isFile()) seen.set(name, { name, bytes: st.size, folder });
    }
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function findFile(folders: readonly string[], name: string): { path: string; size: number } | null {
  for (const folder of folders) {
    const path = join(folder, name);
    if (existsSync(path)) {
      const st = statSync(path);
      if (st.isFile()) return { path, size: st.size };
    }
  }
  return null;
}

/** The middleware, mounted at /models. */
export function modelsMiddleware(folders: readonly string[]): Connect.NextHandleFunction {
  return (req: IncomingMessage, res: ServerResponse, next: Connect.NextFunction) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (name === 'index.json') {
      const body = JSON.stringify(listModelFiles(folders).map(({ name: n, bytes }) => ({ name: n, bytes })));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    // Anything that is not a GGUF name (registry.json, a README) falls through to Vite's static files.
    if (!name.endsWith('.gguf')) return next();
    const file = SAFE_NAME.test(name) ? findFile(folders, name) : null;
    if (!file) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end(`no model file '${name}' in ${folders.join(' or ')} (run: npm run models)`);
      return;
    }
    const common = { 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-cache' };
    const range = parseRange(req.headers.range, file.size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...common, 'Content-Range': `bytes */${file.size}` });
      res.end();
      return;
    }
    const { start, end } = range ?? { start: 0, end: file.size - 1 };
    const headers: Record<string, string | number> = { ...common, 'Content-Length': Math.max(0, end - start + 1) };
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || file.size === 0) {
      res.end();
      return;
    }
    const stream = createReadStream(file.path, { start, end });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  };
}

/** Serves /models/* in `vite` (dev) and `vite preview`. */
export function serveModels(folders: readonly string[]): Plugin {
  const mw = modelsMiddleware(folders);
  return {
    name: 'edgewise-serve-models',
    configureServer(server) {
      server.middlewares.use('/models', mw);
    },
    configurePreviewServer(server) {
      server.middlewares.use('/models', mw);
    },
  };
}
