// The Pools page: per workspace, how many sessions are kept warm (ready
// to hand out at a launch), for how long at most, and what is warm and
// starting now, on which nodes. A workspace without a pool shows size 0;
// Save sets it with PUT /pools/{workspace}.

import { el } from '../dom.js';
import { admin } from './api.js';
import { announce, showError, clearError, alertBox, table, button, refocus, busy } from './ui.js';

export const title = 'Pools';

let page = null;

export function enter(root, ctx) {
  const errBox = alertBox('pools-error');
  const list = table('Warm pools', ['Workspace', 'Size', 'Max age', 'Warm', 'Starting', 'On nodes', 'Actions'], 'pools-list');
  const refresh = button('Refresh', { id: 'pools-reload' });
  page = { signal: ctx.signal, errBox, body: list.body, heading: ctx.heading };
  refresh.addEventListener('click', () => load().then(() => announce('Pools refreshed.')));
  root.append(errBox,
    el('p', { class: 'muted' }, 'A warm session is started ahead of time, so a launch of its workspace opens at once.'),
    el('div', { class: 'row row-start' }, refresh), list.node);
  load();
}

export function leave() {
  page = null;
}

async function load() {
  const p = page;
  let pools, workspaces;
  try {
    [pools, workspaces] = await Promise.all([admin.pools({ signal: p.signal }), admin.workspaces({ signal: p.signal })]);
  } catch (err) {
    showError(p.errBox, err);
    return;
  }
  if (page !== p) return;
  const byName = new Map(pools.map((x) => [x.workspace, x]));
  workspaces.sort((a, b) => a.name.localeCompare(b.name));
  p.body.replaceChildren(...workspaces.map((w) => row(w.name, byName.get(w.name) || { workspace: w.name, size: 0, warm: 0, starting: 0 })));
  if (!workspaces.length) p.body.append(el('tr', {}, el('td', { colspan: '7', class: 'muted' }, 'No workspaces.')));
}

function row(name, pool) {
  const key = name.replace(/[^A-Za-z0-9_-]/g, '_');
  const size = el('input', { id: `pool-size-${key}`, type: 'number', min: '0', value: String(pool.size), class: 'input-sm',
    'aria-label': `Pool size of ${name}` });
  const maxAge = el('input', { id: `pool-age-${key}`, value: pool.max_age || '', placeholder: 'default', class: 'input-sm',
    'aria-label': `Maximum age of ${name}'s warm sessions, such as 1h` });
  const save = el('button', { type: 'submit', class: 'btn btn-sm btn-primary', 'aria-label': `Save the pool of ${name}` }, 'Save');
  const form = el('form', { id: `pool-form-${key}`, novalidate: true });
  size.setAttribute('form', form.id);
  maxAge.setAttribute('form', form.id);
  save.setAttribute('form', form.id);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const p = page;
    clearError(p.errBox);
    const body = { size: size.value.trim() === '' ? null : Number(size.value) };
    if (maxAge.value.trim()) body.max_age = maxAge.value.trim();
    let after;
    try {
      after = await busy(save, 'Saving…', () => admin.setPool(name, body));
    } catch (err) {
      showError(p.errBox, err);
      size.focus();
      return;
    }
    announce(`Pool of ${name} set to ${after.size}; ${after.warm} warm now.`);
    await load();
    refocus(document.getElementById(size.id), p.heading);
  });
  const nodes = Object.entries(pool.nodes || {}).map(([n, c]) => `${n}: ${c}`).join(', ');
  return el('tr', { 'data-pool': name },
    el('td', {}, name, form),
    el('td', {}, size),
    el('td', {}, maxAge),
    el('td', {}, String(pool.warm)),
    el('td', {}, String(pool.starting)),
    el('td', {}, nodes || '—'),
    el('td', { class: 'actions' }, save));
}
