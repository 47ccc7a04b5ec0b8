// Part of Laker; no third-party code.
//
// The sign-in page: user and password → POST /api/v1/login.

import { api, errorText } from './api.js';
import { field, h, setMessage } from './dom.js';

/** Draws the sign-in form into `main`. */
export function render(main, ctx) {
  document.title = 'Sign in · Laker';
  const user = field('User', h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' }));
  const password = field(
    'Password or API key',
    h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
  );
  const submit = h('button', { type: 'submit', id: 'login-submit', class: 'button-primary', text: 'Sign in' });
  const error = h('p', { id: 'login-error', class: 'form-error', role: 'alert' });
  const form = h(
    'form',
    { id: 'login-form', class: 'login-form', novalidate: true },
    h('h1', {}, h('img', { src: '/console/favicon.svg', alt: '', width: 32, height: 32 }), ' Sign in to Laker'),
    user.wrap,
    password.wrap,
    error,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = user.input.value.trim();
    if (!name || !password.input.value) {
      setMessage(error, 'Enter your user name and password.', 'error');
      (name ? password.input : user.input).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    setMessage(error, '');
    try {
      const session = await api('/login', {
        method: 'POST',
        body: { user: name, password: password.input.value },
        auth401: true,
      });
      password.input.value = '';
      // The session document adds what login does not say (flight_url).
      let full = null;
      try {
        full = await api('/session', { auth401: true });
      } catch {
        full = null;
      }
      const { token: _token, ...kept } = session || {};
      ctx.signedIn({ ...kept, ...(full || {}) });
    } catch (err) {
      setMessage(error, errorText(err), 'error');
      password.input.select();
      password.input.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });
  main.append(h('div', { class: 'login-page' }, form));
  user.input.focus();
}
