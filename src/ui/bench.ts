// The benchmark page: edgewise on this page's own WebGPU device and wllama (llama.cpp in WebAssembly) on
// the same GGUF, with the same prompt ids and token counts. Per engine: prefill and decode tokens/s
// (median, min, max over the repetitions) and time to first token; for edgewise also the per-kernel GPU
// time split from timestamp queries, the bandwidth decode achieves against a copy bandwidth measured on
// the same device, and dispatches/submissions per token. Everything measured can be downloaded as JSON.
//
// edgewise runs here rather than in the engine's worker: the kernel split and the copy bandwidth need
// the device itself, and both must be measured on the device the tokens/s come from.

import { openModelSource } from '../api/model-source.ts';
import { copyBandwidth, kvBytesPerDecodedToken, weightBytesPerToken, type CopyBandwidth, type Summary } from '../bench/measure.ts';
import { BenchAbortedError, benchGeneration, type GenerationBench } from '../bench/generation.ts';
import { benchPrompt } from '../bench/prompt.ts';
import { Gpu } from '../gpu/gpu.ts';
import type { KernelTime } from '../gpu/profiler.ts';
import { loadLanguageModel } from '../models/load.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import { kernelChart, type ChartRow } from './bench-chart.ts';
import { el } from './chat-view.ts';
import { formatBytes, formatDuration } from './format.ts';
import { Availability, ModelList } from './model-picker.ts';
import { findModel, registry } from './registry.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const ui = {
  app: $('app'),
  noWebGpu: $('no-webgpu'),
  noWebGpuReason: $('no-webgpu-reason'),
  modelList: $<HTMLUListElement>('model-list'),
  localModel: $<HTMLInputElement>('local-model'),
  localChosen: $('local-chosen'),
  localChosenName: $('local-chosen-name'),
  localClear: $<HTMLButtonElement>('local-clear'),
  promptTokens: $<HTMLInputElement>('prompt-tokens'),
  genTokens: $<HTMLInputElement>('gen-tokens'),
  reps: $<HTMLInputElement>('reps'),
  peerThreads: $<HTMLInputElement>('peer-threads'),
  peer: $<HTMLInputElement>('peer'),
  profile: $<HTMLInputElement>('profile'),
  runBtn: $<HTMLButtonElement>('run-btn'),
  stopBtn: $<HTMLButtonElement>('stop-btn'),
  runStatus: $('run-status'),
  progress: $('progress'),
  progressFill: $('progress-fill'),
  progressText: $('progress-text'),
  adapterName: $('adapter-name'),
  adapterFeatures: $('adapter-features'),
  adapterInfo: $('adapter-info'),
  gpuSummary: $('gpu-summary'),
  runError: $('run-error'),
  exportBtn: $<HTMLButtonElement>('export-btn'),
  speedNote: $('speed-note'),
  speed: $<HTMLTableElement>('speed'),
  peerHead: $('peer-head'),
  gauge: $('gauge'),
  gaugeFill: $('gauge-fill'),
  gaugeText: $('gauge-text'),
  memory: $('memory'),
  kernelNote: $('kernel-note'),
  kernelCharts: $('kernel-charts'),
  log: $<HTMLOListElement>('log'),
};

let gpu: Gpu | null = null;
let avail = new Availability(new Set(), new Set());
/** Which registry files this server has; a run waits for it so it never downloads what is here. */
let probed: Promise<void> = Promise.resolve();
const picker = new ModelList(ui.modelList, avail, new URLSearchParams(location.search).get('model') ?? registry.default, () => useLocalFile(null));
let running: AbortController | null = null;
let lastResult: BenchResult | null = null;
const cores = navigator.hardwareConcurrency || 1;

// ---------------------------------------------------------------- what a run produces (the JSON export)

interface BenchResult {
  tool: string;
  date: string;
  page: { userAgent: string; cores: number; crossOriginIsolated: boolean };
  adapter: Gpu['info'];
  settings: { promptTokens: number; genTokens: number; reps: number; peer: boolean; peerThreads: number; profile: boolean };
  model: { name: string; source: string; fileBytes: number; architecture: string; nLayer: number; nEmbd: number; vocabSize: number; tensorTypes: Record<string, number> };
  /** The prompt: wllama is given the text, edgewise its ids (the same tokenization as llama.cpp's). */
  promptText: string;
  promptIds: number[];
  copyBandwidth: CopyBandwidth;
  edgewise: {
    loadMs: number;
    prefillTokensPerS: Summary;
    decodeTokensPerS: Summary;
    ttftMs: Summary;
    runs: GenerationBench['runs'];
    firstTokens: number[];
    perToken: GenerationBench['perToken'];
    weightBytesPerToken: number;
    kvBytesPerToken: number;
    achievedGbPerS: number;
    fractionOfCopy: number;
    kernels: { prefill: KernelTime[]; decode: KernelTime[]; decodeForwards: number } | null;
  };
  wllama: (Awaited<ReturnType<typeof import('../bench/wllama-peer.ts').benchWllama>>) | null;
  wllamaError?: string;
  ratio: { prefill: number; decode: number } | null;
}

// ---------------------------------------------------------------- small views

function log(message: string, cls = ''): void {
  const li = el('li', cls, `${new Date().toLocaleTimeString()} ${message}`);
  ui.log.append(li);
  ui.log.scrollTop = ui.log.scrollHeight;
}

function status(text: string, frac?: number): void {
  ui.progress.hidden = false;
  ui.progressText.textContent = text;
  if (frac !== undefined) ui.progressFill.style.width = `${(Math.max(0, Math.min(1, frac)) * 100).toFixed(1)}%`;
}

const num = (x: number, d = 1) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–');
const rateDigits = (x: number) => (x >= 1000 ? 0 : x >= 100 ? 1 : 2);

function cell(td: HTMLTableCellElement, s: Summary | null, unit: 'rate' | 'ms'): void {
  td.replaceChildren();
  if (!s || !Number.isFinite(s.median)) {
    td.textContent = '–';
    return;
  }
  const fmt = (x: number) => (unit === 'ms' ? (x >= 1000 ? formatDuration(x / 1e3) : `${num(x, x >= 100 ? 0 : 1)} ms`) : num(x, rateDigits(x)));
  td.append(el('span', 'big', fmt(s.median)));
  if (s.runs.length > 1) td.append(el('span', 'range', `${fmt(s.min)} – ${fmt(s.max)} over ${s.runs.length} runs`));
}

function ratioCell(td: HTMLTableCellElement, r: number | null): void {
  td.replaceChildren();
  if (r === null || !Number.isFinite(r)) {
    td.textContent = '–';
    return;
  }
  td.append(el('span', `big ${r >= 1 ? 'win' : 'lose'}`, `${num(r, 2)}×`));
}

function row(name: string): { e: HTMLTableCellElement; p: HTMLTableCellElement; r: HTMLTableCellElement } {
  const tr = ui.speed.querySelector(`tr[data-row=${name}]`)!;
  return { e: tr.querySelector('td.e')!, p: tr.querySelector('td.p')!, r: tr.querySelector('td.r')! };
}

function dl(target: HTMLElement, rows: [string, string][]): void {
  target.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', '', k), el('dd', '', v)]));
}

function showError(title: string, detail: string): void {
  ui.runError.replaceChildren(el('h3', '', title), el('p', '', detail));
  ui.runError.hidden = false;
}

/** A file from disk replaces the list's pick until the list is used again. */
function useLocalFile(file: File | null): void {
  if (!file) ui.localModel.value = '';
  ui.localChosen.hidden = !file;
  ui.modelList.classList.toggle('overridden', !!file);
  if (file) ui.localChosenName.textContent = `Benchmarking ${file.name} (${formatBytes(file.size)}) from this computer`;
}

// ---------------------------------------------------------------- results

function chartRows(ks: readonly KernelTime[], per: number): ChartRow[] {
  return ks.map((k) => ({ label: k.label, ms: k.totalMs / per, calls: k.count / per }));
}

function render(r: BenchResult): void {
  const e = r.edgewise;
  const p = r.wllama;
  ui.speedNote.textContent = `${r.model.name} · ${r.settings.promptTokens}-token prompt, ${r.settings.genTokens} tokens generated, ${r.settings.reps} repetitions after a warm-up`;
  ui.peerHead.replaceChildren(document.createTextNode('wllama '), el('span', 'muted', p ? `WebAssembly, ${p.threads} thread${p.threads === 1 ? '' : 's'}` : 'not run'));
  let c = row('prefill');
  cell(c.e, e.prefillTokensPerS, 'rate'); cell(c.p, p?.prefillTokensPerS ?? null, 'rate'); ratioCell(c.r, r.ratio?.prefill ?? null);
  c = row('decode');
  cell(c.e, e.decodeTokensPerS, 'rate'); cell(c.p, p?.decodeTokensPerS ?? null, 'rate'); ratioCell(c.r, r.ratio?.decode ?? null);
  c = row('ttft');
  cell(c.e, e.ttftMs, 'ms'); cell(c.p, p?.ttftMs ?? null, 'ms'); c.r.textContent = '';
  c = row('load');
  c.e.textContent = formatDuration(e.loadMs / 1e3); c.p.textContent = p ? formatDuration(p.loadMs / 1e3) : '–';
  if (!p && r.wllamaError) c.p.textContent = 'failed (see log)';

  const frac = e.fractionOfCopy;
  ui.gauge.hidden = false;
  ui.gaugeFill.style.width = `${Math.min(100, 100 * frac).toFixed(1)}%`;
  ui.gaugeText.textContent = `${num(100 * frac, 1)}% of copy bandwidth`;
  dl(ui.memory, [
    ['weights read per decoded token', formatBytes(e.weightBytesPerToken)],
    ['keys and values read per decoded token', `${formatBytes(e.kvBytesPerToken)} (mean over the decode steps, F32 cache)`],
    ['decode achieves', `${num(e.achievedGbPerS, 3)} GB/s at ${num(e.decodeTokensPerS.median, rateDigits(e.decodeTokensPerS.median))} tokens/s`],
    ['copy bandwidth, this device', `${num(r.copyBandwidth.gbPerS, 2)} GB/s (${formatBytes(r.copyBandwidth.bytes)} buffer to buffer, read + write, median of ${r.copyBandwidth.runsMs.length})`],
    ['dispatches per decoded token', num(e.perToken.dispatches, 1)],
    ['queue submissions per decoded token', num(e.perToken.submits, 2)],
  ]);

  ui.kernelCharts.replaceChildren();
  if (e.kernels) {
    const per = e.kernels.decodeForwards;
    ui.kernelCharts.append(
      kernelChart('Decode', `per token, mean of ${per} one-token forward passes`, chartRows(e.kernels.decode, per)),
      kernelChart('Prefill', `the whole ${r.settings.promptTokens}-token prompt`, chartRows(e.kernels.prefill, 1)),
    );
  } else {
    ui.kernelCharts.append(el('p', 'muted small', r.settings.profile
      ? 'This device has no timestamp-query feature, so kernels cannot be timed one by one here.'
      : 'Per-kernel times were not asked for in this run.'));
  }
}

function clearResults(): void {
  for (const name of ['prefill', 'decode', 'ttft', 'load']) {
    const c = row(name);
    for (const td of [c.e, c.p, c.r]) td.replaceChildren(document.createTextNode(name === 'load' && td === c.r ? '' : '–'));
  }
  ui.gauge.hidden = true;
  ui.memory.replaceChildren();
  ui.kernelCharts.replaceChildren();
  ui.runError.hidden = true;
}

function exportJson(): void {
  if (!lastResult) return;
  const blob = new Blob([`${JSON.stringify(lastResult, null, 2)}\n`], { type: 'application/json' });
  const a = el('a');
  a.href = URL.createObjectURL(blob);
  const stamp = lastResult.date.replace(/[:.]/g, '-');
  a.download = `edgewise-bench-${lastResult.model.name.replace(/\.gguf$/i, '').replace(/[^\w.-]+/g, '_')}-${stamp}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// ---------------------------------------------------------------- the run

function intSetting(input: HTMLInputElement, name: string): number {
  const v = Number(input.value);
  const min = Number(input.min), max = Number(input.max);
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be a whole number from ${min} to ${max}, got “${input.value}”`);
  return v;
}

async function run(): Promise<void> {
  if (!gpu || running) return;
  const g = gpu;
  let settings: BenchResult['settings'];
  try {
    settings = {
      promptTokens: intSetting(ui.promptTokens, 'Prompt tokens'), genTokens: intSetting(ui.genTokens, 'Tokens to generate'),
      reps: intSetting(ui.reps, 'Repetitions'), peer: ui.peer.checked, peerThreads: intSetting(ui.peerThreads, 'wllama threads'),
      profile: ui.profile.checked,
    };
  } catch (e) {
    showError('Check the settings', (e as Error).message);
    return;
  }
  const local = ui.localModel.files?.[0] ?? null;
  ui.runBtn.disabled = true; // a second click while the server's model list is read starts nothing
  await probed;
  const reg = findModel(picker.selected);
  if (!local && !reg) {
    ui.runBtn.disabled = false;
    return;
  }
  const source: string | Blob = local ?? avail.fileUrl(reg!.files.model);
  const name = local?.name ?? (reg!.files.model.name ?? reg!.files.model.path.split('/').pop()!);

  running = new AbortController();
  const signal = running.signal;
  clearResults();
  lastResult = null;
  ui.exportBtn.disabled = true;
  ui.runBtn.disabled = true;
  ui.stopBtn.hidden = false;
  document.body.dataset.bench = 'running';
  ui.runStatus.textContent = '';
  log(`${name}: prompt ${settings.promptTokens}, generate ${settings.genTokens}, ${settings.reps} repetitions`);
  const stages = settings.peer ? 5 : 3;
  let stage = 0;
  const step = (text: string) => { status(text, stage++ / stages); log(text); };
  let loaded: Awaited<ReturnType<typeof loadLanguageModel>> | null = null;
  try {
    step('Measuring the copy bandwidth of this device');
    const copy = await copyBandwidth(g);
    log(`copy bandwidth ${copy.gbPerS.toFixed(2)} GB/s`);

    step(`edgewise: opening ${name}`);
    const t0 = performance.now();
    const opened = await openModelSource(source);
    const gguf = opened.gguf;
    const tensorTypes: Record<string, number> = {};
    for (const t of gguf.tensors) tensorTypes[t.type] = (tensorTypes[t.type] ?? 0) + 1;
    const weightBytes = weightBytesPerToken(gguf.tensors);
    let prompt: { text: string; ids: number[] };
    try {
      prompt = benchPrompt(loadTokenizer(gguf), settings.promptTokens);
      loaded = await loadLanguageModel(g, gguf, { contextLength: settings.promptTokens + settings.genTokens + 8, maxBatch: Math.min(settings.promptTokens, 256) }, (p) => {
        status(`edgewise: reading weights into the GPU · ${formatBytes(p.loadedBytes)} / ${formatBytes(p.totalBytes)}`, (1 + p.loadedBytes / Math.max(1, p.totalBytes)) / stages);
        if (signal.aborted) throw new BenchAbortedError();
      });
    } finally {
      await gguf.close();
    }
    await g.sync();
    const loadMs = performance.now() - t0;
    const hp = loaded.hparams;
    const promptIds = prompt.ids;
    log(`edgewise: loaded in ${loadMs.toFixed(0)} ms (${hp.arch.name}, ${hp.nLayer} layers, width ${hp.nEmbd}, vocabulary ${hp.vocabSize})`);

    step('edgewise: warm-up and repetitions');
    const bench = await benchGeneration(g, loaded.model, promptIds, {
      genTokens: settings.genTokens, reps: settings.reps, profile: settings.profile, signal,
      onProgress: (m) => { log(`edgewise ${m}`); status(`edgewise: ${m}`); },
    });
    loaded.model.dispose();
    loaded.weights.destroy();
    loaded = null;
    g.pool.trim();
    const kvBytes = kvBytesPerDecodedToken(hp, promptIds.length, Math.max(1, settings.genTokens - 1));
    const achieved = ((weightBytes + kvBytes) * bench.decodeTokensPerS.median) / 1e9;

    let wllama: BenchResult['wllama'] = null;
    let wllamaError: string | undefined;
    if (settings.peer) {
      if (signal.aborted) throw new BenchAbortedError();
      step(`wllama: reading ${name} (${settings.peerThreads} threads)`);
      try {
        const blob = source instanceof Blob ? source : await (await fetch(source, { signal })).blob();
        const { benchWllama } = await import('../bench/wllama-peer.ts');
        step('wllama: warm-up and repetitions');
        wllama = await benchWllama(blob, {
          promptText: prompt.text, promptTokens: promptIds.length, genTokens: settings.genTokens, reps: settings.reps, threads: settings.peerThreads,
          onProgress: (m) => { log(m); status(m); },
        });
      } catch (e) {
        if (signal.aborted) throw new BenchAbortedError();
        wllamaError = (e as Error).message || String(e);
        log(`wllama failed: ${wllamaError}`, 'bad');
      }
    }

    const result: BenchResult = {
      tool: 'edgewise benchmark page (bench.html)',
      date: new Date().toISOString(),
      page: { userAgent: navigator.userAgent, cores, crossOriginIsolated: globalThis.crossOriginIsolated === true },
      adapter: g.info,
      settings,
      model: { name, source: typeof source === 'string' ? source : `local file ${name}`, fileBytes: opened.fileBytes, architecture: hp.arch.name, nLayer: hp.nLayer, nEmbd: hp.nEmbd, vocabSize: hp.vocabSize, tensorTypes },
      promptText: prompt.text,
      promptIds,
      copyBandwidth: copy,
      edgewise: {
        loadMs, prefillTokensPerS: bench.prefillTokensPerS, decodeTokensPerS: bench.decodeTokensPerS, ttftMs: bench.ttftMs,
        runs: bench.runs, firstTokens: bench.firstTokens, perToken: bench.perToken,
        weightBytesPerToken: weightBytes, kvBytesPerToken: kvBytes, achievedGbPerS: achieved, fractionOfCopy: achieved / copy.gbPerS,
        kernels: bench.kernels,
      },
      wllama,
      ...(wllamaError ? { wllamaError } : {}),
      ratio: wllama ? { prefill: bench.prefillTokensPerS.median / wllama.prefillTokensPerS.median, decode: bench.decodeTokensPerS.median / wllama.decodeTokensPerS.median } : null,
    };
    lastResult = result;
    render(result);
    ui.exportBtn.disabled = false;
    status('Done', 1);
    ui.runStatus.textContent = `done in ${formatDuration((performance.now() - t0) / 1e3)}`;
    log(`done: edgewise prefill ${num(bench.prefillTokensPerS.median)} tok/s, decode ${num(bench.decodeTokensPerS.median)} tok/s` +
      (wllama ? `; wllama prefill ${num(wllama.prefillTokensPerS.median)} tok/s, decode ${num(wllama.decodeTokensPerS.median)} tok/s` : ''));
    if (wllamaError) showError('wllama could not run this file', `${wllamaError} — the edgewise numbers above are complete.`);
    document.body.dataset.bench = 'done';
  } catch (e) {
    if (loaded) { loaded.model.dispose(); loaded.weights.destroy(); }
    if (e instanceof BenchAbortedError || signal.aborted) {
      log('stopped', 'warn');
      ui.runStatus.textContent = 'stopped';
      document.body.dataset.bench = 'stopped';
    } else {
      const err = e as Error;
      log(`failed: ${err.message}`, 'bad');
      showError('The benchmark could not run', `${err.name ? `${err.name}: ` : ''}${err.message}`);
      document.body.dataset.bench = 'error';
    }
    ui.progress.hidden = true;
  } finally {
    running = null;
    ui.runBtn.disabled = false;
    ui.stopBtn.hidden = true;
  }
}

// ---------------------------------------------------------------- start

function showAdapter(g: Gpu): void {
  const i = g.info;
  const name = [i.vendor, i.architecture, i.description || i.device].filter(Boolean).join(' · ') || 'WebGPU adapter';
  ui.adapterName.textContent = name;
  ui.gpuSummary.replaceChildren(el('span', '', `${i.description || i.vendor || 'WebGPU'} `));
  ui.adapterFeatures.replaceChildren();
  for (const [f, on] of [['shader-f16', i.features.shaderF16], ['subgroups', i.features.subgroups], ['timestamp-query', i.features.timestampQuery]] as const) {
    ui.adapterFeatures.append(el('span', `pill ${on ? 'yes' : 'no'}`, f));
    ui.gpuSummary.append(el('span', `pill ${on ? 'yes' : 'no'}`, f));
  }
  const l = i.limits;
  dl(ui.adapterInfo, [
    ['max buffer', formatBytes(l.maxBufferSize)],
    ['max storage binding', formatBytes(l.maxStorageBufferBindingSize)],
    ['workgroup memory', formatBytes(l.maxComputeWorkgroupStorageSize)],
    ...(i.subgroupMinSize ? [['subgroup size', `${i.subgroupMinSize}–${i.subgroupMaxSize}`] as [string, string]] : []),
    ['CPU cores (for wllama)', String(cores)],
    ['cross-origin isolated', globalThis.crossOriginIsolated ? 'yes (wllama can use threads)' : 'no (wllama runs on one thread)'],
  ]);
}

async function start(): Promise<void> {
  ui.peerThreads.value = String(cores);
  ui.peerThreads.max = String(Math.max(64, cores));
  picker.render();
  ui.runBtn.disabled = true;
  ui.runBtn.addEventListener('click', () => void run());
  ui.stopBtn.addEventListener('click', () => running?.abort());
  ui.exportBtn.addEventListener('click', exportJson);
  ui.localModel.addEventListener('change', () => useLocalFile(ui.localModel.files?.[0] ?? null));
  ui.localClear.addEventListener('click', () => useLocalFile(null));
  probed = Availability.probe().then((a) => {
    avail = a;
    picker.setAvailability(a);
  });
  try {
    gpu = await Gpu.create({ label: 'edgewise-bench' });
  } catch (e) {
    ui.app.hidden = true;
    ui.noWebGpu.hidden = false;
    ui.noWebGpuReason.textContent = (e as Error).message;
    document.body.dataset.bench = 'no-webgpu';
    return;
  }
  showAdapter(gpu);
  void gpu.device.lost.then((info) => {
    if (info.reason === 'destroyed') return;
    showError('The GPU device was lost', `${info.message || info.reason} — reload the page to run again.`);
    ui.runBtn.disabled = true;
    document.body.dataset.bench = 'error';
  });
  ui.runBtn.disabled = false;
  document.body.dataset.bench = 'idle';
  log(`ready: ${ui.adapterName.textContent}; ${cores} CPU cores; cross-origin isolated: ${globalThis.crossOriginIsolated ? 'yes' : 'no'}`);
}

void start();
