// Part of Laker; no third-party code.
//
// Building blocks of the admin page: a form that runs one action and
// reports its outcome, a panel that (re)loads its content, and buttons
// that run an action in place.

import { errorText } from './api.js';
import { feedback, h, newId, replace } from './dom.js';

/**
 * A form: `fields` are field wraps (or any nodes); `run()` does the work
 * and resolves to a success message (or throws; the error's detail is
 * shown). Errors thrown before any request (bad JSON…) are shown alike.
 */
export function actionForm({ id, legend, fields, submitLabel, run }) {
  const submit = h('button', { type: 'submit', id: `${id}-submit`, class: 'button-primary', text: submitLabel });
  const fb = feedback(`${id}-feedback`);
  const form = h(
    'form',
    { id, class: 'action-form', novalidate: true },
    h('fieldset', {}, h('legend', { text: legend }), h('div', { class: 'form-grid' }, fields), h('div', { class: 'actions' }, submit)),
    fb.el,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    fb.ok('Working…');
    try {
      const message = await run(form);
      fb.ok(message || 'Done.');
    } catch (err) {
      fb.error(errorText(err));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/**
 * A button that runs `work()` and reports in `report(message, isError)`;
 * disabled while it runs.
 */
export function actionButton(attrs, work, report) {
  const button = h('button', { type: 'button', ...attrs });
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const message = await work();
      if (message) report(message, false);
    } catch (err) {
      report(errorText(err), true);
    } finally {
      if (button.isConnected) button.disabled = false;
    }
  });
  return button;
}

/**
 * A panel body that loads with `load()` (resolving to nodes) and can be
 * reloaded; failures show the error's detail. Returns {el, reload, report}.
 */
export function loader(id, load) {
  const body = h('div', { class: 'panel-body', 'aria-busy': 'true' });
  const fb = feedback(`${id}-feedback`);
  async function reload() {
    body.setAttribute('aria-busy', 'true');
    try {
      replace(body, await load());
    } catch (err) {
      if (err.status !== 401) replace(body, h('p', { class: 'error', role: 'alert', text: errorText(err) }));
    } finally {
      body.setAttribute('aria-busy', 'false');
    }
  }
  const report = (message, isError) => (isError ? fb.error(message) : fb.ok(message));
  return { el: h('div', {}, fb.el, body), reload, report };
}

/** A panel: a section with a focusable heading, and a reload function. */
export function panel(id, title, body, reload, ...extra) {
  const headingId = newId('h');
  const el = h(
    'section',
    { class: 'panel', id, 'aria-labelledby': headingId },
    h('h2', { id: headingId, tabindex: '-1', text: title }),
    extra,
    body,
  );
  return { el, title, reload };
}
