// The kernel self-check page: shows the adapter and runs every kernel check against its reference.

import { Gpu } from '../gpu/gpu.ts';
import { runKernelChecks, type CheckResult } from '../testing/kernel-checks.ts';

const $ = (id: string) => document.getElementById(id)!;

function el(tag: string, text = '', cls = ''): HTMLElement {
  const e = document.createElement(tag);
  e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function showAdapter(gpu: Gpu) {
  const i = gpu.info;
  $('adapter-status').textContent = `${i.vendor || 'unknown vendor'} ${i.architecture} ${i.description}`.trim();
  const dl = $('adapter-info');
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  const feats = document.createElement('dd');
  for (const [name, on] of Object.entries({ 'shader-f16': i.features.shaderF16, subgroups: i.features.subgroups, 'timestamp-query': i.features.timestampQuery })) {
    feats.append(el('span', name, `pill ${on ? 'yes' : 'no'}`));
  }
  const rows: [string, string | HTMLElement][] = [
    ['features', feats],
    ['max storage binding', mb(i.limits.maxStorageBufferBindingSize)],
    ['max buffer', mb(i.limits.maxBufferSize)],
    ['workgroup storage', `${i.limits.maxComputeWorkgroupStorageSize / 1024} KiB`],
    ['invocations / workgroup', String(i.limits.maxComputeInvocationsPerWorkgroup)],
    ['subgroup size', i.subgroupMinSize ? `${i.subgroupMinSize}–${i.subgroupMaxSize}` : 'n/a'],
  ];
  for (const [k, v] of rows) {
    dl.append(el('dt', k));
    dl.append(typeof v === 'string' ? el('dd', v) : v);
  }
}

function addRow(r: CheckResult) {
  const tr = document.createElement('tr');
  tr.append(el('td', r.name), el('td', r.ok ? 'pass' : 'FAIL', r.ok ? 'ok' : 'bad'), el('td', `${r.ms.toFixed(0)} ms`), el('td', r.message, 'detail'));
  $('checks').querySelector('tbody')!.append(tr);
}

async function main() {
  const w = window as unknown as { __results?: CheckResult[]; __error?: string };
  try {
    const gpu = await Gpu.create();
    showAdapter(gpu);
    const results = await runKernelChecks(gpu, addRow);
    const failed = results.filter((r) => !r.ok).length;
    $('summary').textContent = `${results.length - failed} passed, ${failed} failed`;
    w.__results = results;
  } catch (e) {
    $('adapter-status').textContent = `WebGPU is not available here: ${(e as Error).message}`;
    w.__error = (e as Error).message;
  }
}

void main();
