// The Nodes page: the provision nodes with their state, load against
// capacity, isolation levels, labels (a zone among them) and when each
// was last heard from; Drain / Undrain and Delete; and the join tokens a
// new node enrolls with: one is created here and its secret shown this
// once, with a Copy button.

import { el } from '../dom.js';
import { admin } from './api.js';
import { dateTime, labelsText } from './format.js';
import { announce, showError, clearError, alertBox, field, checkbox, table, timeCell, button, confirm, refocus, busy } from './ui.js';

export const title = 'Nodes';

const LEVELS = ['standard', 'hardened', 'sandboxed'];

let page = null;

export function enter(root, ctx) {
  const errBox = alertBox('nodes-error');
  const nodes = table('Nodes', ['Name', 'State', 'Load', 'Isolation', 'Labels', 'Last heard', 'Actions'], 'nodes-list');
  const tokens = table('Join tokens', ['ID', 'State', 'Uses left', 'Capacity', 'Isolation', 'Expires', 'Created by', 'Actions'], 'tokens-list');
  const tokenErr = alertBox('tokens-error');
  const shown = el('div', { id: 'token-shown', class: 'alert alert-info', hidden: true });
  page = { signal: ctx.signal, errBox, nodes: nodes.body, tokens: tokens.body, tokenErr, shown, heading: ctx.heading };
  root.append(errBox, nodes.node,
    el('h2', { class: 'admin-sub' }, 'Join tokens'),
    el('p', { class: 'muted' }, 'A node enrolls with a join token: airlock node --join TOKEN. Each token is shown once, when it is made.'),
    tokenErr, tokenForm(), shown, tokens.node);
  load();
}

export function leave() {
  page = null;
}

async function load() {
  const p = page;
  let nodes, tokens;
  try {
    [nodes, tokens] = await Promise.all([admin.nodes({ signal: p.signal }), admin.joinTokens({ signal: p.signal })]);
  } catch (err) {
    showError(p.errBox, err);
    return;
  }
  if (page !== p) return;
  nodes.sort((a, b) => a.name.localeCompare(b.name));
  p.nodes.replaceChildren(...nodes.map(nodeRow));
  if (!nodes.length) p.nodes.append(el('tr', {}, el('td', { colspan: '7', class: 'muted' }, 'No nodes have enrolled.')));
  tokens.sort((a, b) => new Date(b.created_at) - new Date(a.created_at));
  p.tokens.replaceChildren(...tokens.map(tokenRow));
}

function nodeRow(n) {
  const drain = button(n.draining ? 'Undrain' : 'Drain', { label: `${n.draining ? 'Undrain' : 'Drain'} ${n.name}` });
  const del = button('Delete', { kind: 'danger', label: `Delete ${n.name}` });
  drain.addEventListener('click', () => setDrain(n, drain));
  del.addEventListener('click', () => remove(n, del));
  const state = n.draining ? `${n.state}, draining` : n.state;
  return el('tr', { 'data-node': n.name },
    el('td', {}, el('strong', {}, n.name), el('p', { class: 'reason muted' }, n.url)),
    el('td', {}, el('span', { class: `state state-node-${n.state}` }, state)),
    el('td', {}, `${n.active} of ${n.capacity}`),
    el('td', {}, (n.isolation || []).join(', ')),
    el('td', {}, labelsText(n.labels) || '—'),
    timeCell(n.last_heartbeat),
    el('td', { class: 'actions' }, drain, del));
}

async function setDrain(n, btn) {
  const p = page;
  clearError(p.errBox);
  let after;
  try {
    after = await busy(btn, n.draining ? 'Undraining…' : 'Draining…', () => (n.draining ? admin.undrainNode(n.name) : admin.drainNode(n.name)));
  } catch (err) {
    showError(p.errBox, err);
    return;
  }
  announce(after.draining ? `Node ${n.name} is draining: no new sessions go to it.` : `Node ${n.name} takes new sessions again.`);
  await load();
  refocus(p.nodes.querySelector(`tr[data-node="${CSS.escape(n.name)}"] button`), p.heading);
}

async function remove(n, opener) {
  const p = page;
  const yes = await confirm({ title: `Delete ${n.name}?`,
    message: `The node ${n.name} is removed and its certificate revoked. A node that runs sessions is refused unless they end first.`,
    action: 'Delete node', opener, fallback: p.heading });
  if (!yes || page !== p) return;
  clearError(p.errBox);
  try {
    await admin.deleteNode(n.name);
  } catch (err) {
    showError(p.errBox, err);
    refocus(opener, p.heading);
    return;
  }
  announce(`Node ${n.name} deleted.`);
  await load();
  refocus(null, p.heading);
}

function tokenForm() {
  const ttl = el('input', { id: 'jt-ttl', placeholder: '1h', autocomplete: 'off' });
  const uses = el('input', { id: 'jt-uses', type: 'number', min: '1', max: '1000', placeholder: '1' });
  const capacity = el('input', { id: 'jt-capacity', type: 'number', min: '1', placeholder: '20' });
  const levels = LEVELS.map((l) => checkbox('jt-iso-' + l, l, l === 'standard'));
  const submit = el('button', { id: 'jt-create', type: 'submit', class: 'btn btn-primary' }, 'Create join token');
  const form = el('form', { class: 'admin-form', 'aria-labelledby': 'jt-form-title', novalidate: true },
    el('h3', { id: 'jt-form-title' }, 'New join token'),
    el('div', { class: 'admin-fields' },
      field('Valid for', ttl, 'A duration such as 1h; at most 24h. Empty: 1h.'),
      field('Uses', uses, 'How many nodes may enroll with it. Empty: 1.'),
      field('Capacity cap', capacity, 'The most sessions a node may offer. Empty: 20.'),
      el('fieldset', { class: 'admin-checks' }, el('legend', {}, 'Isolation levels allowed'), levels.map((l) => l.node))),
    el('div', { class: 'row' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const p = page;
    clearError(p.tokenErr);
    const body = {};
    if (ttl.value.trim()) body.ttl = ttl.value.trim();
    if (uses.value) body.uses = Number(uses.value);
    if (capacity.value) body.capacity = Number(capacity.value);
    body.isolation = LEVELS.filter((_, i) => levels[i].box.checked);
    let tok;
    try {
      tok = await busy(submit, 'Creating…', () => admin.createJoinToken(body));
    } catch (err) {
      showError(p.tokenErr, err);
      return;
    }
    form.reset();
    showToken(tok);
    load();
  });
  return form;
}

// showToken shows a new token's secret, the only time it is seen, with
// a Copy button, which takes the focus.
function showToken(tok) {
  const p = page;
  const secret = el('input', { id: 'jt-secret', readonly: true, value: tok.token, spellcheck: 'false' });
  const copy = button('Copy', { kind: 'primary', id: 'jt-copy', label: 'Copy the join token' });
  const done = button('Done', { id: 'jt-done' });
  copy.addEventListener('click', async () => {
    secret.select();
    try {
      await navigator.clipboard.writeText(tok.token);
      announce('Join token copied.');
    } catch {
      // Without clipboard access the token is selected: Ctrl+C copies it.
      announce('Could not copy: the token is selected, press Ctrl+C to copy it.');
      secret.focus();
    }
  });
  done.addEventListener('click', () => {
    p.shown.hidden = true;
    p.shown.replaceChildren();
    refocus(document.getElementById('jt-create'), p.heading);
  });
  p.shown.replaceChildren(
    el('p', {}, `Join token ${tok.id} (valid until ${dateTime(tok.expires_at)}). It is shown only now: copy it before you leave this page.`),
    field('Join token', secret),
    el('div', { class: 'row' }, done, copy));
  p.shown.hidden = false;
  announce(`Join token ${tok.id} created.`);
  copy.focus();
}

function tokenRow(t) {
  const del = button('Delete', { kind: 'danger', label: `Delete join token ${t.id}` });
  del.addEventListener('click', () => removeToken(t, del));
  return el('tr', { 'data-token': t.id },
    el('td', { class: 'id' }, t.id),
    el('td', {}, t.state),
    el('td', {}, `${t.uses_left} of ${t.uses}`),
    el('td', {}, String(t.capacity)),
    el('td', {}, (t.isolation || []).join(', ')),
    timeCell(t.expires_at),
    el('td', {}, t.created_by),
    el('td', { class: 'actions' }, del));
}

async function removeToken(t, opener) {
  const p = page;
  const yes = await confirm({ title: `Delete join token ${t.id}?`, message: 'No node can enroll with it any more; nodes that did stay.',
    action: 'Delete token', opener, fallback: p.heading });
  if (!yes || page !== p) return;
  clearError(p.tokenErr);
  try {
    await admin.deleteJoinToken(t.id);
  } catch (err) {
    showError(p.tokenErr, err);
    refocus(opener, p.heading);
    return;
  }
  announce(`Join token ${t.id} deleted.`);
  await load();
  refocus(null, p.heading);
}
