// A page that embeds edgewise: load a model from a URL (the model URL box, or ?model=...), then stream a
// story into the page. The engine runs in a Web Worker, so the page stays responsive while it works.
import { createEngine, ApiError, type LoadProgress } from 'edgewise';

// TinyStories 260K (1 MB) from the Hugging Face hub; ?model= points the page at any GGUF URL.
const DEFAULT_MODEL = 'https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('form');
const modelBox = $<HTMLInputElement>('model');
const promptBox = $<HTMLInputElement>('prompt');
const go = $<HTMLButtonElement>('go');
const stop = $<HTMLButtonElement>('stop');
const status = $<HTMLParagraphElement>('status');
const out = $<HTMLDivElement>('out');

const params = new URLSearchParams(location.search);
modelBox.value = params.get('model') ?? DEFAULT_MODEL;
const engine = createEngine();
let loadedUrl: string | null = null;
let running: AbortController | null = null;

function describe(p: LoadProgress): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const what = { fetch: 'Downloading', cache: 'Reading from the cache', parse: 'Reading the header', upload: 'Uploading weights', compile: 'Compiling', ready: 'Ready' }[p.stage];
  return p.totalBytes > 0 && p.stage !== 'ready' ? `${what}: ${mb(p.loadedBytes)} / ${mb(p.totalBytes)} MB` : what;
}

async function ensureModel(url: string): Promise<void> {
  if (url === loadedUrl) return;
  let fromCache = false;
  const info = await engine.loadModel({
    model: url,
    contextLength: 512,
    // Cache every download, also from this page's own server, so the next visit works offline.
    cache: true,
    onProgress: (p) => {
      fromCache ||= p.fromCache === true;
      status.textContent = describe(p);
    },
  });
  loadedUrl = url;
  status.textContent = `Loaded ${info.id} (${info.architecture}, ${(info.fileBytes / 1e6).toFixed(1)} MB${fromCache ? ', from the cache' : ''}).`;
  document.body.dataset.modelSource = fromCache ? 'cache' : 'network';
}

async function write(): Promise<void> {
  running = new AbortController();
  go.disabled = true;
  stop.disabled = false;
  out.textContent = promptBox.value;
  try {
    await ensureModel(modelBox.value.trim());
    const stream = await engine.completions.create({ prompt: promptBox.value, max_tokens: 200, temperature: 0, stream: true, signal: running.signal });
    for await (const chunk of stream) {
      out.textContent += chunk.choices[0].text;
      if (chunk.usage) {
        const u = chunk.usage;
        status.textContent = `${u.completion_tokens} tokens, ${u.decode_tokens_per_s.toFixed(1)} tokens/s, first token after ${u.ttft_ms.toFixed(0)} ms (${chunk.choices[0].finish_reason}).`;
      }
    }
    document.body.dataset.done = 'true';
  } catch (e) {
    status.textContent = e instanceof ApiError ? `Error (${e.body.error.type}): ${e.message}` : `Error: ${(e as Error).message}`;
    document.body.dataset.error = status.textContent;
  } finally {
    running = null;
    go.disabled = false;
    stop.disabled = true;
  }
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  void write();
});
stop.addEventListener('click', () => running?.abort());

status.textContent = 'Press Write to load the model and start.';
if (params.has('autostart')) void write();
