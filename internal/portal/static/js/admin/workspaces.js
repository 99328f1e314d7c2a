// The Workspaces page: the catalog as admins see it (image, isolation and
// the node labels it requires, limits, clipboard), a form that creates a
// workspace or edits one (the common fields; the rest, env, egress,
// browser policy and node labels, stay as they are and are set with
// `airlock workspace update`), and Delete after a confirmation. The api's
// refusal shows in the form, as it worded it.

import { el } from '../dom.js';
import { admin } from './api.js';
import { WORKSPACE_FIELDS, fieldText, workspaceBody, cpusText, mibText, labelsText } from './format.js';
import { announce, showError, clearError, alertBox, field, select, table, button, confirm, refocus, busy } from './ui.js';

export const title = 'Workspaces';

let page = null;

export function enter(root, ctx) {
  const errBox = alertBox('workspaces-error');
  const list = table('Workspaces', ['Name', 'Image', 'Isolation', 'Limits', 'Clipboard', 'Actions'], 'ws-list');
  const formSlot = el('div', { id: 'ws-form-slot' });
  const add = button('New workspace', { kind: 'primary', id: 'ws-new' });
  page = { signal: ctx.signal, errBox, body: list.body, heading: ctx.heading, formSlot, add };
  add.addEventListener('click', () => openForm(null, add));
  root.append(errBox, el('div', { class: 'row row-start' }, add), formSlot, list.node);
  load();
}

export function leave() {
  page = null;
}

async function load() {
  const p = page;
  let list;
  try {
    list = await admin.workspaces({ signal: p.signal });
  } catch (err) {
    showError(p.errBox, err);
    return;
  }
  if (page !== p) return;
  list.sort((a, b) => a.name.localeCompare(b.name));
  p.body.replaceChildren(...list.map(row));
}

// limits says a workspace's resource limits and timeouts briefly.
function limits(ws) {
  const out = [];
  if (ws.nano_cpus) out.push(`${cpusText(ws.nano_cpus)} CPU`);
  if (ws.memory) out.push(`${mibText(ws.memory)} MiB`);
  if (ws.pids_limit) out.push(`${ws.pids_limit} processes`);
  if (ws.idle_timeout) out.push(`idle ${ws.idle_timeout}`);
  if (ws.lifetime) out.push(`lifetime ${ws.lifetime}`);
  if (ws.max_lifetime) out.push(`at most ${ws.max_lifetime}`);
  return out.length ? out.join(', ') : 'defaults';
}

function row(ws) {
  const edit = button('Edit', { label: `Edit ${ws.name}` });
  const del = button('Delete', { kind: 'danger', label: `Delete ${ws.name}` });
  edit.addEventListener('click', () => openForm(ws, edit));
  del.addEventListener('click', () => remove(ws, del));
  return el('tr', { 'data-workspace': ws.name },
    el('td', {}, el('strong', {}, ws.name), ws.description ? el('p', { class: 'reason muted' }, ws.description) : null),
    el('td', {}, el('code', {}, ws.image)),
    el('td', {}, ws.isolation || 'standard',
      ws.node_labels ? el('p', { class: 'reason muted' }, `on nodes with ${labelsText(ws.node_labels)}`) : null),
    el('td', {}, limits(ws)),
    el('td', {}, ws.clipboard),
    el('td', { class: 'actions' }, edit, del));
}

// openForm shows the form for ws (null: a new one) above the list.
function openForm(ws, opener) {
  const p = page;
  const errBox = alertBox('ws-form-error');
  const inputs = {};
  const fields = WORKSPACE_FIELDS.map((f) => {
    const id = 'ws-' + f.key.replace(/_/g, '-');
    const value = ws ? fieldText(f, ws) : '';
    const input = f.choices
      ? select(id, f.choices, value || f.choices[0])
      : el('input', { id, value, autocomplete: 'off', spellcheck: 'false', readonly: ws && f.key === 'name' });
    inputs[f.key] = input;
    const hint = f.unit === 'duration' ? 'Such as 30m or 8h; empty: the default.'
      : f.unit ? 'Empty: the default.' : f.key === 'name' && ws ? 'A workspace keeps its name.' : '';
    return field(f.label, input, hint);
  });
  const submit = el('button', { id: 'ws-save', type: 'submit', class: 'btn btn-primary' }, ws ? 'Save changes' : 'Create workspace');
  const cancel = button('Cancel', { id: 'ws-cancel' });
  const heading = el('h2', { id: 'ws-form-title', class: 'admin-sub', tabindex: '-1' }, ws ? `Edit ${ws.name}` : 'New workspace');
  const form = el('form', { id: 'ws-form', class: 'admin-form', 'aria-labelledby': 'ws-form-title', novalidate: true },
    heading, errBox, el('div', { class: 'admin-fields' }, fields), el('div', { class: 'row' }, cancel, submit));
  const close = () => {
    form.remove();
    refocus(opener, p.heading);
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
    const values = Object.fromEntries(Object.entries(inputs).map(([k, input]) => [k, input.value]));
    let body;
    try {
      body = workspaceBody(values, ws);
    } catch (err) {
      showError(errBox, err);
      return;
    }
    if (ws && Object.keys(body).length === 0) {
      announce('Nothing changed.');
      return;
    }
    let saved;
    try {
      saved = await busy(submit, 'Saving…', () => (ws ? admin.updateWorkspace(ws.name, body) : admin.createWorkspace(body)));
    } catch (err) {
      showError(errBox, err);
      errBox.scrollIntoView({ block: 'nearest' });
      return;
    }
    form.remove();
    announce(ws ? `Workspace ${saved.name} saved.` : `Workspace ${saved.name} created.`);
    await load();
    const again = p.body.querySelector(`tr[data-workspace="${CSS.escape(saved.name)}"] button`);
    refocus(ws ? again : p.add, p.heading);
  });
  p.formSlot.replaceChildren(form);
  (ws ? inputs.description : inputs.name).focus();
}

async function remove(ws, opener) {
  const p = page;
  const yes = await confirm({ title: `Delete ${ws.name}?`, message: `The workspace ${ws.name} leaves the catalog and its warm pool is emptied. Sessions of it must be ended first.`,
    action: 'Delete workspace', opener, fallback: p.heading });
  if (!yes || page !== p) return;
  clearError(p.errBox);
  try {
    await admin.deleteWorkspace(ws.name);
  } catch (err) {
    showError(p.errBox, err);
    refocus(opener, p.heading);
    return;
  }
  announce(`Workspace ${ws.name} deleted.`);
  await load();
  refocus(null, p.heading);
}
