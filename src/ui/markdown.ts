// Model output is untrusted text. It is rendered as markdown (marked) with two guards: raw HTML in the
// text is shown as text, never parsed (a reply that says <script> shows "<script>"), and the HTML marked
// produces goes through DOMPurify with links limited to http(s)/mailto and no images, so a reply can
// neither run code nor make the browser fetch a URL of its choosing.

import DOMPurify from 'dompurify';
import { Marked, type Tokens } from 'marked';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html(token: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(token.text);
    },
    // An image in a reply becomes a plain link: loading it would send a request the model chose.
    image(token: Tokens.Image): string {
      return `<a href="${escapeHtml(token.href)}">${escapeHtml(token.text || 'image')}</a>`;
    },
  },
});

const purify = DOMPurify(window);
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    if (node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  }
});

const PURIFY_CONFIG = {
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  FORBID_TAGS: ['img', 'style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'svg', 'math'],
  FORBID_ATTR: ['style', 'id', 'name'],
};

/** Sanitized HTML for a model's markdown reply. */
export function markdownToSafeHtml(text: string): string {
  const html = marked.parse(text) as string;
  return purify.sanitize(html, PURIFY_CONFIG) as string;
}

/** Replaces `el`'s children with the rendered reply. */
export function renderMarkdownInto(el: HTMLElement, text: string): void {
  el.innerHTML = markdownToSafeHtml(text);
}
