// Part of Laker; no third-party code.
//
// The access-request form: POST /api/v1/access-requests with either a
// dataset (read access to it) or a need (data no dataset meets), and a reason.

import { api, errorText } from './api.js';
import { feedback, field, h } from './dom.js';

/**
 * A "Request access" button (#request-access) that opens a small form.
 * With `dataset`, the request is for that dataset; without, the form asks
 * for a description of the data needed.
 */
export function requestAccess({ dataset, label } = {}) {
  const button = h('button', {
    type: 'button',
    id: 'request-access',
    class: 'button-secondary',
    'aria-expanded': 'false',
    'aria-controls': 'request-form',
    text: label || (dataset ? 'Request access' : 'Request access / describe a data need'),
  });
  const form = requestForm(dataset);
  form.hidden = true;
  button.addEventListener('click', () => {
    form.hidden = !form.hidden;
    button.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) form.querySelector('textarea, input')?.focus();
  });
  return h('div', { class: 'request-access' }, button, form);
}

function requestForm(dataset) {
  const need = dataset
    ? null
    : field(
        'What data do you need?',
        h('textarea', { id: 'request-need', rows: 3, required: true }),
        'Describe the data you are looking for: what, how fresh, which period.',
      );
  const reason = field('Why do you need it?', h('textarea', { id: 'request-reason', rows: 2, required: true }));
  const status = feedback('request-feedback');
  const submit = h('button', { type: 'submit', id: 'request-submit', class: 'button-primary', text: 'Send request' });
  const form = h(
    'form',
    { id: 'request-form', class: 'inline-form', novalidate: true },
    dataset ? h('p', {}, 'Ask for read access to ', h('strong', { text: dataset }), '.') : null,
    need?.wrap,
    reason.wrap,
    h('div', { class: 'actions' }, submit),
    status.el,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { reason: reason.input.value.trim() };
    if (dataset) body.dataset = dataset;
    else {
      body.need = need.input.value.trim();
      if (!body.need) {
        status.error('Describe the data you need.');
        need.input.focus();
        return;
      }
    }
    if (!body.reason) {
      status.error('Give a reason for the request.');
      reason.input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const created = await api('/access-requests', { method: 'POST', body });
      const id = created?.id === undefined ? '' : ` ${created.id}`;
      status.ok(`Request${id} sent; an administrator will review it (see “My requests”).`);
      form.reset();
    } catch (err) {
      status.error(errorText(err));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
