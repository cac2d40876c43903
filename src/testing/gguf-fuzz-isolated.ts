// The GGUF fuzzer with every case in a child process under a heap limit (Node only). In-process, a case
// that allocates without bound takes the whole run down with it, and one that loops synchronously cannot
// be stopped; here the first is an 'OOM' and the second a 'HANG' (the process is killed at the time
// bound), each recorded with the case that caused it, and the run goes on in a fresh process. (A worker
// thread with resourceLimits is not enough: one huge allocation inside a builtin, Array.prototype.fill
// of a 2^32-element array, is a fatal V8 error for the whole process before the worker can be stopped.)

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ggufLayout, mutate, MUTATION_KINDS, type FuzzOptions, type FuzzReport, type FuzzSeed } from './gguf-fuzz.ts';
import type { WorkerReply, WorkerRequest } from './gguf-fuzz-worker.ts';
import { Rng } from './rng.ts';

export interface IsolatedOptions {
  /** Old-generation heap of the child process in MiB (default 512): a case needing more is an OOM. */
  heapMb?: number;
}

type CaseResult = WorkerReply | 'HANG' | 'OOM' | { crash: string };

/** A child process that answers one request at a time; `run` resolves with its reply, or 'HANG' / 'OOM'. */
class CaseWorker {
  private child!: ChildProcess;
  private ready!: Promise<void>;
  private stderr = '';
  constructor(private readonly heapMb: number) {
    this.start();
  }

  private start(): void {
    const entry = fileURLToPath(new URL('./gguf-fuzz-worker.ts', import.meta.url));
    this.stderr = '';
    this.child = fork(entry, [], {
      execArgv: ['--import', 'tsx', `--max-old-space-size=${this.heapMb}`],
      serialization: 'advanced', // Uint8Array over IPC
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4096); });
    const child = this.child;
    this.ready = new Promise((ok, fail) => {
      child.once('message', () => ok());
      child.once('exit', (code, signal) => fail(new Error(`fuzz worker failed to start (exit ${code ?? signal}): ${this.stderr}`)));
    });
    this.ready.catch(() => {}); // a spare process killed by close() before its first case is no error
  }

  async run(req: WorkerRequest, boundMs: number): Promise<CaseResult> {
    await this.ready;
    const c = this.child;
    const result = await new Promise<CaseResult>((ok) => {
      const onMessage = (m: WorkerReply) => { if (m.id === req.id) done(m); };
      const onExit = (code: number | null, signal: string | null) => {
        // V8 prints its fatal-OOM report on stderr before aborting; give the pipe a moment to deliver it.
        setTimeout(() => done(/heap out of memory/i.test(this.stderr) ? 'OOM' : { crash: `worker exited (${code ?? signal}): ${this.stderr.slice(-300)}` }), 50);
      };
      const timer = setTimeout(() => done('HANG'), boundMs);
      let settled = false;
      const done = (r: CaseResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        c.off('message', onMessage).off('exit', onExit);
        ok(r);
      };
      c.on('message', onMessage).on('exit', onExit);
      c.send(req);
    });
    if (typeof result === 'string' || 'crash' in result) {
      c.kill('SIGKILL');
      this.start();
    }
    return result;
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

/**
 * fuzzGguf with each case in a heap-limited worker. Mutations are drawn exactly as fuzzGguf draws them
 * (same seeds give the same cases); the per-case bound is `timeoutMs` plus time for the worker to answer.
 */
export async function fuzzGgufIsolated(seeds: readonly FuzzSeed[], opts: FuzzOptions & IsolatedOptions): Promise<FuzzReport> {
  const layouts = seeds.map((s) => ggufLayout(s.bytes));
  const report: FuzzReport = { cases: 0, outcomes: new Map(), kinds: new Map(), failures: [], slowestMs: 0, totalMs: 0 };
  const timeoutMs = opts.timeoutMs ?? 5000;
  const worker = new CaseWorker(opts.heapMb ?? 512);
  const t0 = performance.now();
  try {
    for (let i = 0; report.cases < opts.cases; i++) {
      const caseSeed = opts.seed * 1_000_003 + i;
      const rng = new Rng(caseSeed);
      const s = i % seeds.length;
      const kind = MUTATION_KINDS[Math.floor(i / seeds.length) % MUTATION_KINDS.length];
      const m = mutate(rng, seeds[s].bytes, layouts[s], kind);
      if (!m) continue;
      const initialWindow = opts.initialWindow ?? rng.pick([64, 4096, 1 << 20]);
      const started = performance.now();
      const r = await worker.run({ id: i, bytes: m.bytes, initialWindow, timeoutMs }, timeoutMs + 2000);
      const ms = performance.now() - started;
      let outcome: string, failed: boolean, error: string | undefined, caseMs = ms;
      if (r === 'HANG' || r === 'OOM') {
        outcome = r;
        failed = true;
      } else if ('crash' in r) {
        outcome = `CRASH ${r.crash}`;
        failed = true;
      } else {
        ({ outcome, failed, error } = r);
        caseMs = r.ms; // the worker's own timing: no message passing or worker start in it
      }
      report.cases++;
      report.kinds.set(kind, (report.kinds.get(kind) ?? 0) + 1);
      report.outcomes.set(outcome, (report.outcomes.get(outcome) ?? 0) + 1);
      report.slowestMs = Math.max(report.slowestMs, caseMs);
      if (failed) report.failures.push({ seed: seeds[s].name, kind, note: m.note, outcome, error, caseSeed });
      opts.onCase?.(report.cases, { outcome, failed, ms: caseMs, bytesRead: r !== 'HANG' && r !== 'OOM' && !('crash' in r) ? r.bytesRead : 0 });
    }
  } finally {
    worker.close();
  }
  report.totalMs = performance.now() - t0;
  return report;
}

/** Make the worker process misbehave on purpose: the runner must report a synchronous spin as a HANG and a
 *  runaway allocation as an OOM, and keep going. */
export async function isolatedSelfTest(what: 'spin' | 'allocate', opts: { boundMs: number; heapMb: number }): Promise<string> {
  const worker = new CaseWorker(opts.heapMb);
  try {
    const r = await worker.run({ id: 0, selfTest: what }, opts.boundMs);
    return typeof r === 'string' ? r : 'crash' in r ? `CRASH ${r.crash}` : r.outcome;
  } finally {
    worker.close();
  }
}
