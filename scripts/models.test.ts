// `npm run models` against a local stand-in for the hub: the default model is downloaded, checked
// against its sha256 and kept; a file that is already right is not fetched again; a copy in the shared
// folder is used without the network; a download with the wrong bytes is refused and removed.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultModel, localName } from '../src/ui/registry.ts';

const run = promisify(execFile);
const root = join(__dirname, '..');
const model = defaultModel().files.model;
const realBytes = ['models', '../shared/models'].map((d) => join(root, d, localName(model))).find((p) => existsSync(p));

describe.runIf(realBytes)('npm run models', () => {
  let server: Server;
  let endpoint: string;
  let served: Uint8Array;
  let requests: string[];
  let dir: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === `/${model.repo}/resolve/main/${model.path}`) {
        res.writeHead(200, { 'Content-Length': served.length });
        res.end(served);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    served = new Uint8Array(readFileSync(realBytes!));
    requests = [];
    dir = mkdtempSync(join(tmpdir(), 'models-'));
    mkdirSync(join(dir, 'shared'));
    return () => rmSync(dir, { recursive: true, force: true });
  });

  const models = (...args: string[]) => run(join(root, 'node_modules/.bin/tsx'), [join(root, 'scripts/models.ts'), ...args], {
    cwd: root, env: { ...process.env, HF_ENDPOINT: endpoint, EDGEWISE_MODELS_DIR: join(dir, 'models'), EDGEWISE_SHARED_MODELS: join(dir, 'shared') },
  });

  it('downloads the default model, checks it, and keeps a good file without fetching it again', async () => {
    const first = await models();
    expect(first.stdout).toMatch(/downloading/);
    expect(readFileSync(join(dir, 'models', localName(model)))).toEqual(Buffer.from(served));
    expect(requests).toHaveLength(1);
    const second = await models();
    expect(second.stdout).toMatch(/already in models\//);
    expect(requests).toHaveLength(1);
  });

  it('copies from the shared folder without the network', async () => {
    writeFileSync(join(dir, 'shared', localName(model)), served);
    const r = await models();
    expect(r.stdout).toMatch(/copied from/);
    expect(requests).toHaveLength(0);
    expect(readFileSync(join(dir, 'models', localName(model)))).toEqual(Buffer.from(served));
  });

  it('refuses and removes a download whose sha256 is wrong', async () => {
    served[1000] ^= 0xff;
    const err = await models().then(() => null, (e: { code: number; stderr: string }) => e);
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/sha256 [0-9a-f]{64} is not the registry's/);
    expect(existsSync(join(dir, 'models', localName(model)))).toBe(false);
  });

  it('names the known ids when given an unknown one', async () => {
    const err = await models('no-such-model').then(() => null, (e: { code: number; stderr: string }) => e);
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/unknown model 'no-such-model' \(known: stories260k/);
  });
});
