// Part of Laker; no third-party code.
//
// Audit & usage (#/audit): GET /api/v1/usage for a period (7/30/90 days),
// optionally one dataset or user, drawn as SVG charts with data tables;
// for admins also the newest audit records (GET /api/v1/audit).

import { api, errorText } from './api.js';
import { add, fmtBytes, fmtNumber, fmtTime, h, replace, table } from './dom.js';
import { barChart, columnChart } from './charts.js';

const DAY_MS = 86_400_000;

/** Every UTC day ("YYYY-MM-DD") from `from` to `to` (unix ms), oldest first. */
export function daysBetween(from, to) {
  const days = [];
  for (let t = Math.floor(from / DAY_MS) * DAY_MS; t <= to; t += DAY_MS) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/** Draws the page. */
export function render(main, ctx) {
  document.title = 'Audit & usage · Laker';
  const admin = !!ctx.session?.admin;
  const dataset = h('input', { id: 'usage-dataset', type: 'text', autocomplete: 'off', list: 'usage-datasets', placeholder: 'all datasets' });
  const datalist = h('datalist', { id: 'usage-datasets' });
  const user = admin ? h('input', { id: 'usage-user', type: 'text', autocomplete: 'off', placeholder: 'all users' }) : null;
  const period = h('select', { id: 'usage-period' }, [7, 30, 90].map((d) => h('option', { value: String(d), text: `Last ${d} days`, selected: d === 30 })));
  const apply = h('button', { type: 'submit', id: 'usage-apply', class: 'button-primary', text: 'Show' });
  const form = h(
    'form',
    { id: 'usage-form', class: 'filter-bar', role: 'search', 'aria-label': 'Usage filters' },
    h('div', { class: 'field' }, h('label', { for: dataset.id, text: 'Dataset' }), dataset, datalist),
    user ? h('div', { class: 'field' }, h('label', { for: user.id, text: 'User' }), user) : null,
    h('div', { class: 'field' }, h('label', { for: period.id, text: 'Period' }), period),
    h('div', { class: 'actions' }, apply),
  );
  const status = h('p', { id: 'usage-status', class: 'muted', role: 'status', 'aria-live': 'polite' });
  const totals = h('dl', { id: 'usage-totals', class: 'totals' });
  const charts = h('div', { id: 'usage-charts', class: 'chart-grid', 'aria-busy': 'true' });
  const records = admin ? h('div', { id: 'audit-records-body' }) : null;

  add(
    main,
    h('h1', { text: 'Audit & usage' }),
    h('p', { class: 'muted', text: admin ? 'Usage of every principal.' : 'Your own downloads and calls.' }),
    form,
    status,
    totals,
    charts,
    admin
      ? h('section', { class: 'panel', id: 'audit-records', 'aria-labelledby': 'audit-heading' }, h('h2', { id: 'audit-heading', text: 'Recent audit records' }), records)
      : null,
  );

  async function load() {
    const to = Date.now();
    const from = to - Number(period.value) * DAY_MS;
    const filters = { dataset: dataset.value.trim(), user: user ? user.value.trim() : '' };
    status.textContent = 'Loading…';
    charts.setAttribute('aria-busy', 'true');
    try {
      const usage = await api('/usage', { params: { from, to, ...filters } });
      drawTotals(totals, usage || {});
      replace(charts, usageCharts(usage || {}, daysBetween(from, to)));
      status.textContent = `Showing ${period.selectedOptions[0].textContent.toLowerCase()}${filters.dataset ? ` for ${filters.dataset}` : ''}${filters.user ? ` by ${filters.user}` : ''}.`;
    } catch (e) {
      if (e.status === 401) return;
      status.textContent = '';
      replace(totals);
      replace(charts, h('p', { class: 'error', role: 'alert', text: errorText(e) }));
    } finally {
      charts.setAttribute('aria-busy', 'false');
    }
    if (records) loadRecords(records, filters);
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  period.addEventListener('change', load);
  load();
  api('/datasets')
    .then((r) => replace(datalist, (r?.datasets || []).map((d) => h('option', { value: d.name }))))
    .catch(() => {});
}

function drawTotals(el, usage) {
  const days = usage.per_day || [];
  const sum = (k) => days.reduce((s, d) => s + (Number(d[k]) || 0), 0);
  const failed = (usage.failed_logins || []).reduce((s, d) => s + (Number(d.count) || 0), 0);
  const items = [
    ['Downloads', fmtNumber(sum('downloads'))],
    ['Rows', fmtNumber(sum('rows'))],
    ['Bytes', fmtBytes(sum('bytes'))],
    ['Failed sign-ins', fmtNumber(failed)],
  ];
  replace(el, items.map(([k, v]) => h('div', { class: 'total' }, h('dt', { text: k }), h('dd', { text: v }))));
}

/** Day-indexed values filled with zeros over `days`. */
function perDay(rows, days, key) {
  // Days are "YYYY-MM-DD"; a number is days since the Unix epoch.
  const name = (d) => (typeof d === 'number' ? new Date(d * DAY_MS).toISOString().slice(0, 10) : String(d));
  const byDay = new Map((rows || []).map((r) => [name(r.day), Number(r[key]) || 0]));
  return days.map((day) => ({ label: day, value: byDay.get(day) || 0 }));
}

function usageCharts(usage, days) {
  const top = (rows, key) => (rows || []).map((r) => ({ label: String(r[key] ?? ''), value: Number(r.downloads) || 0, bytes: Number(r.bytes) || 0 }));
  return [
    columnChart({ id: 'usage-chart-downloads', title: 'Downloads per day', xLabel: 'Day (UTC)', yLabel: 'Downloads', data: perDay(usage.per_day, days, 'downloads'), format: fmtNumber, unit: ' downloads', integer: true }),
    columnChart({ id: 'usage-chart-bytes', title: 'Bytes downloaded per day', xLabel: 'Day (UTC)', yLabel: 'Bytes', data: perDay(usage.per_day, days, 'bytes'), format: fmtBytes }),
    barChart({ id: 'usage-chart-top-datasets', title: 'Top datasets by downloads', xLabel: 'Downloads', yLabel: 'Dataset', data: top(usage.top_datasets, 'dataset'), format: fmtNumber, unit: ' downloads' }),
    barChart({ id: 'usage-chart-top-users', title: 'Top users by downloads', xLabel: 'Downloads', yLabel: 'User', data: top(usage.top_users, 'user'), format: fmtNumber, unit: ' downloads' }),
    columnChart({ id: 'usage-chart-failed-logins', title: 'Failed sign-ins per day', xLabel: 'Day (UTC)', yLabel: 'Failed sign-ins', data: perDay(usage.failed_logins, days, 'count'), format: fmtNumber, unit: ' failures', integer: true }),
  ];
}

async function loadRecords(el, filters) {
  el.setAttribute('aria-busy', 'true');
  try {
    const result = await api('/audit', { params: { limit: 100, ...filters } });
    const cols = [
      { label: 'Time', render: (r) => fmtTime(r.time) },
      { label: 'Principal', render: (r) => r.principal },
      { label: 'Source', render: (r) => r.source || '' },
      { label: 'Action', render: (r) => r.action },
      { label: 'Dataset', render: (r) => r.dataset || '' },
      { label: 'Rows', render: (r) => fmtNumber(r.rows) },
      { label: 'Bytes', render: (r) => fmtBytes(r.bytes) },
      { label: 'ms', render: (r) => fmtNumber(r.duration_ms) },
      { label: 'Outcome', render: (r) => h('span', { class: r.outcome === 'ok' ? 'outcome-ok' : 'outcome-bad', text: r.outcome }) },
      { label: 'Message', render: (r) => r.message || '' },
    ];
    replace(el, table(cols, result?.records || [], { caption: 'Newest first (at most 100)', id: 'audit-table', empty: 'No records match.' }));
  } catch (e) {
    if (e.status !== 401) replace(el, h('p', { class: 'error', role: 'alert', text: errorText(e) }));
  } finally {
    el.setAttribute('aria-busy', 'false');
  }
}
