// The per-kernel GPU time chart of the benchmark page: one horizontal bar per kernel label, longest
// first, the tail folded into "other", drawn as SVG (scales with the card, selectable text, no library).

const SVG = 'http://www.w3.org/2000/svg';

export interface ChartRow {
  label: string;
  /** Milliseconds (per decoded token, or for the whole prefill). */
  ms: number;
  /** Dispatches behind the time, on the same basis as ms. */
  calls: number;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function ms(x: number): string {
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 0.1) return x.toFixed(2);
  return x.toFixed(3);
}

/** Rows past `keep` are summed into one "other" row. */
export function foldTail(rows: readonly ChartRow[], keep: number): ChartRow[] {
  const sorted = [...rows].sort((a, b) => b.ms - a.ms);
  if (sorted.length <= keep + 1) return sorted;
  const tail = sorted.slice(keep);
  return [...sorted.slice(0, keep), { label: `other (${tail.length} kernels)`, ms: tail.reduce((s, r) => s + r.ms, 0), calls: tail.reduce((s, r) => s + r.calls, 0) }];
}

export function kernelChart(title: string, note: string, rows: readonly ChartRow[], keep = 10): HTMLElement {
  const fig = document.createElement('figure');
  const cap = document.createElement('figcaption');
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const strong = document.createElement('strong');
  strong.textContent = `${title}: ${ms(total)} ms`;
  const sub = document.createElement('span');
  sub.className = 'muted';
  sub.textContent = ` · ${note}`;
  cap.append(strong, sub);
  fig.append(cap);

  const shown = foldTail(rows, keep);
  const W = 520, rowH = 22, labelW = 200, valueW = 112, barW = W - labelW - valueW - 8;
  const H = Math.max(1, shown.length) * rowH + 4;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}, GPU time by kernel` });
  const max = Math.max(...shown.map((r) => r.ms), 1e-9);
  shown.forEach((r, i) => {
    const y = i * rowH + 2;
    const g = svg('g', { 'data-kernel': r.label });
    const label = r.label.length > 30 ? `${r.label.slice(0, 29)}…` : r.label;
    const t = svg('text', { x: labelW - 6, y: y + rowH / 2 + 4, 'text-anchor': 'end' }, label);
    t.append(svg('title', {}, `${r.label}: ${ms(r.ms)} ms, ${r.calls.toFixed(r.calls < 10 ? 1 : 0)} dispatches`));
    g.append(t);
    g.append(svg('rect', { class: 'track', x: labelW, y: y + 3, width: barW, height: rowH - 6, rx: 3 }));
    g.append(svg('rect', { class: r.label.startsWith('other (') ? 'bar other' : 'bar', x: labelW, y: y + 3, width: Math.max(1, (barW * r.ms) / max), height: rowH - 6, rx: 3 }));
    const share = total > 0 ? (100 * r.ms) / total : 0;
    g.append(svg('text', { class: 'v', x: labelW + barW + 6, y: y + rowH / 2 + 4 }, `${ms(r.ms)} ms ${share.toFixed(0).padStart(3)}%`));
    root.append(g);
  });
  fig.append(root);
  return fig;
}
