// Part of Laker; no third-party code.
//
// Admin panels for principals: users (list_users, create_user,
// set_user_disabled) and roles (list_roles, create_role, add_role_member,
// remove_role_member).

import { action } from './api.js';
import { badge, field, h, parseJsonObject, splitList, table } from './dom.js';
import { actionButton, actionForm, loader, panel } from './admin-kit.js';

/** Users: the list with disable/enable, and a form creating one. */
export function usersPanel(afterChange) {
  const body = loader('admin-users-list', async () => {
    const users = (await action('list_users')) || [];
    const cols = [
      { label: 'Name', render: (u) => h('code', { text: u.name }) },
      { label: 'Kind', render: (u) => u.kind || 'user' },
      { label: 'Roles', render: (u) => (u.roles || []).join(', ') || '—' },
      { label: 'Attributes', render: (u) => attributes(u.attributes) },
      { label: 'Status', render: (u) => (u.disabled ? badge('disabled', 'bad') : badge('active', 'ok')) },
      {
        label: 'Action',
        render: (u) =>
          actionButton(
            {
              class: ['button-small', u.disabled ? 'button-secondary' : 'button-danger', 'toggle-disabled'],
              'data-name': u.name,
              'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${u.name}`,
              text: u.disabled ? 'Enable' : 'Disable',
            },
            async () => {
              await action('set_user_disabled', { name: u.name, disabled: !u.disabled });
              body.reload();
              return `${u.name} is now ${u.disabled ? 'enabled' : 'disabled'}.`;
            },
            body.report,
          ),
      },
    ];
    return table(cols, users, { caption: 'Users and service accounts', id: 'users-table' });
  });

  const name = field('Name', h('input', { id: 'new-user-name', autocomplete: 'off', required: true }));
  const password = field('Password', h('input', { id: 'new-user-password', type: 'password', autocomplete: 'new-password', required: true }), 'At least 12 characters.');
  const roles = field('Roles (optional)', h('input', { id: 'new-user-roles', autocomplete: 'off', placeholder: 'analyst, finance' }), 'Comma-separated.');
  const attrs = field('Attributes (optional JSON)', h('textarea', { id: 'new-user-attributes', rows: 2, spellcheck: 'false', placeholder: '{"region": "EU"}' }));
  const form = actionForm({
    id: 'create-user-form',
    legend: 'Create a user',
    submitLabel: 'Create user',
    fields: [name.wrap, password.wrap, roles.wrap, attrs.wrap],
    run: async (f) => {
      const request = { name: name.input.value.trim(), password: password.input.value };
      const roleList = splitList(roles.input.value);
      if (roleList.length) request.roles = roleList;
      const attributes = parseJsonObject(attrs.input.value, 'attributes');
      if (attributes) request.attributes = attributes;
      const created = await action('create_user', request);
      f.reset();
      body.reload();
      afterChange();
      return `Created user ${created?.name || request.name}.`;
    },
  });
  return panel('admin-users', 'Users', h('div', {}, body.el, form), body.reload);
}

function attributes(map) {
  const entries = Object.entries(map || {});
  if (!entries.length) return '—';
  return entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

/** Roles: members (add/remove) and a form creating one. */
export function rolesPanel(afterChange) {
  const body = loader('admin-roles-list', async () => {
    const roles = (await action('list_roles')) || [];
    const changed = (message) => {
      body.reload();
      afterChange();
      return message;
    };
    const cols = [
      { label: 'Role', render: (r) => h('code', { text: r.name }) },
      { label: 'Description', render: (r) => r.description || '' },
      { label: 'Members', render: (r) => members(r, changed, body.report) },
      { label: 'Grants', render: (r) => (r.grants || []).map((g) => `${g.action} on ${g.pattern}`).join(', ') || '—' },
    ];
    return table(cols, roles, { caption: 'Roles', id: 'roles-table', empty: 'No roles yet.' });
  });

  const name = field('Name', h('input', { id: 'new-role-name', autocomplete: 'off', required: true }));
  const description = field('Description (optional)', h('input', { id: 'new-role-description', autocomplete: 'off' }));
  const form = actionForm({
    id: 'create-role-form',
    legend: 'Create a role',
    submitLabel: 'Create role',
    fields: [name.wrap, description.wrap],
    run: async (f) => {
      const roleName = name.input.value.trim();
      const created = await action('create_role', { name: roleName, description: description.input.value.trim() });
      f.reset();
      body.reload();
      return `Created role ${created?.name || roleName}.`;
    },
  });
  return panel('admin-roles', 'Roles', h('div', {}, body.el, form), body.reload);
}

/** A role's members, each with a remove button, and an add-member control. */
function members(role, changed, report) {
  const list = h(
    'ul',
    { class: 'member-list' },
    (role.members || []).map((m) =>
      h(
        'li',
        {},
        h('span', { text: m }),
        actionButton(
          { class: 'button-link remove-member', 'data-role': role.name, 'data-member': m, 'aria-label': `Remove ${m} from ${role.name}`, text: 'remove' },
          async () => {
            await action('remove_role_member', { role: role.name, principal: m });
            return changed(`Removed ${m} from ${role.name}.`);
          },
          report,
        ),
      ),
    ),
  );
  const input = h('input', { class: 'add-member-input', 'data-role': role.name, 'aria-label': `Principal to add to ${role.name}`, placeholder: 'user name', autocomplete: 'off' });
  const add = actionButton(
    { class: 'button-small button-secondary add-member', 'data-role': role.name, text: 'Add' },
    async () => {
      const principal = input.value.trim();
      if (!principal) throw new Error('Type the name of the user to add.');
      await action('add_role_member', { role: role.name, principal });
      return changed(`Added ${principal} to ${role.name}.`);
    },
    report,
  );
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      add.click();
    }
  });
  return [list, h('div', { class: 'add-member-row' }, input, add)];
}
