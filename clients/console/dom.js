// Part of Laker; no third-party code.
//
// DOM helpers: elements are built with createElement and text nodes only,
// so nothing a user or the server supplies is ever parsed as HTML.

/**
 * Creates an element. `attrs` keys: `class`, `text`, `data` (object of
 * data-* values), `on` (object of event listeners), `hidden`, `checked`,
 * `disabled`, `value`, `selected`, `required`; anything else is set with
 * setAttribute (skipped when null, undefined or false). Children are nodes
 * or strings (strings become text nodes); null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Creates an SVG element; attributes are set with setAttribute. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') el.textContent = String(v);
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

const PROPS = new Set(['checked', 'disabled', 'value', 'selected', 'required', 'hidden']);

function applyAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'data') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (PROPS.has(k)) el[k] = v;
    else if (v !== false) el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Appends `children` (nodes, strings, nested arrays; null/false skipped). */
export function add(el, ...children) {
  append(el, children);
  return el;
}

/** Replaces every child of `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A unique id with a readable prefix (for label/aria wiring). */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: returns {wrap, input}. `input` is the control. */
export function field(label, input, hint) {
  if (!input.id) input.id = newId('field');
  const children = [h('label', { for: input.id, text: label }), input];
  if (hint) {
    const hintEl = h('p', { class: 'hint', id: `${input.id}-hint`, text: hint });
    input.setAttribute('aria-describedby', hintEl.id);
    children.push(hintEl);
  }
  return { wrap: h('div', { class: 'field' }, children), input };
}

/** Sets (or clears, when message is empty) an inline message element. */
export function setMessage(el, message, kind = 'info') {
  el.textContent = message || '';
  el.classList.toggle('error', kind === 'error' && !!message);
  el.classList.toggle('ok', kind === 'ok' && !!message);
}

/** A small pill. */
export function badge(text, kind = '') {
  return h('span', { class: ['badge', kind && `badge-${kind}`], text });
}

/**
 * A table: `columns` is [{label, render(row) → node|string}]; rows a list.
 * Wrapped in a focusable scroll region named `caption`.
 */
export function table(columns, rows, { caption, id, empty = 'Nothing to show.', testid } = {}) {
  const t = h('table', { id, 'data-testid': testid });
  if (caption) t.append(h('caption', { text: caption }));
  t.append(h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', text: c.label })))));
  const body = h('tbody');
  for (const row of rows) {
    body.append(h('tr', {}, columns.map((c) => h('td', { class: c.class }, cellValue(c.render(row))))));
  }
  t.append(body);
  const wrap = h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': caption || 'table' }, t);
  if (rows.length === 0) wrap.append(h('p', { class: 'muted empty', text: empty }));
  return wrap;
}

function cellValue(v) {
  if (v instanceof Node || Array.isArray(v)) return v;
  return displayValue(v);
}

/** A JSON value as display text (objects as compact JSON, null as ∅). */
export function displayValue(v) {
  if (v === null || v === undefined) return '∅';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const numberFormat = new Intl.NumberFormat();

/** 1234567 → "1,234,567" (locale); null → "—". */
export function fmtNumber(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  return numberFormat.format(Number(n));
}

/** Bytes in IEC units: 1536 → "1.5 KiB". */
export function fmtBytes(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  let v = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Unix milliseconds → local date and time; falsy → "—". */
export function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(Number(ms));
  return Number.isNaN(d.getTime()) ? String(ms) : d.toLocaleString();
}

/** Calls `fn` once `ms` have passed without another call. */
export function debounce(fn, ms) {
  let timer = 0;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** "a, b ,c" → ["a", "b", "c"] (blank entries dropped). */
export function splitList(text) {
  return String(text || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Parses an optional JSON object from a text area. Blank → undefined.
 * Throws an Error naming `what` when the text is not a JSON object.
 */
export function parseJsonObject(text, what) {
  const trimmed = String(text || '').trim();
  if (!trimmed) return undefined;
  let value;
  try {
    value = JSON.parse(trimmed);
  } catch (e) {
    throw new Error(`${what}: not valid JSON (${e.message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${what}: expected a JSON object such as {"email": "hash"}`);
  }
  return value;
}

/** A heading plus content, as a <section> labelled by its heading. */
export function section(title, attrs = {}, ...children) {
  const headingId = newId('h');
  return h(
    'section',
    { class: 'panel', 'aria-labelledby': headingId, ...attrs },
    h('h2', { id: headingId, text: title }),
    children,
  );
}

/**
 * A form's feedback area: a polite status line and an alert line.
 * `ok(text)` shows progress/success, `error(text)` an error; each clears
 * the other. `id` names the container (its lines get `-status`/`-error`).
 */
export function feedback(id) {
  const status = h('p', { id: `${id}-status`, class: 'form-status ok', role: 'status', 'aria-live': 'polite' });
  const error = h('p', { id: `${id}-error`, class: 'form-error', role: 'alert' });
  return {
    el: h('div', { id, class: 'feedback' }, status, error),
    ok(text) {
      error.textContent = '';
      status.textContent = text;
    },
    error(text) {
      status.textContent = '';
      error.textContent = text;
    },
    clear() {
      status.textContent = '';
      error.textContent = '';
    },
  };
}
