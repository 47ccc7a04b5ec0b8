// Part of Laker; no third-party code.
//
// The download widget of a dataset page: columns, filter (checked as you
// type with GET .../check), limit, order, version and format; the download
// link; and "copy as Python / CLI / ADBC" for the same slice.

import { api, datasetPath, errorText, query, state } from './api.js';
import { debounce, fmtBytes, fmtNumber, fmtTime, h } from './dom.js';
import { adbcSnippet, cliSnippet, pythonSnippet } from './snippets.js';

const FORMATS = [
  ['csv', 'CSV'],
  ['parquet', 'Parquet'],
  ['jsonl', 'JSON lines'],
  ['arrow', 'Arrow IPC stream'],
];

/**
 * Builds the widget for the described dataset `doc`. `onSlice({columns,
 * filter, limit})` is called after each successful check (for the preview).
 * Returns the widget's element.
 */
export function downloadWidget(doc, onSlice) {
  const columns = (doc.schema || []).map((c) => c.name);
  const boxes = columns.map((name) =>
    h('input', { type: 'checkbox', class: 'column-checkbox', value: name, checked: true, id: `col-${cssSafe(name)}` }),
  );
  const columnList = h(
    'ul',
    { class: 'column-list', id: 'column-list' },
    boxes.map((box) => h('li', {}, box, h('label', { for: box.id, text: box.value }))),
  );
  const all = h('button', { type: 'button', class: 'button-link', id: 'columns-all', text: 'All' });
  const none = h('button', { type: 'button', class: 'button-link', id: 'columns-none', text: 'None' });
  const columnSet = h(
    'fieldset',
    { class: 'columns' },
    h('legend', {}, 'Columns ', h('span', { class: 'legend-actions' }, all, ' · ', none)),
    columnList,
  );

  const filter = h('input', {
    id: 'filter-input',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: "e.g. fare > 30 AND city = 'Oslo'",
    'aria-describedby': 'filter-status',
  });
  const filterStatus = h('p', { id: 'filter-status', class: 'check-status', role: 'status', 'aria-live': 'polite' });

  const limit = h('input', { id: 'limit-input', type: 'number', min: '1', step: '1', inputmode: 'numeric', placeholder: 'all rows' });
  const orderBy = h('select', { id: 'order-by' }, h('option', { value: '', text: '(storage order)' }), columns.map((c) => h('option', { value: c, text: c })));
  const orderDir = h('select', { id: 'order-dir' }, h('option', { value: 'asc', text: 'ascending' }), h('option', { value: 'desc', text: 'descending' }));
  const versions = doc.versions || [];
  const version = h(
    'select',
    { id: 'version-select', disabled: versions.length === 0 },
    h('option', { value: '', text: doc.version === undefined || doc.version === null ? 'Latest' : `Latest (v${doc.version})` }),
    versions.map((v) => h('option', { value: String(v.version), text: `v${v.version} · ${fmtTime(v.timestamp)}${v.operation ? ` · ${v.operation}` : ''}` })),
  );
  const format = h('select', { id: 'format-select' }, FORMATS.map(([v, label]) => h('option', { value: v, text: label })));

  const link = h('a', { id: 'download-link', class: 'button button-primary', download: '', text: 'Download' });
  const snippet = h('code', { id: 'snippet-code' });
  const snippetBox = h('pre', { id: 'snippet', class: 'snippet', hidden: true, tabindex: '0', 'aria-label': 'Code for this slice' }, snippet);
  const snippetStatus = h('p', { id: 'snippet-status', class: 'muted', role: 'status', 'aria-live': 'polite' });
  const copyButtons = [
    ['copy-python', 'Python', pythonSnippet],
    ['copy-cli', 'CLI', cliSnippet],
    ['copy-adbc', 'ADBC', adbcSnippet],
  ].map(([id, kind, make]) =>
    h('button', { type: 'button', id, class: 'button-secondary', text: `Copy as ${kind}`, on: { click: () => copy(kind, make) } }),
  );

  /** The current choices; `problem` set when they cannot be sent. */
  function current() {
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    const out = {
      columns: chosen.length === columns.length ? null : chosen,
      filter: filter.value.trim(),
      limit: null,
      orderBy: orderBy.value ? [{ column: orderBy.value, desc: orderDir.value === 'desc' }] : [],
      version: version.value === '' ? null : Number(version.value),
      format: format.value,
      problem: '',
    };
    if (chosen.length === 0) out.problem = 'Choose at least one column.';
    const limitText = limit.value.trim();
    if (limitText) {
      const n = Number(limitText);
      if (!Number.isInteger(n) || n < 1) out.problem = 'The limit must be a whole number of at least 1.';
      else out.limit = n;
    }
    if (limit.validity.badInput) out.problem = 'The limit must be a whole number of at least 1.';
    return out;
  }

  /** URL query parameters of a slice (shared by check and download). */
  function params(s) {
    return {
      columns: s.columns ? s.columns.join(',') : '',
      filter: s.filter,
      limit: s.limit,
      order_by: s.orderBy.map((o) => `${o.column}${o.desc ? ' desc' : ''}`).join(','),
      version: s.version,
    };
  }

  let seq = 0;
  let controller = null;
  let previewed = '';
  /** Checks the current slice; resolves to {slice, result} or null when refused. */
  async function check() {
    seq += 1;
    const mine = seq;
    controller?.abort();
    const s = current();
    if (s.problem) {
      show(false, s.problem);
      disable();
      return null;
    }
    controller = new AbortController();
    filterStatus.classList.add('pending');
    try {
      const result = await api(datasetPath(doc.name, '/check'), { params: params(s), signal: controller.signal });
      if (mine !== seq) return null;
      show(true, summary(result));
      link.href = datasetPath(doc.name, '/download') + query({ ...params(s), format: s.format });
      link.removeAttribute('aria-disabled');
      link.classList.remove('disabled');
      const shown = { columns: s.columns, filter: s.filter, limit: s.limit };
      const key = JSON.stringify(shown);
      if (key !== previewed) {
        previewed = key;
        onSlice(shown);
      }
      return { slice: s, result };
    } catch (e) {
      if (e.name === 'AbortError' || mine !== seq) return null;
      show(false, errorText(e));
      disable();
      return null;
    } finally {
      if (mine === seq) filterStatus.classList.remove('pending');
    }
  }

  function show(ok, text) {
    filterStatus.textContent = text;
    filterStatus.classList.toggle('error', !ok);
    filterStatus.classList.toggle('ok', ok);
    filter.setAttribute('aria-invalid', String(!ok));
  }

  function disable() {
    link.removeAttribute('href');
    link.setAttribute('aria-disabled', 'true');
    link.classList.add('disabled');
  }

  async function copy(kind, make) {
    snippetStatus.textContent = 'Checking the slice…';
    const checked = await check();
    if (!checked) {
      snippetStatus.textContent = `Fix the slice first: ${filterStatus.textContent}`;
      return;
    }
    const session = state.session || {};
    const text = make({
      ...checked.slice,
      dataset: doc.name,
      user: session.user || 'USER',
      flightUrl: session.flight_url || `grpc://${location.hostname}:50051`,
      version: checked.result.version ?? null,
    });
    snippet.textContent = text;
    snippetBox.hidden = false;
    snippetBox.dataset.kind = kind.toLowerCase();
    try {
      await navigator.clipboard.writeText(text);
      snippetStatus.textContent = `Copied the ${kind} code to the clipboard.`;
    } catch {
      snippetStatus.textContent = `The ${kind} code is shown below; select it and copy (the clipboard is not available here).`;
    }
  }

  const checkSoon = debounce(check, 300);
  const checkNow = () => {
    checkSoon.cancel();
    check();
  };
  filter.addEventListener('input', () => {
    filterStatus.textContent = 'Checking…';
    filterStatus.classList.remove('error', 'ok');
    checkSoon();
  });
  limit.addEventListener('input', checkSoon);
  for (const el of [columnList, orderBy, orderDir, version, format]) el.addEventListener('change', checkNow);
  all.addEventListener('click', () => {
    for (const b of boxes) b.checked = true;
    checkNow();
  });
  none.addEventListener('click', () => {
    for (const b of boxes) b.checked = false;
    checkNow();
  });
  disable();
  // The preview of the whole dataset loads at once, beside the first check.
  const initial = { columns: null, filter: '', limit: null };
  previewed = JSON.stringify(initial);
  queueMicrotask(() => {
    onSlice(initial);
    check();
  });

  const id = (x) => x.id;
  return h(
    'section',
    { class: 'panel download-widget', id: 'download-widget', 'aria-labelledby': 'download-heading' },
    h('h2', { id: 'download-heading', text: 'Download' }),
    columnSet,
    h('div', { class: 'field' }, h('label', { for: id(filter), text: 'Filter (SQL)' }), filter, filterStatus),
    h(
      'div',
      { class: 'field-row' },
      h('div', { class: 'field' }, h('label', { for: id(limit), text: 'Limit' }), limit),
      h('div', { class: 'field' }, h('label', { for: id(format), text: 'Format' }), format),
    ),
    h(
      'div',
      { class: 'field-row' },
      h('div', { class: 'field' }, h('label', { for: id(orderBy), text: 'Order by' }), orderBy),
      h('div', { class: 'field' }, h('label', { for: id(orderDir), text: 'Direction' }), orderDir),
    ),
    h('div', { class: 'field' }, h('label', { for: id(version), text: 'Version' }), version),
    h('div', { class: 'actions' }, link),
    h('div', { class: 'actions copy-actions' }, copyButtons),
    snippetStatus,
    snippetBox,
  );
}

/** "Valid: about 1,234 rows, 5.6 MiB, version 3." */
function summary(result) {
  const parts = [];
  if (result.estimated_rows !== null && result.estimated_rows !== undefined) parts.push(`about ${fmtNumber(result.estimated_rows)} rows`);
  if (result.estimated_bytes !== null && result.estimated_bytes !== undefined) parts.push(fmtBytes(result.estimated_bytes));
  if (result.version !== null && result.version !== undefined) parts.push(`version ${result.version}`);
  return `✓ Valid${parts.length ? `: ${parts.join(', ')}` : ''}.`;
}

/** A string usable inside an id (column names may hold anything). */
function cssSafe(name) {
  return Array.from(name, (ch) => (/[A-Za-z0-9_-]/.test(ch) ? ch : `_${ch.codePointAt(0).toString(16)}`)).join('');
}
