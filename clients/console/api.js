// Part of Laker; no third-party code.
//
// The HTTP API client: JSON requests with the CSRF header, problem
// documents turned into ApiError (carrying the server's `detail`), and a
// hook that sends the user to the sign-in page on any 401.

const BASE = '/api/v1';

/** A failed API call: `status` (0 for network failures), `detail`, `code`. */
export class ApiError extends Error {
  constructor(status, detail, code = '') {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
    this.code = code;
  }
}

/** The signed-in session: {user, admin, expires_at, csrf_token, flight_url} or null. */
export const state = { session: null };

let onUnauthorized = () => {};

/** Registers what happens when a call answers 401 (outside sign-in). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** The value of cookie `name`, or ''. */
export function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

/** The CSRF token: from the session, else from the `laker_csrf` cookie. */
export function csrfToken() {
  return state.session?.csrf_token || cookie('laker_csrf');
}

/** Query string from an object, skipping empty values ('' / null / undefined). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined || v === '') continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The path of dataset `name` under the API (`/api/v1/datasets/demo.trips`). */
export function datasetPath(name, suffix = '') {
  return `${BASE}/datasets/${encodeURIComponent(name)}${suffix}`;
}

/**
 * Calls the API. `path` is under /api/v1 unless it starts with `/api/`.
 * Options: `method`, `body` (sent as JSON), `params` (query), `signal`,
 * `auth401` (true: a 401 is the caller's to handle, e.g. wrong password).
 * Resolves to the parsed JSON (null for 204); rejects with ApiError.
 */
export async function api(path, { method = 'GET', body, params, signal, auth401 = false } = {}) {
  const url = (path.startsWith('/api/') ? path : BASE + path) + query(params);
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', signal };
  if (method !== 'GET' && method !== 'HEAD') {
    headers['Content-Type'] = 'application/json';
    const token = csrfToken();
    if (token) headers['X-CSRF-Token'] = token;
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the server (${e.message})`);
  }
  if (response.ok) {
    if (response.status === 204) return null;
    const text = await response.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(response.status, 'the server sent a response that is not JSON');
    }
  }
  const error = await problem(response);
  if (response.status === 401 && !auth401) onUnauthorized(error);
  throw error;
}

/** The ApiError for a failed response, from its problem document. */
async function problem(response) {
  let detail = '';
  let code = '';
  try {
    const doc = JSON.parse(await response.text());
    detail = doc.detail || doc.title || '';
    code = doc.code || '';
  } catch {
    // Not a problem document: fall back to the status line.
  }
  if (!detail) detail = `${response.status} ${response.statusText || 'error'}`.trim();
  const retry = response.headers.get('Retry-After');
  if (response.status === 429 && retry && !/retry|try again/i.test(detail)) {
    detail += ` (try again in ${retry} s)`;
  }
  return new ApiError(response.status, detail, code);
}

/** Runs an administration action (POST /api/v1/admin/actions/{name}). */
export function action(name, body = {}) {
  return api(`/admin/actions/${encodeURIComponent(name)}`, { method: 'POST', body });
}

/** The message to show for any error thrown by `api` (or elsewhere). */
export function errorText(e) {
  if (e instanceof ApiError) return e.detail;
  return e?.message || String(e);
}
