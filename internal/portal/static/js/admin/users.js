// The Users page: every user with their role, session limit and when
// they were made; a form that creates one; per user, Reset password
// (a small form in the row) and Delete (after a confirmation).

import { el } from '../dom.js';
import { admin } from './api.js';
import { dateTime } from './format.js';
import { announce, showError, clearError, alertBox, field, select, table, button, confirm, refocus, busy } from './ui.js';

export const title = 'Users';

let page = null; // { root, signal, errBox, body, heading }

export function enter(root, ctx) {
  const errBox = alertBox('users-error');
  const list = table('Users', ['Name', 'Role', 'Max sessions', 'Created', 'Actions'], 'users-list');
  page = { signal: ctx.signal, errBox, body: list.body, heading: ctx.heading };
  root.append(errBox, createForm(), el('h2', { class: 'admin-sub' }, 'All users'), list.node);
  load();
}

export function leave() {
  page = null;
}

async function load() {
  const p = page;
  let users;
  try {
    users = await admin.users({ signal: p.signal });
  } catch (err) {
    showError(p.errBox, err);
    return;
  }
  if (page !== p) return;
  users.sort((a, b) => a.name.localeCompare(b.name));
  p.body.replaceChildren(...users.map(row));
}

function row(u) {
  const reset = button('Reset password', { label: `Reset the password of ${u.name}` });
  const del = button('Delete', { kind: 'danger', label: `Delete ${u.name}` });
  const tr = el('tr', { 'data-user': u.name },
    el('td', {}, u.name),
    el('td', {}, u.role),
    el('td', {}, u.max_sessions ? String(u.max_sessions) : 'default'),
    el('td', {}, dateTime(u.created_at)),
    el('td', { class: 'actions' }, reset, del));
  reset.addEventListener('click', () => resetForm(tr, u, reset));
  del.addEventListener('click', () => remove(u, del));
  return tr;
}

function createForm() {
  const name = el('input', { id: 'user-name', autocomplete: 'off', spellcheck: 'false', required: true });
  const password = el('input', { id: 'user-password', type: 'password', autocomplete: 'new-password', required: true });
  const role = select('user-role', ['user', 'admin'], 'user');
  const max = el('input', { id: 'user-max', type: 'number', min: '0', max: '1000', inputmode: 'numeric' });
  const submit = el('button', { id: 'user-create', type: 'submit', class: 'btn btn-primary' }, 'Create user');
  const errBox = alertBox('user-form-error');
  const form = el('form', { class: 'admin-form', 'aria-labelledby': 'user-form-title', novalidate: true },
    el('h2', { id: 'user-form-title', class: 'admin-sub' }, 'New user'),
    errBox,
    el('div', { class: 'admin-fields' },
      field('Name', name),
      field('Password', password),
      field('Role', role),
      field('Max sessions', max, 'Empty or 0: the server default.')),
    el('div', { class: 'row' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(errBox);
    const body = { name: name.value.trim(), password: password.value, role: role.value, max_sessions: Number(max.value || 0) };
    try {
      await busy(submit, 'Creating…', () => admin.createUser(body));
    } catch (err) {
      showError(errBox, err);
      name.focus();
      return;
    }
    form.reset();
    announce(`User ${body.name} created.`);
    name.focus();
    load();
  });
  return form;
}

// resetForm opens a one-field form under the user's row; Escape or
// Cancel closes it and gives the focus back to the row's button.
function resetForm(tr, u, opener) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains('admin-inline')) {
    next.querySelector('input').focus();
    return;
  }
  const id = `reset-${u.id}`;
  const input = el('input', { id, type: 'password', autocomplete: 'new-password' });
  const save = el('button', { type: 'submit', class: 'btn btn-sm btn-primary' }, 'Set password');
  const cancel = button('Cancel');
  const errBox = alertBox(id + '-error');
  const form = el('form', { class: 'admin-inline-form', novalidate: true },
    errBox, field(`New password for ${u.name}`, input), el('div', { class: 'row' }, cancel, save));
  const cell = el('td', { colspan: '5' }, form);
  const sub = el('tr', { class: 'admin-inline' }, cell);
  const close = () => {
    sub.remove();
    refocus(opener, page && page.heading);
  };
  cancel.addEventListener('click', close);
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(errBox);
    let res;
    try {
      res = await busy(save, 'Setting…', () => admin.resetPassword(u.name, input.value));
    } catch (err) {
      showError(errBox, err);
      input.focus();
      return;
    }
    close();
    const n = res.web_sessions_ended;
    announce(`Password of ${u.name} set; ${n} web ${n === 1 ? 'session' : 'sessions'} ended.`);
  });
  tr.after(sub);
  input.focus();
}

async function remove(u, opener) {
  const p = page;
  const yes = await confirm({ title: `Delete ${u.name}?`, message: `${u.name} is removed and can no longer sign in. This cannot be undone.`,
    action: 'Delete user', opener, fallback: p.heading });
  if (!yes || page !== p) return;
  clearError(p.errBox);
  try {
    await admin.deleteUser(u.name);
  } catch (err) {
    showError(p.errBox, err);
    refocus(opener, p.heading);
    return;
  }
  announce(`User ${u.name} deleted.`);
  await load();
  refocus(null, p.heading);
}
