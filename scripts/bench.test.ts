// `npm run bench` as a user runs it (a child process), on stories260K Q4_0 with tiny counts: the JSON
// carries every field with a finite positive number, the peer column and its ratios, the kernel split,
// and the steady-state decode counters (one submission, no buffer or bind-group creation per token).
// Not a timing assertion: no number is compared with a speed.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', ...args], { cwd: ROOT, env: process.env });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const positive = (x: unknown, what: string) => {
  expect(typeof x, what).toBe('number');
  expect(Number.isFinite(x as number), `${what} = ${x}`).toBe(true);
  expect(x as number, what).toBeGreaterThan(0);
};

describe('npm run bench', () => {
  it('--json on stories260K: every field finite and positive, steady-state decode allocates nothing', async () => {
    const r = await bench(['--models', 'stories260K', '--quant', 'Q4_0', '--prompt', '6', '--gen', '5', '--reps', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.length, 'stdout is the JSON object only (progress goes to stderr)').toBe(1);
    const j = JSON.parse(lines[0]);
    positive(j.copy_gb_per_s, 'copy_gb_per_s');
    positive(j.matmul_rates.Q4_0.gflop_per_s, 'matmul rate');
    expect(j.skipped).toEqual([]);
    expect(j.models).toHaveLength(1);
    const m = j.models[0];
    expect([m.model, m.quant, m.prompt_tokens, m.gen_tokens, m.reps]).toEqual(['stories260K', 'Q4_0', 6, 5, 1]);
    positive(m.file_bytes, 'file_bytes');
    const e = m.edgewise;
    for (const k of ['load_ms', 'ttft_ms', 'prefill_tokens_per_s', 'decode_tokens_per_s', 'weight_bytes_per_token', 'kv_bytes_per_token',
      'gb_per_s', 'fraction_of_copy', 'prefill_flops', 'prefill_gflop_per_s', 'fraction_of_matmul']) positive(e[k], `edgewise.${k}`);
    expect(e.decode_steps).toBe(4);
    // stories260K Q4_0 weights, read once per token: between the Q4_0 and the F32 size of its ~260K parameters.
    expect(e.weight_bytes_per_token).toBeGreaterThan(260e3 * 0.5625 * 0.9);
    expect(e.weight_bytes_per_token).toBeLessThan(260e3 * 4);
    positive(e.per_token.dispatches, 'dispatches per token');
    expect(e.per_token.submits, 'one queue submission per decoded token').toBe(1);
    expect(e.per_token.readbacks, 'only the token id is read back').toBe(1);
    expect(e.per_token.buffers_created, 'createBuffer calls per decoded token').toBe(0);
    expect(e.per_token.bind_groups_created, 'createBindGroup calls per decoded token').toBe(0);
    expect(e.first_tokens.every((t: number) => Number.isInteger(t) && t >= 0 && t < 512)).toBe(true);
    if (j.adapter.features.timestampQuery) {
      expect(e.kernels.decode.length).toBeGreaterThan(3);
      for (const k of e.kernels.decode) positive(k.calls_per_token, `${k.label} calls`);
      positive(e.kernels.decode.reduce((s: number, k: { ms_per_token: number }) => s + k.ms_per_token, 0), 'decode GPU ms');
      expect(e.kernels.decode.some((k: { label: string }) => k.label.includes('matmul'))).toBe(true);
    }
    for (const k of ['load_ms', 'ttft_ms', 'prefill_tokens_per_s', 'decode_tokens_per_s']) positive(m.peer[k], `peer.${k}`);
    expect(m.peer.engine).toMatch(/llama\.cpp/);
    positive(m.peer.threads, 'peer threads');
    positive(m.ratio.prefill, 'ratio.prefill');
    positive(m.ratio.decode, 'ratio.decode');
  }, 600_000);

  it('refuses an unknown model with one line and exit code 2', async () => {
    const r = await bench(['--models', 'gpt-5', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^bench: --models: unknown model gpt-5/);
  });
});
