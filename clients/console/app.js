// Part of Laker; no third-party code.
//
// The console's entry point: the session, the header bar and the hash
// router (#/login, #/datasets, #/datasets/<name>, #/requests, #/admin,
// #/audit). Each page is a module exporting `render(main, ctx)`.

import { api, cookie, errorText, setUnauthorizedHandler, state } from './api.js';
import { h, replace } from './dom.js';
import * as login from './login.js';
import * as datasets from './datasets.js';
import * as dataset from './dataset.js';
import * as requests from './requests.js';
import * as admin from './admin.js';
import * as audit from './audit.js';

const main = document.getElementById('main');
const topBar = document.getElementById('top-bar');
const statusEl = document.getElementById('status');

/** Where to go after signing in (the page a 401 interrupted). */
let returnTo = '';

/** Announces `message` in the page-wide status region. */
function announce(message) {
  statusEl.textContent = '';
  // A fresh text node makes screen readers repeat identical messages.
  setTimeout(() => {
    statusEl.textContent = message;
  }, 30);
}

/** Goes to `hash` (e.g. '#/datasets'); re-renders even if it is current. */
function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** Parses the current hash into {path: [...segments], params}. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, queryPart = ''] = raw.split('?');
  const path = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  return { path, params: new URLSearchParams(queryPart) };
}

const NAV = [
  { id: 'nav-datasets', hash: '#/datasets', label: 'Datasets', page: 'datasets' },
  { id: 'nav-requests', hash: '#/requests', label: 'My requests', page: 'requests' },
  { id: 'nav-admin', hash: '#/admin', label: 'Admin', page: 'admin', admin: true },
  { id: 'nav-audit', hash: '#/audit', label: 'Audit', page: 'audit' },
];

/** Draws the header bar for the current session (hidden when signed out). */
function renderHeader(page) {
  const session = state.session;
  topBar.hidden = !session;
  if (!session) {
    topBar.replaceChildren();
    return;
  }
  const links = NAV.filter((n) => !n.admin || session.admin).map((n) =>
    h('li', {}, h('a', { id: n.id, href: n.hash, 'aria-current': n.page === page ? 'page' : null, text: n.label })),
  );
  const signOut = h('button', { type: 'button', id: 'logout', class: 'button-quiet', text: 'Sign out', on: { click: logout } });
  replace(
    topBar,
    h('a', { class: 'brand', href: '#/datasets' }, h('img', { src: '/console/favicon.svg', alt: '', width: 24, height: 24 }), 'Laker'),
    h('nav', { 'aria-label': 'Main' }, h('ul', {}, links)),
    h(
      'div',
      { class: 'who' },
      h('span', { id: 'current-user', 'data-testid': 'current-user', text: session.user }),
      session.admin ? h('span', { class: 'badge badge-accent', text: 'admin' }) : null,
      signOut,
    ),
  );
}

async function logout() {
  try {
    await api('/logout', { method: 'POST' });
  } catch (e) {
    // A session that already ended is signed out anyway; other failures are shown.
    if (e.status !== 401) {
      announce(`Sign out failed: ${errorText(e)}`);
      return;
    }
  }
  state.session = null;
  returnTo = '';
  announce('Signed out.');
  navigate('#/login');
}

/** Called after a successful sign-in with the login response. */
function signedIn(session) {
  state.session = session;
  const target = returnTo && !returnTo.startsWith('#/login') ? returnTo : '#/datasets';
  returnTo = '';
  navigate(target);
}

setUnauthorizedHandler(() => {
  if (state.session) announce('Your session has ended; please sign in again.');
  state.session = null;
  if (!location.hash.startsWith('#/login')) {
    returnTo = location.hash;
    location.hash = '#/login';
  }
});

/** Renders the page for the current hash. */
function route() {
  const { path, params } = parseHash();
  const page = path[0] || '';
  if (!state.session && page !== 'login') {
    if (location.hash && location.hash !== '#/') returnTo = location.hash;
    location.hash = '#/login';
    return;
  }
  if (state.session && (page === '' || page === 'login')) {
    location.hash = '#/datasets';
    return;
  }
  renderHeader(page);
  const ctx = { session: state.session, params, navigate, announce, signedIn };
  main.replaceChildren();
  main.dataset.page = page;
  try {
    if (page === 'login') login.render(main, ctx);
    else if (page === 'datasets' && path.length > 1) dataset.render(main, { ...ctx, name: path.slice(1).join('/') });
    else if (page === 'datasets') datasets.render(main, ctx);
    else if (page === 'requests') requests.render(main, ctx);
    else if (page === 'admin') admin.render(main, ctx);
    else if (page === 'audit') audit.render(main, ctx);
    else notFound();
  } catch (e) {
    main.append(h('p', { class: 'error', role: 'alert', text: `This page failed to draw: ${errorText(e)}` }));
  }
  const heading = main.querySelector('h1');
  if (heading && page !== 'login') {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

function notFound() {
  document.title = 'Not found · Laker';
  main.append(
    h('h1', { text: 'Page not found' }),
    h('p', {}, 'There is no such page. ', h('a', { href: '#/datasets', text: 'Go to the datasets' }), '.'),
  );
}

/** Loads the session (if a session cookie is likely present), then routes. */
async function start() {
  document.getElementById('skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });
  // Without the CSRF cookie there is no session: skip the call (and its 401).
  if (cookie('laker_csrf')) {
    try {
      state.session = await api('/session', { auth401: true });
    } catch (e) {
      state.session = null;
      if (e.status !== 401) announce(`Could not load the session: ${errorText(e)}`);
    }
  }
  window.addEventListener('hashchange', route);
  route();
}

start();
