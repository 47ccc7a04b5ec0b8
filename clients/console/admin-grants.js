// Part of Laker; no third-party code.
//
// Admin panels for access: grants (list_grants, grant, revoke) and
// onboarding a client (onboard), whose API key is shown once.

import { action } from './api.js';
import { field, h, parseJsonObject, replace, splitList, table } from './dom.js';
import { actionButton, actionForm, loader, panel } from './admin-kit.js';

const ACTIONS = ['discover', 'read', 'write', 'admin'];

/** A grant's masks as text: `email: hash, ssn: hide`. */
function masksText(masks) {
  const entries = Object.entries(masks || {});
  if (!entries.length) return '—';
  return entries.map(([col, m]) => `${col}: ${typeof m === 'object' ? JSON.stringify(m) : m}`).join(', ');
}

/** Grants: every grant with a revoke button, and a form adding one. */
export function grantsPanel() {
  const body = loader('admin-grants-list', async () => {
    const grants = (await action('list_grants')) || [];
    const cols = [
      { label: 'Grantee', render: (g) => [h('span', { class: 'muted', text: `${g.grantee?.kind || ''} ` }), h('code', { text: g.grantee?.name || '' })] },
      { label: 'Pattern', render: (g) => h('code', { text: g.pattern }) },
      { label: 'Action', render: (g) => g.action },
      { label: 'Row filter', render: (g) => (g.row_filter ? h('code', { text: g.row_filter }) : '—') },
      { label: 'Column masks', render: (g) => masksText(g.column_masks) },
      {
        label: 'Revoke',
        render: (g) =>
          actionButton(
            {
              class: 'button-small button-danger revoke-button',
              'data-grantee': g.grantee?.name || '',
              'data-pattern': g.pattern,
              'data-action': g.action,
              'aria-label': `Revoke ${g.action} on ${g.pattern} from ${g.grantee?.kind} ${g.grantee?.name}`,
              text: 'Revoke',
            },
            async () => {
              const kind = g.grantee?.kind === 'role' ? 'role' : 'user';
              await action('revoke', { [kind]: g.grantee?.name, pattern: g.pattern, action: g.action });
              body.reload();
              return `Revoked ${g.action} on ${g.pattern} from ${kind} ${g.grantee?.name}.`;
            },
            body.report,
          ),
      },
    ];
    return table(cols, grants, { caption: 'Grants', id: 'grants-table', empty: 'No grants.' });
  });

  const kind = field('Grantee kind', h('select', { id: 'grant-kind' }, h('option', { value: 'user', text: 'user' }), h('option', { value: 'role', text: 'role' })));
  const name = field('Grantee name', h('input', { id: 'grant-name', autocomplete: 'off', required: true }));
  const pattern = field('Pattern', h('input', { id: 'grant-pattern', autocomplete: 'off', required: true, placeholder: 'demo.trips, demo.* or *' }));
  const verb = field('Action', h('select', { id: 'grant-action' }, ACTIONS.map((a) => h('option', { value: a, text: a, selected: a === 'read' }))));
  const rowFilter = field('Row filter (optional SQL, read only)', h('input', { id: 'grant-row-filter', autocomplete: 'off', spellcheck: 'false', placeholder: "region = principal_attribute('region')" }));
  const masks = field('Column masks (optional JSON)', h('textarea', { id: 'grant-masks', rows: 2, spellcheck: 'false', placeholder: '{"email": "hash", "ssn": "hide"}' }), 'Masks: hide, null, hash, or {"expr": "SQL"}.');
  const form = actionForm({
    id: 'grant-form',
    legend: 'Grant access',
    submitLabel: 'Grant',
    fields: [kind.wrap, name.wrap, pattern.wrap, verb.wrap, rowFilter.wrap, masks.wrap],
    run: async () => {
      const request = { [kind.input.value]: name.input.value.trim(), pattern: pattern.input.value.trim(), action: verb.input.value };
      if (rowFilter.input.value.trim()) request.row_filter = rowFilter.input.value.trim();
      const columnMasks = parseJsonObject(masks.input.value, 'column masks');
      if (columnMasks) request.column_masks = columnMasks;
      const g = await action('grant', request);
      body.reload();
      return `Granted ${g?.action || request.action} on ${g?.pattern || request.pattern} to ${kind.input.value} ${request[kind.input.value]}.`;
    },
  });
  return panel('admin-grants', 'Grants', h('div', {}, body.el, form), body.reload);
}

/** Onboarding: one call creating a client's namespace, account, grants and key. */
export function onboardPanel(session, afterChange) {
  const result = h('div', { id: 'onboard-result', 'aria-live': 'polite' });
  const client = field('Client name', h('input', { id: 'onboard-client', autocomplete: 'off', required: true, placeholder: 'acme' }), 'Becomes its namespace and service account.');
  const read = field('May read (optional)', h('input', { id: 'onboard-read', autocomplete: 'off', placeholder: 'demo.trips, ref.*' }), 'Comma-separated datasets or ns.* patterns.');
  const description = field('Description (optional)', h('input', { id: 'onboard-description', autocomplete: 'off' }));
  const form = actionForm({
    id: 'onboard-form',
    legend: 'Onboard a client',
    submitLabel: 'Onboard',
    fields: [client.wrap, read.wrap, description.wrap],
    run: async (f) => {
      const request = { client: client.input.value.trim(), read: splitList(read.input.value) };
      if (description.input.value.trim()) request.description = description.input.value.trim();
      const done = await action('onboard', request);
      f.reset();
      replace(result, onboardResult(done || {}, session));
      afterChange();
      return `Onboarded ${done?.client || request.client}.`;
    },
  });
  return panel('admin-onboard', 'Onboard a client', h('div', {}, form, result), () => {});
}

function onboardResult(done, session) {
  const parts = [];
  if (done.api_key) {
    parts.push(
      h(
        'div',
        { class: 'secret', role: 'alert' },
        h('p', {}, h('strong', { text: 'Copy this API key now: it is shown only once and cannot be shown again.' })),
        h('p', {}, 'Log in with user ', h('code', { text: 'key' }), ' and the key as the password.'),
        h('code', { id: 'onboard-key', class: 'key', tabindex: '0', text: done.api_key }),
        copyKeyButton(done.api_key),
      ),
    );
  } else {
    parts.push(h('p', { class: 'notice', id: 'onboard-note', text: done.note || 'The client already has an API key.' }));
  }
  const facts = [
    ['Namespace', done.namespace],
    ['Service account', done.service_account],
    ['Key id', done.key_id],
    ['Created', (done.created || []).join(', ') || 'nothing new'],
  ];
  parts.push(h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v ?? '—' })])));
  if ((done.grants || []).length) {
    parts.push(table([{ label: 'Pattern', render: (g) => g.pattern }, { label: 'Action', render: (g) => g.action }], done.grants, { caption: 'Grants', id: 'onboard-grants' }));
  }
  if (done.python) {
    const url = session?.flight_url;
    const python = url ? done.python.replaceAll('grpc://<laker-host>:50051', url) : done.python;
    parts.push(h('p', { text: 'Python snippet for the client:' }), h('pre', { class: 'snippet', tabindex: '0' }, h('code', { id: 'onboard-python', text: python })));
  }
  return parts;
}

function copyKeyButton(key) {
  const status = h('span', { class: 'muted', role: 'status' });
  const button = h('button', { type: 'button', id: 'copy-key', class: 'button-secondary button-small', text: 'Copy key' });
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(key);
      status.textContent = ' Copied.';
    } catch {
      status.textContent = ' Select the key and copy it (the clipboard is not available here).';
    }
  });
  return h('span', {}, button, status);
}
