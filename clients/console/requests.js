// Part of Laker; no third-party code.
//
// My access requests (#/requests): GET /api/v1/access-requests, the
// caller's own requests with their status and decision note.

import { api, errorText } from './api.js';
import { badge, fmtTime, h, replace, table } from './dom.js';
import { requestAccess } from './request-form.js';

/** Status → badge kind. */
export function statusBadge(status) {
  const kind = { pending: 'warn', approved: 'ok', rejected: 'bad' }[status] || '';
  return badge(status || 'unknown', kind);
}

/** What a request asks for: the dataset (linked) or the described need. */
export function subject(r) {
  if (r.dataset) return h('a', { href: `#/datasets/${encodeURIComponent(r.dataset)}`, text: r.dataset });
  return h('span', { class: 'need' }, h('span', { class: 'muted', text: 'Need: ' }), h('span', { text: r.need || '—' }));
}

/** Draws the page. */
export function render(main) {
  document.title = 'My requests · Laker';
  const holder = h('div', { id: 'my-requests', 'aria-busy': 'true' }, h('p', { class: 'muted', text: 'Loading…' }));
  main.append(h('div', { class: 'page-head' }, h('h1', { text: 'My access requests' }), requestAccess()), holder);
  api('/access-requests')
    .then((result) => {
      const rows = (result?.requests || []).slice().sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
      const cols = [
        { label: 'Id', render: (r) => String(r.id) },
        { label: 'For', render: subject },
        { label: 'Reason', render: (r) => r.reason || '' },
        { label: 'Status', render: (r) => statusBadge(r.status) },
        { label: 'Asked', render: (r) => fmtTime(r.created_at) },
        { label: 'Decided', render: (r) => (r.decided_at ? `${fmtTime(r.decided_at)}${r.decided_by ? ` by ${r.decided_by}` : ''}` : '—') },
        { label: 'Note', render: (r) => r.note || '' },
      ];
      replace(holder, table(cols, rows, { caption: 'Your requests, newest first', id: 'requests-table', empty: 'You have not asked for anything yet.' }));
    })
    .catch((e) => {
      if (e.status !== 401) replace(holder, h('p', { class: 'error', role: 'alert', text: errorText(e) }));
    })
    .finally(() => holder.setAttribute('aria-busy', 'false'));
}
