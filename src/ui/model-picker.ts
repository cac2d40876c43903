// The model list (default model first, then the registry) with sizes and where each model would come
// from — this server's models/ folder, the browser's cache, or a download — and the load progress bar
// with its rate and time left.

import type { LoadProgress } from '../api/types.ts';
import { el } from './chat-view.ts';
import { formatBytes, formatDuration, formatRate } from './format.ts';
import { hubUrl, localName, registry, totalBytes, weakestCheck, type RegistryFile, type RegistryModel } from './registry.ts';

export type Where = 'server' | 'cached' | 'download';

/** Which model files this page can get without the network. */
export class Availability {
  constructor(private onServer: Set<string>, private cached: Set<string>) {}

  static async probe(): Promise<Availability> {
    const onServer = new Set<string>();
    try {
      const r = await fetch('/models/index.json', { cache: 'no-store' });
      if (r.ok) for (const f of (await r.json()) as { name: string }[]) onServer.add(f.name);
    } catch {
      // A static build has no model folder: everything comes from the hub.
    }
    const cached = new Set<string>();
    if ('caches' in self) {
      for (const m of registry.models) {
        for (const f of files(m)) {
          try {
            if (await caches.match(hubUrl(f))) cached.add(hubUrl(f));
          } catch {
            // Cache Storage refused (opaque origin, private mode): nothing is cached.
          }
        }
      }
    }
    return new Availability(onServer, cached);
  }

  fileUrl(f: RegistryFile): string {
    return this.onServer.has(localName(f)) ? new URL(`/models/${encodeURIComponent(localName(f))}`, location.href).href : hubUrl(f);
  }

  where(m: RegistryModel): Where {
    const fs = files(m);
    if (fs.every((f) => this.onServer.has(localName(f)))) return 'server';
    if (fs.every((f) => this.onServer.has(localName(f)) || this.cached.has(hubUrl(f)))) return 'cached';
    return 'download';
  }

  markCached(m: RegistryModel): void {
    for (const f of files(m)) if (!this.onServer.has(localName(f))) this.cached.add(hubUrl(f));
  }
}

function files(m: RegistryModel): RegistryFile[] {
  return [m.files.model, ...(m.files.mmproj ? [m.files.mmproj] : [])];
}

export class ModelList {
  selected: string;
  private loadedId: string | null = null;

  constructor(private root: HTMLUListElement, private avail: Availability, selected: string, private onPick: (id: string) => void) {
    this.selected = registry.models.some((m) => m.id === selected) ? selected : registry.default;
  }

  setAvailability(a: Availability): void {
    this.avail = a;
    this.render();
  }

  setLoaded(id: string | null): void {
    this.loadedId = id;
    this.render();
  }

  select(id: string): void {
    this.selected = id;
    this.render();
  }

  render(): void {
    const items = [...registry.models].sort((a, b) => Number(b.id === registry.default) - Number(a.id === registry.default));
    this.root.replaceChildren(...items.map((m) => this.item(m)));
  }

  private item(m: RegistryModel): HTMLLIElement {
    const li = el('li');
    li.dataset.id = m.id;
    if (m.id === this.selected) li.classList.add('selected');
    if (m.id === this.loadedId) li.classList.add('loaded');
    const radio = el('input');
    radio.type = 'radio';
    radio.name = 'model';
    radio.checked = m.id === this.selected;
    radio.setAttribute('aria-label', m.label);
    const info = el('div');
    const head = el('div', 'head');
    const check = weakestCheck(m);
    head.append(el('span', 'name', m.label), el('span', 'size', `${check === 'exact' ? '' : '~'}${formatBytes(totalBytes(m))}`));
    const badges = el('div', 'badges');
    if (m.id === this.loadedId) badges.append(el('span', 'badge ok', 'loaded'));
    if (m.id === registry.default) badges.append(el('span', 'badge', 'default'));
    const where = this.avail.where(m);
    if (where === 'server') badges.append(el('span', 'badge ok', 'on this server'));
    else if (where === 'cached') badges.append(el('span', 'badge ok', 'cached'));
    else badges.append(el('span', 'badge', 'download'));
    if (m.vision) badges.append(el('span', 'badge vision', 'vision'));
    if (check === 'unverified') badges.append(el('span', 'badge warn', 'unverified file'));
    info.append(head, badges, el('p', 'about', m.about));
    li.append(radio, info);
    const pick = () => {
      if (this.selected === m.id) return;
      this.select(m.id);
      this.onPick(m.id);
    };
    li.addEventListener('click', pick);
    // Arrow keys move a radio group's checked item without a click.
    radio.addEventListener('change', () => {
      pick();
      this.root.querySelector<HTMLInputElement>(`li[data-id="${CSS.escape(m.id)}"] input`)?.focus();
    });
    return li;
  }
}

const STAGE_WORDS: Record<LoadProgress['stage'], string> = {
  fetch: 'downloading',
  cache: 'reading from the browser cache',
  parse: 'reading the model header',
  upload: 'reading weights into the GPU',
  compile: 'compiling GPU kernels',
  ready: 'ready',
};

/** Progress over one or two files (model and projector), with a rate over the last few seconds. */
export class ProgressView {
  private files = new Map<string, { loaded: number; total: number }>();
  private samples: { t: number; bytes: number }[] = [];
  private stage: LoadProgress['stage'] | null = null;

  constructor(private box: HTMLElement, private fill: HTMLElement, private text: HTMLElement) {}

  start(what: string): void {
    this.files.clear();
    this.samples = [];
    this.stage = null;
    this.box.hidden = false;
    this.fill.style.width = '0%';
    this.text.textContent = `Starting ${what}…`;
  }

  update(p: LoadProgress): void {
    // Each stage counts its own bytes (downloaded, then uploaded): the rate starts over with it.
    if (p.stage !== this.stage) {
      this.stage = p.stage;
      this.samples = [];
    }
    const key = p.file ?? 'model';
    this.files.set(key, { loaded: p.loadedBytes, total: p.totalBytes });
    let loaded = 0;
    let total = 0;
    for (const f of this.files.values()) {
      loaded += f.loaded;
      total += f.total;
    }
    const frac = total > 0 ? Math.min(1, loaded / total) : 0;
    this.fill.style.width = `${(frac * 100).toFixed(1)}%`;
    const now = performance.now();
    this.samples.push({ t: now, bytes: loaded });
    while (this.samples.length > 2 && now - this.samples[0].t > 3000) this.samples.shift();
    const first = this.samples[0];
    const dt = (now - first.t) / 1000;
    const rate = dt > 0.2 ? (loaded - first.bytes) / dt : 0;
    const parts = [p.file ? `${p.file}: ${STAGE_WORDS[p.stage]}` : STAGE_WORDS[p.stage].replace(/^./, (c) => c.toUpperCase())];
    if (total > 0) parts.push(`${formatBytes(loaded)} / ${formatBytes(total)}`);
    if (rate > 0 && p.stage !== 'ready') {
      parts.push(formatRate(rate));
      if (total > loaded) parts.push(`${formatDuration((total - loaded) / rate)} left`);
    }
    if (p.fromCache) parts.push('from cache');
    this.text.textContent = parts.join(' · ');
  }

  hide(): void {
    this.box.hidden = true;
  }
}
