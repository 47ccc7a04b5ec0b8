// Part of Laker; no third-party code.
//
// The preview grid of a dataset page: GET .../preview with the download
// widget's columns and filter, at most 50 rows, values shown as text.

import { api, datasetPath, errorText } from './api.js';
import { displayValue, fmtNumber, h, replace } from './dom.js';

/** Most rows previewed. */
const PREVIEW_ROWS = 50;

/** The preview panel of dataset `name`: {el, load({columns, filter, limit})}. */
export function createPreview(name) {
  const status = h('p', { id: 'preview-status', class: 'muted', role: 'status', 'aria-live': 'polite', text: 'Loading the preview…' });
  const body = h('div', { id: 'preview-body' });
  const el = h(
    'section',
    { class: 'panel preview', 'aria-labelledby': 'preview-heading' },
    h('h2', { id: 'preview-heading', text: 'Preview' }),
    status,
    body,
  );

  let seq = 0;
  let controller = null;
  async function load({ columns, filter, limit }) {
    seq += 1;
    const mine = seq;
    controller?.abort();
    controller = new AbortController();
    const rows = Math.min(PREVIEW_ROWS, limit || PREVIEW_ROWS);
    status.textContent = 'Loading the preview…';
    body.setAttribute('aria-busy', 'true');
    try {
      const result = await api(datasetPath(name, '/preview'), {
        params: { limit: rows, columns: columns ? columns.join(',') : '', filter },
        signal: controller.signal,
      });
      if (mine !== seq) return;
      const cols = result?.columns || [];
      const data = result?.rows || [];
      replace(body, grid(cols, data));
      status.textContent = data.length === 0
        ? 'No rows match.'
        : `First ${fmtNumber(data.length)} row${data.length === 1 ? '' : 's'}${filter ? ' matching the filter' : ''}.`;
    } catch (e) {
      if (e.name === 'AbortError' || mine !== seq) return;
      status.textContent = '';
      replace(body, h('p', { class: 'error', role: 'alert', id: 'preview-error', text: errorText(e) }));
    } finally {
      if (mine === seq) body.setAttribute('aria-busy', 'false');
    }
  }
  return { el, load };
}

/** The rows as a table; column headers carry the Arrow type. */
function grid(columns, rows) {
  const head = h(
    'tr',
    {},
    columns.map((c) => h('th', { scope: 'col' }, h('span', { class: 'col-name', text: c.name }), h('span', { class: 'col-type', text: c.type || '' }))),
  );
  const body = h(
    'tbody',
    {},
    rows.map((row) =>
      h(
        'tr',
        {},
        columns.map((c) => {
          const v = row[c.name];
          return h('td', { class: v === null || v === undefined ? 'null' : typeof v === 'number' ? 'num' : null, text: displayValue(v) });
        }),
      ),
    ),
  );
  return h(
    'div',
    { class: 'table-scroll preview-scroll', tabindex: '0', role: 'region', 'aria-label': 'Preview rows' },
    h('table', { id: 'preview-grid', 'data-testid': 'preview-grid', class: 'grid' }, h('thead', {}, head), body),
  );
}
