// Part of Laker; no third-party code.
//
// A dataset page (#/datasets/<name>): what GET /api/v1/datasets/{name}
// says (schema, statistics, partitions, versions), the preview grid and
// the download widget. A dataset the caller may not see gets a message and
// a "Request access" button.

import { api, datasetPath, errorText } from './api.js';
import { badge, displayValue, fmtBytes, fmtNumber, fmtTime, h, replace, section, table } from './dom.js';
import { downloadWidget } from './download.js';
import { createPreview } from './preview.js';
import { requestAccess } from './request-form.js';

/** Draws the page for dataset `ctx.name`. */
export function render(main, ctx) {
  const name = ctx.name;
  document.title = `${name} · Laker`;
  const holder = h('div', { class: 'dataset-page', 'aria-busy': 'true' }, h('p', { class: 'muted', role: 'status', text: 'Loading…' }));
  main.append(
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/datasets', text: '← Datasets' })),
    h('h1', { id: 'dataset-name', text: name }),
    holder,
  );
  api(datasetPath(name))
    .then((doc) => {
      replace(holder, ...page(doc || { name }));
    })
    .catch((e) => {
      if (e.status === 401) return;
      replace(holder, ...(e.status === 404 || e.status === 403 ? notVisible(name, e) : failed(name, e)));
    })
    .finally(() => holder.setAttribute('aria-busy', 'false'));
}

function notVisible(name, e) {
  return [
    h(
      'div',
      { id: 'dataset-not-found', class: 'notice', role: 'alert' },
      h('p', { text: `Dataset “${name}” was not found, or you may not see it.` }),
      h('p', { class: 'muted', text: errorText(e) }),
    ),
    requestAccess({ dataset: name }),
  ];
}

function failed(name, e) {
  return [h('p', { class: 'error', role: 'alert', text: `Could not load “${name}”: ${errorText(e)}` })];
}

/** The page's parts for a dataset document. */
function page(doc) {
  const preview = createPreview(doc.name);
  const widget = downloadWidget(doc, preview.load);
  return [
    overview(doc),
    h(
      'div',
      { class: 'dataset-grid' },
      h('div', { class: 'dataset-main' }, schemaPanel(doc), statisticsPanel(doc), partitionsPanel(doc), versionsPanel(doc)),
      h('div', { class: 'dataset-side' }, widget),
    ),
    preview.el,
  ];
}

function overview(doc) {
  const facts = [
    ['Owner', doc.owner || '—'],
    ['Format', doc.format || '—'],
  ];
  if (doc.version !== undefined && doc.version !== null) facts.push(['Version', `v${doc.version}`]);
  if (doc.location) facts.push(['Location', doc.location]);
  return h(
    'div',
    { class: 'overview', id: 'dataset-overview' },
    h('p', { id: 'dataset-description', class: 'description', text: doc.description || 'No description.' }),
    (doc.tags || []).length
      ? h('ul', { class: 'tags', id: 'dataset-tags', 'aria-label': 'Tags' }, doc.tags.map((t) => h('li', {}, h('a', { class: 'tag', href: `#/datasets?search=${encodeURIComponent(t)}`, text: t }))))
      : null,
    h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])),
  );
}

function schemaPanel(doc) {
  const cols = [
    { label: 'Column', render: (c) => h('code', { text: c.name }) },
    { label: 'Type', render: (c) => c.type },
    { label: 'Nullable', render: (c) => (c.nullable ? 'yes' : 'no') },
    { label: 'Access', render: (c) => (c.masked ? badge('masked', 'warn') : '') },
  ];
  return section('Schema', { id: 'schema' }, table(cols, doc.schema || [], { caption: 'Columns', id: 'schema-table' }));
}

/** `{value, exact}` (or a plain number) as text; inexact values get "≈". */
function precision(p) {
  if (p === null || p === undefined) return '—';
  if (typeof p === 'object') return `${p.exact === false ? '≈ ' : ''}${fmtNumber(p.value)}`;
  return fmtNumber(p);
}

function statisticsPanel(doc) {
  const stats = doc.statistics || {};
  if (stats.withheld) {
    return section('Statistics', { id: 'statistics' }, h('p', { id: 'stats-withheld', class: 'notice', text: `Withheld: ${stats.withheld}` }));
  }
  const summary = h(
    'dl',
    { class: 'facts', id: 'stats-summary' },
    h('dt', { text: 'Rows' }),
    h('dd', { id: 'stats-rows', text: precision(stats.rows) }),
    h('dt', { text: 'Files' }),
    h('dd', { text: fmtNumber(stats.files) }),
    h('dt', { text: 'Size' }),
    h('dd', { text: fmtBytes(stats.size_bytes) }),
  );
  const cols = [
    { label: 'Column', render: (c) => h('code', { text: c.name }) },
    { label: 'Min', render: (c) => displayValue(c.min) },
    { label: 'Max', render: (c) => displayValue(c.max) },
    { label: 'Nulls', render: (c) => precision(c.null_count) },
  ];
  const perColumn = (stats.columns || []).length
    ? h('details', { class: 'column-stats' }, h('summary', { text: 'Per-column statistics' }), table(cols, stats.columns, { caption: 'Column statistics', id: 'column-stats-table' }))
    : null;
  return section('Statistics', { id: 'statistics' }, summary, perColumn);
}

function partitionsPanel(doc) {
  const parts = doc.partitions || doc.partition_columns || [];
  if (!parts.length) return null;
  return section(
    'Partitions',
    { id: 'partitions' },
    h('ul', { class: 'plain-list' }, parts.map((p) => h('li', {}, typeof p === 'object' ? [h('code', { text: p.name }), p.type ? ` (${p.type})` : ''] : h('code', { text: String(p) })))),
  );
}

function versionsPanel(doc) {
  const versions = doc.versions || [];
  if (!versions.length) return null;
  const cols = [
    { label: 'Version', render: (v) => (v.version === doc.version ? [`v${v.version} `, badge('latest', 'accent')] : `v${v.version}`) },
    { label: 'Committed', render: (v) => fmtTime(v.timestamp) },
    { label: 'Operation', render: (v) => v.operation || '—' },
  ];
  return section('Versions', { id: 'versions' }, table(cols, versions, { caption: 'Delta versions, newest first', id: 'versions-table' }));
}
