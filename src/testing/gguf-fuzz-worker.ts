// The child-process side of fuzzGgufIsolated: runs one fuzz case per IPC message in a process with a
// heap limit, so a case that allocates without bound kills only this process, and one that loops
// synchronously can be killed from outside. Self-test messages make it misbehave on purpose (the
// runner's own test). Started by the runner with `node --import tsx`.

import { runFuzzCase } from './gguf-fuzz.ts';

export type WorkerRequest =
  | { id: number; bytes: Uint8Array; initialWindow?: number; timeoutMs: number }
  | { id: number; selfTest: 'spin' | 'allocate' };

export interface WorkerReply {
  id: number;
  outcome: string;
  failed: boolean;
  ms: number;
  bytesRead: number;
  error?: string;
}

const send = (m: unknown) => process.send!(m);

process.on('message', async (req: WorkerRequest) => {
  if ('selfTest' in req) {
    if (req.selfTest === 'spin') for (;;);
    const hoard: number[][] = [];
    for (;;) hoard.push(new Array(1 << 20).fill(hoard.length));
  }
  const r = await runFuzzCase(req.bytes, { timeoutMs: req.timeoutMs, initialWindow: req.initialWindow });
  const e = r.error as Error | undefined;
  const reply: WorkerReply = { id: req.id, outcome: r.outcome, failed: r.failed, ms: r.ms, bytesRead: r.bytesRead, error: e ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : undefined };
  send(reply);
});
process.on('disconnect', () => process.exit(0));
send({ ready: true });
