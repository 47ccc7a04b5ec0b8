// Part of Laker; no third-party code.
//
// Discover (#/datasets): search the datasets the caller may see
// (GET /api/v1/datasets?search=), open one, or ask for data.

import { api, errorText } from './api.js';
import { debounce, h, replace } from './dom.js';
import { requestAccess } from './request-form.js';

/** Draws the discover page; `ctx.params.get('search')` seeds the search. */
export function render(main, ctx) {
  document.title = 'Datasets · Laker';
  const initial = ctx.params.get('search') || '';
  const search = h('input', {
    id: 'search',
    type: 'search',
    value: initial,
    placeholder: 'Name, description, tag or column',
    autocomplete: 'off',
    'aria-controls': 'dataset-list',
  });
  const status = h('p', { id: 'search-status', class: 'muted', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { id: 'dataset-list', class: 'dataset-list', 'aria-busy': 'true' });
  const error = h('div', { id: 'datasets-error' });

  let seq = 0;
  let controller = null;
  async function load() {
    const term = search.value.trim();
    // Keep the search in the address (back/refresh), without re-rendering.
    const hash = term ? `#/datasets?search=${encodeURIComponent(term)}` : '#/datasets';
    if (location.hash !== hash) history.replaceState(null, '', hash);
    seq += 1;
    const mine = seq;
    controller?.abort();
    controller = new AbortController();
    list.setAttribute('aria-busy', 'true');
    try {
      const result = await api('/datasets', { params: { search: term }, signal: controller.signal });
      if (mine !== seq) return;
      const found = result?.datasets || [];
      replace(error);
      replace(list, found.map((d) => card(d, searchFor)));
      status.textContent = found.length === 0
        ? (term ? `No dataset matches “${term}”.` : 'No datasets are visible to you yet.')
        : `${found.length} dataset${found.length === 1 ? '' : 's'}${term ? ` matching “${term}”` : ''}.`;
    } catch (e) {
      if (e.name === 'AbortError' || mine !== seq) return;
      replace(list);
      status.textContent = '';
      replace(error, h('p', { class: 'error', role: 'alert', text: errorText(e) }));
    } finally {
      if (mine === seq) list.setAttribute('aria-busy', 'false');
    }
  }
  const searchSoon = debounce(load, 250);
  function searchFor(term) {
    search.value = term;
    searchSoon.cancel();
    load();
    search.focus();
  }
  search.addEventListener('input', searchSoon);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      searchSoon.cancel();
      load();
    }
  });

  main.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', { text: 'Datasets' }),
      requestAccess(),
    ),
    h(
      'div',
      { class: 'search-bar', role: 'search' },
      h('label', { for: 'search', text: 'Search datasets' }),
      search,
    ),
    status,
    error,
    list,
  );
  load();
}

/** One dataset as a card: name (link), description, tags (buttons), owner. */
function card(d, searchFor) {
  const tags = (d.tags || []).map((t) =>
    h('li', {}, h('button', {
      type: 'button',
      class: 'tag',
      'data-tag': t,
      'aria-label': `Search for tag ${t}`,
      text: t,
      on: { click: () => searchFor(t) },
    })),
  );
  return h(
    'li',
    { class: 'dataset-card', 'data-testid': 'dataset-card', 'data-name': d.name },
    h('h2', {}, h('a', { href: `#/datasets/${encodeURIComponent(d.name)}`, text: d.name })),
    h('p', { class: 'description', text: d.description || 'No description.' }),
    h(
      'div',
      { class: 'card-foot' },
      tags.length ? h('ul', { class: 'tags', 'aria-label': 'Tags' }, tags) : null,
      d.owner ? h('span', { class: 'owner muted' }, 'Owner: ', h('span', { text: d.owner })) : null,
    ),
  );
}
