// Part of Laker; no third-party code.
//
// Administration (#/admin, admins only): the access-request queue
// (approve with an optional row filter and column masks, or reject), and
// the users, roles, grants and onboarding panels of admin-users.js and
// admin-grants.js.

import { api } from './api.js';
import { add, field, fmtTime, h, parseJsonObject } from './dom.js';
import { actionButton, loader, panel } from './admin-kit.js';
import { rolesPanel, usersPanel } from './admin-users.js';
import { grantsPanel, onboardPanel } from './admin-grants.js';
import { statusBadge, subject } from './requests.js';

/** Draws the page. */
export function render(main, ctx) {
  document.title = 'Admin · Laker';
  main.append(h('h1', { text: 'Administration' }));
  if (!ctx.session?.admin) {
    main.append(h('p', { class: 'error', role: 'alert', id: 'admin-only', text: 'Administration is for administrators only.' }));
    return;
  }
  // Panels reload each other after changes (a new member shows in users…).
  const panels = {};
  const reloadAll = () => Object.values(panels).forEach((p) => p.reload());
  panels.requests = requestsPanel(() => panels.grants.reload());
  panels.users = usersPanel(() => panels.roles.reload());
  panels.roles = rolesPanel(() => panels.users.reload());
  panels.grants = grantsPanel();
  const onboard = onboardPanel(ctx.session, () => {
    panels.users.reload();
    panels.grants.reload();
  });
  const sections = [panels.requests, panels.users, panels.roles, panels.grants, onboard];
  add(
    main,
    h(
      'nav',
      { class: 'subnav', 'aria-label': 'Administration sections' },
      h('ul', {}, sections.map((s) => h('li', {}, h('button', {
        type: 'button',
        class: 'button-link',
        text: s.title,
        on: {
          click: () => {
            s.el.scrollIntoView({ block: 'start' });
            s.el.querySelector('h2')?.focus({ preventScroll: true });
          },
        },
      })))),
    ),
    sections.map((s) => s.el),
  );
  reloadAll();
}

/** The access-request queue, filtered by status (pending by default). */
function requestsPanel(afterDecision) {
  const status = h(
    'select',
    { id: 'admin-requests-status' },
    ['pending', 'approved', 'rejected', ''].map((s) => h('option', { value: s, text: s || 'all' })),
  );
  const body = loader('admin-requests', async () => {
    const result = await api('/access-requests', { params: { all: 'true', status: status.value } });
    const rows = (result?.requests || []).slice().sort((a, b) => (a.created_at || 0) - (b.created_at || 0));
    if (!rows.length) return h('p', { class: 'muted empty', text: status.value ? `No ${status.value} requests.` : 'No requests.' });
    return h('ul', { class: 'request-list', id: 'admin-request-list' }, rows.map((r) => requestCard(r, body, afterDecision)));
  });
  status.addEventListener('change', body.reload);
  const filter = h('div', { class: 'field inline-field' }, h('label', { for: status.id, text: 'Show' }), status);
  return panel('admin-requests', 'Access requests', body.el, body.reload, filter);
}

/** One request with its decision controls (pending ones only). */
function requestCard(r, list, afterDecision) {
  const head = h(
    'div',
    { class: 'request-head' },
    h('strong', { text: r.requester || '—' }),
    ' asks for ',
    subject(r),
    ' ',
    statusBadge(r.status),
  );
  const card = h(
    'li',
    { class: 'request-card', 'data-id': String(r.id), 'data-testid': 'request-card' },
    head,
    h('p', { class: 'reason' }, h('span', { class: 'muted', text: 'Reason: ' }), h('span', { text: r.reason || '—' })),
    h('p', { class: 'muted small', text: `#${r.id} · asked ${fmtTime(r.created_at)}${r.decided_at ? ` · decided ${fmtTime(r.decided_at)} by ${r.decided_by || '—'}` : ''}` }),
    r.note ? h('p', {}, h('span', { class: 'muted', text: 'Note: ' }), h('span', { text: r.note })) : null,
  );
  if (r.status !== 'pending') return card;

  const note = field('Note to the requester (optional)', h('input', { class: 'decision-note', type: 'text' }));
  const fields = [];
  let filter = null;
  let masks = null;
  if (r.dataset) {
    filter = field('Row filter (optional SQL)', h('input', { class: 'approve-filter', type: 'text', spellcheck: 'false', placeholder: "region = 'EU'" }));
    masks = field('Column masks (optional JSON)', h('textarea', { class: 'approve-masks', rows: 2, spellcheck: 'false', placeholder: '{"email": "hash", "ssn": "hide"}' }));
    fields.push(filter.wrap, masks.wrap);
  }
  fields.push(note.wrap);
  const approve = r.dataset
    ? actionButton({ class: 'button-primary approve-button', text: 'Approve', 'data-testid': 'approve-button' }, async () => {
        const body = {};
        const rowFilter = filter.input.value.trim();
        if (rowFilter) body.row_filter = rowFilter;
        const columnMasks = parseJsonObject(masks.input.value, 'column masks');
        if (columnMasks) body.column_masks = columnMasks;
        if (note.input.value.trim()) body.note = note.input.value.trim();
        await api(`/access-requests/${encodeURIComponent(r.id)}/approve`, { method: 'POST', body });
        list.reload();
        afterDecision();
        return `Approved request #${r.id}: ${r.requester} may now read ${r.dataset}.`;
      }, list.report)
    : null;
  const reject = actionButton({ class: 'button-danger reject-button', text: 'Reject', 'data-testid': 'reject-button' }, async () => {
    const body = {};
    if (note.input.value.trim()) body.note = note.input.value.trim();
    await api(`/access-requests/${encodeURIComponent(r.id)}/reject`, { method: 'POST', body });
    list.reload();
    return `Rejected request #${r.id}.`;
  }, list.report);
  add(
    card,
    h('div', { class: 'decision' }, h('div', { class: 'form-grid' }, fields), h('div', { class: 'actions' }, approve, reject)),
    r.dataset ? null : h('p', { class: 'muted small', text: 'A data need: register or find the data, then grant it; reject with a note to close the request.' }),
  );
  return card;
}
